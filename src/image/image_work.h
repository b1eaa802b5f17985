/*
 * image_work.h - decoded pixels to the work picture the normalisation takes
 * (struct image_luminance): composited over white, as luminance (Rec. 601)
 * and transparency, shrunk by k x k block averages so the longer side is
 * at most WORK_SIDE: lum[h][w], clear[h][w], w = ceil(W / k), h = ceil(H / k).
 *
 * Two callers fill it: the server's decoders (image_decode.c's work_fill,
 * libgd's truecolour or palette pixels, EXIF-oriented) and the browser's
 * canvas (image_luminance_from_rgba).  Both go through the runs below, so
 * the same pixels give the same floats, bit for bit, and the same answer.
 * The pass touches every decoded pixel once, so it stays in integers
 * while the pixels are opaque and converts once per run.
 */
#ifndef IMAGE_WORK_H
#define IMAGE_WORK_H

#include <stddef.h>
#include <stdint.h>

#include "image_priv.h"

/* Longest side of the picture handed to the normalisation.  A digit that
 * fills a tenth of a 4096-pixel photo still spans ~50 pixels here, 2.5
 * times the 20 it ends at; beyond that, resolution only costs time (the
 * normalisation's buffers are 16 bytes a pixel, touched on every call). */
#define WORK_SIDE 512

/* 16-bit fixed-point Rec. 601 weights (sum 65536) and their scale to [0,1]. */
#define LUM_R     19595
#define LUM_G     38470
#define LUM_B     7471
#define LUM_SCALE (1.0f / (255.0f * 65536.0f))
/* libgd's 7-bit alpha: 0 opaque, 127 transparent. */
#define ALPHA_MAX 127

struct image_work {
	int W, H; /* the (oriented) source size */
	int w, h, k;
	float *lum, *clear;
	int *div; /* div[i] = i / k for i < max(W, H): no division per pixel */
};

/* The work picture for a W x H source, zeroed, in one malloc'ed block that
 * image_work_finish hands to a struct image_luminance (or free(wk->lum)).
 * Returns -1 when out of memory. */
int image_work_alloc(struct image_work *wk, int W, int H);

/* Source pixels falling in one work pixel, summed in registers; flushed
 * into the work picture when the next pixel falls in another. */
struct image_work_run {
	size_t bin;
	uint64_t opaque; /* LUM_R r + LUM_G g + LUM_B b of opaque pixels */
	float lum, clear;
};

static inline void image_work_run_flush(struct image_work_run *r, struct image_work *wk)
{
	wk->lum[r->bin] += (float)r->opaque * LUM_SCALE + r->lum;
	wk->clear[r->bin] += r->clear;
	r->opaque = 0, r->lum = r->clear = 0;
}

/* Move the run to work pixel bin. */
static inline void image_work_run_at(struct image_work_run *r, struct image_work *wk, size_t bin)
{
	if (bin != r->bin) {
		image_work_run_flush(r, wk);
		r->bin = bin;
	}
}

/* One pixel of weighted luminance l (LUM_R r + LUM_G g + LUM_B b) and
 * 7-bit alpha a, composited over white. */
static inline void image_work_run_pixel(struct image_work_run *r, unsigned l, uint32_t a)
{
	if (!a) {
		r->opaque += l;
	} else {
		float t = (float)a / ALPHA_MAX;

		r->lum += (1.0f - t) * (float)l * LUM_SCALE + t;
		r->clear += t;
	}
}

/* The sums become averages over each block (the last row and column of
 * blocks may be smaller).  Returns whether any pixel was not opaque. */
int image_work_finish(struct image_work *wk);

/* rgba[H][W][4] as a canvas gives it (8-bit, straight alpha, already
 * oriented) into out, as image_decode_luminance makes it of the same
 * pixels decoded from a PNG.  Returns -1 when out of memory (err set). */
int image_luminance_from_rgba(const uint8_t *rgba, int W, int H, struct image_luminance *out,
                              struct dg_error *err);

/* image_normalise of the work picture, and when that finds no ink in a
 * picture whose alpha varies, of its opacity as dark ink (light strokes
 * on a transparent canvas; *inverted is then 0).  Overwrites l->lum in
 * that case; the caller still frees l. */
int image_luminance_to_mnist(struct image_luminance *l, float out[IMAGE_PIXELS], int *inverted,
                             struct dg_error *err);

#endif
