/*
 * image_decode.c - from uploaded bytes to a small luminance picture.
 *
 * The bytes are untrusted.  The order is what keeps that safe:
 *   1. the format comes from the magic bytes, never from a name;
 *   2. image_probe() (image_probe.c) reads the declared width and height
 *      from the header with bounds-checked reads of our own, and
 *      image_to_mnist() refuses anything above the limits before a decoder
 *      sees a byte, so a decompression bomb (a tiny PNG declaring
 *      100000 x 100000) is never allocated;
 *   3. PNG goes to libpng (image_png.c) and JPEG to libjpeg (here, scaled
 *      down in the DCT to the size the normalisation works at), both
 *      linked; AVIF to libavif with the frame size bounded (image_avif.c);
 *      the other formats to libgd, loaded on first use (gd_load.c).  Every library's messages go to
 * our handlers and into image_info.warnings (library code never prints);
 *   4. the decoded pixels are composited over white, turned into luminance,
 *      rotated by the JPEG EXIF orientation and shrunk by whole-block area
 *      averaging to at most WORK_SIDE pixels a side in one pass, so the
 *      normalisation never walks millions of pixels twice.
 * Nothing here keeps state between calls (gd_load.c keeps the libgd
 * handle).
 */
#include "config.h"

#include <limits.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "image_priv.h"
#include "image_work.h"

int image_format_supported(enum image_format f)
{
	if (f == IMAGE_PNG || f == IMAGE_JPEG)
		return 1;
	return image_gd_supports(f);
}

void image_pixels_free(struct image_pixels *px)
{
	free(px->argb);
	free(px->index);
	px->argb = NULL;
	px->index = NULL;
}

void image_warn(struct image_warnings *w, const char *prefix, const char *fmt, va_list ap)
{
	char text[IMAGE_WARN_LEN];
	int n;

	if (!w)
		return;
	n = snprintf(text, sizeof(text), "%s: ", prefix);
	if (n < 0 || (size_t)n >= sizeof(text))
		n = 0;
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	/* A message may quote the file's bytes (a chunk name, a tag): printable
	 * ASCII only, and no trailing newline (libgd ends its messages with one). */
	for (char *c = text; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = *c == '\n' ? ' ' : '?';
	for (n = (int)strlen(text); n > 0 && text[n - 1] == ' '; n--)
		text[n - 1] = '\0';
	for (int i = 0; i < w->n; i++) {
		if (strcmp(w->msg[i], text) == 0) {
			w->dropped++;
			return;
		}
	}
	if (w->n == IMAGE_WARN_MAX) {
		w->dropped++;
		return;
	}
	memcpy(w->msg[w->n++], text, sizeof(text));
}

void image_warnf(struct image_warnings *w, const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	image_warn(w, prefix, fmt, ap);
	va_end(ap);
}

void image_warnings_merge(struct image_warnings *into, const struct image_warnings *w)
{
	for (int i = 0; i < w->n; i++) {
		/* Already cleaned: copy as it is, through the same dedup and bound. */
		int before = into->n;

		for (int j = 0; j < into->n; j++)
			if (strcmp(into->msg[j], w->msg[i]) == 0)
				before = -1;
		if (before < 0 || into->n == IMAGE_WARN_MAX) {
			into->dropped++;
			continue;
		}
		memcpy(into->msg[into->n++], w->msg[i], IMAGE_WARN_LEN);
	}
	into->dropped += w->dropped;
}

/*
 * A JPEG through libjpeg itself, at the smallest of 1/1, 1/2, 1/4, 1/8 of
 * its size that keeps the longer side at least WORK_SIDE: libjpeg scales in
 * the DCT, so a 12 MP photo is never decoded pixel by pixel only to be
 * averaged down.  Colours as libgd gives them (CMYK and YCCK as libgd
 * converts them, inverted when an Adobe marker says so), so the picture is
 * the one libgd would give, smaller.  libjpeg's errors jump back here;
 * its messages (the error's and warnings) go into w, never to stderr.
 */
struct jpeg_quiet {
	struct jpeg_error_mgr mgr;
	jmp_buf back;
	struct image_warnings *w;
	char error[JMSG_LENGTH_MAX];
};

static void jpeg_say(j_common_ptr cinfo, const char *kind, char *text)
{
	(*cinfo->err->format_message)(cinfo, text);
	image_warnf(((struct jpeg_quiet *)cinfo->err)->w, kind, "%s", text);
}

static void jpeg_fail(j_common_ptr cinfo)
{
	struct jpeg_quiet *q = (struct jpeg_quiet *)cinfo->err;

	jpeg_say(cinfo, "libjpeg error", q->error);
	longjmp(q->back, 1);
}

static void jpeg_message(j_common_ptr cinfo)
{
	char text[JMSG_LENGTH_MAX];

	jpeg_say(cinfo, "libjpeg warning", text);
}

static int jpeg_decode_scaled(const void *data, size_t len, struct image_pixels *px,
                              struct image_warnings *w, struct dg_error *err)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_quiet q = {.w = w};
	JSAMPLE *volatile row = NULL;
	int cmyk, inverted, longer;

	memset(px, 0, sizeof(*px));
	cinfo.err = jpeg_std_error(&q.mgr);
	q.mgr.error_exit = jpeg_fail;
	q.mgr.output_message = jpeg_message;
	if (setjmp(q.back)) {
		jpeg_destroy_decompress(&cinfo);
		free(row);
		image_pixels_free(px);
		return dg_fail(err, q.error[0] ? DG_ERR_FORMAT : DG_ERR_NOMEM,
		               "corrupt or truncated: %s", q.error[0] ? q.error : "no memory");
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)len);
	jpeg_save_markers(&cinfo, JPEG_APP0 + 14, 0xffff); /* Adobe: CMYK inverted */
	jpeg_read_header(&cinfo, TRUE);
	cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
	inverted = cinfo.saw_Adobe_marker;
	cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
	longer = cinfo.image_width > cinfo.image_height ? (int)cinfo.image_width
	                                                : (int)cinfo.image_height;
	cinfo.scale_num = 1;
	cinfo.scale_denom = 1;
	while (cinfo.scale_denom < 8 && longer / (int)(cinfo.scale_denom * 2) >= WORK_SIDE)
		cinfo.scale_denom *= 2;
	jpeg_start_decompress(&cinfo);
	px->w = (int)cinfo.output_width;
	px->h = (int)cinfo.output_height;
	px->argb = malloc((size_t)px->w * px->h * sizeof(*px->argb));
	row = malloc((size_t)cinfo.output_width * cinfo.output_components);
	if (!px->argb || !row)
		longjmp(q.back, 1); /* q.error empty: NOMEM */
	while (cinfo.output_scanline < cinfo.output_height) {
		uint32_t *out = px->argb + (size_t)cinfo.output_scanline * px->w;
		JSAMPROW rows[1] = {row};

		jpeg_read_scanlines(&cinfo, rows, 1);
		for (unsigned x = 0; x < cinfo.output_width; x++) {
			const JSAMPLE *p = row + (size_t)x * cinfo.output_components;
			uint32_t r = p[0], g = p[1], b = p[2];

			if (cmyk) {
				uint32_t c = p[0], m = p[1], y = p[2], k = p[3];

				if (inverted) /* Adobe writes CMYK inverted */
					c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
				r = (255 - c) * (255 - k) / 255;
				g = (255 - m) * (255 - k) / 255;
				b = (255 - y) * (255 - k) / 255;
			}
			out[x] = r << 16 | g << 8 | b; /* opaque: alpha 0 */
		}
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	free(row);
	return 0;
}

/*
 * The decoded picture into the work picture (image_work.h), EXIF-oriented.
 * Orientation is an integer affine map of source coordinates
 * (X = ax x + bx y + cx, Y = ay x + by y + cy), so rotating costs nothing
 * beyond the pass we make anyway.
 * Returns whether any pixel was not fully opaque.
 */
static int work_fill(const struct image_pixels *px, int orientation, struct image_work *wk)
{
	const int sw = px->w, sh = px->h;
	int ax = 1, bx = 0, cx = 0, ay = 0, by = 1, cy = 0;
	float pal_lum[256], pal_clear[256];

	switch (orientation) {
	case 2: /* mirrored left-right */
		ax = -1, cx = sw - 1;
		break;
	case 3: /* rotated 180 */
		ax = -1, cx = sw - 1, by = -1, cy = sh - 1;
		break;
	case 4: /* mirrored top-bottom */
		by = -1, cy = sh - 1;
		break;
	case 5: /* transposed */
		ax = 0, bx = 1, ay = 1, by = 0;
		break;
	case 6: /* stored rotated 90 counter-clockwise: turn it clockwise */
		ax = 0, bx = -1, cx = sh - 1, ay = 1, by = 0;
		break;
	case 7: /* transverse */
		ax = 0, bx = -1, cx = sh - 1, ay = -1, by = 0, cy = sw - 1;
		break;
	case 8: /* stored rotated 90 clockwise: turn it back */
		ax = 0, bx = 1, ay = -1, by = 0, cy = sw - 1;
		break;
	}
	if (!px->argb) {
		for (int i = 0; i < 256; i++) {
			float t = i < px->colors && i != px->transparent
			              ? (float)px->alpha[i] / ALPHA_MAX
			              : 1.0f;
			float y =
			    (LUM_R * px->red[i] + LUM_G * px->green[i] + LUM_B * px->blue[i]) *
			    LUM_SCALE;

			pal_clear[i] = t;
			pal_lum[i] = (1.0f - t) * y + t;
		}
	}
	for (int y = 0; y < sh; y++) {
		const uint32_t *trow = px->argb ? px->argb + (size_t)y * sw : NULL;
		const unsigned char *prow = trow ? NULL : px->index + (size_t)y * sw;
		const int X0 = bx * y + cx, Y0 = by * y + cy;
		struct image_work_run run = {.bin = (size_t)wk->div[Y0] * wk->w + wk->div[X0]};

		for (int x = 0; x < sw; x++) {
			image_work_run_at(
			    &run, wk, (size_t)wk->div[Y0 + ay * x] * wk->w + wk->div[X0 + ax * x]);
			if (trow) {
				uint32_t c = trow[x];

				image_work_run_pixel(&run,
				                     LUM_R * (c >> 16 & 0xff) +
				                         LUM_G * (c >> 8 & 0xff) +
				                         LUM_B * (c & 0xff),
				                     c >> 24 & 0x7f);
			} else {
				run.lum += pal_lum[prow[x]];
				run.clear += pal_clear[prow[x]];
			}
		}
		image_work_run_flush(&run, wk);
	}
	return image_work_finish(wk);
}

/* The picture, by the decoder for its format, into px. */
static int decode(const struct image_header *hdr, const void *data, size_t len,
                  const struct image_limits *lim, struct image_pixels *px, struct image_warnings *w,
                  struct dg_error *err)
{
	switch (hdr->format) {
	case IMAGE_PNG:
		return image_png_decode(data, len, lim, px, w, err);
	case IMAGE_JPEG:
		return jpeg_decode_scaled(data, len, px, w, err);
	case IMAGE_AVIF:
		return image_avif_decode(data, len, lim, px, w, err);
	default:
		return image_gd_decode(hdr->format, data, len, px, w, err);
	}
}

int image_decode_luminance(const void *data, size_t len, const struct image_limits *lim,
                           struct image_luminance *out, struct image_info *info,
                           struct dg_error *err)
{
	struct image_limits dflt;
	struct image_header hdr;
	struct image_pixels px;
	struct image_work wk = {0};
	struct dg_error e = {0};
	int W, H;
	const char *fmt;

	memset(out, 0, sizeof(*out));
	if (!lim) {
		image_limits_default(&dflt);
		lim = &dflt;
	}
	memset(info, 0, sizeof(*info));
	if (!data || len == 0)
		return dg_fail(err, DG_ERR_EMPTY, "no image data (0 bytes)");
	if (len > lim->max_bytes || len > INT_MAX)
		return dg_fail(err, DG_ERR_TOO_LARGE, "image of %zu bytes, the limit is %zu", len,
		               lim->max_bytes);
	if (image_probe(data, len, &hdr, err) < 0)
		return -1;
	fmt = image_format_name(hdr.format);
	info->format = hdr.format;
	if (hdr.width > (unsigned long)lim->max_width ||
	    hdr.height > (unsigned long)lim->max_height)
		return dg_fail(err, DG_ERR_TOO_LARGE,
		               "%s declares %lux%lu pixels, the limit is %dx%d", fmt, hdr.width,
		               hdr.height, lim->max_width, lim->max_height);
	if (!image_format_supported(hdr.format))
		return dg_fail(err, DG_ERR_UNSUPPORTED,
		               "%s: no decoder for it here (libgd missing or built without it)",
		               fmt);
	if (decode(&hdr, data, len, lim, &px, &info->warnings, &e) < 0)
		return dg_fail(err, e.code, "%s (%lux%lu declared): %s", fmt, hdr.width, hdr.height,
		               e.msg);
	/* The decoder followed the header we checked; this guards a disagreement. */
	if (px.w > lim->max_width || px.h > lim->max_height) {
		image_pixels_free(&px);
		return dg_fail(err, DG_ERR_TOO_LARGE, "%s: decoded to %dx%d pixels", fmt, px.w,
		               px.h);
	}
	W = hdr.orientation >= 5 ? px.h : px.w;
	H = hdr.orientation >= 5 ? px.w : px.h;
	if (image_work_alloc(&wk, W, H) < 0) {
		image_pixels_free(&px);
		return dg_fail(err, DG_ERR_NOMEM, "%s: no memory for a %dx%d picture", fmt, W, H);
	}
	out->any_alpha = work_fill(&px, hdr.orientation, &wk);
	image_pixels_free(&px);
	if (hdr.format == IMAGE_JPEG) { /* decoded smaller: report its own size */
		W = (int)(hdr.orientation >= 5 ? hdr.height : hdr.width);
		H = (int)(hdr.orientation >= 5 ? hdr.width : hdr.height);
	}
	info->width = W;
	info->height = H;
	out->w = wk.w;
	out->h = wk.h;
	out->lum = wk.lum;
	out->clear = wk.clear;
	return 0;
}

int image_to_mnist(const void *data, size_t len, const struct image_limits *lim,
                   float out[IMAGE_PIXELS], struct image_info *info, struct dg_error *err)
{
	struct image_luminance wk;
	struct dg_error e = {0};
	struct image_info scratch;
	int inverted = 0, rc;
	const char *fmt;

	if (!info)
		info = &scratch;
	if (image_decode_luminance(data, len, lim, &wk, info, err) < 0)
		return -1;
	fmt = image_format_name(info->format);
	rc = image_luminance_to_mnist(&wk, out, &inverted, &e);
	image_luminance_free(&wk);
	if (rc < 0)
		return dg_fail(err, e.code, "%s %dx%d: %s", fmt, info->width, info->height, e.msg);
	info->inverted = inverted;
	return 0;
}

int image_preview_png(const float pixels[IMAGE_PIXELS], unsigned char **png, size_t *len,
                      struct dg_error *err)
{
	png_image img = {.version = PNG_IMAGE_VERSION,
	                 .width = IMAGE_SIDE,
	                 .height = IMAGE_SIDE,
	                 .format = PNG_FORMAT_GRAY};
	unsigned char grey[IMAGE_PIXELS];
	png_alloc_size_t size = 0;

	*png = NULL;
	*len = 0;
	for (int i = 0; i < IMAGE_PIXELS; i++) {
		float v = pixels[i] < 0.0f ? 0.0f : pixels[i] > 1.0f ? 1.0f : pixels[i];

		grey[i] = (unsigned char)(v * 255.0f + 0.5f);
	}
	/* The simplified API suits writing: 8-bit grey in, a PNG out, no setjmp.
	 * First call sizes it, second writes. */
	if (!png_image_write_to_memory(&img, NULL, &size, 0, grey, 0, NULL))
		return dg_fail(err, DG_ERR_NOMEM, "preview: PNG encoding failed: %s", img.message);
	*png = malloc(size);
	if (!*png)
		return dg_fail(err, DG_ERR_NOMEM, "preview: no memory for %zu bytes", (size_t)size);
	if (!png_image_write_to_memory(&img, *png, &size, 0, grey, 0, NULL)) {
		free(*png);
		*png = NULL;
		return dg_fail(err, DG_ERR_NOMEM, "preview: PNG encoding failed: %s", img.message);
	}
	*len = size;
	return 0;
}

/* The heat map (image_heatmap.c) as a PNG, written by libpng from memory
 * to memory; nothing touches the disk. */
int image_heatmap_png(const float seen[IMAGE_PIXELS], const float map[IMAGE_PIXELS], int scale,
                      unsigned char **png, size_t *size, struct dg_error *err)
{
	const int side = IMAGE_SIDE * scale;
	png_image img;
	png_alloc_size_t n = 0;
	unsigned char *rgb, *out = NULL;

	*png = NULL, *size = 0;
	if (scale < 1 || scale > IMAGE_HEATMAP_MAX_SCALE)
		return dg_fail(err, DG_ERR_INVALID, "heat map scale %d, want 1..%d", scale,
		               IMAGE_HEATMAP_MAX_SCALE);
	rgb = malloc((size_t)side * side * 3);
	if (!rgb)
		return dg_fail(err, DG_ERR_NOMEM, "no memory for a %dx%d heat map", side, side);
	image_heatmap_rgb(seen, map, scale, rgb);
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = (png_uint_32)side;
	img.height = (png_uint_32)side;
	img.format = PNG_FORMAT_RGB;
	/* First call sizes the PNG, second writes it. */
	if (!png_image_write_to_memory(&img, NULL, &n, 0, rgb, 0, NULL) || !(out = malloc(n)) ||
	    !png_image_write_to_memory(&img, out, &n, 0, rgb, 0, NULL)) {
		dg_fail(err, DG_ERR_NOMEM, "cannot encode a %dx%d heat map: %s", side, side,
		        img.message[0] ? img.message : "out of memory");
		png_image_free(&img);
		free(out);
		free(rgb);
		return -1;
	}
	free(rgb);
	*png = out;
	*size = n;
	return 0;
}
