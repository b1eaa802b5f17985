/*
 * image_work.c - the work picture (see image_work.h): its allocation, the
 * block averages, the browser's RGBA pixels into it, and the step from it
 * to the 28x28 that the server and the browser share.
 */
#include <stdlib.h>
#include <string.h>

#include "image_work.h"

int image_work_alloc(struct image_work *wk, int W, int H)
{
	const int longer = W > H ? W : H;

	wk->W = W, wk->H = H;
	wk->k = (longer + WORK_SIDE - 1) / WORK_SIDE;
	wk->w = (W + wk->k - 1) / wk->k;
	wk->h = (H + wk->k - 1) / wk->k;
	wk->lum = calloc((size_t)wk->w * wk->h * 2 + (size_t)longer, sizeof(float));
	if (!wk->lum)
		return -1;
	wk->clear = wk->lum + (size_t)wk->w * wk->h;
	wk->div = (int *)(wk->clear + (size_t)wk->w * wk->h);
	for (int i = 0; i < longer; i++)
		wk->div[i] = i / wk->k;
	return 0;
}

int image_work_finish(struct image_work *wk)
{
	int any_alpha = 0;

	for (size_t i = 0; i < (size_t)wk->w * wk->h && !any_alpha; i++)
		any_alpha = wk->clear[i] > 0;
	for (int j = 0; j < wk->h; j++) {
		int rows = wk->H - j * wk->k < wk->k ? wk->H - j * wk->k : wk->k;

		for (int i = 0; i < wk->w; i++) {
			int cols = wk->W - i * wk->k < wk->k ? wk->W - i * wk->k : wk->k;
			float inv = 1.0f / (float)(rows * cols);

			wk->lum[j * wk->w + i] *= inv;
			wk->clear[j * wk->w + i] *= inv;
		}
	}
	return any_alpha;
}

void image_luminance_free(struct image_luminance *l)
{
	free(l->lum); /* clear and the work's div live in the same block */
	l->lum = l->clear = NULL;
}

int image_luminance_from_rgba(const uint8_t *rgba, int W, int H, struct image_luminance *out,
                              struct dg_error *err)
{
	struct image_work wk;

	memset(out, 0, sizeof(*out));
	if (image_work_alloc(&wk, W, H) < 0)
		return dg_fail(err, DG_ERR_NOMEM, "no memory for a %dx%d picture", W, H);
	for (int y = 0; y < H; y++) {
		const uint8_t *row = rgba + (size_t)y * W * 4;
		struct image_work_run run = {.bin = (size_t)wk.div[y] * wk.w};

		for (int x = 0; x < W; x++) {
			const uint8_t *p = row + 4 * (size_t)x;

			image_work_run_at(&run, &wk, (size_t)wk.div[y] * wk.w + wk.div[x]);
			/* straight 8-bit alpha as libgd keeps it: 7 bits, 0 opaque */
			image_work_run_pixel(&run, LUM_R * p[0] + LUM_G * p[1] + LUM_B * p[2],
			                     ALPHA_MAX - (p[3] >> 1u));
		}
		image_work_run_flush(&run, &wk);
	}
	out->any_alpha = image_work_finish(&wk);
	out->w = wk.w, out->h = wk.h;
	out->lum = wk.lum, out->clear = wk.clear;
	return 0;
}

int image_luminance_to_mnist(struct image_luminance *l, float out[IMAGE_PIXELS], int *inverted,
                             struct dg_error *err)
{
	struct dg_error e = {0};
	int rc = image_normalise(l->lum, l->w, l->h, out, inverted, &e);

	if (rc < 0 && e.code == DG_ERR_EMPTY && l->any_alpha) {
		/* Blank over white, yet the alpha channel varies: light strokes on a
		 * transparent canvas.  The shape is the opacity: use it as dark ink
		 * (transparency as luminance). */
		memcpy(l->lum, l->clear, (size_t)l->w * l->h * sizeof(float));
		rc = image_normalise(l->lum, l->w, l->h, out, NULL, &e);
		if (inverted)
			*inverted = 0;
	}
	if (rc < 0)
		return dg_fail(err, e.code, "%s", e.msg);
	return 0;
}
