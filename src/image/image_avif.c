/*
 * image_avif.c - AVIF with libavif directly, under the service's limits.
 *
 * libgd 2.3.3's AVIF reader runs libavif with its defaults: a frame of up
 * to 16384 x 16384 pixels whatever the header's "ispe" says (the AV1
 * bitstream carries its own frame size), and on some refusals it returns
 * without freeing the decoder (libgd issue #831).  Fuzzing found a 605-byte
 * file declaring 24x32 whose AV1 frame made one decode take 335 MB, 134 MB
 * of it never freed: a few such requests a second would exhaust any
 * worker.  So the decoder is driven here, as libgd does it (first frame,
 * 8-bit RGBA, the same pixels), with libavif's own limit on the frame size
 * (imageSizeLimit, which libavif also hands to dav1d before it allocates),
 * one thread, and the decoder freed on every path.
 *
 * libavif is not linked: it is one of the libraries behind libgd, and is
 * looked up in libgd's dependencies once libgd is loaded (gd_load.c), so a
 * process that never sees an AVIF maps neither.  avif.h gives the types;
 * the soname (libavif.so.15 on Debian 12) fixes the layout.
 */
#include "config.h"

#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "image_priv.h"

#ifdef HAVE_AVIF_AVIF_H
#include <avif/avif.h>

/* What we call in libavif, found once (ready) or not at all. */
struct avif_api {
	avifDecoder *(*decoder_create)(void);
	void (*decoder_destroy)(avifDecoder *decoder);
	avifResult (*set_io_memory)(avifDecoder *decoder, const uint8_t *data, size_t size);
	avifResult (*parse)(avifDecoder *decoder);
	avifResult (*next_image)(avifDecoder *decoder);
	void (*rgb_defaults)(avifRGBImage *rgb, const avifImage *image);
	void (*rgb_allocate)(avifRGBImage *rgb);
	void (*rgb_free)(avifRGBImage *rgb);
	avifResult (*yuv_to_rgb)(const avifImage *image, avifRGBImage *rgb);
	const char *(*result_text)(avifResult result);
	int ready;
};
static struct avif_api avif;

static void avif_open(void)
{
	static const struct {
		const char *name;
		size_t offset;
	} syms[] = {
#define SYM(field, name) {name, offsetof(struct avif_api, field)}
	    SYM(decoder_create, "avifDecoderCreate"),
	    SYM(decoder_destroy, "avifDecoderDestroy"),
	    SYM(set_io_memory, "avifDecoderSetIOMemory"),
	    SYM(parse, "avifDecoderParse"),
	    SYM(next_image, "avifDecoderNextImage"),
	    SYM(rgb_defaults, "avifRGBImageSetDefaults"),
	    SYM(rgb_allocate, "avifRGBImageAllocatePixels"),
	    SYM(rgb_free, "avifRGBImageFreePixels"),
	    SYM(yuv_to_rgb, "avifImageYUVToRGB"),
	    SYM(result_text, "avifResultToString"),
#undef SYM
	};

	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *f = image_gd_symbol(syms[i].name);

		if (!f)
			return;
		memcpy((char *)&avif + syms[i].offset, &f, sizeof(f));
	}
	avif.ready = 1;
}

static int avif_ready(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, avif_open);
	return avif.ready;
}

/* RGBA, 8 bits, into libgd's truecolor layout (7-bit alpha, 0 = opaque),
 * as libgd's own reader converts it. */
static int avif_copy(const avifRGBImage *rgb, struct image_pixels *px, struct dg_error *err)
{
	px->w = (int)rgb->width;
	px->h = (int)rgb->height;
	px->transparent = -1;
	px->argb = malloc((size_t)px->w * px->h * sizeof(*px->argb));
	if (!px->argb)
		return dg_fail(err, DG_ERR_NOMEM, "no memory for %dx%d pixels", px->w, px->h);
	for (int y = 0; y < px->h; y++) {
		const uint8_t *p = rgb->pixels + (size_t)y * rgb->rowBytes;
		uint32_t *o = px->argb + (size_t)y * px->w;

		for (int x = 0; x < px->w; x++, p += 4)
			o[x] = (uint32_t)(127 - (p[3] >> 1)) << 24 | (uint32_t)p[0] << 16 |
			       (uint32_t)p[1] << 8 | p[2];
	}
	return 0;
}

int image_avif_decode(const void *data, size_t len, const struct image_limits *lim,
                      struct image_pixels *px, struct image_warnings *w, struct dg_error *err)
{
	avifDecoder *dec;
	avifRGBImage rgb;
	avifResult r;
	int rc;

	(void)w; /* libavif reports through its return codes only */
	memset(px, 0, sizeof(*px));
	if (!avif_ready())
		return dg_fail(err, DG_ERR_UNSUPPORTED,
		               "libavif is not among libgd's libraries: cannot decode it");
	dec = avif.decoder_create();
	if (!dec)
		return dg_fail(err, DG_ERR_NOMEM, "no memory for the AVIF decoder");
	dec->maxThreads = 1;
	dec->imageSizeLimit = (uint32_t)lim->max_width * (uint32_t)lim->max_height;
	dec->ignoreExif = AVIF_TRUE;
	dec->ignoreXMP = AVIF_TRUE;
	r = avif.set_io_memory(dec, data, len);
	if (r == AVIF_RESULT_OK)
		r = avif.parse(dec);
	if (r == AVIF_RESULT_OK)
		r = avif.next_image(dec);
	if (r != AVIF_RESULT_OK) {
		rc = dg_fail(err, DG_ERR_FORMAT, "%s (libavif refused it)", avif.result_text(r));
		goto out;
	}
	/* The frame decoded, not the header, sets the size: check it again. */
	if (dec->image->width > (uint32_t)lim->max_width ||
	    dec->image->height > (uint32_t)lim->max_height) {
		rc =
		    dg_fail(err, DG_ERR_TOO_LARGE, "the frame is %ux%u, above %dx%d",
		            dec->image->width, dec->image->height, lim->max_width, lim->max_height);
		goto out;
	}
	memset(&rgb, 0, sizeof(rgb));
	avif.rgb_defaults(&rgb, dec->image);
	rgb.depth = 8;
	rgb.format = AVIF_RGB_FORMAT_RGBA;
	avif.rgb_allocate(&rgb);
	r = avif.yuv_to_rgb(dec->image, &rgb);
	if (r != AVIF_RESULT_OK)
		rc = dg_fail(err, DG_ERR_FORMAT, "%s (libavif, converting to RGB)",
		             avif.result_text(r));
	else
		rc = avif_copy(&rgb, px, err);
	avif.rgb_free(&rgb);
out:
	avif.decoder_destroy(dec);
	if (rc < 0)
		image_pixels_free(px);
	return rc;
}

#else /* no avif.h: libgd's reader, without the frame limit */

int image_avif_decode(const void *data, size_t len, const struct image_limits *lim,
                      struct image_pixels *px, struct image_warnings *w, struct dg_error *err)
{
	(void)lim;
	return image_gd_decode(IMAGE_AVIF, data, len, px, w, err);
}

#endif
