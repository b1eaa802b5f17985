/*
 * test_confidence.c - the calibrated confidence and the "uncertain" flag
 * of the shipped models, measured.
 *
 * The non-digit generator is deterministic (same seed and index, same
 * bytes; another seed, other pictures).  A model file without a
 * confidence block loads as unfitted; a bad block is refused.  For each
 * shipped model: the temperature in its header is the minimum of the
 * validation NLL (lower than 5 % either side, and what a fresh fit finds);
 * on the full MNIST test set at most FLAG_MAX of the digits are flagged
 * uncertain; of the measuring seed's non-digits (never used to fit) at
 * least CAUGHT_MIN are.  The shares are printed as diagnostics.  Needs
 * MNIST (make data, or DIGITS_MNIST_DIR); skips with the reason otherwise.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "engine/model.h"
#include "idx.h"
#include "nondigit.h"
#include "tap.h"

#define FLAG_MAX    0.015 /* of MNIST test digits flagged (measured about 0.8 %) */
#define CAUGHT_MIN  0.33  /* of seed 2's non-digits caught (measured 40-46 %) */
#define N_NONDIGITS 2000

static const char *const shipped[] = {"cnn", "lenet5", "mlp"};

static void test_generator(void)
{
	unsigned char *a, *b, *c;
	size_t la, lb, lc;
	struct dg_error err;

	ok(nondigit_png(NONDIGIT_MEASURE_SEED, 7, &a, &la, &err) == 0 &&
	       nondigit_png(NONDIGIT_MEASURE_SEED, 7, &b, &lb, &err) == 0 &&
	       nondigit_png(NONDIGIT_FIT_SEED, 7, &c, &lc, &err) == 0,
	   "generator: three pictures");
	ok(la == lb && memcmp(a, b, la) == 0, "generator: same seed and index, same bytes");
	ok(la != lc || memcmp(a, c, la) != 0, "generator: the other seed, another picture");
	free(a);
	free(b);
	free(c);
	for (int k = 0; k < NONDIGIT_KINDS; k++)
		ok((int)nondigit_kind_of(k) == k && strcmp(nondigit_kind_name(k), "unknown") != 0,
		   "generator: kind %d is %s", k, nondigit_kind_name(k));
}

static void test_block(void)
{
	struct confidence_params cp;
	struct dg_error err;
	struct json_object *t = json_tokener_parse(
	    "{\"confidence\":{\"temperature\":1.5,\"reject_below\":0.7,\"ambiguous_margin\":0.1}}");
	struct json_object *bad =
	    json_tokener_parse("{\"confidence\":{\"temperature\":-1,\"reject_below\":0.7,"
	                       "\"ambiguous_margin\":0.2}}");
	struct confidence_judgement j;
	const float sure[10] = {0, 0, 0.99f, 0.01f}, split[10] = {0.5f, 0.5f},
	            flat[10] = {0.3f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f};

	ok(confidence_from_training(NULL, &cp, &err) == 0 && !cp.fitted,
	   "no confidence block: loads, unfitted");
	ok(confidence_from_training(t, &cp, &err) == 0 && cp.fitted && cp.temperature == 1.5,
	   "block read");
	confidence_judge(&cp, sure, 10, &j);
	ok(j.digit == 2 && j.verdict == CONFIDENCE_SURE && j.confidence < 0.99 &&
	       j.confidence > 0.9,
	   "a sure 2: sure, softened by T=1.5 (%.4f)", j.confidence);
	confidence_judge(&cp, split, 10, &j);
	ok(j.verdict == CONFIDENCE_AMBIGUOUS, "0 and 1 equally likely: ambiguous");
	confidence_judge(&cp, flat, 10, &j);
	ok(j.digit == 0 && j.verdict == CONFIDENCE_NOT_A_DIGIT, "nothing stands out: not a digit");
	ok(confidence_from_training(bad, &cp, &err) < 0 && strstr(err.msg, "temperature"),
	   "negative temperature refused: %s", err.msg);
	json_object_put(t);
	json_object_put(bad);
}

/* The validation set of calibrate.c, rebuilt: the last 5000 training images. */
static float *floats(const uint8_t *px, int n)
{
	float *f = malloc((size_t)n * IMAGE_PIXELS * sizeof(float));

	for (size_t i = 0; f && i < (size_t)n * IMAGE_PIXELS; i++)
		f[i] = px[i] / 255.0f;
	return f;
}

static void test_model(const char *name, const struct idx_set *train, const struct idx_set *test,
                       const float *nondigits, int n_nondigits)
{
	char path[4096];
	struct dg_error err;
	struct model *m = NULL;
	struct confidence_params cp;
	float *val = floats(train->pixels + (size_t)(train->n - 5000) * IMAGE_PIXELS, 5000);
	float *tst = floats(test->pixels, test->n), *p = NULL;
	const uint8_t *labels = train->labels + train->n - 5000;
	double t, nll, flagged, caught;

	snprintf(path, sizeof(path), "%s/models/%s.model", getenv("top_srcdir"), name);
	if (model_load(&m, path, &err) < 0 ||
	    confidence_from_training(m->training, &cp, &err) < 0 || !cp.fitted ||
	    calibrate_forward(m->graph, m->params, val, 5000, &p, &err) < 0) {
		ok(0, "%s: fitted model file: %s", name,
		   cp.fitted ? err.msg : "no confidence block");
		skip(4, "no model");
		goto out;
	}
	ok(1, "%s: fitted model file (T %.4f, reject below %.4f, margin %.4f)", name,
	   cp.temperature, cp.reject_below, cp.ambiguous_margin);
	t = cp.temperature;
	nll = calibrate_nll(p, labels, 5000, 10, t);
	ok(nll < calibrate_nll(p, labels, 5000, 10, t * 1.05) &&
	       nll < calibrate_nll(p, labels, 5000, 10, t / 1.05) &&
	       nll < calibrate_nll(p, labels, 5000, 10, 1.0),
	   "%s: T is the validation NLL minimum (%.5f; %.5f at T=1)", name, nll,
	   calibrate_nll(p, labels, 5000, 10, 1.0));
	is_near(calibrate_temperature(p, labels, 5000, 10), t, 1e-3, "%s: a fresh fit finds T",
	        name);
	free(p);
	p = NULL;
	if (calibrate_forward(m->graph, m->params, tst, test->n, &p, &err) < 0)
		goto out;
	flagged = calibrate_flagged(&cp, p, test->n, 10);
	ok(flagged <= FLAG_MAX, "%s: MNIST test digits flagged %.2f %% <= %.1f %%", name,
	   100 * flagged, 100 * FLAG_MAX);
	free(p);
	p = NULL;
	if (calibrate_forward(m->graph, m->params, nondigits, n_nondigits, &p, &err) < 0)
		goto out;
	caught = calibrate_flagged(&cp, p, n_nondigits, 10);
	ok(caught >= CAUGHT_MIN,
	   "%s: non-digits of seed %d caught %.1f %% >= %.0f %% (%d with ink)", name,
	   NONDIGIT_MEASURE_SEED, 100 * caught, 100 * CAUGHT_MIN, n_nondigits);
out:
	free(p);
	free(val);
	free(tst);
	model_free(m);
}

int main(void)
{
	struct idx_set train = {0}, test = {0};
	struct dg_error err;
	const char *dir = getenv("DIGITS_MNIST_DIR");
	char buf[4096];
	float *nd = malloc((size_t)N_NONDIGITS * IMAGE_PIXELS * sizeof(float));
	int n = 0, empty = 0;

	test_generator();
	test_block();
	if (!dir || !*dir) {
		snprintf(buf, sizeof(buf), "%s/data/mnist", getenv("top_builddir"));
		dir = buf;
	}
	if (idx_load_mnist(&train, dir, "train", &err) < 0 ||
	    idx_load_mnist(&test, dir, "t10k", &err) < 0) {
		skip(5 * 3, "MNIST not found (make data)");
		free(nd);
		return tap_done();
	}
	for (int i = 0; nd && i < N_NONDIGITS; i++) {
		if (nondigit_make(NONDIGIT_MEASURE_SEED, i, nd + (size_t)n * IMAGE_PIXELS, &err) ==
		    0)
			n++;
		else
			empty += err.code == DG_ERR_EMPTY;
	}
	ok(nd && n + empty == N_NONDIGITS, "%d non-digits of seed %d: %d refused as empty", n,
	   NONDIGIT_MEASURE_SEED, empty);
	for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++)
		test_model(shipped[i], &train, &test, nd, n);
	free(nd);
	idx_free(&train);
	idx_free(&test);
	return tap_done();
}
