/*
 * nn_q8.c - the int8 ops: quantize, conv2d_q8, dense_q8, maxpool_q8,
 * concat_q8 (digits-train --quantize makes graphs of them).
 *
 * Numbers.  An activation is a byte q in 0..127 standing for scale * (q -
 * zero); zero is 0 everywhere but at the quantize node (the normalised
 * pixels can be negative).  A weight is an int8 w in -127..127 standing for
 * wscale[oc] * w, one scale per output channel.  A layer sums q * w in
 * int32 (nn_q8_gemm), adds an int32 bias (which also holds -zero * sum(w),
 * so the input's zero point costs nothing at run time, and a convolution
 * pads with the byte zero), then either
 *   - requantises: out = clamp((sum * multiplier + 2^(shift-1)) >> shift,
 *     0, 127), with multiplier * 2^-shift = scale_in * wscale / scale_out;
 *     the clamp at 0 is the relu, or
 *   - (the last dense) dequantises to float logits: sum * scale[oc].
 * Everything up to the logits is integer arithmetic, so the answer is the
 * same bits on every CPU, kernel variant and thread count.
 *
 * Storage.  Bytes live in the workspace's float activations (a node's
 * c*h*w floats per image hold its c*h*w bytes; image b starts at byte
 * b*c*h*w).  Weights are int8 [Kp/4][Np][4] (nn_q8_gemm's layout): Kp the
 * inputs (C*K*K for a convolution, in im2col order) rounded up to 4, Np
 * the outputs rounded up to NN_Q8_LANES, zeros in the padding.
 * Tensors: weight (int8), bias (int32), scale (float32: the real multiplier
 * of each output), and for requantising layers multiplier and shift
 * (int32).  Inference only: these ops have no backward.
 */
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "nn.h"
#include "nn_kernels.h"
#include "nn_ops.h"

#define Q8_MAX      127
#define Q8_BLOCK    64 /* output positions of a convolution per work item */
#define Q8_MAX_BIAS (1 << 30)

static int kpad(size_t k)
{
	return (int)((k + 3) / 4 * 4);
}

static int npad(int units)
{
	return (units + NN_Q8_LANES - 1) / NN_Q8_LANES * NN_Q8_LANES;
}

static int thread_id(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

static uint8_t clamp_q8(int64_t v)
{
	return (uint8_t)(v < 0 ? 0 : v > Q8_MAX ? Q8_MAX : v);
}

/* The fixed-point step of every requantising layer. */
static inline uint8_t requantise(int32_t sum, int32_t multiplier, int shift)
{
	int64_t p = (int64_t)sum * multiplier + ((int64_t)1 << (shift - 1));

	return clamp_q8(p >> shift);
}

/* Where a q8 node's tensors sit: weight at n->weight, then bias, scale,
 * multiplier, shift (units each) from n->bias. */
struct q8_params {
	const int8_t *weight;
	const int32_t *bias, *multiplier, *shift;
	const float *scale;
};

static struct q8_params q8_view(const struct nn_node *n, const float *params)
{
	const float *b = params + n->bias;

	return (struct q8_params){.weight = (const int8_t *)(params + n->weight),
	                          .bias = (const int32_t *)b,
	                          .scale = b + n->units,
	                          .multiplier = (const int32_t *)(b + 2 * (size_t)n->units),
	                          .shift = (const int32_t *)(b + 3 * (size_t)n->units)};
}

static int q8_tensors(const struct nn_node *n, int kp, bool requant, struct nn_tensor *t)
{
	const char *sfx[] = {"bias", "scale", "multiplier", "shift"};
	const enum nn_dtype type[] = {NN_I32, NN_F32, NN_I32, NN_I32};
	const int count = requant ? 5 : 3;

	t[0] = (struct nn_tensor){.suffix = "weight",
	                          .dtype = NN_I8,
	                          .offset = n->weight,
	                          .count = (size_t)npad(n->units) * kp,
	                          .n_dims = 3,
	                          .dims = {kp / 4, npad(n->units), 4}};
	for (int k = 1; k < count; k++)
		t[k] = (struct nn_tensor){.suffix = sfx[k - 1],
		                          .dtype = type[k - 1],
		                          .offset = n->bias + (size_t)(k - 1) * n->units,
		                          .count = (size_t)n->units,
		                          .n_dims = 1,
		                          .dims = {n->units}};
	return count;
}

/* The values a file's q8 tensors may hold (see the top of the file). */
static int q8_check(const struct nn_node *n, int kp, bool requant, const float *params,
                    struct dg_error *err)
{
	struct q8_params q = q8_view(n, params);

	for (size_t i = 0; i < (size_t)npad(n->units) * kp; i++)
		if (q.weight[i] < -Q8_MAX)
			return dg_fail(err, DG_ERR_FORMAT,
			               "tensor %s.weight holds %d at index %zu, int8 weights are "
			               "-127..127",
			               n->name, q.weight[i], i);
	for (int o = 0; o < n->units; o++) {
		if (q.bias[o] < -Q8_MAX_BIAS || q.bias[o] > Q8_MAX_BIAS)
			return dg_fail(err, DG_ERR_FORMAT,
			               "tensor %s.bias holds %d at index %d, beyond +-2^30",
			               n->name, q.bias[o], o);
		if (!(q.scale[o] > 0))
			return dg_fail(err, DG_ERR_FORMAT,
			               "tensor %s.scale holds %g at index %d, scales are positive",
			               n->name, (double)q.scale[o], o);
		if (!requant)
			continue;
		if (q.multiplier[o] < (1 << 30))
			return dg_fail(err, DG_ERR_FORMAT,
			               "tensor %s.multiplier holds %d at index %d, must be "
			               "2^30..2^31-1",
			               n->name, q.multiplier[o], o);
		if (q.shift[o] < 1 || q.shift[o] > 62)
			return dg_fail(err, DG_ERR_FORMAT,
			               "tensor %s.shift holds %d at index %d, must be 1..62",
			               n->name, q.shift[o], o);
		double real = ldexp(q.multiplier[o], -q.shift[o]);
		if (fabs(real - q.scale[o]) > 1e-6 * q.scale[o])
			return dg_fail(err, DG_ERR_FORMAT,
			               "%s: multiplier and shift give %.9g at index %d, its scale "
			               "says %.9g",
			               n->name, real, o, (double)q.scale[o]);
	}
	return 0;
}

static int parse_zero(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	return nn_json_int(o, n->name, "zero", 0, 0, Q8_MAX, &n->zero, err);
}

/* ---- quantize ----------------------------------------------------------- */

static int quantize_parse(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	if (nn_expect_inputs(n, 1, err) || parse_zero(n, o, err) ||
	    nn_json_float(o, n->name, "scale", -1.0, 1e-9, 1e9, &n->scale, err))
		return -1;
	if (!(n->scale > 0))
		return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": missing \"scale\"", n->name);
	return 0;
}

static int same_shape(const struct nn_graph *g, struct nn_node *n, struct dg_error *err)
{
	const struct nn_node *in = nn_input(g, n, 0);

	(void)err;
	n->c = in->c, n->h = in->h, n->w = in->w;
	return 0;
}

static void quantize_forward(const struct nn_op_args *a)
{
	const size_t count = (size_t)a->n * nn_node_size(a->node);
	const float *x = a->x[0];
	uint8_t *y = (uint8_t *)a->y;
	const float scale = a->node->scale;
	const int zero = a->node->zero;

	for (size_t i = 0; i < count; i++)
		y[i] = clamp_q8((int64_t)lrintf(x[i] / scale) + zero);
}

static void quantize_to_json(const struct nn_node *n, struct json_object *o)
{
	json_object_object_add(o, "scale", json_object_new_double(n->scale));
	json_object_object_add(o, "zero", json_object_new_int(n->zero));
}

const struct nn_op_def nn_op_quantize = {
    .name = "quantize",
    .parse = quantize_parse,
    .shape = same_shape,
    .forward = quantize_forward,
    .to_json = quantize_to_json,
};

/* ---- conv2d_q8 ----------------------------------------------------------- */

static int conv_kd(const struct nn_graph *g, const struct nn_node *n)
{
	return nn_input(g, n, 0)->c * n->kernel * n->kernel;
}

static int conv2d_q8_parse(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	if (nn_expect_inputs(n, 1, err) ||
	    nn_json_int(o, n->name, "filters", 0, 1, NN_MAX_DIM, &n->units, err) ||
	    nn_json_int(o, n->name, "kernel", 0, 1, NN_MAX_KERNEL, &n->kernel, err) ||
	    nn_json_int(o, n->name, "stride", 1, 1, NN_MAX_KERNEL, &n->stride, err) ||
	    nn_json_int(o, n->name, "pad", 0, 0, NN_MAX_KERNEL, &n->pad, err) ||
	    parse_zero(n, o, err))
		return -1;
	return 0;
}

static int conv2d_q8_shape(const struct nn_graph *g, struct nn_node *n, struct dg_error *err)
{
	const struct nn_node *in = nn_input(g, n, 0);
	const size_t kd = (size_t)in->c * n->kernel * n->kernel;

	if (in->h + 2 * n->pad < n->kernel || in->w + 2 * n->pad < n->kernel)
		return dg_fail(err, DG_ERR_FORMAT,
		               "node \"%s\": kernel %d larger than padded input %dx%d", n->name,
		               n->kernel, in->h + 2 * n->pad, in->w + 2 * n->pad);
	if (kd > NN_Q8_MAX_K)
		return dg_fail(err, DG_ERR_FORMAT,
		               "node \"%s\": %zu inputs per output, int8 sums "
		               "take at most %d",
		               n->name, kd, NN_Q8_MAX_K);
	n->c = n->units;
	n->h = (in->h + 2 * n->pad - n->kernel) / n->stride + 1;
	n->w = (in->w + 2 * n->pad - n->kernel) / n->stride + 1;
	n->n_weight = (size_t)npad(n->units) * kpad(kd) / 4;
	n->n_bias = 4 * (size_t)n->units;
	n->n_macs = kd * n->units * n->h * n->w;
	return 0;
}

static int conv2d_q8_tensors(const struct nn_graph *g, const struct nn_node *n, struct nn_tensor *t)
{
	return q8_tensors(n, kpad(conv_kd(g, n)), true, t);
}

static int conv2d_q8_check(const struct nn_graph *g, const struct nn_node *n, const float *params,
                           struct dg_error *err)
{
	return q8_check(n, kpad(conv_kd(g, n)), true, params, err);
}

/* Per thread: a block of im2col rows (bytes) and its int32 sums. */
static size_t conv_thread_bytes(const struct nn_graph *g, const struct nn_node *n)
{
	size_t bytes =
	    (size_t)Q8_BLOCK * kpad(conv_kd(g, n)) + sizeof(int32_t) * Q8_BLOCK * npad(n->units);

	return (bytes + 63) / 64 * 64;
}

static size_t conv2d_q8_scratch(const struct nn_graph *g, const struct nn_node *n, int B,
                                int threads, bool training)
{
	(void)B, (void)training;
	return (size_t)threads * conv_thread_bytes(g, n) / sizeof(float);
}

/* Rows p0 .. p0+np-1 of one image's im2col matrix, Kp bytes each:
 * row[(c*K + ky)*K + kx] = img[c][oy*stride - pad + ky][ox*stride - pad +
 * kx], the zero level outside the image and 0 in the row's padding. */
static void im2col_q8(uint8_t *rows, const uint8_t *img, int C, int H, int W, int K, int stride,
                      int pad, int OW, int Kp, int p0, int np, uint8_t zero)
{
	for (int i = 0; i < np; i++) {
		uint8_t *r = rows + (size_t)i * Kp;
		const int oy = (p0 + i) / OW, ox = (p0 + i) % OW;
		const int x0 = ox * stride - pad;
		/* The columns kx in [lo, hi) fall inside the image. */
		const int lo = x0 < 0 ? -x0 : 0, hi = x0 + K > W ? W - x0 : K;

		for (int c = 0; c < C; c++)
			for (int ky = 0; ky < K; ky++, r += K) {
				const int iy = oy * stride - pad + ky;

				const uint8_t *src = img + ((size_t)c * H + iy) * W + x0;

				/* Byte loops: K is 3 or 5, too short for a call. */
				if (iy < 0 || iy >= H) {
					for (int kx = 0; kx < K; kx++)
						r[kx] = zero;
					continue;
				}
				if (lo > 0 || hi < K) {
					for (int kx = 0; kx < K; kx++)
						r[kx] = kx >= lo && kx < hi ? src[kx] : zero;
				} else if (K == 3) { /* the usual kernels, as fixed moves */
					memcpy(r, src, 3);
				} else if (K == 5) {
					memcpy(r, src, 5);
				} else {
					memcpy(r, src, (size_t)K);
				}
			}
		memset(r, 0, (size_t)(Kp - C * K * K));
	}
}

static void conv2d_q8_forward(const struct nn_op_args *a)
{
	const struct nn_node *n = a->node, *in = nn_input(a->g, n, 0);
	const struct q8_params q = q8_view(n, a->params);
	const int C = in->c, OC = n->units, NP = npad(OC), P = n->h * n->w;
	const int kp = kpad(conv_kd(a->g, n));
	const int blocks = (P + Q8_BLOCK - 1) / Q8_BLOCK, items = a->n * blocks;
	const size_t in_size = nn_node_size(in), out_size = nn_node_size(n);
	const size_t per_thread = conv_thread_bytes(a->g, n);
	const uint8_t *x = (const uint8_t *)a->x[0];
	uint8_t *y = (uint8_t *)a->y;
	char *scratch = (char *)a->scratch;

	/* Work items are (image, block of output positions): every output is
	 * an exact integer, so any split gives the same bytes. */
#pragma omp parallel for num_threads(a->threads) schedule(static) if (items > 1)
	for (int it = 0; it < items; it++) {
		uint8_t *rows = (uint8_t *)(scratch + (size_t)thread_id() * per_thread);
		int32_t *sums = (int32_t *)(rows + (size_t)Q8_BLOCK * kp);
		const int b = it / blocks, p0 = it % blocks * Q8_BLOCK;
		const int np = P - p0 < Q8_BLOCK ? P - p0 : Q8_BLOCK;
		uint8_t *out = y + b * out_size + p0;

		im2col_q8(rows, x + b * in_size, C, in->h, in->w, n->kernel, n->stride, n->pad,
		          n->w, kp, p0, np, (uint8_t)n->zero);
		nn_q8_gemm(np, NP, kp, rows, q.weight, sums, NP);
		for (int o = 0; o < OC; o++)
			for (int i = 0; i < np; i++)
				out[(size_t)o * P + i] = requantise(sums[i * NP + o] + q.bias[o],
				                                    q.multiplier[o], q.shift[o]);
	}
}

static void conv2d_q8_to_json(const struct nn_node *n, struct json_object *o)
{
	json_object_object_add(o, "filters", json_object_new_int(n->units));
	json_object_object_add(o, "kernel", json_object_new_int(n->kernel));
	json_object_object_add(o, "stride", json_object_new_int(n->stride));
	json_object_object_add(o, "pad", json_object_new_int(n->pad));
	json_object_object_add(o, "zero", json_object_new_int(n->zero));
}

const struct nn_op_def nn_op_conv2d_q8 = {
    .name = "conv2d_q8",
    .parse = conv2d_q8_parse,
    .shape = conv2d_q8_shape,
    .tensors = conv2d_q8_tensors,
    .scratch = conv2d_q8_scratch,
    .forward = conv2d_q8_forward,
    .to_json = conv2d_q8_to_json,
    .check = conv2d_q8_check,
};

/* ---- dense_q8 ------------------------------------------------------------ */

static int dense_in(const struct nn_graph *g, const struct nn_node *n)
{
	return (int)nn_node_size(nn_input(g, n, 0));
}

static int dense_q8_parse(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	struct json_object *v;

	if (nn_expect_inputs(n, 1, err) ||
	    nn_json_int(o, n->name, "units", 0, 1, NN_MAX_UNITS, &n->units, err) ||
	    parse_zero(n, o, err))
		return -1;
	n->out_u8 = false;
	if (json_object_object_get_ex(o, "relu", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return dg_fail(err, DG_ERR_FORMAT,
			               "node \"%s\": \"relu\" must be true or "
			               "false",
			               n->name);
		n->out_u8 = json_object_get_boolean(v);
	}
	return 0;
}

static int dense_q8_shape(const struct nn_graph *g, struct nn_node *n, struct dg_error *err)
{
	const int in = dense_in(g, n);

	if (in > NN_Q8_MAX_K)
		return dg_fail(err, DG_ERR_FORMAT,
		               "node \"%s\": %d inputs, int8 sums take at "
		               "most %d",
		               n->name, in, NN_Q8_MAX_K);
	n->c = n->units, n->h = 1, n->w = 1;
	n->n_weight = (size_t)npad(n->units) * kpad((size_t)in) / 4;
	n->n_bias = (n->out_u8 ? 4 : 2) * (size_t)n->units;
	n->n_macs = (size_t)in * n->units;
	return 0;
}

static int dense_q8_tensors(const struct nn_graph *g, const struct nn_node *n, struct nn_tensor *t)
{
	return q8_tensors(n, kpad((size_t)dense_in(g, n)), n->out_u8, t);
}

static int dense_q8_check(const struct nn_graph *g, const struct nn_node *n, const float *params,
                          struct dg_error *err)
{
	return q8_check(n, kpad((size_t)dense_in(g, n)), n->out_u8, params, err);
}

/* The inputs padded to Kp bytes a row, then the n x units sums. */
static size_t dense_q8_scratch(const struct nn_graph *g, const struct nn_node *n, int B,
                               int threads, bool training)
{
	size_t bytes =
	    (size_t)B * kpad((size_t)dense_in(g, n)) + sizeof(int32_t) * B * npad(n->units);

	(void)threads, (void)training;
	return (bytes + sizeof(float) - 1) / sizeof(float);
}

#define DENSE_ROWS 8 /* images per work item */

static void dense_q8_forward(const struct nn_op_args *a)
{
	const struct nn_node *n = a->node;
	const struct q8_params q = q8_view(n, a->params);
	const int in = dense_in(a->g, n), kp = kpad((size_t)in), N = n->units, NP = npad(N);
	const int rb = (a->n + DENSE_ROWS - 1) / DENSE_ROWS;
	const uint8_t *x = (const uint8_t *)a->x[0];
	uint8_t *rows = (uint8_t *)a->scratch;
	int32_t *sums = (int32_t *)(rows + (size_t)a->n * kp);

	/* The kernel wants whole Kp rows; the bytes past the inputs are 0, as
	 * are the weights there. */
	if (kp != in) {
		for (int b = 0; b < a->n; b++) {
			memcpy(rows + (size_t)b * kp, x + (size_t)b * in, (size_t)in);
			memset(rows + (size_t)b * kp + in, 0, (size_t)(kp - in));
		}
		x = rows;
	}
	/* By blocks of images: a single image's dense layers are a few
	 * microseconds, not worth a fork. */
#pragma omp parallel for num_threads(a->threads) schedule(static) if (rb > 1)
	for (int it = 0; it < rb; it++) {
		const int r0 = it * DENSE_ROWS;
		const int nr = a->n - r0 < DENSE_ROWS ? a->n - r0 : DENSE_ROWS;

		nn_q8_gemm(nr, NP, kp, x + (size_t)r0 * kp, q.weight, sums + (size_t)r0 * NP, NP);
		for (int i = r0; i < r0 + nr; i++)
			for (int j = 0; j < N; j++) {
				const int32_t s = sums[(size_t)i * NP + j] + q.bias[j];

				if (n->out_u8)
					((uint8_t *)a->y)[(size_t)i * N + j] =
					    requantise(s, q.multiplier[j], q.shift[j]);
				else
					a->y[(size_t)i * N + j] = (float)s * q.scale[j];
			}
	}
}

static void dense_q8_to_json(const struct nn_node *n, struct json_object *o)
{
	json_object_object_add(o, "units", json_object_new_int(n->units));
	json_object_object_add(o, "zero", json_object_new_int(n->zero));
	json_object_object_add(o, "relu", json_object_new_boolean(n->out_u8));
}

const struct nn_op_def nn_op_dense_q8 = {
    .name = "dense_q8",
    .parse = dense_q8_parse,
    .shape = dense_q8_shape,
    .tensors = dense_q8_tensors,
    .scratch = dense_q8_scratch,
    .forward = dense_q8_forward,
    .to_json = dense_q8_to_json,
    .check = dense_q8_check,
};

/* ---- maxpool_q8, concat_q8 ------------------------------------------------ */

static void maxpool_q8_forward(const struct nn_op_args *a)
{
	const struct nn_node *n = a->node, *in = nn_input(a->g, n, 0);
	const int planes = a->n * n->c, K = n->kernel, S = n->stride;
	const uint8_t *x = (const uint8_t *)a->x[0];
	uint8_t *y = (uint8_t *)a->y;

#pragma omp parallel for num_threads(a->threads) schedule(static) if (planes > 1)
	for (int p = 0; p < planes; p++) {
		const uint8_t *src = x + (size_t)p * in->h * in->w;
		uint8_t *dst = y + (size_t)p * n->h * n->w;

		if (K == 2 && S == 2) { /* the usual window, without the inner loops */
			for (int oy = 0; oy < n->h; oy++)
				for (int ox = 0; ox < n->w; ox++) {
					const uint8_t *r0 = src + 2 * oy * in->w + 2 * ox,
					              *r1 = r0 + in->w;
					uint8_t m0 = r0[0] > r0[1] ? r0[0] : r0[1];
					uint8_t m1 = r1[0] > r1[1] ? r1[0] : r1[1];

					dst[oy * n->w + ox] = m0 > m1 ? m0 : m1;
				}
			continue;
		}
		for (int oy = 0; oy < n->h; oy++)
			for (int ox = 0; ox < n->w; ox++) {
				uint8_t m = 0;

				for (int ky = 0; ky < K; ky++)
					for (int kx = 0; kx < K; kx++) {
						uint8_t v =
						    src[(oy * S + ky) * in->w + ox * S + kx];
						m = v > m ? v : m;
					}
				dst[oy * n->w + ox] = m;
			}
	}
}

static void maxpool_q8_to_json(const struct nn_node *n, struct json_object *o)
{
	json_object_object_add(o, "kernel", json_object_new_int(n->kernel));
	json_object_object_add(o, "stride", json_object_new_int(n->stride));
}

const struct nn_op_def nn_op_maxpool_q8 = {
    .name = "maxpool_q8",
    .parse = nn_maxpool_parse,
    .shape = nn_maxpool_shape,
    .forward = maxpool_q8_forward,
    .to_json = maxpool_q8_to_json,
};

static void concat_q8_forward(const struct nn_op_args *a)
{
	const struct nn_node *n = a->node;
	const size_t out_size = nn_node_size(n);
	uint8_t *y = (uint8_t *)a->y;

	for (int b = 0; b < a->n; b++) {
		size_t at = 0;

		for (int k = 0; k < n->n_inputs; k++) {
			const size_t sz = nn_node_size(nn_input(a->g, n, k));

			memcpy(y + b * out_size + at, (const uint8_t *)a->x[k] + b * sz, sz);
			at += sz;
		}
	}
}

const struct nn_op_def nn_op_concat_q8 = {
    .name = "concat_q8",
    .parse = nn_concat_parse,
    .shape = nn_concat_shape,
    .forward = concat_q8_forward,
};
