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
#include <string.h>

#include "answer.h"

/* The registry as image_read's classifier, timing what it spends. */
struct classifier {
	struct registry *reg;
	int model, n_classes;
	double seconds;
};

static int classify(void *ctx, const float *pixels, int n, float *probs, struct dg_error *err)
{
	struct classifier *c = ctx;
	double t0 = dg_seconds();
	const float *p;

	if (registry_predict(c->reg, c->model, pixels, n, &p, err) < 0)
		return -1;
	memcpy(probs, p, (size_t)n * (size_t)c->n_classes * sizeof(float));
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

struct json_object *reading_json(const struct image_read_result *rr, const struct image_info *info,
                                 const struct registry_model_info *m, bool with_inverted)
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
		answer_confidence(one, d->probs, m->n_classes, &m->confidence);
		if (m->confidence.fitted) {
			struct confidence_judgement j;

			confidence_judge(&m->confidence, d->probs, m->n_classes, &j);
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
	struct classifier c = {reg, model, m ? m->n_classes : 0, 0};
	const struct image_reader rd = {classify, &c, c.n_classes, registry_max_batch(reg)};
	int rc;

	if (!m)
		return dg_fail(err, DG_ERR_INVALID, "no model %d", model);
	rc = image_read(data, len, lim, &rd, rr, info, err);
	if (seconds)
		*seconds += c.seconds;
	return rc;
}
