/*
 * nn_layers.c - the element-wise and bookkeeping layers: input, relu,
 * concat, dropout, softmax; forward and backward (see nn_layers.h) and
 * their op table entries (nn_ops.h).  Convolution and pooling are in
 * nn_conv.c, the dense layer in nn_dense.c.
 */
#include "nn_layers.h"

#include <json-c/json.h>
#include <math.h>
#include <string.h>

#include "nn_ops.h"

/* ---- relu, concat, softmax, dropout, input ---------------------------- */

void nn_relu_forward(float *out, const float *in, size_t n)
{
#pragma omp simd
	for (size_t i = 0; i < n; i++)
		out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void nn_relu_backward(float *din, const float *dout, const float *out, size_t n)
{
#pragma omp simd
	for (size_t i = 0; i < n; i++)
		din[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

void nn_concat_forward(float *out, const float *const *in, const int *chans, int n_in, int B,
                       int hw)
{
	int total = 0;

	for (int i = 0; i < n_in; i++)
		total += chans[i];
	for (int b = 0; b < B; b++) {
		float *o = out + (size_t)b * total * hw;

		for (int i = 0; i < n_in; i++) {
			size_t n = (size_t)chans[i] * hw;

			memcpy(o, in[i] + b * n, sizeof(float) * n);
			o += n;
		}
	}
}

void nn_concat_backward(float *const *din, const float *dout, const int *chans, int n_in, int B,
                        int hw)
{
	int total = 0;

	for (int i = 0; i < n_in; i++)
		total += chans[i];
	for (int b = 0; b < B; b++) {
		const float *d = dout + (size_t)b * total * hw;

		for (int i = 0; i < n_in; i++) {
			size_t n = (size_t)chans[i] * hw;

			if (din[i])
#pragma omp simd
				for (size_t e = 0; e < n; e++)
					din[i][b * n + e] += d[e];
			d += n;
		}
	}
}

void nn_softmax_forward(float *out, const float *in, int B, int n)
{
	for (int b = 0; b < B; b++) {
		const float *x = in + (size_t)b * n;
		float *y = out + (size_t)b * n, max = x[0], sum = 0.0f;

		for (int i = 1; i < n; i++)
			max = x[i] > max ? x[i] : max;
		for (int i = 0; i < n; i++) {
			y[i] = expf(x[i] - max);
			sum += y[i];
		}
		for (int i = 0; i < n; i++)
			y[i] /= sum;
	}
}

void nn_softmax_backward(float *din, const float *dout, const float *out, int B, int n)
{
	for (int b = 0; b < B; b++) {
		const float *p = out + (size_t)b * n, *d = dout + (size_t)b * n;
		float dot = 0.0f;

		for (int i = 0; i < n; i++)
			dot += d[i] * p[i];
		for (int i = 0; i < n; i++)
			din[(size_t)b * n + i] += p[i] * (d[i] - dot);
	}
}

float nn_softmax_xent_backward(float *din, const float *probs, const uint8_t *labels, int B, int n)
{
	double loss = 0.0;

	for (int b = 0; b < B; b++) {
		const float *p = probs + (size_t)b * n;

		/* Floor the probability: a confidently wrong image costs ~87, not Inf. */
		loss -= log(p[labels[b]] > 1e-38f ? p[labels[b]] : 1e-38f);
		for (int i = 0; i < n; i++)
			din[(size_t)b * n + i] += (p[i] - (i == labels[b] ? 1.0f : 0.0f)) / B;
	}
	return (float)(loss / B);
}

uint64_t nn_hash64(uint64_t a, uint64_t b)
{
	uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void nn_dropout_forward(float *out, float *mask, const float *in, size_t n, float rate,
                        uint64_t seed)
{
	const float keep = 1.0f / (1.0f - rate);
	/* Compare 24-bit uniforms so the threshold is exact in float. */
	const uint32_t cut = (uint32_t)(rate * 16777216.0f);

	for (size_t i = 0; i < n; i++) {
		mask[i] = (uint32_t)(nn_hash64(seed, i) >> 40) < cut ? 0.0f : keep;
		out[i] = in[i] * mask[i];
	}
}

void nn_dropout_backward(float *din, const float *dout, const float *mask, size_t n)
{
#pragma omp simd
	for (size_t i = 0; i < n; i++)
		din[i] += dout[i] * mask[i];
}

void nn_input_forward(float *out, const float *in, size_t n, float mean, float std)
{
	const float inv = 1.0f / std;

#pragma omp simd
	for (size_t i = 0; i < n; i++)
		out[i] = (in[i] - mean) * inv;
}

/* ---- the op table entries ---------------------------------------------- */

/* Output shaped as the (one) input: relu, dropout, softmax. */
static int same_shape(const struct nn_graph *g, struct nn_node *n, struct dg_error *err)
{
	const struct nn_node *in = nn_input(g, n, 0);

	(void)err;
	n->c = in->c, n->h = in->h, n->w = in->w;
	return 0;
}

static int one_input(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	(void)o;
	return nn_expect_inputs(n, 1, err);
}

static size_t count(const struct nn_op_args *a)
{
	return (size_t)a->n * nn_node_size(a->node);
}

/* input: "shape" [c, h, w] and the normalisation "mean", "std". */
static int input_parse(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	struct json_object *shape;
	int dims[3];

	if (!json_object_object_get_ex(o, "shape", &shape) ||
	    !json_object_is_type(shape, json_type_array) || json_object_array_length(shape) != 3)
		return dg_fail(err, DG_ERR_FORMAT,
		               "node \"%s\": \"shape\" must be [channels, height, width]", n->name);
	for (int d = 0; d < 3; d++) {
		struct json_object *v = json_object_array_get_idx(shape, d);
		int64_t x = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || x < 1 || x > NN_MAX_DIM)
			return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": shape[%d] must be 1..%d",
			               n->name, d, NN_MAX_DIM);
		dims[d] = (int)x;
	}
	n->c = dims[0], n->h = dims[1], n->w = dims[2];
	if (nn_json_float(o, n->name, "mean", 0.0, -1e6, 1e6, &n->mean, err) ||
	    nn_json_float(o, n->name, "std", 1.0, 1e-6, 1e6, &n->std, err))
		return -1;
	return 0;
}

static void input_forward(const struct nn_op_args *a)
{
	nn_input_forward(a->y, a->x[0], count(a), a->node->mean, a->node->std);
}

static void input_to_json(const struct nn_node *n, struct json_object *o)
{
	struct json_object *shape = json_object_new_array();

	json_object_array_add(shape, json_object_new_int(n->c));
	json_object_array_add(shape, json_object_new_int(n->h));
	json_object_array_add(shape, json_object_new_int(n->w));
	json_object_object_add(o, "shape", shape);
	json_object_object_add(o, "mean", json_object_new_double(n->mean));
	json_object_object_add(o, "std", json_object_new_double(n->std));
}

const struct nn_op_def nn_op_input = {
    .name = "input",
    .parse = input_parse,
    .forward = input_forward,
    .to_json = input_to_json,
};

static void relu_forward(const struct nn_op_args *a)
{
	nn_relu_forward(a->y, a->x[0], count(a));
}

static void relu_backward(const struct nn_op_args *a)
{
	if (a->dx[0])
		nn_relu_backward(a->dx[0], a->dy, a->y, count(a));
}

const struct nn_op_def nn_op_relu = {
    .name = "relu",
    .parse = one_input,
    .shape = same_shape,
    .forward = relu_forward,
    .backward = relu_backward,
};

int nn_concat_parse(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	(void)o;
	if (n->n_inputs < 2)
		return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": concat needs 2+ inputs", n->name);
	return 0;
}

int nn_concat_shape(const struct nn_graph *g, struct nn_node *n, struct dg_error *err)
{
	const struct nn_node *in = nn_input(g, n, 0);

	n->c = 0, n->h = in->h, n->w = in->w;
	for (int k = 0; k < n->n_inputs; k++) {
		const struct nn_node *x = nn_input(g, n, k);

		if (x->h != n->h || x->w != n->w)
			return dg_fail(err, DG_ERR_FORMAT,
			               "node \"%s\": input \"%s\" is %dx%d, \"%s\" is %dx%d",
			               n->name, x->name, x->h, x->w, in->name, in->h, in->w);
		n->c += x->c;
	}
	return 0;
}

static void concat_chans(const struct nn_op_args *a, int *chans)
{
	for (int k = 0; k < a->node->n_inputs; k++)
		chans[k] = nn_input(a->g, a->node, k)->c;
}

static void concat_forward(const struct nn_op_args *a)
{
	int chans[NN_MAX_INPUTS];

	concat_chans(a, chans);
	nn_concat_forward(a->y, a->x, chans, a->node->n_inputs, a->n, a->node->h * a->node->w);
}

static void concat_backward(const struct nn_op_args *a)
{
	int chans[NN_MAX_INPUTS];

	concat_chans(a, chans);
	nn_concat_backward(a->dx, a->dy, chans, a->node->n_inputs, a->n, a->node->h * a->node->w);
}

const struct nn_op_def nn_op_concat = {
    .name = "concat",
    .parse = nn_concat_parse,
    .shape = nn_concat_shape,
    .forward = concat_forward,
    .backward = concat_backward,
};

static int dropout_parse(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	if (nn_json_float(o, n->name, "rate", -1.0, 0.0, 0.95, &n->rate, err))
		return -1;
	return nn_expect_inputs(n, 1, err);
}

/* Identity at inference (the workspace shares the input's activation). */
static void dropout_forward(const struct nn_op_args *a)
{
	if (a->training)
		nn_dropout_forward(a->y, a->mask, a->x[0], count(a), a->node->rate, a->seed);
}

/* Without a mask (an explanation's forward drops nothing) the identity. */
static void dropout_backward(const struct nn_op_args *a)
{
	const size_t n = count(a);

	if (!a->dx[0])
		return;
	if (!a->mask) {
		for (size_t i = 0; i < n; i++)
			a->dx[0][i] += a->dy[i];
		return;
	}
	nn_dropout_backward(a->dx[0], a->dy, a->mask, n);
}

static void dropout_to_json(const struct nn_node *n, struct json_object *o)
{
	json_object_object_add(o, "rate", json_object_new_double(n->rate));
}

const struct nn_op_def nn_op_dropout = {
    .name = "dropout",
    .flags = NN_OP_INFER_COPY | NN_OP_MASK,
    .parse = dropout_parse,
    .shape = same_shape,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .to_json = dropout_to_json,
};

static void softmax_forward(const struct nn_op_args *a)
{
	nn_softmax_forward(a->y, a->x[0], a->n, (int)nn_node_size(a->node));
}

/* Training ends in nn_softmax_xent_backward instead (nn_exec.c); this is
 * the softmax alone, for gradients of a probability. */
static void softmax_backward(const struct nn_op_args *a)
{
	if (a->dx[0])
		nn_softmax_backward(a->dx[0], a->dy, a->y, a->n, (int)nn_node_size(a->node));
}

const struct nn_op_def nn_op_softmax = {
    .name = "softmax",
    .parse = one_input,
    .shape = same_shape,
    .forward = softmax_forward,
    .backward = softmax_backward,
};
