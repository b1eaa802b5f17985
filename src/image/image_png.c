/*
 * image_png.c - PNG through libpng itself.
 *
 * Not through libgd: a program linked with libgd maps its ~60 libraries
 * (AVIF, HEIF, WebP, TIFF codecs and theirs) before main, and a plain CGI
 * pays that on every request; libpng is one library.  The pixels are the
 * ones libgd 2.3's reader (gd_png.c) made, transform for transform: 16-bit
 * samples truncated to 8 (png_set_strip_16), grey and palette below 8 bits
 * one byte a pixel, grey as a palette of 2^depth evenly spaced shades whose
 * tRNS shade is the transparent index, palette tRNS as 7-bit alpha, grey +
 * alpha and RGB(A) as truecolor with alpha 127 - a / 2, an RGB tRNS colour
 * ignored (libgd keeps it only as a hint its truecolor pixels ignore).  No
 * gamma and no colour management: libgd applies none.  That is also why
 * this uses libpng's classic API and not png_image_*: the simplified API
 * converts 16-bit and gAMA images through linear light, which would change
 * pixels libgd gave.
 *
 * libpng's warnings and its error come to our handlers (its defaults
 * print to stderr) and go into the caller's image_warnings; the error
 * longjmps back here.  The declared size was checked against the limits
 * by image_probe() before this runs; png_set_user_limits() repeats the
 * check inside libpng, which also bounds ancillary chunks.
 */
#include "config.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "image_priv.h"

struct png_src {
	const unsigned char *data;
	size_t len, off;
	struct image_warnings *w;
	unsigned char *rows_mem; /* freed on every exit: after a longjmp too */
	png_bytep *rows;
	char error[IMAGE_WARN_LEN]; /* libpng's fatal message */
};

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
	struct png_src *s = png_get_io_ptr(png);

	if (s->len - s->off < n)
		png_error(png, "truncated data");
	memcpy(out, s->data + s->off, n);
	s->off += n;
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
	image_warnf(((struct png_src *)png_get_error_ptr(png))->w, "libpng warning", "%s", msg);
}

static void png_on_error(png_structp png, png_const_charp msg)
{
	struct png_src *s = png_get_error_ptr(png);

	image_warnf(s->w, "libpng error", "%s", msg);
	snprintf(s->error, sizeof(s->error), "%s", msg);
	png_longjmp(png, 1);
}

/* Grey and palette pictures: libgd's palette, transparent index and
 * alpha.  Called with the header read, before any transform. */
static void png_palette(png_structp png, png_infop info, struct image_pixels *px)
{
	int depth = png_get_bit_depth(png, info);
	png_color_16p trans_grey;
	png_colorp pal;
	png_bytep trans;
	int n = 0, n_trans = 0;

	if (png_get_color_type(png, info) == PNG_COLOR_TYPE_PALETTE) {
		png_get_PLTE(png, info, &pal, &n);
		for (int i = 0; i < n; i++) {
			px->red[i] = pal[i].red;
			px->green[i] = pal[i].green;
			px->blue[i] = pal[i].blue;
		}
		if (png_get_tRNS(png, info, &trans, &n_trans, NULL) & PNG_INFO_tRNS) {
			for (int i = 0; i < n_trans && i < n; i++) {
				px->alpha[i] = (unsigned char)(127 - (trans[i] >> 1));
				if (trans[i] == 0 && px->transparent < 0)
					px->transparent = i;
			}
		}
	} else {
		n = depth < 8 ? 1 << depth : 256;
		for (int i = 0; i < n; i++)
			px->red[i] = px->green[i] = px->blue[i] =
			    (unsigned char)(255 * i / (n - 1));
		if (png_get_tRNS(png, info, NULL, NULL, &trans_grey) & PNG_INFO_tRNS)
			px->transparent = depth == 16 ? trans_grey->gray >> 8 : trans_grey->gray;
	}
	px->colors = n;
}

/* RGBA bytes, read in place into argb, to libgd's truecolor words. */
static void png_to_argb(struct image_pixels *px)
{
	const unsigned char *b = (const unsigned char *)px->argb;
	size_t n = (size_t)px->w * px->h;

	for (size_t i = 0; i < n; i++, b += 4) {
		uint32_t a = 127u - (b[3] >> 1u);

		px->argb[i] = a << 24 | (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
	}
}

/* The header read, the transforms set and the whole picture read into px;
 * libpng errors longjmp out of here to the caller's setjmp. */
static int png_read_all(png_structp png, png_infop info, struct png_src *s, struct image_pixels *px,
                        struct dg_error *err)
{
	int type, depth, truecolor;
	size_t rowbytes;

	png_read_info(png, info);
	px->w = (int)png_get_image_width(png, info);
	px->h = (int)png_get_image_height(png, info);
	type = png_get_color_type(png, info);
	depth = png_get_bit_depth(png, info);
	truecolor = type & PNG_COLOR_MASK_COLOR && type != PNG_COLOR_TYPE_PALETTE;
	truecolor |= type == PNG_COLOR_TYPE_GRAY_ALPHA;
	if (depth == 16)
		png_set_strip_16(png);
	else if (depth < 8)
		png_set_packing(png);
	if (truecolor) {
		if (type == PNG_COLOR_TYPE_GRAY_ALPHA)
			png_set_gray_to_rgb(png);
		if (!(type & PNG_COLOR_MASK_ALPHA))
			png_set_filler(png, 0xff, PNG_FILLER_AFTER); /* opaque */
	} else {
		png_palette(png, info, px);
	}
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	rowbytes = png_get_rowbytes(png, info);
	if (rowbytes != (size_t)px->w * (truecolor ? 4 : 1))
		return dg_fail(err, DG_ERR_FORMAT, "unexpected row of %zu bytes for %d pixels",
		               rowbytes, px->w);
	/* Rows straight into the picture: 4 bytes RGBA per truecolor pixel, the
	 * size of the word they become. */
	s->rows_mem = malloc((size_t)px->h * rowbytes);
	s->rows = malloc((size_t)px->h * sizeof(*s->rows));
	if (!s->rows_mem || !s->rows)
		return dg_fail(err, DG_ERR_NOMEM, "no memory for %dx%d pixels", px->w, px->h);
	for (int y = 0; y < px->h; y++)
		s->rows[y] = s->rows_mem + (size_t)y * rowbytes;
	png_read_image(png, s->rows);
	png_read_end(png, NULL);
	if (truecolor) {
		px->argb = (uint32_t *)(void *)s->rows_mem;
		png_to_argb(px);
	} else {
		px->index = s->rows_mem;
	}
	s->rows_mem = NULL;
	return 0;
}

int image_png_decode(const void *data, size_t len, const struct image_limits *lim,
                     struct image_pixels *px, struct image_warnings *w, struct dg_error *err)
{
	struct png_src s = {.data = data, .len = len, .w = w};
	png_structp png;
	png_infop info;
	int rc;

	memset(px, 0, sizeof(*px));
	px->transparent = -1;
	if (len < 8 || png_sig_cmp(data, 0, 8))
		return dg_fail(err, DG_ERR_FORMAT, "no PNG signature");
	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, png_on_error, png_on_warning);
	info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		return dg_fail(err, DG_ERR_NOMEM, "no memory for libpng");
	}
	png_set_read_fn(png, &s, png_read_mem);
	png_set_user_limits(png, (png_uint_32)lim->max_width, (png_uint_32)lim->max_height);
	if (setjmp(png_jmpbuf(png))) {
		rc = dg_fail(err, DG_ERR_FORMAT, "corrupt or truncated: %s", s.error);
		image_pixels_free(px);
	} else {
		rc = png_read_all(png, info, &s, px, err);
		if (rc < 0)
			image_pixels_free(px);
	}
	png_destroy_read_struct(&png, &info, NULL);
	free(s.rows_mem);
	free(s.rows);
	return rc;
}
