/*
 * nn_kernels.c - matrix multiply, stride-1 convolution, im2col / col2im,
 * transpose.
 *
 * The GEMM and the convolution are register tiles written with GCC vector
 * extensions (16 floats a vector) and compiled three times with
 * target_clones: AVX-512, AVX2+FMA and baseline x86-64.  The loader picks
 * the best one for the CPU at start-up (ifunc), so one binary runs on any
 * x86-64 and uses the wide units where they exist.  Off x86 the plain
 * version is built and GCC lowers the vectors to whatever the target has.
 * The tiles are sized for AVX-512's 32 registers; the narrower clones
 * spill some accumulators but compute the same sums.
 *
 * Invariant the layers rely on: every output element is one chain of
 * multiply-adds over k in a fixed order, whatever tile, block or thread
 * computes it, so results never depend on how work is split.
 */
#include "nn_kernels.h"

#include <string.h>

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int v16i __attribute__((vector_size(64), aligned(4)));

#define MR     8  /* rows of C per tile: 8 broadcasts of A per step of k */
#define NR     16 /* columns of C per vector */
#define NV_MAX 4  /* vectors of C per tile row, at most */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KERNEL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KERNEL_CLONES
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Macros, not functions: a 64-byte vector argument or return value would
 * change the calling convention between the clones. */
#define load16(p)     (*(const v16 *)(p))
#define store16(p, v) (*(v16 *)(p) = (v))

/* One register tile: acc[i][v] = sum over k, in order, of A[i][k] times
 * the 16 floats of B at column 16*v.  mr and nv are constants at every call
 * site, so the loops unroll and acc lives in registers (mr*nv of them).
 * Whatever the tile shape, an element of C is the same chain of
 * multiply-adds, which is why no split of M or N changes a result. */
ALWAYS_INLINE void tile_gemm(const int mr, const int nv, int K, const float *A, int lda,
                             const float *B, int ldb, float *C, int ldc, bool accumulate)
{
	v16 acc[MR][NV_MAX];

#pragma GCC unroll 8
	for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			acc[i][v] = (v16){0};
	for (int k = 0; k < K; k++) {
		v16 b[NV_MAX];

#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			b[v] = load16(B + (size_t)k * ldb + NR * v);
#pragma GCC unroll 8
		for (int i = 0; i < mr; i++) {
			float a = A[(size_t)i * lda + k];
#pragma GCC unroll 4
			for (int v = 0; v < nv; v++)
				acc[i][v] += a * b[v];
		}
	}
#pragma GCC unroll 8
	for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++) {
			float *c = C + (size_t)i * ldc + NR * v;
			store16(c, accumulate ? load16(c) + acc[i][v] : acc[i][v]);
		}
}

/* tile_gemm for a run-time mr in 1..MR, each case compiled with constants. */
/* clang-format off */
#define TILE_GEMM_ANY(mr, nv, ...) \
	do { \
		switch (mr) { \
		case 1: tile_gemm(1, nv, __VA_ARGS__); break; \
		case 2: tile_gemm(2, nv, __VA_ARGS__); break; \
		case 3: tile_gemm(3, nv, __VA_ARGS__); break; \
		case 4: tile_gemm(4, nv, __VA_ARGS__); break; \
		case 5: tile_gemm(5, nv, __VA_ARGS__); break; \
		case 6: tile_gemm(6, nv, __VA_ARGS__); break; \
		case 7: tile_gemm(7, nv, __VA_ARGS__); break; \
		default: tile_gemm(MR, nv, __VA_ARGS__); break; \
		} \
	} while (0)
/* clang-format on */

/* Fewer than NR columns left.  They go through the same vector arithmetic
 * from a zero-padded copy of B, KC rows at a time (made once per chunk for
 * all rows of A), so a tail costs what a full vector does rather than a
 * scalar loop's dozen times more. */
#define KC 128

static inline __attribute__((always_inline)) void gemm_tail(int M, int nr, int K, const float *A,
                                                            int lda, const float *B, int ldb,
                                                            float *C, int ldc, bool accumulate)
{
	float panel[KC * NR] __attribute__((aligned(64)));
	float out[MR * NR] __attribute__((aligned(64)));

	for (int k0 = 0; k0 < K; k0 += KC) {
		int kc = K - k0 < KC ? K - k0 : KC;
		bool acc = accumulate || k0 > 0;

		for (int k = 0; k < kc; k++) {
			const float *b = B + (size_t)(k0 + k) * ldb;

			for (int j = 0; j < nr; j++)
				panel[k * NR + j] = b[j];
			for (int j = nr; j < NR; j++)
				panel[k * NR + j] = 0.0f;
		}
		for (int i0 = 0; i0 < M; i0 += MR) {
			int mr = M - i0 < MR ? M - i0 : MR;
			float *c = C + (size_t)i0 * ldc;

			for (int i = 0; i < mr; i++)
				for (int j = 0; j < nr; j++)
					out[i * NR + j] = acc ? c[(size_t)i * ldc + j] : 0.0f;
			TILE_GEMM_ANY(mr, 1, kc, A + (size_t)i0 * lda + k0, lda, panel, NR, out, NR,
			              true);
			for (int i = 0; i < mr; i++)
				for (int j = 0; j < nr; j++)
					c[(size_t)i * ldc + j] = out[i * NR + j];
		}
	}
}

/* Tiles of MR rows by one vector when A has MR rows or more: a K x NR panel
 * of B stays in L1 while every row block of A passes over it.  With fewer
 * rows (a dense layer on a few images) one row's accumulators would be a
 * single dependency chain, so tiles widen to 4 vectors (2 above 4 rows) to
 * keep enough independent multiply-adds in flight. */
KERNEL_CLONES
void nn_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, bool accumulate)
{
	const int n_full = N - N % NR;
	int j = 0;

	if (M < MR) {
		const int step = M <= 4 ? 4 * NR : 2 * NR;

		for (; j + step <= n_full; j += step)
			if (step == 4 * NR)
				TILE_GEMM_ANY(M, 4, K, A, lda, B + j, ldb, C + j, ldc, accumulate);
			else
				TILE_GEMM_ANY(M, 2, K, A, lda, B + j, ldb, C + j, ldc, accumulate);
	}
	for (; j < n_full; j += NR)
		for (int i = 0; i < M; i += MR) {
			const float *a = A + (size_t)i * lda;
			float *c = C + (size_t)i * ldc + j;

			if (M - i >= MR)
				tile_gemm(MR, 1, K, a, lda, B + j, ldb, c, ldc, accumulate);
			else
				TILE_GEMM_ANY(M - i, 1, K, a, lda, B + j, ldb, c, ldc, accumulate);
		}
	if (n_full < N)
		gemm_tail(M, N - n_full, K, A, lda, B + n_full, ldb, C + n_full, ldc, accumulate);
}

/* ---- stride-1 convolution without im2col ----------------------------- */

/* The input, zero-padded to Hp x Wp, makes every tap (c, ky, kx) of the
 * filter a plain shift: output (oy, ox) reads padded position
 * (oy + ky) * Wp + (ox + kx).  So over "padded positions" p = oy*Wp + ox
 * the convolution is a GEMM whose B rows are the padded image itself at
 * offset c*Hp*Wp + ky*Wp + kx: no K*K-fold copy (im2col) is written.  The
 * price is Wp - OW wasted columns per row, and the slack floats after the
 * image that the last vector reads past the end. */
#define CONV_NV 2 /* vectors of positions per tile: 8 x 32 outputs, 16 registers */

size_t nn_conv_padded_floats(int C, int H, int W, int K, int pad)
{
	return (size_t)C * (H + 2 * pad) * (W + 2 * pad) + K + CONV_NV * NR;
}

void nn_conv_pad(float *dst, const float *img, int C, int H, int W, int K, int pad, int c0, int c1)
{
	const int Hp = H + 2 * pad, Wp = W + 2 * pad;

	for (int c = c0; c < c1; c++) {
		float *d = dst + (size_t)c * Hp * Wp;
		const float *s = img + (size_t)c * H * W;

		memset(d, 0, sizeof(float) * pad * Wp);
		for (int y = 0; y < H; y++) {
			float *row = d + (size_t)(y + pad) * Wp;

			for (int x = 0; x < pad; x++)
				row[x] = row[pad + W + x] = 0.0f;
			memcpy(row + pad, s + (size_t)y * W, sizeof(float) * W);
		}
		memset(d + (size_t)(H + pad) * Wp, 0, sizeof(float) * pad * Wp);
	}
	if (c1 == C) /* the slack: finite values for the discarded columns */
		memset(dst + (size_t)C * Hp * Wp, 0, sizeof(float) * (K + CONV_NV * NR));
}

struct conv_shape {
	int C, K, Hp, Wp, OH, OW, n_pos;
	size_t patch;
};

/* One tap (c, ky, kx) of the filter for the tile: x is the padded image
 * shifted by the tap, w the tap's weight for the tile's first channel. */
ALWAYS_INLINE void conv_tap(const int mr, const int nv, v16 acc[MR][CONV_NV], const float *x,
                            const float *w, size_t patch)
{
	v16 b[CONV_NV];

#pragma GCC unroll 2
	for (int v = 0; v < nv; v++)
		b[v] = load16(x + NR * v);
#pragma GCC unroll 8
	for (int i = 0; i < mr; i++) {
		float a = w[(size_t)i * patch];
#pragma GCC unroll 2
		for (int v = 0; v < nv; v++)
			acc[i][v] += a * b[v];
	}
}

/* Output channels [o, o + mr) at padded positions [p0, p0 + 16*nv): the
 * tile, then bias, optional ReLU, and the store of the positions that are
 * real outputs.  kk is the kernel size when known at compile time (the
 * taps of a 3x3 or 5x5 filter then unroll), else 0. */
ALWAYS_INLINE void conv_tile(const int mr, const int nv, const int kk, const struct conv_shape *s,
                             float *out, const float *padded, const float *weight,
                             const float *bias, int o, int p0, bool relu)
{
	const size_t chan = (size_t)s->Hp * s->Wp, plane = (size_t)s->OH * s->OW;
	const int K = kk ? kk : s->K;
	const float *w = weight + (size_t)o * s->patch;
	v16 acc[MR][CONV_NV];

#pragma GCC unroll 8
	for (int i = 0; i < mr; i++)
#pragma GCC unroll 2
		for (int v = 0; v < nv; v++)
			acc[i][v] = (v16){0};
	for (int c = 0; c < s->C; c++) {
		const float *x = padded + c * chan + p0, *wc = w + (size_t)c * K * K;

		if (kk) {
#pragma GCC unroll 5
			for (int ky = 0; ky < kk; ky++)
#pragma GCC unroll 5
				for (int kx = 0; kx < kk; kx++)
					conv_tap(mr, nv, acc, x + ky * s->Wp + kx,
					         wc + ky * kk + kx, s->patch);
		} else {
			for (int ky = 0; ky < K; ky++)
				for (int kx = 0; kx < K; kx++)
					conv_tap(mr, nv, acc, x + ky * s->Wp + kx, wc + ky * K + kx,
					         s->patch);
		}
	}

	for (int v = 0; v < nv; v++) {
		const int p = p0 + NR * v, oy = p / s->Wp, ox = p - oy * s->Wp;
		/* Where each lane goes in the output plane, or -1.  When Wp is a
		 * multiple of 16, a vector is one padded row's stretch: lanes
		 * past OW spill into the next row's first outputs, which a later
		 * vector of this same channel overwrites, so one plain store
		 * does unless the spill would leave the plane. */
		const bool row_vector = s->Wp % NR == 0;
		const size_t at = (size_t)oy * s->OW + ox;
		int idx[NR];

		if (row_vector && ox >= s->OW)
			continue;
		if (!row_vector || at + NR > plane) {
			int y = oy, xx = ox;
			for (int j = 0; j < NR; j++) {
				idx[j] = p + j < s->n_pos && xx < s->OW ? y * s->OW + xx : -1;
				if (++xx == s->Wp)
					xx = 0, y++;
			}
		}
#pragma GCC unroll 8
		for (int i = 0; i < mr; i++) {
			v16 r = acc[i][v] + bias[o + i];
			float *dst = out + (size_t)(o + i) * plane;

			if (relu) /* max(r, 0), and NaN -> 0 like nn_relu_forward */
				r = (v16)((v16i)r & (r > 0.0f));
			if (row_vector && at + NR <= plane) {
				store16(dst + at, r);
			} else {
				float t[NR] __attribute__((aligned(64)));
				store16(t, r);
				for (int j = 0; j < NR; j++)
					if (idx[j] >= 0)
						dst[idx[j]] = t[j];
			}
		}
	}
}

/* clang-format off */
#define CONV_TILE_ANY(mr, nv, ...) \
	do { \
		switch (mr) { \
		case 1: conv_tile(1, nv, 0, __VA_ARGS__); break; \
		case 2: conv_tile(2, nv, 0, __VA_ARGS__); break; \
		case 3: conv_tile(3, nv, 0, __VA_ARGS__); break; \
		case 4: conv_tile(4, nv, 0, __VA_ARGS__); break; \
		case 5: conv_tile(5, nv, 0, __VA_ARGS__); break; \
		case 6: conv_tile(6, nv, 0, __VA_ARGS__); break; \
		case 7: conv_tile(7, nv, 0, __VA_ARGS__); break; \
		default: conv_tile(MR, nv, 0, __VA_ARGS__); break; \
		} \
	} while (0)
/* clang-format on */

KERNEL_CLONES
void nn_conv_direct(float *out, const float *padded, const float *weight, const float *bias, int C,
                    int H, int W, int K, int pad, int oc0, int oc1, bool relu)
{
	struct conv_shape s = {.C = C, .K = K, .Hp = H + 2 * pad, .Wp = W + 2 * pad};

	s.OH = s.Hp - K + 1;
	s.OW = s.Wp - K + 1;
	s.n_pos = s.OH * s.Wp;
	s.patch = (size_t)C * K * K;
	for (int o = oc0; o < oc1; o += MR) {
		const int mr = oc1 - o < MR ? oc1 - o : MR;

		for (int p = 0; p < s.n_pos; p += CONV_NV * NR) {
			const bool two = s.n_pos - p > NR;

			/* The full tile, with the kernel sizes of the zoo unrolled. */
			if (mr == MR && two && K == 3)
				conv_tile(MR, 2, 3, &s, out, padded, weight, bias, o, p, relu);
			else if (mr == MR && two && K == 5)
				conv_tile(MR, 2, 5, &s, out, padded, weight, bias, o, p, relu);
			else if (mr == MR && two)
				conv_tile(MR, 2, 0, &s, out, padded, weight, bias, o, p, relu);
			else if (two)
				CONV_TILE_ANY(mr, 2, &s, out, padded, weight, bias, o, p, relu);
			else
				CONV_TILE_ANY(mr, 1, &s, out, padded, weight, bias, o, p, relu);
		}
	}
}

const char *nn_kernels_isa(void)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
		return "avx512";
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return "avx2";
	return "sse2";
#else
	return "generic";
#endif
}

void nn_transpose(float *dst, const float *src, int rows, int cols)
{
	/* Tiles keep both sides in cache for the larger dense matrices. */
	enum { T = 32 };

	for (int r0 = 0; r0 < rows; r0 += T)
		for (int c0 = 0; c0 < cols; c0 += T) {
			int r1 = r0 + T < rows ? r0 + T : rows;
			int c1 = c0 + T < cols ? c0 + T : cols;

			for (int r = r0; r < r1; r++)
				for (int c = c0; c < c1; c++)
					dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
		}
}

/* The columns ox whose input x = ox*stride - pad + kx lies in [0, W). */
static void valid_range(int OW, int W, int stride, int pad, int kx, int *lo, int *hi)
{
	int a = pad - kx, b = W + pad - kx; /* need a <= ox*stride < b */

	*lo = a > 0 ? (a + stride - 1) / stride : 0;
	*hi = b > 0 ? (b + stride - 1) / stride : 0;
	if (*hi > OW)
		*hi = OW;
	if (*lo > *hi)
		*lo = *hi;
}

void nn_im2col(float *col, const float *img, int C, int H, int W, int K, int stride, int pad,
               int OH, int OW, int c0, int c1)
{
	for (int c = c0; c < c1; c++) {
		for (int ky = 0; ky < K; ky++) {
			for (int kx = 0; kx < K; kx++) {
				float *row = col + ((size_t)(c * K + ky) * K + kx) * OH * OW;
				int lo, hi;

				valid_range(OW, W, stride, pad, kx, &lo, &hi);
				for (int oy = 0; oy < OH; oy++) {
					int y = oy * stride - pad + ky;
					float *out = row + (size_t)oy * OW;

					if (y < 0 || y >= H) {
						memset(out, 0, sizeof(float) * OW);
						continue;
					}
					const float *in = img + ((size_t)c * H + y) * W - pad + kx;
					for (int ox = 0; ox < lo; ox++)
						out[ox] = 0.0f;
					if (stride == 1)
						memcpy(out + lo, in + lo,
						       sizeof(float) * (hi - lo));
					else
						for (int ox = lo; ox < hi; ox++)
							out[ox] = in[ox * stride];
					for (int ox = hi; ox < OW; ox++)
						out[ox] = 0.0f;
				}
			}
		}
	}
}

void nn_col2im_add(float *img, const float *col, int C, int H, int W, int K, int stride, int pad,
                   int OH, int OW)
{
	for (int c = 0; c < C; c++) {
		for (int ky = 0; ky < K; ky++) {
			for (int kx = 0; kx < K; kx++) {
				const float *row = col + ((size_t)(c * K + ky) * K + kx) * OH * OW;
				int lo, hi;

				valid_range(OW, W, stride, pad, kx, &lo, &hi);
				for (int oy = 0; oy < OH; oy++) {
					int y = oy * stride - pad + ky;

					if (y < 0 || y >= H)
						continue;
					float *out = img + ((size_t)c * H + y) * W - pad + kx;
					const float *in = row + (size_t)oy * OW;
#pragma omp simd
					for (int ox = lo; ox < hi; ox++)
						out[ox * stride] += in[ox];
				}
			}
		}
	}
}
