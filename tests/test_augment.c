/*
 * test_augment.c - the trainer's distortions: reproducible from their seed,
 * inside [0,1], and the photo artefacts (augment_artefacts) off unless asked
 * for, so the shipped models' training commands still make the same
 * weights.  A synthetic digit (a ring) stands in for MNIST: no data needed.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "augment.h"
#include "tap.h"

/* A ring of radius 7 about the centre, 2 pixels thick: a drawn 0. */
static void ring(uint8_t *src)
{
	for (int y = 0; y < AUGMENT_SIDE; y++) {
		for (int x = 0; x < AUGMENT_SIDE; x++) {
			double r = hypot(x - 13.5, y - 13.5);

			src[y * AUGMENT_SIDE + x] = fabs(r - 7) < 1.2 ? 255 : 0;
		}
	}
}

static int in_unit(const float *v)
{
	for (int i = 0; i < AUGMENT_PIXELS; i++)
		if (!(v[i] >= 0 && v[i] <= 1))
			return 0;
	return 1;
}

int main(void)
{
	struct augment_params p;
	uint8_t src[AUGMENT_PIXELS];
	float a[AUGMENT_PIXELS], b[AUGMENT_PIXELS], plain[AUGMENT_PIXELS];
	int changed = 0, kinds_seen = 0, same = 1, bounded = 1;

	ring(src);
	augment_defaults(&p);
	ok(p.artefacts == 0, "artefacts are off by default (the shipped models' commands)");

	augment_image(&p, src, a, 42);
	augment_image(&p, src, b, 42);
	ok(memcmp(a, b, sizeof(a)) == 0, "augment_image: same seed, same bytes");
	memcpy(plain, a, sizeof(a));
	augment_artefacts(&p, a, 7);
	ok(memcmp(a, plain, sizeof(a)) == 0, "augment_artefacts at probability 0 changes nothing");

	p.artefacts = 1;
	for (uint64_t s = 0; s < 200; s++) {
		augment_image(&p, src, a, s);
		memcpy(b, a, sizeof(a));
		memcpy(plain, a, sizeof(a));
		augment_artefacts(&p, a, s);
		augment_artefacts(&p, b, s);
		same &= memcmp(a, b, sizeof(a)) == 0;
		bounded &= in_unit(a);
		if (memcmp(a, plain, sizeof(a)) != 0)
			changed++;
		/* Ink added beside the ring (a stub or a speck) or taken
		 * from it (a line taken out, glare, a fainter pen). */
		for (int i = 0; i < AUGMENT_PIXELS; i++) {
			if (a[i] > plain[i] + 0.2f) {
				kinds_seen |= 1;
				break;
			}
		}
		for (int i = 0; i < AUGMENT_PIXELS; i++) {
			if (a[i] < plain[i] - 0.2f) {
				kinds_seen |= 2;
				break;
			}
		}
	}
	ok(same, "augment_artefacts: same seed, same bytes (200 seeds)");
	ok(bounded, "every artefact leaves the pixels in [0,1]");
	ok(changed >= 190, "at probability 1 every image gets an artefact (%d of 200 changed)",
	   changed);
	ok(kinds_seen == 3, "artefacts both add ink beside the digit and take ink from it");

	p.artefacts = 0.5f;
	changed = 0;
	for (uint64_t s = 0; s < 400; s++) {
		augment_image(&p, src, a, s);
		memcpy(plain, a, sizeof(a));
		augment_artefacts(&p, a, s);
		changed += memcmp(a, plain, sizeof(a)) != 0;
	}
	ok(changed > 160 && changed < 240, "at probability 0.5, %d of 400 images changed", changed);
	return tap_done();
}
