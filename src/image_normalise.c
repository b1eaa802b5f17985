/*
 * image_normalise.c - a luminance picture of any size and polarity becomes
 * the 28x28 an MNIST model expects: white ink on black, the digit scaled so
 * its longer side is 20 pixels and placed with its centre of mass at the
 * centre, as LeCun et al. made MNIST.
 *
 * Steps (each explained where it is done):
 *   polarity   the background is what the border shows; ink is the far tail
 *   stretch    subtract the background (plus its noise), scale the ink to 1
 *   specks     drop small connected components and the faint halo around them
 *   crop       bounding box of what is left
 *   scale      exact-coverage box filter so the longer side is 20
 *   centre     integer shift putting the centre of mass in [13.5, 14.5)
 *
 * Invariant that makes an MNIST digit pass through unchanged: its border is
 * 0, its ink peaks at 1, its bounding box is 20 on the longer side (9997 of
 * the 10000 test digits) and its centre of mass lies in [13.5, 14.5), so the
 * stretch is the identity, the box filter at scale 1 is the identity, and
 * the centring shift is 0.  Percentiles come from HBINS-bin histograms over
 * [0,1]; the ground level and its noise are exact medians of the border.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define HBINS        1024
#define BOX          20    /* longer side of the digit, as in MNIST */
#define MIN_CONTRAST 0.1   /* ink must differ from the ground by this much */
#define COMP_LEVEL   0.35f /* stretched level that counts as ink for components */
#define SPECK_FRAC   0.05  /* components lighter than this share of the heaviest */
#define HALO         2     /* faint pixels kept within this distance of ink */
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

/* The k-th smallest of a[0..n-1] (quickselect; reorders a). */
static float kth(float *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		float pivot = a[lo + (hi - lo) / 2], t;
		size_t i = lo, j = hi;

		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				t = a[i], a[i] = a[j], a[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return a[k];
}

/* Border ring of img (inverted if asked): exact median (the ground) and
 * median absolute deviation (its noise).  ring[] holds 2 (w + h) floats. */
static void border_stats(const float *img, int w, int h, int invert, float *ring, float *med,
                         float *mad)
{
	size_t n = 0;

	for (int y = 0; y < h; y++) {
		int step = (y == 0 || y == h - 1) ? 1 : (w > 1 ? w - 1 : 1);

		for (int x = 0; x < w; x += step) {
			float v = img[(size_t)y * w + x];

			ring[n++] = invert ? 1.0f - v : v;
		}
	}
	*med = kth(ring, n, n / 2);
	for (size_t i = 0; i < n; i++)
		ring[i] = fabsf(ring[i] - *med);
	*mad = kth(ring, n, n / 2);
}

/*
 * Connected components (8-neighbours) of pixels at or above COMP_LEVEL;
 * lab[] gets 1 + component index or 0, mass[] the summed level per
 * component.  stack[] holds up to w*h pixel indices.  Returns the count.
 */
static int components(const float *v, int w, int h, int *lab, int *stack, float *mass)
{
	const size_t n = (size_t)w * h;
	int count = 0;

	memset(lab, 0, n * sizeof(*lab));
	for (size_t s = 0; s < n; s++) {
		size_t top = 0;

		if (lab[s] || v[s] < COMP_LEVEL)
			continue;
		mass[count] = 0;
		lab[s] = ++count;
		stack[top++] = (int)s;
		while (top) {
			int p = stack[--top], px = p % w, py = p / w;

			mass[count - 1] += v[p];
			for (int dy = -1; dy <= 1; dy++) {
				for (int dx = -1; dx <= 1; dx++) {
					int qx = px + dx, qy = py + dy, q = qy * w + qx;

					if (qx < 0 || qy < 0 || qx >= w || qy >= h || lab[q] ||
					    v[q] < COMP_LEVEL)
						continue;
					lab[q] = count;
					stack[top++] = q;
				}
			}
		}
	}
	return count;
}

/* Zero the specks: strong pixels of light components, and faint pixels not
 * within HALO of a kept component (the edge of a speck, ground noise). */
static void drop_specks(float *v, int w, int h, const int *lab, const float *mass, int count)
{
	float heaviest = 0;

	for (int c = 0; c < count; c++)
		if (mass[c] > heaviest)
			heaviest = mass[c];
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			size_t i = (size_t)y * w + x;
			int keep = 0;

			if (v[i] <= 0)
				continue;
			if (lab[i]) {
				keep = mass[lab[i] - 1] >= SPECK_FRAC * heaviest;
			} else {
				for (int qy = y - HALO; qy <= y + HALO && !keep; qy++) {
					for (int qx = x - HALO; qx <= x + HALO; qx++) {
						int l;

						if (qx < 0 || qy < 0 || qx >= w || qy >= h)
							continue;
						l = lab[(size_t)qy * w + qx];
						if (l && mass[l - 1] >= SPECK_FRAC * heaviest) {
							keep = 1;
							break;
						}
					}
				}
			}
			if (!keep)
				v[i] = 0;
		}
	}
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

int image_normalise(const float *lum, int w, int h, float out[IMAGE_PIXELS], int *inverted,
                    struct dg_error *err)
{
	unsigned hist[HBINS] = {0};
	const size_t n = (size_t)w * h;
	float b, mad, lo, hi, plo, phi, *v, *mass, *tmp, *ring, small[BOX * BOX];
	int *lab, *stack, inv, x0, y0, x1, y1, bw, bh, ow, oh, dx, dy, t;
	double s, m = 0, mx = 0, my = 0;
	size_t nhi = 0;

	if (w <= 0 || h <= 0 || n > (1u << 26))
		return dg_fail(err, DG_ERR_INVALID, "cannot normalise a %dx%d picture", w, h);

	v = malloc(n * (sizeof(float) * 2 + sizeof(int) * 2) +
	           ((size_t)h * BOX + 2 * ((size_t)w + h)) * sizeof(float));
	if (!v)
		return dg_fail(err, DG_ERR_NOMEM, "no memory to normalise a %dx%d picture", w, h);
	mass = v + n; /* at most n components, far fewer in practice */
	lab = (int *)(mass + n);
	stack = lab + n;
	tmp = (float *)(stack + n);
	ring = tmp + (size_t)h * BOX;

	/* Polarity: the ground is the border's median; ink is whichever tail
	 * (0.1 % darkest or brightest) lies further from it.  Comparing tails,
	 * not the mean, survives photos whose corners are darker than the
	 * middle of the page. */
	for (size_t i = 0; i < n; i++)
		hist[bin_of(lum[i])]++;
	plo = hist_quantile(hist, n, 0.001);
	phi = hist_quantile(hist, n, 0.999);
	border_stats(lum, w, h, 0, ring, &b, &mad);
	inv = b - plo > phi - b;
	if (inverted)
		*inverted = inv;

	/* Stretch: lo is the ground plus three robust sigmas of its noise, hi
	 * the 90th percentile of the Otsu ink class (upper bin edge, so
	 * MNIST's 253..255 map to 1), so a pen's typical stroke becomes 1 as
	 * MNIST's saturated strokes are. */
	memset(hist, 0, sizeof(hist));
	for (size_t i = 0; i < n; i++) {
		v[i] = inv ? 1.0f - lum[i] : lum[i];
		hist[bin_of(v[i])]++;
	}
	border_stats(lum, w, h, inv, ring, &b, &mad);
	lo = b + 3.0f * 1.4826f * mad;
	t = otsu(hist, n);
	for (int k = t; k < HBINS; k++)
		nhi += hist[k];
	hi = lo;
	if (nhi) {
		size_t want = (size_t)ceil(0.9 * (double)nhi), seen = 0;

		for (int k = t; k < HBINS; k++) {
			seen += hist[k];
			if (seen >= want) {
				hi = (float)(k + 1) / HBINS;
				break;
			}
		}
	}
	if (hi - lo < MIN_CONTRAST) {
		free(v);
		return dg_fail(err, DG_ERR_EMPTY, "no ink: contrast %.3f below %.2f", hi - lo,
		               MIN_CONTRAST);
	}
	for (size_t i = 0; i < n; i++) {
		float q = (v[i] - lo) / (hi - lo);

		v[i] = q < 0 ? 0 : q > 1 ? 1 : q;
	}

	drop_specks(v, w, h, lab, mass, components(v, w, h, lab, stack, mass));

	/* Crop: bounding box of the remaining ink, ignoring the faintest
	 * levels (JPEG ringing) which would move it by a pixel or two. */
	x0 = w, y0 = h, x1 = -1, y1 = -1;
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
	if (x1 < 0) {
		free(v);
		return dg_fail(err, DG_ERR_EMPTY, "no ink left after removing specks");
	}

	/* Scale the box so its longer side is BOX, aspect kept: rows first into
	 * tmp[bh][ow], then columns into small[oh][ow]. */
	bw = x1 - x0 + 1;
	bh = y1 - y0 + 1;
	s = (double)BOX / (bw > bh ? bw : bh);
	ow = (int)ceil(bw * s - 1e-6);
	oh = (int)ceil(bh * s - 1e-6);
	for (int y = 0; y < bh; y++)
		box_axis(v + (size_t)(y0 + y) * w + x0, 1, bw, tmp + (size_t)y * ow, 1, ow, s);
	for (int x = 0; x < ow; x++)
		box_axis(tmp + x, ow, bh, small + x, ow, oh, s);
	free(v);

	/* Centre: integer shift so the centre of mass lands in [13.5, 14.5),
	 * MNIST's own convention; clamped so no ink falls off the edge. */
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
