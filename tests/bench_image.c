/*
 * bench_image.c - how long image_to_mnist() takes from encoded bytes to the
 * 28x28, for the sizes uploads come in.  Prints a table; asserts nothing.
 *
 *   28x28 png        a digit as the model sees it (the preview PNG)
 *   600x600 jpeg     a phone-crop of a digit: uneven light, paper grain,
 *                    blue ink, slightly blurred
 *   2000x1500 jpeg   the same as a whole photo, the digit off-centre
 *   4000x3000 jpeg   a 12 MP phone photo, the digit a tenth of its height
 *
 * Beside each total, the median of libgd's decode alone: the rest is ours
 * (the pass to luminance and the normalisation).
 *
 * Usage: bench_image [runs-scale]   (default 1: 400 / 100 / 30 / 15 runs)
 */
#include "config.h"

#include <stdio.h>
#include <time.h>

#include "bench.h"
#include "image_fixtures.h"

/* Paper lit from the top left (a 25 % fall-off), grain of +-6 levels, a
 * blue "7" of the given size at (x, y), softened by a small blur. */
static gdImagePtr photo(int w, int h, int x, int y, int size)
{
	gdImagePtr im = gdImageCreateTrueColor(w, h);
	unsigned seed = 12345;

	for (int j = 0; j < h; j++) {
		for (int i = 0; i < w; i++) {
			double light = 1.0 - 0.25 * (i + j) / (double)(w + h);
			int grain, r, g, b;

			seed = seed * 1103515245u + 12345u;
			grain = (int)((seed >> 16) % 13) - 6;
			r = (int)(235 * light) + grain;
			g = (int)(228 * light) + grain;
			b = (int)(210 * light) + grain;
			gdImageSetPixel(im, i, j, gdTrueColor(r, g, b));
		}
	}
	draw(im, '7', x, y, size, size / 9, gdTrueColor(30, 40, 110), 0);
	gdImageGaussianBlur(im);
	return im;
}

static double median_ms(double *t, int runs)
{
	qsort(t, runs, sizeof(double), bench_cmp_double);
	return t[runs / 2];
}

static void bench(const char *name, struct blob b, int runs)
{
	double *t = malloc(sizeof(double) * runs), total = 0, decode;
	float out[IMAGE_PIXELS];
	struct dg_error err;

	for (int i = 0; i < runs; i++) {
		double t0 = bench_now_ms();
		gdImagePtr im = image_detect(b.p, (size_t)b.n) == IMAGE_JPEG
		                    ? gdImageCreateFromJpegPtrEx(b.n, b.p, 1)
		                    : gdImageCreateFromPngPtr(b.n, b.p);

		t[i] = bench_now_ms() - t0;
		if (im)
			gdImageDestroy(im);
	}
	decode = median_ms(t, runs);
	for (int i = 0; i < runs; i++) {
		double t0 = bench_now_ms();

		if (image_to_mnist(b.p, (size_t)b.n, NULL, out, NULL, &err) < 0) {
			printf("%-16s failed: %s\n", name, err.msg);
			free(t);
			return;
		}
		t[i] = bench_now_ms() - t0;
		total += t[i];
	}
	median_ms(t, runs);
	printf("%-16s %9d %6d %10.3f %10.3f %10.1f %10.3f\n", name, b.n, runs, t[runs / 2],
	       t[(int)(0.99 * (runs - 1) + 0.5)], 1e3 * runs / total, decode);
	free(t);
}

int main(int argc, char **argv)
{
	int scale = argc > 1 ? atoi(argv[1]) : 1;
	gdImagePtr im;
	struct blob small, mid, big, huge;
	float ref[IMAGE_PIXELS];
	size_t n;

	if (scale < 1)
		scale = 1;
	im = reference('7');
	small = encode(im, E_PNG);
	image_to_mnist(small.p, (size_t)small.n, NULL, ref, NULL, NULL);
	gdFree(small.p);
	gdImageDestroy(im);
	if (image_preview_png(ref, &small.p, &n, NULL) < 0)
		return 1;
	small.n = (int)n;

	im = photo(600, 600, 200, 120, 380);
	mid = encode(im, E_JPEG);
	gdImageDestroy(im);
	im = photo(2000, 1500, 1300, 700, 500);
	big = encode(im, E_JPEG);
	gdImageDestroy(im);
	im = photo(4000, 3000, 2600, 1400, 300);
	huge = encode(im, E_JPEG);
	gdImageDestroy(im);

	printf("image_to_mnist: decode + normalise, one thread, milliseconds\n");
	printf("%-16s %9s %6s %10s %10s %10s %10s\n", "input", "bytes", "runs", "median", "p99",
	       "images/s", "libgd");
	bench("28x28 png", small, 400 * scale);
	bench("600x600 jpeg", mid, 100 * scale);
	bench("2000x1500 jpeg", big, 30 * scale);
	bench("4000x3000 jpeg", huge, 15 * scale);
	free(small.p);
	gdFree(mid.p);
	gdFree(big.p);
	gdFree(huge.p);
	return 0;
}
