/*
 * worst_files.h - for each format, the file that costs image_to_mnist the
 * most time and memory while passing every limit (8 MiB, 4096 x 4096 by
 * default): as many pixels as allowed, in the most expensive layout the
 * format has, compressed small.  For tests/bench_worst (which measures
 * them) and tests/mkworst (which writes one for tests/test_limits.sh).
 *
 * Every picture is a dark "1" on white paper, so the normalisation finds a
 * digit and runs to the end; JPEG alone is also covered in grain, because
 * its decoding cost grows with the entropy of the picture and the byte
 * limit, not the pixel limit, is what stops it.
 */
#ifndef TESTS_WORST_FILES_H
#define TESTS_WORST_FILES_H

#include <stdlib.h>
#include <string.h>

#include <gd.h>
#include <zlib.h>

#include "image_fixtures.h"

struct worst_kind {
	const char *name, *what;
};

static const struct worst_kind worst_kinds[] = {
    {"png8", "PNG 8-bit RGBA"},
    {"png16", "PNG 16-bit RGBA"},
    {"png16-interlaced", "PNG 16-bit RGBA, Adam7"},
    {"jpeg", "JPEG baseline, grain, best quality <= limit"},
    {"jpeg-progressive", "JPEG progressive, grain, same"},
    {"gif", "GIF 8-bit palette"},
    {"bmp-rle8", "BMP 8-bit palette, RLE8"},
    {"webp-lossy", "WebP lossy"},
    {"webp-lossless", "WebP lossless"},
    {"tiff", "TIFF as libgd writes it"},
    {"heif", "HEIF (HEVC 4:4:4)"},
    {"avif", "AVIF"},
};

#define WORST_N (sizeof(worst_kinds) / sizeof(worst_kinds[0]))

/* The "1": a bar a tenth of the side wide, 70 % of it tall. */
static inline int worst_ink(int x, int y, int side)
{
	return x >= side * 45 / 100 && x < side * 55 / 100 && y >= side * 15 / 100 &&
	       y < side * 85 / 100;
}

/* Compressed bytes appended to a growing buffer. */
struct worst_z {
	z_stream z;
	unsigned char *out;
	size_t n, cap;
	int fail;
};

static inline void worst_deflate(struct worst_z *w, const unsigned char *in, size_t len, int flush)
{
	w->z.next_in = (unsigned char *)in;
	w->z.avail_in = (uInt)len;
	do {
		if (w->cap - w->n < 65536) {
			unsigned char *p = realloc(w->out, w->cap * 2 + 65536);

			if (!p) {
				w->fail = 1;
				return;
			}
			w->out = p;
			w->cap = w->cap * 2 + 65536;
		}
		w->z.next_out = w->out + w->n;
		w->z.avail_out = (uInt)(w->cap - w->n);
		deflate(&w->z, flush);
		w->n = w->cap - w->z.avail_out;
	} while (w->z.avail_in || (flush == Z_FINISH && w->z.avail_out == 0));
}

/* A side x side 16-bit RGBA PNG (8 bytes a pixel, the most libpng and libgd
 * convert per pixel), Adam7-interlaced or not, compressed row by row so
 * the 128 MB of raw rows never exist at once. */
static inline struct blob worst_png16(int side, int interlaced)
{
	static const int adam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
	                                {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
	int passes = interlaced ? 7 : 1;
	unsigned char ihdr[13], *row = malloc((size_t)side * 8 + 1), *p;
	struct worst_z w = {0};
	struct blob b = {NULL, 0};

	if (!row || deflateInit(&w.z, 9) != Z_OK) {
		free(row);
		return b;
	}
	for (int k = 0; k < passes; k++) {
		int x0 = interlaced ? adam7[k][0] : 0, y0 = interlaced ? adam7[k][1] : 0;
		int dx = interlaced ? adam7[k][2] : 1, dy = interlaced ? adam7[k][3] : 1;
		int pw = side > x0 ? (side - x0 + dx - 1) / dx : 0;

		for (int y = y0; pw && y < side; y += dy) {
			row[0] = 0; /* filter: none */
			for (int i = 0; i < pw; i++) {
				unsigned char v = worst_ink(x0 + i * dx, y, side) ? 0x10 : 0xf0;

				memset(row + 1 + (size_t)i * 8, v, 6);
				row[1 + (size_t)i * 8 + 6] = row[1 + (size_t)i * 8 + 7] = 0xff;
			}
			worst_deflate(&w, row, (size_t)pw * 8 + 1, Z_NO_FLUSH);
		}
	}
	worst_deflate(&w, NULL, 0, Z_FINISH);
	deflateEnd(&w.z);
	free(row);
	put32(ihdr, (uint32_t)side);
	put32(ihdr + 4, (uint32_t)side);
	ihdr[8] = 16, ihdr[9] = 6, ihdr[10] = ihdr[11] = 0, ihdr[12] = (unsigned char)interlaced;
	b.p = w.fail ? NULL : malloc(8 + 25 + 12 + w.n + 12);
	if (b.p) {
		memcpy(b.p, "\x89PNG\r\n\x1a\n", 8);
		p = chunk(b.p + 8, "IHDR", ihdr, 13);
		p = chunk(p, "IDAT", w.out, (uint32_t)w.n);
		p = chunk(p, "IEND", NULL, 0);
		b.n = (int)(p - b.p);
	}
	free(w.out);
	return b;
}

static inline gdImagePtr worst_picture(int side, int palette, int grain)
{
	gdImagePtr im = palette ? gdImageCreate(side, side) : gdImageCreateTrueColor(side, side);
	int paper, ink;
	unsigned seed = 2026;

	if (!im)
		return NULL;
	paper = gdImageColorAllocate(im, 240, 240, 240);
	ink = gdImageColorAllocate(im, 16, 16, 16);
	gdImageFilledRectangle(im, 0, 0, side - 1, side - 1, paper);
	gdImageFilledRectangle(im, side * 45 / 100, side * 15 / 100, side * 55 / 100 - 1,
	                       side * 85 / 100 - 1, ink);
	for (int y = 0; grain && y < side; y++) {
		for (int x = 0; x < side; x++) {
			int c = worst_ink(x, y, side) ? 16 : 240, g;

			seed = seed * 1103515245u + 12345u;
			g = (int)((seed >> 16) % 81) - 40;
			c = c + g < 0 ? 0 : c + g > 255 ? 255 : c + g;
			gdImageSetPixel(im, x, y, gdTrueColor(c, c, c));
		}
	}
	return im;
}

/* JPEG with grain at the best quality (95, 85, ... 15) that fits max_bytes. */
static inline struct blob worst_jpeg(int side, int progressive, size_t max_bytes)
{
	gdImagePtr im = worst_picture(side, 0, 1);
	struct blob b = {NULL, 0};

	if (!im)
		return b;
	gdImageInterlace(im, progressive);
	for (int q = 95; q >= 15; q -= 10) {
		b.p = gdImageJpegPtr(im, &b.n, q);
		if (!b.p || (size_t)b.n <= max_bytes)
			break;
		gdFree(b.p);
		b.p = NULL;
	}
	gdImageDestroy(im);
	return b;
}

/* The worst file of a kind at side x side, NULL when this libgd cannot
 * write the format (or the file would not fit max_bytes).  Free with free(). */
static inline struct blob worst_file(const char *kind, int side, size_t max_bytes)
{
	struct blob b = {NULL, 0}, g = {NULL, 0};
	gdImagePtr im = NULL;

	if (strcmp(kind, "png16") == 0 || strcmp(kind, "png16-interlaced") == 0) {
		b = worst_png16(side, strcmp(kind, "png16") != 0);
	} else if (strcmp(kind, "jpeg") == 0 || strcmp(kind, "jpeg-progressive") == 0) {
		g = worst_jpeg(side, strcmp(kind, "jpeg") != 0, max_bytes);
	} else if (strcmp(kind, "bmp-rle8") == 0) {
		if ((im = worst_picture(side, 1, 0)))
			g.p = gdImageBmpPtr(im, &g.n, 1);
	} else if ((im = worst_picture(side, strcmp(kind, "gif") == 0, 0))) {
		static const struct {
			const char *kind;
			enum enc e;
		} encs[] = {{"png8", E_PNG},        {"gif", E_GIF},
		            {"webp-lossy", E_WEBP}, {"webp-lossless", E_WEBP_LOSSLESS},
		            {"tiff", E_TIFF},       {"heif", E_HEIF},
		            {"avif", E_AVIF}};

		if (strcmp(kind, "png8") == 0)
			gdImageSaveAlpha(im, 1); /* RGBA: 4 bytes a pixel */
		for (size_t i = 0; i < sizeof(encs) / sizeof(encs[0]); i++)
			if (strcmp(kind, encs[i].kind) == 0)
				g = encode(im, encs[i].e);
	}
	if (im)
		gdImageDestroy(im);
	if (g.p) { /* gdFree'd memory, handed on as malloc'ed */
		b.p = g.n > 0 ? malloc((size_t)g.n) : NULL;
		if (b.p) {
			memcpy(b.p, g.p, (size_t)g.n);
			b.n = g.n;
		}
		gdFree(g.p);
	}
	if (b.p && (size_t)b.n > max_bytes) {
		free(b.p);
		b.p = NULL;
		b.n = 0;
	}
	return b;
}

#endif
