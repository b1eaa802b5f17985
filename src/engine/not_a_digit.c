/*
 * not_a_digit.c - the learned "not a digit" score (see not_a_digit.h).
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "not_a_digit.h"

#define SIDE     28 /* the engine's input is MNIST's 28x28 */
#define INK      0.35f
#define LOG_PMIN (-30.0) /* log-probabilities below this say nothing more */

int not_a_digit_node(const struct nn_graph *g)
{
	int i = g->n_nodes - 1;

	if (i < 1 || g->nodes[i].op != NN_SOFTMAX)
		return -1;
	i = g->nodes[i].inputs[0];
	if (g->nodes[i].op != NN_DENSE && g->nodes[i].op != NN_DENSE_Q8)
		return -1;
	i = g->nodes[i].inputs[0];
	while (g->nodes[i].op == NN_DROPOUT)
		i = g->nodes[i].inputs[0];
	/* An int8 node's bytes are read as floats with their recorded scale. */
	return nn_activation_readable(g, i) ? i : -1;
}

/* Flood the 8- (or 4-) connected region of seen == 0 pixels whose ink is
 * `ink` from p, marking them; returns its size and whether it touched the
 * border. */
static int flood(const float *px, unsigned char *seen, int p, bool ink, bool eight, bool *border)
{
	int stack[SIDE * SIDE], top = 0, size = 0;

	seen[p] = 1;
	stack[top++] = p;
	while (top) {
		int q = stack[--top], y = q / SIDE, x = q % SIDE;

		size++;
		if (y == 0 || x == 0 || y == SIDE - 1 || x == SIDE - 1)
			*border = true;
		for (int dy = -1; dy <= 1; dy++)
			for (int dx = -1; dx <= 1; dx++) {
				int ny = y + dy, nx = x + dx, r = ny * SIDE + nx;

				if ((!dy && !dx) || (!eight && dy && dx) || ny < 0 || nx < 0 ||
				    ny >= SIDE || nx >= SIDE || seen[r] || (px[r] > INK) != ink)
					continue;
				seen[r] = 1;
				stack[top++] = r;
			}
	}
	return size;
}

void not_a_digit_image_features(const float *px, double out[NOT_A_DIGIT_IMAGE_FEATURES])
{
	unsigned char seen[SIDE * SIDE] = {0};
	int pieces = 0, holes = 0, ink = 0, edge = 0;
	int x0 = SIDE, x1 = -1, y0 = SIDE, y1 = -1;
	double sum = 0;

	for (int p = 0; p < SIDE * SIDE; p++) {
		int y = p / SIDE, x = p % SIDE;
		bool border = false;

		sum += px[p];
		if (px[p] <= INK) {
			if (!seen[p] && flood(px, seen, p, false, false, &border) >= 2 && !border)
				holes++;
			continue;
		}
		ink++;
		x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
		y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
		if (x == 0 || y == 0 || x == SIDE - 1 || y == SIDE - 1 || px[p - 1] <= INK ||
		    px[p + 1] <= INK || px[p - SIDE] <= INK || px[p + SIDE] <= INK)
			edge++;
		if (!seen[p] && flood(px, seen, p, true, true, &border) >= 3)
			pieces++;
	}
	out[0] = sum / (SIDE * SIDE);
	out[1] = pieces < 6 ? pieces : 6;
	out[2] = holes < 4 ? holes : 4;
	/* Ink over its outline: about half the stroke's width in pixels. */
	out[3] = edge ? (double)ink / edge : 0;
	out[4] = ink ? log((x1 - x0 + 1.0) / (y1 - y0 + 1.0)) : 0;
}

void not_a_digit_features(const float *hidden, int n_hidden, const float *probs, int n_classes,
                          const float *pixels, double *out)
{
	double *sum = out + n_hidden + n_classes + NOT_A_DIGIT_IMAGE_FEATURES;
	double norm = 0, top = 0, active = 0, best = LOG_PMIN, entropy = 0;

	for (int i = 0; i < n_hidden; i++) {
		out[i] = hidden[i];
		norm += (double)hidden[i] * hidden[i];
		active += hidden[i] > 0;
		top = hidden[i] > top ? hidden[i] : top;
	}
	for (int c = 0; c < n_classes; c++) {
		double lp = probs[c] > 0 ? log(probs[c]) : LOG_PMIN;

		out[n_hidden + c] = lp > LOG_PMIN ? lp : LOG_PMIN;
		best = out[n_hidden + c] > best ? out[n_hidden + c] : best;
		entropy -= probs[c] > 0 ? probs[c] * lp : 0;
	}
	not_a_digit_image_features(pixels, out + n_hidden + n_classes);
	sum[0] = log1p(sqrt(norm));
	sum[1] = n_hidden ? active / n_hidden : 0;
	sum[2] = log1p(top);
	sum[3] = best;
	sum[4] = entropy;
}

double not_a_digit_apply(const struct not_a_digit_head *h, const double *f)
{
	double s = h->bias;

	for (int i = 0; i < h->n_features; i++)
		s += h->weight[i] * f[i];
	for (int u = 0; u < h->n_units; u++) {
		double a = h->unit_bias[u];

		for (int i = 0; i < h->n_features; i++)
			a += h->unit_weight[u][i] * f[i];
		s += a > 0 ? h->unit_out[u] * a : 0;
	}
	return s;
}

double not_a_digit_score(const struct not_a_digit_head *h, const float *hidden, const float *probs,
                         const float *pixels)
{
	double f[NOT_A_DIGIT_MAX_FEATURES];

	not_a_digit_features(hidden, h->n_hidden, probs, h->n_classes, pixels, f);
	return not_a_digit_apply(h, f);
}

int not_a_digit_read_finite(struct json_object *o, const char *block, const char *what, double *out,
                            struct dg_error *err)
{
	if (!o ||
	    !(json_object_is_type(o, json_type_double) || json_object_is_type(o, json_type_int)))
		return dg_fail(err, DG_ERR_FORMAT, "%s.%s: not a number", block, what);
	*out = json_object_get_double(o);
	if (!isfinite(*out) || fabs(*out) > 1e6)
		return dg_fail(err, DG_ERR_FORMAT, "%s.%s: %g is out of range", block, what, *out);
	return 0;
}

/* A number of this block (see not_a_digit_read_finite). */
static int read_finite(struct json_object *o, const char *what, double *out, struct dg_error *err)
{
	return not_a_digit_read_finite(o, "training.confidence.not_a_digit", what, out, err);
}

/* The number array o, which must hold n values, into out. */
static int read_array(struct json_object *o, const char *what, int n, double *out,
                      struct dg_error *err)
{
	if (!o || !json_object_is_type(o, json_type_array) ||
	    json_object_array_length(o) != (size_t)n)
		return dg_fail(err, DG_ERR_FORMAT,
		               "training.confidence.not_a_digit.%s: not an array of %d numbers",
		               what, n);
	for (int i = 0; i < n; i++)
		if (read_finite(json_object_array_get_idx(o, (size_t)i), what, &out[i], err) < 0)
			return -1;
	return 0;
}

/* The optional "units" member: an MLP head's hidden layer. */
static int units_from_json(struct json_object *block, struct not_a_digit_head *h,
                           struct dg_error *err)
{
	struct json_object *u, *b, *w;
	size_t n;

	h->n_units = 0;
	if (!json_object_object_get_ex(block, "units", &u))
		return 0;
	if (!json_object_is_type(u, json_type_object) ||
	    !json_object_object_get_ex(u, "bias", &b) || !json_object_is_type(b, json_type_array) ||
	    (n = json_object_array_length(b)) < 1 || n > NOT_A_DIGIT_MAX_UNITS)
		return dg_fail(err, DG_ERR_FORMAT,
		               "training.confidence.not_a_digit.units: not an object with a "
		               "\"bias\" of 1 to %d numbers",
		               NOT_A_DIGIT_MAX_UNITS);
	if (read_array(b, "units.bias", (int)n, h->unit_bias, err) < 0 ||
	    read_array(json_object_object_get(u, "out"), "units.out", (int)n, h->unit_out, err) < 0)
		return -1;
	w = json_object_object_get(u, "weights");
	if (!w || !json_object_is_type(w, json_type_array) ||
	    json_object_array_length(w) != n * (size_t)h->n_features)
		return dg_fail(err, DG_ERR_FORMAT,
		               "training.confidence.not_a_digit.units.weights: not an array of %zu "
		               "numbers (%zu units x %d features)",
		               n * (size_t)h->n_features, n, h->n_features);
	for (size_t k = 0; k < n; k++)
		for (int i = 0; i < h->n_features; i++) {
			double v;

			if (read_finite(
			        json_object_array_get_idx(w, k * (size_t)h->n_features + (size_t)i),
			        "units.weights", &v, err) < 0)
				return -1;
			h->unit_weight[k][i] = (float)v;
		}
	h->n_units = (int)n;
	return 0;
}

int not_a_digit_from_json(struct json_object *confidence, const struct nn_graph *g,
                          struct not_a_digit_head *h, struct dg_error *err)
{
	struct json_object *block, *node, *w;
	const struct nn_node *n;
	int want;
	size_t len;

	memset(h, 0, sizeof(*h));
	if (!confidence || !json_object_object_get_ex(confidence, "not_a_digit", &block))
		return 0;
	if (!json_object_is_type(block, json_type_object) ||
	    !json_object_object_get_ex(block, "node", &node) ||
	    !json_object_is_type(node, json_type_string))
		return dg_fail(err, DG_ERR_FORMAT,
		               "training.confidence.not_a_digit: not an object with a \"node\"");
	want = g ? not_a_digit_node(g) : -1;
	if (want < 0 || strcmp(json_object_get_string(node), g->nodes[want].name) != 0)
		return dg_fail(err, DG_ERR_FORMAT,
		               "training.confidence.not_a_digit.node: \"%s\", graph \"%s\" feeds "
		               "its logits from \"%s\"",
		               json_object_get_string(node), g ? g->name : "?",
		               want >= 0 ? g->nodes[want].name
		               : g && strcmp(nn_graph_precision(g), "int8") == 0
		                   ? "a layer with no recorded scale (quantise it again)"
		                   : "no dense layer");
	n = &g->nodes[want];
	h->node = want;
	h->n_hidden = n->c * n->h * n->w;
	h->n_classes = g->n_classes;
	h->n_features = h->n_hidden + h->n_classes + NOT_A_DIGIT_EXTRA_FEATURES;
	if (h->n_features > NOT_A_DIGIT_MAX_FEATURES)
		return dg_fail(err, DG_ERR_FORMAT,
		               "training.confidence.not_a_digit: %d features, at most %d",
		               h->n_features, NOT_A_DIGIT_MAX_FEATURES);
	if (!json_object_object_get_ex(block, "weights", &w) ||
	    !json_object_is_type(w, json_type_array) ||
	    (len = json_object_array_length(w)) != (size_t)h->n_features)
		return dg_fail(
		    err, DG_ERR_FORMAT,
		    "training.confidence.not_a_digit.weights: not an array of %d numbers "
		    "(%s has %d units, %d classes, %d more)",
		    h->n_features, n->name, h->n_hidden, h->n_classes, NOT_A_DIGIT_EXTRA_FEATURES);
	for (size_t i = 0; i < len; i++)
		if (read_finite(json_object_array_get_idx(w, i), "weights", &h->weight[i], err) < 0)
			return -1;
	if (read_finite(json_object_object_get(block, "bias"), "bias", &h->bias, err) < 0 ||
	    read_finite(json_object_object_get(block, "threshold"), "threshold", &h->threshold,
	                err) < 0 ||
	    units_from_json(block, h, err) < 0)
		return -1;
	h->fitted = true;
	return 0;
}

struct json_object *not_a_digit_to_json(const struct not_a_digit_head *h, const struct nn_graph *g)
{
	struct json_object *o = json_object_new_object(), *w = json_object_new_array();

	if (!o || !w) {
		json_object_put(o);
		json_object_put(w);
		return NULL;
	}
	for (int i = 0; i < h->n_features; i++)
		json_object_array_add(w, json_object_new_double(h->weight[i]));
	json_object_object_add(o, "node", json_object_new_string(g->nodes[h->node].name));
	json_object_object_add(o, "weights", w);
	json_object_object_add(o, "bias", json_object_new_double(h->bias));
	json_object_object_add(o, "threshold", json_object_new_double(h->threshold));
	if (h->n_units > 0) {
		struct json_object *u = json_object_new_object(), *uw = json_object_new_array();
		struct json_object *ub = json_object_new_array(), *uo = json_object_new_array();

		if (!u || !uw || !ub || !uo) {
			json_object_put(u), json_object_put(uw), json_object_put(ub);
			json_object_put(uo), json_object_put(o);
			return NULL;
		}
		for (int k = 0; k < h->n_units; k++) {
			/* Floats: 9 digits give the same float back, at half the
			 * text of a double's 17. */
			for (int i = 0; i < h->n_features; i++) {
				char text[32];

				snprintf(text, sizeof(text), "%.9g", (double)h->unit_weight[k][i]);
				json_object_array_add(
				    uw, json_object_new_double_s(h->unit_weight[k][i], text));
			}
			json_object_array_add(ub, json_object_new_double(h->unit_bias[k]));
			json_object_array_add(uo, json_object_new_double(h->unit_out[k]));
		}
		json_object_object_add(u, "weights", uw);
		json_object_object_add(u, "bias", ub);
		json_object_object_add(u, "out", uo);
		json_object_object_add(o, "units", u);
	}
	return o;
}
