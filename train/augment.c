/*
 * augment.c - random affine + stroke-thickness distortion (see augment.h).
 *
 * The affine map sends a source point p to M (p - c) + c + t, where c is
 * the image centre, M = rotation * shear * scale and t the shift; we fill
 * each destination pixel by sampling the source at the inverse image of its
 * centre, bilinearly, with zeros (background) outside.  Everything lives on
 * the stack: no allocation per image.
 */
#include "augment.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "rng.h"

#define N AUGMENT_SIDE

void augment_defaults(struct augment_params *p)
{
	p->rotate = 12.0f;
	p->scale = 0.10f;
	p->shear = 0.15f;
	p->shift = 2.5f;
	p->thickness = 0.5f;
	p->artefacts = 0.0f;
}

void augment_plain(const uint8_t *src, float *dst, int n_pixels)
{
	for (int i = 0; i < n_pixels; i++)
		dst[i] = src[i] * (1.0f / 255.0f);
}

/* Grey dilation (max) or erosion (min) over the cross {centre, 4
 * neighbours}; outside the image counts as background (0). */
static void morph_cross(const float *in, float *out, int dilate)
{
	for (int y = 0; y < N; y++) {
		for (int x = 0; x < N; x++) {
			float v = in[y * N + x];
			float nb[4] = {
			    x > 0 ? in[y * N + x - 1] : 0.0f,
			    x < N - 1 ? in[y * N + x + 1] : 0.0f,
			    y > 0 ? in[(y - 1) * N + x] : 0.0f,
			    y < N - 1 ? in[(y + 1) * N + x] : 0.0f,
			};
			for (int k = 0; k < 4; k++)
				v = dilate ? fmaxf(v, nb[k]) : fminf(v, nb[k]);
			out[y * N + x] = v;
		}
	}
}

static float sample(const float *img, float x, float y)
{
	int x0 = (int)floorf(x), y0 = (int)floorf(y);
	float fx = x - (float)x0, fy = y - (float)y0, v = 0.0f;

	if (x0 < -1 || y0 < -1 || x0 >= N || y0 >= N)
		return 0.0f;
	for (int dy = 0; dy < 2; dy++) {
		int yy = y0 + dy;
		if (yy < 0 || yy >= N)
			continue;
		for (int dx = 0; dx < 2; dx++) {
			int xx = x0 + dx;
			if (xx < 0 || xx >= N)
				continue;
			v += img[yy * N + xx] * (dx ? fx : 1.0f - fx) * (dy ? fy : 1.0f - fy);
		}
	}
	return v;
}

void augment_image(const struct augment_params *p, const uint8_t *src, float *dst, uint64_t seed)
{
	float img[AUGMENT_PIXELS], tmp[AUGMENT_PIXELS];
	struct train_rng r;
	const float c = (N - 1) * 0.5f;

	train_rng_init(&r, seed);
	/* Draw every number in a fixed order, whichever branches are taken,
	 * so each parameter's value depends only on the seed. */
	double u_thick = train_rng_uniform(&r);
	double amount = train_rng_uniform(&r);
	double angle =
	    train_rng_range(&r, -p->rotate, p->rotate) * (3.14159265358979323846 / 180.0);
	double scale = 1.0 + train_rng_range(&r, -p->scale, p->scale);
	double shear = train_rng_range(&r, -p->shear, p->shear);
	double tx = train_rng_range(&r, -p->shift, p->shift);
	double ty = train_rng_range(&r, -p->shift, p->shift);

	augment_plain(src, img, AUGMENT_PIXELS);
	if (u_thick < p->thickness) {
		/* Erosion of 1-2 pixel strokes mostly dims them, so it gets the
		 * gentler blend: thinner strokes without losing the digit. */
		bool dilate = u_thick < p->thickness * 0.5;
		float t = (float)(dilate ? 0.5 + 0.5 * amount : 0.25 + 0.35 * amount);
		morph_cross(img, tmp, dilate);
		for (int i = 0; i < AUGMENT_PIXELS; i++)
			img[i] += t * (tmp[i] - img[i]);
	}

	/* M = R(angle) [1 shear; 0 1] s; we need M^-1. */
	double co = cos(angle), si = sin(angle);
	double m00 = scale * co, m01 = scale * (co * shear - si);
	double m10 = scale * si, m11 = scale * (si * shear + co);
	double det = m00 * m11 - m01 * m10;
	float i00 = (float)(m11 / det), i01 = (float)(-m01 / det);
	float i10 = (float)(-m10 / det), i11 = (float)(m00 / det);

	for (int y = 0; y < N; y++) {
		float dy = (float)y - c - (float)ty;
		for (int x = 0; x < N; x++) {
			float dx = (float)x - c - (float)tx;
			float v = sample(img, i00 * dx + i01 * dy + c, i10 * dx + i11 * dy + c);
			dst[y * N + x] = fminf(fmaxf(v, 0.0f), 1.0f);
		}
	}
}

/* The ink's bounding box {x0, y0, x1, y1} (level > 0.3), or the centre
 * square when there is none. */
static void ink_box(const float *img, int box[4])
{
	box[0] = N, box[1] = N, box[2] = -1, box[3] = -1;
	for (int y = 0; y < N; y++) {
		for (int x = 0; x < N; x++) {
			if (img[y * N + x] <= 0.3f)
				continue;
			box[0] = x < box[0] ? x : box[0];
			box[1] = y < box[1] ? y : box[1];
			box[2] = x > box[2] ? x : box[2];
			box[3] = y > box[3] ? y : box[3];
		}
	}
	if (box[2] < 0)
		box[0] = box[1] = 4, box[2] = box[3] = N - 5;
}

/* A straight band through (cx, cy) at angle a (radians), half-width hw,
 * over [t0, t1] of its length: v(d) = level where the band covers the
 * pixel, blended in by op (0: draw as max, 1: erase to (1 - level) of
 * what is there). */
static void band(float *img, double cx, double cy, double a, double hw, double t0, double t1,
                 float level, int erase)
{
	double ux = cos(a), uy = sin(a);

	for (int y = 0; y < N; y++) {
		for (int x = 0; x < N; x++) {
			double dx = x - cx, dy = y - cy, t = dx * ux + dy * uy;
			double d = fabs(-dx * uy + dy * ux), cover = hw + 0.5 - d;
			float *v = &img[y * N + x];

			if (t < t0 || t > t1 || cover <= 0)
				continue;
			cover = cover > 1 ? 1 : cover;
			if (erase)
				*v *= (float)(1.0 - level * cover);
			else
				*v = fmaxf(*v, (float)(level * cover));
		}
	}
}

void augment_artefacts(const struct augment_params *p, float *img, uint64_t seed)
{
	struct train_rng r;
	int box[4], n;
	float tmp[AUGMENT_PIXELS];

	train_rng_init(&r, seed);
	if (train_rng_uniform(&r) >= p->artefacts)
		return;
	ink_box(img, box);
	n = 1 + (int)(train_rng_uniform(&r) * 3);
	for (int k = 0; k < n; k++) {
		/* Every draw made whatever the kind, so each kind's numbers
		 * depend on the seed alone. */
		int kind = (int)(train_rng_uniform(&r) * 5);
		double u1 = train_rng_uniform(&r), u2 = train_rng_uniform(&r);
		double u3 = train_rng_uniform(&r), u4 = train_rng_uniform(&r);
		double cx = box[0] + u1 * (box[2] - box[0] + 1);
		double cy = box[1] + u2 * (box[3] - box[1] + 1);
		/* Ruled lines run across, squared ones also down; a few degrees
		 * of tilt. */
		double a = (u3 < 0.7 ? 0 : 1.5707963) + (u4 - 0.5) * 0.14;

		switch (kind) {
		case 0: /* a line's stub left standing, through or beside the digit */
			band(img, cx, cy, a, 0.3 + 0.5 * u3, -2 - 10 * u4, 2 + 10 * u1,
			     (float)(0.4 + 0.6 * u2), 0);
			break;
		case 1: /* a line taken out where it crossed the strokes */
			band(img, cx, cy, a, 0.4 + 0.6 * u4, -N, N, (float)(0.6 + 0.4 * u1), 1);
			break;
		case 2: { /* a glare patch: part of the digit washed out */
			double rad = 3 + 5 * u3, keep = 0.2 + 0.5 * u4;
			for (int y = 0; y < N; y++)
				for (int x = 0; x < N; x++)
					if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < rad * rad)
						img[y * N + x] *= (float)keep;
			break;
		}
		case 3: { /* a speck beside the digit */
			double sx = u1 < 0.5 ? box[0] - 1 - 3 * u3 : box[2] + 1 + 3 * u3;
			band(img, sx, cy, 6.2831853 * u4, 0.5 + u2, -1 - u2, 1 + u2, 1.0f, 0);
			break;
		}
		default: /* blur and a fainter pen */
			for (int y = 0; y < N; y++) {
				for (int x = 0; x < N; x++) {
					float acc = 0, wsum = 0;
					for (int dy = -1; dy <= 1; dy++) {
						for (int dx = -1; dx <= 1; dx++) {
							int xx = x + dx, yy = y + dy;
							float wt =
							    (dx ? 1.0f : 2.0f) * (dy ? 1.0f : 2.0f);
							if (xx >= 0 && yy >= 0 && xx < N && yy < N)
								acc += wt * img[yy * N + xx];
							wsum += wt;
						}
					}
					tmp[y * N + x] = acc / wsum;
				}
			}
			for (int i = 0; i < AUGMENT_PIXELS; i++)
				img[i] = fminf(1.0f, tmp[i] * (float)(1.2 - 0.5 * u1));
			break;
		}
	}
}
