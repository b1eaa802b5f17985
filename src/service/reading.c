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
#include <stdlib.h>

#include "answer.h"

/* Without a fitted "whole digit" head, each piece pays this times log P(a
 * digit at all) from the model's not-a-digit head. */
#define DIGITNESS_WEIGHT 1.0
/* The learned score enters the choice as READING_WHOLE_WEIGHT times its
 * log-odds plus READING_WHOLE_BONUS per piece (reading_whole.h).  Log-odds,
 * not log P: a piece that is surely one digit adds to its segmentation, so
 * two sure digits outscore the one piece of both that the network reads as
 * some digit too.  The bonus offsets the base rate of the candidates (about
 * one in eight is a whole digit); with the per-piece fit alone, 82 % of
 * numbers of MNIST *training* digits were exact at 0, 91 % at 2.5-3, too
 * many digits from 4 on (read_eval --train).  The fit now trains the score
 * for this very sum over the reader's lattice (train/read_fit.c). */

/* The registry as image_read's classifier, timing what it spends. */
struct classifier {
	struct registry *reg;
	int model, n_classes;
	double seconds;
	const struct not_a_digit_head *head; /* the model's, or NULL */
	const struct reading_whole *whole;   /* the model file's, or NULL */
};

/* log(1 / (1 + e^-z)), no lower than floor. */
static double log_sigmoid(double z, double floor)
{
	double l = z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z));

	return l > floor ? l : floor;
}

int reading_piece_features(struct registry *reg, int model, int k, const float *probs,
                           const float *pixels, const struct image_read_piece *piece, double *out)
{
	const struct registry_model_info *m = registry_model_info(reg, model);
	const float *hidden = registry_hidden(reg, model, k);

	if (!m || !hidden)
		return -1;
	reading_whole_features(&m->confidence.head, hidden, probs, pixels, piece, out);
	return reading_whole_n_features(&m->confidence.head);
}

/* The piece score (see image_reader.with_piece_score) of piece k of the
 * batch just run: the log-odds of one whole digit when a head is fitted
 * for the model, else the not-a-digit head's log P(a digit at all), else
 * 0. */
static float piece_score(struct classifier *c, int k, const float *probs, const float *pixels,
                         const struct image_read_piece *piece)
{
	double f[READING_MAX_FEATURES], z;
	const float *hidden;

	if (c->whole && reading_piece_features(c->reg, c->model, k, probs, pixels, piece, f) ==
	                    c->whole->n_features) {
		z = reading_whole_score(c->whole, f);
		return (float)(READING_WHOLE_BONUS +
		               READING_WHOLE_WEIGHT *
		                   fmax(-READING_WHOLE_CLAMP, fmin(READING_WHOLE_CLAMP, z)));
	}
	hidden = registry_hidden(c->reg, c->model, k);
	if (!c->head || !c->head->fitted || !hidden)
		return 0;
	/* The head gives the log-odds of "not a digit". */
	return (float)(DIGITNESS_WEIGHT *
	               log_sigmoid(-not_a_digit_score(c->head, hidden, probs, pixels), log(1e-6)));
}

static int classify(void *ctx, const float *pixels, const struct image_read_piece *piece, int n,
                    float *out, struct dg_error *err)
{
	struct classifier *c = ctx;
	double t0 = dg_seconds();
	const float *p;

	if (registry_predict(c->reg, c->model, pixels, n, &p, err) < 0)
		return -1;
	for (int k = 0; k < n; k++) {
		const float *pk = p + (size_t)k * c->n_classes;
		float *o = out + (size_t)k * (c->n_classes + 1);

		memcpy(o, pk, (size_t)c->n_classes * sizeof(float));
		o[c->n_classes] =
		    piece_score(c, k, pk, pixels + (size_t)k * IMAGE_PIXELS, &piece[k]);
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
	struct classifier c = {reg,
	                       model,
	                       m ? m->n_classes : 0,
	                       0,
	                       m ? &m->confidence.head : NULL,
	                       m && m->reading.fitted ? &m->reading : NULL};
	const struct image_reader rd = {classify,       &c, c.n_classes, registry_max_batch(reg), 1,
	                                c.whole != NULL};
	int rc;

	if (!m)
		return dg_fail(err, DG_ERR_INVALID, "no model %d", model);
	rc = image_read(data, len, lim, &rd, rr, info, err);
	if (seconds)
		*seconds += c.seconds;
	return rc;
}
