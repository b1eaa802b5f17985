/*
 * read_fit.c - the reader's "one whole digit" score fitted for a model
 * file and written into its header (see read_fit.h).
 */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "idx.h"
#include "number_gen.h"
#include "read_fit.h"
#include "service/reading.h"

#define L2    1e-2 /* on standardised weights, per example */
#define STEPS 25

/* Every candidate piece read: features, box, label, held out or not. */
struct rows {
	int n, cap, nf;
	double *x;   /* n x nf */
	int *box;    /* n x BOX: x, y, w, h, first and end atom, number */
	double *lp;  /* n: log P of the piece's likeliest digit, as the choice adds */
	uint8_t *y;  /* 1: one whole digit */
	uint8_t *va; /* 1: held out */
};

#define BOX 7 /* ints per row in rows.box */

struct recorder {
	struct registry *reg;
	struct rows *rows;
	int n_classes, number;
};

static int grow(struct rows *r, int nf, struct dg_error *err)
{
	int cap = r->cap ? 2 * r->cap : 4096;
	double *x = realloc(r->x, (size_t)cap * (size_t)nf * sizeof(double));
	int *box = x ? realloc(r->box, (size_t)cap * BOX * sizeof(int)) : NULL;
	double *lp = box ? realloc(r->lp, (size_t)cap * sizeof(double)) : NULL;
	uint8_t *y = lp ? realloc(r->y, (size_t)cap) : NULL;
	uint8_t *va = y ? realloc(r->va, (size_t)cap) : NULL;

	if (x)
		r->x = x;
	if (box)
		r->box = box;
	if (lp)
		r->lp = lp;
	if (y)
		r->y = y;
	if (!va)
		return dg_fail(err, DG_ERR_NOMEM, "no memory for %d pieces", cap);
	r->va = va;
	r->cap = cap;
	return 0;
}

/* The reader's classifier: the model's probabilities, and every piece's
 * features and box recorded. */
static int record(void *ctx, const float *pixels, const struct image_read_piece *piece, int n,
                  float *out, struct dg_error *err)
{
	struct recorder *rc = ctx;
	struct rows *r = rc->rows;
	const float *p;

	if (registry_predict(rc->reg, 0, pixels, n, &p, err) < 0)
		return -1;
	memcpy(out, p, (size_t)n * (size_t)rc->n_classes * sizeof(float));
	for (int k = 0; k < n; k++) {
		double f[READING_MAX_FEATURES], best = 1e-6;
		int nf = reading_piece_features(rc->reg, 0, k, p + (size_t)k * rc->n_classes,
		                                pixels + (size_t)k * IMAGE_PIXELS, &piece[k], f);

		if (nf < 0)
			return dg_fail(err, DG_ERR_INVALID, "the model has no not-a-digit head");
		if (r->n == r->cap && grow(r, nf, err) < 0)
			return -1;
		r->nf = nf;
		memcpy(r->x + (size_t)r->n * (size_t)nf, f, (size_t)nf * sizeof(double));
		memcpy(r->box + (size_t)r->n * BOX,
		       (int[BOX]){piece[k].x, piece[k].y, piece[k].w, piece[k].h, piece[k].first,
		                  piece[k].end, rc->number},
		       sizeof(int[BOX]));
		for (int c = 0; c < rc->n_classes && c < 10; c++)
			best = fmax(best, p[(size_t)k * rc->n_classes + c]);
		r->lp[r->n] = log(best);
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
		const int *b = r->box + (size_t)j * BOX;

		r->y[j] = 0;
		r->va[j] = (uint8_t)held_out;
		for (int i = 0; i < nd; i++) {
			const int *t = nb->box[i];

			if (abs(b[0] - t[0]) <= READ_FIT_TOLERANCE * height &&
			    abs(b[0] + b[2] - t[0] - t[2]) <= READ_FIT_TOLERANCE * height)
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
static int fit(const double *z, const struct rows *r, int d, double *w, struct dg_error *err)
{
	double *hess = malloc((size_t)d * (size_t)d * sizeof(double));
	double *grad = malloc((size_t)d * sizeof(double));
	int ntrain = 0, rc = -1;

	if (!hess || !grad) {
		dg_fail(err, DG_ERR_NOMEM, "a %d x %d Hessian", d, d);
		goto out;
	}
	for (int i = 0; i < r->n; i++)
		ntrain += !r->va[i];
	memset(w, 0, (size_t)d * sizeof(double));
	for (int step = 0; step < STEPS; step++) {
		double change = 0;

		memset(hess, 0, (size_t)d * (size_t)d * sizeof(double));
		for (int j = 0; j < d; j++) { /* the bias is not shrunk */
			grad[j] = j < d - 1 ? L2 * ntrain * w[j] : 0;
			hess[j * d + j] = j < d - 1 ? L2 * ntrain : 1e-9;
		}
		for (int i = 0; i < r->n; i++) {
			const double *x = z + (size_t)i * (size_t)d;
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
			dg_fail(err, DG_ERR_INVALID, "the fit did not converge");
			goto out;
		}
		for (int j = 0; j < d; j++)
			w[j] -= grad[j], change += fabs(grad[j]);
		if (change < 1e-6 * d)
			break;
	}
	rc = 0;
out:
	free(hess), free(grad);
	return rc;
}

/* log(e^a + e^b), -HUGE_VAL meaning e^a = 0. */
static double log_add(double a, double b)
{
	if (a == -HUGE_VAL)
		return b;
	if (b == -HUGE_VAL)
		return a;
	return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

/* The choice's lattice over one number's rows [s, e): row i is an edge
 * from atom box[4] to box[5] scoring sc[i - s] (gold: only the whole
 * pieces' edges).  Forward-backward: m[i - s] gets the share of all
 * segmentations' e^score that goes through row i; returns log Z, the log
 * of their sum (-HUGE_VAL: no segmentation). */
static double lattice(const struct rows *r, int s, int e, const double *sc, int gold, double *m)
{
	double al[IMAGE_READ_MAX_ATOMS + 1], be[IMAGE_READ_MAX_ATOMS + 1], z;
	int natom = 0;

	for (int i = s; i < e; i++)
		natom = r->box[(size_t)i * BOX + 5] > natom ? r->box[(size_t)i * BOX + 5] : natom;
	for (int j = 0; j <= natom; j++)
		al[j] = be[j] = -HUGE_VAL;
	al[0] = 0, be[natom] = 0;
	/* Rows come in order of their first atom: al[a] is final when read. */
	for (int i = s; i < e; i++) {
		const int *b = r->box + (size_t)i * BOX;

		if (!gold || r->y[i])
			al[b[5]] = log_add(al[b[5]], al[b[4]] == -HUGE_VAL ? -HUGE_VAL
			                                                   : al[b[4]] + sc[i - s]);
	}
	for (int i = e - 1; i >= s; i--) {
		const int *b = r->box + (size_t)i * BOX;

		if (!gold || r->y[i])
			be[b[4]] = log_add(be[b[4]], be[b[5]] == -HUGE_VAL ? -HUGE_VAL
			                                                   : be[b[5]] + sc[i - s]);
	}
	z = al[natom];
	for (int i = s; i < e; i++) {
		const int *b = r->box + (size_t)i * BOX;

		m[i - s] = z > -HUGE_VAL && (!gold || r->y[i]) && al[b[4]] > -HUGE_VAL &&
		                   be[b[5]] > -HUGE_VAL
		               ? exp(al[b[4]] + sc[i - s] + be[b[5]] - z)
		               : 0;
	}
	return z;
}

/* Whether the best segmentation of rows [s, e) (the reader's choice,
 * max over paths) is made of whole pieces only. */
static int viterbi_right(const struct rows *r, int s, int e, const double *sc)
{
	double best[IMAGE_READ_MAX_ATOMS + 1];
	int from[IMAGE_READ_MAX_ATOMS + 1], natom = 0;

	for (int i = s; i < e; i++)
		natom = r->box[(size_t)i * BOX + 5] > natom ? r->box[(size_t)i * BOX + 5] : natom;
	for (int j = 0; j <= natom; j++)
		best[j] = -HUGE_VAL, from[j] = -1;
	best[0] = 0;
	for (int i = s; i < e; i++) {
		const int *b = r->box + (size_t)i * BOX;

		if (best[b[4]] > -HUGE_VAL && best[b[4]] + sc[i - s] > best[b[5]])
			best[b[5]] = best[b[4]] + sc[i - s], from[b[5]] = i;
	}
	if (from[natom] < 0)
		return 0;
	for (int j = natom; j > 0; j = r->box[(size_t)from[j] * BOX + 4])
		if (from[j] < 0 || !r->y[from[j]])
			return 0;
	return 1;
}

/* The numbers' row ranges (rows come number by number): rows of number k
 * are [start[k], start[k + 1]); *most gets the most rows of one. */
static int *number_starts(const struct rows *r, int *count, int *most)
{
	int n = r->n ? r->box[(size_t)(r->n - 1) * BOX + 6] + 1 : 0;
	int *start = calloc((size_t)n + 1, sizeof(int));

	if (!start)
		return NULL;
	for (int i = 0; i < r->n; i++)
		start[r->box[(size_t)i * BOX + 6] + 1]++;
	*most = 0;
	for (int k = 0; k < n; k++) {
		*most = start[k + 1] > *most ? start[k + 1] : *most;
		start[k + 1] += start[k];
	}
	*count = n;
	return start;
}

/* Score of each row: what the reader adds for it (log P of its digit plus
 * the bonus and the weighted log-odds), into sc; the linear score only. */
static void choice_scores(const double *z, const struct rows *r, int d, const double *w, int s,
                          int e, double *sc)
{
	for (int i = s; i < e; i++) {
		double v = 0;

		for (int j = 0; j < d; j++)
			v += w[j] * z[(size_t)i * (size_t)d + j];
		sc[i - s] = r->lp[i] + READING_WHOLE_BONUS + READING_WHOLE_WEIGHT * v;
	}
}

/* How the choice goes with weights w: mean of log Z - log Z(whole pieces
 * only) and the share of numbers whose best segmentation is right, over
 * the held-out or fitted-on numbers that have a right one; sc and m hold
 * the most rows of a number. */
static void judge_choice(const double *z, const struct rows *r, int d, const double *w,
                         const int *start, int count, int held_out, double *sc, double *m,
                         double *loss, double *right)
{
	int n = 0, ok = 0;

	*loss = *right = 0;
	for (int k = 0; k < count; k++) {
		int s = start[k], e = start[k + 1];
		double za, zg;

		if (e <= s || r->va[s] != held_out)
			continue;
		choice_scores(z, r, d, w, s, e, sc);
		za = lattice(r, s, e, sc, 0, m);
		zg = lattice(r, s, e, sc, 1, m);
		if (zg == -HUGE_VAL)
			continue;
		n++;
		*loss += za - zg;
		ok += viterbi_right(r, s, e, sc);
	}
	*loss /= n ? n : 1;
	*right = (double)ok / (n ? n : 1);
}

/* The linear score w refitted for the choice it is used in: from the
 * per-piece fit, full-batch Adam on the mean over numbers of log Z -
 * log Z(whole pieces only) (a CRF over the reader's lattice: minus the log
 * of the true segmentation's share of all the candidates' segmentations)
 * plus L2.  The per-piece fit judges every piece alone; what the reader
 * needs is that the whole pieces' path outscores the few paths that
 * compete with it, and those are where this loss's gradient is.  sc, ma
 * and mg hold the most rows of a number. */
static int fit_choice(const double *z, const struct rows *r, int d, double *w, const int *start,
                      int count, double *sc, double *ma, double *mg, struct dg_error *err)
{
	double *g = malloc((size_t)d * sizeof(double));
	double *m1 = calloc((size_t)d, sizeof(double)), *m2 = calloc((size_t)d, sizeof(double));

	if (!g || !m1 || !m2) {
		free(g), free(m1), free(m2);
		return dg_fail(err, DG_ERR_NOMEM, "%d weights' moments", d);
	}
	for (int t = 1; t <= READ_FIT_CHOICE_STEPS; t++) {
		double c1 = 1 - pow(0.9, t), c2 = 1 - pow(0.999, t);
		int n = 0;

		memset(g, 0, (size_t)d * sizeof(double));
		for (int k = 0; k < count; k++) {
			int s = start[k], e = start[k + 1];

			if (e <= s || r->va[s])
				continue;
			choice_scores(z, r, d, w, s, e, sc);
			lattice(r, s, e, sc, 0, ma);
			if (lattice(r, s, e, sc, 1, mg) == -HUGE_VAL)
				continue;
			n++;
			for (int i = s; i < e; i++) {
				double de = READING_WHOLE_WEIGHT * (ma[i - s] - mg[i - s]);

				if (de == 0)
					continue;
				for (int j = 0; j < d; j++)
					g[j] += de * z[(size_t)i * (size_t)d + j];
			}
		}
		for (int j = 0; j < d; j++) {
			g[j] = g[j] / (n ? n : 1) + (j < d - 1 ? READ_FIT_CHOICE_L2 * w[j] : 0);
			m1[j] = 0.9 * m1[j] + 0.1 * g[j];
			m2[j] = 0.999 * m2[j] + 0.001 * g[j] * g[j];
			w[j] -= READ_FIT_CHOICE_RATE * (m1[j] / c1) / (sqrt(m2[j] / c2) + 1e-8);
		}
	}
	free(g), free(m1), free(m2);
	return 0;
}

/* The fit's figures on the held-out ([1]) or fitted-on ([0]) rows. */
static void judge(const double *z, const struct rows *r, int d, const double *w, int held_out,
                  struct read_fit_report *rep)
{
	int n = 0, pos = 0, right = 0, fp = 0, fn = 0;
	double loss = 0;

	for (int i = 0; i < r->n; i++) {
		double s = 0, p;

		if (r->va[i] != held_out)
			continue;
		for (int j = 0; j < d; j++)
			s += w[j] * z[(size_t)i * (size_t)d + j];
		p = 1 / (1 + exp(-s));
		n++;
		pos += r->y[i];
		right += (p > 0.5) == r->y[i];
		fp += p > 0.5 && !r->y[i];
		fn += p <= 0.5 && r->y[i];
		loss -= log(r->y[i] ? fmax(p, 1e-12) : fmax(1 - p, 1e-12));
	}
	rep->pieces[held_out] = n;
	rep->whole[held_out] = pos;
	rep->right[held_out] = (double)right / (n ? n : 1);
	rep->whole_called_not[held_out] = fn;
	rep->not_called_whole[held_out] = fp;
	rep->log_loss[held_out] = loss / (n ? n : 1);
}

/* Read o->per numbers of each length made of train's digits, recording
 * their candidate pieces into r. */
static int read_numbers(struct registry *reg, const struct idx_set *train,
                        const struct read_fit_opts *o, struct rows *r, int *numbers,
                        struct dg_error *err)
{
	const struct registry_model_info *m = registry_model_info(reg, 0);
	struct recorder rc = {reg, r, m->n_classes, 0};
	const struct image_reader rd = {record, &rc, m->n_classes, registry_max_batch(reg), 0, 0};
	struct image_read_result *rr = malloc(sizeof(*rr));
	int rc_ = 0;

	if (!rr)
		return dg_fail(err, DG_ERR_NOMEM, "a reading");
	for (int len = 1; len <= NUMBER_MAX && rc_ == 0; len++) {
		for (int k = 0; k < o->per && rc_ == 0; k++) {
			struct number_opts no = {.ndigits = len, .touching = 0.3};
			struct number nb;
			int first = r->n;

			if (number_render(train->pixels, train->labels, train->n, &no,
			                  o->seed * 1000003u + (uint64_t)len * 100000u +
			                      (uint64_t)k,
			                  &nb) < 0) {
				rc_ = dg_fail(err, DG_ERR_NOMEM, "cannot render a number");
				break;
			}
			/* A number with no ink or too many pieces still taught
			 * the pieces it made. */
			if (image_read(nb.bytes, nb.len, NULL, &rd, rr, NULL, err) < 0 &&
			    err->code != DG_ERR_EMPTY && err->code != DG_ERR_INVALID)
				rc_ = -1;
			else if (r->n > first && r->nf == 0)
				rc_ = dg_fail(err, DG_ERR_INVALID, "no features");
			label(r, first, &nb, len, k % 5 == 4);
			number_free(&nb);
			rc.number = ++*numbers;
		}
	}
	free(rr);
	return rc_;
}

/* Standardise the rows, fit, judge, and fold the standardisation into
 * rep->w: w . (x - mean) / sd + b. */
static int fit_rows(const struct rows *r, struct read_fit_report *rep, struct dg_error *err)
{
	int d = r->nf + 1, rc = -1, count = 0, most = 0, *start = NULL;
	double *sc = NULL;
	double *z = malloc((size_t)r->n * (size_t)d * sizeof(double));
	double *mean = calloc((size_t)d, sizeof(double)), *sd = calloc((size_t)d, sizeof(double));
	double *w = malloc((size_t)d * sizeof(double));

	if (!z || !mean || !sd || !w) {
		dg_fail(err, DG_ERR_NOMEM, "%d pieces of %d features", r->n, r->nf);
		goto out;
	}
	for (int i = 0; i < r->n; i++)
		for (int j = 0; j < r->nf; j++)
			mean[j] += r->x[(size_t)i * (size_t)r->nf + j] / r->n;
	for (int i = 0; i < r->n; i++)
		for (int j = 0; j < r->nf; j++) {
			double e = r->x[(size_t)i * (size_t)r->nf + j] - mean[j];

			sd[j] += e * e / r->n;
		}
	for (int j = 0; j < r->nf; j++)
		sd[j] = sd[j] > 1e-12 ? sqrt(sd[j]) : 0; /* a constant feature says nothing */
	for (int i = 0; i < r->n; i++) {
		for (int j = 0; j < r->nf; j++)
			z[(size_t)i * (size_t)d + j] =
			    sd[j] > 0 ? (r->x[(size_t)i * (size_t)r->nf + j] - mean[j]) / sd[j] : 0;
		z[(size_t)i * (size_t)d + r->nf] = 1;
	}
	if (!(start = number_starts(r, &count, &most)) ||
	    !(sc = malloc((size_t)(most + 1) * 3 * sizeof(double)))) {
		dg_fail(err, DG_ERR_NOMEM, "the lattices of %d pieces", r->n);
		goto out;
	}
	if (fit(z, r, d, w, err) < 0)
		goto out;
	for (int h = 0; h < 2; h++)
		judge_choice(z, r, d, w, start, count, h, sc, sc + most + 1,
		             &rep->piece_choice_loss[h], &rep->piece_choice_right[h]);
	if (fit_choice(z, r, d, w, start, count, sc, sc + most + 1, sc + 2 * (most + 1), err) < 0)
		goto out;
	for (int h = 0; h < 2; h++) {
		judge(z, r, d, w, h, rep);
		judge_choice(z, r, d, w, start, count, h, sc, sc + most + 1, &rep->choice_loss[h],
		             &rep->choice_right[h]);
	}
	rep->w.bias = w[r->nf];
	for (int j = 0; j < r->nf; j++) {
		rep->w.weight[j] = sd[j] > 0 ? w[j] / sd[j] : 0;
		rep->w.bias -= rep->w.weight[j] * mean[j];
	}
	rep->w.n_features = r->nf;
	rep->w.fitted = true;
	rc = 0;
out:
	free(z), free(mean), free(sd), free(w), free(start), free(sc);
	return rc;
}

/* The model's training metadata with training.reading put in, saved over
 * path: same graph, same weights. */
static int rewrite(const char *path, const struct read_fit_opts *o,
                   const struct read_fit_report *rep, struct dg_error *err)
{
	struct json_object *training = NULL, *reading = json_object_new_object(), *whole = NULL;
	struct json_object *fit = json_object_new_object();
	struct model *m = NULL;
	int rc = -1;

	if (model_load(&m, path, err) < 0)
		goto out;
	if (!m->training)
		training = json_object_new_object();
	else if (json_object_deep_copy(m->training, &training, NULL) < 0)
		training = NULL;
	whole = reading_whole_to_json(&rep->w, m->graph);
	if (!training || !reading || !whole || !fit) {
		dg_fail(err, DG_ERR_NOMEM, "%s: new header", path);
		goto out;
	}
	json_object_object_add(fit, "numbers_per_length", json_object_new_int(o->per));
	json_object_object_add(fit, "seed", json_object_new_int64((int64_t)o->seed));
	json_object_object_add(fit, "digits", json_object_new_string("MNIST training"));
	json_object_object_add(fit, "pieces", json_object_new_int(rep->pieces[0]));
	json_object_object_add(fit, "held_out_pieces", json_object_new_int(rep->pieces[1]));
	json_object_object_add(fit, "held_out_right", json_object_new_double(rep->right[1]));
	json_object_object_add(fit, "held_out_segmented_right",
	                       json_object_new_double(rep->choice_right[1]));
	json_object_object_add(reading, "whole_digit", whole);
	json_object_object_add(reading, "fitted_on", fit);
	whole = fit = NULL;
	json_object_object_add(training, "reading", reading);
	reading = NULL;
	rc = model_save(path, m->graph, m->params, training, err);
out:
	json_object_put(training);
	json_object_put(reading);
	json_object_put(whole);
	json_object_put(fit);
	model_free(m);
	return rc;
}

int read_fit_model_file(const char *path, const char *data_dir, const struct read_fit_opts *o,
                        struct read_fit_report *rep, struct dg_error *err)
{
	struct registry *reg = NULL;
	struct idx_set train = {0};
	struct rows rows = {0};
	struct dg_error inner = {0};
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (o->per < 5)
		return dg_fail(err, DG_ERR_INVALID,
		               "%d numbers of each length: too few to hold "
		               "one in five out",
		               o->per);
	if (registry_create(&reg, 64, err) < 0 || registry_add_file(reg, path, err) < 0)
		goto out;
	if (!registry_model_info(reg, 0)->confidence.head.fitted) {
		dg_fail(err, DG_ERR_INVALID,
		        "%s: no not-a-digit head to read (digits-train --fit-confidence first)",
		        path);
		goto out;
	}
	if (idx_load_mnist(&train, data_dir, "train", err) < 0)
		goto out;
	rep->w.node = registry_model_info(reg, 0)->confidence.head.node;
	if (read_numbers(reg, &train, o, &rows, &rep->numbers, &inner) < 0 ||
	    fit_rows(&rows, rep, &inner) < 0) {
		dg_fail(err, inner.code, "%s: %s", path, inner.msg);
		goto out;
	}
	rc = rewrite(path, o, rep, err);
out:
	free(rows.x), free(rows.box), free(rows.lp), free(rows.y), free(rows.va);
	idx_free(&train);
	registry_free(reg);
	return rc;
}
