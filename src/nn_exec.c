/*
 * nn_exec.c - walking a graph: the workspace, forward and backward.
 *
 * The workspace is one allocation holding every node's activations for
 * max_batch images and, when training, their gradients, the dropout masks
 * and the layers' scratch.  At inference a dropout node's activation is
 * its input's (no copy).  Forward walks the nodes in order; backward walks
 * them in reverse, each node adding its gradient into its inputs'.
 *
 * Execution plan.  An inference workspace also fuses each conv2d or dense
 * node whose only consumer is a relu: the layer applies max(0, .) as it
 * stores its outputs, the relu node shares its activation and does
 * nothing.  That saves a pass over, and the memory of, every such output.
 * The graph itself is unchanged, and a training workspace does not fuse
 * (relu backward reads the relu's own output; keeping both costs nothing).
 *
 * Branches.  When a node feeds k >= 2 chains of single-input nodes that
 * all meet again in one node (the two convolution branches of "cnn" and
 * their concat), the chains are independent.  With fewer images than
 * threads, where each layer would otherwise be split thinly across threads
 * (a fork and a join per layer, and every consumer reading data the other
 * core wrote), an inference workspace runs each chain whole on one thread
 * instead.  Each node still runs the same single-thread kernels, so the
 * results are the same bits.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "nn.h"
#include "nn_layers.h"

struct nn_workspace {
	int n_nodes, max_batch, n_threads;
	bool training;
	float **act;  /* per node: max_batch x size */
	float **grad; /* per node, training only (NULL for the input) */
	float **mask; /* per dropout node, training only */
	bool *fuse;   /* per node: conv2d / dense computing its relu consumer */
	bool *skip;   /* per node: a relu done by its (fused) input */
	int *branch;  /* per node: its branch (0..n_branches-1) or -1 */
	int *first;   /* per node: number of branches that start here, or 0 */
	int *base;    /* per node with first: the number of its first branch */
	int n_branches;
	size_t thread_scratch; /* floats of scratch per thread, for branches */
	float *scratch;        /* the largest any layer needs */
	float *arena;          /* all the floats above */
	double *profile;       /* per node seconds, or NULL (nn_workspace_profile) */
	uint64_t seed, step;
};

static size_t node_size(const struct nn_node *n)
{
	return (size_t)n->c * n->h * n->w;
}

static struct nn_conv_geom conv_geom(const struct nn_graph *g, const struct nn_node *n)
{
	const struct nn_node *in = &g->nodes[n->inputs[0]];

	return (struct nn_conv_geom){.c = in->c,
	                             .h = in->h,
	                             .w = in->w,
	                             .oc = n->units,
	                             .k = n->kernel,
	                             .stride = n->stride,
	                             .pad = n->pad,
	                             .oh = n->h,
	                             .ow = n->w};
}

static size_t node_scratch(const struct nn_graph *g, const struct nn_node *n, int B, int threads,
                           bool training)
{
	if (n->op == NN_CONV2D) {
		struct nn_conv_geom cg = conv_geom(g, n);
		return nn_conv2d_scratch(&cg, B, threads, training);
	}
	if (n->op == NN_DENSE && training)
		return nn_dense_scratch(B, (int)node_size(&g->nodes[n->inputs[0]]), n->units);
	return 0;
}

/* Mark conv2d / dense nodes whose one and only consumer is a relu. */
static void plan_fusion(const struct nn_graph *g, struct nn_workspace *ws)
{
	for (int i = 0; i < g->n_nodes; i++) {
		const enum nn_op op = g->nodes[i].op;
		int consumers = 0, relu = -1;

		if (op != NN_CONV2D && op != NN_DENSE)
			continue;
		for (int j = i + 1; j < g->n_nodes; j++)
			for (int k = 0; k < g->nodes[j].n_inputs; k++)
				if (g->nodes[j].inputs[k] == i) {
					consumers++;
					relu = g->nodes[j].op == NN_RELU ? j : -1;
				}
		if (consumers == 1 && relu >= 0)
			ws->fuse[i] = ws->skip[relu] = true;
	}
}

static int sole_consumer(const struct nn_graph *g, int i)
{
	int found = -1;

	for (int j = i + 1; j < g->n_nodes; j++)
		for (int k = 0; k < g->nodes[j].n_inputs; k++)
			if (g->nodes[j].inputs[k] == i) {
				if (found >= 0)
					return -1;
				found = j;
			}
	return found;
}

/* Find fork -> k chains -> join patterns; number the chains' nodes by
 * branch.  first[h] on the lowest-numbered node h of a group says how many
 * branches start there; the walk runs the whole group when it reaches h. */
static void plan_branches(const struct nn_graph *g, struct nn_workspace *ws)
{
	for (int f = 0; f < g->n_nodes; f++) {
		int heads[NN_MAX_INPUTS], ends[NN_MAX_INPUTS], k = 0, join = -1, ok = 1;

		for (int j = f + 1; j < g->n_nodes && ok; j++)
			for (int m = 0; m < g->nodes[j].n_inputs; m++)
				if (g->nodes[j].inputs[m] == f) {
					if (k == NN_MAX_INPUTS || g->nodes[j].n_inputs != 1)
						ok = 0;
					else
						heads[k++] = j;
				}
		if (!ok || k < 2)
			continue;
		/* Follow each chain to its last node: the one whose consumer
		 * is not a single-input node. */
		for (int b = 0; b < k && ok; b++) {
			int e = heads[b], c;

			while ((c = sole_consumer(g, e)) >= 0 && g->nodes[c].n_inputs == 1 &&
			       ws->branch[c] < 0)
				e = c;
			ends[b] = e;
			if (c < 0 || (join >= 0 && c != join))
				ok = 0;
			join = c;
		}
		if (!ok || g->nodes[join].n_inputs != k)
			continue;
		int lowest = heads[0];
		for (int b = 0; b < k; b++) {
			for (int e = heads[b];; e = sole_consumer(g, e)) {
				ws->branch[e] = ws->n_branches + b;
				if (e == ends[b])
					break;
			}
			lowest = heads[b] < lowest ? heads[b] : lowest;
		}
		ws->first[lowest] = k;
		ws->base[lowest] = ws->n_branches;
		ws->n_branches += k;
	}
}

struct nn_workspace *nn_workspace_create(const struct nn_graph *g, int max_batch, bool training)
{
	struct nn_workspace *ws;
	size_t total = 0, scratch = 0;
	int threads = 1;

#ifdef _OPENMP
	threads = omp_get_max_threads();
#endif
	if (max_batch < 1)
		return NULL;
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return NULL;
	ws->n_nodes = g->n_nodes;
	ws->max_batch = max_batch;
	ws->n_threads = threads;
	ws->training = training;
	ws->act = calloc(g->n_nodes, sizeof(float *));
	ws->grad = calloc(g->n_nodes, sizeof(float *));
	ws->mask = calloc(g->n_nodes, sizeof(float *));
	ws->fuse = calloc(g->n_nodes, sizeof(bool));
	ws->skip = calloc(g->n_nodes, sizeof(bool));
	ws->branch = malloc(g->n_nodes * sizeof(int));
	ws->first = calloc(g->n_nodes, sizeof(int));
	ws->base = calloc(g->n_nodes, sizeof(int));
	if (!ws->act || !ws->grad || !ws->mask || !ws->fuse || !ws->skip || !ws->branch ||
	    !ws->first || !ws->base)
		goto fail;
	for (int i = 0; i < g->n_nodes; i++)
		ws->branch[i] = -1;
	if (!training) {
		plan_fusion(g, ws);
		if (threads > 1)
			plan_branches(g, ws);
	}

	for (int i = 0; i < g->n_nodes; i++) {
		const struct nn_node *n = &g->nodes[i];
		size_t sz = (size_t)max_batch * node_size(n);
		size_t s = node_scratch(g, n, max_batch, threads, training);
		size_t one = node_scratch(g, n, max_batch, 1, training);

		if ((n->op != NN_DROPOUT || training) && !ws->skip[i])
			total += sz;
		if (training && i > 0)
			total += sz;
		if (training && n->op == NN_DROPOUT)
			total += sz;
		scratch = s > scratch ? s : scratch;
		ws->thread_scratch = one > ws->thread_scratch ? one : ws->thread_scratch;
	}
	if ((size_t)threads * ws->thread_scratch > scratch)
		scratch = (size_t)threads * ws->thread_scratch;
	ws->arena = aligned_alloc(64, ((total + scratch) * sizeof(float) + 63) / 64 * 64);
	if (!ws->arena)
		goto fail;

	float *p = ws->arena;
	for (int i = 0; i < g->n_nodes; i++) {
		const struct nn_node *n = &g->nodes[i];
		size_t sz = (size_t)max_batch * node_size(n);

		if ((n->op == NN_DROPOUT && !training) || ws->skip[i]) {
			ws->act[i] = ws->act[n->inputs[0]];
		} else {
			ws->act[i] = p;
			p += sz;
		}
		if (training && i > 0) {
			ws->grad[i] = p;
			p += sz;
		}
		if (training && n->op == NN_DROPOUT) {
			ws->mask[i] = p;
			p += sz;
		}
	}
	ws->scratch = p;
	return ws;
fail:
	nn_workspace_free(ws);
	return NULL;
}

void nn_workspace_free(struct nn_workspace *ws)
{
	if (!ws)
		return;
	free(ws->arena);
	free(ws->act);
	free(ws->grad);
	free(ws->mask);
	free(ws->fuse);
	free(ws->skip);
	free(ws->branch);
	free(ws->first);
	free(ws->base);
	free(ws);
}

void nn_workspace_seed(struct nn_workspace *ws, uint64_t seed)
{
	ws->seed = seed;
	ws->step = 0;
}

void nn_workspace_profile(struct nn_workspace *ws, double *seconds)
{
	ws->profile = seconds;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

const float *nn_activation(const struct nn_workspace *ws, int node)
{
	return node >= 0 && node < ws->n_nodes ? ws->act[node] : NULL;
}

/* Forward of node i on n images with the given threads and scratch. */
static void forward_node(const struct nn_graph *g, const float *params, struct nn_workspace *ws,
                         const float *input, int n, int i, int threads, float *scratch)
{
	const struct nn_node *node = &g->nodes[i];
	const struct nn_node *in = node->n_inputs ? &g->nodes[node->inputs[0]] : NULL;
	const float *x = in ? ws->act[node->inputs[0]] : NULL;
	float *y = ws->act[i];
	size_t count = (size_t)n * node_size(node);
	double t0 = ws->profile ? now() : 0.0;

	switch (node->op) {
	case NN_INPUT:
		nn_input_forward(y, input, count, node->mean, node->std);
		break;
	case NN_CONV2D: {
		struct nn_conv_geom cg = conv_geom(g, node);
		nn_conv2d_forward(y, x, params + node->weight, params + node->bias, n, &cg, scratch,
		                  threads, ws->fuse[i]);
		break;
	}
	case NN_MAXPOOL:
		nn_maxpool_forward(y, x, n, in->c, in->h, in->w, node->kernel, node->stride,
		                   node->h, node->w, threads);
		break;
	case NN_DENSE:
		nn_dense_forward(y, x, params + node->weight, params + node->bias, n,
		                 (int)node_size(in), node->units, threads, ws->fuse[i]);
		break;
	case NN_RELU:
		if (!ws->skip[i])
			nn_relu_forward(y, x, count);
		break;
	case NN_CONCAT: {
		const float *ins[NN_MAX_INPUTS];
		int chans[NN_MAX_INPUTS];
		for (int k = 0; k < node->n_inputs; k++) {
			ins[k] = ws->act[node->inputs[k]];
			chans[k] = g->nodes[node->inputs[k]].c;
		}
		nn_concat_forward(y, ins, chans, node->n_inputs, n, node->h * node->w);
		break;
	}
	case NN_DROPOUT:
		if (ws->training)
			nn_dropout_forward(y, ws->mask[i], x, count, node->rate,
			                   nn_hash64(nn_hash64(ws->seed, ws->step), i));
		break;
	case NN_SOFTMAX:
		nn_softmax_forward(y, x, n, (int)node_size(node));
		break;
	}
	if (ws->profile)
		ws->profile[i] += now() - t0;
}

/* The k branches numbered from b0, each whole on one thread, in parallel. */
static void forward_branches(const struct nn_graph *g, const float *params, struct nn_workspace *ws,
                             int n, int b0, int k)
{
	const int threads = k < ws->n_threads ? k : ws->n_threads;

#pragma omp parallel for num_threads(threads) schedule(static)
	for (int b = b0; b < b0 + k; b++) {
		float *scratch = ws->scratch;
#ifdef _OPENMP
		scratch += (size_t)omp_get_thread_num() * ws->thread_scratch;
#endif
		for (int i = 0; i < g->n_nodes; i++)
			if (ws->branch[i] == b)
				forward_node(g, params, ws, NULL, n, i, 1, scratch);
	}
}

const float *nn_forward(const struct nn_graph *g, const float *params, struct nn_workspace *ws,
                        const float *input, int n)
{
	/* Branches pay off only when the layers cannot share out images. */
	const bool branches = ws->n_branches > 0 && n < ws->n_threads;

	if (n < 1 || n > ws->max_batch)
		return NULL;
	for (int i = 0; i < g->n_nodes; i++) {
		if (branches && ws->first[i])
			forward_branches(g, params, ws, n, ws->base[i], ws->first[i]);
		if (branches && ws->branch[i] >= 0)
			continue;
		forward_node(g, params, ws, input, n, i, ws->n_threads, ws->scratch);
	}
	if (ws->training)
		ws->step++;
	return ws->act[g->n_nodes - 1];
}

/* Propagate from the gradients already in ws->grad for nodes < from. */
static void backward_walk(const struct nn_graph *g, const float *params, float *grads,
                          struct nn_workspace *ws, int n, int from)
{
	const int threads = ws->n_threads;

	for (int i = from; i > 0; i--) {
		const struct nn_node *node = &g->nodes[i];
		const struct nn_node *in = &g->nodes[node->inputs[0]];
		const float *x = ws->act[node->inputs[0]], *dy = ws->grad[i];
		float *dx = ws->grad[node->inputs[0]]; /* NULL for the input node */
		size_t count = (size_t)n * node_size(node);

		switch (node->op) {
		case NN_INPUT:
			break;
		case NN_CONV2D: {
			struct nn_conv_geom cg = conv_geom(g, node);
			nn_conv2d_backward(dx, grads + node->weight, grads + node->bias, dy, x,
			                   params + node->weight, n, &cg, ws->scratch, threads);
			break;
		}
		case NN_MAXPOOL:
			if (dx)
				nn_maxpool_backward(dx, dy, x, n, in->c, in->h, in->w, node->kernel,
				                    node->stride, node->h, node->w, threads);
			break;
		case NN_DENSE:
			nn_dense_backward(dx, grads + node->weight, grads + node->bias, dy, x,
			                  params + node->weight, n, (int)node_size(in), node->units,
			                  ws->scratch, threads);
			break;
		case NN_RELU:
			if (dx)
				nn_relu_backward(dx, dy, ws->act[i], count);
			break;
		case NN_CONCAT: {
			float *dins[NN_MAX_INPUTS];
			int chans[NN_MAX_INPUTS];
			for (int k = 0; k < node->n_inputs; k++) {
				dins[k] = ws->grad[node->inputs[k]];
				chans[k] = g->nodes[node->inputs[k]].c;
			}
			nn_concat_backward(dins, dy, chans, node->n_inputs, n, node->h * node->w);
			break;
		}
		case NN_DROPOUT:
			if (dx)
				nn_dropout_backward(dx, dy, ws->mask[i], count);
			break;
		case NN_SOFTMAX:
			if (dx)
				nn_softmax_backward(dx, dy, ws->act[i], n, (int)node_size(node));
			break;
		}
	}
}

static void zero_grads(const struct nn_graph *g, struct nn_workspace *ws, int n)
{
	for (int i = 1; i < g->n_nodes; i++)
		memset(ws->grad[i], 0, sizeof(float) * n * node_size(&g->nodes[i]));
}

float nn_backward(const struct nn_graph *g, const float *params, float *grads,
                  struct nn_workspace *ws, const uint8_t *labels, int n)
{
	const int last = g->n_nodes - 1;
	const int logits = g->nodes[last].inputs[0];

	if (!ws->training || n < 1 || n > ws->max_batch)
		return -1.0f;
	zero_grads(g, ws, n);
	/* Softmax and cross-entropy together: p - onehot, no division by p. */
	float loss =
	    nn_softmax_xent_backward(ws->grad[logits], ws->act[last], labels, n, g->n_classes);
	backward_walk(g, params, grads, ws, n, last - 1);
	return loss;
}

void nn_backward_from(const struct nn_graph *g, const float *params, float *grads,
                      struct nn_workspace *ws, const float *dout, int n)
{
	const int last = g->n_nodes - 1;

	if (!ws->training || n < 1 || n > ws->max_batch)
		return;
	zero_grads(g, ws, n);
	memcpy(ws->grad[last], dout, sizeof(float) * n * g->n_classes);
	backward_walk(g, params, grads, ws, n, last);
}
