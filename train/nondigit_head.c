/*
 * nondigit_head.c - fitting the "not a digit" logistic regression (see
 * nondigit_head.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "nondigit_head.h"

#define ADAM_RATE 0.05
#define ADAM_B1   0.9
#define ADAM_B2   0.999
#define ADAM_EPS  1e-8

int nondigit_head_features(const struct not_a_digit_head *h, const float *probs,
                           const float *hidden, const float *pixels, int n, double **out,
                           struct dg_error *err)
{
	size_t d = (size_t)h->n_features;

	if (!(*out = malloc((size_t)n * d * sizeof(double))))
		return dg_fail(err, DG_ERR_NOMEM, "features of %d images", n);
	for (int i = 0; i < n; i++)
		not_a_digit_features(hidden + (size_t)i * (size_t)h->n_hidden, h->n_hidden,
		                     probs + (size_t)i * (size_t)h->n_classes, h->n_classes,
		                     pixels + (size_t)i * IMAGE_PIXELS, *out + (size_t)i * d);
	return 0;
}

double nondigit_head_score(const struct not_a_digit_head *h, const double *x, int i)
{
	return not_a_digit_apply(h, x + (size_t)i * (size_t)h->n_features);
}

/* Each feature's mean and spread (1 for a constant one). */
static void moments(const double *x, int n, int d, double *mean, double *sd)
{
	for (int k = 0; k < d; k++) {
		double s = 0, ss = 0;

		for (int i = 0; i < n; i++)
			s += x[(size_t)i * (size_t)d + k];
		mean[k] = s / n;
		for (int i = 0; i < n; i++) {
			double v = x[(size_t)i * (size_t)d + k] - mean[k];

			ss += v * v;
		}
		sd[k] = ss > 0 ? sqrt(ss / n) : 1;
	}
}

/* One full-batch gradient of the class-weighted mean log-loss plus the L2
 * penalty, at standardised weights w (d) and bias w[d], into g (d + 1). */
static void gradient(const double *x, const uint8_t *y, int n, int d, const double *mean,
                     const double *sd, const double *w, const double *cw, double *g)
{
	memset(g, 0, (size_t)(d + 1) * sizeof(double));
	for (int i = 0; i < n; i++) {
		const double *row = x + (size_t)i * (size_t)d;
		double z = w[d], r;

		for (int k = 0; k < d; k++)
			z += w[k] * (row[k] - mean[k]) / sd[k];
		r = cw[y[i]] * (1 / (1 + exp(-z)) - y[i]);
		for (int k = 0; k < d; k++)
			g[k] += r * (row[k] - mean[k]) / sd[k];
		g[d] += r;
	}
	for (int k = 0; k < d; k++)
		g[k] += NONDIGIT_HEAD_L2 * w[k];
}

/* A deterministic N(0, 1) for the units' starting weights. */
static double gauss(uint64_t *state)
{
	double u[2];

	for (int k = 0; k < 2; k++) {
		*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
		u[k] = ((*state >> 11) + 0.5) / 9007199254740992.0;
	}
	return sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

/* The MLP stage: from the fitted linear part w (d + 1, standardised),
 * NONDIGIT_HEAD_UNITS relu units trained with it by full-batch Adam on
 * the same loss (L2 on everything but the biases); the units' weights are
 * folded into h (unit_*) and the linear part left in w for the caller. */
static int fit_units(struct not_a_digit_head *h, const double *x, const uint8_t *y, int n, int d,
                     const double *mean, const double *sd, double *w, const double cw[2],
                     struct dg_error *err)
{
	const int H = NONDIGIT_HEAD_UNITS, np = (d + 1) + H * (d + 2);
	double *z = malloc((size_t)n * (size_t)d * sizeof(double));
	double *p = calloc((size_t)np, sizeof(double)), *g = malloc((size_t)np * sizeof(double));
	double *m1 = calloc((size_t)np, sizeof(double)), *m2 = calloc((size_t)np, sizeof(double));
	uint64_t seed = 0x6e6f6e6469676974ULL;
	int rc = 0;

	if (!z || !p || !g || !m1 || !m2) {
		rc = dg_fail(err, DG_ERR_NOMEM, "a head of %d units", H);
		goto out;
	}
	/* p: the linear part (d weights, bias), then per unit d weights, a
	 * bias and its output weight. */
	for (int i = 0; i < n; i++)
		for (int k = 0; k < d; k++)
			z[(size_t)i * d + k] = (x[(size_t)i * d + k] - mean[k]) / sd[k];
	memcpy(p, w, (size_t)(d + 1) * sizeof(double));
	for (int u = 0; u < H; u++) {
		double *pu = p + (d + 1) + (size_t)u * (d + 2);

		for (int k = 0; k < d; k++)
			pu[k] = gauss(&seed) / sqrt((double)d);
		pu[d + 1] = 0.1 * gauss(&seed);
	}
	for (int t = 1; t <= NONDIGIT_HEAD_UNIT_STEPS; t++) {
		double c1 = 1 - pow(ADAM_B1, t), c2 = 1 - pow(ADAM_B2, t);

		memset(g, 0, (size_t)np * sizeof(double));
		for (int i = 0; i < n; i++) {
			const double *row = z + (size_t)i * d;
			double s = p[d], a[NOT_A_DIGIT_MAX_UNITS], r;

			for (int k = 0; k < d; k++)
				s += p[k] * row[k];
			for (int u = 0; u < H; u++) {
				const double *pu = p + (d + 1) + (size_t)u * (d + 2);
				double v = pu[d];

				for (int k = 0; k < d; k++)
					v += pu[k] * row[k];
				a[u] = v > 0 ? v : 0;
				s += pu[d + 1] * a[u];
			}
			r = cw[y[i]] * (1 / (1 + exp(-s)) - y[i]);
			for (int k = 0; k < d; k++)
				g[k] += r * row[k];
			g[d] += r;
			for (int u = 0; u < H; u++) {
				const double *pu = p + (d + 1) + (size_t)u * (d + 2);
				double *gu = g + (d + 1) + (size_t)u * (d + 2), ru;

				gu[d + 1] += r * a[u];
				if (a[u] <= 0)
					continue;
				ru = r * pu[d + 1];
				for (int k = 0; k < d; k++)
					gu[k] += ru * row[k];
				gu[d] += ru;
			}
		}
		for (int k = 0; k < d; k++)
			g[k] += NONDIGIT_HEAD_L2 * p[k];
		for (int u = 0; u < H; u++) {
			double *pu = p + (d + 1) + (size_t)u * (d + 2);
			double *gu = g + (d + 1) + (size_t)u * (d + 2);

			for (int k = 0; k < d; k++)
				gu[k] += NONDIGIT_HEAD_L2 * pu[k];
			gu[d + 1] += NONDIGIT_HEAD_L2 * pu[d + 1];
		}
		for (int k = 0; k < np; k++) {
			m1[k] = ADAM_B1 * m1[k] + (1 - ADAM_B1) * g[k];
			m2[k] = ADAM_B2 * m2[k] + (1 - ADAM_B2) * g[k] * g[k];
			p[k] -=
			    NONDIGIT_HEAD_UNIT_RATE * (m1[k] / c1) / (sqrt(m2[k] / c2) + ADAM_EPS);
		}
	}
	memcpy(w, p, (size_t)(d + 1) * sizeof(double));
	/* Fold the standardisation into each unit: u.(x - mean)/sd + b. */
	h->n_units = H;
	for (int u = 0; u < H; u++) {
		const double *pu = p + (d + 1) + (size_t)u * (d + 2);

		h->unit_bias[u] = pu[d];
		h->unit_out[u] = pu[d + 1];
		for (int k = 0; k < d; k++) {
			h->unit_weight[u][k] = (float)(pu[k] / sd[k]);
			h->unit_bias[u] -= pu[k] * mean[k] / sd[k];
		}
	}
out:
	free(z);
	free(p);
	free(g);
	free(m1);
	free(m2);
	return rc;
}

int nondigit_head_fit(struct not_a_digit_head *h, const double *x, const uint8_t *y, int n,
                      struct dg_error *err)
{
	int d = h->n_features, count[2] = {0, 0};
	size_t sz = (size_t)(d + 1) * sizeof(double);
	double *mean = malloc(sz), *sd = malloc(sz), *w = calloc(1, sz), *g = malloc(sz);
	double *m1 = calloc(1, sz), *m2 = calloc(1, sz), cw[2];
	int rc = 0;

	if (!mean || !sd || !w || !g || !m1 || !m2) {
		rc = dg_fail(err, DG_ERR_NOMEM, "a head of %d features", d);
		goto out;
	}
	for (int i = 0; i < n; i++)
		count[y[i] != 0]++;
	if (!count[0] || !count[1]) {
		rc = dg_fail(err, DG_ERR_INVALID, "%d digits and %d non-digits: need both",
		             count[0], count[1]);
		goto out;
	}
	/* Each class weighs half, whatever its count. */
	cw[0] = 0.5 / count[0], cw[1] = 0.5 / count[1];
	moments(x, n, d, mean, sd);
	for (int t = 1; t <= NONDIGIT_HEAD_STEPS; t++) {
		double c1 = 1 - pow(ADAM_B1, t), c2 = 1 - pow(ADAM_B2, t);

		gradient(x, y, n, d, mean, sd, w, cw, g);
		for (int k = 0; k <= d; k++) {
			m1[k] = ADAM_B1 * m1[k] + (1 - ADAM_B1) * g[k];
			m2[k] = ADAM_B2 * m2[k] + (1 - ADAM_B2) * g[k] * g[k];
			w[k] -= ADAM_RATE * (m1[k] / c1) / (sqrt(m2[k] / c2) + ADAM_EPS);
		}
	}
	if (NONDIGIT_HEAD_UNITS > 0)
		rc = fit_units(h, x, y, n, d, mean, sd, w, cw, err);
	/* Fold the standardisation in: w.(x - mean)/sd + b. */
	h->bias = w[d];
	for (int k = 0; k < d; k++) {
		h->weight[k] = w[k] / sd[k];
		h->bias -= w[k] * mean[k] / sd[k];
	}
out:
	free(mean);
	free(sd);
	free(w);
	free(g);
	free(m1);
	free(m2);
	return rc;
}
