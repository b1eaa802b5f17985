/*
 * image_frame.c - a box drawn round the digit (a form's field, a frame the
 * writer added) is not part of it.
 *
 * A box is found as straight sides, not as one clean piece: photographed
 * boxes come broken (faded pencil corners, glare across a side), joined to
 * the digit where it touches them, and joined to stubs of ruled or squared
 * paper that crossed them.  So pieces that lie close together are taken as
 * one cluster, and for each of the four sides the cluster's pixels are
 * projected across that side at every lean up to MAX_LEAN degrees (each
 * side on its own: perspective makes them differ).  A side is a band
 * SIDE_BAND thick, at the outer end of the cluster, holding SIDE_FILL of
 * the cluster's extent along it.  With three or four sides and ink inside
 * them that is not theirs, the sides and whatever the cluster has outside
 * them (overshooting corners, line stubs) are cleared.  An empty box, or a
 * 0 drawn square, keeps its ink.
 *
 * Only clusters LINE_MIN pixels or more on both sides are looked at (MNIST
 * digits are 20), so a small digit is never taken for a box.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_priv.h"

#define MAX_LEAN   6    /* degrees a side may lean, in steps of one */
#define SIDE_BAND  0.04 /* of the cluster's shorter side: a side's thickness */
#define SIDE_FILL  0.65 /* of the cluster's extent that a side must run */
#define STUB_FILL  0.25 /* and a fourth side once three are found */
#define SIDE_END   0.35 /* of the cluster's depth that a side lies within */
#define INSIDE_INK 0.10 /* of the sides' pixels: ink inside that is not theirs */
#define FAINT_INK  0.10 /* stretched level of a faint digit inside a box */
#define NEAR_GAP   0.05 /* of the picture's shorter side: pieces this close cluster */

/* One side found: its lean (tangent) and the first line of its band, in
 * the coordinate across it (see across()). */
struct side {
	int found;
	double lean;
	int at;    /* first line of the band */
	int mid;   /* where the band crosses the side's middle, lean undone */
	int reach; /* positions along the side it reaches */
};

/*
 * Coordinate of (x, y) across side s (0 top, 1 bottom, 2 left, 3 right),
 * relative to the cluster's box at (x0, y0), leaning by t, offset by off
 * so it is never negative.
 */
static int across(int s, int x, int y, int x0, int y0, double t, int off)
{
	if (s < 2)
		return y - y0 + (int)lround(t * (x - x0)) + off;
	return x - x0 + (int)lround(t * (y - y0)) + off;
}

/* Union-find root, halving the path on the way. */
static int root(int *up, int i)
{
	while (up[i] != i)
		i = up[i] = up[up[i]];
	return i;
}

/* Whether label l is in cluster c: pieces whose root is c, or for c < 0
 * the one piece -c. */
static int member(int l, int *up, int c)
{
	return l && (c < 0 ? l == -c : root(up, l) == c);
}

static int close_boxes(const struct image_piece *a, const struct image_piece *b, int gap)
{
	return a->x0 <= b->x1 + gap && b->x0 <= a->x1 + gap && a->y0 <= b->y1 + gap &&
	       b->y0 <= a->y1 + gap;
}

/*
 * The cluster's outer edge seen from side s (0 top, 1 bottom, 2 left,
 * 3 right): for each position along the side, the depth of the first
 * pixel of the cluster (pixels whose label's root is c) met coming in from
 * that side, -1 where there is none.
 */
static void outer_edge(const int *lab, int w, int *up, int c, const struct image_piece *bx, int s,
                       int *edge)
{
	int bw = piece_w(bx), bh = piece_h(bx);
	int along = s < 2 ? bw : bh, depth = s < 2 ? bh : bw, from_far = s == 1 || s == 3;

	for (int a = 0; a < along; a++) {
		edge[a] = -1;
		for (int i = 0; i < depth; i++) {
			int d = from_far ? depth - 1 - i : i;
			int x = bx->x0 + (s < 2 ? a : d), y = bx->y0 + (s < 2 ? d : a);
			int l = lab[(size_t)y * w + x];

			if (member(l, up, c)) {
				edge[a] = d;
				break;
			}
		}
	}
}

/*
 * Side s of the cluster with box bx: over every lean, the outermost band
 * of the given thickness holding the cluster's outer edge at SIDE_FILL of
 * the positions along the side.  The outer edge, not all pixels: a
 * digit's thick stroke fills a band inside itself, but its outline is
 * curved; a box's side is its outline, and straight.  cover holds depth +
 * 2 off + 2 band ints, edge the length of the side.
 */
static struct side find_side(const int *lab, int w, int *up, int c, const struct image_piece *bx,
                             int s, int band, int off, double fill, int *cover, int *edge)
{
	int bw = piece_w(bx), bh = piece_h(bx);
	int along = s < 2 ? bw : bh, depth = s < 2 ? bh : bw, range = depth + 2 * off + 2 * band;
	int outer = s == 0 || s == 2, need = (int)ceil(fill * along), n_cand = 0;
	int span = (int)(SIDE_END * depth);
	struct side best = {0, 0, 0, 0, 0}, cand[2 * MAX_LEAN + 1];

	outer_edge(lab, w, up, c, bx, s, edge);
	for (int k = -MAX_LEAN; k <= MAX_LEAN; k++) {
		double t = tan(k * M_PI / 180);
		int lo = range, hi = -1, from, to;

		/* cover[band + r]: how many positions have their edge in the
		 * band starting at r (a difference array, then its sums). */
		memset(cover, 0, sizeof(*cover) * (size_t)range);
		for (int a = 0; a < along; a++) {
			int r;

			if (edge[a] < 0)
				continue;
			r = edge[a] + (int)lround(t * a) + off;
			cover[r + 1]++;
			cover[band + r + 1]--;
			lo = r < lo ? r : lo;
			hi = r > hi ? r : hi;
		}
		if (hi < 0)
			return best;
		for (int i = 1; i < range; i++)
			cover[i] += cover[i - 1];
		/* From the outer end inwards (over SIDE_END of the cluster),
		 * the first band that reaches far enough, moved on while the
		 * reach grows, to the middle of its best run. */
		from = outer ? lo - band + 1 : hi;
		to = outer ? lo + span : hi - band + 1 - span;
		for (int r = from, step = outer ? 1 : -1; r != to + step; r += step) {
			int n = cover[band + r], first = r, last = r, mid;

			if (n < need)
				continue;
			for (; r != to && cover[band + r + step] >= n; r += step) {
				if (cover[band + r + step] > n)
					first = r + step, n = cover[band + r + step];
				last = r + step;
			}
			/* Leans are compared where they cross the side's middle. */
			mid = (first + last) / 2 - (int)lround(t * along / 2);
			cand[n_cand++] = (struct side){1, t, (first + last) / 2, mid, n};
			break;
		}
	}
	/* The outermost line wins; of the leans that find it (within a
	 * band), the one that reaches furthest along it. */
	for (int i = 0; i < n_cand; i++)
		if (!best.found || (outer ? cand[i].mid < best.mid : cand[i].mid > best.mid))
			best = cand[i];
	for (int i = 0; i < n_cand; i++)
		if (abs(cand[i].mid - best.mid) < band && cand[i].reach > best.reach)
			best = cand[i];
	return best;
}

/* How far (x, y) lies inside side sd, in pixels from the band's outer
 * line: below 0 outside the box (by more than a pixel of margin). */
static int inward(const struct side *sd, int s, int x, int y, const struct image_piece *bx,
                  int band, int off)
{
	int r = across(s, x, y, bx->x0, bx->y0, sd->lean, off);

	return s == 0 || s == 2 ? r - sd->at : sd->at + band - 1 - r;
}

/*
 * Clear side s from v: at each position along it, coming in from outside,
 * whatever lies outside the band (an overshooting corner, a stub of a
 * ruled line) and the run of pixels that starts in the band, for as deep
 * as a stroke of the box can be (2 band): a digit touching the side
 * loses no more than that.
 */
static void clear_side(float *v, const int *lab, int w, int *up, int c,
                       const struct image_piece *bx, const struct side *sd, int s, int band,
                       int off)
{
	int bw = piece_w(bx), bh = piece_h(bx);
	int along = s < 2 ? bw : bh, depth = s < 2 ? bh : bw, from_far = s == 1 || s == 3;

	for (int a = 0; a < along; a++) {
		int in_run = 0;

		for (int i = 0; i < depth; i++) {
			int d = from_far ? depth - 1 - i : i;
			int x = bx->x0 + (s < 2 ? a : d), y = bx->y0 + (s < 2 ? d : a);
			size_t p = (size_t)y * w + x;
			int u = inward(sd, s, x, y, bx, band, off), mine = member(lab[p], up, c);

			if (u > 2 * band || (in_run && !mine))
				break;
			if (!mine)
				continue;
			if (u < -1) {
				v[p] = 0;
			} else if (u <= band || in_run) {
				v[p] = 0;
				in_run = 1;
			}
		}
	}
}

/* Clear cluster c's box if it has one; returns 1 when it did.  scratch
 * holds 2 (w + h) + ... ints (see find_side). */
static int clear_frame(float *v, const int *lab, int w, int *up, int c,
                       const struct image_piece *bx, int *scratch)
{
	int bw = piece_w(bx), bh = piece_h(bx), sides = 0, band, off[4];
	int *edge = scratch, *cover = scratch + (bw > bh ? bw : bh);
	long on_sides = 0, inside = 0;
	struct side sd[4];

	band = (int)lround(SIDE_BAND * (bw < bh ? bw : bh));
	band = band < 3 ? 3 : band;
	for (int s = 0; s < 4; s++) {
		off[s] = (int)ceil(tan(MAX_LEAN * M_PI / 180) * (s < 2 ? bw : bh)) + 1;
		sd[s] = find_side(lab, w, up, c, bx, s, band, off[s], SIDE_FILL, cover, edge);
		sides += sd[s].found;
	}
	if (sides < 3)
		return 0;
	/* A box of three sides may have the stub of a fourth. */
	for (int s = 0; s < 4; s++)
		if (!sd[s].found)
			sd[s] =
			    find_side(lab, w, up, c, bx, s, band, off[s], STUB_FILL, cover, edge);
	/* Ink inside the sides that is not theirs: a digit in the box, or
	 * fainter than the box, a pencil digit not yet counted as ink. */
	for (int y = bx->y0; y <= bx->y1; y++) {
		for (int x = bx->x0; x <= bx->x1; x++) {
			size_t i = (size_t)y * w + x;
			int mine = member(lab[i], up, c), u = band + 2;

			if (!mine && v[i] < FAINT_INK)
				continue;
			for (int s = 0; s < 4; s++) {
				int us =
				    sd[s].found ? inward(&sd[s], s, x, y, bx, band, off[s]) : u;

				u = us < u ? us : u;
			}
			on_sides += mine && u >= -1 && u <= band;
			inside += u > band;
		}
	}
	if (inside < INSIDE_INK * on_sides)
		return 0; /* an empty box, or a 0 drawn square */
	for (int s = 0; s < 4; s++)
		if (sd[s].found)
			clear_side(v, lab, w, up, c, bx, &sd[s], s, band, off[s]);
	return 1;
}

int image_remove_frames(float *v, int w, int h, const int *lab, const struct image_piece *pc,
                        int count, int *scratch)
{
	int *up = scratch, *prof = scratch + count + 1, frames = 0;
	int gap = (int)(NEAR_GAP * (w < h ? w : h)), big = LINE_MIN / 2;
	struct image_piece *box = malloc(sizeof(*box) * ((size_t)count + 1));

	if (!box)
		return -1;
	/* Cluster the pieces that could be part of a box or its digit. */
	for (int i = 0; i <= count; i++)
		up[i] = i;
	for (int i = 0; i < count; i++) {
		const struct image_piece *a = &pc[i];

		if (piece_w(a) < big && piece_h(a) < big)
			continue;
		for (int j = i + 1; j < count; j++) {
			const struct image_piece *b = &pc[j];

			if ((piece_w(b) >= big || piece_h(b) >= big) && close_boxes(a, b, gap))
				up[root(up, i + 1)] = root(up, j + 1);
		}
	}
	for (int i = 1; i <= count; i++)
		box[i] = (struct image_piece){w, h, -1, -1, 0, 0, 0, 0};
	for (int i = 1; i <= count; i++) {
		const struct image_piece *p = &pc[i - 1];
		struct image_piece *b = &box[root(up, i)];

		b->x0 = p->x0 < b->x0 ? p->x0 : b->x0;
		b->y0 = p->y0 < b->y0 ? p->y0 : b->y0;
		b->x1 = p->x1 > b->x1 ? p->x1 : b->x1;
		b->y1 = p->y1 > b->y1 ? p->y1 : b->y1;
	}
	/* Each cluster; where it holds no box, each large piece of it alone
	 * (stubs of lines or a shadow's corner next to a box can hide its
	 * outline from the cluster's sides). */
	for (int c = 1; c <= count; c++) {
		const struct image_piece *b = &box[c];
		int found = 0;

		if (root(up, c) != c || piece_w(b) < LINE_MIN || piece_h(b) < LINE_MIN)
			continue;
		found = clear_frame(v, lab, w, up, c, b, prof);
		for (int i = 1; i <= count && !found; i++) {
			const struct image_piece *p = &pc[i - 1];

			if (root(up, i) == c && piece_w(p) >= LINE_MIN && piece_h(p) >= LINE_MIN &&
			    (p->x0 != b->x0 || p->y0 != b->y0 || p->x1 != b->x1 || p->y1 != b->y1))
				found = clear_frame(v, lab, w, up, -i, p, prof);
		}
		frames += found;
	}
	free(box);
	return frames;
}
