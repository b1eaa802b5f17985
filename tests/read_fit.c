/*
 * read_fit.c - fit the reader's "this piece is one whole digit" head (see
 * src/service/reading.h) for one model file, on numbers of MNIST
 * *training* digits (never the test digits read_eval measures on).
 *
 *   read_fit [--n N] [--seed S] [--model FILE] > table.c
 *
 * N numbers of each length 1..12 (default 60) go through image_read with
 * a classifier that records every candidate piece's features
 * (reading_piece_features) and box.  A piece is one whole digit when its
 * box's left and right sides are within a tenth of the text height of
 * one digit's ink box (number_gen's, the pixels it inks most); everything
 * else (slices of a digit, two digits, a digit and a scrap) is not.  A
 * logistic regression (features standardised, a little L2, Newton steps)
 * is fitted on four numbers in five and judged on the fifth; the table
 * entry for reading_whole.c, standardisation folded in, goes to stdout,
 * the figures to stderr.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "idx.h"
#include "number_gen.h"
#include "service/reading.h"

#define TOLERANCE 0.15 /* of the text height: a side this close is the digit's */
#define L2        1e-2 /* on standardised weights, per example */
#define STEPS     25

struct rows {
	int n, cap, nf;
	double *x;   /* n x nf */
	int *box;    /* n x 4: x, y, w, h */
	uint8_t *y;  /* 1: one whole digit */
	uint8_t *va; /* 1: held out */
};

struct recorder {
	struct registry *reg;
	struct rows *rows;
	int n_classes, first; /* the current number's first row */
	int no_head;          /* the model's features cannot be read */
	struct dg_error err;
};

static int record(void *ctx, const float *pixels, const struct image_read_piece *piece, int n,
                  float *out, struct dg_error *err)
{
	struct recorder *rc = ctx;
	struct rows *r = rc->rows;
	const float *p;

	if (registry_predict(rc->reg, 0, pixels, n, &p, err) < 0)
		return -1;
	memcpy(out, p, (size_t)n * rc->n_classes * sizeof(float));
	for (int k = 0; k < n; k++) {
		double f[READING_MAX_FEATURES];
		int nf = reading_piece_features(rc->reg, 0, k, p + (size_t)k * rc->n_classes,
		                                pixels + (size_t)k * IMAGE_PIXELS, &piece[k], f);

		if (nf < 0) {
			rc->no_head = 1;
			return dg_fail(err, DG_ERR_INVALID, "the model has no not-a-digit head");
		}
		if (r->n == r->cap) {
			int cap = r->cap ? 2 * r->cap : 4096;
			double *x = realloc(r->x, (size_t)cap * nf * sizeof(double));
			int *box = x ? realloc(r->box, (size_t)cap * 4 * sizeof(int)) : NULL;
			uint8_t *y = box ? realloc(r->y, (size_t)cap) : NULL;
			uint8_t *va = y ? realloc(r->va, (size_t)cap) : NULL;

			if (x)
				r->x = x;
			if (box)
				r->box = box;
			if (y)
				r->y = y;
			if (!va)
				return dg_fail(err, DG_ERR_NOMEM, "no memory for %d pieces", cap);
			r->va = va;
			r->cap = cap;
		}
		r->nf = nf;
		memcpy(r->x + (size_t)r->n * nf, f, (size_t)nf * sizeof(double));
		memcpy(r->box + (size_t)r->n * 4,
		       (int[4]){piece[k].x, piece[k].y, piece[k].w, piece[k].h}, sizeof(int[4]));
		r->n++;
	}
	return 0;
}

/* Label the rows [first, n) of one number against its digits' boxes. */
static void label(struct rows *r, int first, const struct number *nb, int nd, int held_out)
{
	double height = 0;

	for (int i = 0; i < nd; i++)
		height = nb->box[i][3] > height ? nb->box[i][3] : height;
	for (int j = first; j < r->n; j++) {
		const int *b = r->box + (size_t)j * 4;

		r->y[j] = 0;
		r->va[j] = (uint8_t)held_out;
		for (int i = 0; i < nd; i++) {
			const int *t = nb->box[i];

			if (abs(b[0] - t[0]) <= TOLERANCE * height &&
			    abs(b[0] + b[2] - t[0] - t[2]) <= TOLERANCE * height)
				r->y[j] = 1;
		}
	}
}

/* Solve a x = b (a symmetric positive definite, n x n) in place by
 * Cholesky; b gets x.  -1 when a is not positive definite. */
static int solve(double *a, double *b, int n)
{
	for (int j = 0; j < n; j++) {
		double d = a[j * n + j];

		for (int k = 0; k < j; k++)
			d -= a[j * n + k] * a[j * n + k];
		if (d <= 0)
			return -1;
		a[j * n + j] = sqrt(d);
		for (int i = j + 1; i < n; i++) {
			double s = a[i * n + j];

			for (int k = 0; k < j; k++)
				s -= a[i * n + k] * a[j * n + k];
			a[i * n + j] = s / a[j * n + j];
		}
	}
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < i; k++)
			b[i] -= a[i * n + k] * b[k];
		b[i] /= a[i * n + i];
	}
	for (int i = n - 1; i >= 0; i--) {
		for (int k = i + 1; k < n; k++)
			b[i] -= a[k * n + i] * b[k];
		b[i] /= a[i * n + i];
	}
	return 0;
}

/* Logistic regression on the training rows of standardised z (n x d,
 * the last column a constant 1): w gets d weights. */
static int fit(const double *z, const struct rows *r, int d, double *w)
{
	double *hess = malloc((size_t)d * d * sizeof(double)), *grad = malloc(d * sizeof(double));
	int ntrain = 0;

	if (!hess || !grad) {
		free(hess), free(grad);
		return -1;
	}
	for (int i = 0; i < r->n; i++)
		ntrain += !r->va[i];
	memset(w, 0, (size_t)d * sizeof(double));
	for (int step = 0; step < STEPS; step++) {
		double change = 0;

		memset(hess, 0, (size_t)d * d * sizeof(double));
		for (int j = 0; j < d; j++) { /* the bias is not shrunk */
			grad[j] = j < d - 1 ? L2 * ntrain * w[j] : 0;
			hess[j * d + j] = j < d - 1 ? L2 * ntrain : 1e-9;
		}
		for (int i = 0; i < r->n; i++) {
			const double *x = z + (size_t)i * d;
			double s = 0, p, q;

			if (r->va[i])
				continue;
			for (int j = 0; j < d; j++)
				s += w[j] * x[j];
			p = 1 / (1 + exp(-s));
			q = p * (1 - p);
			for (int j = 0; j < d; j++) {
				grad[j] += (p - r->y[i]) * x[j];
				for (int k = 0; k <= j; k++)
					hess[j * d + k] += q * x[j] * x[k];
			}
		}
		for (int j = 0; j < d; j++)
			for (int k = j + 1; k < d; k++)
				hess[j * d + k] = hess[k * d + j];
		if (solve(hess, grad, d) < 0) {
			free(hess), free(grad);
			return -1;
		}
		for (int j = 0; j < d; j++)
			w[j] -= grad[j], change += fabs(grad[j]);
		if (change < 1e-6 * d)
			break;
	}
	free(hess), free(grad);
	return 0;
}

static void judge(const double *z, const struct rows *r, int d, const double *w, int held_out)
{
	int n = 0, pos = 0, right = 0, fp = 0, fn = 0;
	double loss = 0;

	for (int i = 0; i < r->n; i++) {
		double s = 0, p;

		if (r->va[i] != held_out)
			continue;
		for (int j = 0; j < d; j++)
			s += w[j] * z[(size_t)i * d + j];
		p = 1 / (1 + exp(-s));
		n++;
		pos += r->y[i];
		right += (p > 0.5) == r->y[i];
		fp += p > 0.5 && !r->y[i];
		fn += p <= 0.5 && r->y[i];
		loss -= log(r->y[i] ? fmax(p, 1e-12) : fmax(1 - p, 1e-12));
	}
	fprintf(stderr,
	        "read_fit: %s: %d pieces, %d whole digits: %.2f %% right (%d whole called not, "
	        "%d not called whole), log-loss %.4f\n",
	        held_out ? "held out" : "fitted on", n, pos, 100.0 * right / (n ? n : 1), fn, fp,
	        loss / (n ? n : 1));
}

int main(int argc, char **argv)
{
	const char *env = getenv("DIGITS_MNIST_DIR"), *build = getenv("top_builddir");
	const char *src = getenv("top_srcdir"), *model = NULL;
	char dir[1024], path[1024];
	int per = 60, d;
	unsigned long long seed = 7;
	struct idx_set train;
	struct dg_error err;
	struct rows rows = {0};
	struct recorder rc = {.rows = &rows};
	struct image_read_result *rr = malloc(sizeof(*rr));
	const struct registry_model_info *m;
	double *z, *mean, *sd, *w;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
			per = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
			model = argv[++i];
		else {
			fprintf(stderr, "usage: read_fit [--n N] [--seed S] [--model FILE]\n");
			return 2;
		}
	}
#ifdef _OPENMP
	omp_set_num_threads(1);
#endif
	snprintf(dir, sizeof(dir), "%s/data/mnist", build ? build : ".");
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	if (!model) {
		snprintf(path, sizeof(path), "%s/models/cnn.model", src ? src : DIGITS_SRCDIR);
		model = path;
	}
	if (!rr || idx_load_mnist(&train, dir, "train", &err) < 0 ||
	    registry_create(&rc.reg, 64, &err) < 0 || registry_add_file(rc.reg, model, &err) < 0) {
		fprintf(stderr, "read_fit: %s\n", rr ? err.msg : "out of memory");
		return 1;
	}
	m = registry_model_info(rc.reg, 0);
	rc.n_classes = m->n_classes;
	for (int len = 1; len <= NUMBER_MAX; len++) {
		for (int k = 0; k < per; k++) {
			struct number_opts o = {.ndigits = len, .touching = 0.3};
			const struct image_reader rd = {
			    record, &rc, m->n_classes, registry_max_batch(rc.reg), 0, 0};
			struct number nb;
			int first = rows.n;

			if (number_render(train.pixels, train.labels, train.n, &o,
			                  seed * 1000003u + (uint64_t)len * 100000u + (uint64_t)k,
			                  &nb) < 0) {
				fprintf(stderr, "read_fit: cannot render a number\n");
				return 1;
			}
			if ((image_read(nb.bytes, nb.len, NULL, &rd, rr, NULL, &err) < 0 &&
			     err.code != DG_ERR_EMPTY && err.code != DG_ERR_INVALID) ||
			    rc.no_head) {
				fprintf(stderr, "read_fit: %s\n", err.msg);
				return 1;
			}
			label(&rows, first, &nb, len, k % 5 == 4);
			number_free(&nb);
		}
	}
	d = rows.nf + 1;
	z = malloc((size_t)rows.n * d * sizeof(double));
	mean = calloc((size_t)d, sizeof(double));
	sd = calloc((size_t)d, sizeof(double));
	w = malloc((size_t)d * sizeof(double));
	if (!z || !mean || !sd || !w) {
		fprintf(stderr, "read_fit: out of memory\n");
		return 1;
	}
	for (int i = 0; i < rows.n; i++)
		for (int j = 0; j < rows.nf; j++)
			mean[j] += rows.x[(size_t)i * rows.nf + j] / rows.n;
	for (int i = 0; i < rows.n; i++)
		for (int j = 0; j < rows.nf; j++) {
			double e = rows.x[(size_t)i * rows.nf + j] - mean[j];

			sd[j] += e * e / rows.n;
		}
	for (int j = 0; j < rows.nf; j++)
		sd[j] = sd[j] > 1e-12 ? sqrt(sd[j]) : 0; /* a constant feature says nothing */
	for (int i = 0; i < rows.n; i++) {
		for (int j = 0; j < rows.nf; j++)
			z[(size_t)i * d + j] =
			    sd[j] > 0 ? (rows.x[(size_t)i * rows.nf + j] - mean[j]) / sd[j] : 0;
		z[(size_t)i * d + rows.nf] = 1;
	}
	if (fit(z, &rows, d, w) < 0) {
		fprintf(stderr, "read_fit: the fit did not converge\n");
		return 1;
	}
	judge(z, &rows, d, w, 0);
	judge(z, &rows, d, w, 1);
	/* Fold the standardisation in: w . (x - mean) / sd + b. */
	{
		double bias = w[rows.nf];

		for (int j = 0; j < rows.nf; j++) {
			w[j] = sd[j] > 0 ? w[j] / sd[j] : 0;
			bias -= w[j] * mean[j];
		}
		printf("/* %s (%s, %s): read_fit --n %d --seed %llu */\n", m->file, m->name,
		       m->version, per, seed);
		printf("static const double whole_%s[] = {\n", m->version);
		for (int j = 0; j < rows.nf; j++)
			printf("%s%.9g,%s", j % 6 ? " " : "\t", w[j], j % 6 == 5 ? "\n" : "");
		printf("\n};\n");
		printf("/* in heads[]: {\"%s\", %d, %.9g, whole_%s}, */\n", m->version, rows.nf,
		       bias, m->version);
	}
	free(z), free(mean), free(sd), free(w);
	free(rows.x), free(rows.box), free(rows.y), free(rows.va);
	free(rr);
	registry_free(rc.reg);
	idx_free(&train);
	return 0;
}
