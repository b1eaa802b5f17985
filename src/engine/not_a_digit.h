/*
 * not_a_digit.h - a learned "not a digit" score, beside the network.
 *
 * A threshold on the top probability misses most non-digits: a letter or a
 * square looks enough like some digit to get a confident answer.  What the
 * network's last hidden layer makes of a picture says more, so a logistic
 * regression fitted after training (digits-train --fit-confidence) reads
 *
 *   - the activations of the layer that feeds the logits (fc2's 128 for
 *     cnn, f6's 84 for lenet5, fc2's 256 for mlp), as the served forward
 *     pass left them: no second pass, the weights and the answer unchanged;
 *     an int8 model's bytes are read as floats, level * q, with the scale
 *     --quantize records on the layer (nn_activation_floats), so its head
 *     sees what a float head would;
 *   - the n_classes log-probabilities;
 *   - NOT_A_DIGIT_IMAGE_FEATURES cheap measures of the 28x28 input (ink,
 *     pieces, holes, stroke width, the ink's width over its height),
 *   - NOT_A_DIGIT_SUMMARIES of the above a linear score cannot form,
 *
 * and gives score = weight . features + bias (the log-odds of "not a
 * digit"; the features' standardisation is folded into the weights), plus,
 * when the head has n_units hidden units (a one-hidden-layer MLP beside
 * the linear part: the linear score misses shapes and scribbles with the
 * smaller lenet5 and mlp), sum_u out[u] * relu(unit_weight[u] . features +
 * unit_bias[u]).  A picture scoring above threshold is "not_a_digit".
 * The head is fitted on held-out training digits against the generator's
 * seed-1 non-digits, its threshold on the validation digits
 * (train/nondigit_head.c).
 *
 * It lives in the model file's header, training.confidence.not_a_digit:
 * {"node": "relu_fc2", "weights": [...], "bias": b, "threshold": t} and,
 * with units, "units": {"weights": [n_units x n_features, unit by unit],
 * "bias": [n_units], "out": [n_units]}.  Without the block a model still
 * loads and just does not use it; without "units" the head is linear.
 */
#ifndef NOT_A_DIGIT_H
#define NOT_A_DIGIT_H

#include <stdbool.h>

#include "digits.h"
#include "engine/nn.h"

#define NOT_A_DIGIT_IMAGE_FEATURES 5
/* Summaries a linear score cannot form itself: the activations' length,
 * share active and largest, the top log-probability and the entropy. */
#define NOT_A_DIGIT_SUMMARIES      5
#define NOT_A_DIGIT_EXTRA_FEATURES (NOT_A_DIGIT_IMAGE_FEATURES + NOT_A_DIGIT_SUMMARIES)
/* Hidden units + classes + image features, at most: mlp's 256 + 10 + 5
 * fits; a head over a wider layer is refused when the file is read. */
#define NOT_A_DIGIT_MAX_FEATURES 576
/* Hidden units of an MLP head, at most. */
#define NOT_A_DIGIT_MAX_UNITS 16

struct not_a_digit_head {
	bool fitted;
	int node;     /* graph node whose activations are read */
	int n_hidden; /* its c*h*w */
	int n_classes;
	int n_features; /* n_hidden + n_classes + NOT_A_DIGIT_EXTRA_FEATURES */
	double weight[NOT_A_DIGIT_MAX_FEATURES];
	double bias, threshold;
	int n_units; /* 0: a logistic regression */
	float unit_weight[NOT_A_DIGIT_MAX_UNITS][NOT_A_DIGIT_MAX_FEATURES];
	double unit_bias[NOT_A_DIGIT_MAX_UNITS], unit_out[NOT_A_DIGIT_MAX_UNITS];
};

/* The node feeding the graph's last dense (or dense_q8) layer (through
 * dropouts, which are their input at inference), or -1 if the graph does
 * not end in dense -> softmax or the node is int8 with no recorded scale
 * (nn_activation_readable). */
int not_a_digit_node(const struct nn_graph *g);

/* The image features of one 28x28 input (IMAGE_PIXELS floats in [0,1]). */
void not_a_digit_image_features(const float *pixels, double out[NOT_A_DIGIT_IMAGE_FEATURES]);

/* All n_hidden + n_classes + NOT_A_DIGIT_EXTRA_FEATURES features of one
 * image, in the order the weights are stored. */
void not_a_digit_features(const float *hidden, int n_hidden, const float *probs, int n_classes,
                          const float *pixels, double *out);

/* The head's log-odds for features f (h->n_features of them). */
double not_a_digit_apply(const struct not_a_digit_head *h, const double *f);

/* The head's log-odds for one image (h fitted). */
double not_a_digit_score(const struct not_a_digit_head *h, const float *hidden, const float *probs,
                         const float *pixels);

/* Read the "not_a_digit" member of a confidence block (which may lack
 * it: h->fitted = false and 0) for graph g.  A node g does not have, a
 * weight count that does not match it, or a value that is not a finite
 * number fails, naming what. */
int not_a_digit_from_json(struct json_object *confidence, const struct nn_graph *g,
                          struct not_a_digit_head *h, struct dg_error *err);

/* A header number at block.what (o may be NULL: missing), into *out:
 * finite and within +-1e6, or fails naming block.what.  Shared with the
 * number reader's block (src/service/reading_whole.c). */
int not_a_digit_read_finite(struct json_object *o, const char *block, const char *what, double *out,
                            struct dg_error *err);

/* The block as JSON for graph g, or NULL (no memory). */
struct json_object *not_a_digit_to_json(const struct not_a_digit_head *h, const struct nn_graph *g);

#endif
