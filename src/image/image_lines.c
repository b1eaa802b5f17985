/*
 * image_lines.c - ruled and squared paper are not ink.
 *
 * Thin ink (at most THIN pixels across) lies on a straight segment when,
 * walking through it along some direction within MAX_TILT degrees of
 * horizontal (or of vertical), it goes on for SEGMENT of the picture's
 * extent, with gaps of at most GAP pixels of paper and one pixel of
 * wobble either side (tilt between the sampled angles, perspective).  The
 * walk may also cross up to CROSS of the extent of thick ink: a stroke of
 * the digit the line passes through, which is not marked as line but
 * joins the line's two sides into one candidate.
 *
 * Paper lines run (nearly) from edge to edge and come in families: when
 * two or more candidates of one direction span LONG of the extent, every
 * thin candidate of that direction goes (also the pieces cut where a line
 * ran inside a stroke, along it, or between two strokes), except one much
 * thicker than the family (the stem of a 1 on squared paper); a lone
 * candidate goes only if it spans LONE (a margin, a fold).  A digit's own
 * strokes are thicker than a rule or shorter than SEGMENT; even MNIST's
 * 20-in-28 spans less than LONG.  Where a stroke of the digit crossed a
 * removed line, the pixels of the line between ink on both sides are put
 * back.
 *
 * The search runs on a copy reduced to at most LINE_SIDE pixels a side
 * (an f x f block is ink if any pixel is), which keeps a 1-pixel line
 * whole.  Boxes and underlines are pieces, not lines: image_select.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_priv.h"

#define MAX_TILT  6 /* degrees either way, in steps of TILT_STEP */
#define TILT_STEP 2
#define GAP       2    /* missing pixels a segment may jump */
#define SEGMENT   0.12 /* of the extent: shortest straight run looked at */
#define LONG      0.80 /* of the extent: a family member spans this */
#define LONE      0.92 /* of the extent: a line without a family */
#define THIN      3    /* pixels across, at LINE_SIDE: thicker ink is not a rule */
#define CROSS     0.15 /* of the extent: the widest stroke a line may cross */
#define LINE_SIDE 256
#define MAX_CAND  4096 /* line candidates looked at */

/* Mark bits. */
#define M_INK     1
#define M_SEG     2  /* thin ink on a straight run of the direction being searched */
#define M_BRIDGE  16 /* thick ink the run crossed: joins its pieces, stays */
#define M_RUN     (M_SEG | M_BRIDGE)
#define M_LINE_H  4 /* removed as part of a horizontal line */
#define M_LINE_V  8
#define M_REMOVED (M_LINE_H | M_LINE_V)

struct grid {
	int w, h;
	uint8_t *m;
	uint8_t *walk; /* the walk map of the direction being searched */
};

static inline int ink_at(const struct grid *g, int x, int y)
{
	return x >= 0 && y >= 0 && x < g->w && y < g->h && (g->m[(size_t)y * g->w + x] & M_INK);
}

/* Ink at (a, c) of a direction: horizontal walks a = x, c = y. */
static inline int ink_ac(const struct grid *g, int vertical, int a, int c)
{
	return vertical ? ink_at(g, c, a) : ink_at(g, a, c);
}

static inline uint8_t *cell(const struct grid *g, int vertical, int a, int c)
{
	return vertical ? &g->m[(size_t)a * g->w + c] : &g->m[(size_t)c * g->w + a];
}

/*
 * The walk map of one direction: for each position a along it, the
 * column of positions c across it, padded by one each side, so a walk
 * reads one byte per step without bounds checks.  W_THIN is ink whose run
 * across is at most THIN pixels (a rule is thin; a stroke along it, or
 * a stroke it crosses, is not), W_INK any ink; W_HIT and W_ANY the same
 * with one pixel of wobble across.
 */
#define W_THIN 1
#define W_INK  2
#define W_HIT  4
#define W_ANY  8

static void build_walk(struct grid *g, int vertical)
{
	const int A = vertical ? g->h : g->w, C = vertical ? g->w : g->h;

	memset(g->walk, 0, (size_t)A * (C + 2));
	for (int a = 0; a < A; a++) {
		uint8_t *col = g->walk + (size_t)a * (C + 2) + 1;

		for (int c = 0; c < C;) {
			int c1 = c;

			if (!ink_ac(g, vertical, a, c)) {
				c++;
				continue;
			}
			while (c1 < C && ink_ac(g, vertical, a, c1))
				c1++;
			for (int k = c; k < c1; k++)
				col[k] = W_INK | (c1 - c <= THIN ? W_THIN : 0);
			c = c1;
		}
		for (int c = 0; c < C; c++) {
			uint8_t f = (uint8_t)((col[c - 1] | col[c] | col[c + 1]) << 2);

			col[c] |= f & (W_HIT | W_ANY);
		}
		col[-1] |= (uint8_t)(col[0] << 2) & (W_HIT | W_ANY);
		col[C] |= (uint8_t)(col[C - 1] << 2) & (W_HIT | W_ANY);
	}
}

/*
 * Mark M_SEG on thin ink lying on a straight run at least min_len long
 * along the digital line c = c0 + off[a], for every offset c0.  A step
 * hits when the pixel or one of its two neighbours across is thin ink.
 * The run jumps GAP steps of paper, and up to max_cross steps of thick
 * ink: a stroke of the digit the line crosses, marked M_BRIDGE (it joins
 * the line's pieces, and stays).
 */
static void mark_runs(struct grid *g, int vertical, const int *off, int min_len, int max_cross)
{
	const int A = vertical ? g->h : g->w, C = vertical ? g->w : g->h;
	const int lo = off[0] < off[A - 1] ? off[0] : off[A - 1];
	const int hi = off[0] < off[A - 1] ? off[A - 1] : off[0];
	const size_t stride = (size_t)C + 2;

	for (int c0 = -hi - 1; c0 < C - lo + 1; c0++) {
		int start = -1, last = -1, paper = 0, cross = 0, len = 0;

		for (int a = 0; a <= A; a++) {
			int c = a < A ? c0 + off[a] : -2;
			uint8_t f = c >= -1 && c <= C ? g->walk[a * stride + c + 1] : 0;

			if (f & W_HIT) {
				if (start < 0)
					start = a, len = 0;
				last = a, len++, paper = cross = 0;
				continue;
			}
			paper += !(f & W_ANY);
			cross += (f & W_ANY) != 0;
			if (start < 0 || (paper <= GAP && cross <= max_cross && a < A))
				continue;
			if (len >= min_len * 3 / 4 && last - start + 1 >= min_len) {
				for (int k = start; k <= last; k++) {
					int ck = c0 + off[k];
					uint8_t fk =
					    ck >= 0 && ck < C ? g->walk[k * stride + ck + 1] : 0;

					if (fk & W_THIN)
						*cell(g, vertical, k, ck) |= M_SEG;
					else if (fk & W_INK)
						*cell(g, vertical, k, ck) |= M_BRIDGE;
				}
			}
			start = -1;
		}
	}
}

struct candidate {
	int a0, a1;   /* extent along the direction */
	int area;     /* pixels */
	double thick; /* area / length */
	int remove;
};

/*
 * Connected M_SEG pixels (8-neighbours) as candidates: lab gets 1 + index.
 * Returns the count (at most max).
 */
static int candidates(struct grid *g, int vertical, int *lab, int *stack, struct candidate *cand,
                      int max)
{
	const size_t n = (size_t)g->w * g->h;
	int count = 0;

	memset(lab, 0, n * sizeof(*lab));
	for (size_t s = 0; s < n && count < max; s++) {
		struct candidate *k = &cand[count];
		size_t top = 0;

		if (lab[s] || !(g->m[s] & M_RUN))
			continue;
		lab[s] = ++count;
		stack[top++] = (int)s;
		k->a0 = vertical ? (int)(s / g->w) : (int)(s % g->w);
		k->a1 = k->a0;
		k->area = 0;
		while (top) {
			int p = stack[--top], px = p % g->w, py = p / g->w, a = vertical ? py : px;

			k->area += (g->m[p] & M_SEG) != 0; /* bridges are the digit's */
			k->a0 = a < k->a0 ? a : k->a0;
			k->a1 = a > k->a1 ? a : k->a1;
			for (int dy = -1; dy <= 1; dy++) {
				for (int dx = -1; dx <= 1; dx++) {
					int qx = px + dx, qy = py + dy, q = qy * g->w + qx;

					if (qx < 0 || qy < 0 || qx >= g->w || qy >= g->h ||
					    lab[q] || !(g->m[q] & M_RUN))
						continue;
					lab[q] = count;
					stack[top++] = q;
				}
			}
		}
		k->thick = (double)k->area / (k->a1 - k->a0 + 1);
	}
	return count;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Find the lines of one direction on g and mark them with bit; returns how
 * many of them span LONG of the picture (the rest are their pieces). */
static int find_lines(struct grid *g, int vertical, int *lab, int *stack, uint8_t bit)
{
	const size_t n = (size_t)g->w * g->h;
	const int A = vertical ? g->h : g->w;
	int min_len = (int)ceil(SEGMENT * A), count, n_long = 0, removed = 0, *off;
	struct candidate *cand;
	double *thick, family;

	if (min_len < 8)
		min_len = 8;
	for (size_t i = 0; i < n; i++)
		g->m[i] &= (uint8_t)~M_RUN;
	build_walk(g, vertical);
	cand = malloc(sizeof(*cand) * MAX_CAND + sizeof(double) * MAX_CAND + sizeof(int) * A);
	if (!cand)
		return 0; /* lines stay: the digit may still be found among them */
	thick = (double *)(cand + MAX_CAND);
	off = (int *)(thick + MAX_CAND);
	for (int deg = -MAX_TILT; deg <= MAX_TILT; deg += TILT_STEP) {
		double t = tan(deg * M_PI / 180.0);

		for (int a = 0; a < A; a++)
			off[a] = (int)lround(a * t);
		mark_runs(g, vertical, off, min_len, (int)(CROSS * A));
	}
	count = candidates(g, vertical, lab, stack, cand, MAX_CAND);
	for (int i = 0; i < count; i++)
		if (cand[i].a1 - cand[i].a0 + 1 >= LONG * A)
			thick[n_long++] = cand[i].thick;
	qsort(thick, n_long, sizeof(*thick), cmp_double);
	family = n_long ? thick[n_long / 2] : 0;
	for (int i = 0; i < count; i++) {
		int len = cand[i].a1 - cand[i].a0 + 1;

		/* With a family, every thin straight piece goes: the pieces of
		 * a line cut where it ran inside a stroke of the digit, along it,
		 * or between two strokes.  A digit's own strokes are thicker, or
		 * shorter than SEGMENT. */
		cand[i].remove = n_long >= 2 ? cand[i].thick <= 2 * family + 1 : len >= LONE * A;
		removed += cand[i].remove && len >= LONG * A;
	}
	for (size_t i = 0; i < n; i++)
		if (lab[i] && cand[lab[i] - 1].remove && (g->m[i] & M_SEG))
			g->m[i] |= bit;
	free(cand);
	return removed;
}

/*
 * Put back line pixels that join ink on both sides across the line: the
 * stroke of a digit the line ran through.  Walks each column (for
 * horizontal lines) through runs of removed pixels no thicker than max_t.
 */
static void restore_crossings(struct grid *g, int vertical, uint8_t bit, int max_t)
{
	const int A = vertical ? g->h : g->w, C = vertical ? g->w : g->h;

	for (int a = 0; a < A; a++) {
		for (int c = 0; c < C;) {
			int c1 = c, before = 0, after = 0;

			if (!(*cell(g, vertical, a, c) & bit)) {
				c++;
				continue;
			}
			while (c1 < C && (*cell(g, vertical, a, c1) & bit))
				c1++;
			for (int d = -1; d <= 1; d++) {
				if (c > 0 && a + d >= 0 && a + d < A) {
					uint8_t m = *cell(g, vertical, a + d, c - 1);
					before |= (m & M_INK) && !(m & M_REMOVED);
				}
				if (c1 < C && a + d >= 0 && a + d < A) {
					uint8_t m = *cell(g, vertical, a + d, c1);
					after |= (m & M_INK) && !(m & M_REMOVED);
				}
			}
			if (before && after && c1 - c <= max_t)
				for (int k = c; k < c1; k++)
					*cell(g, vertical, a, k) &= (uint8_t)~bit;
			c = c1;
		}
	}
}

/* The ink of m[h][w] reduced by f: an f x f block is ink if any pixel is. */
static void reduce_or(const uint8_t *m, int w, int h, int f, struct grid *r)
{
	memset(r->m, 0, (size_t)r->w * r->h);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			if (m[(size_t)y * w + x] & M_INK)
				r->m[(size_t)(y / f) * r->w + x / f] = M_INK;
}

int image_remove_lines(float *v, int w, int h, uint8_t *mark, int *lab)
{
	const size_t n = (size_t)w * h;
	int f = 1, found, *stack;
	struct grid full = {w, h, mark, NULL}, small;

	while ((w + f - 1) / f > LINE_SIDE || (h + f - 1) / f > LINE_SIDE)
		f++;
	small.w = (w + f - 1) / f;
	small.h = (h + f - 1) / f;
	small.m = f > 1 ? malloc((size_t)small.w * small.h) : mark;
	small.walk = malloc(((size_t)small.w + 2) * (small.h + 2));
	stack = malloc(sizeof(int) * (size_t)small.w * small.h);
	if (!small.m || !stack || !small.walk) {
		if (f > 1)
			free(small.m);
		free(small.walk);
		free(stack);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		mark[i] = v[i] >= INK_LEVEL ? M_INK : 0;
	if (f > 1)
		reduce_or(mark, w, h, f, &small);

	found = find_lines(&small, 0, lab, stack, M_LINE_H);
	found += find_lines(&small, 1, lab, stack, M_LINE_V);
	free(stack);
	free(small.walk);

	/* Back to full size: ink under a removed cell is removed. */
	if (f > 1) {
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				if (mark[(size_t)y * w + x] & M_INK)
					mark[(size_t)y * w + x] |=
					    small.m[(size_t)(y / f) * small.w + x / f] & M_REMOVED;
		free(small.m);
	}
	if (!found)
		return 0;
	restore_crossings(&full, 0, M_LINE_H, 3 * f + 2);
	restore_crossings(&full, 1, M_LINE_V, 3 * f + 2);
	/* Removed pixels and the faint fringe beside them (anti-aliasing of
	 * the line, below INK_LEVEL) go. */
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			size_t i = (size_t)y * w + x;

			if (!(mark[i] & M_REMOVED))
				continue;
			v[i] = 0;
			for (int d = -2; d <= 2; d++) {
				int yy = mark[i] & M_LINE_H ? y + d : y,
				    xx = mark[i] & M_LINE_H ? x : x + d;
				size_t j = (size_t)yy * w + xx;

				if (yy >= 0 && xx >= 0 && yy < h && xx < w && !(mark[j] & M_INK))
					v[j] = 0;
			}
		}
	}
	return found;
}
