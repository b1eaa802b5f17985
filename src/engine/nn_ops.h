/*
 * nn_ops.h - the op table: all the engine knows about one kind of node, in
 * one entry that sits beside the op's layer functions.
 *
 * The graph parser, the JSON writer, the workspace, forward, backward, the
 * model file's tensor table and the parameter initialiser never switch on
 * an op; they call its entry (nn_ops[node->op]).  The graph keeps a few
 * rules about particular nodes (the input comes first, the softmax last and
 * training ends in softmax + cross-entropy, a relu may be fused into the
 * node before it); those are rules about the graph, not per-op code.
 *
 * Adding an op: an enum value (nn.h), its layer functions and one
 * struct nn_op_def beside them, its extern below and its line in nn_ops[]
 * (nn_graph.c), tests (README: "How to add an op").
 */
#ifndef NN_OPS_H
#define NN_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn.h"

struct json_object;

#include <limits.h>

/* Bounds a description must keep (nn_graph.c and the ops' parse check
 * them), so that every size computed from them is far from overflow. */
#define NN_MAX_DIM       4096       /* any one dimension of the input's shape, filters */
#define NN_MAX_KERNEL    64         /* conv2d and maxpool kernel, stride and padding */
#define NN_MAX_UNITS     (1 << 16)  /* dense outputs */
#define NN_MAX_NODE_SIZE (1 << 24)  /* floats in one image of any node's output */
#define NN_MAX_PARAMS    (1u << 28) /* floats in the parameter buffer */
/* So an image of any node's output, a dense layer's inputs, counts fit an int. */
_Static_assert(NN_MAX_NODE_SIZE <= INT_MAX, "a node's size must fit an int");

/* What forward and backward of one node see.  Activations are the
 * workspace's (n images, NCHW); parameters and their gradients are the
 * whole buffers, the node's tensors at node->weight and node->bias. */
struct nn_op_args {
	const struct nn_graph *g;
	const struct nn_node *node;
	int index;   /* of node in g */
	int n;       /* images */
	int threads; /* OpenMP threads the layer may use */
	bool training;
	bool relu;                     /* fused: apply max(0, .) as outputs are stored */
	const float *params;           /* all parameters */
	const float *x[NN_MAX_INPUTS]; /* inputs' activations; the input node: the pixels */
	float *y;                      /* this node's activation */
	float *scratch;                /* at least what op->scratch asked for */
	float *mask;                   /* NN_OP_MASK ops while training, else NULL */
	uint64_t seed;                 /* training: this node on this forward call */
	/* Backward only.  All three are added into, never overwritten. */
	float *grads;             /* parameter gradients, laid out as params, or NULL: skip them */
	const float *dy;          /* d(loss)/d(y) */
	float *dx[NN_MAX_INPUTS]; /* d(loss)/d(inputs); NULL where none is kept */
};

enum nn_op_flags {
	NN_OP_FUSES_RELU = 1 << 0, /* forward applies a relu consumer when args.relu */
	NN_OP_INFER_COPY = 1 << 1, /* y == x[0] at inference: shares its input's activation */
	NN_OP_MASK = 1 << 2,       /* keeps a float per output while training (args.mask) */
};

struct nn_op_def {
	const char *name; /* as in the JSON description */
	unsigned flags;   /* enum nn_op_flags */
	/* Read n's own fields from its description o (inputs already
	 * resolved) and check them and the number of inputs. */
	int (*parse)(struct nn_node *n, struct json_object *o, struct dg_error *err);
	/* From the inputs' shapes: n's output shape c, h, w, its parameter
	 * counts n_weight, n_bias and its n_macs per image.  NULL: the shape
	 * came with the description (the input node). */
	int (*shape)(const struct nn_graph *g, struct nn_node *n, struct dg_error *err);
	/* n's parameter tensors (see struct nn_tensor), in buffer order;
	 * returns how many.  NULL: the op has no parameters. */
	int (*tensors)(const struct nn_graph *g, const struct nn_node *n, struct nn_tensor *t);
	/* Floats of scratch forward (and backward, if training) need for B
	 * images on threads threads.  NULL: none. */
	size_t (*scratch)(const struct nn_graph *g, const struct nn_node *n, int B, int threads,
	                  bool training);
	void (*forward)(const struct nn_op_args *a);
	/* NULL: nothing flows back through the op (the input node). */
	void (*backward)(const struct nn_op_args *a);
	/* Add n's own fields to o, the inverse of parse.  NULL: none. */
	void (*to_json)(const struct nn_node *n, struct json_object *o);
	/* Check the values of n's parameters loaded from a file (sizes and
	 * finite floats are checked already).  NULL: any finite value goes. */
	int (*check)(const struct nn_graph *g, const struct nn_node *n, const float *params,
	             struct dg_error *err);
};

/* Indexed by enum nn_op (nn_graph.c). */
extern const struct nn_op_def *const nn_ops[NN_N_OPS];

/* The entries, each defined beside its layer functions. */
extern const struct nn_op_def nn_op_input, nn_op_relu, nn_op_concat, nn_op_dropout,
    nn_op_softmax;                                         /* nn_layers.c */
extern const struct nn_op_def nn_op_dense;                 /* nn_dense.c */
extern const struct nn_op_def nn_op_conv2d, nn_op_maxpool; /* nn_conv.c */
extern const struct nn_op_def nn_op_quantize, nn_op_conv2d_q8, nn_op_dense_q8, nn_op_maxpool_q8,
    nn_op_concat_q8; /* nn_q8.c */

/* Helpers for parse (nn_graph.c).  Messages name the node and the key. */
/* An integer field in [lo, hi]; def < lo means the field is required. */
int nn_json_int(struct json_object *o, const char *node, const char *key, int def, int lo, int hi,
                int *out, struct dg_error *err);
/* A number in [lo, hi], def when absent. */
int nn_json_float(struct json_object *o, const char *node, const char *key, double def, double lo,
                  double hi, float *out, struct dg_error *err);
/* Exactly want inputs. */
int nn_expect_inputs(const struct nn_node *n, int want, struct dg_error *err);

/* Parse and shape of the ops whose int8 twins (nn_q8.c) read the same
 * fields and give the same shape: max-pooling (kernel, stride) and
 * channel concatenation (2+ inputs of one height and width). */
int nn_maxpool_parse(struct nn_node *n, struct json_object *o, struct dg_error *err);
int nn_maxpool_shape(const struct nn_graph *g, struct nn_node *n, struct dg_error *err);
int nn_concat_parse(struct nn_node *n, struct json_object *o, struct dg_error *err);
int nn_concat_shape(const struct nn_graph *g, struct nn_node *n, struct dg_error *err);

/* Floats in one image of n's output (at most NN_MAX_NODE_SIZE). */
static inline size_t nn_node_size(const struct nn_node *n)
{
	return (size_t)n->c * n->h * n->w;
}

/* Input k of node n. */
static inline const struct nn_node *nn_input(const struct nn_graph *g, const struct nn_node *n,
                                             int k)
{
	return &g->nodes[n->inputs[k]];
}

/* The usual pair: a weight of the given dims (He-initialised over fan_in)
 * and a bias of n->n_bias.  Returns 2. */
int nn_weight_bias(const struct nn_node *n, struct nn_tensor *t, int n_dims, const int *dims,
                   size_t fan_in);

#endif
