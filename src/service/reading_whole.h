/*
 * reading_whole.h - the reader's learned "this piece is one whole digit"
 * score, kept in the model file's header beside the confidence.
 *
 * A logistic regression over the features of a candidate piece of a
 * number: what the not-a-digit head reads of its 28x28 picture (the
 * activations of the layer feeding the logits, the log-probabilities, the
 * image measures and summaries: not_a_digit_features), then its shape
 * (image_read_piece.shape, hinges on width, height and aspect, width per
 * likely digit).  It reads that network's hidden layer, so it belongs to
 * one model file's weights: digits-train --fit-reading fits it on the
 * candidate pieces of numbers made of MNIST *training* digits, then
 * refits it for the segmentation the reader picks with it (train/read_fit.h),
 * and writes it into the file's header as
 *
 *   training.reading = {"whole_digit": {"node": "relu_fc2",
 *                       "weights": [n numbers], "bias": b},
 *                       "fitted_on": {...what and how well}}
 *
 * (the features' standardisation folded into the weights; "node" is the
 * layer it reads, the not-a-digit head's).  A model file without the
 * block reads numbers with the not-a-digit head's score and hand-set
 * priors instead; a retrained network's file has no block until it is
 * refitted, since the trainer writes a fresh "training" object.  A block
 * whose node is not the layer the not-a-digit head reads, whose weight
 * count is not that layer's features, or that holds a value that is not
 * a finite number, is refused when the model loads.
 */
#ifndef READING_WHOLE_H
#define READING_WHOLE_H

#include <stdbool.h>

#include "digits.h"
#include "engine/confidence.h"
#include "image/image_read.h"

/* Where the width / H and width / height hinges bend. */
#define READING_HINGES 7
/* The shape features after the not-a-digit head's: the reader's shape,
 * three hinged measures per hinge, width and its square per class. */
#define READING_SHAPE_FEATURES (IMAGE_READ_SHAPE + 3 * READING_HINGES + 20)
#define READING_MAX_FEATURES   (NOT_A_DIGIT_MAX_FEATURES + READING_SHAPE_FEATURES)
/* What the reader adds per piece beside its digit's log-probability:
 * READING_WHOLE_WEIGHT times the score (clamped to +-READING_WHOLE_CLAMP)
 * plus READING_WHOLE_BONUS (see reading.c); the fit trains the score for
 * that sum, so they are shared. */
#define READING_WHOLE_WEIGHT 1.0
#define READING_WHOLE_BONUS  3.0
#define READING_WHOLE_CLAMP  30.0

struct reading_whole {
	bool fitted; /* false: the model file has no training.reading */
	int node;    /* graph node whose activations are read (the head's) */
	int n_features;
	double bias;
	double weight[READING_MAX_FEATURES];
};

/* How many features a score over the layer head reads has (head fitted). */
int reading_whole_n_features(const struct not_a_digit_head *head);

/* The features of one piece into out (reading_whole_n_features(head)
 * of them): the layer's activations hidden (head->n_hidden), the piece's
 * probabilities (head->n_classes), its picture and its shape. */
void reading_whole_features(const struct not_a_digit_head *head, const float *hidden,
                            const float *probs, const float *pixels,
                            const struct image_read_piece *piece, double *out);

/* The score's log-odds that the piece is one whole digit (w fitted). */
double reading_whole_score(const struct reading_whole *w, const double *features);

/* Read training.reading (training may be NULL; no member: w->fitted =
 * false and 0) of a model with graph g whose confidence is cp: it needs
 * cp's not-a-digit head, whose layer it reads.  Fails naming the member
 * and the problem (the caller adds the file name). */
int reading_whole_from_training(struct json_object *training, const struct nn_graph *g,
                                const struct confidence_params *cp, struct reading_whole *w,
                                struct dg_error *err);

/* The "whole_digit" object for graph g, or NULL (no memory). */
struct json_object *reading_whole_to_json(const struct reading_whole *w, const struct nn_graph *g);

#endif
