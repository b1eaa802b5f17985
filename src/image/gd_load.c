/*
 * gd_load.c - libgd, loaded with dlopen the first time a format only it
 * decodes arrives (GIF, BMP, WebP, TIFF, HEIF; and AVIF, by libavif found
 * among libgd's libraries: image_avif.c).
 *
 * Linked normally, libgd costs every process the mapping and relocation of
 * ~60 shared libraries before main (its AVIF, HEIF, WebP and TIFF codecs and
 * theirs: about 23 ms on the machine the README's figures come from), which
 * a plain CGI pays on every request although most requests are PNG or JPEG
 * (decoded with libpng and libjpeg directly).  So libgd is used only
 * through the table below, filled once, under pthread_once, from
 * GD_SONAME; gd.h is included for its types and macros only.
 *
 * Messages: libgd reports through gdSetErrorMethod, and libtiff (a libgd
 * dependency) through its own handlers, which print to stderr by default;
 * both are pointed at handlers that append to the image_warnings of the
 * decode in progress on this thread.  TIFFSetWarningHandler and
 * TIFFSetErrorHandler are looked up in libgd's dependencies (dlsym on the
 * libgd handle searches them); a libgd built without TIFF has none.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gd.h>

#include "image_priv.h"

#ifndef GD_SONAME
#define GD_SONAME "libgd.so.3"
#endif

typedef gdImagePtr (*gd_reader)(int size, void *data);
typedef void (*tiff_handler)(const char *module, const char *fmt, va_list ap);
typedef tiff_handler (*tiff_set_handler)(tiff_handler);

/* Everything we call in libgd, and the reader for each format (NULL when
 * this libgd lacks the function or stubs the codec out). */
static struct {
	void *handle;
	char why[160]; /* when handle is NULL: dlerror()'s text */
	void (*destroy)(gdImagePtr im);
	int (*supports)(const char *filename, int writing);
	void (*set_error_method)(gdErrorMethod method);
	gd_reader read[IMAGE_AVIF + 1];
} gd;

/* The image_warnings of the libgd decode running on this thread. */
static __thread struct image_warnings *gd_sink;

static void gd_say(const char *who, const char *fmt, va_list ap)
{
	if (gd_sink)
		image_warn(gd_sink, who, fmt, ap);
}

static void gd_on_message(int priority, const char *fmt, va_list ap)
{
	gd_say("libgd", fmt, ap);
}

static void tiff_say(const char *kind, const char *module, const char *fmt, va_list ap)
{
	char who[64];

	snprintf(who, sizeof(who), "libtiff %s: %.40s", kind, module ? module : "?");
	gd_say(who, fmt, ap);
}

static void tiff_on_warning(const char *module, const char *fmt, va_list ap)
{
	tiff_say("warning", module, fmt, ap);
}

static void tiff_on_error(const char *module, const char *fmt, va_list ap)
{
	tiff_say("error", module, fmt, ap);
}

static void *gd_sym(const char *name)
{
	return dlsym(gd.handle, name);
}

static void gd_open(void)
{
	static const struct {
		enum image_format f;
		const char *reader, *probe; /* function, and the file name to ask about */
	} formats[] = {
	    {IMAGE_GIF, "gdImageCreateFromGifPtr", "x.gif"},
	    {IMAGE_BMP, "gdImageCreateFromBmpPtr", "x.bmp"},
	    {IMAGE_WEBP, "gdImageCreateFromWebpPtr", "x.webp"},
	    {IMAGE_TIFF, "gdImageCreateFromTiffPtr", "x.tiff"},
	    {IMAGE_HEIF, "gdImageCreateFromHeifPtr", "x.heic"},
	    {IMAGE_AVIF, "gdImageCreateFromAvifPtr", "x.avif"},
	};
	tiff_set_handler set;

	gd.handle = dlopen(GD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!gd.handle) {
		snprintf(gd.why, sizeof(gd.why), "%s", dlerror());
		return;
	}
	*(void **)&gd.destroy = gd_sym("gdImageDestroy");
	*(void **)&gd.supports = gd_sym("gdSupportsFileType");
	*(void **)&gd.set_error_method = gd_sym("gdSetErrorMethod");
	if (!gd.destroy || !gd.supports || !gd.set_error_method) {
		snprintf(gd.why, sizeof(gd.why),
		         "%s lacks gdImageDestroy, gdSupportsFileType "
		         "or gdSetErrorMethod",
		         GD_SONAME);
		dlclose(gd.handle);
		gd.handle = NULL;
		return;
	}
	gd.set_error_method(gd_on_message);
	/* libgd stubs out codecs it was built without: ask it, not only dlsym. */
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (gd.supports(formats[i].probe, 0))
			*(void **)&gd.read[formats[i].f] = gd_sym(formats[i].reader);
	*(void **)&set = gd_sym("TIFFSetWarningHandler");
	if (set)
		set(tiff_on_warning);
	*(void **)&set = gd_sym("TIFFSetErrorHandler");
	if (set)
		set(tiff_on_error);
}

static int gd_ready(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, gd_open);
	return gd.handle != NULL;
}

void *image_gd_symbol(const char *name)
{
	return gd_ready() ? gd_sym(name) : NULL;
}

int image_gd_supports(enum image_format f)
{
	return f > IMAGE_JPEG && f <= IMAGE_AVIF && gd_ready() && gd.read[f];
}

/* libgd's picture into our layout (same values: see image_priv.h). */
static int gd_copy(gdImagePtr im, struct image_pixels *px, struct dg_error *err)
{
	size_t n;

	px->w = gdImageSX(im);
	px->h = gdImageSY(im);
	n = (size_t)px->w * px->h;
	px->transparent = -1;
	if (gdImageTrueColor(im)) {
		px->argb = malloc(n * sizeof(*px->argb));
		if (!px->argb)
			return dg_fail(err, DG_ERR_NOMEM, "no memory for %dx%d pixels", px->w,
			               px->h);
		for (int y = 0; y < px->h; y++)
			memcpy(px->argb + (size_t)y * px->w, im->tpixels[y],
			       (size_t)px->w * sizeof(*px->argb));
		return 0;
	}
	px->index = malloc(n);
	if (!px->index)
		return dg_fail(err, DG_ERR_NOMEM, "no memory for %dx%d pixels", px->w, px->h);
	for (int y = 0; y < px->h; y++)
		memcpy(px->index + (size_t)y * px->w, im->pixels[y], (size_t)px->w);
	px->colors = im->colorsTotal;
	px->transparent = im->transparent;
	for (int i = 0; i < gdMaxColors; i++) {
		px->red[i] = (unsigned char)im->red[i];
		px->green[i] = (unsigned char)im->green[i];
		px->blue[i] = (unsigned char)im->blue[i];
		px->alpha[i] = (unsigned char)im->alpha[i];
	}
	return 0;
}

int image_gd_decode(enum image_format f, const void *data, size_t len, struct image_pixels *px,
                    struct image_warnings *w, struct dg_error *err)
{
	gdImagePtr im;
	int rc;

	memset(px, 0, sizeof(*px));
	if (!gd_ready())
		return dg_fail(err, DG_ERR_UNSUPPORTED, "libgd cannot be loaded: %s", gd.why);
	if (f <= IMAGE_JPEG || f > IMAGE_AVIF || !gd.read[f])
		return dg_fail(err, DG_ERR_UNSUPPORTED, "this libgd build cannot decode it");
	gd_sink = w;
	/* libgd reads only; its API is not const-correct.  len <= INT_MAX
	 * (image_to_mnist's limit). */
	im = gd.read[f]((int)len, (void *)data);
	gd_sink = NULL;
	if (!im)
		return dg_fail(err, DG_ERR_FORMAT, "corrupt or truncated (libgd refused it)");
	rc = gd_copy(im, px, err);
	gd.destroy(im);
	if (rc < 0)
		image_pixels_free(px);
	return rc;
}
