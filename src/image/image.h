/*
 * image.h - from the bytes of an uploaded picture to the 28x28 the model sees.
 *
 * CONTRACT (owned by the image module; other modules rely on exactly this):
 *   image_to_mnist() decodes any supported format from memory (format
 *   detected from the bytes, never from a name or Content-Type; PNG with
 *   libpng and JPEG with libjpeg, the others with libgd, loaded with
 *   dlopen the first time one of them arrives),
 *   refuses images whose declared size exceeds the limits before decoding,
 *   and normalises the way MNIST was made: alpha over white, luminance,
 *   polarity from the background (ink becomes bright), background removed
 *   and contrast stretched, cropped to the ink ignoring specks, scaled with
 *   area averaging so the longer side is 20 pixels, and placed in 28x28
 *   with its centre of mass at the centre.  Output: 784 floats in [0,1],
 *   row-major, ink = 1, background = 0.  An MNIST digit goes through it
 *   essentially unchanged.
 *
 *   Errors (err->code):
 *     DG_ERR_UNSUPPORTED  not an image / a format we cannot decode  (HTTP 415)
 *     DG_ERR_FORMAT       recognised format but corrupt or truncated (HTTP 422)
 *     DG_ERR_TOO_LARGE    declared pixels or bytes above the limits (HTTP 413)
 *     DG_ERR_EMPTY        no bytes, or decoded but blank: no ink     (HTTP 422)
 *     DG_ERR_NOMEM
 */
#ifndef IMAGE_H
#define IMAGE_H

#include <stddef.h>

#include "digits.h"

#define IMAGE_SIDE   28
#define IMAGE_PIXELS (IMAGE_SIDE * IMAGE_SIDE)

enum image_format {
	IMAGE_UNKNOWN = 0,
	IMAGE_PNG,
	IMAGE_JPEG,
	IMAGE_GIF,
	IMAGE_BMP,
	IMAGE_WEBP,
	IMAGE_TIFF,
	IMAGE_HEIF,
	IMAGE_AVIF,
};

struct image_limits {
	size_t max_bytes; /* encoded size */
	int max_width;    /* declared width and height, checked before decoding */
	int max_height;
};

/* Defaults: 8 MiB, 4096 x 4096. */
void image_limits_default(struct image_limits *lim);

/* What the decoding libraries said (libpng, libjpeg, libgd and, through
 * libgd, libtiff, libwebp, libheif): warnings and the error that stopped a
 * decode, caught by our handlers instead of being printed, for the
 * request's log line.  Bounded: at most IMAGE_WARN_MAX distinct messages
 * of printable ASCII, each cut to IMAGE_WARN_LEN - 1 bytes; the rest are
 * only counted. */
#define IMAGE_WARN_MAX 4
#define IMAGE_WARN_LEN 100
struct image_warnings {
	int n;       /* messages in msg[] */
	int dropped; /* further messages, not kept (repeats included) */
	char msg[IMAGE_WARN_MAX][IMAGE_WARN_LEN];
};

/* Add w's messages to into's (a request gathers those of all its images). */
void image_warnings_merge(struct image_warnings *into, const struct image_warnings *w);

/* What was found on the way, for responses and logs. */
struct image_info {
	enum image_format format;
	int width, height;              /* of the decoded picture */
	int inverted;                   /* 1 if the picture was dark ink on light ground */
	struct image_warnings warnings; /* filled on success and on failure */
};

/* Format from the leading bytes (magic numbers), IMAGE_UNKNOWN if none. */
enum image_format image_detect(const void *data, size_t len);
/* "png", "jpeg", ...; "unknown". */
const char *image_format_name(enum image_format f);
/* Whether the format can be decoded here: PNG and JPEG always; the others
 * when libgd loads and was built with the codec (asking loads libgd). */
int image_format_supported(enum image_format f);

/* An explanation map (IMAGE_PIXELS values in 0..1) over what the model saw
 * (image_to_mnist's output), in viridis, each pixel scale x scale: a PNG
 * in *png (malloc'ed, the caller frees) of *size bytes. */
#define IMAGE_HEATMAP_MAX_SCALE 32
int image_heatmap_png(const float seen[IMAGE_PIXELS], const float map[IMAGE_PIXELS], int scale,
                      unsigned char **png, size_t *size, struct dg_error *err);
/* The same picture's pixels: (28 scale)^2 RGB triples into rgb (scale 1 to
 * IMAGE_HEATMAP_MAX_SCALE, not checked). */
void image_heatmap_rgb(const float seen[IMAGE_PIXELS], const float map[IMAGE_PIXELS], int scale,
                       unsigned char *rgb);

/* Decode data and normalise it into out[IMAGE_PIXELS].  info may be NULL. */
int image_to_mnist(const void *data, size_t len, const struct image_limits *lim,
                   float out[IMAGE_PIXELS], struct image_info *info, struct dg_error *err);

/* What the header bytes declare, read without decoding anything: the
 * dimensions of the picture as stored (before any EXIF rotation) and the
 * EXIF orientation (1..8; 1 when absent or not a JPEG). */
struct image_header {
	enum image_format format;
	unsigned long width, height;
	int orientation;
};

/* Parse the header: UNSUPPORTED for unknown bytes, FORMAT when the header is
 * truncated or inconsistent (for JPEG and GIF also when the data stops before
 * the end of the first picture). */
int image_probe(const void *data, size_t len, struct image_header *hdr, struct dg_error *err);

/* The normalisation alone, for pictures already in memory (the trainer's
 * checks, tests): lum[h][w] is luminance in [0,1], 0 = black, any polarity.
 * inverted (may be NULL) is set to 1 when dark ink on light ground was found.
 * Fails EMPTY when there is no ink, NOMEM, INVALID for a bad size. */
int image_normalise(const float *lum, int w, int h, float out[IMAGE_PIXELS], int *inverted,
                    struct dg_error *err);

/* Encode a 28x28 [0,1] image as an 8-bit grey PNG (ink white on black, as
 * the model sees it), for the "preview" of a response, with libpng.  *png
 * is malloc'ed, caller frees. */
int image_preview_png(const float pixels[IMAGE_PIXELS], unsigned char **png, size_t *len,
                      struct dg_error *err);

#endif
