/*
 * quantize.c - digits-train --quantize (method in quantize.h).
 *
 * Three passes over the float graph: calibrate (the largest value of every
 * activation over the calibration images), scales (which requantising node
 * each byte tensor comes from, concat inputs brought to one scale), then
 * emit the int8 description and fill its tensors from the float weights.
 */
#include "quantize.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/nn.h"
#include "engine/nn_q8.h"
#include "idx.h"
#include "train.h"

#define Q_LEVELS  127 /* bytes are 0..127 (see engine/nn_q8.c) */
#define CAL_BATCH 100

struct qstate {
	const struct nn_graph *g;
	const float *params;
	double *amax;  /* per float node: its largest activation, calibrated */
	int *src;      /* per float node: the node whose scale its bytes carry */
	double *scale; /* per source node: the value of one level */
	int *relu;     /* per conv2d / dense: its relu consumer, or -1 */
	int zero;      /* the quantize node's zero level */
};

static size_t node_size(const struct nn_node *n)
{
	return (size_t)n->c * n->h * n->w;
}

/* The node's only consumer if it is a relu, else -1. */
static int sole_relu(const struct nn_graph *g, int i)
{
	int found = -1, count = 0;

	for (int j = i + 1; j < g->n_nodes; j++)
		for (int k = 0; k < g->nodes[j].n_inputs; k++)
			if (g->nodes[j].inputs[k] == i)
				count++, found = j;
	return count == 1 && g->nodes[found].op == NN_RELU ? found : -1;
}

/* The largest value of every activation over the first n training images. */
static int calibrate(struct qstate *q, const struct idx_set *train, int n, struct dg_error *err)
{
	const struct nn_graph *g = q->g;
	struct nn_workspace *ws;
	float *pix = malloc(sizeof(float) * CAL_BATCH * node_size(&g->nodes[0]));
	const size_t side = (size_t)train->rows * train->cols;

	if (!pix)
		return dg_fail(err, DG_ERR_NOMEM, "quantize: out of memory");
	if (nn_workspace_create(&ws, g, CAL_BATCH, false, err)) {
		free(pix);
		return -1;
	}
	for (int b0 = 0; b0 < n; b0 += CAL_BATCH) {
		const int nb = n - b0 < CAL_BATCH ? n - b0 : CAL_BATCH;

		for (size_t i = 0; i < (size_t)nb * side; i++)
			pix[i] = train->pixels[(size_t)b0 * side + i] / 255.0f;
		nn_forward(g, q->params, ws, pix, nb);
		for (int i = 0; i < g->n_nodes; i++) {
			const float *a = nn_activation(ws, i);

			for (size_t e = 0; e < (size_t)nb * node_size(&g->nodes[i]); e++)
				q->amax[i] = fmax(q->amax[i], a[e]);
		}
	}
	nn_workspace_free(ws);
	free(pix);
	return 0;
}

/* Which node's scale each node's bytes carry; concat inputs share one. */
static int plan_scales(struct qstate *q, struct dg_error *err)
{
	const struct nn_graph *g = q->g;

	for (int i = 0; i < g->n_nodes; i++) {
		const struct nn_node *n = &g->nodes[i];
		const int in = n->n_inputs ? n->inputs[0] : -1;

		q->relu[i] = -1;
		switch (n->op) {
		case NN_INPUT:
			q->src[i] = i;
			/* Normalised pixels (x - mean) / std for x in 0..1 map to
			 * levels round(127 x) - zero. */
			q->scale[i] = 1.0 / (Q_LEVELS * (double)n->std);
			q->zero = (int)lrint(Q_LEVELS * (double)n->mean);
			if (q->zero < 0 || q->zero > Q_LEVELS)
				return dg_fail(err, DG_ERR_UNSUPPORTED,
				               "%s: input mean %g puts pixels outside 0..127",
				               g->name, (double)n->mean);
			break;
		case NN_CONV2D:
		case NN_DENSE:
			q->src[i] = i;
			q->relu[i] = sole_relu(g, i);
			if (q->relu[i] < 0 && !(n->op == NN_DENSE && i + 2 == g->n_nodes))
				return dg_fail(
				    err, DG_ERR_UNSUPPORTED,
				    "%s: node \"%s\" is not followed by its own relu (and "
				    "is not the logits)",
				    g->name, n->name);
			q->scale[i] =
			    fmax(q->relu[i] >= 0 ? q->amax[q->relu[i]] : 0, 1e-6) / Q_LEVELS;
			break;
		case NN_RELU:
			if (g->nodes[in].op != NN_CONV2D && g->nodes[in].op != NN_DENSE)
				return dg_fail(err, DG_ERR_UNSUPPORTED,
				               "%s: relu \"%s\" does not follow a conv2d or dense",
				               g->name, n->name);
			/* fall through */
		case NN_MAXPOOL:
		case NN_DROPOUT:
		case NN_SOFTMAX:
			q->src[i] = q->src[in];
			break;
		case NN_CONCAT: {
			double s = 0;

			for (int k = 0; k < n->n_inputs; k++)
				s = fmax(s, q->scale[q->src[n->inputs[k]]]);
			for (int k = 0; k < n->n_inputs; k++)
				q->scale[q->src[n->inputs[k]]] = s;
			q->src[i] = q->src[in];
			break;
		}
		default:
			return dg_fail(err, DG_ERR_UNSUPPORTED, "%s: node \"%s\" (%s) is not float",
			               g->name, n->name, nn_op_name(n->op));
		}
	}
	return 0;
}

/* The int8 node that holds node i's value: relu and dropout have none of
 * their own, the input's bytes are "quant"'s. */
static const char *q8_name(const struct qstate *q, int i)
{
	const struct nn_node *n = &q->g->nodes[i];

	if (n->op == NN_RELU || n->op == NN_DROPOUT)
		return q8_name(q, n->inputs[0]);
	return i == 0 ? "quant" : n->name;
}

static void add_int(struct json_object *o, const char *k, int v)
{
	json_object_object_add(o, k, json_object_new_int(v));
}

/* The int8 graph's description. */
static struct json_object *describe(const struct qstate *q, const char *name)
{
	const struct nn_graph *g = q->g;
	struct json_object *fdesc = nn_graph_to_json(g), *fnodes, *desc = json_object_new_object();
	struct json_object *nodes = json_object_new_array();

	json_object_object_get_ex(fdesc, "nodes", &fnodes);
	json_object_object_add(desc, "name", json_object_new_string(name));
	for (int i = 0; i < g->n_nodes; i++) {
		const struct nn_node *n = &g->nodes[i];
		struct json_object *o = json_object_new_object();
		const char *op = NULL;

		switch (n->op) {
		case NN_INPUT:
			json_object_array_add(
			    nodes, json_object_get(json_object_array_get_idx(fnodes, 0)));
			json_object_object_add(o, "name", json_object_new_string("quant"));
			json_object_object_add(o, "op", json_object_new_string("quantize"));
			json_object_object_add(o, "in", json_object_new_string(n->name));
			json_object_object_add(o, "scale", json_object_new_double(q->scale[0]));
			add_int(o, "zero", q->zero);
			json_object_array_add(nodes, o);
			continue;
		case NN_CONV2D:
			op = "conv2d_q8";
			add_int(o, "filters", n->units);
			add_int(o, "kernel", n->kernel);
			add_int(o, "stride", n->stride);
			add_int(o, "pad", n->pad);
			add_int(o, "zero", q->src[n->inputs[0]] == 0 ? q->zero : 0);
			json_object_object_add(o, "layout", json_object_new_string("hwc"));
			/* One output level's value: what reads its bytes as floats
			 * (the not-a-digit head) needs. */
			json_object_object_add(o, "scale", json_object_new_double(q->scale[i]));
			break;
		case NN_DENSE:
			op = "dense_q8";
			add_int(o, "units", n->units);
			add_int(o, "zero", q->src[n->inputs[0]] == 0 ? q->zero : 0);
			json_object_object_add(o, "relu", json_object_new_boolean(q->relu[i] >= 0));
			if (q->relu[i] >= 0)
				json_object_object_add(o, "scale",
				                       json_object_new_double(q->scale[i]));
			break;
		case NN_MAXPOOL:
			op = "maxpool_q8";
			add_int(o, "kernel", n->kernel);
			add_int(o, "stride", n->stride);
			break;
		case NN_CONCAT:
			op = "concat_q8";
			break;
		case NN_SOFTMAX:
			op = "softmax";
			break;
		default: /* relu, dropout: nothing of their own */
			json_object_put(o);
			continue;
		}
		json_object_object_add(o, "name", json_object_new_string(n->name));
		json_object_object_add(o, "op", json_object_new_string(op));
		if (n->n_inputs == 1) {
			json_object_object_add(o, "in",
			                       json_object_new_string(q8_name(q, n->inputs[0])));
		} else {
			struct json_object *in = json_object_new_array();

			for (int k = 0; k < n->n_inputs; k++)
				json_object_array_add(
				    in, json_object_new_string(q8_name(q, n->inputs[k])));
			json_object_object_add(o, "in", in);
		}
		json_object_array_add(nodes, o);
	}
	json_object_object_add(desc, "nodes", nodes);
	json_object_put(fdesc);
	return desc;
}

/* m * 2^-shift = real, m in [2^30, 2^31). */
static int fixed_point(double real, int32_t *m, int32_t *shift)
{
	int e;
	double f = frexp(real, &e);
	long long mm = llrint(ldexp(f, 31));

	if (mm == 1LL << 31)
		mm >>= 1, e++;
	*m = (int32_t)mm;
	*shift = 31 - e;
	return *shift >= 1 && *shift <= 62 ? 0 : -1;
}

/* Fill int8 node j (conv2d_q8 or dense_q8) from float node i. */
static int fill_layer(const struct qstate *q, const struct nn_graph *g8, int j, int i, float *p8,
                      struct dg_error *err)
{
	const struct nn_node *n = &q->g->nodes[i], *n8 = &g8->nodes[j];
	struct nn_tensor t[NN_MAX_TENSORS];
	const int count = nn_node_tensors(g8, j, t);
	const int kd = (int)(n->n_weight / n->units), OC = n->units;
	const float *w = q->params + n->weight, *bias = q->params + n->bias;
	const double s_in = q->scale[q->src[n->inputs[0]]];
	int8_t *w8 = (int8_t *)(p8 + t[0].offset);
	int32_t *b8 = (int32_t *)(p8 + t[1].offset);
	float *sc = p8 + t[2].offset;

	for (int o = 0; o < OC; o++) {
		/* conv2d [OC][C*K*K]; dense [in][out] */
#define W(o, k) (n->op == NN_CONV2D ? w[(size_t)(o)*kd + (k)] : w[(size_t)(k)*OC + (o)])
		double wmax = 0, real;
		long long sum = 0, b;

		for (int k = 0; k < kd; k++)
			wmax = fmax(wmax, fabs(W(o, k)));
		const double s_w = wmax > 0 ? wmax / Q_LEVELS : 1.0;
		for (int k = 0; k < kd; k++) {
			long v = lrint(W(o, k) / s_w);

			v = v > Q_LEVELS ? Q_LEVELS : v < -Q_LEVELS ? -Q_LEVELS : v;
			w8[nn_q8_weight_at(g8, n8, k, o)] = (int8_t)v;
			sum += v;
		}
#undef W
		b = llrint(bias[o] / (s_in * s_w)) - (long long)n8->zero * sum;
		if (llabs(b) > 1LL << 30)
			return dg_fail(err, DG_ERR_UNSUPPORTED,
			               "%s: bias %d of \"%s\" is %lld levels, beyond 2^30",
			               g8->name, o, n->name, b);
		b8[o] = (int32_t)b;
		real = count == 5 ? s_in * s_w / q->scale[i] : s_in * s_w;
		sc[o] = (float)real;
		if (count == 5) {
			int32_t *m = (int32_t *)(p8 + t[3].offset),
			        *sh = (int32_t *)(p8 + t[4].offset);

			/* The integers from the float the file keeps, so they agree. */
			if (fixed_point(sc[o], &m[o], &sh[o]))
				return dg_fail(err, DG_ERR_UNSUPPORTED,
				               "%s: \"%s\" output %d rescales by %g, out of range",
				               g8->name, n->name, o, real);
		}
	}
	return 0;
}

static int build(const struct qstate *q, const char *name, struct nn_graph **g8, float **p8,
                 struct dg_error *err)
{
	struct json_object *desc = describe(q, name);
	int rc = nn_graph_from_json(g8, desc, err);

	json_object_put(desc);
	if (rc)
		return -1;
	*p8 = calloc((*g8)->n_params ? (*g8)->n_params : 1, sizeof(float));
	if (!*p8)
		return dg_fail(err, DG_ERR_NOMEM, "quantize: out of memory");
	for (int i = 0; i < q->g->n_nodes; i++) {
		const struct nn_node *n = &q->g->nodes[i];

		if (n->op == NN_CONV2D || n->op == NN_DENSE) {
			if (fill_layer(q, *g8, nn_graph_find(*g8, n->name), i, *p8, err))
				return -1;
		}
	}
	return 0;
}

/* The float model's training record, with what quantisation changed. */
static struct json_object *training_record(const struct model *m, const char *in_path,
                                           const struct quantize_report *rep,
                                           const struct train_eval *ev)
{
	struct json_object *t = NULL, *qz = json_object_new_object(), *conf, *row;

	if (m->training)
		json_object_deep_copy(m->training, &t, NULL);
	if (!t)
		t = json_object_new_object();
	/* Fitted to the float logits: digits-train --fit-confidence refits. */
	json_object_object_del(t, "confidence");
	/* Read from the float network's hidden layer: --fit-reading refits. */
	json_object_object_del(t, "reading");
	json_object_object_add(t, "test_accuracy",
	                       json_object_new_double((double)ev->correct / ev->n));
	json_object_object_add(t, "test_correct", json_object_new_int(ev->correct));
	json_object_object_add(t, "test_loss", json_object_new_double(ev->loss));
	conf = json_object_new_array();
	for (int r = 0; r < TRAIN_CLASSES; r++) {
		row = json_object_new_array();
		for (int c = 0; c < TRAIN_CLASSES; c++)
			json_object_array_add(row, json_object_new_int(ev->confusion[r][c]));
		json_object_array_add(conf, row);
	}
	json_object_object_add(t, "confusion", conf);
	json_object_object_add(qz, "method", json_object_new_string("post-training int8"));
	json_object_object_add(qz, "from", json_object_new_string(in_path));
	json_object_object_add(qz, "from_test_correct", json_object_new_int(rep->float_correct));
	json_object_object_add(qz, "calibration",
	                       json_object_new_string("first images of the MNIST training set"));
	json_object_object_add(qz, "calibration_images", json_object_new_int(rep->n_calibrate));
	json_object_object_add(t, "quantization", qz);
	return t;
}

int quantize_model_file(const char *in_path, const char *out_path, const char *data_dir,
                        int n_calibrate, struct quantize_report *rep, struct dg_error *err)
{
	struct model *m = NULL;
	struct idx_set train = {0}, test = {0};
	struct qstate q = {0};
	struct nn_graph *g8 = NULL;
	float *p8 = NULL;
	struct json_object *record = NULL;
	struct train_eval ev_f, ev_q;
	char name[NN_NAME_MAX];
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (model_load(&m, in_path, err))
		return -1;
	if (strcmp(nn_graph_precision(m->graph), "float32")) {
		dg_fail(err, DG_ERR_INVALID, "%s: already int8", in_path);
		goto out;
	}
	if (strlen(model_name(m)) + 6 > sizeof(name)) {
		dg_fail(err, DG_ERR_INVALID, "%s: name \"%s\" too long for \"-int8\"", in_path,
		        model_name(m));
		goto out;
	}
	snprintf(name, sizeof(name), "%s-int8", model_name(m));
	if (idx_load_mnist(&train, data_dir, "train", err) ||
	    idx_load_mnist(&test, data_dir, "t10k", err))
		goto out;
	if (n_calibrate < 1 || n_calibrate > train.n) {
		dg_fail(err, DG_ERR_INVALID, "--calibrate %d: the training set has 1..%d images",
		        n_calibrate, train.n);
		goto out;
	}
	q.g = m->graph;
	q.params = m->params;
	q.amax = calloc(m->graph->n_nodes, sizeof(double));
	q.scale = calloc(m->graph->n_nodes, sizeof(double));
	q.src = calloc(m->graph->n_nodes, sizeof(int));
	q.relu = calloc(m->graph->n_nodes, sizeof(int));
	if (!q.amax || !q.scale || !q.src || !q.relu) {
		dg_fail(err, DG_ERR_NOMEM, "quantize: out of memory");
		goto out;
	}
	double t0 = dg_seconds();
	if (calibrate(&q, &train, n_calibrate, err) || plan_scales(&q, err) ||
	    build(&q, name, &g8, &p8, err))
		goto out;
	rep->seconds = dg_seconds() - t0;
	rep->n_calibrate = n_calibrate;
	if (train_evaluate(m->graph, m->params, test.pixels, test.labels, test.n, &ev_f, err) ||
	    train_evaluate(g8, p8, test.pixels, test.labels, test.n, &ev_q, err))
		goto out;
	rep->n_test = test.n;
	rep->float_correct = ev_f.correct;
	rep->int8_correct = ev_q.correct;
	record = training_record(m, in_path, rep, &ev_q);
	rc = model_save(out_path, g8, p8, record, err);
out:
	json_object_put(record);
	free(q.amax);
	free(q.scale);
	free(q.src);
	free(q.relu);
	free(p8);
	nn_graph_free(g8);
	idx_free(&train);
	idx_free(&test);
	model_free(m);
	return rc;
}
