/*
 * image_normalise.c - a luminance picture of any size and polarity becomes
 * the 28x28 an MNIST model expects: white ink on black, the digit scaled so
 * its longer side is 20 pixels and placed with its centre of mass at the
 * centre, as LeCun et al. made MNIST.
 *
 * Steps (each explained where it is done):
 *   ink        polarity, the paper's brightness by region, each pixel's ink
 *              strength against its own paper (image_ink.c)
 *   stretch    the paper's ground and noise to 0, a typical stroke to 1
 *   lines      ruled and squared paper taken out, strokes restored where a
 *              line crossed them (image_lines.c)
 *   digit      the piece of ink that is the digit and the pieces that go
 *              with it; boxes, underlines, specks, texture and page edges
 *              dropped (image_select.c); the stroke level set again from it
 *   crop       bounding box of what is left
 *   scale      exact-coverage box filter so the longer side is 20
 *   centre     integer shift putting the centre of mass in [13.5, 14.5)
 *
 * Invariant that makes an MNIST digit pass through unchanged: its ground
 * is 0 and its ink peaks at 1, so the ink strength is the input and both
 * stretches are the identity; it has no line; its pieces of any weight lie
 * within its box; its bounding box is 20 on the longer side (9997 of the
 * 10000 test digits) and its centre of mass lies in [13.5, 14.5), so the
 * box filter at scale 1 is the identity and the centring shift is 0.
 * Levels come from HBINS-bin histograms over [0,1].
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "image_priv.h"

#define HBINS        1024
#define BOX          20    /* longer side of the digit, as in MNIST */
#define MIN_CONTRAST 0.1   /* ink must differ from the paper by this much */
#define OUTLIERS     0.005 /* share of the ink the second stretch sets aside */
#define BOX_LEVEL    0.05f /* stretched level that counts for the bounding box */

static int bin_of(float v)
{
	int b = (int)(v * HBINS);

	return b < 0 ? 0 : b >= HBINS ? HBINS - 1 : b;
}

/* Smallest level v such that at least q of the n counted values are <= v. */
static float hist_quantile(const unsigned *hist, size_t n, double q)
{
	size_t want = (size_t)ceil(q * (double)n), seen = 0;

	if (want < 1)
		want = 1;
	for (int b = 0; b < HBINS; b++) {
		seen += hist[b];
		if (seen >= want)
			return (float)b / HBINS;
	}
	return 1.0f;
}

/* Otsu's threshold bin: the split maximising between-class variance. */
static int otsu(const unsigned *hist, size_t n)
{
	double total = 0, sum0 = 0, best = -1;
	size_t n0 = 0;
	int t = HBINS / 2;

	for (int b = 0; b < HBINS; b++)
		total += (double)b * hist[b];
	for (int b = 0; b < HBINS - 1; b++) {
		double m0, m1, between;

		n0 += hist[b];
		sum0 += (double)b * hist[b];
		if (n0 == 0 || n0 == n)
			continue;
		m0 = sum0 / n0;
		m1 = (total - sum0) / (n - n0);
		between = (double)n0 * (n - n0) * (m0 - m1) * (m0 - m1);
		if (between > best) {
			best = between;
			t = b + 1;
		}
	}
	return t;
}

/* Area-averaging resample of one axis: dst[i] is the mean of src over
 * [i/s, (i+1)/s), each source sample weighted by the exact length it
 * overlaps; samples past n count as 0.  At s = 1 this is a copy. */
static void box_axis(const float *src, size_t sstride, int n, float *dst, size_t dstride, int m,
                     double s)
{
	for (int i = 0; i < m; i++) {
		double a = i / s, b = (i + 1) / s, acc = 0;
		int k1 = (int)ceil(b) < n ? (int)ceil(b) : n;

		for (int k = (int)floor(a); k < k1; k++)
			acc += src[k * sstride] * (fmin(b, k + 1) - fmax(a, k));
		dst[i * dstride] = (float)(acc * s);
	}
}

/* Upper edge of the 90th percentile of the Otsu ink class of hist: the
 * level a pen's typical stroke reaches, which becomes 1 as MNIST's
 * saturated strokes are (upper bin edge, so MNIST's 253..255 map to 1). */
static float ink_level(const unsigned *hist, size_t n)
{
	int t = otsu(hist, n);
	size_t nhi = 0, seen = 0;

	for (int k = t; k < HBINS; k++)
		nhi += hist[k];
	for (int k = t; k < HBINS && nhi; k++) {
		seen += hist[k];
		if (seen >= (size_t)ceil(0.9 * (double)nhi))
			return (float)(k + 1) / HBINS;
	}
	return 0;
}

/*
 * Ground level of the ink strength and its noise: the median (the paper
 * covers most of a picture) plus three robust sigmas (1.4826 MAD), from
 * histograms, so the faint texture and sensor noise of the paper fall
 * below it.  An MNIST digit's ground is exactly 0 and stays so.
 */
static float ground_level(const float *v, size_t n, unsigned *hist)
{
	float med, mad;

	memset(hist, 0, sizeof(unsigned) * HBINS);
	for (size_t i = 0; i < n; i++)
		hist[bin_of(v[i])]++;
	med = hist_quantile(hist, n, 0.5);
	memset(hist, 0, sizeof(unsigned) * HBINS);
	for (size_t i = 0; i < n; i++)
		hist[bin_of(fabsf(v[i] - med))]++;
	mad = hist_quantile(hist, n, 0.5);
	return med + 3.0f * 1.4826f * mad;
}

/* v = (v - lo) / (hi - lo), clamped to [0, 1]. */
static void stretch(float *v, size_t n, float lo, float hi)
{
	for (size_t i = 0; i < n; i++) {
		float q = (v[i] - lo) / (hi - lo);

		v[i] = q < 0 ? 0 : q > 1 ? 1 : q;
	}
}

void image_stretch_ink(float *v, size_t n)
{
	unsigned hist[HBINS] = {0};
	size_t nink = 0, seen = 0, top;
	float hi;
	int b = HBINS - 1;

	for (size_t i = 0; i < n; i++)
		if (v[i] > 0)
			hist[bin_of(v[i])]++, nink++;
	/* A few pixels far above the rest (what a box left at a corner) would
	 * be a class of their own for Otsu: the top OUTLIERS join the bin
	 * below them. */
	top = (size_t)(OUTLIERS * (double)nink);
	while (b > 0 && seen + hist[b] <= top) {
		seen += hist[b];
		hist[b--] = 0;
	}
	hist[b] += (unsigned)seen;
	hi = ink_level(hist, nink);
	if (hi > 0 && hi < 1)
		stretch(v, n, 0, hi);
}

/* First stretch: the paper's ground and noise to 0, a typical stroke to 1.
 * The stroke level is taken among the pixels above the ground only: a
 * small digit is a few hundredths of a picture, too few to pull a split
 * of the whole picture away from the paper's texture. */
int image_stretch_paper(float *v, size_t n, struct dg_error *err)
{
	unsigned hist[HBINS];
	size_t nink = 0;
	float lo = ground_level(v, n, hist), hi;

	memset(hist, 0, sizeof(hist));
	for (size_t i = 0; i < n; i++)
		if (v[i] > lo)
			hist[bin_of(v[i])]++, nink++;
	hi = ink_level(hist, nink);
	if (hi - lo < MIN_CONTRAST)
		return dg_fail(err, DG_ERR_EMPTY, "no ink: contrast %.3f below %.2f", hi - lo,
		               MIN_CONTRAST);
	stretch(v, n, lo, hi);
	return 0;
}

/* The bounding box {x0, y0, x1, y1} of the ink, ignoring the faintest
 * levels (JPEG ringing) which would move it by a pixel or two; -1 if
 * nothing is left. */
static int ink_box(const float *v, int w, int h, int box[4])
{
	int x0 = w, y0 = h, x1 = -1, y1 = -1;

	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			if (v[(size_t)y * w + x] < BOX_LEVEL)
				continue;
			x0 = x < x0 ? x : x0;
			x1 = x > x1 ? x : x1;
			y0 = y < y0 ? y : y0;
			y1 = y > y1 ? y : y1;
		}
	}
	box[0] = x0, box[1] = y0, box[2] = x1, box[3] = y1;
	return x1 < 0 ? -1 : 0;
}

/* Scale the box so its longer side is BOX, aspect kept: rows first into
 * tmp[bh][ow], then columns into small[oh][ow]. */
static void scale_box(const float *v, int w, const int box[4], float *tmp, float *small, int *ow,
                      int *oh)
{
	const int bw = box[2] - box[0] + 1, bh = box[3] - box[1] + 1;
	const double s = (double)BOX / (bw > bh ? bw : bh);

	*ow = (int)ceil(bw * s - 1e-6);
	*oh = (int)ceil(bh * s - 1e-6);
	for (int y = 0; y < bh; y++)
		box_axis(v + (size_t)(box[1] + y) * w + box[0], 1, bw, tmp + (size_t)y * *ow, 1,
		         *ow, s);
	for (int x = 0; x < *ow; x++)
		box_axis(tmp + x, *ow, bh, small + x, *ow, *oh, s);
}

/* Centre: integer shift so the centre of mass lands in [13.5, 14.5),
 * MNIST's own convention; clamped so no ink falls off the edge. */
static int place_centred(const float *small, int ow, int oh, float out[IMAGE_PIXELS],
                         struct dg_error *err)
{
	double m = 0, mx = 0, my = 0;
	int dx, dy;

	for (int y = 0; y < oh; y++) {
		for (int x = 0; x < ow; x++) {
			double p = small[y * ow + x];

			m += p;
			mx += p * x;
			my += p * y;
		}
	}
	if (m <= 0)
		return dg_fail(err, DG_ERR_EMPTY, "no ink left after scaling");
	dx = (int)ceil(13.5 - mx / m - 1e-6);
	dy = (int)ceil(13.5 - my / m - 1e-6);
	dx = dx < 0 ? 0 : dx > IMAGE_SIDE - ow ? IMAGE_SIDE - ow : dx;
	dy = dy < 0 ? 0 : dy > IMAGE_SIDE - oh ? IMAGE_SIDE - oh : dy;
	memset(out, 0, IMAGE_PIXELS * sizeof(float));
	for (int y = 0; y < oh; y++) {
		for (int x = 0; x < ow; x++) {
			float p = small[y * ow + x];

			out[(y + dy) * IMAGE_SIDE + x + dx] = p < 0 ? 0 : p > 1 ? 1 : p;
		}
	}
	return 0;
}

int image_normalise(const float *lum, int w, int h, float out[IMAGE_PIXELS], int *inverted,
                    struct dg_error *err)
{
	const size_t n = (size_t)w * h;
	const int longer = w > h ? w : h;
	float *v, *scratch, small[BOX * BOX];
	int *lab, *stack, box[4], ow, oh, kept, rc = -1;
	uint8_t *mark;

	if (w <= 0 || h <= 0 || n > (1u << 26))
		return dg_fail(err, DG_ERR_INVALID, "cannot normalise a %dx%d picture", w, h);

	/* One block: v, the ink module's scratch (5 n floats, also the
	 * resampling's tmp[h][BOX]), labels, a stack and marks. */
	v = malloc(n * (sizeof(float) * 6 + sizeof(int) * 2 + 1) +
	           ((size_t)3 * longer + (size_t)h * BOX) * sizeof(float));
	if (!v)
		return dg_fail(err, DG_ERR_NOMEM, "no memory to normalise a %dx%d picture", w, h);
	scratch = v + n;
	lab = (int *)(scratch + 5 * n + 3 * (size_t)longer + (size_t)h * BOX);
	stack = lab + n;
	mark = (uint8_t *)(stack + n);

	image_ink_strength(lum, w, h, v, inverted, scratch);
	if (image_stretch_paper(v, n, err) < 0)
		goto out;
	if (image_remove_lines(v, w, h, mark, lab) < 0 ||
	    (kept = image_keep_digit(v, w, h, lab, stack)) < 0) {
		dg_fail(err, DG_ERR_NOMEM, "no memory to analyse a %dx%d picture", w, h);
		goto out;
	}
	if (kept == 0) {
		dg_fail(err, DG_ERR_EMPTY, "no ink left after removing lines and specks");
		goto out;
	}
	/* Lines and dirt may have set the first stretch: the digit's own
	 * strokes set the second. */
	image_stretch_ink(v, n);
	if (ink_box(v, w, h, box) < 0) {
		dg_fail(err, DG_ERR_EMPTY, "no ink left after removing specks");
		goto out;
	}
	scale_box(v, w, box, scratch, small, &ow, &oh);
	rc = place_centred(small, ow, oh, out, err);
out:
	free(v);
	return rc;
}

int image_box_to_mnist(const float *v, int w, const int box[4], float *tmp, float out[IMAGE_PIXELS],
                       struct dg_error *err)
{
	float small[BOX * BOX];
	int ow, oh;

	scale_box(v, w, box, tmp, small, &ow, &oh);
	return place_centred(small, ow, oh, out, err);
}
