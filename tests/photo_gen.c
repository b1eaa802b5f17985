/*
 * photo_gen.c - phone photos of MNIST digits on paper, and the evaluation of
 * the upload path over a seeded set of them.  See photo_gen.h.
 *
 * A picture is built as light reflected off paper: reflectance (paper colour
 * times fibre texture, times the transmittance of every mark on it: printed
 * lines, the digit, a pen box or underline) times illumination (a gentle
 * gradient always, plus shadow and vignetting), then glare pulls it towards
 * white.  That is one fused pass over the pixels into an 8-bit RGB buffer;
 * dirt specks, optical blur and sensor noise follow, and libgd only encodes.
 * So a 4000x3000 picture costs a few passes over 12 M pixels, not a libgd
 * call per pixel.
 *
 * Every choice draws from train_rng seeded by (seed, what), never from
 * rand(), so a (digit, effects, seed) is the same bytes everywhere.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gd.h>

#include "image/image.h"
#include "engine/nn.h"
#include "bench.h"
#include "photo_gen.h"
#include "rng.h"

#define MAX_BYTES (8u << 20) /* image_limits_default(): an upload above is refused */

static const char *const effect_names[PHOTO_N_EFFECTS] = {
    "shadow",    "vignette", "glare", "ruled",  "grid", "box",
    "underline", "small",    "noise", "pencil", "jpeg", "blur"};

const char *photo_effect_name(enum photo_effect e)
{
	return (unsigned)e < PHOTO_N_EFFECTS ? effect_names[e] : NULL;
}

int photo_effect_by_name(const char *name)
{
	for (int e = 0; e < PHOTO_N_EFFECTS; e++)
		if (strcmp(name, effect_names[e]) == 0)
			return e;
	return -1;
}

char *photo_effects_str(unsigned effects, char *buf, size_t size)
{
	size_t used = 0;

	snprintf(buf, size, "clean");
	for (int e = 0; e < PHOTO_N_EFFECTS && size; e++) {
		if (!(effects & 1u << e))
			continue;
		int k = snprintf(buf + used, size - used, "%s%s", used ? "+" : "", effect_names[e]);
		if (k < 0 || (size_t)k >= size - used)
			break;
		used += (size_t)k;
	}
	return buf;
}

/* ---- random numbers ------------------------------------------------------- */

static float uni(struct train_rng *r, double lo, double hi)
{
	return (float)train_rng_range(r, lo, hi);
}

static int chance(struct train_rng *r, double p)
{
	return train_rng_uniform(r) < p;
}

/* Per-pixel noise: xorshift64, cheaper than splitmix for millions of draws. */
static inline uint64_t xs64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static inline float clampf(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static inline float smoothstep(float e0, float e1, float x)
{
	float t = clampf((x - e0) / (e1 - e0), 0.0f, 1.0f);

	return t * t * (3.0f - 2.0f * t);
}

/* ---- smooth fields: paper fibre, ink pressure, and the light ------------- */

/* Values on a grid of square cells, bilinear in between.  The light is one
 * too: shadow edges, vignetting and glare vary over tens of pixels at least,
 * so computing them exactly every few pixels and interpolating keeps a
 * 12-megapixel picture fast without a visible difference. */
struct field {
	int gw, gh; /* grid points; point (i, j) is at pixel (i cell, j cell) */
	float cell, inv;
	float *v; /* gw x gh */
};

static int field_alloc(struct field *f, int w, int h, float cell)
{
	f->gw = (int)(w / cell) + 3;
	f->gh = (int)(h / cell) + 3;
	f->cell = cell;
	f->inv = 1.0f / cell;
	f->v = malloc(sizeof(float) * f->gw * f->gh);
	return f->v ? 0 : -1;
}

/* Value noise in [-1, 1]. */
static int field_noise(struct field *f, int w, int h, float cell, struct train_rng *r)
{
	if (field_alloc(f, w, h, cell))
		return -1;
	for (int i = 0; i < f->gw * f->gh; i++)
		f->v[i] = uni(r, -1, 1);
	return 0;
}

static inline float field_at(const struct field *f, float x, float y)
{
	float fx = x * f->inv, fy = y * f->inv;
	int ix = (int)fx, iy = (int)fy;

	if (ix < 0)
		ix = 0;
	if (iy < 0)
		iy = 0;
	if (ix > f->gw - 2)
		ix = f->gw - 2;
	if (iy > f->gh - 2)
		iy = f->gh - 2;
	fx -= ix, fy -= iy;
	const float *p = f->v + iy * f->gw + ix;
	float a = p[0] + (p[1] - p[0]) * fx, b = p[f->gw] + (p[f->gw + 1] - p[f->gw]) * fx;

	return a + (b - a) * fy;
}

/* The field along row y at the pixel centres x + 0.5, x < w, into out;
 * tmp holds gw floats. */
static void field_row(const struct field *f, float y, int w, float *tmp, float *out)
{
	float fy = y * f->inv;
	int iy = (int)fy;

	if (iy > f->gh - 2)
		iy = f->gh - 2;
	fy -= iy;
	const float *a = f->v + iy * f->gw, *b = a + f->gw;
	for (int i = 0; i < f->gw; i++)
		tmp[i] = a[i] + (b[i] - a[i]) * fy;
	for (int x = 0; x < w; x++) {
		float fx = (x + 0.5f) * f->inv;
		int ix = (int)fx;
		out[x] = tmp[ix] + (tmp[ix + 1] - tmp[ix]) * (fx - ix);
	}
}

/* ---- the scene ------------------------------------------------------------ */

/* Lines on the paper: a family of parallel lines in the rotated frame
 * (u along, v across), spacing growing along u for a slight perspective. */
struct lines {
	int on;
	float spacing, offset, half_w, persp; /* persp: relative spacing change over the width */
	float col[3];                         /* transmittance where fully covered */
};

struct segment {
	float x0, y0, x1, y1, half_w;
};

struct scene {
	int w, h;
	float long_side, digit_h; /* pixels */
	float paper[3], tex_amp;
	struct field tex, light, glow; /* glow: how far glare pulls to white */
	float gx, gy, g0;              /* illumination = g0 + gx x + gy y */
	float ca, sa;                  /* page rotation: lines run along (ca, sa) */
	struct lines ruled, grid_v;
	int margin;
	float margin_u, margin_hw, margin_col[3];
	int shadow, shadow_blob;
	float sh_nx, sh_ny, sh_c, sh_soft, sh_depth;
	float sh_cx, sh_cy, sh_rx, sh_ry;
	int vignette;
	float vg_cx, vg_cy, vg_inv_r2, vg_k, vg_a, vg_min;
	int glare;
	float gl_cx, gl_cy, gl_ca, gl_sa, gl_irx, gl_iry, gl_str;
	/* the ink layer: a rectangle holding the digit and the pen marks */
	int lx, ly, lw, lh;
	uint8_t *dcov, *pcov; /* coverage 0..255 of digit ink and of pen marks */
	float ink[3], pen[3]; /* transmittance of digit ink and pen at full cover */
	struct segment seg[8];
	int nseg;
};

/* The MNIST ink's bounding box at level lv (0..255), in the 28x28. */
static void mnist_bbox(const uint8_t *px, int lv, int *x0, int *y0, int *x1, int *y1)
{
	*x0 = *y0 = 28, *x1 = *y1 = -1;
	for (int y = 0; y < 28; y++)
		for (int x = 0; x < 28; x++)
			if (px[y * 28 + x] >= lv) {
				*x0 = x < *x0 ? x : *x0, *x1 = x > *x1 ? x : *x1;
				*y0 = y < *y0 ? y : *y0, *y1 = y > *y1 ? y : *y1;
			}
}

static inline float cubic_w(float t, int k)
{
	/* Catmull-Rom weights for taps -1, 0, 1, 2 at fraction t */
	float t2 = t * t, t3 = t2 * t;

	switch (k) {
	case 0:
		return 0.5f * (-t3 + 2 * t2 - t);
	case 1:
		return 0.5f * (3 * t3 - 5 * t2 + 2);
	case 2:
		return 0.5f * (-3 * t3 + 4 * t2 + t);
	default:
		return 0.5f * (t3 - t2);
	}
}

/* The 28x28 in [0,1], lightly smoothed ([1 2 1]/4 each way, with a little
 * of the original kept): MNIST's pixel-level ragged edges would otherwise
 * come out of the bicubic as wobbly outlines no pen makes. */
static void smooth28(const uint8_t *px, float out[784])
{
	float tmp[784];

	for (int y = 0; y < 28; y++)
		for (int x = 0; x < 28; x++) {
			float l = x > 0 ? px[y * 28 + x - 1] : 0,
			      r = x < 27 ? px[y * 28 + x + 1] : 0;
			tmp[y * 28 + x] = (l + 2.0f * px[y * 28 + x] + r) / (4 * 255.0f);
		}
	for (int y = 0; y < 28; y++)
		for (int x = 0; x < 28; x++) {
			float u = y > 0 ? tmp[(y - 1) * 28 + x] : 0,
			      d = y < 27 ? tmp[(y + 1) * 28 + x] : 0;
			float sm = (u + 2 * tmp[y * 28 + x] + d) / 4;
			out[y * 28 + x] = 0.7f * sm + 0.3f * px[y * 28 + x] / 255.0f;
		}
}

/* Bicubic sample of the 28x28 (values 0..1, zero outside) at (u, v), pixel
 * centres at integers. */
static float mnist_sample(const float *img, float u, float v)
{
	int iu = (int)floorf(u), iv = (int)floorf(v);
	float fu = u - iu, fv = v - iv, wu[4], wv[4], sum = 0;

	if (iu < -2 || iv < -2 || iu > 28 || iv > 28)
		return 0;
	for (int k = 0; k < 4; k++)
		wu[k] = cubic_w(fu, k), wv[k] = cubic_w(fv, k);
	for (int j = 0; j < 4; j++) {
		int y = iv - 1 + j;
		float row = 0;

		if (y < 0 || y >= 28)
			continue;
		for (int i = 0; i < 4; i++) {
			int x = iu - 1 + i;
			if (x >= 0 && x < 28)
				row += wu[i] * img[y * 28 + x];
		}
		sum += wv[j] * row;
	}
	return sum;
}

static void set_ink(float ink[3], struct train_rng *r)
{
	static const float kinds[][3] = {
	    {0.10f, 0.10f, 0.12f}, /* black ballpoint / gel */
	    {0.15f, 0.17f, 0.30f}, /* blue-black */
	    {0.18f, 0.24f, 0.52f}, /* blue ballpoint */
	    {0.07f, 0.07f, 0.08f}, /* black felt tip */
	};
	const float *k = kinds[train_rng_below(r, 4)];
	float j = uni(r, 0.85, 1.25);

	for (int c = 0; c < 3; c++)
		ink[c] = clampf(k[c] * j, 0.03f, 0.7f);
}

static void segment_cover(struct scene *s, const struct segment *g)
{
	float pad = g->half_w + 1.5f;
	int x0 = (int)floorf(fminf(g->x0, g->x1) - pad) - s->lx;
	int x1 = (int)ceilf(fmaxf(g->x0, g->x1) + pad) - s->lx;
	int y0 = (int)floorf(fminf(g->y0, g->y1) - pad) - s->ly;
	int y1 = (int)ceilf(fmaxf(g->y0, g->y1) + pad) - s->ly;
	float dx = g->x1 - g->x0, dy = g->y1 - g->y0, len2 = dx * dx + dy * dy;

	x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
	x1 = x1 > s->lw ? s->lw : x1, y1 = y1 > s->lh ? s->lh : y1;
	for (int y = y0; y < y1; y++) {
		for (int x = x0; x < x1; x++) {
			float px = (float)(x + s->lx) - g->x0, py = (float)(y + s->ly) - g->y0;
			float t = len2 > 0 ? clampf((px * dx + py * dy) / len2, 0, 1) : 0;
			float ex = px - t * dx, ey = py - t * dy;
			float c = clampf(g->half_w + 0.5f - sqrtf(ex * ex + ey * ey), 0, 1);
			uint8_t v = (uint8_t)(c * 255.0f + 0.5f), *p = s->pcov + y * s->lw + x;

			if (v > *p)
				*p = v;
		}
	}
}

/* Everything but the per-pixel work: sizes, placement, colours, effects. */
static int scene_plan(struct scene *s, const uint8_t *mnist, unsigned fx, struct train_rng *r,
                      int box[4])
{
	static const float aspects[] = {4.0f / 3, 3.0f / 2, 16.0f / 9, 1.0f, 5.0f / 4};
	int small = !!(fx & 1u << PHOTO_SMALL);
	float aspect = aspects[train_rng_below(r, 5)];
	float L = small ? uni(r, 2000, 4000) : uni(r, 480, 1600);
	int portrait = chance(r, 0.5);
	int bx0, by0, bx1, by1;

	memset(s, 0, sizeof(*s));
	if (small && L / aspect > 3000)
		aspect = L / 3000; /* at most 4000x3000, as phones take them */
	s->w = (int)(portrait ? L / aspect : L);
	s->h = (int)(portrait ? L : L / aspect);
	s->long_side = L;

	/* The digit: its MNIST ink box (faint pixels excluded) scaled so its
	 * height is the chosen share of the picture's height. */
	mnist_bbox(mnist, 100, &bx0, &by0, &bx1, &by1);
	if (bx1 < 0)
		return -1;
	float frac = small ? uni(r, 0.08, 0.15) : uni(r, 0.25, 0.60);
	float src_h = (float)(by1 - by0 + 1), src_w = (float)(bx1 - bx0 + 1);
	float scale = frac * s->h / src_h;
	if (src_w * scale > 0.8f * s->w) /* a wide digit in a narrow portrait */
		scale = 0.8f * s->w / src_w;
	float dh = src_h * scale, dw = src_w * scale;
	s->digit_h = dh;

	/* Marks around it, as extents beyond the digit box (left, top, right, bottom). */
	float ext[4] = {0, 0, 0, 0};
	float stroke = 2.2f * scale; /* an MNIST stroke is about 2-3 pixels */
	float bm[4] = {0, 0, 0, 0}, ul_gap = 0, ul_l = 0, ul_r = 0;
	if (fx & 1u << PHOTO_BOX) {
		float ref = fmaxf(dw, 0.55f * dh); /* a form field is wider than a "1" */
		for (int k = 0; k < 4; k++)
			bm[k] = uni(r, 0.05, 0.40) * (k & 1 ? dh : ref);
		for (int k = 0; k < 4; k++)
			ext[k] = bm[k] + stroke;
	}
	if (fx & 1u << PHOTO_UNDERLINE) {
		float ref = fmaxf(dw, 0.5f * dh);
		ul_gap = uni(r, 0.04, 0.15) * dh;
		ul_l = uni(r, 0.05, 0.25) * ref;
		ul_r = uni(r, 0.05, 0.25) * ref;
		ext[0] = fmaxf(ext[0], ul_l + stroke), ext[2] = fmaxf(ext[2], ul_r + stroke);
		ext[3] = fmaxf(ext[3], ul_gap + 0.1f * dh + stroke);
	}

	/* Placement: off-centre, anywhere the digit and its marks fit with a
	 * border of 3 % of the picture. */
	float border = 0.03f * fminf(s->w, s->h);
	float xlo = border + ext[0], xhi = s->w - border - ext[2] - dw;
	float ylo = border + ext[1], yhi = s->h - border - ext[3] - dh;
	float dx0 = xhi > xlo ? uni(r, xlo, xhi) : (s->w - dw) / 2;
	float dy0 = yhi > ylo ? uni(r, ylo, yhi) : (s->h - dh) / 2;
	/* The 28x28 cell maps so that source (bx0, by0) lands on (dx0, dy0). */
	float angle = uni(r, -3, 3) * (float)M_PI / 180;
	float cx = dx0 + dw / 2, cy = dy0 + dh / 2;               /* digit centre, picture */
	float ucx = (bx0 + bx1) / 2.0f, ucy = (by0 + by1) / 2.0f; /* and in the 28x28 */

	/* Paper, light, page tilt: every photo has them. */
	float expo = uni(r, 0.80, 0.97), warm = uni(r, -0.05, 0.06);
	s->paper[0] = expo * (0.97f + warm * 0.5f);
	s->paper[1] = expo * 0.96f;
	s->paper[2] = expo * (0.93f - warm);
	s->tex_amp = (fx & 1u << PHOTO_NOISE) ? uni(r, 0.03, 0.06) : uni(r, 0.008, 0.02);
	if (field_noise(&s->tex, s->w, s->h, fmaxf(2.0f, L / uni(r, 250, 500)), r))
		return -1;
	float gdir = uni(r, 0, 2 * M_PI), gamp = uni(r, 0.03, 0.10);
	float gxu = cosf(gdir), gyu = sinf(gdir);
	float pmin = fminf(0, gxu * s->w) + fminf(0, gyu * s->h);
	float pmax = fmaxf(0, gxu * s->w) + fmaxf(0, gyu * s->h);
	s->gx = -gamp * gxu / (pmax - pmin), s->gy = -gamp * gyu / (pmax - pmin);
	s->g0 = 1 + gamp * pmin / (pmax - pmin);
	float tilt = uni(r, -4, 4) * (float)M_PI / 180;
	s->ca = cosf(tilt), s->sa = sinf(tilt);

	set_ink(s->ink, r);
	if (fx & 1u << PHOTO_PENCIL) {
		float d = uni(r, 0.25, 0.35); /* graphite: 25-35 % darker than paper */
		s->ink[0] = s->ink[1] = 1 - d, s->ink[2] = 1 - d * 0.95f;
	}
	if (chance(r, 0.6))
		memcpy(s->pen, s->ink, sizeof(s->pen));
	else
		set_ink(s->pen, r);

	/* Ruled or squared paper; a ruled line under the digit half the time,
	 * as people write on the line. */
	if (fx & (1u << PHOTO_RULED | 1u << PHOTO_GRID)) {
		struct lines *ln = &s->ruled;
		int grid = !!(fx & 1u << PHOTO_GRID);
		float g = uni(r, 0.55, 0.80);

		ln->on = 1;
		ln->spacing = uni(r, 0.30, 0.60) * dh;
		/* printed rules are 0.15-0.3 mm at 5-8 mm spacing */
		ln->half_w = 0.5f * fmaxf(1.0f, uni(r, 0.02, 0.045) * ln->spacing);
		ln->persp = chance(r, 0.5) ? uni(r, -0.12, 0.12) : 0;
		if (chance(r, 0.5)) { /* blue-grey */
			ln->col[0] = g * 0.80f, ln->col[1] = g * 0.90f,
			ln->col[2] = fminf(1, g * 1.15f);
		} else if (grid && chance(r, 0.3)) { /* green engineering paper */
			ln->col[0] = g * 0.85f, ln->col[1] = fminf(1, g * 1.05f),
			ln->col[2] = g * 0.88f;
		} else {
			ln->col[0] = ln->col[1] = ln->col[2] = g;
		}
		/* v of the digit's bottom, in the rotated frame */
		float vb = -s->sa * cx + s->ca * (dy0 + dh);
		ln->offset = chance(r, 0.5) ? vb : uni(r, 0, ln->spacing);
		if (grid) {
			s->grid_v = *ln;
			s->grid_v.offset = uni(r, 0, ln->spacing);
		} else if (chance(r, 0.4)) {
			/* a red margin line, left of the writing when there is room */
			float ul = s->ca * (dx0 - ext[0]) + s->sa * cy;
			float mu = uni(r, 0.06, 0.15) * s->w;
			if (mu < ul - 0.03f * s->w) {
				s->margin = 1;
				s->margin_u = mu;
				s->margin_hw = ln->half_w * uni(r, 1.0, 1.5);
				s->margin_col[0] = 0.95f, s->margin_col[1] = uni(r, 0.45, 0.6);
				s->margin_col[2] = s->margin_col[1] + 0.05f;
			}
		}
	}

	if (fx & 1u << PHOTO_SHADOW) {
		float px = cx + uni(r, -1.2, 1.2) * dh, py = cy + uni(r, -1.2, 1.2) * dh;
		s->shadow = 1;
		s->sh_depth = uni(r, 0.35, 0.70);
		if (chance(r, 0.7)) { /* the edge of a hand's or phone's shadow */
			float a = uni(r, 0, 2 * M_PI);
			s->sh_nx = cosf(a), s->sh_ny = sinf(a);
			s->sh_c = s->sh_nx * px + s->sh_ny * py;
			s->sh_soft = uni(r, 0.01, 0.08) * L;
		} else { /* a blob */
			s->shadow_blob = 1;
			s->sh_cx = px + uni(r, -1, 1) * dh, s->sh_cy = py + uni(r, -1, 1) * dh;
			s->sh_rx = uni(r, 0.3, 0.8) * s->h, s->sh_ry = uni(r, 0.3, 0.8) * s->h;
			s->sh_soft = uni(r, 0.1, 0.3);
		}
	}
	if (fx & 1u << PHOTO_VIGNETTE) {
		s->vignette = 1;
		s->vg_cx = s->w * uni(r, 0.4, 0.6), s->vg_cy = s->h * uni(r, 0.4, 0.6);
		/* r2 = 1 at the farthest corner, which gets exactly the corner value */
		float fx_ = fmaxf(s->vg_cx, s->w - s->vg_cx),
		      fy_ = fmaxf(s->vg_cy, s->h - s->vg_cy);
		s->vg_inv_r2 = 1 / (fx_ * fx_ + fy_ * fy_);
		float corner = uni(r, 0.40, 0.70);
		s->vg_k = 1 - corner, s->vg_a = uni(r, 0.3, 1), s->vg_min = corner;
	}
	if (fx & 1u << PHOTO_GLARE) {
		float a = uni(r, 0, 2 * M_PI), rx = uni(r, 0.12, 0.35) * L;
		s->glare = 1;
		if (chance(r, 0.5)) { /* touching the digit, not drowning it */
			float d = uni(r, 0.4, 1.0) * dh + rx * 0.3f, b = uni(r, 0, 2 * M_PI);
			s->gl_cx = cx + d * cosf(b), s->gl_cy = cy + d * sinf(b);
			s->gl_str = uni(r, 0.55, 0.80);
		} else {
			s->gl_cx = uni(r, 0, s->w), s->gl_cy = uni(r, 0, s->h);
			s->gl_str = uni(r, 0.70, 0.97);
		}
		s->gl_ca = cosf(a), s->gl_sa = sinf(a);
		s->gl_irx = 1 / rx, s->gl_iry = 1 / (rx * uni(r, 0.4, 1.0));
	}

	/* The ink layer: the rotated 28x28 cell plus the marks. */
	float half = 14 * scale * 1.45f; /* half diagonal of the cell, rotated anywhere */
	float lx0 = fminf(cx - half, dx0 - ext[0]), ly0 = fminf(cy - half, dy0 - ext[1]);
	float lx1 = fmaxf(cx + half, dx0 + dw + ext[2]), ly1 = fmaxf(cy + half, dy0 + dh + ext[3]);
	s->lx = (int)fmaxf(0, floorf(lx0)), s->ly = (int)fmaxf(0, floorf(ly0));
	s->lw = (int)fminf(s->w, ceilf(lx1)) - s->lx, s->lh = (int)fminf(s->h, ceilf(ly1)) - s->ly;
	s->dcov = calloc((size_t)s->lw * s->lh, 1);
	s->pcov = calloc((size_t)s->lw * s->lh, 1);
	if (!s->dcov || !s->pcov)
		return -1;

	/* The digit: bicubic, then a soft threshold so edges are an ink edge
	 * about 1.5 pixels wide whatever the scale; pen pressure varies a little
	 * along the stroke; graphite is grainy. */
	float img[784], thr = uni(r, 0.40, 0.55), wd = clampf(0.6f / scale, 0.015f, 0.25f);
	int pencil = !!(fx & 1u << PHOTO_PENCIL);
	struct field press;
	uint64_t grain = train_rng_next(r) | 1;
	if (pencil)
		wd *= 2;
	smooth28(mnist, img);
	if (field_noise(&press, s->lw, s->lh, fmaxf(4, 0.3f * dh), r))
		return -1;
	float is = 1 / scale, ca = cosf(angle), sa = sinf(angle);
	int minx = s->w, miny = s->h, maxx = -1, maxy = -1;
	for (int y = 0; y < s->lh; y++) {
		for (int x = 0; x < s->lw; x++) {
			float px = x + s->lx + 0.5f - cx, py = y + s->ly + 0.5f - cy;
			float u = ucx + (ca * px + sa * py) * is,
			      v = ucy + (-sa * px + ca * py) * is;
			float c = smoothstep(thr - wd, thr + wd, mnist_sample(img, u, v));

			if (c <= 0)
				continue;
			c *= 1 - 0.08f * (field_at(&press, x, y) + 1) * 0.5f;
			if (pencil) /* graphite grain, about full density on average */
				c *= 0.8f +
				     0.4f * (float)(xs64(&grain) >> 40) * (1.0f / 16777216.0f);
			c = clampf(c, 0, 1);
			s->dcov[y * s->lw + x] = (uint8_t)(c * 255 + 0.5f);
			if (c >= 0.5f) {
				int X = x + s->lx, Y = y + s->ly;
				minx = X < minx ? X : minx, maxx = X > maxx ? X : maxx;
				miny = Y < miny ? Y : miny, maxy = Y > maxy ? Y : maxy;
			}
		}
	}
	free(press.v);
	if (maxx < 0)
		return -1;
	box[0] = minx, box[1] = miny, box[2] = maxx - minx + 1, box[3] = maxy - miny + 1;

	/* A form field around it: drawn by hand (corners off, sometimes not
	 * closed) or printed (thin, exact). */
	if (fx & 1u << PHOTO_BOX) {
		float x0 = minx - bm[0], y0 = miny - bm[1], x1 = maxx + bm[2], y1 = maxy + bm[3];
		float j = 0.03f * fmaxf(x1 - x0, y1 - y0);
		float hw = 0.5f * (chance(r, 0.35) ? fmaxf(1, uni(r, 1, 2.5) * L / 1600)
		                                   : stroke * uni(r, 0.3, 0.6));
		float cxs[4] = {x0, x1, x1, x0}, cys[4] = {y0, y0, y1, y1};
		int open = chance(r, 0.35) ? (int)train_rng_below(r, 4) : -1;

		if (hw > 1.5f) /* hand-drawn */
			for (int k = 0; k < 4; k++)
				cxs[k] += uni(r, -j, j), cys[k] += uni(r, -j, j);
		for (int k = 0; k < 4; k++) {
			struct segment *g = &s->seg[s->nseg++];
			g->x0 = cxs[k], g->y0 = cys[k];
			g->x1 = cxs[(k + 1) % 4], g->y1 = cys[(k + 1) % 4];
			g->half_w = hw;
			if (k == open) { /* stop short of the corner */
				float t = uni(r, 0.7, 0.9);
				g->x1 = g->x0 + t * (g->x1 - g->x0),
				g->y1 = g->y0 + t * (g->y1 - g->y0);
			}
		}
	}
	if (fx & 1u << PHOTO_UNDERLINE) {
		float y = maxy + ul_gap, xa = minx - ul_l, xb = maxx + ul_r;
		float xm = (xa + xb) / 2 + uni(r, -0.1, 0.1) * (xb - xa);
		float ya = y + uni(r, -0.04, 0.04) * dh, yb = y + uni(r, -0.04, 0.04) * dh;
		float ym = (ya + yb) / 2 + uni(r, -0.03, 0.03) * dh; /* a hand's slight bow */
		float hw = 0.5f * stroke * uni(r, 0.5, 1.0);
		s->seg[s->nseg++] = (struct segment){xa, ya, xm, ym, hw};
		s->seg[s->nseg++] = (struct segment){xm, ym, xb, yb, hw};
	}
	for (int k = 0; k < s->nseg; k++)
		segment_cover(s, &s->seg[k]);
	return 0;
}

/* Illumination (gradient, shadow, vignetting) and glare at a point. */
static void light_at(const struct scene *s, float x, float y, float *light, float *glow)
{
	float l = s->g0 + s->gx * x + s->gy * y, g = 0;

	if (s->shadow) {
		float sh;
		if (s->shadow_blob) {
			float dx = (x - s->sh_cx) / s->sh_rx, dy = (y - s->sh_cy) / s->sh_ry;
			sh = 1 -
			     smoothstep(1 - s->sh_soft, 1 + s->sh_soft, sqrtf(dx * dx + dy * dy));
		} else {
			sh = smoothstep(-s->sh_soft, s->sh_soft,
			                s->sh_nx * x + s->sh_ny * y - s->sh_c);
		}
		l *= 1 - (1 - s->sh_depth) * sh;
	}
	if (s->vignette) {
		float dx = x - s->vg_cx, dy = y - s->vg_cy;
		float r2 = (dx * dx + dy * dy) * s->vg_inv_r2;
		l *= fmaxf(s->vg_min, 1 - s->vg_k * (s->vg_a * r2 + (1 - s->vg_a) * r2 * r2));
	}
	if (s->glare) {
		float dx = x - s->gl_cx, dy = y - s->gl_cy;
		float a = (s->gl_ca * dx + s->gl_sa * dy) * s->gl_irx;
		float b = (-s->gl_sa * dx + s->gl_ca * dy) * s->gl_iry;
		float q = a * a + b * b;
		if (q < 1)
			g = s->gl_str * smoothstep(0, 1, 1 - q) * (2 - q) * 0.5f; /* soft rim */
	}
	*light = l, *glow = g;
}

static int light_fields(struct scene *s)
{
	/* a grid point every ~0.2 % of the picture: finer than any soft edge */
	float cell = fmaxf(1, floorf(s->long_side / 500));

	if (field_alloc(&s->light, s->w, s->h, cell) || field_alloc(&s->glow, s->w, s->h, cell))
		return -1;
	for (int j = 0; j < s->light.gh; j++)
		for (int i = 0; i < s->light.gw; i++)
			light_at(s, i * cell, j * cell, &s->light.v[j * s->light.gw + i],
			         &s->glow.v[j * s->light.gw + i]);
	return 0;
}

/* Coverage of the nearest line of a family at v (across) and u (along). */
static inline float line_cover(const struct lines *ln, float u, float v, float inv_w)
{
	float sp = ln->spacing * (1 + ln->persp * (u * inv_w - 0.5f)), isp = 1 / sp;
	float t = (v - ln->offset) * isp + 1024.0f; /* positive, so truncation floors */
	float d = fabsf(t - (float)(int)(t + 0.5f)) * sp;

	return clampf(ln->half_w + 0.5f - d, 0, 1);
}

static inline uint8_t to_byte(float v)
{
	return (uint8_t)(clampf(v, 0, 1) * 255 + 0.5f);
}

/* The fused pass: reflectance times light, glare, into 8-bit RGB. */
static int scene_shade(struct scene *s, uint8_t *rgb)
{
	int gmax = s->tex.gw > s->light.gw ? s->tex.gw : s->light.gw;
	float *rows = malloc(sizeof(float) * ((size_t)s->w * 3 + gmax));
	float *tex = rows, *light = rows + s->w, *glow = rows + 2 * s->w, *tmp = rows + 3 * s->w;

	float inv_w = 1.0f / s->w, inv_h = 1.0f / s->h;

	if (!rows)
		return -1;
	for (int y = 0; y < s->h; y++) {
		uint8_t *o = rgb + (size_t)y * s->w * 3;
		int in_layer = y >= s->ly && y < s->ly + s->lh;
		float fy = y + 0.5f;

		field_row(&s->tex, fy, s->w, tmp, tex);
		field_row(&s->light, fy, s->w, tmp, light);
		if (s->glare)
			field_row(&s->glow, fy, s->w, tmp, glow);
		for (int x = 0; x < s->w; x++, o += 3) {
			float fxp = x + 0.5f;
			float t = 1 + s->tex_amp * tex[x];
			float tr[3] = {t, t, t};

			if (s->ruled.on || s->margin) {
				float u = s->ca * fxp + s->sa * fy, v = -s->sa * fxp + s->ca * fy;
				float c = s->ruled.on ? line_cover(&s->ruled, u, v, inv_w) : 0;
				if (s->grid_v.on)
					c = fmaxf(c, line_cover(&s->grid_v, v, u, inv_h));
				for (int k = 0; k < 3; k++)
					tr[k] *= 1 - c * (1 - s->ruled.col[k]);
				if (s->margin) {
					float m = clampf(
					    s->margin_hw + 0.5f - fabsf(u - s->margin_u), 0, 1);
					for (int k = 0; k < 3; k++)
						tr[k] *= 1 - m * (1 - s->margin_col[k]);
				}
			}
			if (in_layer && x >= s->lx && x < s->lx + s->lw) {
				size_t i = (size_t)(y - s->ly) * s->lw + (x - s->lx);
				float d = s->dcov[i] * (1.0f / 255), p = s->pcov[i] * (1.0f / 255);
				for (int k = 0; k < 3; k++)
					tr[k] *=
					    (1 - d * (1 - s->ink[k])) * (1 - p * (1 - s->pen[k]));
			}
			float gl = s->glare ? glow[x] : 0;
			for (int k = 0; k < 3; k++) {
				float v = s->paper[k] * tr[k] * light[x];
				o[k] = to_byte(v + (1 - v) * gl);
			}
		}
	}
	free(rows);
	return 0;
}

/* Dirt on the paper and the lens: small dark dots, a few bigger and fainter. */
static void add_specks(const struct scene *s, uint8_t *rgb, struct train_rng *r)
{
	int n = (int)((float)s->w * s->h / uni(r, 4000, 15000));
	float sc = s->long_side / 1000;

	if (n > 3000)
		n = 3000;
	for (int i = 0; i < n; i++) {
		int big = chance(r, 0.1);
		float rad = (big ? uni(r, 2, 4) : uni(r, 0.5, 1.8)) * fmaxf(1, sc);
		float depth = big ? uni(r, 0.1, 0.35) : uni(r, 0.25, 0.7);
		float px = uni(r, 0, s->w), py = uni(r, 0, s->h);
		float col[3] = {1 - depth, 1 - depth * 0.95f, 1 - depth * 0.85f}; /* brownish */

		for (int y = (int)(py - rad - 1); y <= (int)(py + rad + 1); y++) {
			if (y < 0 || y >= s->h)
				continue;
			for (int x = (int)(px - rad - 1); x <= (int)(px + rad + 1); x++) {
				if (x < 0 || x >= s->w)
					continue;
				float dx = x + 0.5f - px, dy = y + 0.5f - py;
				float c = clampf(rad + 0.5f - sqrtf(dx * dx + dy * dy), 0, 1);
				uint8_t *o = rgb + ((size_t)y * s->w + x) * 3;
				for (int k = 0; k < 3; k++)
					o[k] = (uint8_t)(o[k] * (1 - c * (1 - col[k])) + 0.5f);
			}
		}
	}
}

/* One box-filter pass of radius rad along a row of n RGB pixels, in
 * place, through pad (n + 2 rad + 1 pixels): the row with its end pixels
 * repeated rad times, so the running sum needs no bounds checks.  Three
 * passes approximate a gaussian of variance rad (rad + 1). */
static void box_row(uint8_t *row, int n, int rad, uint8_t *pad)
{
	unsigned s0 = 0, s1 = 0, s2 = 0, mul = 65536u / (2u * rad + 1); /* x mul >> 16: / (2r+1) */
	int len = n + 2 * rad;

	for (int i = 0; i < rad; i++) {
		memcpy(pad + i * 3, row, 3);
		memcpy(pad + (size_t)(rad + n + i) * 3, row + (size_t)(n - 1) * 3, 3);
	}
	memcpy(pad + (size_t)rad * 3, row, (size_t)n * 3);
	memset(pad + (size_t)len * 3, 0, 3);
	for (int i = 0; i < 2 * rad + 1; i++)
		s0 += pad[i * 3], s1 += pad[i * 3 + 1], s2 += pad[i * 3 + 2];
	for (int i = 0; i < n; i++) {
		const uint8_t *a = pad + (size_t)(i + 2 * rad + 1) * 3, *b = pad + (size_t)i * 3;
		row[i * 3] = (uint8_t)((s0 * mul + 32768) >> 16);
		row[i * 3 + 1] = (uint8_t)((s1 * mul + 32768) >> 16);
		row[i * 3 + 2] = (uint8_t)((s2 * mul + 32768) >> 16);
		s0 += a[0] - b[0], s1 += a[1] - b[1], s2 += a[2] - b[2];
	}
}

/* The same down the columns, a whole row of running sums at a time so the
 * memory is read in order. */
static void box_cols(const uint8_t *src, uint8_t *dst, int w, int h, int rad, unsigned *sum)
{
	size_t n = (size_t)w * 3;
	unsigned mul = 65536u / (2u * rad + 1);

	memset(sum, 0, n * sizeof(*sum));
	for (int i = -rad; i <= rad; i++) {
		const uint8_t *row = src + (size_t)(i < 0 ? 0 : i >= h ? h - 1 : i) * n;
		for (size_t k = 0; k < n; k++)
			sum[k] += row[k];
	}
	for (int y = 0; y < h; y++) {
		const uint8_t *add = src + (size_t)(y + rad + 1 >= h ? h - 1 : y + rad + 1) * n;
		const uint8_t *sub = src + (size_t)(y - rad < 0 ? 0 : y - rad) * n;
		uint8_t *o = dst + (size_t)y * n;
		for (size_t k = 0; k < n; k++) {
			o[k] = (uint8_t)((sum[k] * mul + 32768) >> 16);
			sum[k] += add[k] - sub[k];
		}
	}
}

/* Out of focus: a gaussian of sigma pixels, as three box filters. */
static int blur(uint8_t *rgb, int w, int h, float sigma)
{
	int rad = (int)((-1 + sqrtf(1 + 4 * sigma * sigma)) / 2 + 0.5f);
	size_t n = (size_t)w * 3;
	uint8_t *tmp;
	unsigned *sum;

	if (rad < 1)
		return 0;
	tmp = malloc(n * h);
	sum = malloc(n * sizeof(*sum));
	if (!tmp || !sum) {
		free(tmp);
		free(sum);
		return -1;
	}
	for (int y = 0; y < h; y++)
		for (int pass = 0; pass < 3; pass++)
			box_row(rgb + y * n, w, rad, tmp); /* tmp as the pad */
	box_cols(rgb, tmp, w, h, rad, sum);
	box_cols(tmp, rgb, w, h, rad, sum);
	box_cols(rgb, tmp, w, h, rad, sum);
	memcpy(rgb, tmp, n * h);
	free(tmp);
	free(sum);
	return 0;
}

/* Sensor noise on the way into libgd: one 64-bit draw a pixel, three 16-bit
 * uniforms summed for the luminance noise (Irwin-Hall, near enough to a
 * gaussian), one for a little chroma noise. */
static gdImagePtr to_gd(const uint8_t *rgb, int w, int h, float sigma, uint64_t seed)
{
	gdImagePtr im = gdImageCreateTrueColor(w, h);
	float ls = sigma * 255 * 2.0f / 65536, cs = sigma * 255 * 0.35f * 3.46f / 65536;
	uint64_t st = seed | 1;

	if (!im)
		return NULL;
	for (int y = 0; y < h; y++) {
		const uint8_t *p = rgb + (size_t)y * w * 3;
		int *row = im->tpixels[y];

		for (int x = 0; x < w; x++, p += 3) {
			uint64_t b = xs64(&st);
			/* three uniforms: variance 3/12, so sd 0.5 in units of 65536 */
			float l =
			    ls * ((float)((b & 0xffff) + (b >> 16 & 0xffff) + (b >> 32 & 0xffff)) -
			          98304.0f);
			float c = cs * ((float)(b >> 48) - 32768.0f);
			int rr = (int)(p[0] + l + c + 256.5f) - 256,
			    gg = (int)(p[1] + l + 256.5f) - 256;
			int bb = (int)(p[2] + l - c + 256.5f) - 256;

			rr = rr < 0 ? 0 : rr > 255 ? 255 : rr;
			gg = gg < 0 ? 0 : gg > 255 ? 255 : gg;
			bb = bb < 0 ? 0 : bb > 255 ? 255 : bb;
			row[x] = gdTrueColor(rr, gg, bb);
		}
	}
	return im;
}

int photo_render(const uint8_t mnist[784], unsigned effects, uint64_t seed, struct photo *out)
{
	struct train_rng r;
	struct scene s;
	uint8_t *rgb = NULL;
	gdImagePtr im = NULL;
	int rc = -1, q, size = 0;
	void *enc = NULL;

	memset(out, 0, sizeof(*out));
	train_rng_init(&r, train_seed3(seed, 0x70686f746fULL, effects));
	if (scene_plan(&s, mnist, effects, &r, out->digit_box))
		goto out;
	rgb = malloc((size_t)s.w * s.h * 3);
	if (!rgb)
		goto out;
	if (light_fields(&s) || scene_shade(&s, rgb))
		goto out;
	if (effects & 1u << PHOTO_NOISE)
		add_specks(&s, rgb, &r);
	if (effects & 1u << PHOTO_BLUR && blur(rgb, s.w, s.h, uni(&r, 0.01, 0.03) * s.digit_h))
		goto out;
	float sigma = (effects & 1u << PHOTO_NOISE) ? uni(&r, 0.02, 0.05) : uni(&r, 0.004, 0.012);
	im = to_gd(rgb, s.w, s.h, sigma, train_rng_next(&r));
	if (!im)
		goto out;

	/* JPEG mostly, as phones send; PNG sometimes (screenshots, scanner
	 * apps), never for pictures that would exceed the upload limit. */
	out->jpeg = (effects & 1u << PHOTO_JPEG) || s.long_side > 1600 || !chance(&r, 0.15);
	q = (effects & 1u << PHOTO_JPEG) ? (int)uni(&r, 8, 26) : (int)uni(&r, 75, 93);
	for (;;) {
		enc = out->jpeg ? gdImageJpegPtr(im, &size, q) : gdImagePngPtrEx(im, &size, 3);
		if (!enc || size <= 0)
			goto out;
		if ((unsigned)size <= MAX_BYTES - 65536 || !out->jpeg || q <= 40)
			break;
		gdFree(enc); /* a phone would have compressed harder: so do we */
		enc = NULL;
		q -= 12;
	}
	out->bytes = malloc((size_t)size);
	if (!out->bytes)
		goto out;
	memcpy(out->bytes, enc, (size_t)size);
	out->len = (size_t)size;
	out->width = s.w, out->height = s.h, out->effects = effects;
	rc = 0;
out:
	if (enc)
		gdFree(enc);
	if (im)
		gdImageDestroy(im);
	free(rgb);
	free(s.tex.v);
	free(s.light.v);
	free(s.glow.v);
	free(s.dcov);
	free(s.pcov);
	if (rc)
		photo_free(out);
	return rc;
}

void photo_free(struct photo *p)
{
	free(p->bytes);
	memset(p, 0, sizeof(*p));
}

/* ---- the standard set ----------------------------------------------------- */

int photo_alone_count(int n)
{
	return n / 2 / PHOTO_N_EFFECTS * PHOTO_N_EFFECTS;
}

/* Effects that do not go together on one sheet. */
static int clash(unsigned m)
{
	unsigned ruled_grid = 1u << PHOTO_RULED | 1u << PHOTO_GRID;
	unsigned box_ul = 1u << PHOTO_BOX | 1u << PHOTO_UNDERLINE;

	return (m & ruled_grid) == ruled_grid || (m & box_ul) == box_ul;
}

unsigned photo_effects_for(int i, int n, uint64_t seed)
{
	struct train_rng r;
	unsigned m = 0;
	double u;
	int k;

	if (i < photo_alone_count(n))
		return 1u << (i % PHOTO_N_EFFECTS);
	train_rng_init(&r, train_seed3(seed, 0x65666673ULL, (uint64_t)i));
	u = train_rng_uniform(&r);
	k = u < 0.45 ? 2 : u < 0.8 ? 3 : 4;
	while (__builtin_popcount(m) < k) {
		unsigned b = 1u << train_rng_below(&r, PHOTO_N_EFFECTS);
		if (!clash(m | b))
			m |= b;
	}
	return m;
}

int photo_digit_index(int i, int n_digits)
{
	return (int)((uint64_t)i * 7919u % (uint64_t)n_digits); /* 7919 is prime: all digits */
}

/* ---- evaluation ----------------------------------------------------------- */

struct result {
	int label, got; /* got -1: refused (EMPTY), -2: other failure */
	int size_class;
	double ms, render_ms;
};

static double median(double *v, int n)
{
	if (n == 0)
		return 0;
	qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void tally(struct photo_tally *t, int right, int refused)
{
	t->n++;
	t->right += right;
	t->refused += refused;
	t->wrong += !right && !refused;
}

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int rc = f && fwrite(p, 1, n, f) == n ? 0 : -1;

	if (f && fclose(f))
		rc = -1;
	return rc;
}

static int dump_one(const char *dir, int i, const struct photo *ph, int label, int got,
                    const float *px)
{
	char fx[160], name[4200], res[16];
	unsigned char *png = NULL;
	size_t len = 0;
	int rc;

	photo_effects_str(ph->effects, fx, sizeof(fx));
	if (got >= 0)
		snprintf(res, sizeof(res), "got%d", got);
	else
		snprintf(res, sizeof(res), "%s", got == -1 ? "refused" : "error");
	snprintf(name, sizeof(name), "%s/%04d-%s-label%d-%s.%s", dir, i, fx, label, res,
	         ph->jpeg ? "jpg" : "png");
	rc = write_file(name, ph->bytes, ph->len);
	if (got >= 0 && !rc && image_preview_png(px, &png, &len, NULL) == 0) {
		snprintf(name, sizeof(name), "%s/%04d-%s-label%d-%s-28x28.png", dir, i, fx, label,
		         res);
		rc = write_file(name, png, len);
		free(png);
	}
	return rc;
}

static int size_class(const struct photo *p)
{
	int l = p->width > p->height ? p->width : p->height;

	return l <= 800    ? PHOTO_SIZE_800
	       : l <= 1600 ? PHOTO_SIZE_1600
	       : l < 3000  ? PHOTO_SIZE_3000
	                   : PHOTO_SIZE_BIG;
}

int photo_evaluate(const struct model *m, const uint8_t *pixels, const uint8_t *labels,
                   int n_digits, const struct photo_eval_opts *o, struct photo_eval *ev,
                   struct dg_error *err)
{
	int n = o->n, alone = photo_alone_count(n), failed = 0;
	struct result *res = calloc((size_t)n, sizeof(*res));
	double *ms = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));

	memset(ev, 0, sizeof(*ev));
	if (!res || !ms) {
		free(res);
		free(ms);
		return dg_fail(err, DG_ERR_NOMEM, "photo evaluation: out of memory");
	}
	if (o->dump && mkdir(o->dump, 0777) && errno != EEXIST) {
		free(res);
		free(ms);
		return dg_fail(err, DG_ERR_IO, "%s: %s", o->dump, strerror(errno));
	}

#pragma omp parallel reduction(| : failed)
	{
		struct nn_workspace *ws = NULL;
		struct image_limits lim;

		image_limits_default(&lim);
		if (nn_workspace_create(&ws, m->graph, 1, false, NULL) < 0)
			failed |= 1;
#pragma omp for schedule(dynamic, 1)
		for (int i = 0; i < n; i++) {
			unsigned fx = photo_effects_for(i, n, o->seed);
			int d = photo_digit_index(i, n_digits);
			struct photo ph;
			struct dg_error e;
			float px[IMAGE_PIXELS];
			double t0;

			res[i].got = -3; /* not evaluated */
			if (!ws || (o->only && !(fx & o->only)))
				continue;
			res[i].label = labels[d];
			t0 = bench_now_ms();
			if (photo_render(pixels + (size_t)d * IMAGE_PIXELS, fx,
			                 train_seed3(o->seed, 0x706963ULL, (uint64_t)i), &ph)) {
				failed |= 2;
				continue;
			}
			res[i].render_ms = bench_now_ms() - t0;
			res[i].size_class = size_class(&ph);
			t0 = bench_now_ms();
			int rc = image_to_mnist(ph.bytes, ph.len, &lim, px, NULL, &e);
			res[i].ms = bench_now_ms() - t0;
			if (rc) {
				res[i].got = e.code == DG_ERR_EMPTY ? -1 : -2;
			} else {
				const float *p = nn_forward(m->graph, m->params, ws, px, 1);
				int best = 0;
				for (int c = 1; c < 10; c++)
					if (p[c] > p[best])
						best = c;
				res[i].got = best;
			}
			if (o->dump && dump_one(o->dump, i, &ph, res[i].label, res[i].got, px))
				failed |= 4;
			photo_free(&ph);
		}
		nn_workspace_free(ws);
	}
	if (failed) {
		free(res);
		free(ms);
		return dg_fail(err, failed & 1 ? DG_ERR_NOMEM : DG_ERR_IO, "photo evaluation: %s",
		               failed & 1   ? "no workspace"
		               : failed & 2 ? "a photo failed to render"
		                            : "cannot write into the dump directory");
	}

	int k = 0;
	for (int i = 0; i < n; i++) {
		struct result *r = &res[i];
		unsigned fx = photo_effects_for(i, n, o->seed);
		int right = r->got == r->label, refused = r->got < 0;

		if (r->got == -3)
			continue;
		ev->errors += r->got == -2;
		tally(&ev->all, right, refused);
		tally(i < alone ? &ev->alone_all : &ev->combined_all, right, refused);
		for (int e = 0; e < PHOTO_N_EFFECTS; e++)
			if (fx & 1u << e)
				tally(i < alone ? &ev->alone[e] : &ev->combined[e], right, refused);
		if (!right && !refused)
			ev->wrong_as[r->got]++;
		ms[k++] = r->render_ms;
	}
	ev->render_ms = median(ms, k);
	for (int c = 0; c < PHOTO_N_SIZES; c++) {
		k = 0;
		for (int i = 0; i < n; i++)
			if (res[i].got != -3 && res[i].size_class == c)
				ms[k++] = res[i].ms;
		ev->sized[c] = k;
		ev->median_ms[c] = median(ms, k);
	}
	free(res);
	free(ms);
	return 0;
}
