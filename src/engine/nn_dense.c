/*
 * nn_dense.c - the fully connected layer, forward and backward (see
 * nn_layers.h), and its op table entry (nn_ops.h).
 */
#include <json-c/json.h>
#include <string.h>

#include "nn_kernels.h"
#include "nn_layers.h"
#include "nn_ops.h"

/* Below this many multiply-adds the layer runs on one thread (waking the
 * others costs a microsecond or more).  At batch 1 the layer only streams
 * weights, so it gains from two cores sooner than a convolution does. */
#define DENSE_PARALLEL_MIN_MACS (1 << 17)

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
	const int row_blocks = (I + DENSE_BLOCK - 1) / DENSE_BLOCK;

	if (!dweight)
		goto inputs;
	for (int o = 0; o < O; o++) {
		float s = 0.0f;
		for (int b = 0; b < B; b++)
			s += dout[(size_t)b * O + o];
		dbias[o] += s;
	}

	/* dweight[I][O] += in^T[I][B] * dout[B][O], split over rows of I. */
	nn_transpose(in_t, in, B, I);
#pragma omp parallel for num_threads(n_threads) schedule(static)
	for (int blk = 0; blk < row_blocks; blk++) {
		int i0 = blk * DENSE_BLOCK, n = I - i0 < DENSE_BLOCK ? I - i0 : DENSE_BLOCK;

		nn_gemm(n, O, B, in_t + (size_t)i0 * B, B, dout, O, dweight + (size_t)i0 * O, O,
		        true);
	}
inputs:
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

/* ---- the op table entry ------------------------------------------------- */

static int dense_parse(struct nn_node *n, struct json_object *o, struct dg_error *err)
{
	if (nn_expect_inputs(n, 1, err) ||
	    nn_json_int(o, n->name, "units", 0, 1, NN_MAX_UNITS, &n->units, err))
		return -1;
	return 0;
}

/* The input is seen flattened: C*H*W floats per image, an int since
 * nn_graph.c keeps every node within NN_MAX_NODE_SIZE. */
static int dense_inputs(const struct nn_graph *g, const struct nn_node *n)
{
	return (int)nn_node_size(nn_input(g, n, 0));
}

static int dense_shape(const struct nn_graph *g, struct nn_node *n, struct dg_error *err)
{
	(void)err;
	n->c = n->units, n->h = 1, n->w = 1;
	n->n_weight = (size_t)dense_inputs(g, n) * n->units;
	n->n_bias = n->units;
	n->n_macs = n->n_weight;
	return 0;
}

/* weight [inputs][units] (a batch is one GEMM), bias [units]. */
static int dense_tensors(const struct nn_graph *g, const struct nn_node *n, struct nn_tensor *t)
{
	const int dims[2] = {dense_inputs(g, n), n->units};

	return nn_weight_bias(n, t, 2, dims, (size_t)dims[0]);
}

static size_t dense_scratch(const struct nn_graph *g, const struct nn_node *n, int B, int threads,
                            bool training)
{
	(void)threads;
	return training ? nn_dense_scratch(B, dense_inputs(g, n), n->units) : 0;
}

static void dense_forward(const struct nn_op_args *a)
{
	const struct nn_node *n = a->node;

	nn_dense_forward(a->y, a->x[0], a->params + n->weight, a->params + n->bias, a->n,
	                 dense_inputs(a->g, n), n->units, a->threads, a->relu);
}

static void dense_backward(const struct nn_op_args *a)
{
	const struct nn_node *n = a->node;

	nn_dense_backward(a->dx[0], a->grads ? a->grads + n->weight : NULL,
	                  a->grads ? a->grads + n->bias : NULL, a->dy, a->x[0],
	                  a->params + n->weight, a->n, dense_inputs(a->g, n), n->units, a->scratch,
	                  a->threads);
}

static void dense_to_json(const struct nn_node *n, struct json_object *o)
{
	json_object_object_add(o, "units", json_object_new_int(n->units));
}

const struct nn_op_def nn_op_dense = {
    .name = "dense",
    .flags = NN_OP_FUSES_RELU,
    .parse = dense_parse,
    .shape = dense_shape,
    .tensors = dense_tensors,
    .scratch = dense_scratch,
    .forward = dense_forward,
    .backward = dense_backward,
    .to_json = dense_to_json,
};
