/*
 * nondigit.h - a seeded set of pictures that are not digits: what the
 * "not_a_digit" threshold is fitted on (one seed) and measured on
 * (another), never on test digits.
 *
 * Kinds: single strokes (straight or bent, never near vertical: that is a
 * 1), letters nobody reads as digits (libgd's bitmap fonts, scaled up;
 * O, o, l, I, S, Z, B, g, q and the like left out), shapes (squares,
 * triangles, crosses, stars; no circles: that is a 0), scribbles, and
 * blank-ish noise.  Each is drawn dark on light paper at a random size,
 * thickness and position, encoded as PNG and sent through image_to_mnist
 * like an upload, so the model sees what it would see in production.
 *
 * Picture i of a seed depends only on (seed, i): the set is the same on
 * every machine and any picture can be made alone.
 */
#ifndef TRAIN_NONDIGIT_H
#define TRAIN_NONDIGIT_H

#include <stddef.h>
#include <stdint.h>

#include "digits.h"
#include "image/image.h"

#define NONDIGIT_FIT_SEED     1 /* digits-train --fit-confidence */
#define NONDIGIT_MEASURE_SEED 2 /* the tests and the README's figures */

enum nondigit_kind {
	NONDIGIT_STROKE,
	NONDIGIT_LETTER,
	NONDIGIT_SHAPE,
	NONDIGIT_SCRIBBLE,
	NONDIGIT_NOISE,
	NONDIGIT_KINDS
};

const char *nondigit_kind_name(enum nondigit_kind k);
/* The kind of picture i (the kinds take turns). */
enum nondigit_kind nondigit_kind_of(int i);

/* Picture i of seed as a PNG: *png is malloc'ed (the caller frees). */
int nondigit_png(uint64_t seed, int i, unsigned char **png, size_t *len, struct dg_error *err);

/* Picture i of seed as the model sees it.  Fails like image_to_mnist:
 * DG_ERR_EMPTY when the normalisation finds no ink (the service refuses
 * such a picture with 422, so it never gets a digit). */
int nondigit_make(uint64_t seed, int i, float out[IMAGE_PIXELS], struct dg_error *err);

#endif
