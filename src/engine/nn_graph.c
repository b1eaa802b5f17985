/*
 * nn_graph.c - a graph from its JSON description, and back.
 *
 * Parsing derives everything else: each node's output shape, its
 * parameter offsets in the one weight buffer, and the multiply-add count.
 * What is particular to an op (its fields, its shape, its JSON) is its
 * op table entry's (nn_ops.h); this file holds the rules of the graph.
 * Whatever comes from a file is checked here, so the executor can trust
 * shapes: inputs are earlier nodes, sizes are positive and bounded, the
 * single input node comes first and the single softmax last.
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"
#include "nn_layers.h"
#include "nn_ops.h"

/* Bounds that keep every size computation far from overflow (and those
 * of nn_ops.h). */
#define MAX_NODES 256

const struct nn_op_def *const nn_ops[NN_N_OPS] = {
    [NN_INPUT] = &nn_op_input,         [NN_CONV2D] = &nn_op_conv2d,
    [NN_MAXPOOL] = &nn_op_maxpool,     [NN_DENSE] = &nn_op_dense,
    [NN_RELU] = &nn_op_relu,           [NN_CONCAT] = &nn_op_concat,
    [NN_DROPOUT] = &nn_op_dropout,     [NN_SOFTMAX] = &nn_op_softmax,
    [NN_QUANTIZE] = &nn_op_quantize,   [NN_CONV2D_Q8] = &nn_op_conv2d_q8,
    [NN_DENSE_Q8] = &nn_op_dense_q8,   [NN_MAXPOOL_Q8] = &nn_op_maxpool_q8,
    [NN_CONCAT_Q8] = &nn_op_concat_q8,
};

const char *nn_op_name(enum nn_op op)
{
	return (unsigned)op < NN_N_OPS ? nn_ops[op]->name : "?";
}

static int op_from_name(const char *s, enum nn_op *op)
{
	for (int i = 0; i < NN_N_OPS; i++)
		if (strcmp(s, nn_ops[i]->name) == 0) {
			*op = (enum nn_op)i;
			return 0;
		}
	return -1;
}

int nn_graph_find(const struct nn_graph *g, const char *name)
{
	for (int i = 0; i < g->n_nodes; i++)
		if (strcmp(g->nodes[i].name, name) == 0)
			return i;
	return -1;
}

void nn_graph_free(struct nn_graph *g)
{
	if (!g)
		return;
	free(g->nodes);
	free(g);
}

int nn_json_int(struct json_object *o, const char *node, const char *key, int def, int lo, int hi,
                int *out, struct dg_error *err)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v)) {
		if (def < lo)
			return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": missing \"%s\"", node,
			               key);
		*out = def;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": \"%s\" must be an integer", node,
		               key);
	errno = 0;
	int64_t x = json_object_get_int64(v);
	if (x < lo || x > hi)
		return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": \"%s\" is %lld, must be %d..%d",
		               node, key, (long long)x, lo, hi);
	*out = (int)x;
	return 0;
}

int nn_json_float(struct json_object *o, const char *node, const char *key, double def, double lo,
                  double hi, float *out, struct dg_error *err)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v)) {
		*out = (float)def;
		return 0;
	}
	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": \"%s\" must be a number", node,
		               key);
	double x = json_object_get_double(v);
	if (!isfinite(x) || x < lo || x > hi)
		return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": \"%s\" is %g, must be %g..%g",
		               node, key, x, lo, hi);
	*out = (float)x;
	return 0;
}

static int resolve_input(struct nn_graph *g, int self, const char *name, struct dg_error *err)
{
	struct nn_node *n = &g->nodes[self];

	for (int j = 0; j < self; j++)
		if (strcmp(g->nodes[j].name, name) == 0) {
			if (g->nodes[j].op == NN_SOFTMAX)
				return dg_fail(err, DG_ERR_FORMAT,
				               "node \"%s\": input \"%s\" is a softmax", n->name,
				               name);
			if (n->n_inputs == NN_MAX_INPUTS)
				return dg_fail(err, DG_ERR_FORMAT,
				               "node \"%s\": more than %d inputs", n->name,
				               NN_MAX_INPUTS);
			n->inputs[n->n_inputs++] = j;
			return 0;
		}
	return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": input \"%s\" is not an earlier node",
	               n->name, name);
}

static int parse_inputs(struct nn_graph *g, int self, struct json_object *o, struct dg_error *err)
{
	struct nn_node *n = &g->nodes[self];
	struct json_object *in;

	if (!json_object_object_get_ex(o, "in", &in))
		return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": missing \"in\"", n->name);
	if (json_object_is_type(in, json_type_string))
		return resolve_input(g, self, json_object_get_string(in), err);
	if (!json_object_is_type(in, json_type_array))
		return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": \"in\" must be a name or a list",
		               n->name);
	for (size_t i = 0; i < json_object_array_length(in); i++) {
		struct json_object *s = json_object_array_get_idx(in, i);

		if (!json_object_is_type(s, json_type_string))
			return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": \"in\" must list names",
			               n->name);
		if (resolve_input(g, self, json_object_get_string(s), err))
			return -1;
	}
	return 0;
}

int nn_expect_inputs(const struct nn_node *n, int want, struct dg_error *err)
{
	if (n->n_inputs != want)
		return dg_fail(err, DG_ERR_FORMAT, "node \"%s\": %s takes %d input(s), got %d",
		               n->name, nn_op_name(n->op), want, n->n_inputs);
	return 0;
}

int nn_weight_bias(const struct nn_node *n, struct nn_tensor *t, int n_dims, const int *dims,
                   size_t fan_in)
{
	t[0] = (struct nn_tensor){.suffix = "weight",
	                          .offset = n->weight,
	                          .count = n->n_weight,
	                          .n_dims = n_dims,
	                          .fan_in = fan_in};
	memcpy(t[0].dims, dims, sizeof(int) * n_dims);
	t[1] = (struct nn_tensor){.suffix = "bias",
	                          .offset = n->bias,
	                          .count = n->n_bias,
	                          .n_dims = 1,
	                          .dims = {(int)n->n_bias}};
	return 2;
}

int nn_node_tensors(const struct nn_graph *g, int i, struct nn_tensor *t)
{
	const struct nn_op_def *op = nn_ops[g->nodes[i].op];

	return op->tensors ? op->tensors(g, &g->nodes[i], t) : 0;
}

int nn_graph_check_params(const struct nn_graph *g, const float *params, struct dg_error *err)
{
	for (int i = 0; i < g->n_nodes; i++) {
		const struct nn_op_def *op = nn_ops[g->nodes[i].op];

		if (op->check && op->check(g, &g->nodes[i], params, err))
			return -1;
	}
	return 0;
}

const char *nn_graph_precision(const struct nn_graph *g)
{
	for (int i = 0; i < g->n_nodes; i++) {
		struct nn_tensor t[NN_MAX_TENSORS];
		int count = nn_node_tensors(g, i, t);

		for (int k = 0; k < count; k++)
			if (t[k].dtype == NN_I8)
				return "int8";
	}
	return "float32";
}

int nn_graph_from_json(struct nn_graph **out, struct json_object *desc, struct dg_error *err)
{
	struct json_object *name, *nodes;
	struct nn_graph *g;
	size_t count;

	*out = NULL;
	if (!json_object_is_type(desc, json_type_object) ||
	    !json_object_object_get_ex(desc, "nodes", &nodes) ||
	    !json_object_is_type(nodes, json_type_array))
		return dg_fail(err, DG_ERR_FORMAT, "graph: expected {\"name\", \"nodes\": [...]}");
	count = json_object_array_length(nodes);
	if (count < 2 || count > MAX_NODES)
		return dg_fail(err, DG_ERR_FORMAT, "graph: %zu nodes, must be 2..%d", count,
		               MAX_NODES);
	g = calloc(1, sizeof(*g));
	if (!g || !(g->nodes = calloc(count, sizeof(*g->nodes)))) {
		free(g);
		return dg_fail(err, DG_ERR_NOMEM, "graph: out of memory for %zu nodes", count);
	}
	if (json_object_object_get_ex(desc, "name", &name) &&
	    json_object_is_type(name, json_type_string))
		snprintf(g->name, sizeof(g->name), "%s", json_object_get_string(name));

	for (size_t i = 0; i < count; i++) {
		struct json_object *o = json_object_array_get_idx(nodes, i), *v;
		struct nn_node *n = &g->nodes[i];
		const char *s;

		g->n_nodes = (int)i + 1;
		if (!json_object_is_type(o, json_type_object))
			goto bad_node;
		if (!json_object_object_get_ex(o, "name", &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    !*(s = json_object_get_string(v)) || strlen(s) >= NN_NAME_MAX)
			goto bad_node;
		memcpy(n->name, s, strlen(s) + 1);
		if (nn_graph_find(g, s) != (int)i) {
			dg_fail(err, DG_ERR_FORMAT, "graph: node name \"%s\" used twice", s);
			goto fail;
		}
		if (!json_object_object_get_ex(o, "op", &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    op_from_name(json_object_get_string(v), &n->op)) {
			dg_fail(err, DG_ERR_FORMAT, "node \"%s\": unknown or missing \"op\"", s);
			goto fail;
		}
		if (n->op != NN_INPUT && parse_inputs(g, (int)i, o, err))
			goto fail;
		if ((n->op == NN_INPUT) != (i == 0)) {
			dg_fail(err, DG_ERR_FORMAT,
			        "node \"%s\": the input node must come first, once", s);
			goto fail;
		}
		if (nn_ops[n->op]->parse(n, o, err) ||
		    (nn_ops[n->op]->shape && nn_ops[n->op]->shape(g, n, err)))
			goto fail;
		if (nn_node_size(n) > NN_MAX_NODE_SIZE ||
		    g->n_params + n->n_weight + n->n_bias > NN_MAX_PARAMS) {
			dg_fail(err, DG_ERR_FORMAT, "node \"%s\": too large", s);
			goto fail;
		}
		n->weight = g->n_params;
		n->bias = n->weight + n->n_weight;
		g->n_params += n->n_weight + n->n_bias;
		g->n_macs += n->n_macs;
		if (n->op == NN_SOFTMAX && i != count - 1) {
			dg_fail(err, DG_ERR_FORMAT, "node \"%s\": softmax must be the last node",
			        s);
			goto fail;
		}
		continue;
	bad_node:
		dg_fail(err, DG_ERR_FORMAT, "graph: node %zu needs a \"name\" of 1..%d characters",
		        i, NN_NAME_MAX - 1);
		goto fail;
	}
	if (g->nodes[count - 1].op != NN_SOFTMAX) {
		dg_fail(err, DG_ERR_FORMAT, "graph: the last node must be a softmax");
		goto fail;
	}
	{
		const struct nn_node *last = &g->nodes[count - 1];
		g->n_classes = last->c * last->h * last->w;
	}
	*out = g;
	return 0;
fail:
	nn_graph_free(g);
	return -1;
}

int nn_graph_parse(struct nn_graph **out, const char *json_text, struct dg_error *err)
{
	enum json_tokener_error jerr;
	struct json_object *desc = json_tokener_parse_verbose(json_text, &jerr);
	int rc;

	*out = NULL;
	if (!desc)
		return dg_fail(err, DG_ERR_FORMAT, "graph: invalid JSON: %s",
		               json_tokener_error_desc(jerr));
	rc = nn_graph_from_json(out, desc, err);
	json_object_put(desc);
	return rc;
}

struct json_object *nn_graph_to_json(const struct nn_graph *g)
{
	struct json_object *desc = json_object_new_object(), *nodes = json_object_new_array();

	json_object_object_add(desc, "name", json_object_new_string(g->name));
	for (int i = 0; i < g->n_nodes; i++) {
		const struct nn_node *n = &g->nodes[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(n->name));
		json_object_object_add(o, "op", json_object_new_string(nn_op_name(n->op)));
		if (n->n_inputs == 1) {
			json_object_object_add(o, "in",
			                       json_object_new_string(nn_input(g, n, 0)->name));
		} else if (n->n_inputs > 1) {
			struct json_object *in = json_object_new_array();
			for (int k = 0; k < n->n_inputs; k++)
				json_object_array_add(
				    in, json_object_new_string(nn_input(g, n, k)->name));
			json_object_object_add(o, "in", in);
		}
		if (nn_ops[n->op]->to_json)
			nn_ops[n->op]->to_json(n, o);
		json_object_array_add(nodes, o);
	}
	json_object_object_add(desc, "nodes", nodes);
	return desc;
}

/* Standard normal from two uniforms of a counter-based generator. */
static float normal(uint64_t seed, uint64_t i)
{
	double u1 = ((nn_hash64(seed, 2 * i) >> 11) + 1.0) / 9007199254740993.0;
	double u2 = (nn_hash64(seed, 2 * i + 1) >> 11) / 9007199254740992.0;

	return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

void nn_params_init(const struct nn_graph *g, float *params, uint64_t seed)
{
	for (int i = 0; i < g->n_nodes; i++) {
		struct nn_tensor t[NN_MAX_TENSORS];
		int count = nn_node_tensors(g, i, t);

		for (int k = 0; k < count; k++) {
			float *p = params + t[k].offset;

			if (!t[k].fan_in) {
				memset(p, 0, sizeof(float) * nn_tensor_slots(&t[k]));
				continue;
			}
			/* He et al. 2015: keeps activations' variance through ReLUs. */
			float scale = (float)sqrt(2.0 / (double)t[k].fan_in);
			for (size_t e = 0; e < t[k].count; e++)
				p[e] = scale * normal(nn_hash64(seed, (uint64_t)i), e);
		}
	}
}
