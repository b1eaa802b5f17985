/*
 * nondigit.c - the seeded non-digits (see nondigit.h).  Everything is
 * drawn with libgd on a true-colour canvas: positions and sizes are
 * fractions of the canvas, so every size of picture gets the same mix.
 */
#include <gd.h>
#include <gdfontg.h>
#include <gdfontl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nondigit.h"
#include "rng.h"

/* No letter a person could take for a digit: O o D Q (0), l I i j J T t
 * (1 and 7), Z z (2), S s (5), b G (6), B (8), g q a (9), A (4). */
static const char letters[] = "CEFHKMNPRUVWXYcefhkmnrvwxy";

/* The canvas, its ink and the box the drawing goes in. */
struct canvas {
	gdImagePtr im;
	int w, h;
	int ink;
	double cx, cy, size; /* centre and side of the drawing's box, pixels */
	int thick;
};

const char *nondigit_kind_name(enum nondigit_kind k)
{
	static const char *const names[NONDIGIT_KINDS] = {"stroke", "letter", "shape", "scribble",
	                                                  "noise"};

	return k >= 0 && k < NONDIGIT_KINDS ? names[k] : "unknown";
}

enum nondigit_kind nondigit_kind_of(int i)
{
	return (enum nondigit_kind)(i % NONDIGIT_KINDS);
}

static void point(const struct canvas *c, double u, double v, double angle, gdPoint *p)
{
	/* (u, v) in [-0.5, 0.5] of the box, turned by angle about its centre. */
	double x = u * cos(angle) - v * sin(angle), y = u * sin(angle) + v * cos(angle);

	p->x = (int)lround(c->cx + x * c->size);
	p->y = (int)lround(c->cy + y * c->size);
}

static void polyline(const struct canvas *c, const gdPoint *p, int n, int closed)
{
	for (int i = 0; i + 1 < n; i++)
		gdImageLine(c->im, p[i].x, p[i].y, p[i + 1].x, p[i + 1].y, c->ink);
	if (closed)
		gdImageLine(c->im, p[n - 1].x, p[n - 1].y, p[0].x, p[0].y, c->ink);
}

/* A straight or bent stroke within 40 degrees of the horizontal. */
static void draw_stroke(struct canvas *c, struct train_rng *r)
{
	double angle = train_rng_range(r, -40, 40) * M_PI / 180;
	double bend = train_rng_uniform(r) < 0.4 ? train_rng_range(r, -0.25, 0.25) : 0;
	gdPoint p[16];

	for (int i = 0; i < 16; i++) {
		double u = i / 15.0 - 0.5;

		point(c, u, bend * (1 - 4 * u * u), angle, &p[i]);
	}
	polyline(c, p, 16, 0);
}

/* One letter of a bitmap font, scaled up to the box with area averaging. */
static void draw_letter(struct canvas *c, struct train_rng *r)
{
	gdFontPtr font = train_rng_below(r, 2) ? gdFontGetGiant() : gdFontGetLarge();
	gdImagePtr glyph = gdImageCreateTrueColor(font->w, font->h);
	int ch = letters[train_rng_below(r, sizeof(letters) - 1)];
	int h = (int)c->size, w = h * font->w / font->h;

	if (!glyph)
		return;
	gdImageFilledRectangle(glyph, 0, 0, font->w, font->h, gdTrueColor(255, 255, 255));
	gdImageChar(glyph, font, 0, 0, ch, c->ink);
	gdImageCopyResampled(c->im, glyph, (int)(c->cx - w / 2.0), (int)(c->cy - h / 2.0), 0, 0, w,
	                     h, font->w, font->h);
	gdImageDestroy(glyph);
}

/* A square, a triangle, a cross (+ or x) or a five-pointed star. */
static void draw_shape(struct canvas *c, struct train_rng *r)
{
	double turn = train_rng_range(r, -0.3, 0.3);
	gdPoint p[10];
	int kind = (int)train_rng_below(r, 5);

	if (kind == 0) {
		for (int i = 0; i < 4; i++)
			point(c, i == 1 || i == 2 ? 0.5 : -0.5, i >= 2 ? 0.5 : -0.5, turn, &p[i]);
		polyline(c, p, 4, 1);
	} else if (kind == 1) {
		point(c, 0, -0.5, turn, &p[0]);
		point(c, 0.5, 0.4, turn, &p[1]);
		point(c, -0.5, 0.4, turn, &p[2]);
		polyline(c, p, 3, 1);
	} else if (kind <= 3) {
		double a = turn + (kind == 3 ? M_PI / 4 : 0);

		point(c, -0.5, 0, a, &p[0]);
		point(c, 0.5, 0, a, &p[1]);
		point(c, 0, -0.5, a, &p[2]);
		point(c, 0, 0.5, a, &p[3]);
		polyline(c, p, 2, 0);
		polyline(c, p + 2, 2, 0);
	} else {
		/* The pentagram: every second of five points on a circle. */
		for (int i = 0; i < 5; i++) {
			double a = -M_PI / 2 + (i * 2 % 5) * 2 * M_PI / 5;

			point(c, 0.5 * cos(a), 0.5 * sin(a), turn, &p[i]);
		}
		polyline(c, p, 5, 1);
	}
}

/* Six to fourteen random points joined. */
static void draw_scribble(struct canvas *c, struct train_rng *r)
{
	gdPoint p[14];
	int n = 6 + (int)train_rng_below(r, 9);

	for (int i = 0; i < n; i++)
		point(c, train_rng_range(r, -0.5, 0.5), train_rng_range(r, -0.5, 0.5), 0, &p[i]);
	polyline(c, p, n, 0);
}

/* Paper grain and a few small blots: nothing that was meant as ink. */
static void draw_noise(struct canvas *c, struct train_rng *r)
{
	int amp = 5 + (int)train_rng_below(r, 40), blots = (int)train_rng_below(r, 4);

	for (int y = 0; y < c->h; y++)
		for (int x = 0; x < c->w; x++) {
			int v = gdTrueColorGetRed(gdImageGetTrueColorPixel(c->im, x, y)) -
			        (int)train_rng_below(r, (uint32_t)amp);

			gdImageSetPixel(c->im, x, y, gdTrueColor(v, v, v));
		}
	for (int i = 0; i < blots; i++) {
		int d = 2 + (int)train_rng_below(r, 6);

		gdImageFilledEllipse(c->im, (int)train_rng_below(r, (uint32_t)c->w),
		                     (int)train_rng_below(r, (uint32_t)c->h), d, d, c->ink);
	}
}

static gdImagePtr draw(uint64_t seed, int i)
{
	struct train_rng r;
	struct canvas c;
	int paper;

	train_rng_init(&r, train_seed3(seed, 0x6e6f6e64 /* "nond" */, (uint64_t)i));
	c.w = 100 + (int)train_rng_below(&r, 221);
	c.h = 100 + (int)train_rng_below(&r, 221);
	if (!(c.im = gdImageCreateTrueColor(c.w, c.h)))
		return NULL;
	paper = 200 + (int)train_rng_below(&r, 56);
	c.ink = (int)train_rng_below(&r, 71);
	c.ink = gdTrueColor(c.ink, c.ink, c.ink);
	gdImageFilledRectangle(c.im, 0, 0, c.w - 1, c.h - 1, gdTrueColor(paper, paper, paper));
	c.size = (c.w < c.h ? c.w : c.h) * train_rng_range(&r, 0.3, 0.8);
	c.cx = c.w / 2.0 + train_rng_range(&r, -0.5, 0.5) * (c.w - c.size) * 0.8;
	c.cy = c.h / 2.0 + train_rng_range(&r, -0.5, 0.5) * (c.h - c.size) * 0.8;
	c.thick = (int)lround(c.size * train_rng_range(&r, 0.03, 0.12));
	gdImageSetThickness(c.im, c.thick < 1 ? 1 : c.thick);
	switch (nondigit_kind_of(i)) {
	case NONDIGIT_STROKE:
		draw_stroke(&c, &r);
		break;
	case NONDIGIT_LETTER:
		draw_letter(&c, &r);
		break;
	case NONDIGIT_SHAPE:
		draw_shape(&c, &r);
		break;
	case NONDIGIT_SCRIBBLE:
		draw_scribble(&c, &r);
		break;
	case NONDIGIT_NOISE:
	case NONDIGIT_KINDS:
		draw_noise(&c, &r);
		break;
	}
	return c.im;
}

int nondigit_png(uint64_t seed, int i, unsigned char **png, size_t *len, struct dg_error *err)
{
	gdImagePtr im = draw(seed, i);
	void *enc = NULL;
	int size = 0;

	*png = NULL;
	if (im)
		enc = gdImagePngPtrEx(im, &size, 1);
	if (im)
		gdImageDestroy(im);
	if (!enc || size <= 0 || !(*png = malloc((size_t)size))) {
		gdFree(enc);
		return dg_fail(err, DG_ERR_NOMEM,
		               "non-digit %d of seed %llu: cannot draw or encode", i,
		               (unsigned long long)seed);
	}
	memcpy(*png, enc, (size_t)size);
	*len = (size_t)size;
	gdFree(enc);
	return 0;
}

int nondigit_make(uint64_t seed, int i, float out[IMAGE_PIXELS], struct dg_error *err)
{
	struct image_limits lim;
	unsigned char *png;
	size_t len;
	int rc;

	if (nondigit_png(seed, i, &png, &len, err) < 0)
		return -1;
	image_limits_default(&lim);
	rc = image_to_mnist(png, len, &lim, out, NULL, err);
	free(png);
	return rc;
}
