/*
 * calibrate.c - fitting a model's confidence (see calibrate.h).
 */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "engine/model.h"
#include "idx.h"
#include "nondigit.h"

#define BATCH 250

double calibrate_nll(const float *probs, const uint8_t *labels, int n, int nc, double t)
{
	double sum = 0, cal[64];

	for (int i = 0; i < n; i++) {
		confidence_calibrate(probs + (size_t)i * (size_t)nc, nc, t, cal);
		/* The floor keeps one hopeless image from making the mean infinite. */
		sum -= log(cal[labels[i]] > 1e-300 ? cal[labels[i]] : 1e-300);
	}
	return n ? sum / n : 0;
}

double calibrate_temperature(const float *probs, const uint8_t *labels, int n, int nc)
{
	/* NLL is convex in 1/T for fixed logits, so unimodal in log T. */
	const double phi = (sqrt(5.0) - 1) / 2;
	double a = log(0.05), b = log(20.0);
	double c = b - phi * (b - a), d = a + phi * (b - a);
	double fc = calibrate_nll(probs, labels, n, nc, exp(c));
	double fd = calibrate_nll(probs, labels, n, nc, exp(d));

	while (b - a > 1e-4) {
		if (fc < fd) {
			b = d, d = c, fd = fc;
			c = b - phi * (b - a);
			fc = calibrate_nll(probs, labels, n, nc, exp(c));
		} else {
			a = c, c = d, fc = fd;
			d = a + phi * (b - a);
			fd = calibrate_nll(probs, labels, n, nc, exp(d));
		}
	}
	return exp((a + b) / 2);
}

int calibrate_forward(const struct nn_graph *g, const float *params, const float *pixels, int n,
                      float **probs, struct dg_error *err)
{
	struct nn_workspace *ws;
	int nc = g->n_classes;

	*probs = malloc((size_t)n * (size_t)nc * sizeof(float));
	if (!*probs)
		return dg_fail(err, DG_ERR_NOMEM, "probabilities of %d images", n);
	if (nn_workspace_create(&ws, g, BATCH, false, err) < 0) {
		free(*probs);
		*probs = NULL;
		return -1;
	}
	for (int i = 0; i < n; i += BATCH) {
		int k = n - i < BATCH ? n - i : BATCH;
		const float *p =
		    nn_forward(g, params, ws, pixels + (size_t)i * IDX_SIDE * IDX_SIDE, k);

		memcpy(*probs + (size_t)i * (size_t)nc, p, (size_t)k * (size_t)nc * sizeof(float));
	}
	nn_workspace_free(ws);
	return 0;
}

double calibrate_flagged(const struct confidence_params *cp, const float *probs, int n, int nc)
{
	struct confidence_judgement j;
	int flagged = 0;

	for (int i = 0; i < n; i++) {
		confidence_judge(cp, probs + (size_t)i * (size_t)nc, nc, &j);
		flagged += j.verdict != CONFIDENCE_SURE;
	}
	return n ? (double)flagged / n : 0;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The margin, then the threshold, from the validation digits' calibrated
 * top two (cp->temperature already set).  Flags are "strictly below", so
 * the k-th smallest value flags at most k images. */
static int fit_thresholds(struct confidence_params *cp, const float *probs, int n, int nc,
                          struct dg_error *err)
{
	double *gap = malloc((size_t)n * sizeof(double)), *top = malloc((size_t)n * sizeof(double));
	struct confidence_judgement j;
	int n_top = 0, allowed;

	if (!gap || !top) {
		free(gap);
		free(top);
		return dg_fail(err, DG_ERR_NOMEM, "thresholds of %d images", n);
	}
	cp->fitted = true;
	cp->reject_below = cp->ambiguous_margin = 0;
	for (int i = 0; i < n; i++) {
		confidence_judge(cp, probs + (size_t)i * (size_t)nc, nc, &j);
		gap[i] = j.confidence - j.runner_up;
	}
	qsort(gap, (size_t)n, sizeof(double), by_value);
	cp->ambiguous_margin = gap[(int)(CALIBRATE_AMBIGUOUS_SHARE * n)];
	for (int i = 0; i < n; i++) {
		confidence_judge(cp, probs + (size_t)i * (size_t)nc, nc, &j);
		if (j.verdict == CONFIDENCE_SURE)
			top[n_top++] = j.confidence;
	}
	qsort(top, (size_t)n_top, sizeof(double), by_value);
	allowed = (int)(CALIBRATE_FLAG_SHARE * n) - (n - n_top);
	cp->reject_below = allowed > 0 && allowed < n_top ? top[allowed] : 0;
	free(gap);
	free(top);
	return 0;
}

/* The fitting seed's non-digits as the model sees them; those the
 * normalisation refuses (no ink) are left out: the service answers them
 * with an error, never a digit.  The caller frees *pixels, also on failure. */
static int nondigit_pixels(float **pixels, int *n, struct dg_error *err)
{
	struct dg_error e;

	*n = 0;
	if (!(*pixels = malloc((size_t)CALIBRATE_NON_DIGITS * IMAGE_PIXELS * sizeof(float))))
		return dg_fail(err, DG_ERR_NOMEM, "%d non-digits", CALIBRATE_NON_DIGITS);
	for (int i = 0; i < CALIBRATE_NON_DIGITS; i++) {
		if (nondigit_make(NONDIGIT_FIT_SEED, i, *pixels + (size_t)*n * IMAGE_PIXELS, &e) ==
		    0)
			(*n)++;
		else if (e.code != DG_ERR_EMPTY)
			return dg_fail(err, e.code, "%s", e.msg);
	}
	return 0;
}

/* The validation images a model was trained beside: the last
 * training.dataset.validation_images (5000 if unrecorded) of MNIST's
 * training set, as floats in [0,1]. */
static int validation_set(const struct model *m, const char *dir, float **pixels, uint8_t **labels,
                          int *n, struct dg_error *err)
{
	struct json_object *ds, *v;
	struct idx_set train = {0};
	size_t first;

	*n = 5000;
	if (m->training && json_object_object_get_ex(m->training, "dataset", &ds) &&
	    json_object_object_get_ex(ds, "validation_images", &v))
		*n = json_object_get_int(v);
	if (idx_load_mnist(&train, dir, "train", err) < 0)
		return -1;
	if (*n < 100 || *n >= train.n) {
		idx_free(&train);
		return dg_fail(err, DG_ERR_INVALID,
		               "%s: %d validation images: too few to calibrate on", m->path, *n);
	}
	first = (size_t)(train.n - *n);
	*pixels = malloc((size_t)*n * IMAGE_PIXELS * sizeof(float));
	*labels = malloc((size_t)*n);
	if (!*pixels || !*labels) {
		idx_free(&train);
		return dg_fail(err, DG_ERR_NOMEM, "%d validation images", *n);
	}
	for (size_t i = 0; i < (size_t)*n * IMAGE_PIXELS; i++)
		(*pixels)[i] = train.pixels[first * IMAGE_PIXELS + i] / 255.0f;
	memcpy(*labels, train.labels + first, (size_t)*n);
	idx_free(&train);
	return 0;
}

/* The model's training metadata with the fitted block (and what it was
 * fitted on) put in, saved over path: same graph, same weights. */
static int rewrite(const struct model *m, const struct calibrate_report *rep, struct dg_error *err)
{
	struct json_object *training = NULL, *block = confidence_to_json(&rep->cp);
	struct json_object *fit = json_object_new_object();
	int rc;

	if (!m->training)
		training = json_object_new_object();
	else if (json_object_deep_copy(m->training, &training, NULL) < 0)
		training = NULL;
	if (!training || !block || !fit) {
		json_object_put(training);
		json_object_put(block);
		json_object_put(fit);
		return dg_fail(err, DG_ERR_NOMEM, "%s: new header", m->path);
	}
	json_object_object_add(fit, "validation_images", json_object_new_int(rep->n_val));
	json_object_object_add(fit, "non_digit_seed", json_object_new_int(NONDIGIT_FIT_SEED));
	json_object_object_add(fit, "non_digits", json_object_new_int(rep->n_nondigits));
	json_object_object_add(fit, "validation_nll", json_object_new_double(rep->nll_after));
	json_object_object_add(fit, "validation_flagged", json_object_new_double(rep->val_flagged));
	json_object_object_add(fit, "non_digits_caught",
	                       json_object_new_double(rep->nondigits_caught));
	json_object_object_add(block, "fitted_on", fit);
	json_object_object_add(training, "confidence", block);
	rc = model_save(m->path, m->graph, m->params, training, err);
	json_object_put(training);
	return rc;
}

static int fit(const struct model *m, const char *dir, struct calibrate_report *rep, float **pix,
               uint8_t **labels, float **probs, struct dg_error *err)
{
	const struct nn_graph *g = m->graph;
	int nc = g->n_classes;

	if (validation_set(m, dir, pix, labels, &rep->n_val, err) < 0 ||
	    calibrate_forward(g, m->params, *pix, rep->n_val, probs, err) < 0)
		return -1;
	rep->nll_before = calibrate_nll(*probs, *labels, rep->n_val, nc, 1.0);
	rep->cp.temperature = calibrate_temperature(*probs, *labels, rep->n_val, nc);
	rep->nll_after = calibrate_nll(*probs, *labels, rep->n_val, nc, rep->cp.temperature);
	if (fit_thresholds(&rep->cp, *probs, rep->n_val, nc, err) < 0)
		return -1;
	rep->val_flagged = calibrate_flagged(&rep->cp, *probs, rep->n_val, nc);
	free(*pix);
	free(*probs);
	*probs = NULL;
	if (nondigit_pixels(pix, &rep->n_nondigits, err) < 0 ||
	    calibrate_forward(g, m->params, *pix, rep->n_nondigits, probs, err) < 0)
		return -1;
	rep->nondigits_caught = calibrate_flagged(&rep->cp, *probs, rep->n_nondigits, nc);
	return 0;
}

int calibrate_model_file(const char *path, const char *data_dir, struct calibrate_report *rep,
                         struct dg_error *err)
{
	struct model *m = NULL;
	float *pix = NULL, *probs = NULL;
	uint8_t *labels = NULL;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (model_load(&m, path, err) < 0)
		return -1;
	if (fit(m, data_dir, rep, &pix, &labels, &probs, err) == 0)
		rc = rewrite(m, rep, err);
	free(pix);
	free(labels);
	free(probs);
	model_free(m);
	return rc;
}
