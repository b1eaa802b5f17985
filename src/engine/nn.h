/*
 * nn.h - the network engine: a network is a graph of layers held as data.
 *
 * A graph is a list of nodes in topological order; each node names its
 * inputs (earlier nodes), so the two branches of the "cnn" and their channel
 * concat are plain edges.  The same graph is parsed from a JSON description
 * (the built-in zoo, or a model file's header), trained by the trainer and
 * run by the server: there is no code per model.
 *
 * Layout.  Activations are NCHW float32: image b, channel c, row y, column x
 * at ((b*C + c)*H + y)*W + x.  A dense layer sees its input flattened (C*H*W).
 * All parameters live in one float buffer; a node's tensors are views at
 * node->weight and node->bias.  Conv weights are [OC][C][K][K], dense weights
 * are [in][out] (so a batch is one GEMM), biases are [OC] / [out].
 *
 * Threads.  Forward and backward use OpenMP over images (and over output
 * columns for dense layers; with fewer images than threads, an inference
 * forward also runs independent branches of the graph one per thread).
 * Every output and every gradient is the same sum in the same order
 * whatever the split (conv weight gradients are formed per image and
 * summed in image order), so forward results and training are
 * bit-identical for any thread count.
 *
 * Ops.  Each op is one entry of the op table (nn_ops.h) beside its layer
 * functions; nothing here or in the model file switches on the op.
 */
#ifndef NN_H
#define NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digits.h"

struct json_object;

enum nn_op {
	NN_INPUT,   /* the image: shape, and (x - mean) / std applied on entry */
	NN_CONV2D,  /* filters x kernel x kernel, stride, zero padding, bias */
	NN_MAXPOOL, /* kernel x kernel window, stride; floor on the output size */
	NN_DENSE,   /* fully connected, units outputs, bias */
	NN_RELU,
	NN_CONCAT,  /* channel concatenation of inputs with equal H and W */
	NN_DROPOUT, /* inverted dropout while training, identity otherwise */
	NN_SOFTMAX, /* over the flattened input; the graph's output */
	/* int8 inference (nn_q8.c): activations are bytes 0..127 in the
	 * float-typed workspace, weights int8, sums int32. */
	NN_QUANTIZE,  /* float to bytes: round(x / scale) + zero, clamped */
	NN_CONV2D_Q8, /* conv2d + relu, requantised with integers */
	NN_DENSE_Q8,  /* dense (+ relu, requantised), or to float logits */
	NN_MAXPOOL_Q8,
	NN_CONCAT_Q8, /* inputs share one scale */
	NN_N_OPS
};

#define NN_MAX_INPUTS 4
#define NN_NAME_MAX   32

struct nn_node {
	enum nn_op op;
	char name[NN_NAME_MAX];
	int n_inputs;
	int inputs[NN_MAX_INPUTS]; /* indices of earlier nodes */
	int c, h, w;               /* output shape of one image */
	int units;                 /* conv2d filters, dense outputs */
	int kernel, stride, pad;   /* conv2d, maxpool */
	float rate;                /* dropout probability */
	float mean, std;           /* input normalisation */
	float scale;               /* quantize, and conv2d_q8 / dense_q8 with relu: the value of
	                              one level of the output (0: not recorded) */
	int zero;                  /* quantize: its zero level; conv2d_q8, dense_q8: the input's */
	bool out_u8;               /* dense_q8: relu, requantised bytes; else float logits */
	size_t weight, bias;       /* offsets into the parameter buffer */
	size_t n_weight, n_bias;   /* float counts; 0 for parameter-free ops */
	size_t n_macs;             /* multiply-adds per image */
};

struct nn_graph {
	char name[NN_NAME_MAX];
	int n_nodes;
	struct nn_node *nodes;
	size_t n_params; /* floats in the parameter buffer */
	size_t n_macs;   /* multiply-adds per image in the forward pass */
	int n_classes;   /* size of the output (last node) */
};

/* Build a graph from its JSON description: {"name": "...", "nodes": [...]}.
 * Each node: {"name", "op", "in": "x" | ["a", "b"], and per op "shape"
 * [c,h,w] "mean" "std" (input), "filters" "kernel" "stride" "pad" (conv2d),
 * "kernel" "stride" (maxpool), "units" (dense), "rate" (dropout)}.
 * Shapes, parameter offsets and counts are derived and checked here. */
int nn_graph_from_json(struct nn_graph **out, struct json_object *desc, struct dg_error *err);
int nn_graph_parse(struct nn_graph **out, const char *json_text, struct dg_error *err);
/* The description back as JSON (new reference, caller puts it). */
struct json_object *nn_graph_to_json(const struct nn_graph *g);
void nn_graph_free(struct nn_graph *g);
/* Index of the node called name, or -1. */
int nn_graph_find(const struct nn_graph *g, const char *name);

/* A parameter tensor of a node: a view of count floats at offset in the
 * parameter buffer, named "<node>.<suffix>" in model files. */
#define NN_MAX_TENSORS 5
/* An int8 tensor packs four values in each float slot of the buffer, an
 * int32 one takes a slot per value; both are little-endian in the file. */
enum nn_dtype { NN_F32, NN_I8, NN_I32 };
struct nn_tensor {
	const char *suffix; /* "weight", "bias"; int8 ops: "scale", "multiplier", "shift" */
	enum nn_dtype dtype;
	size_t offset, count; /* offset in floats, count in values */
	int n_dims, dims[4];
	size_t fan_in; /* initialised He-normal over fan_in; 0: zeros */
};
/* Floats of the parameter buffer t takes. */
static inline size_t nn_tensor_slots(const struct nn_tensor *t)
{
	return t->dtype == NN_I8 ? (t->count + 3) / 4 : t->count;
}
/* Node i's tensors into t (NN_MAX_TENSORS of them); returns how many. */
int nn_node_tensors(const struct nn_graph *g, int i, struct nn_tensor *t);

/* After a model file's shapes and finite floats are checked: each op's
 * own rules for its parameters' values (int8 ops: weights in -127..127,
 * scales positive, multipliers and shifts in range), naming the tensor. */
int nn_graph_check_params(const struct nn_graph *g, const float *params, struct dg_error *err);
/* Whether the graph has int8 tensors ("int8"), else "float32". */
const char *nn_graph_precision(const struct nn_graph *g);

/* The built-in architectures: "cnn", "lenet5", "mlp" (NULL-terminated). */
extern const char *const nn_zoo_names[];
/* JSON description of a built-in architecture, or NULL if unknown. */
const char *nn_zoo_description(const char *name);
int nn_zoo_build(struct nn_graph **out, const char *name, struct dg_error *err);

/* He-normal weights, zero biases, from a seeded generator: the same seed
 * gives the same parameters on every machine. */
void nn_params_init(const struct nn_graph *g, float *params, uint64_t seed);

/* Activations (and, for training, their gradients and dropout masks) for up
 * to max_batch images.  Create once, reuse for every batch: forward and
 * backward allocate nothing. */
struct nn_workspace;
int nn_workspace_create(struct nn_workspace **out, const struct nn_graph *g, int max_batch,
                        bool training, struct dg_error *err);
void nn_workspace_free(struct nn_workspace *ws);
/* Dropout masks come from (seed, forward call count, node, element). */
void nn_workspace_seed(struct nn_workspace *ws, uint64_t seed);
/* For benchmarks: while seconds is not NULL, every nn_forward on ws adds
 * node i's wall time to seconds[i] (g->n_nodes doubles, caller-owned).
 * An inference workspace computes a relu that is the only consumer of a
 * conv2d or dense node inside that node (its time is 0 and its activation
 * is shared with the node); results are the same bits either way. */
void nn_workspace_profile(struct nn_workspace *ws, double *seconds);

/* Run n images (n <= max_batch; each c*h*w of the input node, pixel values
 * in [0,1]) through the graph.  Returns the n x n_classes probabilities,
 * owned by ws and valid until its next use, or NULL when n is not in
 * 1..max_batch (the only way it can fail: it allocates nothing, so this
 * hot path takes no struct dg_error).  A training workspace applies
 * dropout. */
const float *nn_forward(const struct nn_graph *g, const float *params, struct nn_workspace *ws,
                        const float *input, int n);

/* Activations of node i for the last forward (n x c*h*w), owned by ws. */
const float *nn_activation(const struct nn_workspace *ws, int node);
/* Image k's activations of node i for the last forward as c*h*w floats
 * into out, channels first: a float node's copied, an int8 node's bytes
 * read as scale * (q - zero) (nn_q8.c), so they stand for the float
 * model's activations.  -1 (out untouched) when the node's bytes have no
 * recorded scale (an int8 file quantised before they were recorded). */
int nn_activation_floats(const struct nn_graph *g, const struct nn_workspace *ws, int node, int k,
                         float *out);
/* Whether nn_activation_floats can read node i. */
bool nn_activation_readable(const struct nn_graph *g, int node);

/* After nn_forward on a training workspace: the mean cross-entropy of the
 * output against labels (each < n_classes) into *loss; adds
 * d(loss)/d(params) into grads (n_params floats; the caller zeroes it
 * between steps). */
int nn_backward(const struct nn_graph *g, const float *params, float *grads,
                struct nn_workspace *ws, const uint8_t *labels, int n, float *loss,
                struct dg_error *err);

/* Explanations.  An explanation workspace holds one image, its
 * activations and their gradients, and runs the network as it serves (no
 * dropout); create it once per model, like the inference one. */
int nn_workspace_create_explain(struct nn_workspace **out, const struct nn_graph *g,
                                struct dg_error *err);
/* Run one image forward, then the gradient of class cls's score (the
 * logit, before the softmax) with respect to node `node`'s activation
 * (node 0: the input pixels) into *grad: c*h*w floats owned by ws, valid
 * until its next use.  Parameters' gradients are not computed. */
int nn_class_gradient(const struct nn_graph *g, const float *params, struct nn_workspace *ws,
                      const float *input, int cls, int node, const float **grad,
                      struct dg_error *err);

/* How nn_explain explains a graph: Grad-CAM on the last convolution's
 * output when the graph has a convolution, else the input's gradient. */
enum nn_explain_method { NN_EXPLAIN_GRADCAM, NN_EXPLAIN_SALIENCY };
struct nn_explain_info {
	enum nn_explain_method method;
	int node;         /* the node whose activation is explained (0: the input) */
	int map_h, map_w; /* its map's size before upsampling */
};
void nn_explain_info(const struct nn_graph *g, struct nn_explain_info *info);
const char *nn_explain_method_name(enum nn_explain_method m);
/* The map of class cls for one image, upsampled to the input's h x w,
 * in 0..1 (all 0 when nothing speaks for the class); probs, if not NULL,
 * receives the n_classes probabilities of the same forward pass. */
int nn_explain(const struct nn_graph *g, const float *params, struct nn_workspace *ws,
               const float *input, int cls, float *map, float *probs, struct dg_error *err);

const char *nn_op_name(enum nn_op op);

#endif
