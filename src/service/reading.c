/*
 * reading.c - a number read from an image with a model of the registry,
 * and its JSON, for the API (api_read.c), the CLI and the tests.
 *
 * The text's confidence is the product of its digits' calibrated
 * confidences (the chance that all of them are right) and the text is
 * uncertain when any digit is, with the first uncertain digit's reason; a
 * model without a fitted confidence gives neither, as for predict.
 */
#include "reading.h"

#include <json-c/json.h>
#include <math.h>
#include <string.h>

#include "answer.h"

/* The registry as image_read's classifier, timing what it spends. */
struct classifier {
	struct registry *reg;
	int model, n_classes;
	double seconds;
	const struct not_a_digit_head *head; /* the model's, or NULL */
};

static int classify(void *ctx, const float *pixels, int n, float *probs, struct dg_error *err)
{
	struct classifier *c = ctx;
	double t0 = dg_seconds();
	const float *p;

	if (registry_predict(c->reg, c->model, pixels, n, &p, err) < 0)
		return -1;
	for (int k = 0; k < n; k++) {
		const float *pk = p + (size_t)k * c->n_classes;
		float *out = probs + (size_t)k * (c->n_classes + 1);

		memcpy(out, pk, (size_t)c->n_classes * sizeof(float));
		out[c->n_classes] = 1.0f;
		if (c->head && c->head->fitted) {
			const float *hidden = registry_hidden(c->reg, c->model, k);

			if (hidden) /* the head's log-odds of "not a digit" */
				out[c->n_classes] =
				    (float)(1.0 / (1.0 + exp(not_a_digit_score(
				                             c->head, hidden, pk,
				                             pixels + (size_t)k * IMAGE_PIXELS))));
		}
	}
	c->seconds += dg_seconds() - t0;
	return 0;
}

static struct json_object *box_json(const struct image_read_digit *d)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "x", json_object_new_int(d->x));
	json_object_object_add(o, "y", json_object_new_int(d->y));
	json_object_object_add(o, "w", json_object_new_int(d->w));
	json_object_object_add(o, "h", json_object_new_int(d->h));
	return o;
}

/* The not-a-digit head reads the last hidden layer, which the reader's
 * batches of candidate pieces do not keep: one more forward pass of the
 * chosen digit gives it (NULL when the model has no head, or on failure:
 * then only the calibrated probabilities judge). */
static const float *digit_hidden(struct registry *reg, int model, const float *pixels)
{
	struct dg_error err = {0};
	const float *p;

	if (registry_predict(reg, model, pixels, 1, &p, &err) < 0)
		return NULL;
	return registry_hidden(reg, model, 0);
}

struct json_object *reading_json(struct registry *reg, const struct image_read_result *rr,
                                 const struct image_info *info, const struct registry_model_info *m,
                                 bool with_inverted)
{
	struct json_object *o = json_object_new_object(), *list = json_object_new_array();
	char text[IMAGE_READ_MAX_DIGITS + 1];
	const char *reason = NULL;
	double confidence = 1;

	if (!answer_both(o, list))
		return NULL;
	for (int i = 0; i < rr->n; i++) {
		const struct image_read_digit *d = &rr->digit[i];
		struct json_object *one = answer_prediction(d->probs, m->n_classes, 0);

		text[i] = (char)('0' + d->digit);
		if (!one) {
			json_object_put(o), json_object_put(list);
			return NULL;
		}
		if (m->confidence.fitted) {
			const float *hidden = digit_hidden(reg, m->index, d->pixels);
			struct confidence_judgement j;

			answer_confidence(one, d->probs, m->n_classes, &m->confidence, hidden,
			                  d->pixels);
			confidence_judge_input(&m->confidence, d->probs, m->n_classes, hidden,
			                       d->pixels, &j);
			confidence *= j.confidence;
			if (!reason)
				reason = confidence_reason(j.verdict);
		}
		json_object_object_add(one, "box", box_json(d));
		json_object_array_add(list, one);
	}
	text[rr->n] = '\0';
	json_object_object_add(o, "text", json_object_new_string(text));
	if (m->confidence.fitted) {
		json_object_object_add(o, "confidence", answer_number(confidence, "%.6g"));
		json_object_object_add(o, "uncertain", json_object_new_boolean(reason != NULL));
		if (reason)
			json_object_object_add(o, "uncertain_reason",
			                       json_object_new_string(reason));
	}
	json_object_object_add(o, "digits", list);
	json_object_object_add(o, "image", answer_image(info, with_inverted));
	return o;
}

int reading_run(struct registry *reg, int model, const void *data, size_t len,
                const struct image_limits *lim, struct image_read_result *rr,
                struct image_info *info, double *seconds, struct dg_error *err)
{
	const struct registry_model_info *m = registry_model_info(reg, model);
	struct classifier c = {reg, model, m ? m->n_classes : 0, 0, m ? &m->confidence.head : NULL};
	const struct image_reader rd = {classify, &c, c.n_classes, registry_max_batch(reg), 1};
	int rc;

	if (!m)
		return dg_fail(err, DG_ERR_INVALID, "no model %d", model);
	rc = image_read(data, len, lim, &rd, rr, info, err);
	if (seconds)
		*seconds += c.seconds;
	return rc;
}
