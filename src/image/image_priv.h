/*
 * image_priv.h - the steps of the normalisation, shared by the image
 * module's own files and its tests; nothing outside src/image_* uses it.
 *
 * The pictures here are the decoder's working copy: w x h floats,
 * row-major, at most a few hundred thousand pixels.  "Ink" is always
 * bright (1 = full ink, 0 = paper) once image_ink_strength() has run.
 */
#ifndef IMAGE_PRIV_H
#define IMAGE_PRIV_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

/*
 * A decoded picture as every decoder hands it to the normalisation, in
 * libgd's own layout so that each format gives the pixels libgd gave:
 * either truecolor, argb[h][w] = alpha << 24 | r << 16 | g << 8 | b with
 * 7-bit alpha (0 opaque, 127 transparent), or palette, index[h][w] into
 * red/green/blue/alpha[colors]; an index >= colors, or equal to
 * transparent (-1 for none), is fully transparent.  argb / index are
 * malloc'ed, freed by image_pixels_free().
 */
struct image_pixels {
	int w, h;
	uint32_t *argb;       /* truecolor, or NULL */
	unsigned char *index; /* palette, or NULL */
	int colors, transparent;
	unsigned char red[256], green[256], blue[256], alpha[256];
};

void image_pixels_free(struct image_pixels *px);

/* A decoder's message into w: "prefix: text", made printable, repeats and
 * overflow counted in w->dropped.  w may be NULL (nothing kept). */
void image_warn(struct image_warnings *w, const char *prefix, const char *fmt, va_list ap);
void image_warnf(struct image_warnings *w, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* PNG with libpng (image_png.c), the same pixels as libgd 2.3's PNG reader,
 * libpng's warnings and errors into w.  FORMAT when corrupt or truncated,
 * TOO_LARGE above lim, NOMEM. */
int image_png_decode(const void *data, size_t len, const struct image_limits *lim,
                     struct image_pixels *px, struct image_warnings *w, struct dg_error *err);

/* The formats libgd decodes for us (gd_load.c): libgd is dlopen'ed on the
 * first call, so a process that never sees one of them never maps libgd
 * and the ~60 libraries behind it. */
/* Whether libgd loads and decodes f. */
int image_gd_supports(enum image_format f);
/* Decode with libgd into px (converted to our layout); messages from libgd
 * and libtiff into w.  FORMAT when libgd refuses the data, UNSUPPORTED when
 * libgd cannot be loaded, NOMEM. */
int image_gd_decode(enum image_format f, const void *data, size_t len, struct image_pixels *px,
                    struct image_warnings *w, struct dg_error *err);

/* A symbol of libgd or of the libraries it loaded (libavif, libtiff), NULL
 * when libgd cannot be loaded or none has it. */
void *image_gd_symbol(const char *name);

/* AVIF with libavif, found among libgd's libraries (image_avif.c): the
 * frame's own size bounded by lim before libavif allocates it, the decoder
 * freed on every path.  FORMAT, TOO_LARGE, UNSUPPORTED, NOMEM. */
int image_avif_decode(const void *data, size_t len, const struct image_limits *lim,
                      struct image_pixels *px, struct image_warnings *w, struct dg_error *err);

/* Stretched ink at or above this level is ink for the component and line
 * analysis; fainter pixels are kept only beside it (anti-aliasing). */
#define INK_LEVEL 0.35f

/*
 * Running maximum (want_max = 1) or minimum over the window [i - r, i + r]
 * clipped to [0, n), for n values spaced stride apart, in place.  tmp holds
 * 3 n floats.  Cost O(n) whatever r (van Herk / Gil-Werman).
 */
void image_run_extreme(float *x, size_t stride, int n, int r, int want_max, float *tmp);

/* Grey-level closing (want_max = 1: max then min) or opening of img[h][w]
 * with a (2r+1)-square window, into out; tmp holds 2 w h floats (and at
 * least 3 w). */
void image_morph(const float *img, int w, int h, int r, int closing, float *out, float *tmp);

/*
 * From luminance (0 = black, any polarity) to ink strength s[h][w] in
 * [0, 1]: the polarity from an even border, or else from the skew of the
 * departures from the local median (*inverted = 1 for dark ink on light
 * ground); the paper's brightness estimated locally by a grey-level
 * closing wide enough to swallow any stroke, so shadows, vignetting,
 * glare and gradients are part of the paper; and the ink is how much
 * darker than its own paper a pixel is, as a fraction of that paper
 * (illumination multiplies, so a stroke in shadow keeps its strength).
 * scratch holds 5 w h + 3 max(w, h) floats.
 */
void image_ink_strength(const float *lum, int w, int h, float *s, int *inverted, float *scratch);

/*
 * Remove ruled and squared-paper lines from v[h][w] (stretched ink),
 * restoring the strokes of the digit where a line crossed them.  Returns
 * how many lines spanning most of the picture went, -1 when out of
 * memory.  mark and lab hold w h bytes and ints.
 */
int image_remove_lines(float *v, int w, int h, uint8_t *mark, int *lab);

/* Stretch v[n] (ink at or above 0) again so the typical stroke among its
 * ink reaches 1: once the digit is found, or a box that set the first
 * stretch is gone (a pencil digit in a pen-drawn box). */
void image_stretch_ink(float *v, size_t n);

/* A box or an underline narrower than this (pixels; MNIST digits are 20)
 * cannot be told from a digit's own strokes (a 3 drawn square, the foot
 * of a 2): smaller pieces are left as they are. */
#define LINE_MIN 24

/* A connected piece of ink (8-neighbours, at INK_LEVEL) and its box. */
struct image_piece {
	int x0, y0, x1, y1, area;
	int rim;  /* pixels with a 4-neighbour that is not ink */
	int line; /* flat, long and straight: a rule or an underline */
	double mass;
};

static inline int piece_w(const struct image_piece *p)
{
	return p->x1 - p->x0 + 1;
}

static inline int piece_h(const struct image_piece *p)
{
	return p->y1 - p->y0 + 1;
}

/*
 * Boxes drawn round a digit: clusters of pieces (pc[count], labelled 1 +
 * index in lab) with three or four straight sides and ink inside lose the
 * sides and what lies outside them (image_frame.c).  scratch holds w h
 * ints.  Returns how many boxes went, -1 when out of memory.
 */
int image_remove_frames(float *v, int w, int h, const int *lab, const struct image_piece *pc,
                        int count, int *scratch);

/*
 * Keep the digit: take out a box drawn round it and an underline; of the
 * connected pieces of ink in v[h][w], the one that looks most like a
 * digit (mass, not flat, not solid, not on the picture's edge) and the
 * pieces that belong with it (the bar of a 5, a broken stroke); zero
 * everything else (specks, texture, remnants of lines, page edges) but
 * the faint pixels next to kept ink.  Returns the number of pieces kept,
 * 0 when nothing looks like ink, -1 when out of memory.  lab and stack
 * hold w h ints.
 */
int image_keep_digit(float *v, int w, int h, int *lab, int *stack);

/*
 * The decoded picture as the normalisation takes it (image_decode.c):
 * luminance and transparency, lum[h][w] and clear[h][w], EXIF-oriented
 * and shrunk to at most WORK_SIDE a side; any_alpha when the alpha
 * channel varies.  One malloc'ed block, freed by image_luminance_free().
 * info->width/height are the oriented picture's own size.
 */
struct image_luminance {
	int w, h, any_alpha;
	float *lum, *clear;
};
int image_decode_luminance(const void *data, size_t len, const struct image_limits *lim,
                           struct image_luminance *out, struct image_info *info,
                           struct dg_error *err);
void image_luminance_free(struct image_luminance *l);

/* The first stretch of image_normalise (the paper to 0, a typical stroke to
 * 1) of v[n] ink strengths; EMPTY when ink and paper hardly differ. */
int image_stretch_paper(float *v, size_t n, struct dg_error *err);

/* The last steps of image_normalise: the ink of v (row length w) inside
 * box {x0, y0, x1, y1} scaled so its longer side is 20 and centred by mass
 * in out.  tmp holds (y1 - y0 + 1) x 20 floats.  EMPTY when no ink. */
int image_box_to_mnist(const float *v, int w, const int box[4], float *tmp, float out[IMAGE_PIXELS],
                       struct dg_error *err);

#endif
