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
#include "nondigit_head.h"

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

int calibrate_forward_hidden(const struct nn_graph *g, const float *params, const float *pixels,
                             int n, int node, float **probs, float **hidden, struct dg_error *err)
{
	struct nn_workspace *ws;
	int nc = g->n_classes;
	size_t nh = node >= 0 ? (size_t)g->nodes[node].c * g->nodes[node].h * g->nodes[node].w : 0;

	*probs = malloc((size_t)n * (size_t)nc * sizeof(float));
	*hidden = nh ? malloc((size_t)n * nh * sizeof(float)) : NULL;
	if (!*probs || (nh && !*hidden))
		dg_fail(err, DG_ERR_NOMEM, "probabilities and activations of %d images", n);
	if (!*probs || (nh && !*hidden) || nn_workspace_create(&ws, g, BATCH, false, err) < 0) {
		free(*probs);
		free(*hidden);
		*probs = *hidden = NULL;
		return -1;
	}
	for (int i = 0; i < n; i += BATCH) {
		int k = n - i < BATCH ? n - i : BATCH;
		const float *p =
		    nn_forward(g, params, ws, pixels + (size_t)i * IDX_SIDE * IDX_SIDE, k);

		memcpy(*probs + (size_t)i * (size_t)nc, p, (size_t)k * (size_t)nc * sizeof(float));
		for (int j = 0; nh && j < k; j++)
			nn_activation_floats(g, ws, node, j, *hidden + (size_t)(i + j) * nh);
	}
	nn_workspace_free(ws);
	return 0;
}

int calibrate_forward(const struct nn_graph *g, const float *params, const float *pixels, int n,
                      float **probs, struct dg_error *err)
{
	float *none;

	return calibrate_forward_hidden(g, params, pixels, n, -1, probs, &none, err);
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

double calibrate_flagged_input(const struct confidence_params *cp, const float *probs,
                               const float *hidden, const float *pixels, int n, int nc,
                               enum confidence_verdict *verdicts)
{
	struct confidence_judgement j;
	size_t nh = (size_t)cp->head.n_hidden;
	int flagged = 0;

	for (int i = 0; i < n; i++) {
		confidence_judge_input(cp, probs + (size_t)i * (size_t)nc, nc,
		                       hidden ? hidden + (size_t)i * nh : NULL,
		                       pixels + (size_t)i * IMAGE_PIXELS, &j);
		flagged += j.verdict != CONFIDENCE_SURE;
		if (verdicts)
			verdicts[i] = j.verdict;
	}
	return n ? (double)flagged / n : 0;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double calibrate_margin(double *gap, int n, double share)
{
	int k = (int)(share * n);

	qsort(gap, (size_t)n, sizeof(double), by_value);
	return n ? gap[k < n ? k : n - 1] : 0;
}

static int by_value_down(const void *a, const void *b)
{
	return by_value(b, a);
}

double calibrate_head_threshold(double *score, int n_sure, int n, double share)
{
	int allowed = (int)(share * n) - (n - n_sure);

	qsort(score, (size_t)n_sure, sizeof(double), by_value_down);
	/* Flags are "strictly above": the allowed-th highest flags allowed. */
	return n_sure ? score[allowed > 0 ? (allowed < n_sure ? allowed : n_sure - 1) : 0] : 0;
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
	cp->ambiguous_margin = calibrate_margin(gap, n, CALIBRATE_AMBIGUOUS_SHARE);
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

static int nondigit_pixels(int count, float **pixels, int *n, struct dg_error *err)
{
	struct dg_error e;

	*n = 0;
	if (!(*pixels = malloc((size_t)count * IMAGE_PIXELS * sizeof(float))))
		return dg_fail(err, DG_ERR_NOMEM, "%d non-digits", count);
	for (int i = 0; i < count; i++) {
		if (nondigit_make(NONDIGIT_FIT_SEED, i, *pixels + (size_t)*n * IMAGE_PIXELS, &e) ==
		    0)
			(*n)++;
		else if (e.code != DG_ERR_EMPTY)
			return dg_fail(err, e.code, "%s", e.msg);
	}
	return 0;
}

/* n images of train from first, every step-th, as floats in [0,1]. */
static float *train_floats(const struct idx_set *train, size_t first, int n, int step)
{
	float *f = malloc((size_t)n * IMAGE_PIXELS * sizeof(float));

	for (int i = 0; f && i < n; i++)
		for (size_t p = 0; p < IMAGE_PIXELS; p++)
			f[(size_t)i * IMAGE_PIXELS + p] =
			    train->pixels[(first + (size_t)i * (size_t)step) * IMAGE_PIXELS + p] /
			    255.0f;
	return f;
}

int calibrate_validation_set(const struct model *m, const struct idx_set *train, float **pixels,
                             uint8_t **labels, int *n, struct dg_error *err)
{
	struct json_object *ds, *v;

	*n = 5000;
	if (m->training && json_object_object_get_ex(m->training, "dataset", &ds) &&
	    json_object_object_get_ex(ds, "validation_images", &v))
		*n = json_object_get_int(v);
	if (*n < 100 || *n >= train->n - CALIBRATE_HEAD_DIGITS)
		return dg_fail(err, DG_ERR_INVALID,
		               "%s: %d validation images: too few to calibrate on, or too many",
		               m->path, *n);
	*pixels = train_floats(train, (size_t)(train->n - *n), *n, 1);
	*labels = malloc((size_t)*n);
	if (!*pixels || !*labels)
		return dg_fail(err, DG_ERR_NOMEM, "%d validation images", *n);
	memcpy(*labels, train->labels + train->n - *n, (size_t)*n);
	return 0;
}

/* The model's training metadata with the fitted block (and what it was
 * fitted on) put in, saved over path: same graph, same weights. */
static int rewrite(const struct model *m, const struct calibrate_report *rep, struct dg_error *err)
{
	struct json_object *training = NULL, *block = confidence_to_json(&rep->cp, m->graph);
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
	if (rep->cp.head.fitted) {
		json_object_object_add(fit, "head_training_digits",
		                       json_object_new_int(rep->n_head_digits));
		json_object_object_add(fit, "head_non_digits",
		                       json_object_new_int(rep->n_head_nondigits));
	}
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

/* The head's threshold: the score above which at most CALIBRATE_FLAG_SHARE
 * of the n validation digits are flagged, counting those the margin
 * already calls ambiguous (reject_below is 0). */
static int fit_head_threshold(struct confidence_params *cp, const double *x, const float *probs,
                              int n, int nc, struct dg_error *err)
{
	double *score = malloc((size_t)n * sizeof(double));
	struct confidence_judgement j;
	int n_sure = 0;

	if (!score)
		return dg_fail(err, DG_ERR_NOMEM, "scores of %d images", n);
	cp->reject_below = 0;
	for (int i = 0; i < n; i++) {
		confidence_judge(cp, probs + (size_t)i * (size_t)nc, nc, &j);
		if (j.verdict == CONFIDENCE_SURE)
			score[n_sure++] = nondigit_head_score(&cp->head, x, i);
	}
	cp->head.threshold = calibrate_head_threshold(score, n_sure, n, CALIBRATE_FLAG_SHARE);
	free(score);
	return 0;
}

/* Features of n images (pixels) as the head sees them, appended to *x at
 * row *rows, with label into y. */
static int add_rows(const struct model *m, const struct not_a_digit_head *h, const float *pixels,
                    int n, uint8_t label, double *x, uint8_t *y, int *rows, struct dg_error *err)
{
	float *probs, *hidden;
	double *f;
	int rc;

	if (calibrate_forward_hidden(m->graph, m->params, pixels, n, h->node, &probs, &hidden,
	                             err) < 0)
		return -1;
	rc = nondigit_head_features(h, probs, hidden, pixels, n, &f, err);
	if (rc == 0) {
		memcpy(x + (size_t)*rows * (size_t)h->n_features, f,
		       (size_t)n * (size_t)h->n_features * sizeof(double));
		memset(y + *rows, label, (size_t)n);
		*rows += n;
	}
	free(f);
	free(probs);
	free(hidden);
	return rc;
}

/* The not-a-digit head on train's digits (never validation's) against the
 * fitting seed's non-digits, then its threshold on the validation
 * digits (their pixels, probabilities and activations). */
static int fit_head(const struct model *m, const struct idx_set *train,
                    struct calibrate_report *rep, const float *val_px, const float *val_probs,
                    const float *val_hidden, struct dg_error *err)
{
	struct not_a_digit_head *h = &rep->cp.head;
	int n_nd, rows = 0, rc = -1, total = CALIBRATE_HEAD_DIGITS + CALIBRATE_HEAD_NON_DIGITS;
	int step = (train->n - rep->n_val) / CALIBRATE_HEAD_DIGITS;
	float *digits = train_floats(train, 0, CALIBRATE_HEAD_DIGITS, step), *nd = NULL;
	double *x = malloc((size_t)total * (size_t)h->n_features * sizeof(double)), *vx = NULL;
	uint8_t *y = malloc((size_t)total);

	if (!digits || !x || !y) {
		dg_fail(err, DG_ERR_NOMEM, "%s: the head's %d images", m->path, total);
		goto out;
	}
	if (add_rows(m, h, digits, CALIBRATE_HEAD_DIGITS, 0, x, y, &rows, err) < 0 ||
	    nondigit_pixels(CALIBRATE_HEAD_NON_DIGITS, &nd, &n_nd, err) < 0 ||
	    add_rows(m, h, nd, n_nd, 1, x, y, &rows, err) < 0 ||
	    nondigit_head_fit(h, x, y, rows, err) < 0 ||
	    nondigit_head_features(h, val_probs, val_hidden, val_px, rep->n_val, &vx, err) < 0 ||
	    fit_head_threshold(&rep->cp, vx, val_probs, rep->n_val, h->n_classes, err) < 0)
		goto out;
	h->fitted = true;
	rep->n_head_digits = CALIBRATE_HEAD_DIGITS;
	rep->n_head_nondigits = n_nd;
	rc = 0;
out:
	free(digits);
	free(nd);
	free(x);
	free(vx);
	free(y);
	return rc;
}

/* Everything fit() allocates, freed by calibrate_model_file. */
struct fit_data {
	struct idx_set train;
	float *pix, *probs, *hidden;
	uint8_t *labels;
};

static int fit(const struct model *m, const char *dir, struct calibrate_report *rep,
               struct fit_data *d, struct dg_error *err)
{
	const struct nn_graph *g = m->graph;
	struct not_a_digit_head *h = &rep->cp.head;
	int nc = g->n_classes, node = not_a_digit_node(g);

	if (idx_load_mnist(&d->train, dir, "train", err) < 0 ||
	    calibrate_validation_set(m, &d->train, &d->pix, &d->labels, &rep->n_val, err) < 0 ||
	    calibrate_forward_hidden(g, m->params, d->pix, rep->n_val, node, &d->probs, &d->hidden,
	                             err) < 0)
		return -1;
	rep->nll_before = calibrate_nll(d->probs, d->labels, rep->n_val, nc, 1.0);
	rep->cp.temperature = calibrate_temperature(d->probs, d->labels, rep->n_val, nc);
	rep->nll_after = calibrate_nll(d->probs, d->labels, rep->n_val, nc, rep->cp.temperature);
	if (fit_thresholds(&rep->cp, d->probs, rep->n_val, nc, err) < 0)
		return -1;
	if (node >= 0) {
		const struct nn_node *n = &g->nodes[node];

		h->node = node;
		h->n_hidden = n->c * n->h * n->w;
		h->n_classes = nc;
		h->n_features = h->n_hidden + nc + NOT_A_DIGIT_EXTRA_FEATURES;
		if (h->n_features <= NOT_A_DIGIT_MAX_FEATURES &&
		    fit_head(m, &d->train, rep, d->pix, d->probs, d->hidden, err) < 0)
			return -1;
	}
	rep->val_flagged =
	    calibrate_flagged_input(&rep->cp, d->probs, d->hidden, d->pix, rep->n_val, nc, NULL);
	free(d->pix);
	free(d->probs);
	free(d->hidden);
	d->probs = d->hidden = NULL;
	if (nondigit_pixels(CALIBRATE_NON_DIGITS, &d->pix, &rep->n_nondigits, err) < 0 ||
	    calibrate_forward_hidden(g, m->params, d->pix, rep->n_nondigits, h->fitted ? node : -1,
	                             &d->probs, &d->hidden, err) < 0)
		return -1;
	rep->nondigits_caught = calibrate_flagged_input(&rep->cp, d->probs, d->hidden, d->pix,
	                                                rep->n_nondigits, nc, NULL);
	return 0;
}

int calibrate_model_file(const char *path, const char *data_dir, struct calibrate_report *rep,
                         struct dg_error *err)
{
	struct model *m = NULL;
	struct fit_data d = {0};
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (model_load(&m, path, err) < 0)
		return -1;
	if (fit(m, data_dir, rep, &d, err) == 0)
		rc = rewrite(m, rep, err);
	idx_free(&d.train);
	free(d.pix);
	free(d.labels);
	free(d.probs);
	free(d.hidden);
	model_free(m);
	return rc;
}
