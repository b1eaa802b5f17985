/*
 * nondigit_head.h - fitting the learned "not a digit" score
 * (engine/not_a_digit.h) of a trained model.
 *
 * A logistic regression on the standardised features of digits
 * (label 0) and generated non-digits (label 1), the two classes weighted
 * equally whatever their counts, with a small L2 penalty, by full-batch
 * Adam from zero: deterministic, a few seconds on one core.  The
 * standardisation is folded into the stored weights, so the engine
 * computes one dot product.
 */
#ifndef TRAIN_NONDIGIT_HEAD_H
#define TRAIN_NONDIGIT_HEAD_H

#include <stdint.h>

#include "digits.h"
#include "engine/not_a_digit.h"

#define NONDIGIT_HEAD_STEPS 600
#define NONDIGIT_HEAD_L2    1e-3
/* Then the MLP stage: this many relu units (0: none, a logistic
 * regression), trained with the linear part for NONDIGIT_HEAD_UNIT_STEPS
 * more full-batch Adam steps. */
#ifndef NONDIGIT_HEAD_UNITS
#define NONDIGIT_HEAD_UNITS 16
#endif
#ifndef NONDIGIT_HEAD_UNIT_STEPS
#define NONDIGIT_HEAD_UNIT_STEPS 600
#endif
#define NONDIGIT_HEAD_UNIT_RATE 0.01

/* The features of n images: n x h->n_features doubles into *out
 * (malloc'ed, the caller frees), from their probabilities (n x
 * h->n_classes), activations (n x h->n_hidden) and pixels. */
int nondigit_head_features(const struct not_a_digit_head *h, const float *probs,
                           const float *hidden, const float *pixels, int n, double **out,
                           struct dg_error *err);

/* Fit h's weight and bias (h->n_features set) on n rows of features x
 * with labels y (1: not a digit).  The threshold is left to the caller. */
int nondigit_head_fit(struct not_a_digit_head *h, const double *x, const uint8_t *y, int n,
                      struct dg_error *err);

/* The head's score of row i of x. */
double nondigit_head_score(const struct not_a_digit_head *h, const double *x, int i);

#endif
