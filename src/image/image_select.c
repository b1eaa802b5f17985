/*
 * image_select.c - of the ink left on the page, which is the digit.
 *
 * The ink is cut into connected pieces (8-neighbours, at INK_LEVEL).
 * Boxes first: a box drawn round the digit is a hollow piece, or two (a
 * box drawn in two strokes, faded pencil corners), covered along three or
 * four straight sides of its bounding box; its sides are taken out, also
 * where the digit touches them.  Then the digit is the heaviest piece
 * that could be one: not flat (an underline or a line's remnant is much
 * wider than tall and thin), not on the picture's edge (the page's edge,
 * a dark desk), not solid (a shadow's corner, a stain).  If it stands on
 * an underline it touches, the underline goes and the choice is made
 * again.  Pieces join it when they are near (a gap of at most NEAR of its
 * size), not negligible (SPECK of its mass) and do not make it much
 * larger: the bar of a 5, a stroke broken in two; never an underline.
 * Faint pixels (anti-aliasing, below INK_LEVEL) stay within HALO of kept
 * ink.
 *
 * On an MNIST digit every piece of 5 % of the mass or more lies near the
 * digit, and boxes and underlines are only looked for in pieces of
 * LINE_MIN pixels or more, so this keeps what the first edition kept.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_priv.h"

#define SPECK       0.05 /* of the digit's mass: lighter pieces are dirt */
#define NEAR        0.30 /* of the digit's longer side: the widest gap to a piece */
#define GROW        2.00 /* a joining piece may grow the longer side this much */
#define HALO        2    /* faint pixels kept within this distance of ink */
#define EDGE_SHARE  0.10 /* weight of a piece touching the picture's edge */
#define SOLID       0.35 /* stroke width over size above which a piece is solid */
#define SOLID_SHARE 0.25 /* and the weight of such a piece as the digit */
#define FRAME_BAND  0.12 /* of a box's shorter side: the band its sides lie in */
#define FRAME_TILT  0.07 /* a box turned up to 4 degrees */
#define FRAME_FILL  0.80 /* share of a side's band positions holding the box */
#define UNDER_FILL  0.85 /* share of a piece's columns an underline runs under */
#define UNDER_PAST  0.04 /* share of its width it reaches past the digit, each end */
#define UNDER_TOL   2    /* pixels off its straight line */
#define UNDER_BOW   0.03 /* and a hand's bow, as a share of its width */
#define UNDER_SLOPE 0.15 /* steepest underline: a slanted 1 is not one */
/* A box or an underline narrower than this (pixels; MNIST digits are 20)
 * cannot be told from a digit's own strokes (a 3 drawn square, the foot
 * of a 2): smaller pieces are left as they are. */
#define LINE_MIN 24

struct piece {
	int x0, y0, x1, y1, area;
	int rim;  /* pixels with a 4-neighbour that is not ink */
	int line; /* flat, long and straight: a rule or an underline */
	double mass;
};

static int piece_w(const struct piece *p)
{
	return p->x1 - p->x0 + 1;
}

static int piece_h(const struct piece *p)
{
	return p->y1 - p->y0 + 1;
}

/* Connected pieces of v >= INK_LEVEL: lab gets 1 + index.  Returns the count. */
static int label(const float *v, int w, int h, int *lab, int *stack, struct piece *pc)
{
	const size_t n = (size_t)w * h;
	int count = 0;

	memset(lab, 0, n * sizeof(*lab));
	for (size_t s = 0; s < n; s++) {
		struct piece *k = &pc[count];
		size_t top = 0;

		if (lab[s] || v[s] < INK_LEVEL)
			continue;
		lab[s] = ++count;
		stack[top++] = (int)s;
		*k = (struct piece){
		    (int)(s % w), (int)(s / w), (int)(s % w), (int)(s / w), 0, 0, 0, 0};
		while (top) {
			int p = stack[--top], px = p % w, py = p / w;

			k->area++;
			k->mass += v[p];
			k->rim += px == 0 || py == 0 || px == w - 1 || py == h - 1 ||
			          v[p - 1] < INK_LEVEL || v[p + 1] < INK_LEVEL ||
			          v[p - w] < INK_LEVEL || v[p + w] < INK_LEVEL;
			k->x0 = px < k->x0 ? px : k->x0;
			k->x1 = px > k->x1 ? px : k->x1;
			k->y0 = py < k->y0 ? py : k->y0;
			k->y1 = py > k->y1 ? py : k->y1;
			for (int dy = -1; dy <= 1; dy++) {
				for (int dx = -1; dx <= 1; dx++) {
					int qx = px + dx, qy = py + dy, q = qy * w + qx;

					if (qx < 0 || qy < 0 || qx >= w || qy >= h || lab[q] ||
					    v[q] < INK_LEVEL)
						continue;
					lab[q] = count;
					stack[top++] = q;
				}
			}
		}
	}
	return count;
}

/* Much wider than tall, and thin for its length: an underline, a rule. */
static int is_flat(const struct piece *p)
{
	int pw = piece_w(p), ph = piece_h(p);

	return pw > 2.5 * ph && (double)pw * pw / p->area >= 6.0;
}

/* Whether label l is one of the (one or two) pieces id; id[1] may be -1. */
static inline int of(int l, const int id[2])
{
	return l == id[0] || l == id[1];
}

/* Least-squares line through (i, d[i]) for d[i] >= 0; the share of the
 * n positions within tol of it (0 when there are too few). */
static double straight_share(const int *d, int n, double tol)
{
	double sx = 0, sy = 0, sxx = 0, sxy = 0, a, b, det;
	int m = 0, fit = 0;

	for (int i = 0; i < n; i++)
		if (d[i] >= 0)
			sx += i, sy += d[i], sxx += (double)i * i, sxy += (double)i * d[i], m++;
	det = m * sxx - sx * sx;
	if (m < 2 || det <= 0)
		return 0;
	b = (m * sxy - sx * sy) / det;
	a = (sy - b * sx) / m;
	for (int i = 0; i < n; i++)
		fit += d[i] >= 0 && fabs(d[i] - (a + b * i)) <= tol;
	return (double)fit / n;
}

/* Depth of the piece's first pixel from side s (0 top, 1 bottom, 2 left,
 * 3 right) of its box at each position along that side, -1 where the
 * band holds none; whether those lie on a straight line. */
static int side_straight(const int *lab, int w, const int id[2], const struct piece *p, int s,
                         int band, int *d)
{
	int n = s < 2 ? piece_w(p) : piece_h(p);

	for (int i = 0; i < n; i++) {
		d[i] = -1;
		for (int k = 0; k < band; k++) {
			int x = s == 2 ? p->x0 + k : s == 3 ? p->x1 - k : p->x0 + i;
			int y = s == 0 ? p->y0 + k : s == 1 ? p->y1 - k : p->y0 + i;

			if (of(lab[(size_t)y * w + x], id)) {
				d[i] = k;
				break;
			}
		}
	}
	return straight_share(d, n, UNDER_TOL) >= FRAME_FILL;
}

/*
 * If pieces id (one, or two: a box whose faint corners broke it in two)
 * with bounding box p are a box round something, clear its sides from v
 * and return 1.  A side is a band FRAME_BAND of the shorter side deep inside
 * the bounding box; it counts when FRAME_FILL of its positions along the
 * side hold the piece.  The inside must hold ink: a digit on its own, or
 * one touching the box (then the same piece; it loses what lies in the
 * bands).
 */
static int remove_frame(float *v, int w, const int *lab, const int id[2], const struct piece *p,
                        int *depth)
{
	int pw = piece_w(p), ph = piece_h(p), sides = 0, inside = 0, base, band[4];
	int cover[4] = {0}; /* top, bottom, left, right */

	if (pw < LINE_MIN || ph < LINE_MIN || p->area > 0.4 * pw * ph)
		return 0;
	/* A side's band: its stroke, and its run across a tilted box. */
	base = (int)(FRAME_BAND * (pw < ph ? pw : ph) + 0.5);
	base = base < 2 ? 2 : base;
	band[0] = band[1] = base + (int)(FRAME_TILT * pw);
	band[2] = band[3] = base + (int)(FRAME_TILT * ph);
	/* A narrow box: the bands must leave its inside. */
	band[0] = band[1] = band[0] < ph / 3 ? band[0] : ph / 3;
	band[2] = band[3] = band[2] < pw / 3 ? band[2] : pw / 3;
	for (int x = p->x0; x <= p->x1; x++) {
		int top = 0, bottom = 0;

		for (int d = 0; d < band[0]; d++) {
			top |= of(lab[(size_t)(p->y0 + d) * w + x], id);
			bottom |= of(lab[(size_t)(p->y1 - d) * w + x], id);
		}
		cover[0] += top, cover[1] += bottom;
	}
	for (int y = p->y0; y <= p->y1; y++) {
		int left = 0, right = 0;

		for (int d = 0; d < band[2]; d++) {
			left |= of(lab[(size_t)y * w + p->x0 + d], id);
			right |= of(lab[(size_t)y * w + p->x1 - d], id);
		}
		cover[2] += left, cover[3] += right;
	}
	/* A side is covered, and straight: the arcs of a 3 are not. */
	for (int s = 0; s < 4; s++) {
		if (cover[s] < FRAME_FILL * (s < 2 ? pw : ph) ||
		    !side_straight(lab, w, id, p, s, band[s], depth))
			cover[s] = 0;
		sides += cover[s] > 0;
	}
	if (sides < 3)
		return 0;
	/* Inside the bands: another piece, or the digit touching the box. */
	for (int y = p->y0 + band[0]; y <= p->y1 - band[1] && !inside; y++)
		for (int x = p->x0 + band[2]; x <= p->x1 - band[3] && !inside; x++)
			inside = v[(size_t)y * w + x] >= INK_LEVEL;
	if (!inside)
		return 0; /* an empty box, or a 0 drawn square: not ours to remove */
	for (int y = p->y0; y <= p->y1; y++) {
		for (int x = p->x0; x <= p->x1; x++) {
			size_t i = (size_t)y * w + x;
			int in_band = (cover[0] && y < p->y0 + band[0]) ||
			              (cover[1] && y > p->y1 - band[1]) ||
			              (cover[2] && x < p->x0 + band[2]) ||
			              (cover[3] && x > p->x1 - band[3]);

			if (in_band && of(lab[i], id))
				v[i] = 0;
		}
	}
	return 1;
}

/* A hollow piece, large enough to be (part of) a box. */
static int box_part(const struct piece *p)
{
	return piece_w(p) >= LINE_MIN / 2 && piece_h(p) >= LINE_MIN / 2 &&
	       p->area <= 0.4 * piece_w(p) * piece_h(p);
}

/*
 * Boxes: each hollow piece alone, then pairs of them (a box drawn in two
 * strokes, or in pencil whose corners faded), as the box their union
 * bounds.  Returns how many were removed.
 */
static int find_frames(float *v, int w, const int *lab, const struct piece *pc, int count,
                       int *depth)
{
	int frames = 0;

	for (int i = 0; i < count; i++) {
		int id[2] = {i + 1, -1};

		frames += remove_frame(v, w, lab, id, &pc[i], depth);
	}
	for (int i = 0; i < count && !frames; i++) {
		for (int j = i + 1; j < count && box_part(&pc[i]); j++) {
			struct piece u = pc[i];
			int id[2] = {i + 1, j + 1};

			if (!box_part(&pc[j]))
				continue;
			u.x0 = pc[j].x0 < u.x0 ? pc[j].x0 : u.x0;
			u.y0 = pc[j].y0 < u.y0 ? pc[j].y0 : u.y0;
			u.x1 = pc[j].x1 > u.x1 ? pc[j].x1 : u.x1;
			u.y1 = pc[j].y1 > u.y1 ? pc[j].y1 : u.y1;
			u.area = pc[i].area + pc[j].area;
			if (remove_frame(v, w, lab, id, &u, depth))
				return 1;
		}
	}
	return frames;
}

/*
 * If the piece id ends in a line drawn under it (an underline the digit
 * touches), clear the line from v and return 1.  Column by column, the
 * piece's lowest run of pixels: an underline is where those runs are
 * thin, on one straight line across UNDER_FILL of the width, and
 * reach past the rest of the piece at both ends (the foot of a 2 does
 * not).  ybot and thick hold the piece's width in ints.
 */
static int remove_underline(float *v, int w, const int *lab, int id, const struct piece *p,
                            int *ybot, int *thick)
{
	int pw = piece_w(p), ph = piece_h(p), m = 0, fit = 0, left = pw, right = -1;
	int tmax = ph / 6 + 1;
	double tol = UNDER_TOL + UNDER_BOW * pw, sx = 0, sy = 0, sxx = 0, sxy = 0, a, b, det;

	if (pw < LINE_MIN)
		return 0;
	for (int i = 0; i < pw; i++) {
		int x = p->x0 + i, y = p->y1, t = 0;

		while (y >= p->y0 && lab[(size_t)y * w + x] != id)
			y--;
		ybot[i] = y;
		while (y >= p->y0 && lab[(size_t)y * w + x] == id)
			y--, t++;
		thick[i] = t;
		while (y >= p->y0 && lab[(size_t)y * w + x] != id)
			y--;
		if (y >= p->y0) /* more of the piece above this run */
			left = i < left ? i : left, right = i;
		if (t > 0 && t <= tmax) {
			sx += i, sy += ybot[i], sxx += (double)i * i, sxy += (double)i * ybot[i];
			m++;
		}
	}
	/* The line must reach past what stands on it at both ends. */
	if (right < 0 || left < UNDER_PAST * pw || right > (1 - UNDER_PAST) * pw)
		return 0;
	det = m * sxx - sx * sx;
	if (m < UNDER_FILL * pw || det <= 0)
		return 0;
	b = (m * sxy - sx * sy) / det;
	a = (sy - b * sx) / m;
	if (fabs(b) > UNDER_SLOPE)
		return 0;
	for (int i = 0; i < pw; i++)
		fit += thick[i] > 0 && thick[i] <= tmax && fabs(ybot[i] - (a + b * i)) <= tol;
	if (fit < UNDER_FILL * pw)
		return 0;
	for (int i = 0; i < pw; i++) {
		if (thick[i] == 0 || thick[i] > tmax || fabs(ybot[i] - (a + b * i)) > tol)
			continue;
		for (int y = ybot[i]; y > ybot[i] - thick[i]; y--)
			v[(size_t)y * w + p->x0 + i] = 0;
	}
	return 1;
}

/* Mark the flat pieces that are straight lines (per column, the middle
 * of the piece lies on one line): underlines and rules, where the foot of
 * a 2 or a 5 is an arc.  mid holds the widest piece's width in ints. */
static void mark_line_pieces(struct piece *pc, int count, const int *lab, int w, int *mid)
{
	for (int i = 0; i < count; i++) {
		struct piece *p = &pc[i];
		int pw = piece_w(p);

		p->line = 0;
		if (!is_flat(p) || pw < LINE_MIN)
			continue;
		for (int k = 0; k < pw; k++) {
			int y0 = -1, y1 = -1;

			for (int y = p->y0; y <= p->y1; y++)
				if (lab[(size_t)y * w + p->x0 + k] == i + 1)
					y1 = y, y0 = y0 < 0 ? y : y0;
			mid[k] = y0 < 0 ? -1 : (y0 + y1) / 2 - p->y0;
		}
		p->line = straight_share(mid, pw, UNDER_TOL + UNDER_BOW * pw) >= UNDER_FILL;
	}
}

/* Weight of a piece as the digit: its mass, less if it is unlikely. */
static double digit_weight(const struct piece *p, int w, int h)
{
	int pw = piece_w(p), ph = piece_h(p);
	double wt = p->mass;

	if (is_flat(p))
		return 0;
	if (p->x0 == 0 || p->y0 == 0 || p->x1 == w - 1 || p->y1 == h - 1)
		wt *= EDGE_SHARE;
	/* Stroke width (twice the area over the rim) against the size: a
	 * digit is drawn in strokes, a shadow's corner or a stain is solid. */
	if (2.0 * p->area / p->rim > SOLID * (pw > ph ? pw : ph))
		wt *= SOLID_SHARE;
	return wt;
}

/* The piece most likely the digit, or -1. */
static int heaviest(const struct piece *pc, int count, int w, int h)
{
	double best_wt = 0;
	int best = -1;

	for (int i = 0; i < count; i++) {
		double wt = digit_weight(&pc[i], w, h);

		if (wt > best_wt)
			best_wt = wt, best = i;
	}
	return best;
}

/* Whether piece q joins the digit whose box so far is d (of mass m). */
static int joins(const struct piece *d, double m, const struct piece *q, int floor)
{
	int side = piece_w(d) > piece_h(d) ? piece_w(d) : piece_h(d), dw = piece_w(d);
	int gx = q->x0 > d->x1 ? q->x0 - d->x1 : d->x0 > q->x1 ? d->x0 - q->x1 : 0;
	int gy = q->y0 > d->y1 ? q->y0 - d->y1 : d->y0 > q->y1 ? d->y0 - q->y1 : 0;
	int ux = (q->x1 > d->x1 ? q->x1 : d->x1) - (q->x0 < d->x0 ? q->x0 : d->x0) + 1;
	int uy = (q->y1 > d->y1 ? q->y1 : d->y1) - (q->y0 < d->y0 ? q->y0 : d->y0) + 1;

	side = side > floor ? side : floor;
	if (q->mass < SPECK * m || gx > NEAR * side || gy > NEAR * side)
		return 0;
	if ((ux > uy ? ux : uy) > GROW * side)
		return 0;
	/* A flat piece above the middle is the bar of a 5 or a 7; below, it is
	 * the foot of a 2 or 5 if within the digit's width on one side at
	 * least, and an underline if it reaches past both. */
	if (is_flat(q) && q->y0 + q->y1 >= d->y0 + d->y1)
		return !q->line && (q->x0 >= d->x0 - dw / 50 || q->x1 <= d->x1 + dw / 50);
	return 1;
}

/* Grow the digit from piece best: pieces join while any does, each
 * judged against the box of what has joined so far (a 1 drawn in dots).
 * keep[1 + i] is set for each piece kept; returns their number. */
static int grow_digit(const struct piece *pc, int count, int best, int floor, unsigned char *keep)
{
	struct piece d = pc[best];
	int kept = 1, more = 1;

	memset(keep, 0, (size_t)count + 1);
	keep[best + 1] = 1;
	while (more) {
		more = 0;
		for (int i = 0; i < count; i++) {
			if (keep[i + 1] || !joins(&d, pc[best].mass, &pc[i], floor))
				continue;
			keep[i + 1] = 1, kept++, more = 1;
			d.x0 = pc[i].x0 < d.x0 ? pc[i].x0 : d.x0;
			d.y0 = pc[i].y0 < d.y0 ? pc[i].y0 : d.y0;
			d.x1 = pc[i].x1 > d.x1 ? pc[i].x1 : d.x1;
			d.y1 = pc[i].y1 > d.y1 ? pc[i].y1 : d.y1;
		}
	}
	return kept;
}

int image_keep_digit(float *v, int w, int h, int *lab, int *stack)
{
	struct piece *pc = malloc(sizeof(*pc) * ((size_t)(w + 1) * (h + 1) / 4 + 1));
	unsigned char *keep;
	int count, best, kept = 0, frames = 0;

	if (!pc)
		return -1;
	count = label(v, w, h, lab, stack, pc);
	frames = find_frames(v, w, lab, pc, count, stack);
	if (frames)
		count = label(v, w, h, lab, stack, pc);
	mark_line_pieces(pc, count, lab, w, stack);
	best = heaviest(pc, count, w, h);
	/* The digit may stand on an underline: take it off, look again. */
	if (best >= 0 &&
	    remove_underline(v, w, lab, best + 1, &pc[best], stack, stack + piece_w(&pc[best]))) {
		count = label(v, w, h, lab, stack, pc);
		mark_line_pieces(pc, count, lab, w, stack);
		best = heaviest(pc, count, w, h);
	}
	if (best < 0) {
		free(pc);
		return 0;
	}
	/* The stack is free again: it holds the keep flags. */
	keep = (unsigned char *)stack;
	kept = grow_digit(pc, count, best, (w < h ? w : h) / 2, keep);
	free(pc);

	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			size_t i = (size_t)y * w + x;
			int ok = 0;

			if (v[i] <= 0)
				continue;
			if (lab[i]) {
				ok = keep[lab[i]];
			} else {
				for (int qy = y - HALO; qy <= y + HALO && !ok; qy++)
					for (int qx = x - HALO; qx <= x + HALO && !ok; qx++)
						ok = qx >= 0 && qy >= 0 && qx < w && qy < h &&
						     keep[lab[(size_t)qy * w + qx]];
			}
			if (!ok)
				v[i] = 0;
		}
	}
	return kept;
}
