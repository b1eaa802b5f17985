/*
 * nn_conv.c - the layers over images: conv2d and maxpool, forward and
 * backward (see nn_layers.h), and their op table entries (nn_ops.h).
 *
 * The arithmetic lives in nn_kernels.c; this file is bookkeeping: which
 * matrices feed the kernels, and how the work is split between threads.
 */
#include <json-c/json.h>
#include <string.h>

#include "nn_kernels.h"
#include "nn_layers.h"
#include "nn_ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- conv2d ---------------------------------------------------------- */

/* Scratch layout.  Per thread: col and, for backward, colT and dcol, each
 * (c*k*k) x (oh*ow).  Shared, backward only: weightT (c*k*k) x oc and one
 * gradient slot of oc*(c*k*k) + oc floats per image. */
static size_t conv_patch(const struct nn_conv_geom *g)
{
	return (size_t)g->c * g->k * g->k;
}

static size_t conv_plane(const struct nn_conv_geom *g)
{
	return (size_t)g->oh * g->ow;
}

/* Stride-1 convolutions run without im2col (nn_conv_direct), over a
 * zero-padded copy of the input; other strides unfold with im2col and
 * multiply with nn_gemm. */
static bool conv_is_direct(const struct nn_conv_geom *g)
{
	return g->stride == 1;
}

static size_t conv_forward_scratch(const struct nn_conv_geom *g)
{
	if (conv_is_direct(g))
		return nn_conv_padded_floats(g->c, g->h, g->w, g->k, g->pad);
	return conv_patch(g) * conv_plane(g);
}

size_t nn_conv2d_scratch(const struct nn_conv_geom *g, int B, int n_threads, bool backward)
{
	size_t fwd = (size_t)n_threads * conv_forward_scratch(g),
	       col = conv_patch(g) * conv_plane(g);
	size_t bwd = (size_t)n_threads * 3 * col + conv_patch(g) * g->oc +
	             (size_t)B * (g->oc * conv_patch(g) + g->oc);

	return backward && bwd > fwd ? bwd : fwd;
}

static void conv_bias_fill(float *out, const float *bias, int oc0, int oc1, size_t plane)
{
	for (int o = oc0; o < oc1; o++)
#pragma omp simd
		for (size_t p = 0; p < plane; p++)
			out[o * plane + p] = bias[o];
}

/* Output channels [oc0, oc1) of one image from its unfolded or padded
 * input in buf (made by conv_prepare). */
static void conv_channels(float *out, const float *buf, const float *weight, const float *bias,
                          const struct nn_conv_geom *g, int oc0, int oc1, bool relu)
{
	const size_t patch = conv_patch(g), plane = conv_plane(g);

	if (conv_is_direct(g)) {
		nn_conv_direct(out, buf, weight, bias, g->c, g->h, g->w, g->k, g->pad, oc0, oc1,
		               relu);
		return;
	}
	conv_bias_fill(out, bias, oc0, oc1, plane);
	nn_gemm(oc1 - oc0, (int)plane, (int)patch, weight + oc0 * patch, (int)patch, buf,
	        (int)plane, out + oc0 * plane, (int)plane, true);
	if (relu)
		nn_relu_forward(out + oc0 * plane, out + oc0 * plane, (oc1 - oc0) * plane);
}

/* Input channels [c0, c1) of one image into buf, padded or unfolded. */
static void conv_prepare(float *buf, const float *img, const struct nn_conv_geom *g, int c0, int c1)
{
	if (conv_is_direct(g))
		nn_conv_pad(buf, img, g->c, g->h, g->w, g->k, g->pad, c0, c1);
	else
		nn_im2col(buf, img, g->c, g->h, g->w, g->k, g->stride, g->pad, g->oh, g->ow, c0,
		          c1);
}

/* Below this many multiply-adds a layer runs on one thread.  Waking the
 * others costs a microsecond or more, and splitting a convolution's
 * channels leaves half of its output in the other core's cache for the
 * next layer to fetch: "cnn"'s conv1 (0.63 M) measured slower on two
 * threads than on one. */
#define CONV_PARALLEL_MIN_MACS (1 << 20)

void nn_conv2d_forward(float *out, const float *in, const float *weight, const float *bias, int B,
                       const struct nn_conv_geom *g, float *scratch, int n_threads, bool relu)
{
	const size_t in_size = (size_t)g->c * g->h * g->w, out_size = g->oc * conv_plane(g);
	const size_t buf_size = conv_forward_scratch(g);
	const size_t macs = (size_t)B * g->oc * conv_patch(g) * conv_plane(g);

	if (macs < CONV_PARALLEL_MIN_MACS)
		n_threads = 1;
	/* One thread never enters OpenMP: even a region of one costs time. */
	if (n_threads == 1) {
		for (int b = 0; b < B; b++) {
			conv_prepare(scratch, in + b * in_size, g, 0, g->c);
			conv_channels(out + b * out_size, scratch, weight, bias, g, 0, g->oc, relu);
		}
		return;
	}
	if (B >= n_threads) {
#pragma omp parallel for num_threads(n_threads) schedule(static)
		for (int b = 0; b < B; b++) {
			float *buf = scratch;
#ifdef _OPENMP
			buf += (size_t)omp_get_thread_num() * buf_size;
#endif
			conv_prepare(buf, in + b * in_size, g, 0, g->c);
			conv_channels(out + b * out_size, buf, weight, bias, g, 0, g->oc, relu);
		}
		return;
	}

	/* Fewer images than threads: share one image's channels instead, in
	 * blocks of 8 (the kernels' row tile). */
	for (int b = 0; b < B; b++) {
		const float *img = in + b * in_size;
		float *o = out + b * out_size;
		const int blocks = (g->oc + 7) / 8;

#pragma omp parallel num_threads(n_threads)
		{
#pragma omp for schedule(static)
			for (int c = 0; c < g->c; c++)
				conv_prepare(scratch, img, g, c, c + 1);
#pragma omp for schedule(static)
			for (int blk = 0; blk < blocks; blk++) {
				int oc0 = blk * 8, oc1 = oc0 + 8 < g->oc ? oc0 + 8 : g->oc;

				conv_channels(o, scratch, weight, bias, g, oc0, oc1, relu);
			}
		}
	}
}

void nn_conv2d_backward(float *din, float *dweight, float *dbias, const float *dout,
                        const float *in, const float *weight, int B, const struct nn_conv_geom *g,
                        float *scratch, int n_threads)
{
	const size_t patch = conv_patch(g), plane = conv_plane(g), col_size = patch * plane;
	const size_t in_size = (size_t)g->c * g->h * g->w, out_size = g->oc * plane;
	const size_t slot = g->oc * patch + g->oc;
	float *weight_t = scratch + (size_t)n_threads * 3 * col_size;
	float *slots = weight_t + patch * g->oc;

	nn_transpose(weight_t, weight, g->oc, (int)patch);

#pragma omp parallel for num_threads(n_threads) schedule(static)
	for (int b = 0; b < B; b++) {
		int t = 0;
#ifdef _OPENMP
		t = omp_get_thread_num();
#endif
		float *col = scratch + (size_t)t * 3 * col_size;
		float *col_t = col + col_size, *dcol = col_t + col_size;
		const float *d = dout + b * out_size;
		float *dw = slots + b * slot, *db = dw + g->oc * patch;

		if (dweight) {
			nn_im2col(col, in + b * in_size, g->c, g->h, g->w, g->k, g->stride, g->pad,
			          g->oh, g->ow, 0, g->c);
			nn_transpose(col_t, col, (int)patch, (int)plane);
			nn_gemm(g->oc, (int)patch, (int)plane, d, (int)plane, col_t, (int)patch, dw,
			        (int)patch, false);
			for (int o = 0; o < g->oc; o++) {
				float s = 0.0f;
#pragma omp simd reduction(+ : s)
				for (size_t p = 0; p < plane; p++)
					s += d[o * plane + p];
				db[o] = s;
			}
		}
		if (din) {
			nn_gemm((int)patch, (int)plane, g->oc, weight_t, g->oc, d, (int)plane, dcol,
			        (int)plane, false);
			nn_col2im_add(din + b * in_size, dcol, g->c, g->h, g->w, g->k, g->stride,
			              g->pad, g->oh, g->ow);
		}
	}

	if (!dweight)
		return;
		/* Sum the per-image slots in image order: independent of threads. */
#pragma omp parallel for num_threads(n_threads) schedule(static)
	for (size_t e = 0; e < slot; e++) {
		float s = 0.0f;
		for (int b = 0; b < B; b++)
			s += slots[b * slot + e];
		if (e < g->oc * patch)
			dweight[e] += s;
		else
			dbias[e - g->oc * patch] += s;
	}
}

/* ---- maxpool --------------------------------------------------------- */

/* The 2 x 2, stride 2 window of every network here, in two vector passes
 * per output row: the larger of the two input rows, then of each pair of
 * neighbours in that.  The generic loops below cost several times more. */
static void maxpool2_plane(float *o, const float *p, int W, int OH, int OW)
{
	float t[2 * OW];

	for (int oy = 0; oy < OH; oy++) {
		const float *r0 = p + (size_t)2 * oy * W, *r1 = r0 + W;
		float *out = o + (size_t)oy * OW;

#pragma omp simd
		for (int x = 0; x < 2 * OW; x++)
			t[x] = r1[x] > r0[x] ? r1[x] : r0[x];
#pragma omp simd
		for (int ox = 0; ox < OW; ox++)
			out[ox] = t[2 * ox + 1] > t[2 * ox] ? t[2 * ox + 1] : t[2 * ox];
	}
}

static void maxpool_planes(float *out, const float *in, int bc0, int bc1,
                           const struct nn_pool_geom *g)
{
	const int W = g->w, k = g->k, stride = g->stride, OW = g->ow;

	for (int bc = bc0; bc < bc1; bc++) {
		const float *p = in + (size_t)bc * g->h * W;
		float *o = out + (size_t)bc * g->oh * OW;

		if (k == 2 && stride == 2 && OW <= 1024) {
			maxpool2_plane(o, p, W, g->oh, OW);
			continue;
		}
		for (int oy = 0; oy < g->oh; oy++)
			for (int ox = 0; ox < OW; ox++) {
				const float *win = p + (size_t)oy * stride * W + ox * stride;
				float m = win[0];

				for (int y = 0; y < k; y++)
					for (int x = 0; x < k; x++)
						m = win[y * W + x] > m ? win[y * W + x] : m;
				o[oy * OW + ox] = m;
			}
	}
}

void nn_maxpool_forward(float *out, const float *in, int B, const struct nn_pool_geom *g,
                        int n_threads)
{
	const int planes = B * g->c;

	/* A few thousand outputs take less time than waking a thread. */
	if (n_threads == 1 || (size_t)planes * g->oh * g->ow < 8192) {
		maxpool_planes(out, in, 0, planes, g);
		return;
	}
#pragma omp parallel for num_threads(n_threads) schedule(static)
	for (int bc = 0; bc < planes; bc++)
		maxpool_planes(out, in, bc, bc + 1, g);
}

void nn_maxpool_backward(float *din, const float *dout, const float *in, int B,
                         const struct nn_pool_geom *g, int n_threads)
{
	const int W = g->w, k = g->k, stride = g->stride, OH = g->oh, OW = g->ow;

#pragma omp parallel for num_threads(n_threads) schedule(static)
	for (int bc = 0; bc < B * g->c; bc++) {
		const float *p = in + (size_t)bc * g->h * W;
		float *dp = din + (size_t)bc * g->h * W;
		const float *d = dout + (size_t)bc * OH * OW;

		for (int oy = 0; oy < OH; oy++)
			for (int ox = 0; ox < OW; ox++) {
				size_t base = (size_t)oy * stride * W + ox * stride, best = base;

				for (int y = 0; y < k; y++)
					for (int x = 0; x < k; x++)
						if (p[base + y * W + x] > p[best])
							best = base + y * W + x;
				dp[best] += d[oy * OW + ox];
			}
	}
}

/* ---- the op table entries ---------------------------------------------- */

static struct nn_conv_geom conv_geom(const struct nn_graph *g, const struct nn_node *n)
{
	const struct nn_node *in = nn_input(g, n, 0);

	return (struct nn_conv_geom){.c = in->c,
	                             .h = in->h,
	                             .w = in->w,
	                             .oc = n->units,
	                             .k = n->kernel,
	                             .stride = n->stride,
	                             .pad = n->pad,
	                             .oh = n->h,
	                             .ow = n->w};
}

static int conv2d_parse(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	if (nn_expect_inputs(n, 1, err) ||
	    nn_json_int(o, n->name, "filters", 0, 1, NN_MAX_DIM, &n->units, err) ||
	    nn_json_int(o, n->name, "kernel", 0, 1, NN_MAX_KERNEL, &n->kernel, err) ||
	    nn_json_int(o, n->name, "stride", 1, 1, NN_MAX_KERNEL, &n->stride, err) ||
	    nn_json_int(o, n->name, "pad", 0, 0, NN_MAX_KERNEL, &n->pad, err))
		return -1;
	return 0;
}

static int conv2d_shape(const struct nn_graph *g, struct nn_node *n, struct dg_error *err)
{
	const struct nn_node *in = nn_input(g, n, 0);

	if (in->h + 2 * n->pad < n->kernel || in->w + 2 * n->pad < n->kernel)
		return dg_fail(err, DG_ERR_FORMAT,
		               "node \"%s\": kernel %d larger than padded input %dx%d", n->name,
		               n->kernel, in->h + 2 * n->pad, in->w + 2 * n->pad);
	n->c = n->units;
	n->h = (in->h + 2 * n->pad - n->kernel) / n->stride + 1;
	n->w = (in->w + 2 * n->pad - n->kernel) / n->stride + 1;
	n->n_weight = (size_t)n->units * in->c * n->kernel * n->kernel;
	n->n_bias = n->units;
	n->n_macs = n->n_weight * n->h * n->w;
	return 0;
}

/* weight [filters][in channels][kernel][kernel], bias [filters]. */
static int conv2d_tensors(const struct nn_graph *g, const struct nn_node *n, struct nn_tensor *t)
{
	const struct nn_node *in = nn_input(g, n, 0);
	const int dims[4] = {n->units, in->c, n->kernel, n->kernel};

	return nn_weight_bias(n, t, 4, dims, (size_t)in->c * n->kernel * n->kernel);
}

static size_t conv2d_scratch(const struct nn_graph *g, const struct nn_node *n, int B, int threads,
                             bool training)
{
	struct nn_conv_geom cg = conv_geom(g, n);

	return nn_conv2d_scratch(&cg, B, threads, training);
}

static void conv2d_forward(const struct nn_op_args *a)
{
	const struct nn_node *n = a->node;
	struct nn_conv_geom cg = conv_geom(a->g, n);

	nn_conv2d_forward(a->y, a->x[0], a->params + n->weight, a->params + n->bias, a->n, &cg,
	                  a->scratch, a->threads, a->relu);
}

static void conv2d_backward(const struct nn_op_args *a)
{
	const struct nn_node *n = a->node;
	struct nn_conv_geom cg = conv_geom(a->g, n);

	nn_conv2d_backward(a->dx[0], a->grads ? a->grads + n->weight : NULL,
	                   a->grads ? a->grads + n->bias : NULL, a->dy, a->x[0],
	                   a->params + n->weight, a->n, &cg, a->scratch, a->threads);
}

static void conv2d_to_json(const struct nn_node *n, struct json_object *o)
{
	json_object_object_add(o, "filters", json_object_new_int(n->units));
	json_object_object_add(o, "kernel", json_object_new_int(n->kernel));
	json_object_object_add(o, "stride", json_object_new_int(n->stride));
	json_object_object_add(o, "pad", json_object_new_int(n->pad));
}

const struct nn_op_def nn_op_conv2d = {
    .name = "conv2d",
    .flags = NN_OP_FUSES_RELU,
    .parse = conv2d_parse,
    .shape = conv2d_shape,
    .tensors = conv2d_tensors,
    .scratch = conv2d_scratch,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .to_json = conv2d_to_json,
};

static struct nn_pool_geom pool_geom(const struct nn_graph *g, const struct nn_node *n)
{
	const struct nn_node *in = nn_input(g, n, 0);

	return (struct nn_pool_geom){.c = in->c,
	                             .h = in->h,
	                             .w = in->w,
	                             .k = n->kernel,
	                             .stride = n->stride,
	                             .oh = n->h,
	                             .ow = n->w};
}

int nn_maxpool_parse(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	if (nn_expect_inputs(n, 1, err) ||
	    nn_json_int(o, n->name, "kernel", 0, 1, NN_MAX_KERNEL, &n->kernel, err) ||
	    nn_json_int(o, n->name, "stride", n->kernel, 1, NN_MAX_KERNEL, &n->stride, err))
		return -1;
	return 0;
}

int nn_maxpool_shape(const struct nn_graph *g, struct nn_node *n, struct dg_error *err)
{
	const struct nn_node *in = nn_input(g, n, 0);

	if (in->h < n->kernel || in->w < n->kernel)
		return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": window %d larger than input %dx%d",
		               n->name, n->kernel, in->h, in->w);
	n->c = in->c;
	n->h = (in->h - n->kernel) / n->stride + 1;
	n->w = (in->w - n->kernel) / n->stride + 1;
	return 0;
}

static void maxpool_forward(const struct nn_op_args *a)
{
	struct nn_pool_geom pg = pool_geom(a->g, a->node);

	nn_maxpool_forward(a->y, a->x[0], a->n, &pg, a->threads);
}

static void maxpool_backward(const struct nn_op_args *a)
{
	struct nn_pool_geom pg = pool_geom(a->g, a->node);

	if (a->dx[0])
		nn_maxpool_backward(a->dx[0], a->dy, a->x[0], a->n, &pg, a->threads);
}

static void maxpool_to_json(const struct nn_node *n, struct json_object *o)
{
	json_object_object_add(o, "kernel", json_object_new_int(n->kernel));
	json_object_object_add(o, "stride", json_object_new_int(n->stride));
}

const struct nn_op_def nn_op_maxpool = {
    .name = "maxpool",
    .parse = nn_maxpool_parse,
    .shape = nn_maxpool_shape,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .to_json = maxpool_to_json,
};
