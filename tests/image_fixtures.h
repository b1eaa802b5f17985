/*
 * image_fixtures.h - pictures of digits made at test time with libgd, for
 * test_image and bench_image (no binary fixtures in git).
 *
 * A digit is drawn as thick strokes in a box (x, y, 0.6 size, size): "7"
 * and "1" as lines, "0" as a ring.  encode() writes it in any format libgd
 * writes; make_png() hand-assembles PNGs libgd cannot write (16-bit grey,
 * grey+alpha, a bare IHDR declaring any size) with real CRCs; with_exif()
 * and stored_as() make a JPEG as a camera stores a turned picture.
 */
#ifndef IMAGE_FIXTURES_H
#define IMAGE_FIXTURES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gd.h>
#include <zlib.h>

#include "image/image.h"

struct blob {
	unsigned char *p;
	int n;
};

/* ---- drawing ---------------------------------------------------------- */

static inline gdImagePtr canvas(int w, int h, int paper)
{
	gdImagePtr im = gdImageCreateTrueColor(w, h);

	gdImageAlphaBlending(im, 0); /* transparent paper replaces, not blends */
	gdImageSaveAlpha(im, 1);
	gdImageFilledRectangle(im, 0, 0, w - 1, h - 1, paper);
	return im;
}

/* A digit in the box (x, y, 0.6 size, size) with strokes `thick` wide. */
static inline void draw(gdImagePtr im, char digit, int x, int y, int size, int thick, int ink,
                        int paper)
{
	int X = x + size * 6 / 10, t = thick;

	gdImageSetThickness(im, t);
	switch (digit) {
	case '7':
		gdImageLine(im, x, y + t / 2, X, y + t / 2, ink);
		gdImageLine(im, X, y + t / 2, x + size * 2 / 10, y + size, ink);
		break;
	case '1':
		gdImageLine(im, x + size * 3 / 10, y, x + size * 3 / 10, y + size, ink);
		gdImageLine(im, x + size * 3 / 10, y, x + size / 10, y + size / 5, ink);
		break;
	case '0':
		gdImageFilledEllipse(im, x + size * 3 / 10, y + size / 2, size * 6 / 10, size, ink);
		gdImageFilledEllipse(im, x + size * 3 / 10, y + size / 2, size * 6 / 10 - 2 * t,
		                     size - 2 * t, paper);
		break;
	}
	gdImageSetThickness(im, 1);
}

static inline gdImagePtr digit_image(char d, int w, int h, int x, int y, int size, int thick,
                                     int ink, int paper)
{
	gdImagePtr im = canvas(w, h, paper);

	draw(im, d, x, y, size, thick, ink, paper);
	return im;
}

#define WHITE gdTrueColor(255, 255, 255)
#define BLACK gdTrueColor(0, 0, 0)

/* The reference rendering: black on white, 200 px tall, strokes 24. */
static inline gdImagePtr reference(char d)
{
	return digit_image(d, 280, 280, 90, 40, 200, 24, BLACK, WHITE);
}

/* ---- encoding --------------------------------------------------------- */

enum enc { E_PNG, E_JPEG, E_GIF, E_BMP, E_WEBP, E_WEBP_LOSSLESS, E_TIFF, E_HEIF, E_AVIF, E_N };
static const char *const enc_name[E_N] = {
    "png", "jpeg", "gif", "bmp", "webp (lossy)", "webp (lossless)", "tiff", "heif", "avif"};
static const enum image_format enc_format[E_N] = {IMAGE_PNG,  IMAGE_JPEG, IMAGE_GIF,
                                                  IMAGE_BMP,  IMAGE_WEBP, IMAGE_WEBP,
                                                  IMAGE_TIFF, IMAGE_HEIF, IMAGE_AVIF};

static inline struct blob encode(gdImagePtr im, enum enc e)
{
	struct blob b = {NULL, 0};

	switch (e) {
	case E_PNG:
		b.p = gdImagePngPtr(im, &b.n);
		break;
	case E_JPEG:
		b.p = gdImageJpegPtr(im, &b.n, 90);
		break;
	case E_GIF:
		b.p = gdImageGifPtr(im, &b.n);
		break;
	case E_BMP:
		b.p = gdImageBmpPtr(im, &b.n, 0);
		break;
	case E_WEBP:
		b.p = gdImageWebpPtrEx(im, &b.n, 90);
		break;
	case E_WEBP_LOSSLESS:
		b.p = gdImageWebpPtrEx(im, &b.n, gdWebpLossless);
		break;
	case E_TIFF:
		b.p = gdImageTiffPtr(im, &b.n);
		break;
	case E_HEIF:
		b.p = gdImageHeifPtrEx(im, &b.n, 90, GD_HEIF_CODEC_HEVC, GD_HEIF_CHROMA_444);
		break;
	case E_AVIF:
		b.p = gdImageAvifPtrEx(im, &b.n, 90, 10);
		break;
	default:
		break;
	}
	if (b.p && b.n <= 0) {
		gdFree(b.p);
		b.p = NULL;
	}
	return b;
}

/* ---- hand-made PNGs --------------------------------------------------- */

static inline unsigned char *put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
	return p + 4;
}

static inline unsigned char *chunk(unsigned char *p, const char *type, const unsigned char *data,
                                   uint32_t n)
{
	unsigned char *start = p + 4;

	p = put32(p, n);
	memcpy(p, type, 4);
	if (n)
		memcpy(p + 4, data, n);
	p += 4 + n;
	return put32(p, (uint32_t)crc32(0, start, 4 + n));
}

/* A PNG of raw rows (filter byte 0 prepended here); NULL rows: IHDR only. */
static inline struct blob make_png(uint32_t w, uint32_t h, int depth, int ctype,
                                   const unsigned char *rows, size_t rowbytes)
{
	struct blob b;
	unsigned char ihdr[13], *raw = NULL, *z = NULL, *p;
	uLongf zn = 0;

	put32(ihdr, w);
	put32(ihdr + 4, h);
	ihdr[8] = depth, ihdr[9] = ctype, ihdr[10] = ihdr[11] = ihdr[12] = 0;
	if (rows) {
		raw = malloc(h * (rowbytes + 1));
		for (uint32_t y = 0; y < h; y++) {
			raw[y * (rowbytes + 1)] = 0;
			memcpy(raw + y * (rowbytes + 1) + 1, rows + y * rowbytes, rowbytes);
		}
		zn = compressBound(h * (rowbytes + 1));
		z = malloc(zn);
		compress(z, &zn, raw, h * (rowbytes + 1));
	}
	b.p = malloc(8 + 25 + (rows ? 12 + zn : 0) + 12);
	memcpy(b.p, "\x89PNG\r\n\x1a\n", 8);
	p = chunk(b.p + 8, "IHDR", ihdr, 13);
	if (rows)
		p = chunk(p, "IDAT", z, (uint32_t)zn);
	p = chunk(p, "IEND", NULL, 0);
	b.n = (int)(p - b.p);
	free(raw);
	free(z);
	return b;
}

/* The luminance of a truecolor gd picture as hand-made PNG rows. */
static inline struct blob png_gray16(gdImagePtr im)
{
	int w = gdImageSX(im), h = gdImageSY(im);
	unsigned char *rows = malloc((size_t)w * h * 2);
	struct blob b;

	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			int c = gdImageGetTrueColorPixel(im, x, y);
			unsigned v = gdTrueColorGetGreen(c) * 257u;

			rows[(y * w + x) * 2] = v >> 8;
			rows[(y * w + x) * 2 + 1] = v & 0xff;
		}
	}
	b = make_png(w, h, 16, 0, rows, (size_t)w * 2);
	free(rows);
	return b;
}

/* Grey + alpha: the ink is opaque black, the paper fully transparent. */
static inline struct blob png_gray_alpha(gdImagePtr im)
{
	int w = gdImageSX(im), h = gdImageSY(im);
	unsigned char *rows = malloc((size_t)w * h * 2);
	struct blob b;

	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			int ink = gdTrueColorGetGreen(gdImageGetTrueColorPixel(im, x, y)) < 128;

			rows[(y * w + x) * 2] = 0;
			rows[(y * w + x) * 2 + 1] = ink ? 255 : 0;
		}
	}
	b = make_png(w, h, 8, 4, rows, (size_t)w * 2);
	free(rows);
	return b;
}

/* A copy of a JPEG with an APP1 Exif segment whose IFD0 holds Orientation. */
static inline struct blob with_exif(struct blob j, int orientation)
{
	static const unsigned char app1[] = {
	    0xff, 0xe1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
	    0,    1,    0x01, 0x12, 0,   3,   0,   0,   0, 1, 0,   0,   0, 0,  0, 0, 0, 0};
	struct blob b = {malloc((size_t)j.n + sizeof(app1)), j.n + (int)sizeof(app1)};

	memcpy(b.p, j.p, 2);
	memcpy(b.p + 2, app1, sizeof(app1));
	b.p[2 + 29] = (unsigned char)orientation; /* low byte of the SHORT value */
	memcpy(b.p + 2 + sizeof(app1), j.p + 2, (size_t)j.n - 2);
	return b;
}

/* What a camera stores for orientation o: the upright picture transformed
 * by the inverse of what the reader must apply. */
static inline gdImagePtr stored_as(gdImagePtr up, int o)
{
	int w = gdImageSX(up), h = gdImageSY(up), swap = o >= 5;
	gdImagePtr im = gdImageCreateTrueColor(swap ? h : w, swap ? w : h);

	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			int c = gdImageGetTrueColorPixel(up, x, y), sx = x, sy = y;

			switch (o) { /* upright (x, y) is stored at (sx, sy) */
			case 2:
				sx = w - 1 - x;
				break;
			case 3:
				sx = w - 1 - x, sy = h - 1 - y;
				break;
			case 6: /* reader turns clockwise, so it is stored counter-clockwise */
				sx = y, sy = w - 1 - x;
				break;
			case 8:
				sx = h - 1 - y, sy = x;
				break;
			}
			gdImageSetPixel(im, sx, sy, c);
		}
	}
	return im;
}

#endif
