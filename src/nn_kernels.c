/*
 * nn_kernels.c - matrix multiply, im2col / col2im, transpose.
 *
 * The GEMM is a register-blocked micro-kernel written with GCC vector
 * extensions (16 floats a vector) and compiled three times with
 * target_clones: AVX-512, AVX2+FMA and baseline x86-64.  The loader picks
 * the best one for the CPU at start-up (ifunc), so one binary runs on any
 * x86-64 and uses the wide units where they exist.  Off x86 the plain
 * version is built and GCC lowers the vectors to whatever the target has.
 */
#include "nn_kernels.h"

#include <string.h>

typedef float v16 __attribute__((vector_size(64), aligned(4)));

#define MR 8  /* rows of C per micro-kernel: 8 accumulators in registers */
#define NR 16 /* columns of C per micro-kernel: one vector */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KERNEL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KERNEL_CLONES
#endif

/* Macros, not functions: a 64-byte vector argument or return value would
 * change the calling convention between the clones. */
#define load16(p)     (*(const v16 *)(p))
#define store16(p, v) (*(v16 *)(p) = (v))

/* An MR x NR block of C from MR rows of A and NR columns of B. */
static inline __attribute__((always_inline)) void block_full(int K, const float *A, int lda,
                                                             const float *B, int ldb, float *C,
                                                             int ldc, bool accumulate)
{
	v16 acc[MR] = {0};

	for (int k = 0; k < K; k++) {
		v16 b = load16(B + (size_t)k * ldb);
#pragma GCC unroll 8
		for (int i = 0; i < MR; i++)
			acc[i] += A[(size_t)i * lda + k] * b;
	}
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++) {
		float *c = C + (size_t)i * ldc;
		store16(c, accumulate ? load16(c) + acc[i] : acc[i]);
	}
}

/* Fewer than MR rows left: same arithmetic, one row at a time. */
static inline __attribute__((always_inline)) void block_rows(int mr, int K, const float *A, int lda,
                                                             const float *B, int ldb, float *C,
                                                             int ldc, bool accumulate)
{
	for (int i = 0; i < mr; i++) {
		const float *a = A + (size_t)i * lda;
		v16 acc = {0};

		for (int k = 0; k < K; k++)
			acc += a[k] * load16(B + (size_t)k * ldb);
		float *c = C + (size_t)i * ldc;
		store16(c, accumulate ? load16(c) + acc : acc);
	}
}

/* Fewer than NR columns left.  They go through the same vector arithmetic
 * from a zero-padded copy of B, KC rows at a time, so a tail costs what a
 * full block does rather than a scalar loop's dozen times more. */
#define KC 128

static inline __attribute__((always_inline)) void block_cols(int mr, int nr, int K, const float *A,
                                                             int lda, const float *B, int ldb,
                                                             float *C, int ldc, bool accumulate)
{
	float panel[KC * NR] __attribute__((aligned(64)));
	float out[MR * NR] __attribute__((aligned(64)));

	for (int k0 = 0; k0 < K; k0 += KC) {
		int kc = K - k0 < KC ? K - k0 : KC;
		bool acc = accumulate || k0 > 0;

		for (int k = 0; k < kc; k++)
			for (int j = 0; j < NR; j++)
				panel[k * NR + j] = j < nr ? B[(size_t)(k0 + k) * ldb + j] : 0.0f;
		for (int i = 0; i < mr; i++)
			for (int j = 0; j < nr; j++)
				out[i * NR + j] = acc ? C[(size_t)i * ldc + j] : 0.0f;
		if (mr == MR)
			block_full(kc, A + k0, lda, panel, NR, out, NR, true);
		else
			block_rows(mr, kc, A + k0, lda, panel, NR, out, NR, true);
		for (int i = 0; i < mr; i++)
			for (int j = 0; j < nr; j++)
				C[(size_t)i * ldc + j] = out[i * NR + j];
	}
}

/* Column panels outermost: one K x NR panel of B stays in L1/L2 while
 * every row block of A passes over it. */
KERNEL_CLONES
void nn_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, bool accumulate)
{
	int n_full = N - N % NR;

	for (int j = 0; j < n_full; j += NR) {
		for (int i = 0; i < M; i += MR) {
			const float *a = A + (size_t)i * lda;
			float *c = C + (size_t)i * ldc + j;

			if (M - i >= MR)
				block_full(K, a, lda, B + j, ldb, c, ldc, accumulate);
			else
				block_rows(M - i, K, a, lda, B + j, ldb, c, ldc, accumulate);
		}
	}
	if (n_full == N)
		return;
	for (int i = 0; i < M; i += MR)
		block_cols(M - i < MR ? M - i : MR, N - n_full, K, A + (size_t)i * lda, lda,
		           B + n_full, ldb, C + (size_t)i * ldc + n_full, ldc, accumulate);
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
