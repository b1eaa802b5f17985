/*
 * nn_kernels.h - the numeric kernels under the layers: matrix multiply,
 * im2col / col2im, transpose, stride-1 convolution.  They know nothing of graphs or nodes, so a
 * faster kernel drops in without touching the layers.  All matrices are
 * row-major float32 with explicit leading dimensions; none of these
 * functions allocates or starts threads (callers parallelise around them).
 */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* C[M x N] = (accumulate ? C : 0) + A[M x K] * B[K x N].  Each element of C
 * is summed over k in order, so the result does not depend on how callers
 * split M or N between threads. */
void nn_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, bool accumulate);

/* dst[cols x rows] = transpose of src[rows x cols]. */
void nn_transpose(float *dst, const float *src, int rows, int cols);

/* Unfold one C x H x W image for a K x K convolution into col, a
 * (C*K*K) x (OH*OW) matrix: col[(c*K + ky)*K + kx][oy*OW + ox] =
 * img[c][oy*stride - pad + ky][ox*stride - pad + kx], zero outside.
 * Rows [c0*K*K, c1*K*K) only, so threads can share the work. */
void nn_im2col(float *col, const float *img, int C, int H, int W, int K, int stride, int pad,
               int OH, int OW, int c0, int c1);

/* The adjoint of nn_im2col: img += fold(col). */
void nn_col2im_add(float *img, const float *col, int C, int H, int W, int K, int stride, int pad,
                   int OH, int OW);

/* Stride-1 convolution of one image without im2col (see nn_kernels.c).
 * nn_conv_pad copies channels [c0, c1) of img into dst, a zero-padded
 * C x (H+2*pad) x (W+2*pad) buffer of nn_conv_padded_floats() floats (the
 * call that does the last channel also zeroes the slack at the end).
 * nn_conv_direct then computes output channels [oc0, oc1) of out
 * [OC][OH][OW] = bias + weight[OC][C][K][K] (*) img, then max(0, .) if relu.
 * Each output is summed over (c, ky, kx) in order from zero and the bias
 * added last, so splitting channels between calls changes no result. */
size_t nn_conv_padded_floats(int C, int H, int W, int K, int pad);
void nn_conv_pad(float *dst, const float *img, int C, int H, int W, int K, int pad, int c0, int c1);
void nn_conv_direct(float *out, const float *padded, const float *weight, const float *bias, int C,
                    int H, int W, int K, int pad, int oc0, int oc1, bool relu);

/* Name of the GEMM variant chosen for this CPU ("avx512", "avx2", "sse2"). */
const char *nn_kernels_isa(void);

/* int8 (nn_q8_kernels.c).  C[i*ldc + j] = sum over k < Kp of A[i*Kp + k] *
 * B[((k/4)*N + j)*4 + k%4] for i < M, j < N: A bytes 0..127, B int8
 * -127..127 in groups of four inputs, Kp a multiple of 4 (at most
 * NN_Q8_MAX_K), N a multiple of NN_Q8_LANES.  Exact int32 sums, so every
 * variant gives the same bits. */
#define NN_Q8_LANES 16
#define NN_Q8_MAX_K 65536 /* 127 * 127 * 65536 + a bias of 2^30 < 2^31 */
void nn_q8_gemm(int M, int N, int Kp, const uint8_t *A, const int8_t *B, int32_t *C, int ldc);
/* The same product with rows where they lie: C[i*ldc + j] = sum over
 * t < taps, g < gpt, b < 4 of rows[i][toff[t] + 4*g + b] *
 * B[((t*gpt + g)*N + j)*4 + b] (a convolution reads a channels-last input
 * in place, one tap per kernel row). */
void nn_q8_gemm_rows(int M, int N, int taps, const int *toff, int gpt, const uint8_t *const *rows,
                     const int8_t *B, int32_t *C, int ldc);
/* A requantising layer's outputs: units of them (the first of N). */
struct nn_q8_out {
	const int32_t *bias, *multiplier, *shift;
	int units;
};
/* nn_q8_gemm_rows, then nn_q8_requantise of outputs j < q->units into
 * out: in the product's registers where the variant can (AVX-512), else
 * through sums (M x N int32, scratch). */
void nn_q8_gemm_rows_requantise(int M, int N, int taps, const int *toff, int gpt,
                                const uint8_t *const *rows, const int8_t *B,
                                const struct nn_q8_out *q, uint8_t *out, int ldo, int32_t *sums);
/* out[i*ldo + j] = clamp((C[i*ldc + j] + bias[j]) * multiplier[j] +
 * 2^(shift[j]-1) >> shift[j], 0, 127) in 64-bit integers, i < M, j < N. */
void nn_q8_requantise(int M, int N, const int32_t *C, int ldc, const int32_t *bias,
                      const int32_t *multiplier, const int32_t *shift, uint8_t *out, int ldo);
/* The variant chosen at start-up: "avx512-vnni", "avx-vnni", "avx2" or
 * "portable". */
const char *nn_q8_kernel(void);
/* For tests and benchmarks: use the variant called name from now on; -1
 * if there is none or this CPU cannot run it. */
int nn_q8_kernel_use(const char *name);
/* Every variant built in, best first, NULL-terminated. */
extern const char *const nn_q8_kernel_names[];

#endif
