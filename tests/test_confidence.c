/*
 * test_confidence.c - the calibrated confidence and the "uncertain" flag
 * of the shipped models, measured.
 *
 * The non-digit generator is deterministic (same seed and index, same
 * bytes; another seed, other pictures).  A model file without a
 * confidence block loads as unfitted; a bad block is refused.  For each
 * shipped model (float and int8): the temperature in its header is the minimum of the
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

#define FLAG_MAX               0.01 /* of MNIST test digits flagged (measured about 0.8 %) */
#define CNN_CAUGHT_MIN         0.92 /* measured 95.0 % */
#define LENET5_CAUGHT_MIN      0.90 /* measured 93.6 % */
#define MLP_CAUGHT_MIN         0.89 /* measured 92.1 % */
#define CNN_INT8_CAUGHT_MIN    0.90 /* measured 93.7 % */
#define LENET5_INT8_CAUGHT_MIN 0.90 /* measured 93.4 % */
#define MLP_INT8_CAUGHT_MIN    0.87 /* measured 90.1 % */
#define N_NONDIGITS            2000

/* Each shipped model, and the share of seed 2's non-digits it must catch:
 * what bench_confidence measured, less 3 points. */
static const struct {
	const char *name;
	double caught_min;
} shipped[] = {{"cnn", CNN_CAUGHT_MIN},
               {"lenet5", LENET5_CAUGHT_MIN},
               {"mlp", MLP_CAUGHT_MIN},
               {"cnn-int8", CNN_INT8_CAUGHT_MIN},
               {"lenet5-int8", LENET5_INT8_CAUGHT_MIN},
               {"mlp-int8", MLP_INT8_CAUGHT_MIN}};

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

/* A confidence block for the cnn graph whose not_a_digit member is
 * `head` spliced in as JSON text, parsed; NULL if it is not JSON. */
static struct json_object *block_with(const char *head)
{
	char text[8192];
	int len = snprintf(text, sizeof(text),
	                   "{\"confidence\":{\"temperature\":1.5,\"reject_below\":0,"
	                   "\"ambiguous_margin\":0.1,\"not_a_digit\":%s}}",
	                   head);

	return len > 0 && (size_t)len < sizeof(text) ? json_tokener_parse(text) : NULL;
}

/* {"node": node, "weights": [n zeros with w0 first], "bias", "threshold"} */
static void head_text(char *out, size_t size, const char *node, int n, const char *w0, double bias,
                      const char *threshold)
{
	size_t len = (size_t)snprintf(out, size, "{\"node\":\"%s\",\"weights\":[%s", node, w0);

	for (int i = 1; i < n && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, ",0");
	if (len < size)
		snprintf(out + len, size - len, "],\"bias\":%g%s%s}", bias,
		         threshold ? ",\"threshold\":" : "", threshold ? threshold : "");
}

/* The not-a-digit head: read for the graph it was fitted on, used by
 * confidence_judge_input, and refused when it does not fit the graph. */
static void test_head(void)
{
	struct nn_graph *g;
	struct confidence_params cp;
	struct confidence_judgement j;
	struct dg_error err;
	struct json_object *t;
	char head[4096];
	float hidden[128] = {0}, pixels[IMAGE_PIXELS] = {0};
	const float sure[10] = {0, 0, 0.99f, 0.01f};
	int n = 128 + 10 + NOT_A_DIGIT_EXTRA_FEATURES;
	static const struct {
		const char *node, *w0, *threshold, *want;
		int n;
	} bad[] = {
	    {"fc1", "0", "0", "node", 0},
	    {"relu_fc2", "0", "0", "weights", -1},
	    {"relu_fc2", "\"x\"", "0", "weights", 0},
	    {"relu_fc2", "1e300", "0", "weights", 0},
	    {"relu_fc2", "0", NULL, "threshold", 0},
	    {"relu_fc2", "0", "\"high\"", "threshold", 0},
	};

	if (nn_zoo_build(&g, "cnn", &err) < 0) {
		ok(0, "cnn graph: %s", err.msg);
		return;
	}
	is_str(g->nodes[not_a_digit_node(g)].name, "relu_fc2", "cnn's head reads relu_fc2");
	t = block_with("null");
	ok(t && confidence_from_training(t, g, &cp, &err) < 0 && strstr(err.msg, "not_a_digit"),
	   "not_a_digit not an object: refused: %s", t ? err.msg : "no JSON");
	json_object_put(t);
	/* All weights 0: the score is the bias. */
	head_text(head, sizeof(head), "relu_fc2", n, "0", 3, "2.5");
	t = block_with(head);
	ok(t && confidence_from_training(t, g, &cp, &err) == 0 && cp.head.fitted &&
	       cp.head.n_features == n && cp.head.threshold == 2.5,
	   "head read: %d features, threshold 2.5", n);
	confidence_judge_input(&cp, sure, 10, hidden, pixels, &j);
	ok(j.verdict == CONFIDENCE_NOT_A_DIGIT && j.score == 3 && j.digit == 2,
	   "a sure 2 scoring 3 > 2.5: not a digit, still digit 2");
	confidence_judge_input(&cp, sure, 10, NULL, pixels, &j);
	ok(j.verdict == CONFIDENCE_SURE, "no activations: the head is not used");
	json_object_put(t);
	head_text(head, sizeof(head), "relu_fc2", n, "-1", 2, "2.5");
	t = block_with(head);
	ok(t && confidence_from_training(t, g, &cp, &err) == 0, "second head read");
	hidden[0] = 1;
	confidence_judge_input(&cp, sure, 10, hidden, pixels, &j);
	ok(j.verdict == CONFIDENCE_SURE && j.score == 1,
	   "the first unit's weight counts: score 1 < 2.5, sure");
	json_object_put(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		head_text(head, sizeof(head), bad[i].node, n + bad[i].n, bad[i].w0, 0,
		          bad[i].threshold);
		t = block_with(head);
		ok(t && confidence_from_training(t, g, &cp, &err) < 0 &&
		       strstr(err.msg, bad[i].want),
		   "corrupt head %zu refused: %s", i, t ? err.msg : "no JSON");
		json_object_put(t);
	}
	nn_graph_free(g);
}

/* The head with `units` spliced in after the linear part (all weights 0,
 * bias 0, threshold 2.5), read for cnn's graph. */
static int read_units(const struct nn_graph *g, const char *units, struct confidence_params *cp,
                      struct dg_error *err)
{
	char head[8192];
	struct json_object *t;
	int rc, n = 128 + 10 + NOT_A_DIGIT_EXTRA_FEATURES;
	size_t len;

	head_text(head, sizeof(head), "relu_fc2", n, "0", 0, "2.5");
	len = strlen(head) - 1; /* before the closing brace */
	snprintf(head + len, sizeof(head) - len, ",\"units\":%s}", units);
	t = block_with(head);
	rc = t ? confidence_from_training(t, g, cp, err) : -1;
	json_object_put(t);
	return rc;
}

/* {"weights": [n_units x n zeros, unit 0's first w0], "bias": bias, "out": out} */
static void units_text(char *out, size_t size, int n_units, int n, const char *w0, const char *bias,
                       const char *outs)
{
	size_t len = (size_t)snprintf(out, size, "{\"weights\":[%s", w0);

	for (int i = 1; i < n_units * n && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, ",0");
	if (len < size)
		snprintf(out + len, size - len, "],\"bias\":%s,\"out\":%s}", bias, outs);
}

/* An MLP head: its relu units read, used, written back, and refused when
 * they do not fit. */
static void test_units(void)
{
	struct nn_graph *g;
	struct confidence_params cp, back;
	struct confidence_judgement j;
	struct dg_error err;
	struct json_object *o;
	char units[4096];
	float hidden[128] = {0}, pixels[IMAGE_PIXELS] = {0};
	const float sure[10] = {0, 0, 0.99f, 0.01f};
	const int n = 128 + 10 + NOT_A_DIGIT_EXTRA_FEATURES;

	if (nn_zoo_build(&g, "cnn", &err) < 0) {
		ok(0, "cnn graph: %s", err.msg);
		return;
	}
	/* Unit 0 reads hidden[0] with weight 1 and bias 0.5, out 2; unit 1
	 * never fires (bias -1), out 5. */
	units_text(units, sizeof(units), 2, n, "1", "[0.5,-1]", "[2,5]");
	ok(read_units(g, units, &cp, &err) == 0 && cp.head.n_units == 2,
	   "a head with 2 relu units read");
	hidden[0] = 1;
	confidence_judge_input(&cp, sure, 10, hidden, pixels, &j);
	ok(j.score == 3 && j.verdict == CONFIDENCE_NOT_A_DIGIT,
	   "the units count: 2 * relu(1 + 0.5) + 5 * relu(-1) = 3 > 2.5, not a digit (%g)",
	   j.score);
	hidden[0] = -1;
	confidence_judge_input(&cp, sure, 10, hidden, pixels, &j);
	ok(j.score == 0 && j.verdict == CONFIDENCE_SURE, "a unit below 0 adds nothing: score 0");
	o = json_object_new_object();
	json_object_object_add(o, "confidence", confidence_to_json(&cp, g));
	ok(confidence_from_training(o, g, &back, &err) == 0 && back.head.n_units == 2 &&
	       back.head.unit_weight[0][0] == 1 && back.head.unit_bias[1] == -1 &&
	       back.head.unit_out[1] == 5,
	   "written to JSON and read back: the same units");
	json_object_put(o);
	static const struct {
		int n_units, n;
		const char *w0, *bias, *out, *want;
	} bad[] = {
	    {2, -1, "0", "[0,0]", "[0,0]", "units.weights"},
	    {2, 0, "0", "[0,0]", "[0]", "units.out"},
	    {2, 0, "0", "[0,\"x\"]", "[0,0]", "units.bias"},
	    {2, 0, "1e300", "[0,0]", "[0,0]", "units.weights"},
	    {0, 0, "0", "[]", "[]", "units"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[4096];

		units_text(text, sizeof(text), bad[i].n_units, n + bad[i].n, bad[i].w0, bad[i].bias,
		           bad[i].out);
		ok(read_units(g, text, &cp, &err) < 0 && strstr(err.msg, bad[i].want),
		   "corrupt units %zu refused: %s", i, err.msg);
	}
	snprintf(units, sizeof(units), "{\"weights\":[],\"bias\":[0");
	for (int i = 0; i < NOT_A_DIGIT_MAX_UNITS; i++)
		strcat(units, ",0");
	strcat(units, "],\"out\":[]}");
	ok(read_units(g, units, &cp, &err) < 0 && strstr(err.msg, "1 to 16"),
	   "%d units refused: %s", NOT_A_DIGIT_MAX_UNITS + 1, err.msg);
	nn_graph_free(g);
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

	ok(confidence_from_training(NULL, NULL, &cp, &err) == 0 && !cp.fitted,
	   "no confidence block: loads, unfitted");
	ok(confidence_from_training(t, NULL, &cp, &err) == 0 && cp.fitted &&
	       cp.temperature == 1.5 && !cp.head.fitted,
	   "block read; without not_a_digit, no head");
	confidence_judge(&cp, sure, 10, &j);
	ok(j.digit == 2 && j.verdict == CONFIDENCE_SURE && j.confidence < 0.99 &&
	       j.confidence > 0.9,
	   "a sure 2: sure, softened by T=1.5 (%.4f)", j.confidence);
	confidence_judge(&cp, split, 10, &j);
	ok(j.verdict == CONFIDENCE_AMBIGUOUS, "0 and 1 equally likely: ambiguous");
	confidence_judge(&cp, flat, 10, &j);
	ok(j.digit == 0 && j.verdict == CONFIDENCE_NOT_A_DIGIT, "nothing stands out: not a digit");
	ok(confidence_from_training(bad, NULL, &cp, &err) < 0 && strstr(err.msg, "temperature"),
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

static void test_model(const char *name, double caught_min, const struct idx_set *train,
                       const struct idx_set *test, const float *nondigits, int n_nondigits)
{
	char path[4096];
	struct dg_error err;
	struct model *m = NULL;
	struct confidence_params cp;
	float *val = floats(train->pixels + (size_t)(train->n - 5000) * IMAGE_PIXELS, 5000);
	float *tst = floats(test->pixels, test->n), *p = NULL, *h = NULL;
	const uint8_t *labels = train->labels + train->n - 5000;
	double t, nll, flagged, caught;
	int node;

	snprintf(path, sizeof(path), "%s/models/%s.model", getenv("top_srcdir"), name);
	if (model_load(&m, path, &err) < 0 ||
	    confidence_from_training(m->training, m->graph, &cp, &err) < 0 || !cp.fitted ||
	    calibrate_forward(m->graph, m->params, val, 5000, &p, &err) < 0) {
		ok(0, "%s: fitted model file: %s", name,
		   cp.fitted ? err.msg : "no confidence block");
		skip(4, "no model");
		goto out;
	}
	ok(cp.head.fitted,
	   "%s: fitted model file with a not-a-digit head (T %.4f, margin %.4f, "
	   "head on %s, threshold %.4f)",
	   name, cp.temperature, cp.ambiguous_margin, m->graph->nodes[cp.head.node].name,
	   cp.head.threshold);
	node = cp.head.fitted ? cp.head.node : -1;
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
	if (calibrate_forward_hidden(m->graph, m->params, tst, test->n, node, &p, &h, &err) < 0)
		goto out;
	flagged = calibrate_flagged_input(&cp, p, h, tst, test->n, 10, NULL);
	ok(flagged <= FLAG_MAX, "%s: MNIST test digits flagged %.2f %% <= %.1f %%", name,
	   100 * flagged, 100 * FLAG_MAX);
	free(p);
	free(h);
	p = h = NULL;
	if (calibrate_forward_hidden(m->graph, m->params, nondigits, n_nondigits, node, &p, &h,
	                             &err) < 0)
		goto out;
	caught = calibrate_flagged_input(&cp, p, h, nondigits, n_nondigits, 10, NULL);
	ok(caught >= caught_min,
	   "%s: non-digits of seed %d caught %.1f %% >= %.0f %% (%d with ink)", name,
	   NONDIGIT_MEASURE_SEED, 100 * caught, 100 * caught_min, n_nondigits);
out:
	free(p);
	free(h);
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
	test_head();
	test_units();
	if (!dir || !*dir) {
		snprintf(buf, sizeof(buf), "%s/data/mnist", getenv("top_builddir"));
		dir = buf;
	}
	if (idx_load_mnist(&train, dir, "train", &err) < 0 ||
	    idx_load_mnist(&test, dir, "t10k", &err) < 0) {
		skip(5 * (int)(sizeof(shipped) / sizeof(shipped[0])),
		     "MNIST not found (make data)");
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
		test_model(shipped[i].name, shipped[i].caught_min, &train, &test, nd, n);
	free(nd);
	idx_free(&train);
	idx_free(&test);
	return tap_done();
}
