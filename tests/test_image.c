/*
 * test_image.c - the image pipeline against pictures drawn at test time.
 *
 * Fixtures are made here with libgd (no binary files in git): a "7", "1"
 * and "0" drawn as thick strokes, rendered once as the reference (black on
 * white PNG) and then varied: polarity, colours, alpha, placement, size,
 * stroke width, specks, what phone photos add (ruled and squared paper, a
 * box, an underline, a hard shadow, vignetting, glare, pencil, a small
 * digit in a grainy 3000x2250 photo), every format libgd writes, EXIF
 * orientations, hand-made PNGs (16-bit grey, grey+alpha), Adobe CMYK/YCCK
 * and greyscale JPEGs (written with libjpeg, which libgd cannot) and
 * hand-made hostile headers.
 * Each variant must come out as the reference does within a stated mean
 * absolute difference, with the centre of mass at (14, 14) +- 0.5 and the
 * ink's bounding box 20 +- 1 on its longer side.  MNIST test digits (from
 * $DIGITS_MNIST_DIR, else data/mnist in the build or source tree) must
 * pass essentially unchanged.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "config.h"

#include <stdint.h>
#include <unistd.h>

#include <gd.h>
#include <png.h>
#include <zlib.h>

#include "image/image.h"
#include "image/image_priv.h"
#include "image/image_work.h"
#include "tap.h"

#include "image_fixtures.h"

/* Mean absolute difference allowed against the PNG reference: lossless
 * formats agree but for colour rounding (GIF's palette), lossy ones within
 * their artefacts (compared at the best 1-pixel shift, see mad_shifted). */
#define LOSSLESS 1e-3
static const double enc_tol[E_N] = {LOSSLESS, 0.01,     LOSSLESS, LOSSLESS, 0.01,
                                    LOSSLESS, LOSSLESS, 0.01,     0.01};

/* libgd 2.3.3 (Debian 12) leaks in its AVIF and HEIF writers (libgd issue
 * #831, fixed upstream after 2.3.3), which make this test's fixtures: not
 * our code, so LeakSanitizer is told to ignore exactly those when CI runs
 * us under ASan.  (Its AVIF reader leaks too, but is no longer used:
 * src/image/image_avif.c.)  The fast unwinder stops inside libavif and
 * libx265 (no frame pointers), hence the module names.  Without ASan this
 * function is never called. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:gdImageAvifPtrEx\nleak:gdImageHeifPtrEx\n"
	       "leak:libavif.so\nleak:libx265.so\n";
}

/* ---- measuring -------------------------------------------------------- */

static double mad(const float *a, const float *b)
{
	double s = 0;

	for (int i = 0; i < IMAGE_PIXELS; i++)
		s += fabs(a[i] - b[i]);
	return s / IMAGE_PIXELS;
}

/* The smallest mean abs diff over shifts of a by up to one pixel.  The
 * centring shift is an integer, as in MNIST, so a centre of mass at exactly
 * x.5 (any symmetric "0") goes one way or the other on a codec's whim; the
 * shape is what lossy formats are held to, the centring is checked apart. */
static double mad_shifted(const float *a, const float *b)
{
	double best = 1e9;

	for (int dy = -1; dy <= 1; dy++) {
		for (int dx = -1; dx <= 1; dx++) {
			double s = 0;

			for (int y = 0; y < 28; y++) {
				for (int x = 0; x < 28; x++) {
					int sx = x - dx, sy = y - dy;
					float p = sx < 0 || sy < 0 || sx > 27 || sy > 27
					              ? 0
					              : a[sy * 28 + sx];

					s += fabs(p - b[y * 28 + x]);
				}
			}
			best = s / IMAGE_PIXELS < best ? s / IMAGE_PIXELS : best;
		}
	}
	return best;
}

static void shape(const float *o, double *cx, double *cy, int *box)
{
	double m = 0, mx = 0, my = 0;
	int x0 = 28, y0 = 28, x1 = -1, y1 = -1;

	for (int y = 0; y < 28; y++) {
		for (int x = 0; x < 28; x++) {
			double v = o[y * 28 + x];

			m += v, mx += v * x, my += v * y;
			if (v > 0) {
				x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
				y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
			}
		}
	}
	*cx = m > 0 ? mx / m : -1;
	*cy = m > 0 ? my / m : -1;
	*box = x1 < 0 ? 0 : (x1 - x0 > y1 - y0 ? x1 - x0 : y1 - y0) + 1;
}

/* Run the pipeline on b and check the MNIST-shape invariants and, when ref
 * is given, closeness to it.  Returns whether everything held. */
static int check(struct blob b, const float *ref, double tol, struct image_info *info,
                 const char *what)
{
	float out[IMAGE_PIXELS];
	struct dg_error err = {0};
	double cx, cy, d;
	int box, good;

	if (!ok(image_to_mnist(b.p, (size_t)b.n, NULL, out, info, &err) == 0, "%s: decodes",
	        what)) {
		diag("  %s: %s", dg_code_name(err.code), err.msg);
		return 0;
	}
	shape(out, &cx, &cy, &box);
	good = ok(fabs(cx - 14) <= 0.5 && fabs(cy - 14) <= 0.5 && abs(box - 20) <= 1,
	          "%s: centre of mass (%.2f, %.2f), box %d", what, cx, cy, box);
	if (ref && tol <= LOSSLESS) {
		d = mad(out, ref);
		good &= ok(d <= tol, "%s: mean abs diff %.5f <= %g", what, d, tol);
	} else if (ref) {
		d = mad_shifted(out, ref);
		good &=
		    ok(d <= tol, "%s: mean abs diff %.5f <= %g (best 1-px shift)", what, d, tol);
	}
	return good;
}

static int run(struct blob b, const struct image_limits *lim, float *out)
{
	float tmp[IMAGE_PIXELS];
	struct dg_error err = {0};

	if (image_to_mnist(b.p, (size_t)b.n, lim, out ? out : tmp, NULL, &err) == 0)
		return DG_OK;
	return err.code;
}

/* ---- the cases ------------------------------------------------------- */

static void test_basics(void)
{
	struct image_limits lim;
	static const struct {
		const char *bytes;
		size_t n;
		enum image_format f;
	} magic[] = {
	    {"\x89PNG\r\n\x1a\n", 8, IMAGE_PNG},
	    {"\xff\xd8\xff\xe0", 4, IMAGE_JPEG},
	    {"GIF89a", 6, IMAGE_GIF},
	    {"BM", 2, IMAGE_BMP},
	    {"RIFF\0\0\0\0WEBPVP8 ", 16, IMAGE_WEBP},
	    {"II*\0", 4, IMAGE_TIFF},
	    {"MM\0*", 4, IMAGE_TIFF},
	    {"\0\0\0\x18"
	     "ftypheic\0\0\0\0mif1heic",
	     24, IMAGE_HEIF},
	    {"\0\0\0\x1c"
	     "ftypmif1\0\0\0\0mif1avifmiaf",
	     28, IMAGE_AVIF},
	    {"\0\0\0\x18"
	     "ftypavif\0\0\0\0mif1avif",
	     24, IMAGE_AVIF},
	    {"hello", 5, IMAGE_UNKNOWN},
	    {"\x89PN", 3, IMAGE_UNKNOWN},
	};

	image_limits_default(&lim);
	ok(lim.max_bytes == 8u << 20 && lim.max_width == 4096 && lim.max_height == 4096,
	   "default limits 8 MiB, 4096 x 4096");
	for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++)
		is_int(image_detect(magic[i].bytes, magic[i].n), magic[i].f,
		       "detect %s (%zu bytes)", image_format_name(magic[i].f), magic[i].n);
	is_str(image_format_name(IMAGE_JPEG), "jpeg", "format name");
	is_str(image_format_name((enum image_format)99), "unknown", "format name out of range");
	ok(image_format_supported(IMAGE_PNG) && image_format_supported(IMAGE_JPEG) &&
	       image_format_supported(IMAGE_GIF) && image_format_supported(IMAGE_BMP),
	   "png, jpeg, gif, bmp are always decodable");
	ok(!image_format_supported(IMAGE_UNKNOWN), "unknown is not");
}

/* Every format libgd writes, for each digit, against the PNG reference. */
static void test_formats(float refs[3][IMAGE_PIXELS])
{
	static const char digits[] = "710";

	for (int d = 0; d < 3; d++) {
		gdImagePtr im = reference(digits[d]);
		struct blob png = encode(im, E_PNG);
		struct image_info info;
		struct dg_error err;
		struct image_header hdr;
		char what[64];

		snprintf(what, sizeof(what), "'%c' reference png", digits[d]);
		check(png, NULL, 0, &info, what);
		image_to_mnist(png.p, (size_t)png.n, NULL, refs[d], NULL, &err);
		ok(info.format == IMAGE_PNG && info.width == 280 && info.height == 280 &&
		       info.inverted == 1,
		   "'%c' info: png 280x280, inverted", digits[d]);
		gdFree(png.p);
		for (int e = 1; e < E_N; e++) {
			struct blob b;

			if (!image_format_supported(enc_format[e])) {
				skip(4, "this libgd cannot decode the format");
				continue;
			}
			b = encode(im, (enum enc)e);
			if (!b.p) {
				skip(4, "this libgd cannot encode the format");
				continue;
			}
			snprintf(what, sizeof(what), "'%c' %s", digits[d], enc_name[e]);
			check(b, refs[d], enc_tol[e], &info, what);
			ok(image_probe(b.p, (size_t)b.n, &hdr, &err) == 0 &&
			       hdr.format == enc_format[e] && hdr.width == 280 &&
			       hdr.height == 280 && info.format == enc_format[e],
			   "%s: header declares %s 280x280", what,
			   image_format_name(enc_format[e]));
			gdFree(b.p);
		}
		gdImageDestroy(im);
	}
}

/* Looks, placement, size and strokes that must not change the answer. */
static void test_variants(const float *ref7)
{
	gdImagePtr im;
	struct blob b;
	struct image_info info;
	float thin[IMAGE_PIXELS], thick[IMAGE_PIXELS];
	double mthin = 0, mthick = 0;
	int transparent = gdTrueColorAlpha(255, 255, 255, gdAlphaTransparent);

	im = digit_image('7', 280, 280, 90, 40, 200, 24, WHITE, BLACK);
	b = encode(im, E_PNG);
	check(b, ref7, LOSSLESS, &info, "light on dark");
	is_int(info.inverted, 0, "light on dark: not inverted");
	gdFree(b.p), gdImageDestroy(im);

	/* Chalk on a blackboard, photographed: the board lit unevenly, so
	 * its border is not flat and the skews decide. */
	im = digit_image('7', 280, 280, 90, 40, 200, 24, gdTrueColor(215, 215, 215),
	                 gdTrueColor(40, 40, 40));
	for (int y = 0; y < 280; y++) {
		for (int x = 0; x < 280; x++) {
			int v = gdTrueColorGetGreen(gdImageGetTrueColorPixel(im, x, y));

			v = (int)(v * (0.55 + 0.45 * x / 279.0 + 0.25 * y / 279.0));
			v = v > 255 ? 255 : v;
			gdImageSetPixel(im, x, y, gdTrueColor(v, v, v));
		}
	}
	b = encode(im, E_JPEG);
	check(b, ref7, 0.03, &info, "chalk on an unevenly lit board (jpeg)");
	is_int(info.inverted, 0, "chalk on a board: not inverted");
	gdFree(b.p), gdImageDestroy(im);

	im = digit_image('7', 280, 280, 90, 40, 200, 24, gdTrueColor(20, 40, 150),
	                 gdTrueColor(250, 230, 150));
	b = encode(im, E_PNG);
	check(b, ref7, LOSSLESS, NULL, "blue ink on yellow paper");
	gdFree(b.p), gdImageDestroy(im);

	im = digit_image('7', 280, 280, 90, 40, 200, 24, gdTrueColor(230, 60, 60),
	                 gdTrueColor(40, 60, 40));
	b = encode(im, E_JPEG);
	check(b, ref7, 0.02, NULL, "red ink on dark green (jpeg)");
	gdFree(b.p), gdImageDestroy(im);

	im = digit_image('7', 280, 280, 90, 40, 200, 24, BLACK, transparent);
	b = encode(im, E_PNG);
	check(b, ref7, LOSSLESS, NULL, "black on transparent (png alpha)");
	gdFree(b.p);
	b = encode(im, E_WEBP_LOSSLESS);
	if (b.p && image_format_supported(IMAGE_WEBP))
		check(b, ref7, LOSSLESS, NULL, "black on transparent (webp alpha)");
	else
		skip(3, "no webp");
	gdFree(b.p), gdImageDestroy(im);

	im = digit_image('7', 280, 280, 90, 40, 200, 24, WHITE, transparent);
	b = encode(im, E_PNG);
	check(b, ref7, LOSSLESS, NULL, "white on transparent: the alpha is the ink");
	gdFree(b.p), gdImageDestroy(im);

	/* The same 7 drawn 150 px tall far off-centre in a 2000 x 1500 photo. */
	im = digit_image('7', 2000, 1500, 1500, 1100, 150, 18, BLACK, WHITE);
	b = encode(im, E_JPEG);
	check(b, ref7, 0.02, &info, "off-centre in 2000x1500 jpeg");
	ok(info.width == 2000 && info.height == 1500, "2000x1500: info has the decoded size");
	gdFree(b.p), gdImageDestroy(im);

	im = digit_image('7', 12, 12, 3, 1, 10, 2, BLACK, WHITE);
	b = encode(im, E_PNG);
	check(b, ref7, 0.08, NULL, "tiny 12x12");
	gdFree(b.p), gdImageDestroy(im);

	/* Salt specks (3x3 ink dots) all over the paper, some inside the box. */
	im = reference('7');
	srand(7);
	for (int i = 0; i < 40; i++) {
		int x = rand() % 276, y = rand() % 276;

		gdImageFilledRectangle(im, x, y, x + 2, y + 2, BLACK);
	}
	b = encode(im, E_PNG);
	check(b, ref7, 0.005, NULL, "40 specks of salt");
	gdFree(b.p), gdImageDestroy(im);

	im = digit_image('7', 280, 280, 90, 40, 200, 6, BLACK, WHITE);
	b = encode(im, E_PNG);
	check(b, NULL, 0, NULL, "thin strokes (6 px)");
	image_to_mnist(b.p, (size_t)b.n, NULL, thin, NULL, NULL);
	gdFree(b.p), gdImageDestroy(im);
	im = digit_image('7', 280, 280, 90, 40, 200, 50, BLACK, WHITE);
	b = encode(im, E_PNG);
	check(b, NULL, 0, NULL, "thick strokes (50 px)");
	image_to_mnist(b.p, (size_t)b.n, NULL, thick, NULL, NULL);
	gdFree(b.p), gdImageDestroy(im);
	for (int i = 0; i < IMAGE_PIXELS; i++)
		mthin += thin[i], mthick += thick[i];
	ok(mthick > 2 * mthin, "thick strokes carry more ink than thin (%.0f vs %.0f)", mthick,
	   mthin);
}

/* ---- photos as people take them ---------------------------------------- */

enum paper_effect {
	PE_RULED,
	PE_GRID,
	PE_BOX,
	PE_UNDERLINE,
	PE_SHADOW,
	PE_VIGNETTE,
	PE_GLARE,
	PE_PENCIL,
	PE_N
};
static const char *const pe_name[PE_N] = {
    "ruled paper",   "squared paper", "a box round it", "underlined",
    "a hard shadow", "vignetting",    "a glare patch",  "pencil at 30 % contrast"};

/* Multiply the paper (not the ink) of im by light(x, y) in [0, 1.5]. */
static void light(gdImagePtr im, int kind)
{
	int w = gdImageSX(im), h = gdImageSY(im);

	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			int c = gdImageGetTrueColorPixel(im, x, y), v;
			double f = 1, dx = (x - w / 2.0) / w, dy = (y - h / 2.0) / h;

			if (kind == PE_SHADOW) /* the left 40 % in shadow, a 6-px soft edge */
				f = x < 0.4 * w - 3   ? 0.4
				    : x > 0.4 * w + 3 ? 1
				                      : 0.4 + 0.1 * (x - 0.4 * w + 3);
			else if (kind == PE_VIGNETTE)
				f = 1 - 1.6 * (dx * dx + dy * dy);
			else if (kind == PE_GLARE) /* a bright patch washing the paper to white */
				f = 1 + 0.6 * exp(-((x - 0.7 * w) * (x - 0.7 * w) +
				                    (y - 0.3 * h) * (y - 0.3 * h)) /
				                  (0.02 * w * w));
			v = (int)(gdTrueColorGetGreen(c) * f);
			v = v < 0 ? 0 : v > 255 ? 255 : v;
			gdImageSetPixel(im, x, y, gdTrueColor(v, v, v));
		}
	}
}

/* The reference digit d on paper with one effect, as a photo: grey paper
 * (230) so glare has room, ink 20, or 160 for pencil. */
static gdImagePtr on_paper(char d, enum paper_effect e)
{
	int paper = gdTrueColor(230, 230, 230), ink = gdTrueColor(20, 20, 20), faint;
	gdImagePtr im;

	if (e == PE_PENCIL)
		ink = gdTrueColor(160, 160, 160);
	im = digit_image(d, 280, 280, 90, 40, 200, 24, ink, paper);
	faint = gdTrueColor(120, 135, 175); /* printed rules: blue-grey, lighter than ink */
	switch (e) {
	case PE_RULED: /* tilted 2 degrees, 3 px, every 36 px, through the digit */
		gdImageSetThickness(im, 3);
		for (int y = 10; y < 300; y += 36)
			gdImageLine(im, 0, y, 279, y - 10, faint);
		break;
	case PE_GRID:
		gdImageSetThickness(im, 2);
		for (int k = 8; k < 280; k += 30) {
			gdImageLine(im, 0, k, 279, k, faint);
			gdImageLine(im, k, 0, k, 279, faint);
		}
		break;
	case PE_BOX: /* a form field: the box 30 px out from the digit, 5 px pen */
		gdImageSetThickness(im, 5);
		gdImageRectangle(im, 45, 12, 245, 268, ink);
		break;
	case PE_UNDERLINE: /* 14 px under the digit, wider than it */
		gdImageSetThickness(im, 6);
		gdImageLine(im, 60, 256, 230, 258, ink);
		break;
	default:
		light(im, e);
		break;
	}
	gdImageSetThickness(im, 1);
	return im;
}

/* The digits the first edition lost in photos: each effect alone must
 * leave the 28x28 close to the clean reference's. */
static void test_photos(float refs[3][IMAGE_PIXELS])
{
	static const char digits[] = "710";
	gdImagePtr im;
	struct blob b;
	char what[96];

	for (int e = 0; e < PE_N; e++) {
		for (int d = 0; d < 3; d++) {
			im = on_paper(digits[d], e);
			b = encode(im, E_JPEG);
			snprintf(what, sizeof(what), "'%c' on %s (jpeg)", digits[d], pe_name[e]);
			check(b, refs[d], 0.03, NULL, what);
			gdFree(b.p), gdImageDestroy(im);
		}
	}

	/* Small in a big noisy photo: 300 px of a 3000 x 2250 picture, grain. */
	im = digit_image('7', 3000, 2250, 1900, 700, 300, 30, gdTrueColor(30, 30, 60),
	                 gdTrueColor(225, 225, 220));
	srand(9);
	for (int i = 0; i < 3000; i++) {
		int x = rand() % 2990, y = rand() % 2240, g = 160 + rand() % 60;

		gdImageFilledRectangle(im, x, y, x + rand() % 4, y + rand() % 4,
		                       gdTrueColor(g, g, g));
	}
	b = encode(im, E_JPEG);
	check(b, refs[0], 0.03, NULL, "a 300-px 7 in a grainy 3000x2250 jpeg");
	gdFree(b.p), gdImageDestroy(im);

	/* A pencil 7 in a pen-drawn box, as forms are photographed: the box
	 * turned 3 degrees, one corner left open, and the stubs of squared
	 * paper's lines running out of it.  The box is darker than the
	 * digit, so it set the contrast until it went. */
	im = digit_image('7', 280, 280, 90, 40, 200, 24, gdTrueColor(160, 160, 160),
	                 gdTrueColor(230, 230, 230));
	{
		int pen = gdTrueColor(20, 20, 20);
		double t = tan(3 * M_PI / 180);

		gdImageSetThickness(im, 4);
		gdImageLine(im, 48, 14, 246, (int)(14 + t * 198), pen); /* top */
		gdImageLine(im, 246, (int)(14 + t * 198), (int)(246 - t * 254), 268,
		            pen); /* right */
		gdImageLine(im, (int)(246 - t * 254), 268, (int)(48 - t * 254) + 40, 268 - 2, pen);
		gdImageLine(im, 48, 14, (int)(48 - t * 254), 200, pen); /* left, open below */
		gdImageSetThickness(im, 2);
		for (int k = 60; k < 260; k += 60) { /* stubs through the sides */
			gdImageLine(im, k, 0, k, 16, pen);
			gdImageLine(im, 250, k, 279, k, pen);
		}
	}
	gdImageSetThickness(im, 1);
	b = encode(im, E_JPEG);
	check(b, refs[0], 0.03, NULL, "a pencil 7 in a tilted, open pen box with line stubs");
	gdFree(b.p), gdImageDestroy(im);

	/* A 0 standing on the line drawn under it: where they touch, only
	 * the line's own thickness goes. */
	im = digit_image('0', 280, 280, 90, 40, 200, 24, gdTrueColor(20, 20, 20),
	                 gdTrueColor(230, 230, 230));
	gdImageSetThickness(im, 8);
	gdImageLine(im, 20, 246, 260, 248, gdTrueColor(20, 20, 20));
	gdImageSetThickness(im, 1);
	b = encode(im, E_JPEG);
	check(b, refs[2], 0.03, NULL, "a 0 standing on the line drawn under it");
	gdFree(b.p), gdImageDestroy(im);

	/* A faint pencil 7 over a pen underline: the line set the stretch and
	 * left the digit below the ink level, so nothing but the line was a
	 * piece (this was "no ink").  The line goes, the digit sets it. */
	im = digit_image('7', 280, 280, 90, 40, 200, 24, gdTrueColor(175, 175, 175),
	                 gdTrueColor(230, 230, 230));
	gdImageSetThickness(im, 6);
	gdImageLine(im, 40, 262, 250, 264, gdTrueColor(20, 20, 20));
	gdImageSetThickness(im, 1);
	b = encode(im, E_JPEG);
	check(b, refs[0], 0.03, NULL, "a faint pencil 7 over a dark pen underline");
	gdFree(b.p), gdImageDestroy(im);

	/* A dark corner (a shadow's, vignetting's) at the picture's edge next
	 * to the digit, lighter than it: it does not join the digit. */
	im = digit_image('7', 560, 420, 340, 200, 200, 24, gdTrueColor(20, 20, 20),
	                 gdTrueColor(230, 230, 230));
	{
		gdPoint corner[3] = {{559, 330}, {559, 419}, {470, 419}};

		gdImageFilledPolygon(im, corner, 3, gdTrueColor(140, 140, 140));
	}
	b = encode(im, E_JPEG);
	check(b, refs[0], 0.03, NULL, "a 7 beside a dark corner at the picture's edge");
	gdFree(b.p), gdImageDestroy(im);

	/* What a box on ruled paper leaves when its top and bottom went with
	 * the rules: two upright sides reaching past the digit above and
	 * below, too short for a family of lines.  They do not join it. */
	im = digit_image('7', 280, 360, 90, 80, 200, 24, gdTrueColor(20, 20, 20),
	                 gdTrueColor(230, 230, 230));
	gdImageSetThickness(im, 4);
	gdImageLine(im, 50, 50, 52, 300, gdTrueColor(20, 20, 20));
	gdImageLine(im, 240, 50, 238, 300, gdTrueColor(20, 20, 20));
	gdImageSetThickness(im, 1);
	b = encode(im, E_JPEG);
	check(b, refs[0], 0.03, NULL, "a 7 between the two sides left of a box");
	gdFree(b.p), gdImageDestroy(im);

	/* Blank ruled paper and a box with nothing in it hold no digit. */
	im = on_paper('7', PE_RULED);
	gdImageFilledRectangle(im, 80, 30, 250, 250, gdTrueColor(230, 230, 230));
	gdImageSetThickness(im, 3);
	for (int y = 10; y < 300; y += 36)
		gdImageLine(im, 0, y, 279, y - 10, gdTrueColor(120, 135, 175));
	b = encode(im, E_PNG);
	is_int(run(b, NULL, NULL), DG_ERR_EMPTY, "ruled paper without a digit: no ink");
	gdFree(b.p), gdImageDestroy(im);
}

/* PNG flavours libgd reads: palette, interlaced, hand-made 16-bit grey and
 * grey+alpha; JPEG progressive; EXIF orientations. */
static void test_flavours(const float *ref7)
{
	gdImagePtr up = reference('7'), im;
	struct blob b, j;
	static const int orient[] = {2, 3, 6, 8};

	im = gdImageCreate(280, 280); /* palette: first colour is the ground */
	gdImageColorAllocate(im, 255, 255, 255);
	draw(im, '7', 90, 40, 200, 24, gdImageColorAllocate(im, 0, 0, 0), 0);
	b = encode(im, E_PNG);
	check(b, ref7, LOSSLESS, NULL, "palette png");
	gdFree(b.p), gdImageDestroy(im);

	gdImageInterlace(up, 1);
	b = encode(up, E_PNG);
	check(b, ref7, LOSSLESS, NULL, "interlaced (Adam7) png");
	gdFree(b.p);
	b = encode(up, E_JPEG); /* libgd writes progressive JPEG when interlaced */
	ok(b.p && memmem(b.p, (size_t)b.n, "\xff\xc2", 2) != NULL, "jpeg is progressive (SOF2)");
	check(b, ref7, 0.01, NULL, "progressive jpeg");
	gdFree(b.p);
	gdImageInterlace(up, 0);

	b = png_gray16(up);
	check(b, ref7, LOSSLESS, NULL, "16-bit grey png");
	free(b.p);
	b = png_gray_alpha(up);
	check(b, ref7, LOSSLESS, NULL, "8-bit grey+alpha png");
	free(b.p);

	for (size_t i = 0; i < sizeof(orient) / sizeof(orient[0]); i++) {
		struct image_header hdr;
		struct image_info info;
		char what[64];

		im = stored_as(up, orient[i]);
		j = encode(im, E_JPEG);
		b = with_exif(j, orient[i]);
		snprintf(what, sizeof(what), "jpeg with EXIF orientation %d", orient[i]);
		ok(image_probe(b.p, (size_t)b.n, &hdr, NULL) == 0 && hdr.orientation == orient[i],
		   "%s: probe reads it", what);
		check(b, ref7, 0.01, &info, what);
		gdFree(j.p), free(b.p), gdImageDestroy(im);
	}
	gdImageDestroy(up);
}

#ifdef HAVE_LIBJPEG
#include <jpeglib.h> /* libgd cannot write CMYK JPEG: made with libjpeg itself */

/* im as a JPEG libgd cannot write.  stored JCS_CMYK or JCS_YCCK: CMYK the
 * way Photoshop stores it, an Adobe APP14 marker and inverted samples (255
 * = no ink), so paper is (255, 255, 255, 255) and ink is K = 0; the colour
 * transform is `stored`.  JCS_GRAYSCALE: one channel. */
static struct blob jpeg_as(gdImagePtr im, J_COLOR_SPACE stored)
{
	const int k = stored == JCS_GRAYSCALE ? 1 : 4;
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned char *buf = NULL, *row = malloc((size_t)gdImageSX(im) * k);
	unsigned long n = 0;
	struct blob b;

	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &buf, &n);
	c.image_width = (JDIMENSION)gdImageSX(im), c.image_height = (JDIMENSION)gdImageSY(im);
	c.input_components = k, c.in_color_space = k == 1 ? JCS_GRAYSCALE : JCS_CMYK;
	jpeg_set_defaults(&c);
	jpeg_set_colorspace(&c, stored);
	c.write_Adobe_marker = k == 4;
	jpeg_set_quality(&c, 90, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		for (int x = 0; x < gdImageSX(im); x++) {
			int px = gdImageGetTrueColorPixel(im, x, (int)c.next_scanline);

			memset(row + x * k, 255, k - 1);
			row[x * k + k - 1] = (unsigned char)gdTrueColorGetGreen(px);
		}
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	free(row);
	b.p = buf, b.n = (int)n;
	return b;
}
#endif

/* Print-workflow JPEGs.  libgd 2.3.3 reads CMYK and YCCK JPEGs as CMYK and
 * un-inverts the samples when it sees an Adobe APP14 marker (gd_jpeg.c,
 * CMYKToRGB), so the ink comes out black on white, as drawn.  A reader
 * that got the polarity wrong would still match the reference (the
 * polarity step rescues light-on-dark), so info.inverted is what shows
 * libgd got it right: without the marker the YCCK one comes out inverted. */
static void test_cmyk(const float *ref7)
{
#ifdef HAVE_LIBJPEG
	static const J_COLOR_SPACE stored[] = {JCS_YCCK, JCS_CMYK};
	static const char *const name[] = {"ycck", "cmyk"};
	gdImagePtr up = reference('7');

	for (int i = 0; i < 2; i++) {
		struct blob b = jpeg_as(up, stored[i]);
		struct image_info info = {0};
		char what[64];

		snprintf(what, sizeof(what), "adobe %s jpeg", name[i]);
		check(b, ref7, enc_tol[E_JPEG], &info, what);
		ok(info.format == IMAGE_JPEG && info.inverted == 1,
		   "%s: info says jpeg, dark ink on light paper", what);
		free(b.p);
	}
	/* JPEGs are decoded by libjpeg itself, scaled: greyscale comes through
	 * its own colour conversion. */
	{
		struct blob b = jpeg_as(up, JCS_GRAYSCALE);
		struct image_info info = {0};

		check(b, ref7, enc_tol[E_JPEG], &info, "greyscale jpeg");
		ok(info.format == IMAGE_JPEG && info.width == 280 && info.inverted == 1,
		   "greyscale jpeg: info says jpeg, 280 wide, dark ink on light paper");
		free(b.p);
	}
	gdImageDestroy(up);
#else
	(void)ref7;
	skip(12, "configure found no libjpeg (jpeglib.h, -ljpeg) to write CMYK JPEGs");
#endif
}

static struct blob bytes(const void *p, size_t n)
{
	struct blob b = {malloc(n ? n : 1), (int)n};

	memcpy(b.p, p, n);
	return b;
}

/* Hostile and broken input: each must fail with its exact code, quietly. */
static void test_errors(void)
{
	static const unsigned char gif_bomb[] = {
	    'G',  'I', 'F', '8', '9', 'a',  0x60, 0xea, 0x60, 0xea, 0, 0, 0, /* 60000^2 */
	    0x2c, 0,   0,   0,   0,   0x60, 0xea, 0x60, 0xea, 0,    2, 2, 0x44, 0x01, 0, 0x3b};
	static const unsigned char jpeg_bomb[] = {
	    0xff, 0xd8, 0xff, 0xc0, 0, 17,   8,    0xfd, 0xe8, 0xfd, 0xe8, 3,   1,
	    0x22, 0,    2,    0x11, 1, 3,    0x11, 1,    0xff, 0xda, 0,    12,  3,
	    1,    0,    2,    0x11, 3, 0x11, 0,    0x3f, 0,    0,    0xff, 0xd9}; /* 65000 x 65000
	                                                                           */
	static const unsigned char
	    bmp_bomb[54] = {'B',  'M',  54,   0,    0, 0, 0,  0,    0,    0,    54,
	                    0,    0,    0,    40,   0, 0, 0,  0xa0, 0x86, 0x01, 0,
	                    0x60, 0x79, 0xfe, 0xff, 1, 0, 24, 0}; /* 100000 x -100000 */
	static const unsigned char
	    webp_bomb[30] = {'R', 'I', 'F',  'F',  22,   0,    0,    0,   'W', 'E', 'B',
	                     'P', 'V', 'P',  '8',  'X',  10,   0,    0,   0,   0,   0,
	                     0,   0,   0x9f, 0x86, 0x01, 0x9f, 0x86, 0x01}; /* 100000 x 100000 */
	static const unsigned char tiff_bomb[] = {
	    'I',  'I',  42, 0, 8, 0, 0, 0, 2, 0, 0, 1,    4,    0,    1, 0, 0, 0, 0xa0,
	    0x86, 0x01, 0,  1, 1, 4, 0, 1, 0, 0, 0, 0xa0, 0x86, 0x01, 0, 0, 0, 0, 0};
	gdImagePtr im = reference('7');
	struct blob png = encode(im, E_PNG), jpg = encode(im, E_JPEG), gif = encode(im, E_GIF);
	struct blob bmp = encode(im, E_BMP), b, more[E_N] = {{0}};
	struct image_limits lim;
	FILE *errf = tmpfile();
	int saved = dup(2);
	long spoken;

	for (int e = E_WEBP; e < E_N; e++) /* encoders may talk; only decoding is checked */
		more[e] = encode(im, (enum enc)e);
	fflush(stderr);
	dup2(fileno(errf), 2); /* libgd must stay silent: catch anything it says */

	is_int(run((struct blob){(unsigned char *)"", 0}, NULL, NULL), DG_ERR_EMPTY, "empty input");
	b = bytes("\x13\x37\xfe", 3);
	is_int(run(b, NULL, NULL), DG_ERR_UNSUPPORTED, "3 random bytes");
	free(b.p);
	b = bytes("hello", 5);
	is_int(run(b, NULL, NULL), DG_ERR_UNSUPPORTED, "text \"hello\"");
	free(b.p);

	{
		const int cuts[] = {8, 20, 33, 60, png.n / 2, png.n - 20, png.n - 12, png.n - 1};

		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
			is_int(run((struct blob){png.p, cuts[i]}, NULL, NULL), DG_ERR_FORMAT,
			       "png truncated to %d of %d bytes", cuts[i], png.n);
	}
	is_int(run((struct blob){jpg.p, jpg.n / 2}, NULL, NULL), DG_ERR_FORMAT,
	       "jpeg truncated in the scan");
	is_int(run((struct blob){jpg.p, jpg.n - 2}, NULL, NULL), DG_ERR_FORMAT,
	       "jpeg without its end marker");
	is_int(run((struct blob){jpg.p, 40}, NULL, NULL), DG_ERR_FORMAT,
	       "jpeg truncated in the header");
	is_int(run((struct blob){gif.p, gif.n / 2}, NULL, NULL), DG_ERR_FORMAT,
	       "gif truncated in the picture");
	is_int(run((struct blob){gif.p, 11}, NULL, NULL), DG_ERR_FORMAT,
	       "gif truncated in the header");
	is_int(run((struct blob){bmp.p, bmp.n / 2}, NULL, NULL), DG_ERR_FORMAT,
	       "bmp truncated in the pixels");
	for (int e = E_WEBP; e < E_N; e++) {
		if (!image_format_supported(enc_format[e]) || !more[e].p) {
			skip(2, "format not available");
			continue;
		}
		is_int(run((struct blob){more[e].p, more[e].n / 2}, NULL, NULL), DG_ERR_FORMAT,
		       "%s truncated to half", enc_name[e]);
		is_int(run((struct blob){more[e].p, 24}, NULL, NULL), DG_ERR_FORMAT,
		       "%s truncated to 24 bytes", enc_name[e]);
		gdFree(more[e].p);
	}
	b = bytes(png.p, (size_t)png.n);
	b.p[png.n / 2] ^= 0x55;
	is_int(run(b, NULL, NULL), DG_ERR_FORMAT, "png with a corrupt byte in the data");
	free(b.p);

	b = make_png(100000, 100000, 8, 0, NULL, 0);
	is_int(run(b, NULL, NULL), DG_ERR_TOO_LARGE, "png declaring 100000x100000 (valid CRC)");
	free(b.p);
	b = make_png(5000, 10, 8, 0, NULL, 0);
	is_int(run(b, NULL, NULL), DG_ERR_TOO_LARGE, "png declaring 5000x10 over 4096 wide");
	image_limits_default(&lim);
	lim.max_width = 8000;
	is_int(run(b, &lim, NULL), DG_ERR_FORMAT,
	       "same png under a raised limit reaches the decoder (no data: format)");
	free(b.p);
	b = bytes(gif_bomb, sizeof(gif_bomb));
	is_int(run(b, NULL, NULL), DG_ERR_TOO_LARGE, "gif declaring 60000x60000");
	free(b.p);
	b = bytes(jpeg_bomb, sizeof(jpeg_bomb));
	is_int(run(b, NULL, NULL), DG_ERR_TOO_LARGE, "jpeg declaring 65000x65000");
	free(b.p);
	b = bytes(bmp_bomb, sizeof(bmp_bomb));
	is_int(run(b, NULL, NULL), DG_ERR_TOO_LARGE, "bmp declaring 100000x100000 top-down");
	free(b.p);
	b = bytes(webp_bomb, sizeof(webp_bomb));
	is_int(run(b, NULL, NULL), DG_ERR_TOO_LARGE, "webp (VP8X) declaring 100000x100000");
	free(b.p);
	b = bytes(tiff_bomb, sizeof(tiff_bomb));
	is_int(run(b, NULL, NULL), DG_ERR_TOO_LARGE, "tiff declaring 100000x100000");
	free(b.p);
	image_limits_default(&lim);
	lim.max_bytes = 100;
	is_int(run(png, &lim, NULL), DG_ERR_TOO_LARGE, "%d bytes over a 100-byte limit", png.n);

	gdImageDestroy(im);
	im = canvas(100, 80, WHITE);
	for (int e = E_PNG; e <= E_BMP; e++) {
		b = encode(im, (enum enc)e);
		is_int(run(b, NULL, NULL), DG_ERR_EMPTY, "blank white %s", enc_name[e]);
		gdFree(b.p);
	}
	gdImageDestroy(im);
	im = canvas(100, 80, gdTrueColor(128, 128, 128));
	b = encode(im, E_JPEG);
	is_int(run(b, NULL, NULL), DG_ERR_EMPTY, "uniform grey jpeg");
	gdFree(b.p), gdImageDestroy(im);
	im = canvas(100, 80, gdTrueColorAlpha(0, 0, 0, gdAlphaTransparent));
	b = encode(im, E_PNG);
	is_int(run(b, NULL, NULL), DG_ERR_EMPTY, "fully transparent png");
	gdFree(b.p), gdImageDestroy(im);
	{
		float lum[4] = {0}, out[IMAGE_PIXELS];
		struct dg_error err;

		ok(image_normalise(lum, 0, 4, out, NULL, &err) < 0 && err.code == DG_ERR_INVALID,
		   "normalise 0x4: invalid");
	}

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fseek(errf, 0, SEEK_END);
	spoken = ftell(errf);
	is_int(spoken, 0, "nothing written to stderr on bad input");
	if (spoken > 0) {
		char said[512] = "";

		rewind(errf);
		said[fread(said, 1, sizeof(said) - 1, errf)] = 0;
		diag("  stderr: %s", said);
	}
	fclose(errf);
	gdFree(png.p), gdFree(jpg.p), gdFree(gif.p), gdFree(bmp.p);
}

static void test_preview(const float *ref7)
{
	unsigned char *png = NULL;
	size_t n = 0;
	float again[IMAGE_PIXELS];
	gdImagePtr im;
	double worst = 0;
	int rc;

	if (!ok(image_preview_png(ref7, &png, &n, NULL) == 0 && png && n > 8, "preview encodes"))
		return;
	is_int(image_detect(png, n), IMAGE_PNG, "preview is a png");
	im = gdImageCreateFromPngPtr((int)n, png);
	ok(im && gdImageSX(im) == 28 && gdImageSY(im) == 28, "preview is 28x28");
	for (int i = 0; im && i < IMAGE_PIXELS; i++) {
		int c = gdImageGetPixel(im, i % 28, i / 28);
		double d = fabs(gdImageRed(im, c) / 255.0 - ref7[i]);

		worst = d > worst ? d : worst;
	}
	ok(worst <= 0.5 / 255 + 1e-6, "preview pixels within half a grey level (%.5f)", worst);
	rc = image_to_mnist(png, n, NULL, again, NULL, NULL); /* before reading again[] */
	ok(rc == 0 && mad(again, ref7) < 1e-3,
	   "the preview goes through the pipeline unchanged (%.5f)",
	   rc == 0 ? mad(again, ref7) : 1.0);
	if (im)
		gdImageDestroy(im);
	free(png);
}

/* A PNG written with libpng: w x h random samples (seed), any colour type,
 * depth, interlace, a palette of 2^depth random colours, a tRNS chunk. */
struct png_out {
	unsigned char *p;
	size_t n, cap;
};

static void png_out_write(png_structp png, png_bytep data, size_t n)
{
	struct png_out *o = png_get_io_ptr(png);

	if (o->n + n > o->cap) {
		o->cap = (o->n + n) * 2;
		o->p = realloc(o->p, o->cap);
	}
	memcpy(o->p + o->n, data, n);
	o->n += n;
}

static void png_out_flush(png_structp png)
{
}

static struct blob png_written(int w, int h, int ctype, int depth, int interlace, int trns,
                               unsigned seed)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	int channels = ctype == 0 || ctype == 3 ? 1 : ctype == 4 ? 2 : ctype == 2 ? 3 : 4;
	size_t rowbytes = (size_t)w * channels * (depth == 16 ? 2 : 1);
	unsigned char *rows = malloc((size_t)h * rowbytes);
	png_bytep rp[64];
	png_color pal[256];
	png_byte trans[256];
	png_color_16 tc = {0};
	struct png_out o = {0};
	int n_pal = ctype == 3 ? 1 << depth : 0;

	srand(seed);
	for (size_t i = 0; i < (size_t)h * rowbytes; i++)
		rows[i] = (unsigned char)(depth < 8 || ctype == 3 ? rand() % (1 << depth) : rand());
	for (int i = 0; i < n_pal; i++) {
		pal[i].red = (png_byte)rand(), pal[i].green = (png_byte)rand();
		pal[i].blue = (png_byte)rand(), trans[i] = (png_byte)(i % 3 ? rand() : 0);
	}
	if (setjmp(png_jmpbuf(png)))
		printf("Bail out! libpng could not write a test PNG\n"), exit(1);
	png_set_write_fn(png, &o, png_out_write, png_out_flush);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype,
	             interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
	             PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (n_pal)
		png_set_PLTE(png, info, pal, n_pal);
	tc.gray = (png_uint_16)(rows[0] << (depth == 16 ? 8 : 0) | (depth == 16 ? rows[1] : 0));
	tc.red = 200, tc.green = 100, tc.blue = 50;
	if (trns && (ctype == 0 || ctype == 2 || ctype == 3))
		png_set_tRNS(png, info, trans, n_pal ? n_pal / 2 + 1 : 0, &tc);
	png_write_info(png, info);
	if (depth < 8)
		png_set_packing(png);
	for (int y = 0; y < h; y++)
		rp[y] = rows + (size_t)y * rowbytes;
	png_write_image(png, rp);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(rows);
	return (struct blob){o.p, (int)o.n};
}

/* How many pixels (or palette entries in use) libpng via image_png_decode
 * and libgd's own reader disagree on; -1 when one of them fails. */
static int png_vs_gd(struct blob b)
{
	struct image_limits lim;
	struct image_pixels px;
	gdImagePtr im = gdImageCreateFromPngPtr(b.n, b.p);
	int bad = 0;

	image_limits_default(&lim);
	if (!im || image_png_decode(b.p, (size_t)b.n, &lim, &px, NULL, NULL) < 0) {
		if (im)
			gdImageDestroy(im);
		return -1;
	}
	if (px.w != gdImageSX(im) || px.h != gdImageSY(im) || !px.argb != !gdImageTrueColor(im)) {
		bad = px.w * px.h;
	} else {
		for (int y = 0; y < px.h; y++) {
			for (int x = 0; x < px.w; x++) {
				size_t i = (size_t)y * px.w + x;

				if (px.argb) {
					bad += px.argb[i] != (uint32_t)im->tpixels[y][x];
					continue;
				}
				int c = px.index[i];

				bad += c != im->pixels[y][x] || px.red[c] != im->red[c] ||
				       px.green[c] != im->green[c] || px.blue[c] != im->blue[c] ||
				       px.alpha[c] != im->alpha[c] ||
				       (c == px.transparent) != (c == im->transparent) ||
				       (c < px.colors) != (c < im->colorsTotal);
			}
		}
	}
	image_pixels_free(&px);
	gdImageDestroy(im);
	return bad;
}

/* libpng called directly gives the pixels libgd's PNG reader gave, in
 * every colour type and depth, interlaced or not, with and without tRNS. */
static void test_png_as_gd(void)
{
	static const struct {
		int ctype, depth;
	} kinds[] = {{0, 1}, {0, 2}, {0, 4}, {0, 8}, {0, 16}, {2, 8}, {2, 16}, {3, 1},
	             {3, 2}, {3, 4}, {3, 8}, {4, 8}, {4, 16}, {6, 8}, {6, 16}};
	int cases = 0, same = 0;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (int interlace = 0; interlace < 2; interlace++) {
			for (int trns = 0; trns < 2; trns++) {
				struct blob b =
				    png_written(37, 23, kinds[k].ctype, kinds[k].depth, interlace,
				                trns, (unsigned)(k * 4 + trns));
				int bad = png_vs_gd(b);

				cases++;
				same += bad == 0;
				if (bad)
					diag("colour type %d, depth %d, interlace %d, tRNS %d: %d "
					     "pixels differ",
					     kinds[k].ctype, kinds[k].depth, interlace, trns, bad);
				free(b.p);
			}
		}
	}
	is_int(same, cases, "libpng directly = libgd's reader, pixel for pixel, in %d PNGs", cases);
}

/* A PNG whose chunk at offset off has its CRC broken. */
static struct blob crc_broken(struct blob b, const char *type)
{
	unsigned char *c = memmem(b.p, (size_t)b.n, type, 4);
	uint32_t len = (uint32_t)c[-4] << 24 | c[-3] << 16 | c[-2] << 8 | c[-1];

	c[4 + len] ^= 0xff;
	return b;
}

/* What libpng says comes back in info.warnings, never on stderr (the
 * harness's TAP stream would not mind, test_cgi.sh checks the log). */
static void test_png_warnings(const float *ref7)
{
	gdImagePtr up = reference('7');
	struct blob b = encode(up, E_PNG), t;
	static const unsigned char text[] = "Comment\0hello";
	struct image_info info;
	float out[IMAGE_PIXELS];
	struct dg_error err = {0};
	unsigned char *p;
	int rc;

	/* An ancillary tEXt chunk with a bad CRC, before IEND: libpng warns and
	 * skips it; the picture is still good. */
	t.p = malloc((size_t)b.n + 12 + sizeof(text));
	memcpy(t.p, b.p, (size_t)b.n - 12);
	p = chunk(t.p + b.n - 12, "tEXt", text, sizeof(text) - 1);
	memcpy(p, b.p + b.n - 12, 12);
	t.n = b.n + 12 + (int)sizeof(text) - 1;
	t = crc_broken(t, "tEXt");
	rc = image_to_mnist(t.p, (size_t)t.n, NULL, out, &info, &err);
	ok(rc == 0 && mad(out, ref7) <= LOSSLESS, "png with a bad tEXt CRC still decodes");
	ok(info.warnings.n == 1 && strstr(info.warnings.msg[0], "libpng warning: tEXt: CRC error"),
	   "its warning is caught: \"%s\"", info.warnings.n ? info.warnings.msg[0] : "");
	free(t.p);

	/* A critical chunk with a bad CRC: an error, FORMAT, and the message. */
	t = bytes(b.p, (size_t)b.n);
	t = crc_broken(t, "IDAT");
	rc = image_to_mnist(t.p, (size_t)t.n, NULL, out, &info, &err);
	ok(rc == -1 && err.code == DG_ERR_FORMAT && strstr(err.msg, "IDAT: CRC error"),
	   "png with a bad IDAT CRC: FORMAT (%s)", err.msg);
	ok(info.warnings.n == 1 && !strcmp(info.warnings.msg[0], "libpng error: IDAT: CRC error"),
	   "the error is caught for the log: \"%s\"", info.warnings.n ? info.warnings.msg[0] : "");
	free(t.p);

	/* An IDAT declaring 1 GiB, far more than the picture can hold:
	 * libpng's "chunk data is too large" warning, then the data ends. */
	t = bytes(b.p, (size_t)b.n);
	p = memmem(t.p, (size_t)t.n, "IDAT", 4);
	p[-4] = 0x3f, p[-3] = 0xff, p[-2] = p[-1] = 0;
	rc = image_to_mnist(t.p, (size_t)t.n, NULL, out, &info, &err);
	ok(rc == -1 && err.code == DG_ERR_FORMAT, "png with a 1 GiB IDAT: FORMAT (%s)", err.msg);
	ok(info.warnings.n == 2 &&
	       !strcmp(info.warnings.msg[0], "libpng warning: IDAT: chunk data is too large") &&
	       !strcmp(info.warnings.msg[1], "libpng error: truncated data"),
	   "its warning and error are caught: \"%s\"", info.warnings.n ? info.warnings.msg[0] : "");
	free(t.p);
	gdFree(b.p);
	gdImageDestroy(up);
}

/* The bound on what is kept: repeats once, at most IMAGE_WARN_MAX, the
 * rest counted; unprintable bytes replaced. */
static void test_warn_bounds(void)
{
	struct image_warnings w = {0}, all = {0};
	char long_text[300];

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	image_warnf(&w, "a", "chunk \"%s\"\n", "\x01\xff");
	image_warnf(&w, "a", "chunk \"%s\"\n", "\x01\xff");
	for (int i = 0; i < 6; i++)
		image_warnf(&w, "b", "%d %s", i, long_text);
	is_str(w.msg[0], "a: chunk \"??\"", "unprintable bytes and the newline go");
	ok(w.n == IMAGE_WARN_MAX && w.dropped == 1 + 6 - (IMAGE_WARN_MAX - 1),
	   "%d kept, %d counted (repeat and overflow)", w.n, w.dropped);
	ok(strlen(w.msg[1]) == IMAGE_WARN_LEN - 1, "long messages cut to %d bytes",
	   IMAGE_WARN_LEN - 1);
	image_warnings_merge(&all, &w);
	image_warnings_merge(&all, &w);
	ok(all.n == IMAGE_WARN_MAX && all.dropped == 2 * w.dropped + IMAGE_WARN_MAX,
	   "merging keeps the bound and the count (%d, %d)", all.n, all.dropped);
}

/* MNIST test digits through the pipeline: essentially unchanged. */
static void test_mnist(void)
{
	/* Where the other tests look: $DIGITS_MNIST_DIR, the build's data/mnist
	 * (make data), the source tree's; plain or gzipped IDX. */
	const char *env[3] = {"DIGITS_MNIST_DIR", "top_builddir", "top_srcdir"};
	const char *sub[3] = {"", "/data/mnist", "/data/mnist"};
	static const char *const names[] = {"t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"};
	char why[4200] = "";
	unsigned char head[16], *px = NULL;
	gzFile f = NULL;
	size_t count = 0;
	double total = 0, total_png = 0, worst = 0;
	int close = 0, png_n = 0;

	for (int d = 0; d < 3 && !f; d++) {
		const char *dir = getenv(env[d]);

		for (int i = 0; dir && *dir && i < 2 && !f; i++) {
			snprintf(why, sizeof(why), "%s%s/%s", dir, sub[d], names[i]);
			f = gzopen(why, "rb");
		}
	}
	if (!f || gzread(f, head, 16) != 16 || head[2] != 8 || head[3] != 3) {
		skip(4, "no MNIST t10k images (make data, or set DIGITS_MNIST_DIR)");
		if (f)
			gzclose(f);
		return;
	}
	count = (size_t)head[4] << 24 | head[5] << 16 | head[6] << 8 | head[7];
	px = malloc(count * IMAGE_PIXELS);
	if (!px || gzread(f, px, (unsigned)(count * IMAGE_PIXELS)) != (int)(count * IMAGE_PIXELS))
		count = 0;
	gzclose(f);
	for (size_t i = 0; i < count; i++) {
		float lum[IMAGE_PIXELS], out[IMAGE_PIXELS];
		double d;

		for (int k = 0; k < IMAGE_PIXELS; k++)
			lum[k] = px[i * IMAGE_PIXELS + k] / 255.0f;
		if (image_normalise(lum, 28, 28, out, NULL, NULL) < 0) {
			d = 1;
		} else {
			d = mad(out, lum);
		}
		total += d;
		worst = d > worst ? d : worst;
		close += d < 0.01;
		if (i < 300) { /* and through a PNG, the way an upload arrives */
			gdImagePtr im = gdImageCreate(28, 28);
			struct blob b;

			for (int g = 0; g < 256; g++)
				gdImageColorAllocate(im, g, g, g);
			for (int k = 0; k < IMAGE_PIXELS; k++)
				gdImageSetPixel(im, k % 28, k / 28, px[i * IMAGE_PIXELS + k]);
			b = encode(im, E_PNG);
			if (image_to_mnist(b.p, (size_t)b.n, NULL, out, NULL, NULL) == 0) {
				total_png += mad(out, lum);
				png_n++;
			}
			gdFree(b.p), gdImageDestroy(im);
		}
	}
	free(px);
	ok(count >= 1000, "read %zu MNIST test digits from %s", count, why);
	if (!count)
		count = 1;
	diag("MNIST: mean abs pixel difference %.5f, %.2f %% of digits within 0.01, worst %.4f",
	     total / count, 100.0 * close / count, worst);
	ok(total / count < 0.003, "MNIST digits come through: mean abs diff %.5f < 0.003",
	   total / count);
	ok(close >= 0.98 * count, "%d of %zu digits within 0.01 mean abs diff", close, count);
	ok(png_n == 300 && total_png / 300 < 0.003,
	   "first 300 as uploaded PNGs: %d decoded, mean abs diff %.5f", png_n,
	   png_n ? total_png / png_n : 1.0);
}

/* AVIF goes to libavif with the frame bounded by the limits (image_avif.c),
 * not to libgd's reader, which lets libavif decode up to 16384 x 16384
 * whatever the header says and leaks on refusals.  A frame larger than its
 * "ispe" says, and the file fuzzing found (an item extent 134 MB past the
 * end, which libgd's reader allocated and leaked), are refused by libavif
 * before it allocates: FORMAT, in libavif's words, not a decode followed
 * by our size check.  (test_formats checks that AVIF still reads right.) */
static void test_avif_limits(void)
{
	static const char regress[] = "tests/fuzz/regress/image/avif-item-extent-past-end";
	const char *top = getenv("top_srcdir");
	gdImagePtr im = reference('7');
	struct blob b = encode(im, E_AVIF);
	struct image_limits lim;
	struct dg_error err = {0};
	float out[IMAGE_PIXELS];
	unsigned char *ispe = NULL, buf[4096];
	char path[1024];
	FILE *f;
	size_t n;

	gdImageDestroy(im);
	if (!b.p || !image_format_supported(IMAGE_AVIF)) {
		skip(4, "this libgd cannot write or read AVIF");
		if (b.p)
			gdFree(b.p);
		return;
	}
	for (int i = 0; i + 20 <= b.n && !ispe; i++)
		if (!memcmp(b.p + i, "ispe", 4))
			ispe = b.p + i + 8; /* after the box type and version/flags */
	ok(ispe != NULL, "avif: the encoder wrote an ispe box");
	if (ispe) { /* the header now says 100x100; the frame is 280x280 */
		put32(ispe, 100);
		put32(ispe + 4, 100);
	}
	image_limits_default(&lim);
	lim.max_width = lim.max_height = 200;
	is_int(image_to_mnist(b.p, (size_t)b.n, &lim, out, NULL, &err) < 0 ? err.code : DG_OK,
	       DG_ERR_FORMAT, "avif: a 280x280 frame declared 100x100, limit 200x200: refused");
	ok(strstr(err.msg, "libavif refused") != NULL, "  by libavif, before decoding (%s)",
	   err.msg);
	gdFree(b.p);

	snprintf(path, sizeof(path), "%s/%s", top ? top : ".", regress);
	f = fopen(path, "rb");
	n = f ? fread(buf, 1, sizeof(buf), f) : 0;
	if (f)
		fclose(f);
	memset(&err, 0, sizeof(err));
	ok(n > 0 && image_to_mnist(buf, n, NULL, out, NULL, &err) < 0 &&
	       err.code == DG_ERR_FORMAT && strstr(err.msg, "libavif refused"),
	   "avif: %s refused by libavif (%s)", regress, n ? err.msg : "cannot read it");
}

/* Whether the browser's path (a canvas's RGBA, here libpng's simplified
 * API's) and the server's (image_decode_luminance) make the same work
 * picture of png, bit for bit, and the same 28x28 of it. */
static int rgba_as_server(struct blob png, const char *what)
{
	png_image img = {.version = PNG_IMAGE_VERSION};
	struct image_luminance srv, web;
	struct image_info info;
	struct dg_error e1 = {0}, e2 = {0};
	float a[IMAGE_PIXELS], b[IMAGE_PIXELS];
	uint8_t *rgba = NULL;
	int same = 0, r1, r2, inv1 = -1, inv2 = -1;

	if (!png_image_begin_read_from_memory(&img, png.p, (size_t)png.n))
		return diag("%s: libpng cannot read it", what), 0;
	img.format = PNG_FORMAT_RGBA;
	rgba = malloc(PNG_IMAGE_SIZE(img));
	if (!rgba || !png_image_finish_read(&img, NULL, rgba, 0, NULL) ||
	    image_decode_luminance(png.p, (size_t)png.n, NULL, &srv, &info, &e1) < 0) {
		free(rgba);
		png_image_free(&img);
		return diag("%s: cannot decode it", what), 0;
	}
	if (image_luminance_from_rgba(rgba, (int)img.width, (int)img.height, &web, &e2) == 0) {
		size_t n = (size_t)srv.w * srv.h * sizeof(float);

		same = web.w == srv.w && web.h == srv.h && web.any_alpha == srv.any_alpha &&
		       !memcmp(web.lum, srv.lum, n) && !memcmp(web.clear, srv.clear, n);
		r1 = image_luminance_to_mnist(&srv, a, &inv1, &e1);
		r2 = image_luminance_to_mnist(&web, b, &inv2, &e2);
		same = same && r1 == r2 && inv1 == inv2 && (r1 < 0 || !memcmp(a, b, sizeof(a)));
		image_luminance_free(&web);
	}
	image_luminance_free(&srv);
	free(rgba);
	if (!same)
		diag("%s: the browser's path differs from the server's", what);
	return same;
}

/* The browser hands the normalisation what the server does (README
 * "Server or browser"): one code path, image_work.c, checked here on
 * pictures that take each of its branches. */
static void test_rgba_path(void)
{
	int transparent = gdTrueColorAlpha(255, 255, 255, gdAlphaTransparent);
	int half = gdTrueColorAlpha(40, 90, 160, 64);
	struct {
		gdImagePtr im;
		const char *what;
	} c[] = {
	    {reference('7'), "280x280 black on white (k = 1)"},
	    {digit_image('0', 1300, 700, 400, 100, 500, 40, BLACK, WHITE),
	     "1300x700 (k = 3, partial last blocks)"},
	    {digit_image('1', 280, 280, 90, 40, 200, 24, BLACK, transparent),
	     "black on transparent"},
	    {digit_image('7', 600, 520, 90, 40, 400, 30, WHITE, transparent),
	     "white on transparent (the alpha is the ink)"},
	    {digit_image('0', 515, 515, 90, 40, 400, 30, half, WHITE),
	     "half-transparent colour ink (k = 2)"},
	};
	int n = sizeof(c) / sizeof(c[0]), same = 0;

	for (int i = 0; i < n; i++) {
		struct blob b = encode(c[i].im, E_PNG);

		same += rgba_as_server(b, c[i].what);
		free(b.p);
		gdImageDestroy(c[i].im);
	}
	is_int(same, n,
	       "RGBA as the browser has it = the server's decode, bit for bit, %d pictures", n);
}

int main(void)
{
	static float refs[3][IMAGE_PIXELS];

	test_basics();
	test_formats(refs);
	test_variants(refs[0]);
	test_photos(refs);
	test_flavours(refs[0]);
	test_cmyk(refs[0]);
	test_errors();
	test_avif_limits();
	test_preview(refs[0]);
	test_png_as_gd();
	test_rgba_path();
	test_png_warnings(refs[0]);
	test_warn_bounds();
	test_mnist();
	return tap_done();
}
