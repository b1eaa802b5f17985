/*
 * confidence.c - temperature-scaled probabilities and the "uncertain"
 * verdict (see confidence.h).
 */
#include <json-c/json.h>
#include <math.h>

#include "confidence.h"

/* Probabilities the float softmax rounded to 0 still get a finite log:
 * the smallest float's, so they stay the least likely at any temperature. */
#define LOG_FLOOR (-103.3)

void confidence_calibrate(const float *probs, int n, double t, double *out)
{
	double top = LOG_FLOOR, sum = 0;

	for (int c = 0; c < n; c++) {
		out[c] = probs[c] > 0 ? log(probs[c]) : LOG_FLOOR;
		top = out[c] > top ? out[c] : top;
	}
	/* Subtracting the largest keeps exp() in range for small t. */
	for (int c = 0; c < n; c++) {
		out[c] = exp((out[c] - top) / t);
		sum += out[c];
	}
	for (int c = 0; c < n; c++)
		out[c] /= sum;
}

void confidence_judge(const struct confidence_params *cp, const float *probs, int n,
                      struct confidence_judgement *j)
{
	double cal[64];
	int second = -1;

	if (n > 64)
		n = 64;
	confidence_calibrate(probs, n, cp->fitted ? cp->temperature : 1.0, cal);
	j->digit = 0;
	for (int c = 1; c < n; c++)
		j->digit = cal[c] > cal[j->digit] ? c : j->digit;
	for (int c = 0; c < n; c++)
		if (c != j->digit && (second < 0 || cal[c] > cal[second]))
			second = c;
	j->confidence = cal[j->digit];
	j->runner_up = second < 0 ? 0 : cal[second];
	j->score = 0;
	j->verdict = CONFIDENCE_SURE;
	if (!cp->fitted)
		return;
	/* Two close classes say "ambiguous" whatever the top's level: that
	 * is the more useful thing to tell a user who wrote a sloppy 4/9. */
	if (j->confidence - j->runner_up < cp->ambiguous_margin)
		j->verdict = CONFIDENCE_AMBIGUOUS;
	else if (j->confidence < cp->reject_below)
		j->verdict = CONFIDENCE_NOT_A_DIGIT;
}

void confidence_judge_input(const struct confidence_params *cp, const float *probs, int n,
                            const float *hidden, const float *pixels,
                            struct confidence_judgement *j)
{
	confidence_judge(cp, probs, n, j);
	if (!cp->fitted || !cp->head.fitted || !hidden || !pixels || n != cp->head.n_classes)
		return;
	j->score = not_a_digit_score(&cp->head, hidden, probs, pixels);
	/* A picture of no digit is better told so than called a close pair. */
	if (j->score > cp->head.threshold)
		j->verdict = CONFIDENCE_NOT_A_DIGIT;
}

const char *confidence_reason(enum confidence_verdict v)
{
	switch (v) {
	case CONFIDENCE_NOT_A_DIGIT:
		return "not_a_digit";
	case CONFIDENCE_AMBIGUOUS:
		return "ambiguous";
	case CONFIDENCE_SURE:
		break;
	}
	return NULL;
}

static int read_number(struct json_object *block, const char *key, double lo, double hi,
                       double *out, struct dg_error *err)
{
	struct json_object *v;

	if (!json_object_object_get_ex(block, key, &v) ||
	    !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
		return dg_fail(err, DG_ERR_FORMAT,
		               "training.confidence.%s: missing or not a number", key);
	*out = json_object_get_double(v);
	if (!(*out >= lo && *out <= hi))
		return dg_fail(err, DG_ERR_FORMAT, "training.confidence.%s: %g is not in [%g, %g]",
		               key, *out, lo, hi);
	return 0;
}

int confidence_from_training(struct json_object *training, const struct nn_graph *g,
                             struct confidence_params *cp, struct dg_error *err)
{
	struct json_object *block;

	*cp = (struct confidence_params){.temperature = 1.0};
	if (!training || !json_object_object_get_ex(training, "confidence", &block))
		return 0;
	if (!json_object_is_type(block, json_type_object))
		return dg_fail(err, DG_ERR_FORMAT, "training.confidence: not an object");
	if (read_number(block, "temperature", 0.01, 100, &cp->temperature, err) < 0 ||
	    read_number(block, "reject_below", 0, 1, &cp->reject_below, err) < 0 ||
	    read_number(block, "ambiguous_margin", 0, 1, &cp->ambiguous_margin, err) < 0 ||
	    not_a_digit_from_json(block, g, &cp->head, err) < 0)
		return -1;
	cp->fitted = true;
	return 0;
}

struct json_object *confidence_to_json(const struct confidence_params *cp, const struct nn_graph *g)
{
	struct json_object *o = json_object_new_object(), *head = NULL;

	if (!o || (cp->head.fitted && !(head = not_a_digit_to_json(&cp->head, g)))) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "temperature", json_object_new_double(cp->temperature));
	json_object_object_add(o, "reject_below", json_object_new_double(cp->reject_below));
	json_object_object_add(o, "ambiguous_margin", json_object_new_double(cp->ambiguous_margin));
	if (head)
		json_object_object_add(o, "not_a_digit", head);
	return o;
}
