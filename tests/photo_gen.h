/*
 * photo_gen.h - phone photos of MNIST test digits, made at test time, and the
 * evaluation of the upload path (image_to_mnist + a model) over them.
 *
 * A picture is a digit written on paper and photographed: the 28x28 is
 * upscaled smoothly and thresholded softly into pen ink, on off-white grainy
 * paper under uneven light, then put through the effects people's photos
 * actually have (a shadow, vignetting, glare, ruled or squared paper, a form
 * box, an underline, a small digit in a big photo, dirt and sensor noise,
 * pencil, heavy JPEG, blur) and encoded as JPEG or PNG.  Everything is
 * decided by a 64-bit seed through our own generator (train/rng.h), so the
 * set is the same bytes on every machine with the same libgd/libjpeg.
 *
 * The standard set (photo_effects_for): the first half of the pictures has
 * each effect alone, in equal shares; the rest combine two to four effects.
 */
#ifndef PHOTO_GEN_H
#define PHOTO_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "digits.h"
#include "engine/model.h"

enum photo_effect {
	PHOTO_SHADOW,
	PHOTO_VIGNETTE,
	PHOTO_GLARE,
	PHOTO_RULED,
	PHOTO_GRID,
	PHOTO_BOX,
	PHOTO_UNDERLINE,
	PHOTO_SMALL,
	PHOTO_NOISE,
	PHOTO_PENCIL,
	PHOTO_JPEG,
	PHOTO_BLUR,
	PHOTO_N_EFFECTS
}; /* in a mask, effect e is bit 1u << e */

#define PHOTO_ALL_EFFECTS ((1u << PHOTO_N_EFFECTS) - 1)

/* "shadow", "vignette", ...; NULL out of range. */
const char *photo_effect_name(enum photo_effect e);
/* The effect called name, or -1. */
int photo_effect_by_name(const char *name);
/* "ruled+blur" (or "clean" for 0) into buf. */
char *photo_effects_str(unsigned effects, char *buf, size_t size);

struct photo {
	unsigned char *bytes; /* encoded JPEG or PNG, malloc'ed */
	size_t len;
	int width, height;
	unsigned effects;
	int jpeg;         /* 1 JPEG, 0 PNG */
	int digit_box[4]; /* x, y, w, h of the digit's ink in the picture */
};

/* Render MNIST digit pixels (784 bytes, 0 = background, 255 = ink) as a
 * photo with the effects in the mask, deterministic in seed.  0 or -1. */
int photo_render(const uint8_t mnist[784], unsigned effects, uint64_t seed, struct photo *out);
void photo_free(struct photo *p);

/* The effect set of picture i of the standard set of n: pictures below
 * photo_alone_count(n) have one effect each, cycling through all of them;
 * the others two to four, chosen by seed. */
unsigned photo_effects_for(int i, int n, uint64_t seed);
int photo_alone_count(int n);

/* ---- evaluation ----------------------------------------------------------- */

struct photo_tally {
	int n, right, refused, wrong; /* refused: image_to_mnist failed (DG_ERR_EMPTY) */
};

/* Size classes for timing, by the picture's long side. */
enum { PHOTO_SIZE_800, PHOTO_SIZE_1600, PHOTO_SIZE_3000, PHOTO_SIZE_BIG, PHOTO_N_SIZES };

struct photo_eval {
	struct photo_tally all, alone_all, combined_all;
	struct photo_tally alone[PHOTO_N_EFFECTS];    /* pictures with only this effect */
	struct photo_tally combined[PHOTO_N_EFFECTS]; /* with it and others */
	int wrong_as[10];                             /* predicted digit of wrong answers */
	int errors;               /* refusals other than EMPTY (also counted as refused): bugs */
	int sized[PHOTO_N_SIZES]; /* pictures per size class */
	double median_ms[PHOTO_N_SIZES]; /* image_to_mnist, per class */
	double render_ms;                /* median photo_render */
};

struct photo_eval_opts {
	int n;            /* pictures of the standard set */
	uint64_t seed;    /* of the standard set */
	unsigned only;    /* if nonzero: evaluate only pictures holding one of these */
	const char *dump; /* directory for each photo and its 28x28, or NULL */
};

/* Picture i of the set is MNIST digit photo_digit_index(i, n_digits). */
int photo_digit_index(int i, int n_digits);

/* Render the standard set from the digits (n_digits x 784, labels), send
 * every picture through image_to_mnist() and m, and count.  Pictures are
 * rendered in parallel (OpenMP), each from its own seed, so the counts do
 * not depend on the threads.  0, or -1 with err filled. */
int photo_evaluate(const struct model *m, const uint8_t *pixels, const uint8_t *labels,
                   int n_digits, const struct photo_eval_opts *opts, struct photo_eval *ev,
                   struct dg_error *err);

#endif
