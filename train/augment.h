/*
 * augment.h - random distortions of a training digit, reproducible.
 *
 * Each training image is, with --augment, drawn through a random affine map
 * (rotation, isotropic scale, shear, shift about the image centre, sampled
 * bilinearly) after a random change of stroke thickness (a grey dilation or
 * erosion with a 3x3 cross, blended with the original by a random amount,
 * gentler for erosion, which on thin strokes mostly dims them).
 * The distortion is a pure function of (parameters, source, seed): the
 * trainer seeds it from (run seed, epoch, image index), so it does not
 * depend on threads or on resuming.
 */
#ifndef TRAIN_AUGMENT_H
#define TRAIN_AUGMENT_H

#include <stdint.h>

#define AUGMENT_SIDE   28
#define AUGMENT_PIXELS (AUGMENT_SIDE * AUGMENT_SIDE)

struct augment_params {
	float rotate;    /* degrees: uniform in [-rotate, rotate] */
	float scale;     /* relative: uniform in [1 - scale, 1 + scale] */
	float shear;     /* x += shear * y, uniform in [-shear, shear] */
	float shift;     /* pixels, each axis: uniform in [-shift, shift] */
	float thickness; /* probability of a thickness change (half thicker, half thinner) */
	float artefacts; /* probability of photo artefacts (augment_artefacts); 0: none */
};

/* The defaults: 12 degrees, 10 %, 0.15, 2.5 px, 0.5, no artefacts. */
void augment_defaults(struct augment_params *p);

/* src: AUGMENT_PIXELS bytes (0..255), dst: AUGMENT_PIXELS floats in [0,1]. */
void augment_image(const struct augment_params *p, const uint8_t *src, float *dst, uint64_t seed);

/*
 * With probability p->artefacts, one to three of what the upload path's
 * normaliser leaves of a phone photo (src/image/) drawn into img
 * (AUGMENT_PIXELS floats in [0,1], after augment_image): the stub of a
 * ruled or squared line it did not take out, a line taken out across the
 * strokes where it crossed them, a glare patch washing part of the digit
 * out, a speck beside it, a blurred and fainter stroke.  A pure function
 * of (p, img, seed), like augment_image.
 */
void augment_artefacts(const struct augment_params *p, float *img, uint64_t seed);

/* No distortion: bytes to floats in [0,1]. */
void augment_plain(const uint8_t *src, float *dst, int n_pixels);

#endif
