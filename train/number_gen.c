/*
 * number_gen.c - pictures of whole numbers of MNIST test digits (see
 * number_gen.h).
 *
 * Layout is planned in units of the text height H (a digit's MNIST box is
 * 20 pixels tall, so each digit is scaled by about H / 20), then scaled to
 * the picture.  Rendering maps each output pixel back: unslant it about
 * the baseline, find the digits whose box holds it, sample their MNIST
 * pixels bilinearly and keep the darkest ink.
 */
#include <math.h>
#include <png.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "number_gen.h"
#include "rng.h"

struct placed {
	const uint8_t *px;
	int bx0, by0, bx1, by1;  /* the MNIST ink box */
	double left, top, scale; /* the box's top left in the picture, unslanted */
	int broken;
};

static double range(struct train_rng *r, double lo, double hi)
{
	return train_rng_range(r, lo, hi);
}

static void mnist_box(const uint8_t *px, struct placed *p)
{
	p->bx0 = 28, p->by0 = 28, p->bx1 = -1, p->by1 = -1;
	for (int y = 0; y < 28; y++) {
		for (int x = 0; x < 28; x++) {
			if (px[y * 28 + x] < 32)
				continue;
			p->bx0 = x < p->bx0 ? x : p->bx0;
			p->bx1 = x > p->bx1 ? x : p->bx1;
			p->by0 = y < p->by0 ? y : p->by0;
			p->by1 = y > p->by1 ? y : p->by1;
		}
	}
}

/* MNIST ink at (u, v) in 28x28 pixel units, bilinear, 0..1. */
static double sample(const struct placed *p, double u, double v)
{
	int x = (int)floor(u - 0.5), y = (int)floor(v - 0.5);
	double fx = u - 0.5 - x, fy = v - 0.5 - y, acc = 0;

	for (int j = 0; j < 2; j++) {
		for (int i = 0; i < 2; i++) {
			int xx = x + i, yy = y + j;
			double wgt = (i ? fx : 1 - fx) * (j ? fy : 1 - fy);

			if (xx < 0 || yy < 0 || xx >= 28 || yy >= 28)
				continue;
			/* A stroke drawn in two: the band where the bar of a 5 meets
			 * its stem is left blank, on the left of the digit. */
			if (p->broken && yy >= p->by0 + (p->by1 - p->by0) * 0.20 &&
			    yy <= p->by0 + (p->by1 - p->by0) * 0.34 &&
			    xx <= p->bx0 + (p->bx1 - p->bx0) * 0.6)
				continue;
			acc += wgt * p->px[yy * 28 + xx];
		}
	}
	return acc / 255.0;
}

static int encode_png(const uint8_t *grey, int w, int h, struct number *out)
{
	png_image img = {.version = PNG_IMAGE_VERSION,
	                 .width = (png_uint_32)w,
	                 .height = (png_uint_32)h,
	                 .format = PNG_FORMAT_GRAY};
	png_alloc_size_t size = 0;

	if (!png_image_write_to_memory(&img, NULL, &size, 0, grey, 0, NULL))
		return -1;
	out->bytes = malloc(size);
	if (!out->bytes || !png_image_write_to_memory(&img, out->bytes, &size, 0, grey, 0, NULL))
		return -1;
	out->len = size;
	return 0;
}

static int encode_jpeg(const uint8_t *grey, int w, int h, int quality, struct number *out)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned char *mem = NULL;
	unsigned long size = 0;

	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &mem, &size);
	c.image_width = (JDIMENSION)w;
	c.image_height = (JDIMENSION)h;
	c.input_components = 1;
	c.in_color_space = JCS_GRAYSCALE;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, quality, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		JSAMPROW row = (JSAMPROW)(grey + (size_t)c.next_scanline * w);

		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	out->bytes = mem; /* libjpeg's malloc: free() releases it */
	out->len = size;
	out->jpeg = 1;
	return mem ? 0 : -1;
}

int number_render_digits(const uint8_t *images, const uint8_t *labels, const int *index,
                         const struct number_opts *o, uint64_t seed, struct number *out)
{
	struct train_rng r;
	struct placed pl[NUMBER_MAX];
	const int nd = o->ndigits;
	double x = 0, slant, unit, base, ink_dark, paper, grad, grain, cw = 0;
	int W, H, rc;
	uint8_t *grey;

	memset(out, 0, sizeof(*out));
	if (nd < 1 || nd > NUMBER_MAX)
		return -1;
	train_rng_init(&r, seed);
	/* Layout with H = 1: sizes, baselines, gaps. */
	for (int i = 0; i < nd; i++) {
		struct placed *p = &pl[i];

		p->px = images + (size_t)index[i] * 784;
		p->broken = o->broken && o->broken[i];
		mnist_box(p->px, p);
		out->text[i] = (char)('0' + labels[index[i]]);
		out->index[i] = index[i];
		p->scale = (o->clean ? 1.0 : range(&r, 0.88, 1.12)) / 20.0;
		p->top = (o->clean ? 0.0 : range(&r, -0.06, 0.06)) +
		         (1 - (p->by1 - p->by0 + 1) * p->scale);
		if (i > 0) {
			double gap;

			if (o->gaps) {
				gap = o->gaps[i - 1];
			} else if (range(&r, 0, 1) < o->touching) {
				gap = range(&r, -0.10, 0.0);
			} else {
				gap = range(&r, 0, 1) < 0.15 ? range(&r, 0.6, 1.4)
				                             : range(&r, 0.06, 0.6);
			}
			out->gap[i - 1] = gap <= 0 ? NUMBER_TOUCHING : NUMBER_APART;
			x += gap;
		}
		p->left = x;
		x += (p->bx1 - p->bx0 + 1) * p->scale;
	}
	out->text[nd] = '\0';
	cw = x;
	slant = o->clean ? 0 : range(&r, -0.12, 0.25);
	/* Picture size, then H in pixels. */
	if (o->width > 0 && o->height > 0) {
		W = o->width, H = o->height;
		unit = fmin(0.55 * H, 0.85 * W / (cw + fabs(slant)));
	} else {
		unit = o->clean ? 60 : range(&r, 36, 110);
		W = (int)((cw + fabs(slant) + 2 * range(&r, 0.3, 1.0)) * unit);
		H = (int)(unit * range(&r, 1.4, 2.4));
	}
	grey = malloc((size_t)W * H);
	if (!grey)
		return -1;
	{
		double x0 = (W - (cw + fabs(slant)) * unit) / 2 + (slant < 0 ? -slant * unit : 0);
		double y0 = (H - unit) / 2;

		for (int i = 0; i < nd; i++) {
			pl[i].left = x0 + pl[i].left * unit;
			pl[i].top = y0 + pl[i].top * unit;
			pl[i].scale *= unit;
		}
		base = y0 + unit;
	}
	out->inverted = !o->clean && range(&r, 0, 1) < 1.0 / 6;
	ink_dark = o->clean ? 1.0 : range(&r, 0.55, 0.95);
	paper = o->clean ? 1.0 : range(&r, 0.75, 0.97);
	grad = o->clean ? 0.0 : range(&r, -0.25, 0.25);
	grain = o->clean ? 0.0 : range(&r, 0.0, 0.04);
	for (int i = 0; i < nd; i++)
		out->box[i][0] = W, out->box[i][1] = H, out->box[i][2] = -1, out->box[i][3] = -1;
	for (int y = 0; y < H; y++) {
		for (int X = 0; X < W; X++) {
			double u = X - slant * (base - y), ink = 0, lum;
			int owner = -1;

			for (int i = 0; i < nd; i++) {
				const struct placed *p = &pl[i];
				double mu = (u - p->left) / p->scale + p->bx0;
				double mv = (y - p->top) / p->scale + p->by0;
				double s;

				if (mu < p->bx0 - 1 || mu > p->bx1 + 2 || mv < p->by0 - 1 ||
				    mv > p->by1 + 2)
					continue;
				s = sample(p, mu, mv);
				s = s < 0.15 ? 0 : s > 0.6 ? 1 : (s - 0.15) / 0.45;
				if (s > ink)
					ink = s, owner = i;
			}
			if (owner >= 0 && ink >= 0.5) { /* the darker half: what a reader sees */
				int *b = out->box[owner];

				b[0] = X < b[0] ? X : b[0];
				b[1] = y < b[1] ? y : b[1];
				b[2] = X > b[2] ? X : b[2];
				b[3] = y > b[3] ? y : b[3];
			}
			lum = paper * (1 + grad * ((double)X / W - 0.5)) * (1 - ink * ink_dark);
			lum += grain * (range(&r, -1, 1) + range(&r, -1, 1));
			if (out->inverted)
				lum = 1 - lum;
			lum = lum < 0 ? 0 : lum > 1 ? 1 : lum;
			grey[(size_t)y * W + X] = (uint8_t)(lum * 255 + 0.5);
		}
	}
	for (int i = 0; i < nd; i++) { /* x0, y0, x1, y1 to x, y, w, h */
		int *b = out->box[i];

		b[2] = b[2] < b[0] ? 0 : b[2] - b[0] + 1;
		b[3] = b[3] < b[1] ? 0 : b[3] - b[1] + 1;
	}
	out->width = W, out->height = H;
	if (!o->clean && range(&r, 0, 1) < 0.4)
		rc = encode_jpeg(grey, W, H, (int)range(&r, 55, 93), out);
	else
		rc = encode_png(grey, W, H, out);
	free(grey);
	return rc;
}

int number_render(const uint8_t *images, const uint8_t *labels, int n, const struct number_opts *o,
                  uint64_t seed, struct number *out)
{
	struct train_rng r;
	int index[NUMBER_MAX];

	train_rng_init(&r, train_seed3(seed, 0x6e756d, (uint64_t)o->ndigits));
	for (int i = 0; i < o->ndigits && i < NUMBER_MAX; i++)
		index[i] = (int)train_rng_below(&r, (uint32_t)n);
	return number_render_digits(images, labels, index, o, train_rng_next(&r), out);
}

void number_free(struct number *nb)
{
	free(nb->bytes);
	nb->bytes = NULL;
}
