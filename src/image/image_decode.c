/*
 * image_decode.c - from uploaded bytes to a small luminance picture.
 *
 * The bytes are untrusted.  The order is what keeps that safe:
 *   1. the format comes from the magic bytes, never from a name;
 *   2. image_probe() (image_probe.c) reads the declared width and height
 *      from the header with bounds-checked reads of our own, and
 *      image_to_mnist() refuses anything above the limits before libgd
 *      sees a byte, so a
 *      decompression bomb (a tiny PNG declaring 100000 x 100000) is never
 *      allocated;
 *   3. libgd decodes from memory with its error printer silenced (library
 *      code never prints); JPEG goes to libjpeg directly, scaled down in
 *      the DCT to the size the normalisation works at;
 *   4. the decoded pixels are composited over white, turned into luminance,
 *      rotated by the JPEG EXIF orientation and shrunk by whole-block area
 *      averaging to at most WORK_SIDE pixels a side in one pass, so the
 *      normalisation never walks millions of pixels twice.
 * Nothing here keeps state between calls except the libgd error handler,
 * installed once with pthread_once.
 */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gd.h>
#ifdef HAVE_LIBJPEG
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */

#include <jpeglib.h>
#endif

#include "image.h"

/* Longest side of the picture handed to the normalisation.  A digit that
 * fills a tenth of a 4096-pixel photo still spans ~50 pixels here, 2.5
 * times the 20 it ends at; beyond that, resolution only costs time (the
 * normalisation's buffers are 16 bytes a pixel, touched on every call). */
#define WORK_SIDE 512

int image_format_supported(enum image_format f)
{
	/* libgd stubs out codecs it was built without, so ask it at run time. */
	switch (f) {
	case IMAGE_PNG:
		return gdSupportsFileType("x.png", 0);
	case IMAGE_JPEG:
		return gdSupportsFileType("x.jpg", 0);
	case IMAGE_GIF:
		return gdSupportsFileType("x.gif", 0);
	case IMAGE_BMP:
		return gdSupportsFileType("x.bmp", 0);
#ifdef HAVE_GDIMAGECREATEFROMWEBPPTR
	case IMAGE_WEBP:
		return gdSupportsFileType("x.webp", 0);
#endif
#ifdef HAVE_GDIMAGECREATEFROMTIFFPTR
	case IMAGE_TIFF:
		return gdSupportsFileType("x.tiff", 0);
#endif
#ifdef HAVE_GDIMAGECREATEFROMHEIFPTR
	case IMAGE_HEIF:
		return gdSupportsFileType("x.heic", 0);
#endif
#ifdef HAVE_GDIMAGECREATEFROMAVIFPTR
	case IMAGE_AVIF:
		return gdSupportsFileType("x.avif", 0);
#endif
	default:
		return 0;
	}
}

static void gd_quiet(int priority, const char *fmt, va_list ap)
{
}

static void gd_quiet_install(void)
{
	gdSetErrorMethod(gd_quiet);
}

static gdImagePtr gd_decode(enum image_format f, const void *data, int len)
{
	void *p = (void *)data; /* libgd reads only; its API is not const-correct */

	switch (f) {
	case IMAGE_PNG:
		return gdImageCreateFromPngPtr(len, p);
	case IMAGE_JPEG:
		return gdImageCreateFromJpegPtrEx(len, p, 1);
	case IMAGE_GIF:
		return gdImageCreateFromGifPtr(len, p);
	case IMAGE_BMP:
		return gdImageCreateFromBmpPtr(len, p);
#ifdef HAVE_GDIMAGECREATEFROMWEBPPTR
	case IMAGE_WEBP:
		return gdImageCreateFromWebpPtr(len, p);
#endif
#ifdef HAVE_GDIMAGECREATEFROMTIFFPTR
	case IMAGE_TIFF:
		return gdImageCreateFromTiffPtr(len, p);
#endif
#ifdef HAVE_GDIMAGECREATEFROMHEIFPTR
	case IMAGE_HEIF:
		return gdImageCreateFromHeifPtr(len, p);
#endif
#ifdef HAVE_GDIMAGECREATEFROMAVIFPTR
	case IMAGE_AVIF:
		return gdImageCreateFromAvifPtr(len, p);
#endif
	default:
		return NULL;
	}
}

#ifdef HAVE_LIBJPEG
/*
 * A JPEG through libjpeg itself, at the smallest of 1/1, 1/2, 1/4, 1/8 of
 * its size that keeps the longer side at least WORK_SIDE: libjpeg scales in
 * the DCT, so a 12 MP photo is never decoded pixel by pixel only to be
 * averaged down.  Colours as libgd gives them (CMYK and YCCK as libgd
 * converts them, inverted when an Adobe marker says so), so the picture is
 * the one libgd would give, smaller.  libjpeg's errors jump back here and
 * its messages are silenced: library code never prints.
 */
struct jpeg_quiet {
	struct jpeg_error_mgr mgr;
	jmp_buf back;
};

static void jpeg_fail(j_common_ptr cinfo)
{
	longjmp(((struct jpeg_quiet *)cinfo->err)->back, 1);
}

static void jpeg_silent(j_common_ptr cinfo)
{
}

static gdImagePtr jpeg_decode_scaled(const void *data, size_t len)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_quiet err;
	gdImagePtr volatile im = NULL;
	JSAMPLE *volatile row = NULL;
	int cmyk, inverted, longer;

	cinfo.err = jpeg_std_error(&err.mgr);
	err.mgr.error_exit = jpeg_fail;
	err.mgr.output_message = jpeg_silent;
	if (setjmp(err.back)) {
		jpeg_destroy_decompress(&cinfo);
		free(row);
		if (im)
			gdImageDestroy(im);
		return NULL;
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
	im = gdImageCreateTrueColor((int)cinfo.output_width, (int)cinfo.output_height);
	row = malloc((size_t)cinfo.output_width * cinfo.output_components);
	if (!im || !row)
		longjmp(err.back, 1);
	while (cinfo.output_scanline < cinfo.output_height) {
		int *out = im->tpixels[cinfo.output_scanline];
		JSAMPROW rows[1] = {row};

		jpeg_read_scanlines(&cinfo, rows, 1);
		for (unsigned x = 0; x < cinfo.output_width; x++) {
			const JSAMPLE *p = row + (size_t)x * cinfo.output_components;

			if (cmyk) {
				int c = p[0], m = p[1], y = p[2], k = p[3];

				if (inverted) /* Adobe writes CMYK inverted */
					c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
				out[x] = gdTrueColor((255 - c) * (255 - k) / 255,
				                     (255 - m) * (255 - k) / 255,
				                     (255 - y) * (255 - k) / 255);
			} else {
				out[x] = gdTrueColor(p[0], p[1], p[2]);
			}
		}
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	free(row);
	return im;
}
#endif

/*
 * The decoded picture, composited over white, as luminance (Rec. 601) and
 * transparency, EXIF-oriented and shrunk by k x k block averages:
 * lum[h][w], clear[h][w], w = ceil(W / k), h = ceil(H / k) where W x H is
 * the oriented size.  Orientation is an integer affine map of source
 * coordinates (X = ax x + bx y + cx, Y = ay x + by y + cy), so rotating
 * costs nothing beyond the pass we make anyway.  This pass touches every
 * decoded pixel once, so it stays in integers until the one conversion.
 */
struct work {
	int w, h, k;
	float *lum, *clear;
	int *div; /* div[i] = i / k for i < max(W, H): no division per pixel */
};

/* 16-bit fixed-point Rec. 601 weights (sum 65536) and their scale to [0,1]. */
#define LUM_R     19595
#define LUM_G     38470
#define LUM_B     7471
#define LUM_SCALE (1.0f / (255.0f * 65536.0f))

/* Returns whether any pixel was not fully opaque. */
static int work_fill(const gdImagePtr im, int orientation, struct work *wk)
{
	const int sw = gdImageSX(im), sh = gdImageSY(im), swap = orientation >= 5;
	const int W = swap ? sh : sw, H = swap ? sw : sh;
	int ax = 1, bx = 0, cx = 0, ay = 0, by = 1, cy = 0, any_alpha = 0;
	float pal_lum[gdMaxColors], pal_clear[gdMaxColors];

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
	if (!gdImageTrueColor(im)) {
		for (int i = 0; i < gdMaxColors; i++) {
			float t = i < im->colorsTotal && i != im->transparent
			              ? (float)im->alpha[i] / gdAlphaMax
			              : 1.0f;
			float y =
			    (LUM_R * im->red[i] + LUM_G * im->green[i] + LUM_B * im->blue[i]) *
			    LUM_SCALE;

			pal_clear[i] = t;
			pal_lum[i] = (1.0f - t) * y + t;
		}
	}
	for (int y = 0; y < sh; y++) {
		const int *trow = gdImageTrueColor(im) ? im->tpixels[y] : NULL;
		const unsigned char *prow = trow ? NULL : im->pixels[y];
		const int X0 = bx * y + cx, Y0 = by * y + cy;
		/* Runs of k pixels fall in one bin: sum them in registers (opaque
		 * truecolor in integers) and touch memory once per run. */
		size_t cur = (size_t)wk->div[Y0] * wk->w + wk->div[X0];
		uint64_t run_int = 0;
		float run_lum = 0, run_clear = 0;

		for (int x = 0; x < sw; x++) {
			size_t bin = (size_t)wk->div[Y0 + ay * x] * wk->w + wk->div[X0 + ax * x];

			if (bin != cur) {
				wk->lum[cur] += (float)run_int * LUM_SCALE + run_lum;
				wk->clear[cur] += run_clear;
				cur = bin, run_int = 0, run_lum = run_clear = 0;
			}
			if (trow) {
				int c = trow[x];
				unsigned l = LUM_R * gdTrueColorGetRed(c) +
				             LUM_G * gdTrueColorGetGreen(c) +
				             LUM_B * gdTrueColorGetBlue(c);

				if (!gdTrueColorGetAlpha(c)) {
					run_int += l;
				} else {
					float t = (float)gdTrueColorGetAlpha(c) / gdAlphaMax;

					run_lum += (1.0f - t) * (float)l * LUM_SCALE + t;
					run_clear += t;
				}
			} else {
				run_lum += pal_lum[prow[x]];
				run_clear += pal_clear[prow[x]];
			}
		}
		wk->lum[cur] += (float)run_int * LUM_SCALE + run_lum;
		wk->clear[cur] += run_clear;
	}
	for (size_t i = 0; i < (size_t)wk->w * wk->h && !any_alpha; i++)
		any_alpha = wk->clear[i] > 0;
	for (int j = 0; j < wk->h; j++) {
		int rows = H - j * wk->k < wk->k ? H - j * wk->k : wk->k;

		for (int i = 0; i < wk->w; i++) {
			int cols = W - i * wk->k < wk->k ? W - i * wk->k : wk->k;
			float inv = 1.0f / (float)(rows * cols);

			wk->lum[j * wk->w + i] *= inv;
			wk->clear[j * wk->w + i] *= inv;
		}
	}
	return any_alpha;
}

int image_to_mnist(const void *data, size_t len, const struct image_limits *lim,
                   float out[IMAGE_PIXELS], struct image_info *info, struct dg_error *err)
{
	static pthread_once_t quiet = PTHREAD_ONCE_INIT;
	struct image_limits dflt;
	struct image_header hdr;
	struct work wk = {0};
	struct dg_error e = {0};
	gdImagePtr im;
	int W, H, any_alpha, inverted = 0, rc;
	const char *fmt;

	pthread_once(&quiet, gd_quiet_install);
	if (!lim) {
		image_limits_default(&dflt);
		lim = &dflt;
	}
	if (info)
		memset(info, 0, sizeof(*info));
	if (!data || len == 0)
		return dg_fail(err, DG_ERR_EMPTY, "no image data (0 bytes)");
	if (len > lim->max_bytes || len > INT_MAX)
		return dg_fail(err, DG_ERR_TOO_LARGE, "image of %zu bytes, the limit is %zu", len,
		               lim->max_bytes);
	if (image_probe(data, len, &hdr, err) < 0)
		return -1;
	fmt = image_format_name(hdr.format);
	if (info)
		info->format = hdr.format;
	if (hdr.width > (unsigned long)lim->max_width ||
	    hdr.height > (unsigned long)lim->max_height)
		return dg_fail(err, DG_ERR_TOO_LARGE,
		               "%s declares %lux%lu pixels, the limit is %dx%d", fmt, hdr.width,
		               hdr.height, lim->max_width, lim->max_height);
	if (!image_format_supported(hdr.format))
		return dg_fail(err, DG_ERR_UNSUPPORTED, "%s: this libgd build cannot decode it",
		               fmt);

#ifdef HAVE_LIBJPEG
	if (hdr.format == IMAGE_JPEG)
		im = jpeg_decode_scaled(data, len);
	else
#endif
		im = gd_decode(hdr.format, data, (int)len);
	if (!im)
		return dg_fail(err, DG_ERR_FORMAT, "%s: corrupt or truncated (%lux%lu declared)",
		               fmt, hdr.width, hdr.height);
	/* The decoder followed the header we checked; this guards a disagreement. */
	if (gdImageSX(im) > lim->max_width || gdImageSY(im) > lim->max_height) {
		W = gdImageSX(im);
		H = gdImageSY(im);
		gdImageDestroy(im);
		return dg_fail(err, DG_ERR_TOO_LARGE, "%s: decoded to %dx%d pixels", fmt, W, H);
	}
	W = hdr.orientation >= 5 ? gdImageSY(im) : gdImageSX(im);
	H = hdr.orientation >= 5 ? gdImageSX(im) : gdImageSY(im);
	wk.k = ((W > H ? W : H) + WORK_SIDE - 1) / WORK_SIDE;
	wk.w = (W + wk.k - 1) / wk.k;
	wk.h = (H + wk.k - 1) / wk.k;
	wk.lum = calloc((size_t)wk.w * wk.h * 2 + (size_t)(W > H ? W : H), sizeof(float));
	if (!wk.lum) {
		gdImageDestroy(im);
		return dg_fail(err, DG_ERR_NOMEM, "%s: no memory for a %dx%d picture", fmt, W, H);
	}
	wk.clear = wk.lum + (size_t)wk.w * wk.h;
	wk.div = (int *)(wk.clear + (size_t)wk.w * wk.h);
	for (int i = 0; i < (W > H ? W : H); i++)
		wk.div[i] = i / wk.k;
	any_alpha = work_fill(im, hdr.orientation, &wk);
	gdImageDestroy(im);
	if (hdr.format == IMAGE_JPEG) { /* decoded smaller: report its own size */
		W = (int)(hdr.orientation >= 5 ? hdr.height : hdr.width);
		H = (int)(hdr.orientation >= 5 ? hdr.width : hdr.height);
	}
	if (info) {
		info->width = W;
		info->height = H;
	}

	rc = image_normalise(wk.lum, wk.w, wk.h, out, &inverted, &e);
	if (rc < 0 && e.code == DG_ERR_EMPTY && any_alpha) {
		/* Blank over white, yet the alpha channel varies: light strokes on a
		 * transparent canvas.  The shape is the opacity: use it as dark ink
		 * (transparency as luminance). */
		memcpy(wk.lum, wk.clear, (size_t)wk.w * wk.h * sizeof(float));
		rc = image_normalise(wk.lum, wk.w, wk.h, out, NULL, &e);
		inverted = 0;
	}
	free(wk.lum);
	if (rc < 0)
		return dg_fail(err, e.code, "%s %dx%d: %s", fmt, W, H, e.msg);
	if (info)
		info->inverted = inverted;
	return 0;
}

int image_preview_png(const float pixels[IMAGE_PIXELS], unsigned char **png, size_t *len,
                      struct dg_error *err)
{
	gdImagePtr im;
	void *buf;
	int size = 0;

	*png = NULL;
	*len = 0;
	im = gdImageCreate(IMAGE_SIDE, IMAGE_SIDE);
	if (!im)
		return dg_fail(err, DG_ERR_NOMEM, "preview: cannot create a 28x28 picture");
	for (int i = 0; i < 256; i++)
		gdImageColorAllocate(im, i, i, i);
	for (int i = 0; i < IMAGE_PIXELS; i++) {
		float v = pixels[i] < 0.0f ? 0.0f : pixels[i] > 1.0f ? 1.0f : pixels[i];

		gdImageSetPixel(im, i % IMAGE_SIDE, i / IMAGE_SIDE, (int)(v * 255.0f + 0.5f));
	}
	buf = gdImagePngPtr(im, &size);
	gdImageDestroy(im);
	if (!buf || size <= 0)
		return dg_fail(err, DG_ERR_NOMEM, "preview: PNG encoding failed");
	/* The contract says free(): copy out of libgd's allocator. */
	*png = malloc((size_t)size);
	if (!*png) {
		gdFree(buf);
		return dg_fail(err, DG_ERR_NOMEM, "preview: no memory for %d bytes", size);
	}
	memcpy(*png, buf, (size_t)size);
	*len = (size_t)size;
	gdFree(buf);
	return 0;
}
