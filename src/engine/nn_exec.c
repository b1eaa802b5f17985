/*
 * nn_exec.c - walking a graph: the workspace, forward and backward.
 *
 * The workspace is one allocation holding every node's activations for
 * max_batch images and, when training, their gradients, the dropout masks
 * and the layers' scratch: the sizes are worked out once, then views are
 * pointed into the allocation.  At inference a dropout node's activation
 * is its input's (no copy).  Forward walks the nodes in order; backward
 * walks them in reverse, each node adding its gradient into its inputs'.
 * What a node does is its op table entry's (nn_ops.h).
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
#include "nn_ops.h"

/* The execution plan of one node (see the top of the file). */
struct node_plan {
	bool fuse;  /* conv2d / dense computing its relu consumer */
	bool skip;  /* a relu done by its (fused) input */
	int branch; /* its branch (0..n_branches-1) or -1 */
	int first;  /* number of branches that start here, or 0 */
	int base;   /* with first: the number of its first branch */
};

/* The arena's start and size: a multiple of a cache line. */
#define ARENA_ALIGN 64

/* The workspace's views of each node, in this order per node. */
enum { ACT, GRAD, MASK, N_VIEWS };

struct nn_workspace {
	int n_nodes, max_batch, n_threads;
	bool training;
	bool explain; /* gradients as training, the network as it serves (no dropout) */
	float **act;  /* per node: max_batch x size */
	float **grad; /* per node, training only (NULL for the input) */
	float **mask; /* per node with NN_OP_MASK, training only */
	struct node_plan *plan;
	int n_branches;
	size_t thread_scratch; /* floats of scratch per thread, for branches */
	float *scratch;        /* the largest any layer needs */
	float **views;         /* act, grad and mask: N_VIEWS x n_nodes */
	float *arena;          /* all the floats above */
	double *profile;       /* per node seconds, or NULL (nn_workspace_profile) */
	uint64_t seed, step;
};

/* Mark conv2d / dense nodes whose one and only consumer is a relu. */
static void plan_fusion(const struct nn_graph *g, struct nn_workspace *ws)
{
	for (int i = 0; i < g->n_nodes; i++) {
		int consumers = 0, relu = -1;

		if (!(nn_ops[g->nodes[i].op]->flags & NN_OP_FUSES_RELU))
			continue;
		for (int j = i + 1; j < g->n_nodes; j++)
			for (int k = 0; k < g->nodes[j].n_inputs; k++)
				if (g->nodes[j].inputs[k] == i) {
					consumers++;
					relu = g->nodes[j].op == NN_RELU ? j : -1;
				}
		if (consumers == 1 && relu >= 0)
			ws->plan[i].fuse = ws->plan[relu].skip = true;
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
			       ws->plan[c].branch < 0)
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
				ws->plan[e].branch = ws->n_branches + b;
				if (e == ends[b])
					break;
			}
			lowest = heads[b] < lowest ? heads[b] : lowest;
		}
		ws->plan[lowest].first = k;
		ws->plan[lowest].base = ws->n_branches;
		ws->n_branches += k;
	}
}

/* Whether forward applies dropout: training, not explaining. */
static inline bool drops(const struct nn_workspace *ws)
{
	return ws->training && !ws->explain;
}

/* Floats each node's views take for max_batch images, in the arena's
 * order (sizes[i * N_VIEWS + view]; 0: no view of its own), and the
 * scratch after them: one pass decides, so the pointing below cannot
 * disagree with it. */
static size_t plan_sizes(const struct nn_graph *g, struct nn_workspace *ws, size_t *sizes)
{
	size_t total = 0, scratch = 0;

	for (int i = 0; i < g->n_nodes; i++) {
		const struct nn_node *n = &g->nodes[i];
		const struct nn_op_def *op = nn_ops[n->op];
		const size_t sz = (size_t)ws->max_batch * nn_node_size(n);
		size_t *s = sizes + (size_t)i * N_VIEWS;
		const bool shares =
		    ws->plan[i].skip || (!drops(ws) && op->flags & NN_OP_INFER_COPY);

		s[ACT] = shares ? 0 : sz;
		/* An explanation may read the gradient of the input itself. */
		s[GRAD] = ws->training && (i > 0 || ws->explain) ? sz : 0;
		s[MASK] = drops(ws) && op->flags & NN_OP_MASK ? sz : 0;
		total += s[ACT] + s[GRAD] + s[MASK];
		if (op->scratch) {
			size_t all = op->scratch(g, n, ws->max_batch, ws->n_threads, ws->training);
			size_t one = op->scratch(g, n, ws->max_batch, 1, ws->training);

			scratch = all > scratch ? all : scratch;
			ws->thread_scratch = one > ws->thread_scratch ? one : ws->thread_scratch;
		}
	}
	if ((size_t)ws->n_threads * ws->thread_scratch > scratch)
		scratch = (size_t)ws->n_threads * ws->thread_scratch;
	return total + scratch;
}

static int workspace_new(struct nn_workspace **out, const struct nn_graph *g, int max_batch,
                         bool training, bool explain, struct dg_error *err)
{
	struct nn_workspace *ws;
	size_t *sizes = NULL, total;
	int threads = 1;

#ifdef _OPENMP
	threads = omp_get_max_threads();
#endif
	*out = NULL;
	if (max_batch < 1)
		return dg_fail(err, DG_ERR_INVALID,
		               "graph \"%s\": a workspace holds 1 or more images, not %d", g->name,
		               max_batch);
	/* Gradients need every op's backward; the int8 ops have none. */
	for (int i = 1; training && i < g->n_nodes; i++)
		if (!nn_ops[g->nodes[i].op]->backward)
			return dg_fail(
			    err, DG_ERR_UNSUPPORTED,
			    "graph \"%s\": node \"%s\" (%s) has no backward pass, so the "
			    "graph cannot be trained or explained",
			    g->name, g->nodes[i].name, nn_op_name(g->nodes[i].op));
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		goto nomem;
	ws->n_nodes = g->n_nodes;
	ws->max_batch = max_batch;
	ws->n_threads = threads;
	ws->training = training;
	ws->explain = explain;
	ws->views = calloc((size_t)N_VIEWS * g->n_nodes, sizeof(float *));
	ws->plan = calloc(g->n_nodes, sizeof(*ws->plan));
	sizes = malloc(sizeof(size_t) * N_VIEWS * g->n_nodes);
	if (!ws->views || !ws->plan || !sizes)
		goto nomem;
	ws->act = ws->views;
	ws->grad = ws->views + g->n_nodes;
	ws->mask = ws->views + 2 * g->n_nodes;
	for (int i = 0; i < g->n_nodes; i++)
		ws->plan[i].branch = -1;
	if (!training) {
		plan_fusion(g, ws);
		if (threads > 1)
			plan_branches(g, ws);
	}

	total = plan_sizes(g, ws, sizes);
	ws->arena = aligned_alloc(ARENA_ALIGN, (total * sizeof(float) + ARENA_ALIGN - 1) /
	                                           ARENA_ALIGN * ARENA_ALIGN);
	if (!ws->arena)
		goto nomem;
	float *p = ws->arena, **view[N_VIEWS] = {ws->act, ws->grad, ws->mask};
	for (int i = 0; i < g->n_nodes; i++)
		for (int v = 0; v < N_VIEWS; v++) {
			size_t sz = sizes[(size_t)i * N_VIEWS + v];

			if (sz) {
				view[v][i] = p;
				p += sz;
			} else if (v == ACT) {
				view[v][i] = ws->act[g->nodes[i].inputs[0]];
			}
		}
	ws->scratch = p;
	free(sizes);
	*out = ws;
	return 0;
nomem:
	free(sizes);
	nn_workspace_free(ws);
	return dg_fail(err, DG_ERR_NOMEM,
	               "graph \"%s\": out of memory for a workspace of %d images", g->name,
	               max_batch);
}

void nn_workspace_free(struct nn_workspace *ws)
{
	if (!ws)
		return;
	free(ws->arena);
	free(ws->views);
	free(ws->plan);
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

const float *nn_activation(const struct nn_workspace *ws, int node)
{
	return node >= 0 && node < ws->n_nodes ? ws->act[node] : NULL;
}

/* Forward of node i on n images with the given threads and scratch. */
static void forward_node(const struct nn_graph *g, const float *params, struct nn_workspace *ws,
                         const float *input, int n, int i, int threads, float *scratch)
{
	const struct nn_node *node = &g->nodes[i];
	double t0 = ws->profile ? dg_seconds() : 0.0;

	if (!ws->plan[i].skip) {
		struct nn_op_args a = {
		    .g = g,
		    .node = node,
		    .index = i,
		    .n = n,
		    .threads = threads,
		    .training = drops(ws),
		    .relu = ws->plan[i].fuse,
		    .params = params,
		    .x = {input},
		    .y = ws->act[i],
		    .scratch = scratch,
		    .mask = ws->mask[i],
		    .seed = drops(ws) ? nn_hash64(nn_hash64(ws->seed, ws->step), i) : 0,
		};
		for (int k = 0; k < node->n_inputs; k++)
			a.x[k] = ws->act[node->inputs[k]];
		nn_ops[node->op]->forward(&a);
	}
	if (ws->profile)
		ws->profile[i] += dg_seconds() - t0;
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
			if (ws->plan[i].branch == b)
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
		if (branches && ws->plan[i].first)
			forward_branches(g, params, ws, n, ws->plan[i].base, ws->plan[i].first);
		if (branches && ws->plan[i].branch >= 0)
			continue;
		forward_node(g, params, ws, input, n, i, ws->n_threads, ws->scratch);
	}
	if (ws->training)
		ws->step++;
	return ws->act[g->n_nodes - 1];
}

/* Propagate from the gradients already in ws->grad for nodes <= from,
 * down to (not through) node `to`.  With grads NULL the layers skip their
 * parameters' gradients (an explanation needs only the activations'). */
static void backward_walk(const struct nn_graph *g, const float *params, float *grads,
                          struct nn_workspace *ws, int n, int from, int to)
{
	for (int i = from; i > to; i--) {
		const struct nn_node *node = &g->nodes[i];
		const struct nn_op_def *op = nn_ops[node->op];
		struct nn_op_args a = {
		    .g = g,
		    .node = node,
		    .index = i,
		    .n = n,
		    .threads = ws->n_threads,
		    .training = true,
		    .params = params,
		    .y = ws->act[i],
		    .scratch = ws->scratch,
		    .mask = ws->mask[i],
		    .grads = grads,
		    .dy = ws->grad[i],
		};

		if (!op->backward)
			continue;
		for (int k = 0; k < node->n_inputs; k++) {
			a.x[k] = ws->act[node->inputs[k]];
			a.dx[k] = ws->grad[node->inputs[k]]; /* NULL for the input node */
		}
		op->backward(&a);
	}
}

static void zero_grads(const struct nn_graph *g, struct nn_workspace *ws, int n)
{
	for (int i = 0; i < g->n_nodes; i++)
		if (ws->grad[i])
			memset(ws->grad[i], 0, sizeof(float) * n * nn_node_size(&g->nodes[i]));
}

int nn_backward(const struct nn_graph *g, const float *params, float *grads,
                struct nn_workspace *ws, const uint8_t *labels, int n, float *loss,
                struct dg_error *err)
{
	const int last = g->n_nodes - 1;
	const int logits = g->nodes[last].inputs[0];

	if (!ws->training)
		return dg_fail(err, DG_ERR_INVALID,
		               "graph \"%s\": backward needs a training workspace", g->name);
	if (n < 1 || n > ws->max_batch)
		return dg_fail(err, DG_ERR_INVALID,
		               "graph \"%s\": backward of %d images, the workspace holds 1..%d",
		               g->name, n, ws->max_batch);
	for (int b = 0; b < n; b++)
		if (labels[b] >= g->n_classes)
			return dg_fail(
			    err, DG_ERR_INVALID,
			    "graph \"%s\": label %d of image %d, the graph has %d classes", g->name,
			    labels[b], b, g->n_classes);
	zero_grads(g, ws, n);
	/* The graph ends in a softmax (nn_graph.c); with the cross-entropy it
	 * is p - onehot, no division by p. */
	*loss = nn_softmax_xent_backward(ws->grad[logits], ws->act[last], labels, n, g->n_classes);
	backward_walk(g, params, grads, ws, n, last - 1, 0);
	return 0;
}

int nn_workspace_create(struct nn_workspace **out, const struct nn_graph *g, int max_batch,
                        bool training, struct dg_error *err)
{
	return workspace_new(out, g, max_batch, training, false, err);
}

int nn_workspace_create_explain(struct nn_workspace **out, const struct nn_graph *g,
                                struct dg_error *err)
{
	return workspace_new(out, g, 1, true, true, err);
}

int nn_class_gradient(const struct nn_graph *g, const float *params, struct nn_workspace *ws,
                      const float *input, int cls, int node, const float **grad,
                      struct dg_error *err)
{
	const int last = g->n_nodes - 1, logits = g->nodes[last].inputs[0];

	*grad = NULL;
	if (!ws->explain)
		return dg_fail(err, DG_ERR_INVALID,
		               "graph \"%s\": a class gradient needs an explanation workspace",
		               g->name);
	if (cls < 0 || cls >= g->n_classes)
		return dg_fail(err, DG_ERR_INVALID, "graph \"%s\": class %d, want 0..%d", g->name,
		               cls, g->n_classes - 1);
	if (node < 0 || node > logits)
		return dg_fail(err, DG_ERR_INVALID, "graph \"%s\": no node %d below the logits",
		               g->name, node);
	nn_forward(g, params, ws, input, 1);
	zero_grads(g, ws, 1);
	/* The class's score before the softmax, as Grad-CAM defines it: the
	 * softmax would mix in every other class's score. */
	ws->grad[logits][cls] = 1.0f;
	backward_walk(g, params, NULL, ws, 1, logits, node);
	/* The input node standardises the pixels: its gradient, times
	 * d(standardised)/d(pixel) = 1 / std, is the pixels' own. */
	if (node == 0)
		for (size_t i = 0; i < nn_node_size(&g->nodes[0]); i++)
			ws->grad[0][i] /= g->nodes[0].std;
	*grad = ws->grad[node];
	return 0;
}
