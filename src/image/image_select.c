/*
 * image_select.c - of the ink left on the page, which is the digit.
 *
 * The ink is cut into connected pieces (8-neighbours, at INK_LEVEL).
 * Boxes first (image_frame.c): a box drawn round the digit loses its
 * sides, and the ink is stretched again and cleared of lines in case the
 * box's darker ink set the first stretch.  Then the digit is the heaviest piece
 * that could be one: not flat (an underline or a line's remnant is much
 * wider than tall and thin), not on the picture's edge (the page's edge,
 * a dark desk), not solid (a shadow's corner, a stain).  If it stands on
 * an underline it touches, the underline goes and the choice is made
 * again.  If nothing but flat pieces (and specks beside them) is left,
 * a line darker than a pencil digit set the stretch: the ink is stretched
 * again without the flat pieces and the choice made again.  Pieces join
 * it when they are near (a gap of at most NEAR of its size), not
 * negligible (SPECK of its mass) and do not make it much larger: the bar
 * of a 5, a stroke broken in two; never an underline, nor an upright
 * line reaching past it above and below (a box's side whose top and
 * bottom went with the ruled lines), nor a piece on the picture's edge
 * lighter than a digit that is not on it (a shadow's or vignetting's
 * corner; at MNIST's size, below 2 LINE_MIN a side, it is a stroke's end
 * and joins).
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

#define SPECK         0.05 /* of the digit's mass: lighter pieces are dirt */
#define NEAR          0.30 /* of the digit's longer side: the widest gap to a piece */
#define GROW          2.00 /* a joining piece may grow the longer side this much */
#define HALO          2    /* faint pixels kept within this distance of ink */
#define EDGE_SHARE    0.10 /* weight of a piece touching the picture's edge */
#define SOLID         0.35 /* stroke width over size above which a piece is solid */
#define SOLID_SHARE   0.25 /* and the weight of such a piece as the digit */
#define UNDER_FILL    0.85 /* share of a piece's columns an underline runs under */
#define UNDER_THIN    0.50 /* share of them where it runs on its own, thin */
#define UNDER_PAST    0.04 /* share of its width it reaches past the digit, each end */
#define UNDER_PAST_ON 0.10 /* and where the digit stands on it */
#define UNDER_TOL     2    /* pixels off its straight line */
#define UNDER_BOW     0.03 /* and a hand's bow, as a share of its width */
#define UNDER_SLOPE   0.15 /* steepest underline: a slanted 1 is not one */

/* Connected pieces of v >= INK_LEVEL: lab gets 1 + index.  Returns the count. */
static int label(const float *v, int w, int h, int *lab, int *stack, struct image_piece *pc)
{
	const size_t n = (size_t)w * h;
	int count = 0;

	memset(lab, 0, n * sizeof(*lab));
	for (size_t s = 0; s < n; s++) {
		struct image_piece *k = &pc[count];
		size_t top = 0;

		if (lab[s] || v[s] < INK_LEVEL)
			continue;
		lab[s] = ++count;
		stack[top++] = (int)s;
		*k = (struct image_piece){
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
static int is_flat(const struct image_piece *p)
{
	int pw = piece_w(p), ph = piece_h(p);

	return pw > 2.5 * ph && (double)pw * pw / p->area >= 6.0;
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

/*
 * If the piece id ends in a line drawn under it (an underline the digit
 * touches), clear the line from v and return 1.  Column by column, the
 * piece's lowest run of pixels: an underline is where those runs end on
 * one straight line across UNDER_FILL of the width, are thin across
 * UNDER_THIN of it (elsewhere the digit stands on the line), and
 * reach past the rest of the piece at both ends (the foot of a 2 does
 * not).  ybot and thick hold the piece's width in ints.
 */
static int remove_underline(float *v, int w, const int *lab, int id, const struct image_piece *p,
                            int *ybot, int *thick)
{
	int pw = piece_w(p), ph = piece_h(p), m = 0, fit = 0, left = pw, right = -1, line;
	int tmax = ph / 6 + 1;
	double st = 0, tol = UNDER_TOL + UNDER_BOW * pw, sx = 0, sy = 0, sxx = 0, sxy = 0, a, b,
	       det;

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
		/* More of the piece above this run, or a run too thick for a
		 * line alone: something stands on the line here. */
		if (y >= p->y0 || t > tmax)
			left = i < left ? i : left, right = i;
		if (t > 0 && t <= tmax) {
			sx += i, sy += ybot[i], sxx += (double)i * i, sxy += (double)i * ybot[i];
			m++;
		}
	}
	/* The line must reach past what stands on it at both ends. */
	if (right < 0 || left < UNDER_PAST * pw || right > (1 - UNDER_PAST) * pw)
		return 0;
	/* Where the digit stands on it, a line reaches further past: the
	 * foot of a 2 is thin under most of the digit and barely past it. */
	if (m < UNDER_FILL * pw && (left < UNDER_PAST_ON * pw || right > (1 - UNDER_PAST_ON) * pw))
		return 0;
	det = m * sxx - sx * sx;
	if (m < UNDER_THIN * pw || det <= 0)
		return 0;
	b = (m * sxy - sx * sy) / det;
	a = (sy - b * sx) / m;
	if (fabs(b) > UNDER_SLOPE)
		return 0;
	/* Where the digit sits on the line, the lowest run is the line and
	 * the digit together: its bottom still lies on the line, and only
	 * the line's own thickness (the thin runs' mean, and a pixel) goes. */
	for (int i = 0; i < pw; i++) {
		fit += thick[i] > 0 && fabs(ybot[i] - (a + b * i)) <= tol;
		if (thick[i] > 0 && thick[i] <= tmax)
			st += thick[i];
	}
	if (fit < UNDER_FILL * pw)
		return 0;
	line = (int)ceil(st / m) + 1;
	for (int i = 0; i < pw; i++) {
		int t = thick[i] < line ? thick[i] : line;

		if (thick[i] == 0 || fabs(ybot[i] - (a + b * i)) > tol)
			continue;
		for (int y = ybot[i]; y > ybot[i] - t; y--)
			v[(size_t)y * w + p->x0 + i] = 0;
	}
	return 1;
}

/* Mark the flat pieces that are straight lines (per column, the middle
 * of the piece lies on one line): underlines and rules, where the foot of
 * a 2 or a 5 is an arc.  mid holds the widest piece's width in ints. */
static void mark_line_pieces(struct image_piece *pc, int count, const int *lab, int w, int *mid)
{
	for (int i = 0; i < count; i++) {
		struct image_piece *p = &pc[i];
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

/* Whether the piece touches the picture's edge. */
static int on_edge(const struct image_piece *p, int w, int h)
{
	return p->x0 == 0 || p->y0 == 0 || p->x1 == w - 1 || p->y1 == h - 1;
}

/* Weight of a piece as the digit: its mass, less if it is unlikely. */
static double digit_weight(const struct image_piece *p, int w, int h)
{
	int pw = piece_w(p), ph = piece_h(p);
	double wt = p->mass;

	if (is_flat(p))
		return 0;
	if (on_edge(p, w, h))
		wt *= EDGE_SHARE;
	/* Stroke width (twice the area over the rim) against the size: a
	 * digit is drawn in strokes, a shadow's corner or a stain is solid. */
	if (2.0 * p->area / p->rim > SOLID * (pw > ph ? pw : ph))
		wt *= SOLID_SHARE;
	return wt;
}

/* The piece most likely the digit, or -1. */
static int heaviest(const struct image_piece *pc, int count, int w, int h)
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

/* Mass of the heaviest flat piece (a line) among pc[count], 0 if none. */
static double flat_mass(const struct image_piece *pc, int count)
{
	double m = 0;

	for (int i = 0; i < count; i++)
		if (is_flat(&pc[i]) && pc[i].mass > m)
			m = pc[i].mass;
	return m;
}

/* Set the pixels of the flat pieces of v to level. */
static void set_flat(float *v, int w, int h, const int *lab, const struct image_piece *pc,
                     float level)
{
	for (size_t i = 0; i < (size_t)w * h; i++)
		if (lab[i] && is_flat(&pc[lab[i] - 1]))
			v[i] = level;
}

/* Much taller than wide and thin for its length, LINE_MIN or more: a
 * line standing up (a digit's stroke at MNIST's size is shorter). */
static int is_upright_line(const struct image_piece *p)
{
	int pw = piece_w(p), ph = piece_h(p);

	return ph >= LINE_MIN && ph > 2.5 * pw && (double)ph * ph / p->area >= 6.0;
}

/* Whether piece q joins the digit whose box so far is d (of mass m). */
static int joins(const struct image_piece *d, double m, const struct image_piece *q, int floor)
{
	int side = piece_w(d) > piece_h(d) ? piece_w(d) : piece_h(d), dw = piece_w(d);
	int gx = q->x0 > d->x1 ? q->x0 - d->x1 : d->x0 > q->x1 ? d->x0 - q->x1 : 0;
	int gy = q->y0 > d->y1 ? q->y0 - d->y1 : d->y0 > q->y1 ? d->y0 - q->y1 : 0;
	int ux = (q->x1 > d->x1 ? q->x1 : d->x1) - (q->x0 < d->x0 ? q->x0 : d->x0) + 1;
	int past = (int)ceil(UNDER_PAST * piece_h(q));
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
	/* A thin upright line reaching past the digit above and below is a
	 * box's side whose top and bottom went with the ruled lines. */
	if (is_upright_line(q) && q->y0 < d->y0 - past && q->y1 > d->y1 + past)
		return 0;
	return 1;
}

/* Grow the digit from piece best: pieces join while any does, each
 * judged against the box of what has joined so far (a 1 drawn in dots).
 * keep[1 + i] is set for each piece kept; returns their number. */
static int grow_digit(const struct image_piece *pc, int count, int best, int w, int h,
                      unsigned char *keep)
{
	struct image_piece d = pc[best];
	int kept = 1, more = 1, floor = (w < h ? w : h) / 2;

	memset(keep, 0, (size_t)count + 1);
	keep[best + 1] = 1;
	while (more) {
		more = 0;
		for (int i = 0; i < count; i++) {
			if (keep[i + 1] || !joins(&d, pc[best].mass, &pc[i], floor))
				continue;
			/* A piece on the picture's edge lighter than a digit that is
			 * not: a shadow's or vignetting's corner.  A heavier one is
			 * the digit itself, cut by the edge (and the seed its bar);
			 * in a picture of MNIST's size, the end of a stroke. */
			if (on_edge(&pc[i], w, h) && !on_edge(&pc[best], w, h) &&
			    pc[i].mass < pc[best].mass && floor >= LINE_MIN)
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
	struct image_piece *pc = malloc(sizeof(*pc) * ((size_t)(w + 1) * (h + 1) / 4 + 1));
	unsigned char *keep;
	int count, best, kept = 0, frames = 0;
	double line_mass;

	if (!pc)
		return -1;
	count = label(v, w, h, lab, stack, pc);
	frames = image_remove_frames(v, w, h, lab, pc, count, stack);
	if (frames < 0) {
		free(pc);
		return -1;
	}
	/* The box may have set the stretch (a pencil digit in a pen box):
	 * stretch again, and take out the lines that now come above ink. */
	if (frames) {
		image_stretch_ink(v, (size_t)w * h);
		if (image_remove_lines(v, w, h, (uint8_t *)stack, lab) < 0) {
			free(pc);
			return -1;
		}
		count = label(v, w, h, lab, stack, pc);
	}
	mark_line_pieces(pc, count, lab, w, stack);
	best = heaviest(pc, count, w, h);
	/* The digit may stand on an underline: take it off, look again. */
	if (best >= 0 &&
	    remove_underline(v, w, lab, best + 1, &pc[best], stack, stack + piece_w(&pc[best]))) {
		count = label(v, w, h, lab, stack, pc);
		mark_line_pieces(pc, count, lab, w, stack);
		best = heaviest(pc, count, w, h);
	}
	/* Only flat pieces, or beside them nothing but specks (their
	 * JPEG ringing): an underline or a rule darker than a pencil digit
	 * set the stretch and left the digit below INK_LEVEL.  The ink is
	 * stretched again without them; they stay, at full strength (a flat
	 * piece may be the bar of a 5). */
	line_mass = flat_mass(pc, count);
	if (line_mass > 0 && (best < 0 || pc[best].mass < SPECK * line_mass)) {
		set_flat(v, w, h, lab, pc, 0);
		image_stretch_ink(v, (size_t)w * h);
		set_flat(v, w, h, lab, pc, 1);
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
	kept = grow_digit(pc, count, best, w, h, keep);
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
