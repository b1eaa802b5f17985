/*
 * reading_whole.c - the "one whole digit" score's features, and its block
 * in the model file's header (see reading_whole.h).
 */
#include "reading_whole.h"

#include <json-c/json.h>
#include <math.h>
#include <string.h>

static const double hinge[READING_HINGES] = {0.3, 0.45, 0.6, 0.75, 0.9, 1.05, 1.2};

int reading_whole_n_features(const struct not_a_digit_head *head)
{
	return head->n_hidden + head->n_classes + NOT_A_DIGIT_EXTRA_FEATURES +
	       READING_SHAPE_FEATURES;
}

void reading_whole_features(const struct not_a_digit_head *head, const float *hidden,
                            const float *probs, const float *pixels,
                            const struct image_read_piece *piece, double *out)
{
	not_a_digit_features(hidden, head->n_hidden, probs, head->n_classes, pixels, out);
	out += head->n_hidden + head->n_classes + NOT_A_DIGIT_EXTRA_FEATURES;
	for (int i = 0; i < IMAGE_READ_SHAPE; i++)
		out[i] = piece->shape[i];
	out += IMAGE_READ_SHAPE;
	/* A digit is neither a sliver nor as wide as two, nor a scrap
	 * lower than the line: hinges make the score of width, aspect and
	 * height piecewise linear, not a slope. */
	for (int i = 0; i < READING_HINGES; i++) {
		out[3 * i] = fmax(0, piece->shape[0] - hinge[i]);
		out[3 * i + 1] = fmax(0, piece->shape[2] - hinge[i]);
		out[3 * i + 2] = fmax(0, piece->shape[1] - hinge[i]);
	}
	out += 3 * READING_HINGES;
	/* How wide a digit is depends on the digit (a 1, a 0): width and
	 * its square per class, weighted by the class's probability. */
	for (int c = 0; c < 10; c++) {
		out[2 * c] = c < head->n_classes ? probs[c] * piece->shape[0] : 0;
		out[2 * c + 1] = c < head->n_classes ? probs[c] * piece->shape[3] : 0;
	}
}

double reading_whole_score(const struct reading_whole *w, const double *features)
{
	double z = w->bias;

	for (int i = 0; i < w->n_features; i++)
		z += w->weight[i] * features[i];
	return z;
}

/* A number of this block (see not_a_digit_read_finite). */
static int read_finite(struct json_object *o, const char *what, double *out, struct dg_error *err)
{
	return not_a_digit_read_finite(o, "training.reading.whole_digit", what, out, err);
}

int reading_whole_from_training(struct json_object *training, const struct nn_graph *g,
                                const struct confidence_params *cp, struct reading_whole *w,
                                struct dg_error *err)
{
	struct json_object *reading, *block, *node, *weights;
	const struct not_a_digit_head *head = &cp->head;
	size_t len;

	memset(w, 0, sizeof(*w));
	if (!training || !json_object_object_get_ex(training, "reading", &reading))
		return 0;
	if (!json_object_is_type(reading, json_type_object) ||
	    !json_object_object_get_ex(reading, "whole_digit", &block) ||
	    !json_object_is_type(block, json_type_object))
		return dg_fail(err, DG_ERR_FORMAT,
		               "training.reading: not an object with a \"whole_digit\" object");
	if (!cp->fitted || !head->fitted)
		return dg_fail(err, DG_ERR_FORMAT,
		               "training.reading: needs training.confidence.not_a_digit, whose "
		               "layer it reads");
	if (!json_object_object_get_ex(block, "node", &node) ||
	    !json_object_is_type(node, json_type_string) ||
	    strcmp(json_object_get_string(node), g->nodes[head->node].name) != 0)
		return dg_fail(err, DG_ERR_FORMAT,
		               "training.reading.whole_digit.node: not \"%s\", the layer the "
		               "not-a-digit head reads",
		               g->nodes[head->node].name);
	w->node = head->node;
	w->n_features = reading_whole_n_features(head);
	if (!json_object_object_get_ex(block, "weights", &weights) ||
	    !json_object_is_type(weights, json_type_array) ||
	    (len = json_object_array_length(weights)) != (size_t)w->n_features)
		return dg_fail(err, DG_ERR_FORMAT,
		               "training.reading.whole_digit.weights: not an array of %d numbers "
		               "(%s has %d units, %d classes, %d more)",
		               w->n_features, g->nodes[head->node].name, head->n_hidden,
		               head->n_classes,
		               NOT_A_DIGIT_EXTRA_FEATURES + READING_SHAPE_FEATURES);
	for (size_t i = 0; i < len; i++)
		if (read_finite(json_object_array_get_idx(weights, i), "weights", &w->weight[i],
		                err) < 0)
			return -1;
	if (read_finite(json_object_object_get(block, "bias"), "bias", &w->bias, err) < 0)
		return -1;
	w->fitted = true;
	return 0;
}

struct json_object *reading_whole_to_json(const struct reading_whole *w, const struct nn_graph *g)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();

	if (!o || !a) {
		json_object_put(o);
		json_object_put(a);
		return NULL;
	}
	for (int i = 0; i < w->n_features; i++)
		json_object_array_add(a, json_object_new_double(w->weight[i]));
	json_object_object_add(o, "node", json_object_new_string(g->nodes[w->node].name));
	json_object_object_add(o, "weights", a);
	json_object_object_add(o, "bias", json_object_new_double(w->bias));
	return o;
}
