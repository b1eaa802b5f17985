/*
 * nn_layers.c - forward and backward of each layer kind (see nn_layers.h).
 *
 * The arithmetic lives in nn_kernels.c; this file is bookkeeping: which
 * matrices feed the kernels, and how the work is split between threads.
 */
#include "nn_layers.h"

#include <math.h>
#include <string.h>

#include "nn_kernels.h"

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
 * threads than on one.  A dense layer at batch 1 only streams weights, so
 * it gains from two cores sooner. */
#define CONV_PARALLEL_MIN_MACS  (1 << 20)
#define DENSE_PARALLEL_MIN_MACS (1 << 17)

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

		nn_im2col(col, in + b * in_size, g->c, g->h, g->w, g->k, g->stride, g->pad, g->oh,
		          g->ow, 0, g->c);
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
		if (din) {
			nn_gemm((int)patch, (int)plane, g->oc, weight_t, g->oc, d, (int)plane, dcol,
			        (int)plane, false);
			nn_col2im_add(din + b * in_size, dcol, g->c, g->h, g->w, g->k, g->stride,
			              g->pad, g->oh, g->ow);
		}
	}

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

static void maxpool_planes(float *out, const float *in, int bc0, int bc1, int H, int W, int k,
                           int stride, int OH, int OW)
{
	for (int bc = bc0; bc < bc1; bc++) {
		const float *p = in + (size_t)bc * H * W;
		float *o = out + (size_t)bc * OH * OW;

		if (k == 2 && stride == 2 && OW <= 1024) {
			maxpool2_plane(o, p, W, OH, OW);
			continue;
		}
		for (int oy = 0; oy < OH; oy++)
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

void nn_maxpool_forward(float *out, const float *in, int B, int C, int H, int W, int k, int stride,
                        int OH, int OW, int n_threads)
{
	/* A few thousand outputs take less time than waking a thread. */
	if (n_threads == 1 || (size_t)B * C * OH * OW < 8192) {
		maxpool_planes(out, in, 0, B * C, H, W, k, stride, OH, OW);
		return;
	}
#pragma omp parallel for num_threads(n_threads) schedule(static)
	for (int bc = 0; bc < B * C; bc++)
		maxpool_planes(out, in, bc, bc + 1, H, W, k, stride, OH, OW);
}

void nn_maxpool_backward(float *din, const float *dout, const float *in, int B, int C, int H, int W,
                         int k, int stride, int OH, int OW, int n_threads)
{
#pragma omp parallel for num_threads(n_threads) schedule(static)
	for (int bc = 0; bc < B * C; bc++) {
		const float *p = in + (size_t)bc * H * W;
		float *dp = din + (size_t)bc * H * W;
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

/* ---- dense ----------------------------------------------------------- */

/* Output columns are split between threads in blocks of DENSE_BLOCK, a
 * multiple of the GEMM's 16-column vector: whatever the split, the same
 * columns fall in the GEMM's tail, so every element takes the same path. */
#define DENSE_BLOCK 64

size_t nn_dense_scratch(int B, int I, int O)
{
	return (size_t)I * B + (size_t)O * I;
}

/* Output columns [j0, j1) of every image. */
static void dense_columns(float *out, const float *in, const float *weight, const float *bias,
                          int B, int I, int O, int j0, int j1, bool relu)
{
	for (int b = 0; b < B; b++)
		memcpy(out + (size_t)b * O + j0, bias + j0, sizeof(float) * (j1 - j0));
	nn_gemm(B, j1 - j0, I, in, I, weight + j0, O, out + j0, O, true);
	if (relu)
		for (int b = 0; b < B; b++)
			nn_relu_forward(out + (size_t)b * O + j0, out + (size_t)b * O + j0,
			                j1 - j0);
}

void nn_dense_forward(float *out, const float *in, const float *weight, const float *bias, int B,
                      int I, int O, int n_threads, bool relu)
{
	const int blocks = (O + DENSE_BLOCK - 1) / DENSE_BLOCK;

	if (n_threads == 1 || (size_t)B * I * O < DENSE_PARALLEL_MIN_MACS) {
		dense_columns(out, in, weight, bias, B, I, O, 0, O, relu);
		return;
	}
#pragma omp parallel for num_threads(n_threads) schedule(static)
	for (int blk = 0; blk < blocks; blk++) {
		int j0 = blk * DENSE_BLOCK, j1 = j0 + DENSE_BLOCK < O ? j0 + DENSE_BLOCK : O;

		dense_columns(out, in, weight, bias, B, I, O, j0, j1, relu);
	}
}

void nn_dense_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                       const float *weight, int B, int I, int O, float *scratch, int n_threads)
{
	float *in_t = scratch, *weight_t = scratch + (size_t)I * B;

	for (int o = 0; o < O; o++) {
		float s = 0.0f;
		for (int b = 0; b < B; b++)
			s += dout[(size_t)b * O + o];
		dbias[o] += s;
	}

	/* dweight[I][O] += in^T[I][B] * dout[B][O], split over rows of I. */
	nn_transpose(in_t, in, B, I);
	const int row_blocks = (I + DENSE_BLOCK - 1) / DENSE_BLOCK;
#pragma omp parallel for num_threads(n_threads) schedule(static)
	for (int blk = 0; blk < row_blocks; blk++) {
		int i0 = blk * DENSE_BLOCK, n = I - i0 < DENSE_BLOCK ? I - i0 : DENSE_BLOCK;

		nn_gemm(n, O, B, in_t + (size_t)i0 * B, B, dout, O, dweight + (size_t)i0 * O, O,
		        true);
	}
	if (!din)
		return;

	/* din[B][I] += dout[B][O] * weight^T[O][I], split over columns of I. */
	nn_transpose(weight_t, weight, I, O);
#pragma omp parallel for num_threads(n_threads) schedule(static)
	for (int blk = 0; blk < row_blocks; blk++) {
		int i0 = blk * DENSE_BLOCK, n = I - i0 < DENSE_BLOCK ? I - i0 : DENSE_BLOCK;

		nn_gemm(B, n, O, dout, O, weight_t + i0, I, din + i0, I, true);
	}
}

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
