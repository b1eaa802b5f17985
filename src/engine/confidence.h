/*
 * confidence.h - how sure a model should be, and when not to trust it.
 *
 * A network's softmax is over-confident and says nothing useful about
 * pictures that are not digits at all.  Two numbers fitted after training
 * (digits-train --fit-confidence) fix that, without touching the weights:
 *
 *   temperature T   softmax(logits / T), fitted on the held-out validation
 *                   images by minimising the negative log-likelihood
 *                   (temperature scaling, Guo et al. 2017).  The argmax is
 *                   unchanged, so accuracy is unchanged.  Computed from the
 *                   probabilities, since log p is the logits up to a
 *                   constant: p_i^(1/T) renormalised.
 *   reject_below    a calibrated top probability under which the picture
 *                   is "not_a_digit": chosen so that few validation digits
 *                   fall under it, and fitted on generated non-digits.
 *   ambiguous_margin  top two calibrated probabilities closer than this:
 *                   "ambiguous", two digits nearly as likely.
 *   not_a_digit     optional: a learned score on the last hidden layer,
 *                   the probabilities and the input (not_a_digit.h); the
 *                   trainer then sets reject_below to 0 (the score does its
 *                   job better) and the score is checked first.
 *
 * They live in the model file's header, training.confidence.  A file
 * without the block still loads; its answers then carry no confidence.
 */
#ifndef CONFIDENCE_H
#define CONFIDENCE_H

#include <stdbool.h>

#include "digits.h"
#include "engine/not_a_digit.h"

struct json_object;

struct confidence_params {
	bool fitted; /* false: the model file has no confidence block */
	double temperature;
	double reject_below;
	double ambiguous_margin;
	struct not_a_digit_head head; /* .fitted false: not in the file */
};

enum confidence_verdict {
	CONFIDENCE_SURE,
	CONFIDENCE_NOT_A_DIGIT,
	CONFIDENCE_AMBIGUOUS,
};

/* What one image's probabilities come to. */
struct confidence_judgement {
	int digit;         /* the argmax (the temperature does not move it) */
	double confidence; /* its calibrated probability */
	double runner_up;  /* the second calibrated probability */
	double score;      /* the not-a-digit head's log-odds, or 0 */
	enum confidence_verdict verdict;
};

/* The n calibrated probabilities of probs at temperature t (> 0) into out. */
void confidence_calibrate(const float *probs, int n, double t, double *out);

/* Judge one image's n (<= 64) probabilities with fitted params. */
void confidence_judge(const struct confidence_params *cp, const float *probs, int n,
                      struct confidence_judgement *j);

/* confidence_judge, then the not-a-digit head on the same image: its
 * activations of cp->head.node (n_hidden floats) and its input pixels.
 * With no head, or hidden NULL, the same as confidence_judge.  j->score
 * is the head's log-odds (0 without one). */
void confidence_judge_input(const struct confidence_params *cp, const float *probs, int n,
                            const float *hidden, const float *pixels,
                            struct confidence_judgement *j);

/* "not_a_digit", "ambiguous"; NULL for CONFIDENCE_SURE. */
const char *confidence_reason(enum confidence_verdict v);

/* Read the "confidence" member of the training metadata (which may be
 * NULL) of a model with graph g.  No member: cp->fitted = false and 0.  A
 * member with a missing or out-of-range value, or a not_a_digit block
 * that does not fit g, fails, naming what (the caller adds the file name). */
int confidence_from_training(struct json_object *training, const struct nn_graph *g,
                             struct confidence_params *cp, struct dg_error *err);

/* {"temperature", "reject_below", "ambiguous_margin"[, "not_a_digit"]}
 * for graph g, or NULL (no memory). */
struct json_object *confidence_to_json(const struct confidence_params *cp,
                                       const struct nn_graph *g);

#endif
