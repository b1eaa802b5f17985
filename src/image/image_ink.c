/*
 * image_ink.c - where the ink is: polarity, the paper's brightness by
 * region, and each pixel's ink strength against its own paper.
 *
 * A phone photo of a page is lit unevenly: a shadow across half of it,
 * corners darker than the middle, a glare patch.  One "ground level" for
 * the whole picture (the border's median, as the first edition used)
 * reads a dark corner as ink and refuses pencil in a shadow as blank.
 * Here the paper is estimated locally by a grey-level closing (running
 * maximum, then running minimum) with a window wider than any stroke:
 * the closing fills every dark feature narrower than the window, which
 * is the ink, and keeps everything broader, which is the light.  A step
 * (a shadow's edge) survives a closing exactly.
 *
 * Invariant for MNIST-like input (light ink on a ground of exactly 0):
 * after inversion the paper is exactly 1 wherever the window sees any
 * ground, and there the strength is exactly the input.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "image_priv.h"

/* The paper window's half-width as a share of the shorter side: wider
 * than the thickest marker stroke (the page's draw pad uses 1/12). */
#define PAPER_WINDOW 0.15
#define PAPER_MIN_R  6
/* The polarity windows: the local median over a tenth and a fifth of the
 * picture (half-widths), on a copy at most POLARITY_SIDE a side. */
#define POLARITY_WINDOW 0.10
#define POLARITY_MIN_R  4
#define POLARITY_SIDE   128
/* The border rule's weight against the skews when they disagree. */
#define BORDER_VOTE 1.0
/* A border this even is the ground (luminance units). */
#define FLAT_BORDER 0.04
/* Below this paper level (a black desk, a deep shadow) nothing is read. */
#define PAPER_DARKEST 0.04f

static inline float pick(float a, float b, int want_max)
{
	return want_max ? (a > b ? a : b) : (a < b ? a : b);
}

/* Inlined with a constant want_max, so each loop is a plain max or min. */
static inline __attribute__((always_inline)) void run_extreme(float *x, size_t stride, int n, int r,
                                                              int want_max, float *tmp)
{
	const int K = 2 * r + 1;
	float *v = tmp, *pre = tmp + n, *suf = tmp + 2 * (size_t)n;

	for (int i = 0; i < n; i++)
		v[i] = x[i * stride];
	/* Blocks of K: pre[] runs forward from each block's start, suf[]
	 * backward from its end; any window of at most K spans one block
	 * boundary at most. */
	for (int s = 0; s < n; s += K) {
		int e = s + K < n ? s + K : n;

		pre[s] = v[s];
		for (int i = s + 1; i < e; i++)
			pre[i] = pick(pre[i - 1], v[i], want_max);
		suf[e - 1] = v[e - 1];
		for (int i = e - 2; i >= s; i--)
			suf[i] = pick(suf[i + 1], v[i], want_max);
	}
	for (int i = 0; i < n; i++) {
		int a = i - r < 0 ? 0 : i - r, b = i + r < n ? i + r : n - 1;

		if (a / K != b / K)
			x[i * stride] = pick(suf[a], pre[b], want_max);
		else /* one block: the window starts at its start or ends at n */
			x[i * stride] = a % K == 0 ? pre[b] : suf[a];
	}
}

void image_run_extreme(float *x, size_t stride, int n, int r, int want_max, float *tmp)
{
	if (want_max)
		run_extreme(x, stride, n, r, 1, tmp);
	else
		run_extreme(x, stride, n, r, 0, tmp);
}

/*
 * The same along columns, all columns at once: each step of the running
 * extreme is a whole row, so the loops run over contiguous memory and
 * vectorise.  pre and suf hold w h floats each.
 */
static inline __attribute__((always_inline)) void
run_extreme_cols(float *img, int w, int h, int r, int want_max, float *pre, float *suf)
{
	const int K = 2 * r + 1;

	for (int s = 0; s < h; s += K) {
		int e = s + K < h ? s + K : h;
		float *p = pre + (size_t)s * w, *q = suf + (size_t)(e - 1) * w;

		memcpy(p, img + (size_t)s * w, sizeof(float) * w);
		for (int y = s + 1; y < e; y++) {
			const float *v = img + (size_t)y * w, *a = pre + (size_t)(y - 1) * w;
			float *o = pre + (size_t)y * w;

			for (int x = 0; x < w; x++)
				o[x] = pick(a[x], v[x], want_max);
		}
		memcpy(q, img + (size_t)(e - 1) * w, sizeof(float) * w);
		for (int y = e - 2; y >= s; y--) {
			const float *v = img + (size_t)y * w, *a = suf + (size_t)(y + 1) * w;
			float *o = suf + (size_t)y * w;

			for (int x = 0; x < w; x++)
				o[x] = pick(a[x], v[x], want_max);
		}
	}
	for (int y = 0; y < h; y++) {
		int a = y - r < 0 ? 0 : y - r, b = y + r < h ? y + r : h - 1;
		const float *sa = suf + (size_t)a * w, *pb = pre + (size_t)b * w;
		float *o = img + (size_t)y * w;

		if (a / K != b / K)
			for (int x = 0; x < w; x++)
				o[x] = pick(sa[x], pb[x], want_max);
		else
			memcpy(o, a % K == 0 ? pb : sa, sizeof(float) * w);
	}
}

void image_morph(const float *img, int w, int h, int r, int closing, float *out, float *tmp)
{
	memcpy(out, img, sizeof(float) * w * h);
	for (int pass = 0; pass < 2; pass++) {
		int want_max = pass == 0 ? closing : !closing;

		for (int y = 0; y < h; y++)
			image_run_extreme(out + (size_t)y * w, 1, w, r, want_max, tmp);
		if (want_max)
			run_extreme_cols(out, w, h, r, 1, tmp, tmp + (size_t)w * h);
		else
			run_extreme_cols(out, w, h, r, 0, tmp, tmp + (size_t)w * h);
	}
}

/*
 * out = median of in over the (2r+1)-square window clipped to the
 * picture, for 8-bit values: a running histogram per row (Huang), one
 * column out and one in per step.
 */
static void median_filter(const uint8_t *in, int w, int h, int r, uint8_t *out)
{
	for (int y = 0; y < h; y++) {
		int y0 = y - r < 0 ? 0 : y - r, y1 = y + r < h ? y + r : h - 1, med = 0;
		unsigned hist[256] = {0}, count = 0, below = 0; /* below: values < med */

		for (int x = 0; x < w; x++) {
			if (x - r - 1 >= 0)
				for (int yy = y0; yy <= y1; yy++) {
					int v = in[(size_t)yy * w + x - r - 1];

					hist[v]--, count--, below -= v < med;
				}
			for (int xx = x == 0 ? 0 : x + r; xx <= x + r && xx < w; xx++)
				for (int yy = y0; yy <= y1; yy++) {
					int v = in[(size_t)yy * w + xx];

					hist[v]++, count++, below += v < med;
				}
			/* Move med to the lower median: below < (count + 1) / 2 <=
			 * below + hist[med]; a step or two per pixel, not 256. */
			while (med > 0 && below >= (count + 1) / 2)
				med--, below -= hist[med];
			while (below + hist[med] < (count + 1) / 2)
				below += hist[med], med++;
			out[(size_t)y * w + x] = (uint8_t)med;
		}
	}
}

/*
 * The first edition's polarity test: the ground is the border's median,
 * and the ink is whichever tail (0.1 % darkest or brightest) lies further
 * from it.  Sets *flat when nine in ten border pixels lie within
 * FLAT_BORDER of the median: a scan, a drawing, an MNIST digit, where
 * the border is the ground and this test is exact.
 */
static int dark_by_border(const float *lum, int w, int h, int *flat)
{
	unsigned all[256] = {0}, ring[256] = {0};
	size_t n = 0, seen = 0, near = 0;
	int b = 0, lo = 0, hi = 255, tol = (int)(FLAT_BORDER * 255);

	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			int v = (int)(lum[(size_t)y * w + x] * 255.0f + 0.5f);

			v = v < 0 ? 0 : v > 255 ? 255 : v;
			all[v]++;
			if (y == 0 || y == h - 1 || x == 0 || x == w - 1)
				ring[v]++, n++;
		}
	}
	while (b < 255 && (seen += ring[b]) < (n + 1) / 2)
		b++;
	for (int v = b - tol < 0 ? 0 : b - tol; v <= b + tol && v < 256; v++)
		near += ring[v];
	*flat = near >= 0.9 * n;
	n = (size_t)w * h / 1000 + 1;
	for (seen = 0; lo < 255 && (seen += all[lo]) < n;)
		lo++;
	for (seen = 0; hi > 0 && (seen += all[hi]) < n;)
		hi--;
	return b - lo > hi - b;
}

/*
 * Skewness of the departures of small[sh][sw] from its running median with
 * half-window r, away from the picture's edge (there the window is
 * clipped, and a strip of light or shadow along the edge passes for a
 * feature).  med holds sw sh bytes.
 */
static double skew_at(const uint8_t *small, int sw, int sh, int r, uint8_t *med)
{
	double m2 = 0, m3 = 0;
	size_t n = 0;

	median_filter(small, sw, sh, r, med);
	for (int y = r; y < sh - r; y++) {
		for (int x = r; x < sw - r; x++) {
			size_t i = (size_t)y * sw + x;
			double d = ((double)small[i] - med[i]) / 255;

			m2 += d * d;
			m3 += d * d * d;
			n++;
		}
	}
	return m2 > 0 ? m3 / n / pow(m2 / n, 1.5) : 0;
}

/*
 * Whether the ink is dark.  Ink is the sparse, high-contrast part of a
 * picture: against the local median (the paper, where most of a window is
 * paper), its departures are few and large, and their skewness has the
 * ink's sign.  A median keeps a shadow's edge where it is, so light falls
 * out; ruled and squared paper only add dark ink; noise is symmetric.
 * But a window not much wider than the strokes takes a marker's stroke
 * for the ground and the paper in its loops for ink, and a window much
 * wider than a small digit sees a shadow's edge and a glare patch as the
 * features.  So the skew at a tenth and at a fifth of the picture decide
 * when they agree; when not, the clearer one (their sum), weighed against
 * the first edition's border rule (worth BORDER_VOTE of skew).  A flat
 * border (a scan, a drawing, MNIST) decides alone.  A
 * global question, so it is asked on a copy at most POLARITY_SIDE pixels a
 * side (block means), in 8 bits.  buf holds w h floats.
 */
static int ink_is_dark(const float *lum, int w, int h, float *buf)
{
	int f = (((w > h ? w : h) + POLARITY_SIDE - 1) / POLARITY_SIDE), sw, sh, r;
	double near_skew, far_skew;
	int flat, by_border = dark_by_border(lum, w, h, &flat);
	float *sum = buf;
	uint8_t *small, *med;
	size_t n;

	if (flat)
		return by_border;
	sw = (w + f - 1) / f, sh = (h + f - 1) / f;
	n = (size_t)sw * sh;
	small = (uint8_t *)(sum + n);
	med = small + n;
	memset(sum, 0, sizeof(float) * n);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			sum[(size_t)(y / f) * sw + x / f] += lum[(size_t)y * w + x];
	for (int y = 0; y < sh; y++) {
		for (int x = 0; x < sw; x++) {
			int by = h - y * f < f ? h - y * f : f, bx = w - x * f < f ? w - x * f : f;
			float v = sum[(size_t)y * sw + x] / (float)(bx * by);

			small[(size_t)y * sw + x] = (uint8_t)(v <= 0   ? 0
			                                      : v >= 1 ? 255
			                                               : v * 255 + 0.5f);
		}
	}
	r = (int)lround(POLARITY_WINDOW * (sw < sh ? sw : sh));
	r = r < POLARITY_MIN_R ? POLARITY_MIN_R : r;
	near_skew = skew_at(small, sw, sh, r, med);
	far_skew = skew_at(small, sw, sh, 2 * r, med);
	if ((near_skew < 0) == (far_skew < 0))
		return near_skew < 0;
	/* The windows disagree: the clearer skew, unless the border leans
	 * the other way by more than the difference. */
	return near_skew + far_skew + (by_border ? -BORDER_VOTE : BORDER_VOTE) < 0;
}

void image_ink_strength(const float *lum, int w, int h, float *s, int *inverted, float *scratch)
{
	const size_t n = (size_t)w * h;
	float *paper = scratch, *flip = scratch + n, *tmp = scratch + 2 * n;
	int r = (int)lround(PAPER_WINDOW * (w < h ? w : h)), dark = ink_is_dark(lum, w, h, scratch);

	if (inverted)
		*inverted = dark;
	/* Paper-bright copy, then its paper level by region. */
	for (size_t i = 0; i < n; i++)
		flip[i] = dark ? lum[i] : 1.0f - lum[i];
	if (r < PAPER_MIN_R)
		r = PAPER_MIN_R;
	image_morph(flip, w, h, r, 1, paper, tmp);
	for (size_t i = 0; i < n; i++) {
		float p = paper[i], q = p > PAPER_DARKEST ? (p - flip[i]) / p : 0.0f;

		s[i] = q < 0 ? 0 : q > 1 ? 1 : q;
	}
}
