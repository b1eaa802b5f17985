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
 * b*c*h*w), channels last: pixel (y, x) of a node's output is the run of
 * its c bytes at (y*w + x)*c.  So a convolution reads the K*C bytes of one
 * kernel row of one output pixel as one run, in place (nn_q8_gemm_rows),
 * with no im2col, and its outputs store as whole rows of channels.
 * Weights are int8 [Kp/4][Np][4] (nn_q8_gemm's layout), Np the outputs
 * rounded up to NN_Q8_LANES, zeros in the padding.  A dense layer's Kp
 * inputs are its input flattened channels first (c*h*w order, as the
 * float model's; it gathers them from the channels-last bytes) rounded up
 * to 4.  A convolution's ("layout": "hwc") are by kernel row ky, each row
 * its K*C inputs in (kx, c) order rounded up to 4 (so the row's groups of
 * four never straddle two rows): Kp = K * ROUND4(K*C).  The weights past
 * K*C in a row are 0, so the bytes the kernel reads there (the next
 * pixel's) add nothing.
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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "nn.h"
#include "nn_kernels.h"
#include "nn_ops.h"
#include "nn_q8.h"

#define Q8_MAX      127
#define Q8_BLOCK    64 /* output positions of a convolution per kernel call */
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
static int q8_check(const struct nn_node *n, int kp, int row, int used, bool requant,
                    const float *params, struct dg_error *err)
{
	struct q8_params q = q8_view(n, params);
	const size_t np = (size_t)npad(n->units);

	for (size_t i = 0; i < np * kp; i++) {
		/* Input k of output o; the inputs are rows of `row`, `used` of
		 * them real (the rest, and outputs past units, padding). */
		const size_t o = i / 4 % np, k = i / 4 / np * 4 + i % 4;

		if (q.weight[i] < -Q8_MAX)
			return dg_fail(err, DG_ERR_FORMAT,
			               "tensor %s.weight holds %d at index %zu, int8 weights are "
			               "-127..127",
			               n->name, q.weight[i], i);
		if (q.weight[i] && (o >= (size_t)n->units || (int)(k % row) >= used))
			return dg_fail(err, DG_ERR_FORMAT,
			               "tensor %s.weight holds %d at index %zu, a padding "
			               "position, which must hold 0",
			               n->name, q.weight[i], i);
	}
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

/* A requantising layer's optional "scale": the value of one level of its
 * output bytes (0: not recorded; files before it lack it).  The engine
 * does not need it to run; nn_activation_floats does, to read the bytes
 * as the float model's activations. */
static int parse_level(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	return nn_json_float(o, n->name, "scale", 0.0, 1e-12, 1e6, &n->scale, err);
}

static void level_to_json(const struct nn_node *n, struct json_object *o)
{
	if (n->scale > 0)
		json_object_object_add(o, "scale", json_object_new_double(n->scale));
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

/* From the input's NCHW floats to channels-last bytes. */
/* lrintf(v) + zero, clamped to a level: v first bounded (so the result
 * is the same) to where the SSE conversion, which rounds as lrintf does
 * (to nearest even, the default mode), needs no call. */
static inline uint8_t quantize_one(float v, int zero)
{
	v = v < -1024.0f ? -1024.0f : v > 1024.0f ? 1024.0f : v;
#ifdef __SSE2__
	return clamp_q8((int64_t)_mm_cvtss_si32(_mm_set_ss(v)) + zero);
#else
	return clamp_q8((int64_t)lrintf(v) + zero);
#endif
}

/* Images [b0, b1), from the input's NCHW floats to channels-last bytes. */
static void quantize_images(const struct nn_op_args *a, int b0, int b1)
{
	const struct nn_node *n = a->node;
	const size_t size = nn_node_size(n), HW = (size_t)n->h * n->w;
	const int C = n->c, zero = n->zero;
	const float scale = n->scale;

	for (int b = b0; b < b1; b++) {
		const float *x = a->x[0] + b * size;
		uint8_t *y = (uint8_t *)a->y + b * size;

		for (int c = 0; c < C; c++)
			for (size_t p = 0; p < HW; p++)
				y[p * C + c] = quantize_one(x[c * HW + p] / scale, zero);
	}
}

static void quantize_forward(const struct nn_op_args *a)
{
	const int chunk = 16;

	if (a->threads < 2 || a->n <= chunk) {
		quantize_images(a, 0, a->n);
		return;
	}
#pragma omp parallel for num_threads(a->threads) schedule(static)
	for (int b = 0; b < a->n; b += chunk)
		quantize_images(a, b, b + chunk < a->n ? b + chunk : a->n);
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

/* Bytes of one kernel row of weights (K*C inputs, rounded up to 4). */
static int conv_row(const struct nn_graph *g, const struct nn_node *n)
{
	return kpad((size_t)nn_input(g, n, 0)->c * n->kernel);
}

static int conv_kp(const struct nn_graph *g, const struct nn_node *n)
{
	return n->kernel * conv_row(g, n);
}

size_t nn_q8_weight_at(const struct nn_graph *g, const struct nn_node *n, int k, int o)
{
	const int np = npad(n->units);

	if (n->op == NN_CONV2D_Q8) {
		/* From the float model's order, k = (c*K + ky)*K + kx. */
		const int C = nn_input(g, n, 0)->c, K = n->kernel;
		const int c = k / (K * K), ky = k / K % K, kx = k % K;

		k = ky * conv_row(g, n) + kx * C + c;
	}
	return ((size_t)(k / 4) * np + o) * 4 + k % 4;
}

static int conv2d_q8_parse(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	struct json_object *v;

	if (nn_expect_inputs(n, 1, err) ||
	    nn_json_int(o, n->name, "filters", 0, 1, NN_MAX_DIM, &n->units, err) ||
	    nn_json_int(o, n->name, "kernel", 0, 1, NN_MAX_KERNEL, &n->kernel, err) ||
	    nn_json_int(o, n->name, "stride", 1, 1, NN_MAX_KERNEL, &n->stride, err) ||
	    nn_json_int(o, n->name, "pad", 0, 0, NN_MAX_KERNEL, &n->pad, err) ||
	    parse_zero(n, o, err) || parse_level(n, o, err))
		return -1;
	/* The first int8 files (until 2026-12-03) held the weights in
	 * im2col order: not worth a second, slow path; made again they load. */
	if (!json_object_object_get_ex(o, "layout", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "hwc") != 0)
		return dg_fail(err, DG_ERR_FORMAT,
		               "node \"%s\": int8 convolution weights must be in \"layout\": "
		               "\"hwc\" (a model quantised before that layout: quantise it again "
		               "with digits-train --quantize)",
		               n->name);
	return 0;
}

static int conv2d_q8_shape(const struct nn_graph *g, struct nn_node *n, struct dg_error *err)
{
	const struct nn_node *in = nn_input(g, n, 0);
	const size_t kp = (size_t)n->kernel * kpad((size_t)in->c * n->kernel);

	if (in->h + 2 * n->pad < n->kernel || in->w + 2 * n->pad < n->kernel)
		return dg_fail(err, DG_ERR_FORMAT,
		               "node \"%s\": kernel %d larger than padded input %dx%d", n->name,
		               n->kernel, in->h + 2 * n->pad, in->w + 2 * n->pad);
	if (kp > NN_Q8_MAX_K)
		return dg_fail(err, DG_ERR_FORMAT,
		               "node \"%s\": %zu inputs per output, int8 sums "
		               "take at most %d",
		               n->name, kp, NN_Q8_MAX_K);
	n->c = n->units;
	n->h = (in->h + 2 * n->pad - n->kernel) / n->stride + 1;
	n->w = (in->w + 2 * n->pad - n->kernel) / n->stride + 1;
	n->n_weight = (size_t)npad(n->units) * kp / 4;
	n->n_bias = 4 * (size_t)n->units;
	n->n_macs = (size_t)in->c * n->kernel * n->kernel * n->units * n->h * n->w;
	return 0;
}

static int conv2d_q8_tensors(const struct nn_graph *g, const struct nn_node *n, struct nn_tensor *t)
{
	return q8_tensors(n, conv_kp(g, n), true, t);
}

static int conv2d_q8_check(const struct nn_graph *g, const struct nn_node *n, const float *params,
                           struct dg_error *err)
{
	return q8_check(n, conv_kp(g, n), conv_row(g, n), nn_input(g, n, 0)->c * n->kernel, true,
	                params, err);
}

/* Whether the kernel may read the input where it lies: no padding to
 * add, and no row of weights that reads past its K*C bytes. */
static bool conv_in_place(const struct nn_graph *g, const struct nn_node *n)
{
	return n->pad == 0 && conv_row(g, n) == nn_input(g, n, 0)->c * n->kernel;
}

/* One image with its border of zero levels, channels last, and 4 bytes
 * after it that the last pixel's last row may read (times weight 0). */
static size_t padded_bytes(const struct nn_graph *g, const struct nn_node *n)
{
	const struct nn_node *in = nn_input(g, n, 0);

	if (conv_in_place(g, n))
		return 0;
	return ((size_t)(in->h + 2 * n->pad) * (in->w + 2 * n->pad) * in->c + 4 + 63) / 64 * 64;
}

/* Per thread: a block's row pointers and its int32 sums. */
static size_t conv_thread_bytes(const struct nn_node *n)
{
	size_t bytes = sizeof(uint8_t *) * Q8_BLOCK + sizeof(int32_t) * Q8_BLOCK * npad(n->units);

	return (bytes + 63) / 64 * 64;
}

static size_t conv2d_q8_scratch(const struct nn_graph *g, const struct nn_node *n, int B,
                                int threads, bool training)
{
	(void)training;
	/* A padded image a thread (conv2d_q8_forward), then the per-thread
	 * areas from a cache line (+ 64). */
	(void)B;
	return ((size_t)threads * (padded_bytes(g, n) + conv_thread_bytes(n)) + 64) / sizeof(float);
}

static void pad_image(uint8_t *dst, const uint8_t *img, int C, int H, int W, int pad, uint8_t zero,
                      size_t bytes)
{
	const size_t row = (size_t)(W + 2 * pad) * C, side = (size_t)pad * C;

	memset(dst, zero, row * pad + side);
	for (int y = 0; y < H; y++) {
		uint8_t *d = dst + row * (pad + y) + side;

		memcpy(d, img + (size_t)y * W * C, (size_t)W * C);
		memset(d + (size_t)W * C, zero, y + 1 < H ? 2 * side : side + row * pad);
	}
	memset(dst + row * (H + 2 * pad), 0, bytes - row * (H + 2 * pad));
}

/* One conv2d_q8 forward, as its work items see it. */
struct conv_run {
	const struct nn_node *n, *in;
	struct q8_params q;
	int row, wp, blocks, toff[NN_MAX_KERNEL];
	size_t pbytes;
	const uint8_t *x;
	uint8_t *y, *padded; /* pbytes a slot, one slot a thread */
	char *threads_area;  /* conv_thread_bytes each */
};

/* Output positions [p0, p0 + Q8_BLOCK) of image b (item it), padded in
 * slot, on the thread whose area is number tid. */
static void conv_item(const struct conv_run *r, int it, int tid, int slot)
{
	const struct nn_node *n = r->n;
	const int C = r->in->c, S = n->stride, OW = n->w, P = n->h * n->w, NP = npad(n->units);
	char *mine = r->threads_area + (size_t)tid * conv_thread_bytes(n);
	const uint8_t **rows = (const uint8_t **)(void *)mine;
	int32_t *sums = (int32_t *)(void *)(mine + sizeof(uint8_t *) * Q8_BLOCK);
	const int b = it / r->blocks, p0 = it % r->blocks * Q8_BLOCK;
	const int np = P - p0 < Q8_BLOCK ? P - p0 : Q8_BLOCK;
	const uint8_t *img =
	    r->pbytes ? r->padded + slot * r->pbytes : r->x + b * nn_node_size(r->in);

	for (int i = 0, oy = p0 / OW, ox = p0 % OW; i < np; i++) {
		rows[i] = img + ((size_t)oy * S * r->wp + (size_t)ox * S) * C;
		if (++ox == OW)
			ox = 0, oy++;
	}
	const struct nn_q8_out out = {r->q.bias, r->q.multiplier, r->q.shift, n->units};

	nn_q8_gemm_rows_requantise(np, NP, n->kernel, r->toff, r->row / 4, rows, r->q.weight, &out,
	                           r->y + b * nn_node_size(n) + (size_t)p0 * n->units, n->units,
	                           sums);
}

static void conv_pad(const struct conv_run *r, int b, int slot)
{
	if (r->pbytes)
		pad_image(r->padded + slot * r->pbytes, r->x + b * nn_node_size(r->in), r->in->c,
		          r->in->h, r->in->w, r->n->pad, (uint8_t)r->n->zero, r->pbytes);
}

static void conv2d_q8_forward(const struct nn_op_args *a)
{
	const struct nn_node *n = a->node, *in = nn_input(a->g, n, 0);
	const int blocks = (n->h * n->w + Q8_BLOCK - 1) / Q8_BLOCK;
	struct conv_run r = {.n = n,
	                     .in = in,
	                     .q = q8_view(n, a->params),
	                     .row = conv_row(a->g, n),
	                     .blocks = blocks,
	                     .pbytes = padded_bytes(a->g, n),
	                     .x = (const uint8_t *)a->x[0],
	                     .y = (uint8_t *)a->y,
	                     .padded = (uint8_t *)a->scratch};

	r.wp = r.pbytes ? in->w + 2 * n->pad : in->w;
	r.threads_area =
	    (char *)(((uintptr_t)(r.padded + (size_t)a->threads * r.pbytes) + 63) & ~(uintptr_t)63);
	for (int ky = 0; ky < n->kernel; ky++)
		r.toff[ky] = ky * r.wp * in->c;
	/* One thread, or fewer images than threads: no parallel region.  Its
	 * set-up costs as much as a small layer, and one image's layer split
	 * in two was measured slower than whole on one thread (conv1 of cnn:
	 * 10 us on two, 5 on one).  Each image padded just before its blocks,
	 * while that stays in cache. */
	if (a->threads < 2 || a->n < a->threads) {
		for (int b = 0; b < a->n; b++) {
			conv_pad(&r, b, 0);
			for (int it = b * blocks; it < (b + 1) * blocks; it++)
				conv_item(&r, it, 0, 0);
		}
		return;
	}
	/* An image a work item: every output is an exact integer, so any
	 * split gives the same bytes. */
#pragma omp parallel for num_threads(a->threads) schedule(static)
	for (int b = 0; b < a->n; b++) {
		const int tid = thread_id();

		conv_pad(&r, b, tid);
		for (int it = b * blocks; it < (b + 1) * blocks; it++)
			conv_item(&r, it, tid, tid);
	}
}

static void conv2d_q8_to_json(const struct nn_node *n, struct json_object *o)
{
	json_object_object_add(o, "filters", json_object_new_int(n->units));
	json_object_object_add(o, "kernel", json_object_new_int(n->kernel));
	json_object_object_add(o, "stride", json_object_new_int(n->stride));
	json_object_object_add(o, "pad", json_object_new_int(n->pad));
	json_object_object_add(o, "zero", json_object_new_int(n->zero));
	json_object_object_add(o, "layout", json_object_new_string("hwc"));
	level_to_json(n, o);
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
	    parse_zero(n, o, err) || parse_level(n, o, err))
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
	const int in = dense_in(g, n);

	return q8_check(n, kpad((size_t)in), kpad((size_t)in), in, n->out_u8, params, err);
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

#define DENSE_ROWS 12 /* images per work item: whole tiles of the kernel */

/* Images [r0, r0 + nr): the kernel wants whole Kp rows in the weights'
 * (channels first) order, so an input that is not that already is
 * gathered into the scratch rows; the bytes past the inputs are 0, as are
 * the weights there. */
static void dense_block(const struct nn_op_args *a, int r0, int nr)
{
	const struct nn_node *n = a->node, *src = nn_input(a->g, n, 0);
	const struct q8_params q = q8_view(n, a->params);
	const int in = dense_in(a->g, n), kp = kpad((size_t)in), N = n->units, NP = npad(N);
	const int C = src->c, HW = src->h * src->w;
	const uint8_t *x = (const uint8_t *)a->x[0] + (size_t)r0 * in;
	uint8_t *rows = (uint8_t *)a->scratch + (size_t)r0 * kp;
	int32_t *sums =
	    (int32_t *)(void *)((uint8_t *)a->scratch + (size_t)a->n * kp) + (size_t)r0 * NP;

	if (kp != in || (C > 1 && HW > 1)) {
		for (int b = 0; b < nr; b++) {
			uint8_t *r = rows + (size_t)b * kp;
			const uint8_t *img = x + (size_t)b * in;

			if (C > 1 && HW > 1) {
				for (int p = 0; p < HW; p++)
					for (int c = 0; c < C; c++)
						r[c * HW + p] = img[p * C + c];
			} else {
				memcpy(r, img, (size_t)in);
			}
			memset(r + in, 0, (size_t)(kp - in));
		}
		x = rows;
	}
	nn_q8_gemm(nr, NP, kp, x, q.weight, sums, NP);
	if (n->out_u8) {
		nn_q8_requantise(nr, N, sums, NP, q.bias, q.multiplier, q.shift,
		                 (uint8_t *)a->y + (size_t)r0 * N, N);
		return;
	}
	for (int i = 0; i < nr; i++)
		for (int j = 0; j < N; j++)
			a->y[(size_t)(r0 + i) * N + j] =
			    (float)(sums[(size_t)i * NP + j] + q.bias[j]) * q.scale[j];
}

static void dense_q8_forward(const struct nn_op_args *a)
{
	const int rb = (a->n + DENSE_ROWS - 1) / DENSE_ROWS;

	/* A single image's dense layers are a few microseconds, not worth a
	 * parallel region. */
	if (rb < 2 || a->threads < 2) {
		dense_block(a, 0, a->n);
		return;
	}
#pragma omp parallel for num_threads(a->threads) schedule(static)
	for (int it = 0; it < rb; it++) {
		const int r0 = it * DENSE_ROWS;

		dense_block(a, r0, a->n - r0 < DENSE_ROWS ? a->n - r0 : DENSE_ROWS);
	}
}

static void dense_q8_to_json(const struct nn_node *n, struct json_object *o)
{
	json_object_object_add(o, "units", json_object_new_int(n->units));
	json_object_object_add(o, "zero", json_object_new_int(n->zero));
	json_object_object_add(o, "relu", json_object_new_boolean(n->out_u8));
	level_to_json(n, o);
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

#ifdef __SSE2__
static inline __m128i load16(const uint8_t *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}
#endif

/* dst = max(dst, src), n bytes: 16 at a time where SSE2 is (every
 * x86-64). */
static void max_bytes(uint8_t *dst, const uint8_t *src, int n)
{
	int i = 0;

#ifdef __SSE2__
	for (; i + 16 <= n; i += 16) {
		__m128i d = _mm_loadu_si128((const __m128i *)(const void *)(dst + i));
		__m128i s = _mm_loadu_si128((const __m128i *)(const void *)(src + i));

		_mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_max_epu8(d, s));
	}
#endif
	for (; i < n; i++)
		dst[i] = src[i] > dst[i] ? src[i] : dst[i];
}

/* Channels last: each output pixel is the byte-wise max of the window's
 * pixels, whole channel runs at a time. */
/* Output rows [r0, r1) of all images (row r: image r / h, y r % h). */
static void maxpool_rows(const struct nn_op_args *a, int r0, int r1)
{
	const struct nn_node *n = a->node, *in = nn_input(a->g, n, 0);
	const int K = n->kernel, S = n->stride, C = n->c;
	const uint8_t *x = (const uint8_t *)a->x[0];

	for (int r = r0; r < r1; r++) {
		const int b = r / n->h, oy = r % n->h;
		const uint8_t *src = x + (size_t)b * nn_node_size(in);
		uint8_t *dst = (uint8_t *)a->y + (size_t)r * n->w * C;

		for (int ox = 0; ox < n->w; ox++, dst += C) {
			const uint8_t *win = src + ((size_t)oy * S * in->w + (size_t)ox * S) * C;

#ifdef __SSE2__
			if (K == 2 && C % 16 == 0) { /* the usual window, inline */
				const uint8_t *w1 = win + (size_t)in->w * C;

				for (int c = 0; c < C; c += 16)
					_mm_storeu_si128(
					    (__m128i *)(void *)(dst + c),
					    _mm_max_epu8(
					        _mm_max_epu8(load16(win + c), load16(win + C + c)),
					        _mm_max_epu8(load16(w1 + c), load16(w1 + C + c))));
				continue;
			}
#endif
			memcpy(dst, win, (size_t)C);
			for (int ky = 0; ky < K; ky++)
				for (int kx = ky ? 0 : 1; kx < K; kx++)
					max_bytes(dst, win + ((size_t)ky * in->w + kx) * C, C);
		}
	}
}

/* Channels last: each output pixel is the byte-wise max of the window's
 * pixels, whole channel runs at a time. */
static void maxpool_q8_forward(const struct nn_op_args *a)
{
	const int rows = a->n * a->node->h, chunk = 16;

	if (a->threads < 2 || rows <= chunk) {
		maxpool_rows(a, 0, rows);
		return;
	}
#pragma omp parallel for num_threads(a->threads) schedule(static)
	for (int r = 0; r < rows; r += chunk)
		maxpool_rows(a, r, r + chunk < rows ? r + chunk : rows);
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

/* Channels last: each pixel's runs of channels one after another. */
static void concat_q8_forward(const struct nn_op_args *a)
{
	const struct nn_node *n = a->node;
	const size_t pixels = (size_t)a->n * n->h * n->w;
	uint8_t *y = (uint8_t *)a->y;
	int at = 0;

	for (int k = 0; k < n->n_inputs; k++) {
		const int c = nn_input(a->g, n, k)->c;
		const uint8_t *x = (const uint8_t *)a->x[k];

		for (size_t p = 0; p < pixels; p++)
			memcpy(y + p * n->c + at, x + p * c, (size_t)c);
		at += c;
	}
}

const struct nn_op_def nn_op_concat_q8 = {
    .name = "concat_q8",
    .parse = nn_concat_parse,
    .shape = nn_concat_shape,
    .forward = concat_q8_forward,
};

/* ---- reading activations as floats -------------------------------------- */

/* The value of one level of node i's bytes and their zero level: a
 * quantize node's own, a requantising layer's recorded "scale", a max-pool
 * or concat carries its (first) input's; 0 when unknown. */
static float node_level(const struct nn_graph *g, int i, int *zero)
{
	const struct nn_node *n = &g->nodes[i];

	*zero = 0;
	switch (n->op) {
	case NN_QUANTIZE:
		*zero = n->zero;
		return n->scale;
	case NN_CONV2D_Q8:
		return n->scale;
	case NN_DENSE_Q8:
		return n->out_u8 ? n->scale : 0;
	case NN_MAXPOOL_Q8:
	case NN_CONCAT_Q8:
		return node_level(g, n->inputs[0], zero);
	default:
		return 0;
	}
}

static bool byte_node(const struct nn_node *n)
{
	return n->op == NN_QUANTIZE || n->op == NN_CONV2D_Q8 ||
	       (n->op == NN_DENSE_Q8 && n->out_u8) || n->op == NN_MAXPOOL_Q8 ||
	       n->op == NN_CONCAT_Q8;
}

bool nn_activation_readable(const struct nn_graph *g, int node)
{
	int zero;

	if (node < 0 || node >= g->n_nodes)
		return false;
	return !byte_node(&g->nodes[node]) || node_level(g, node, &zero) > 0;
}

int nn_activation_floats(const struct nn_graph *g, const struct nn_workspace *ws, int node, int k,
                         float *out)
{
	const struct nn_node *n;
	const float *act = nn_activation(ws, node);
	const size_t size = node >= 0 && node < g->n_nodes ? nn_node_size(&g->nodes[node]) : 0;
	const uint8_t *q;
	float level;
	int zero;

	if (!act || !nn_activation_readable(g, node))
		return -1;
	n = &g->nodes[node];
	if (!byte_node(n)) {
		memcpy(out, act + (size_t)k * size, size * sizeof(float));
		return 0;
	}
	/* Channels last in the bytes, channels first out. */
	level = node_level(g, node, &zero);
	q = (const uint8_t *)act + (size_t)k * size;
	for (int c = 0; c < n->c; c++)
		for (int p = 0; p < n->h * n->w; p++)
			out[(size_t)c * n->h * n->w + p] =
			    level * (float)(q[(size_t)p * n->c + c] - zero);
	return 0;
}
