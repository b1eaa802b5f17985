/*
 * nn_kernels.h - the numeric kernels under the layers: matrix multiply,
 * im2col / col2im, transpose.  They know nothing of graphs or nodes, so a
 * faster kernel drops in without touching the layers.  All matrices are
 * row-major float32 with explicit leading dimensions; none of these
 * functions allocates or starts threads (callers parallelise around them).
 */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

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

/* Name of the GEMM variant chosen for this CPU ("avx512", "avx2", "sse2"). */
const char *nn_kernels_isa(void);

#endif
