/*
 * bench_confidence.c - the "uncertain" flag of each shipped model, as a
 * table (make bench): its thresholds (the not-a-digit score's, if the
 * file has one), MNIST test digits flagged, how many of those the model
 * got wrong, and the measuring seed's non-digits caught, by kind.
 * Needs MNIST (make data, or DIGITS_MNIST_DIR).
 *
 *   bench_confidence [MODEL...]   (names under models/, or paths; default all six)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "engine/model.h"
#include "idx.h"
#include "nondigit.h"

#define N_NONDIGITS 2000

struct set {
	float *px;
	int n;
	int kind[N_NONDIGITS];
	int empty[NONDIGIT_KINDS];
};

static int make_nondigits(struct set *s, struct dg_error *err)
{
	if (!(s->px = malloc((size_t)N_NONDIGITS * IMAGE_PIXELS * sizeof(float))))
		return dg_fail(err, DG_ERR_NOMEM, "non-digits");
	for (int i = 0; i < N_NONDIGITS; i++) {
		if (nondigit_make(NONDIGIT_MEASURE_SEED, i, s->px + (size_t)s->n * IMAGE_PIXELS,
		                  err) == 0)
			s->kind[s->n++] = nondigit_kind_of(i);
		else if (err->code == DG_ERR_EMPTY)
			s->empty[nondigit_kind_of(i)]++;
		else
			return -1;
	}
	return 0;
}

static int row(const char *name, const struct idx_set *test, const float *tpx, const struct set *nd,
               struct dg_error *err)
{
	char path[4096];
	struct model *m;
	struct confidence_params cp;
	enum confidence_verdict *v = malloc((size_t)test->n * sizeof(*v));
	float *p, *h;
	int flagged = 0, wrong = 0, both = 0, tot[NONDIGIT_KINDS] = {0}, hit[NONDIGIT_KINDS] = {0};
	int all = 0;

	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/models/%s.model", DIGITS_SRCDIR, name);
	if (model_load(&m, path, err) < 0)
		return -1;
	if (!v || confidence_from_training(m->training, m->graph, &cp, err) < 0 ||
	    calibrate_forward_hidden(m->graph, m->params, tpx, test->n,
	                             cp.head.fitted ? cp.head.node : -1, &p, &h, err) < 0) {
		free(v);
		model_free(m);
		return -1;
	}
	calibrate_flagged_input(&cp, p, h, tpx, test->n, 10, v);
	for (int i = 0; i < test->n; i++) {
		int digit = 0;

		for (int c = 1; c < 10; c++)
			digit = p[(size_t)i * 10 + c] > p[(size_t)i * 10 + digit] ? c : digit;
		flagged += v[i] != CONFIDENCE_SURE;
		wrong += digit != test->labels[i];
		both += v[i] != CONFIDENCE_SURE && digit != test->labels[i];
	}
	free(p);
	free(h);
	if (calibrate_forward_hidden(m->graph, m->params, nd->px, nd->n,
	                             cp.head.fitted ? cp.head.node : -1, &p, &h, err) < 0) {
		free(v);
		model_free(m);
		return -1;
	}
	calibrate_flagged_input(&cp, p, h, nd->px, nd->n, 10, v);
	for (int i = 0; i < nd->n; i++) {
		tot[nd->kind[i]]++;
		hit[nd->kind[i]] += v[i] != CONFIDENCE_SURE;
		all += v[i] != CONFIDENCE_SURE;
	}
	free(p);
	free(h);
	free(v);
	printf("| %-11s | %.4f | %.4f | %.4f | %7.4f | %5.2f %% | %3d of %3d | %4.1f %% |", name,
	       cp.temperature, cp.reject_below, cp.ambiguous_margin,
	       cp.head.fitted ? cp.head.threshold : NAN, 100.0 * flagged / test->n, both, wrong,
	       100.0 * all / nd->n);
	for (int k = 0; k < NONDIGIT_KINDS; k++)
		printf(" %4.1f %% |", 100.0 * hit[k] / (tot[k] ? tot[k] : 1));
	printf("\n");
	model_free(m);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const all[] = {"cnn",      "lenet5",      "mlp",
	                                  "cnn-int8", "lenet5-int8", "mlp-int8"};
	const char *const *names = argc > 1 ? (const char *const *)argv + 1 : all;
	const int n_names = argc > 1 ? argc - 1 : (int)(sizeof(all) / sizeof(all[0]));
	struct idx_set test = {0};
	struct set nd = {0};
	struct dg_error err;
	const char *dir = getenv("DIGITS_MNIST_DIR");
	float *tpx;

	if (idx_load_mnist(&test, dir && *dir ? dir : TRAIN_DATADIR, "t10k", &err) < 0 ||
	    make_nondigits(&nd, &err) < 0 ||
	    !(tpx = malloc((size_t)test.n * IMAGE_PIXELS * sizeof(float)))) {
		fprintf(stderr, "bench_confidence: %s\n", err.msg);
		return 1;
	}
	for (size_t i = 0; i < (size_t)test.n * IMAGE_PIXELS; i++)
		tpx[i] = test.pixels[i] / 255.0f;
	printf("MNIST test: %d digits; non-digits of seed %d: %d with ink (refused as empty:",
	       test.n, NONDIGIT_MEASURE_SEED, nd.n);
	for (int k = 0; k < NONDIGIT_KINDS; k++)
		printf(" %s %d", nondigit_kind_name(k), nd.empty[k]);
	printf(")\n\n| model       | T      | reject | margin | score above | test flagged | "
	       "flagged wrong "
	       "of all wrong | non-digits caught |");
	for (int k = 0; k < NONDIGIT_KINDS; k++)
		printf(" %s |", nondigit_kind_name(k));
	printf("\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < n_names; i++)
		if (row(names[i], &test, tpx, &nd, &err) < 0) {
			fprintf(stderr, "bench_confidence: %s\n", err.msg);
			return 1;
		}
	free(tpx);
	free(nd.px);
	idx_free(&test);
	return 0;
}
