/*
 * nn_layers.h - one forward/backward pair per layer kind, side by side.
 *
 * Every function works on a batch of B images laid out NCHW (see nn.h) and
 * takes its shapes as arguments.  Backward functions ADD into din, dweight
 * and dbias (a node feeding two branches gets both gradients summed); the
 * caller zeroes them.  din may be NULL when the input needs no gradient.
 * Parallel loops use n_threads OpenMP threads; scratch is caller-owned,
 * sized by the matching *_scratch function, so no layer allocates.
 *
 * conv2d and maxpool are in nn_conv.c, dense in nn_dense.c, the rest in
 * nn_layers.c; each file also holds its ops' table entries (nn_ops.h).
 */
#ifndef NN_LAYERS_H
#define NN_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nn_conv_geom {
	int c, h, w; /* input */
	int oc, k, stride, pad;
	int oh, ow; /* output: (h + 2*pad - k) / stride + 1 */
};

/* out[B][oc][oh][ow] = bias + weight[oc][c][k][k] (*) in[B][c][h][w], then
 * max(0, .) when relu (a ReLU fused into the layer at inference).
 * Forward of one image splits output channels between threads; a batch
 * gives each thread whole images.  Either way each output is the same
 * sum in the same order, so the thread count never changes a result. */
size_t nn_conv2d_scratch(const struct nn_conv_geom *g, int B, int n_threads, bool backward);
void nn_conv2d_forward(float *out, const float *in, const float *weight, const float *bias, int B,
                       const struct nn_conv_geom *g, float *scratch, int n_threads, bool relu);
/* Weight gradients are formed per image, then summed over images in image
 * order, so training is bit-identical whatever the thread count. */
void nn_conv2d_backward(float *din, float *dweight, float *dbias, const float *dout,
                        const float *in, const float *weight, int B, const struct nn_conv_geom *g,
                        float *scratch, int n_threads);

struct nn_pool_geom {
	int c, h, w; /* input */
	int k, stride;
	int oh, ow; /* output: (h - k) / stride + 1 */
};

/* out[B][c][oh][ow] = max over the k x k window at (oy*stride, ox*stride).
 * Backward routes each gradient to the first maximum of its window. */
void nn_maxpool_forward(float *out, const float *in, int B, const struct nn_pool_geom *g,
                        int n_threads);
void nn_maxpool_backward(float *din, const float *dout, const float *in, int B,
                         const struct nn_pool_geom *g, int n_threads);

/* out[B][O] = bias[O] + in[B][I] * weight[I][O], then max(0, .) if relu. */
size_t nn_dense_scratch(int B, int I, int O);
void nn_dense_forward(float *out, const float *in, const float *weight, const float *bias, int B,
                      int I, int O, int n_threads, bool relu);
void nn_dense_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                       const float *weight, int B, int I, int O, float *scratch, int n_threads);

/* out = max(0, in) over n floats; backward uses the output (out > 0). */
void nn_relu_forward(float *out, const float *in, size_t n);
void nn_relu_backward(float *din, const float *dout, const float *out, size_t n);

/* Channel concat of n_in inputs, input i having chans[i] channels of hw. */
void nn_concat_forward(float *out, const float *const *in, const int *chans, int n_in, int B,
                       int hw);
void nn_concat_backward(float *const *din, const float *dout, const int *chans, int n_in, int B,
                        int hw);

/* Softmax over each of B rows of n; backward from d(loss)/d(out). */
void nn_softmax_forward(float *out, const float *in, int B, int n);
void nn_softmax_backward(float *din, const float *dout, const float *out, int B, int n);
/* Fused softmax + mean cross-entropy: din += (p - onehot(label)) / B.
 * Returns the mean loss.  Exact where the composed form divides by p. */
float nn_softmax_xent_backward(float *din, const float *probs, const uint8_t *labels, int B, int n);

/* Inverted dropout: mask[i] = 0 with probability rate, else 1/(1-rate),
 * drawn from (seed, i) alone; out = in * mask. */
void nn_dropout_forward(float *out, float *mask, const float *in, size_t n, float rate,
                        uint64_t seed);
void nn_dropout_backward(float *din, const float *dout, const float *mask, size_t n);

/* out = (in - mean) / std. */
void nn_input_forward(float *out, const float *in, size_t n, float mean, float std);

/* A 64-bit mix of two values (splitmix64 finaliser): seeded randomness that
 * does not depend on the order in which threads ask for it. */
uint64_t nn_hash64(uint64_t a, uint64_t b);

#endif
