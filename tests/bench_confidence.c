/*
 * bench_confidence.c - the "uncertain" flag of each shipped model, as a
 * table (make bench): its thresholds (the not-a-digit score's, if the
 * file has one), MNIST test digits flagged, how many of those the model
 * got wrong, and the measuring seed's non-digits caught, by kind.
 * Needs MNIST (make data, or DIGITS_MNIST_DIR).
 *
 *   bench_confidence [MODEL...]   (names under models/, or paths; default all six)
 *   bench_confidence --sweep MODEL
 *
 * --sweep: the trade-off behind the two shares --fit-confidence is built
 * with (train/calibrate.h), for one model: for each pair of validation
 * shares (ambiguous, flagged in all) the margin and head threshold they
 * give, then on MNIST test the share flagged, how many of those are
 * wrong, and the non-digits caught.  The thresholds come from validation
 * digits only, as --fit-confidence sets them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "engine/confidence.h"
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

/* A shipped model's name (under models/) or a path. */
static const char *model_path(const char *name, char *path, size_t size)
{
	if (strchr(name, '/'))
		snprintf(path, size, "%s", name);
	else
		snprintf(path, size, "%s/models/%s.model", DIGITS_SRCDIR, name);
	return path;
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

	if (model_load(&m, model_path(name, path, sizeof(path)), err) < 0)
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

/* What the flag is made of, per image: the head's log-odds, the calibrated
 * top-two gap and the argmax. */
struct judged {
	double score, gap;
	int digit;
};

static int judge_set(const struct model *m, const struct confidence_params *cp, const float *px,
                     int n, struct judged **out, struct dg_error *err)
{
	struct confidence_judgement j;
	float *p, *h;

	if (!(*out = malloc((size_t)n * sizeof(**out))))
		return dg_fail(err, DG_ERR_NOMEM, "%d judgements", n);
	if (calibrate_forward_hidden(m->graph, m->params, px, n, cp->head.node, &p, &h, err) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		confidence_judge_input(cp, p + (size_t)i * 10, 10,
		                       h + (size_t)i * (size_t)cp->head.n_hidden,
		                       px + (size_t)i * IMAGE_PIXELS, &j);
		(*out)[i] = (struct judged){j.score, j.confidence - j.runner_up, j.digit};
	}
	free(p);
	free(h);
	return 0;
}

/* The margin flagging amb of the n validation images, and the score above
 * which all of them are flagged in all, as --fit-confidence sets both. */
static int thresholds(const struct judged *v, int n, double amb, double all, double *margin,
                      double *threshold)
{
	double *x = malloc((size_t)n * sizeof(double));
	int k = 0;

	if (!x)
		return -1;
	for (int i = 0; i < n; i++)
		x[i] = v[i].gap;
	*margin = calibrate_margin(x, n, amb);
	for (int i = 0; i < n; i++)
		if (v[i].gap >= *margin)
			x[k++] = v[i].score;
	*threshold = calibrate_head_threshold(x, k, n, all);
	free(x);
	return 0;
}

static int sweep(const char *name, const struct idx_set *test, const float *tpx,
                 const struct set *nd, const char *dir, struct dg_error *err)
{
	static const double amb[] = {0.001, 0.002, 0.003};
	static const double all[] = {0.002, 0.003, 0.004, 0.005, 0.006, 0.008};
	struct idx_set train = {0};
	struct judged *jv = NULL, *jt = NULL, *jn = NULL;
	struct confidence_params cp;
	struct model *m;
	char path[4096];
	float *vpx = NULL;
	uint8_t *vlab = NULL;
	int nv = 0, rc = -1, wrong = 0;

	if (model_load(&m, model_path(name, path, sizeof(path)), err) < 0)
		return -1;
	if (confidence_from_training(m->training, m->graph, &cp, err) < 0)
		goto out;
	if (!cp.head.fitted) {
		dg_fail(err, DG_ERR_INVALID, "%s: no not-a-digit head to sweep", name);
		goto out;
	}
	if (idx_load_mnist(&train, dir, "train", err) < 0 ||
	    calibrate_validation_set(m, &train, &vpx, &vlab, &nv, err) < 0 ||
	    judge_set(m, &cp, vpx, nv, &jv, err) < 0 ||
	    judge_set(m, &cp, tpx, test->n, &jt, err) < 0 ||
	    judge_set(m, &cp, nd->px, nd->n, &jn, err) < 0)
		goto out;
	for (int i = 0; i < test->n; i++)
		wrong += jt[i].digit != test->labels[i];
	printf("%s: %d validation digits, %d test digits (%d wrong), %d non-digits; shipped: "
	       "margin %.4f, score above %.4f\n\n",
	       name, nv, test->n, wrong, nd->n, cp.ambiguous_margin, cp.head.threshold);
	printf("| validation: ambiguous | in all | margin | score above | test flagged | of them "
	       "wrong | wrong flagged of all | non-digits caught "
	       "|\n|---|---|---|---|---|---|---|---|\n");
	for (size_t a = 0; a < sizeof(amb) / sizeof(amb[0]); a++)
		for (size_t b = 0; b < sizeof(all) / sizeof(all[0]); b++) {
			double margin, thr;
			int flagged = 0, both = 0, caught = 0;

			if (all[b] < amb[a] ||
			    thresholds(jv, nv, amb[a], all[b], &margin, &thr) < 0)
				continue;
			for (int i = 0; i < test->n; i++) {
				int f = jt[i].gap < margin || jt[i].score > thr;

				flagged += f;
				both += f && jt[i].digit != test->labels[i];
			}
			for (int i = 0; i < nd->n; i++)
				caught += jn[i].gap < margin || jn[i].score > thr;
			printf("| %.1f %% | %.1f %% | %.4f | %.4f | %.2f %% | %d (%.0f %%) | %d of "
			       "%d | "
			       "%.1f %% |\n",
			       100 * amb[a], 100 * all[b], margin, thr, 100.0 * flagged / test->n,
			       both, flagged ? 100.0 * both / flagged : 0.0, both, wrong,
			       100.0 * caught / nd->n);
		}
	rc = 0;
out:
	free(jv);
	free(jt);
	free(jn);
	free(vpx);
	free(vlab);
	idx_free(&train);
	model_free(m);
	return rc;
}

int main(int argc, char **argv)
{
	static const char *const all[] = {"cnn",      "lenet5",      "mlp",
	                                  "cnn-int8", "lenet5-int8", "mlp-int8"};
	const int sweeping = argc == 3 && !strcmp(argv[1], "--sweep");
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
	if (sweeping) {
		int rc = sweep(argv[2], &test, tpx, &nd, dir && *dir ? dir : TRAIN_DATADIR, &err);

		if (rc < 0)
			fprintf(stderr, "bench_confidence: %s\n", err.msg);
		free(tpx);
		free(nd.px);
		idx_free(&test);
		return rc < 0;
	}
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
