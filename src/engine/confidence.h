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
 *
 * They live in the model file's header, training.confidence.  A file
 * without the block still loads; its answers then carry no confidence.
 */
#ifndef CONFIDENCE_H
#define CONFIDENCE_H

#include <stdbool.h>

#include "digits.h"

struct json_object;

struct confidence_params {
	bool fitted; /* false: the model file has no confidence block */
	double temperature;
	double reject_below;
	double ambiguous_margin;
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
	enum confidence_verdict verdict;
};

/* The n calibrated probabilities of probs at temperature t (> 0) into out. */
void confidence_calibrate(const float *probs, int n, double t, double *out);

/* Judge one image's n (<= 64) probabilities with fitted params. */
void confidence_judge(const struct confidence_params *cp, const float *probs, int n,
                      struct confidence_judgement *j);

/* "not_a_digit", "ambiguous"; NULL for CONFIDENCE_SURE. */
const char *confidence_reason(enum confidence_verdict v);

/* Read the "confidence" member of a model's training metadata (which may
 * be NULL).  No member: cp->fitted = false and 0.  A member with a
 * missing or out-of-range value fails, naming what (the caller adds the
 * file name). */
int confidence_from_training(struct json_object *training, struct confidence_params *cp,
                             struct dg_error *err);

/* {"temperature", "reject_below", "ambiguous_margin"}, or NULL (no memory). */
struct json_object *confidence_to_json(const struct confidence_params *cp);

#endif
