/*
 * calibrate.h - digits-train --fit-confidence: the temperature, the
 * "not_a_digit" threshold and the "ambiguous" margin of a trained model,
 * written into its file's header (training.confidence); the weights are
 * not touched, so its accuracy is what it was.
 *
 *   temperature  the minimum of the mean negative log-likelihood of the
 *                held-out validation images (the last validation_images of
 *                MNIST's training set, never the test set), found by a
 *                golden-section search over log T.
 *   margin       the widest gap between the top two calibrated
 *                probabilities that flags at most CALIBRATE_AMBIGUOUS_SHARE
 *                of the validation digits.
 *   reject_below the calibrated top probability under which at most
 *                CALIBRATE_FLAG_SHARE of the validation digits are flagged
 *                in all (ambiguous ones included); how many of the fitting
 *                seed's non-digits it catches is reported alongside.
 *   not_a_digit  when the graph ends in dense (or int8 dense_q8) ->
 *                softmax: the learned score (engine/not_a_digit.h), a
 *                logistic regression with relu units beside it, fitted
 *                on CALIBRATE_HEAD_DIGITS of the training digits the
 *                network learnt from (every 5th, none of validation
 *                or test) against CALIBRATE_HEAD_NON_DIGITS of
 *                NONDIGIT_FIT_SEED; its threshold is the score above
 *                which at most CALIBRATE_FLAG_SHARE of the validation
 *                digits are flagged in all, ambiguous ones included.  It
 *                replaces reject_below, which is then 0.
 */
#ifndef TRAIN_CALIBRATE_H
#define TRAIN_CALIBRATE_H

#include <stdint.h>

#include "digits.h"
#include "engine/confidence.h"
#include "engine/nn.h"

struct model;
struct idx_set;

/* 0.6 %: test digits come out a little above validation's (lenet5 0.86 %
 * with the MLP head; 0.8 % flagged 1.09 % of test digits). */
#define CALIBRATE_FLAG_SHARE      0.006 /* validation digits flagged, at most */
#define CALIBRATE_AMBIGUOUS_SHARE 0.003 /* of which for "ambiguous" */
#define CALIBRATE_NON_DIGITS      2000  /* non-digits of NONDIGIT_FIT_SEED */
#define CALIBRATE_HEAD_DIGITS     11000 /* training digits the head is fitted on */
#define CALIBRATE_HEAD_NON_DIGITS 6000  /* and non-digits (ink or not) of the fitting seed */

/* Mean negative log-likelihood of n images' labels at temperature t, from
 * their n x nc probabilities. */
double calibrate_nll(const float *probs, const uint8_t *labels, int n, int nc, double t);
/* The temperature in [0.05, 20] minimising calibrate_nll (to 1e-4 in log T). */
double calibrate_temperature(const float *probs, const uint8_t *labels, int n, int nc);

/* Forward n images (n x 784 floats in [0,1]) in batches: *probs gets
 * n x n_classes (malloc'ed, the caller frees). */
int calibrate_forward(const struct nn_graph *g, const float *params, const float *pixels, int n,
                      float **probs, struct dg_error *err);
/* The same, and when node >= 0 node's activations (n x its c*h*w) into
 * *hidden (malloc'ed, the caller frees; NULL for node < 0). */
int calibrate_forward_hidden(const struct nn_graph *g, const float *params, const float *pixels,
                             int n, int node, float **probs, float **hidden, struct dg_error *err);

/* Shares of n images (probabilities n x nc) that cp flags uncertain. */
double calibrate_flagged(const struct confidence_params *cp, const float *probs, int n, int nc);
/* The same with the not-a-digit head on their activations of
 * cp->head.node (NULL: none) and their pixels; into verdicts (n, may be
 * NULL) each image's verdict. */
double calibrate_flagged_input(const struct confidence_params *cp, const float *probs,
                               const float *hidden, const float *pixels, int n, int nc,
                               enum confidence_verdict *verdicts);

/* The margin that flags (strictly below) share of n images' top-two gaps
 * (gap[n], sorted in place): the (share * n)-th smallest. */
double calibrate_margin(double *gap, int n, double share);
/* The not-a-digit score above which (strictly) share of n images are
 * flagged in all, n - n_sure of them already by the margin: score[n_sure]
 * holds the others' scores (sorted in place). */
double calibrate_head_threshold(double *score, int n_sure, int n, double share);

/* The validation images model m was trained beside: the last
 * training.dataset.validation_images (5000 if unrecorded) of MNIST's
 * training set train, as floats in [0,1] into *pixels and their labels
 * into *labels (both malloc'ed, the caller frees, also on failure). */
int calibrate_validation_set(const struct model *m, const struct idx_set *train, float **pixels,
                             uint8_t **labels, int *n, struct dg_error *err);

/* What --fit-confidence found, for its printout. */
struct calibrate_report {
	int n_val, n_nondigits; /* non-digits the normalisation kept */
	double nll_before, nll_after;
	double val_flagged, nondigits_caught;
	int n_head_digits, n_head_nondigits; /* what the head was fitted on; 0: no head */
	struct confidence_params cp;
};

/* Fit model file path on MNIST in data_dir and rewrite its header
 * atomically with the result. */
int calibrate_model_file(const char *path, const char *data_dir, struct calibrate_report *rep,
                         struct dg_error *err);

#endif
