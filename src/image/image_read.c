/*
 * image_read.c - a line of digits read as a number (see image_read.h).
 *
 * Vocabulary, all in the work picture's pixels (at most 512 a side):
 *   component  connected ink (8-neighbours, at INK_LEVEL), specks dropped
 *   group      components that overlap horizontally by most of the narrower
 *              one: the bar of a 5 and its body, the two strokes of a 4
 *   atom       a column interval of one group, between two of its candidate
 *              cuts; every group is at least one atom
 *   piece      a run of consecutive atoms: one candidate digit
 * Invariant: atoms are ordered by group (left to right) then by column, and
 * the atoms of a group tile its columns, so a run of atoms is "the ink of
 * these groups between this column of the first and that of the last".
 *
 * The text's height H (the tallest substantial component) sets every
 * length, so the method does not depend on the picture's scale.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_priv.h"
#include "image_read.h"

#define SPECK_AREA   0.04 /* of the largest component's area: smaller is dirt */
#define TALL_AREA    0.30 /* components this share of the largest set the height */
#define OVERLAP      0.50 /* of the narrower width: overlapping components group */
#define CUT_WIDE     0.60 /* of H: a group at least this wide gets candidate cuts */
#define CUT_MARGIN   0.15 /* of H: no cut this close to a group's side */
#define CUT_APART    0.12 /* of H: two cuts at least this far apart */
#define CUT_MINIMA   6    /* profile minima kept per group */
#define CUT_STEP     0.50 /* of H: evenly spaced cuts about this far apart */
#define MAX_CUTS     12   /* per group */
#define MAX_RUN      8    /* atoms per piece, but for a whole group */
#define MAX_WIDTH    1.60 /* of H: widest piece */
#define JOIN_GAP     0.30 /* of H: groups further apart are never one digit */
#define WIDE_FROM    1.10 /* of H: wider pieces pay WIDE_COST per H beyond */
#define WIDE_COST    6.0
#define LOW_BELOW    0.50 /* of H: lower pieces pay LOW_COST per H below */
#define LOW_COST     8.0
#define NARROW_BELOW 0.50 /* width over height: narrower pieces but a 1 pay NARROW_COST */
#define NARROW_COST  4.0
#define CUT_COST     1.00  /* per stroke width of ink a cut goes through */
#define BOX_LEVEL    0.05f /* as image_normalise: ink that counts for a box */
#define SLIVER       0.15  /* of a piece's ink: less, at a cut side, is a neighbour's */

struct comp {
	int x0, y0, x1, y1, area;
	int group;
};

struct group {
	int x0, y0, x1, y1;
	int ncut, cut[MAX_CUTS + 2]; /* sorted, cut[0] = x0, cut[ncut - 1] = x1 + 1 */
	float ink[MAX_CUTS + 2];     /* ink pixels in the column of each cut */
	int area;                    /* its components' */
};

struct atom {
	int group, lo, hi; /* columns [lo, hi) */
	double cut_ink; /* stroke widths of ink the cut at lo goes through: 0 at the group's edge */
};

struct piece {
	int a, b;      /* atoms [a, b) */
	int box[4];    /* x0, y0, x1, y1 of its ink */
	int row;       /* in the batch, or -1 when it has no ink */
	double prior;  /* of its size and of the cut on its left */
	double aspect; /* width over height */
};

struct reader {
	const float *v;
	int w, h;
	int *gid; /* per pixel: its group, or -1 */
	struct comp *comp;
	int ncomp, capcomp;
	struct group *group;
	int ngroup;
	struct atom atom[IMAGE_READ_MAX_ATOMS];
	int natom;
	double height;
	double stroke; /* mean vertical run of ink: a stroke's width */
	double middle; /* the line's: mean middle row of the tall groups */
	double sx, sy; /* work picture to uploaded picture */
};

/* Connected components of v >= INK_LEVEL into r->comp, labels in lab
 * (index + 1).  -1 when out of memory. */
static int find_components(struct reader *r, int *lab, int *stack)
{
	const int w = r->w, h = r->h;
	const size_t n = (size_t)w * h;

	memset(lab, 0, n * sizeof(*lab));
	for (size_t s = 0; s < n; s++) {
		struct comp *c;
		size_t top = 0;

		if (lab[s] || r->v[s] < INK_LEVEL)
			continue;
		if (r->ncomp == r->capcomp) {
			int cap = r->capcomp ? 2 * r->capcomp : 64;
			struct comp *grown = realloc(r->comp, (size_t)cap * sizeof(*grown));

			if (!grown)
				return -1;
			r->comp = grown;
			r->capcomp = cap;
		}
		c = &r->comp[r->ncomp++];
		*c = (struct comp){(int)(s % w), (int)(s / w), (int)(s % w), (int)(s / w), 0, -1};
		lab[s] = r->ncomp;
		stack[top++] = (int)s;
		while (top) {
			int p = stack[--top], x = p % w, y = p / w;

			c->area++;
			c->x0 = x < c->x0 ? x : c->x0;
			c->x1 = x > c->x1 ? x : c->x1;
			c->y0 = y < c->y0 ? y : c->y0;
			c->y1 = y > c->y1 ? y : c->y1;
			for (int dy = -1; dy <= 1; dy++) {
				for (int dx = -1; dx <= 1; dx++) {
					int xx = x + dx, yy = y + dy;
					size_t q = (size_t)yy * w + xx;

					if (xx < 0 || yy < 0 || xx >= w || yy >= h || lab[q] ||
					    r->v[q] < INK_LEVEL)
						continue;
					lab[q] = r->ncomp;
					stack[top++] = (int)q;
				}
			}
		}
	}
	return 0;
}

static int find_root(int *parent, int i)
{
	while (parent[i] != i)
		i = parent[i] = parent[parent[i]];
	return i;
}

static int by_x0(const void *a, const void *b)
{
	const struct group *g = a, *k = b;

	return (g->x0 > k->x0) - (g->x0 < k->x0);
}

/*
 * Drop specks, measure the height, group the components that overlap
 * horizontally, and give each pixel its group (faint pixels next to ink
 * too, as image_keep_digit keeps anti-aliasing).  Returns the number of
 * groups, 0 when no ink, -1 when out of memory.
 */
static int make_groups(struct reader *r, const int *lab, int *parent)
{
	int maxarea = 0, k = 0;

	for (int i = 0; i < r->ncomp; i++)
		maxarea = r->comp[i].area > maxarea ? r->comp[i].area : maxarea;
	r->height = 0;
	for (int i = 0; i < r->ncomp; i++) {
		struct comp *c = &r->comp[i];

		parent[i] = i;
		c->group = c->area >= SPECK_AREA * maxarea && c->area >= 3 ? 0 : -1;
		if (c->area >= TALL_AREA * maxarea && c->y1 - c->y0 + 1 > r->height)
			r->height = c->y1 - c->y0 + 1;
	}
	for (int i = 0; i < r->ncomp; i++) {
		for (int j = i + 1; j < r->ncomp; j++) {
			const struct comp *a = &r->comp[i], *b = &r->comp[j];
			int ov =
			    (a->x1 < b->x1 ? a->x1 : b->x1) - (a->x0 > b->x0 ? a->x0 : b->x0) + 1;
			int wa = a->x1 - a->x0 + 1, wb = b->x1 - b->x0 + 1;

			if (a->group < 0 || b->group < 0 || ov < OVERLAP * (wa < wb ? wa : wb))
				continue;
			parent[find_root(parent, i)] = find_root(parent, j);
		}
	}
	r->group = malloc((r->ncomp > 0 ? (size_t)r->ncomp : 1) * sizeof(*r->group));
	if (!r->group)
		return -1;
	for (int i = 0; i < r->ncomp; i++)
		parent[i] = find_root(parent, i);
	for (int i = 0; i < r->ncomp; i++) { /* roots first: they name the groups */
		struct comp *c = &r->comp[i];

		if (c->group < 0 || parent[i] != i)
			continue;
		r->group[k] = (struct group){c->x0, c->y0, c->x1, c->y1, 0, {0}, {0}, 0};
		c->group = k++;
	}
	for (int i = 0; i < r->ncomp; i++) {
		struct comp *c = &r->comp[i];
		struct group *g;

		if (c->group < 0)
			continue;
		c->group = r->comp[parent[i]].group;
		g = &r->group[c->group];
		g->x0 = c->x0 < g->x0 ? c->x0 : g->x0;
		g->x1 = c->x1 > g->x1 ? c->x1 : g->x1;
		g->y0 = c->y0 < g->y0 ? c->y0 : g->y0;
		g->y1 = c->y1 > g->y1 ? c->y1 : g->y1;
		g->area += c->area;
	}
	/* The height again, of groups: a 5 drawn in two is as tall as the
	 * two pieces together, not as its body. */
	maxarea = 0;
	for (int g = 0; g < k; g++)
		maxarea = r->group[g].area > maxarea ? r->group[g].area : maxarea;
	for (int g = 0; g < k; g++)
		if (r->group[g].area >= TALL_AREA * maxarea &&
		    r->group[g].y1 - r->group[g].y0 + 1 > r->height)
			r->height = r->group[g].y1 - r->group[g].y0 + 1;
	return r->ngroup = k;
}

/* Each pixel's group (its rank left to right, order[] of the group index
 * make_groups gave), -1 for specks and paper; faint pixels touching ink
 * take that ink's group. */
static void label_pixels(struct reader *r, const int *lab, const int *order)
{
	const int w = r->w, h = r->h;

	for (size_t s = 0; s < (size_t)w * h; s++) {
		int g = lab[s] ? r->comp[lab[s] - 1].group : -1;

		r->gid[s] = g < 0 ? -1 : order[g];
	}
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			size_t s = (size_t)y * w + x;

			if (r->gid[s] >= 0 || r->v[s] <= 0)
				continue;
			for (int dy = -1; dy <= 1 && r->gid[s] < 0; dy++) {
				for (int dx = -1; dx <= 1; dx++) {
					int xx = x + dx, yy = y + dy;
					size_t q = (size_t)yy * w + xx;

					if (xx >= 0 && yy >= 0 && xx < w && yy < h &&
					    r->v[q] >= INK_LEVEL && r->gid[q] >= 0) {
						r->gid[s] = r->gid[q];
						break;
					}
				}
			}
		}
	}
}

static int add_cut(struct group *g, int c, double apart)
{
	if (g->ncut >= MAX_CUTS)
		return 0;
	for (int i = 0; i < g->ncut; i++)
		if (abs(g->cut[i] - c) < apart)
			return 0;
	g->cut[g->ncut++] = c;
	return 1;
}

static int by_int(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/*
 * Candidate cuts of group gi: the columns where its ink profile has its
 * lowest local minima (where two touching digits meet the ink is
 * thinnest), then evenly spaced columns so that a join as thick as a
 * stroke still has a cut near it.  prof holds w floats.
 */
static void cut_group(struct reader *r, int gi, float *prof)
{
	struct group *g = &r->group[gi];
	const int gw = g->x1 - g->x0 + 1, margin = (int)ceil(CUT_MARGIN * r->height);
	const double apart = CUT_APART * r->height;
	int found[MAX_CUTS], nfound = 0;

	g->ncut = 0;
	if (gw >= CUT_WIDE * r->height) {
		for (int x = g->x0; x <= g->x1; x++) {
			float s = 0;

			for (int y = g->y0; y <= g->y1; y++)
				if (r->gid[(size_t)y * r->w + x] == gi)
					s += r->v[(size_t)y * r->w + x];
			prof[x] = s;
		}
		/* The CUT_MINIMA lowest local minima, lowest first. */
		for (int pick = 0; pick < CUT_MINIMA; pick++) {
			int best = -1;

			for (int x = g->x0 + margin; x <= g->x1 + 1 - margin; x++) {
				int taken = 0;

				if (x <= g->x0 || x >= g->x1 || prof[x] > prof[x - 1] ||
				    prof[x] > prof[x + 1])
					continue;
				for (int i = 0; i < nfound; i++)
					taken |= abs(found[i] - x) < apart;
				if (!taken && (best < 0 || prof[x] < prof[best]))
					best = x;
			}
			if (best < 0)
				break;
			found[nfound++] = best;
		}
		for (int i = 0; i < nfound; i++)
			add_cut(g, found[i], apart);
		for (int parts = 2; parts <= (int)(gw / (CUT_STEP * r->height)) + 1; parts++)
			for (int k = 1; k < parts; k++)
				add_cut(g, g->x0 + (int)lround((double)k * gw / parts), apart);
	}
	g->cut[g->ncut++] = g->x0;
	g->cut[g->ncut++] = g->x1 + 1;
	qsort(g->cut, (size_t)g->ncut, sizeof(int), by_int);
	for (int i = 0; i < g->ncut; i++)
		g->ink[i] = i == 0 || i == g->ncut - 1 ? 0 : prof[g->cut[i]];
}

/* The mean length of the vertical runs of ink: how wide a pen's stroke
 * is, the unit of what a cut goes through. */
static double stroke_width(const struct reader *r)
{
	long ink = 0, runs = 0;

	for (int y = 0; y < r->h; y++) {
		for (int x = 0; x < r->w; x++) {
			size_t s = (size_t)y * r->w + x;

			if (r->gid[s] < 0 || r->v[s] < INK_LEVEL)
				continue;
			ink++;
			runs += y == 0 || r->gid[s - r->w] < 0 || r->v[s - r->w] < INK_LEVEL;
		}
	}
	return runs ? (double)ink / runs : 1;
}

/* The middle row of the line: the mean of the groups' middles, those at
 * least half the text height tall (a 1's or a 7's, not a stray mark's). */
static double line_middle(const struct reader *r)
{
	double sum = 0;
	int n = 0;

	for (int g = 0; g < r->ngroup; g++) {
		const struct group *k = &r->group[g];

		if (k->y1 - k->y0 + 1 >= 0.5 * r->height)
			sum += 0.5 * (k->y0 + k->y1), n++;
	}
	return n ? sum / n : 0.5 * r->h;
}

/* Whether pixel (x, y) of group gi belongs to piece p's atoms. */
static int in_piece(const struct reader *r, const struct piece *p, int gi, int x)
{
	const struct atom *first = &r->atom[p->a], *last = &r->atom[p->b - 1];

	if (gi < first->group || gi > last->group)
		return 0;
	if (gi == first->group && x < first->lo)
		return 0;
	if (gi == last->group && x >= last->hi)
		return 0;
	return 1;
}

/*
 * Drop from buf[bh][bw] (a piece's ink, cut at its left side if cut_left
 * and at its right if cut_right) the bits of a neighbour that a straight
 * cut leaves in it: connected ink that touches a cut side and holds less
 * than SLIVER of the piece's ink.  Where two digits overlap, the column
 * cut between them goes through both, and the scraps it leaves make a
 * whole digit look like no digit.  lab and stack hold bw x bh ints.
 */
static void drop_slivers(float *buf, int bw, int bh, int cut_left, int cut_right, int *lab,
                         int *stack)
{
	const int n = bw * bh;
	int total = 0, nlab = 0;

	if (!cut_left && !cut_right)
		return;
	memset(lab, 0, (size_t)n * sizeof(*lab));
	for (int s = 0; s < n; s++)
		total += buf[s] >= INK_LEVEL;
	for (int s0 = 0; s0 < n; s0++) {
		int top = 0, area = 0, edge = 0;

		if (lab[s0] || buf[s0] < INK_LEVEL)
			continue;
		lab[s0] = ++nlab;
		stack[top++] = s0;
		while (top) {
			int q = stack[--top], x = q % bw, y = q / bw;

			area++;
			edge |= (cut_left && x == 0) || (cut_right && x == bw - 1);
			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					int xx = x + dx, yy = y + dy, t = yy * bw + xx;

					if (xx < 0 || yy < 0 || xx >= bw || yy >= bh || lab[t] ||
					    buf[t] < INK_LEVEL)
						continue;
					lab[t] = nlab;
					stack[top++] = t;
				}
		}
		if (edge && area < SLIVER * total) /* a negative label: dropped */
			for (int t = 0; t < n; t++)
				if (lab[t] == nlab)
					lab[t] = -nlab;
	}
	for (int y = 0; y < bh; y++) { /* faint pixels go with the ink they touch */
		for (int x = 0; x < bw; x++) {
			int s = y * bw + x, drop = lab[s] < 0;

			for (int dy = -1; dy <= 1 && !lab[s] && !drop; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					int xx = x + dx, yy = y + dy;

					if (xx >= 0 && yy >= 0 && xx < bw && yy < bh &&
					    lab[yy * bw + xx] < 0)
						drop = 1;
				}
			if (drop)
				buf[s] = 0;
		}
	}
}

/*
 * Piece p's picture: its own groups' ink in its columns, less the slivers
 * of neighbours, its box (BOX_LEVEL, as image_normalise crops) into
 * p->box, normalised into out.  Returns 1 when it has ink, 0 when not, -1
 * on failure.
 */
static int piece_pixels(const struct reader *r, struct piece *p, float *buf, float *tmp, int *lab,
                        float out[IMAGE_PIXELS], struct dg_error *err)
{
	int x0 = r->w, y0 = r->h, x1 = -1, y1 = -1, gy0 = r->h, gy1 = -1, bw, bh;
	int lo = r->atom[p->a].lo, hi = r->atom[p->a].hi;
	const struct atom *first = &r->atom[p->a], *last = &r->atom[p->b - 1];
	int cut_left = p->a > 0 && r->atom[p->a - 1].group == first->group;
	int cut_right = p->b < r->natom && r->atom[p->b].group == last->group;

	for (int a = p->a; a < p->b; a++) {
		const struct group *g = &r->group[r->atom[a].group];

		lo = r->atom[a].lo < lo ? r->atom[a].lo : lo;
		hi = r->atom[a].hi > hi ? r->atom[a].hi : hi;
		gy0 = g->y0 < gy0 ? g->y0 : gy0;
		gy1 = g->y1 > gy1 ? g->y1 : gy1;
	}
	bw = hi - lo;
	bh = gy1 - gy0 + 1;
	for (int y = 0; y < bh; y++) {
		for (int x = 0; x < bw; x++) {
			size_t s = (size_t)(y + gy0) * r->w + x + lo;

			buf[y * bw + x] =
			    r->gid[s] >= 0 && in_piece(r, p, r->gid[s], x + lo) ? r->v[s] : 0.0f;
		}
	}
	drop_slivers(buf, bw, bh, cut_left, cut_right, lab, lab + (size_t)bw * bh);
	for (int y = 0; y < bh; y++) {
		for (int x = 0; x < bw; x++) {
			if (buf[y * bw + x] < BOX_LEVEL)
				continue;
			x0 = x < x0 ? x : x0;
			x1 = x > x1 ? x : x1;
			y0 = y < y0 ? y : y0;
			y1 = y > y1 ? y : y1;
		}
	}
	if (x1 < 0)
		return 0;
	p->box[0] = x0 + lo, p->box[1] = y0 + gy0, p->box[2] = x1 + lo, p->box[3] = y1 + gy0;
	if (image_box_to_mnist(buf, bw, (int[4]){x0, y0, x1, y1}, tmp, out, err) < 0)
		return err->code == DG_ERR_EMPTY ? 0 : -1;
	return 1;
}

/* Width and height prior of a piece, in log-probability units. */
static double piece_prior(const struct reader *r, const struct piece *p)
{
	double wr = (p->box[2] - p->box[0] + 1) / r->height;
	double hr = (p->box[3] - p->box[1] + 1) / r->height;
	double prior = 0;

	if (wr > WIDE_FROM)
		prior -= WIDE_COST * (wr - WIDE_FROM);
	if (hr < LOW_BELOW)
		prior -= LOW_COST * (LOW_BELOW - hr);
	return prior - CUT_COST * r->atom[p->a].cut_ink;
}

/* What image_read_piece says of piece p besides its box (see
 * image_read.h for the list). */
static void piece_shape(const struct reader *r, const struct piece *p, float *f)
{
	const double H = r->height;
	const double w = p->box[2] - p->box[0] + 1, h = p->box[3] - p->box[1] + 1;
	const struct atom *first = &r->atom[p->a], *last = &r->atom[p->b - 1];
	int right_cut = p->b < r->natom && r->atom[p->b].group == last->group;
	double widest = 0;

	for (int a = p->a + 1; a < p->b; a++) {
		int g = r->atom[a].group, k = r->atom[a - 1].group;

		if (g != k && r->group[g].x0 - r->group[k].x1 > widest)
			widest = r->group[g].x0 - r->group[k].x1;
	}
	f[0] = (float)(w / H);
	f[1] = (float)(h / H);
	f[2] = (float)(w / h);
	f[3] = f[0] * f[0];
	f[4] = (float)first->cut_ink;
	f[5] = right_cut ? (float)r->atom[p->b].cut_ink : 0.0f;
	f[6] = first->cut_ink > 0 || (p->a > 0 && r->atom[p->a - 1].group == first->group);
	f[7] = (float)right_cut;
	f[8] = (float)(p->b - p->a);
	f[9] = (float)(last->group - first->group);
	f[10] = (float)(widest / H);
	f[11] = (float)((r->middle - 0.5 * (p->box[1] + p->box[3])) / H);
}

/* Whether atoms [a, b) may be one digit: not too wide, no wide gap. */
static int run_allowed(const struct reader *r, int a, int b)
{
	int lo = r->atom[a].lo, hi = r->atom[a].hi;

	for (int i = a + 1; i < b; i++) {
		const struct atom *prev = &r->atom[i - 1], *cur = &r->atom[i];

		if (cur->group != prev->group &&
		    r->group[cur->group].x0 - r->group[prev->group].x1 > JOIN_GAP * r->height)
			return 0;
		lo = cur->lo < lo ? cur->lo : lo;
		hi = cur->hi > hi ? cur->hi : hi;
	}
	return hi - lo <= MAX_WIDTH * r->height || b - a == 1;
}

/* The best digit among the first 10 classes and its log-probability. */
static double best_digit(const float *probs, int n_classes, int *digit)
{
	int best = 0;

	for (int c = 1; c < n_classes && c < 10; c++)
		if (probs[c] > probs[best])
			best = c;
	*digit = best;
	return log(probs[best] > 1e-6f ? probs[best] : 1e-6);
}

/* Classify every piece (batches of rd->max_batch), then the dynamic
 * programme over atom boundaries, then the answer. */
static int choose(const struct reader *r, struct piece *pc, int npc, const float *pixels,
                  const struct image_read_piece *info, int nrows, const struct image_reader *rd,
                  struct image_read_result *res, struct dg_error *err)
{
	const int nc = rd->n_classes + (rd->with_piece_score != 0); /* per row */
	float *probs = malloc((size_t)(nrows ? nrows : 1) * nc * sizeof(float));
	double best[IMAGE_READ_MAX_ATOMS + 1];
	int from[IMAGE_READ_MAX_ATOMS + 1], digit;

	if (!probs)
		return dg_fail(err, DG_ERR_NOMEM, "no memory for %d pieces' probabilities", nrows);
	for (int i = 0; i < nrows; i += rd->max_batch) {
		int n = nrows - i < rd->max_batch ? nrows - i : rd->max_batch;

		if (rd->classify(rd->ctx, pixels + (size_t)i * IMAGE_PIXELS, info + i, n,
		                 probs + (size_t)i * nc, err) < 0) {
			free(probs);
			return -1;
		}
	}
	best[0] = 0;
	for (int j = 1; j <= r->natom; j++)
		best[j] = -HUGE_VAL, from[j] = -1;
	for (int i = 0; i < npc; i++) {
		const struct piece *p = &pc[i];
		double s = 0;

		if (p->row >= 0) {
			const float *pr = probs + (size_t)p->row * nc;

			s = best_digit(pr, rd->n_classes, &digit) + (rd->no_priors ? 0 : p->prior);
			if (rd->with_piece_score)
				s += pr[nc - 1];
			/* Only a 1 is much narrower than tall: a narrow "7" is
			 * more likely a slice of a wider digit. */
			if (!rd->no_priors && digit != 1 && p->aspect < NARROW_BELOW)
				s -= NARROW_COST * (NARROW_BELOW - p->aspect) / NARROW_BELOW;
		}

		/* Pieces come ordered by their first atom, so best[p->a] is final. */
		if (best[p->a] + s > best[p->b]) {
			best[p->b] = best[p->a] + s;
			from[p->b] = i;
		}
	}
	res->n = 0;
	for (int j = r->natom; j > 0; j = pc[from[j]].a)
		if (pc[from[j]].row >= 0)
			res->n++;
	if (res->n > IMAGE_READ_MAX_DIGITS) {
		free(probs);
		return dg_fail(err, DG_ERR_INVALID, "%d digits found, at most %d are read", res->n,
		               IMAGE_READ_MAX_DIGITS);
	}
	for (int j = r->natom, k = res->n; j > 0; j = pc[from[j]].a) {
		const struct piece *p = &pc[from[j]];
		struct image_read_digit *d;

		if (p->row < 0)
			continue;
		d = &res->digit[--k];
		best_digit(probs + (size_t)p->row * nc, rd->n_classes, &d->digit);
		memcpy(d->probs, probs + (size_t)p->row * nc,
		       (size_t)(rd->n_classes < 16 ? rd->n_classes : 16) * sizeof(float));
		memcpy(d->pixels, pixels + (size_t)p->row * IMAGE_PIXELS, sizeof(d->pixels));
		d->x = info[p->row].x, d->y = info[p->row].y;
		d->w = info[p->row].w, d->h = info[p->row].h;
	}
	free(probs);
	return 0;
}

/* Over-segment r's ink into atoms and every allowed piece into pc; their
 * normalised pictures into *pixels and what else is known of them into
 * *info (both malloc'ed, one per row). */
static int make_pieces(struct reader *r, struct piece **pcp, int *npc, float **pixelsp,
                       struct image_read_piece **infop, int *nrows, struct dg_error *err)
{
	struct piece *pc;
	struct image_read_piece *info;
	float *pixels, *buf, *tmp;
	int n = 0, rows = 0, *lab;

	r->natom = 0;
	for (int g = 0; g < r->ngroup; g++) {
		for (int c = 0; c + 1 < r->group[g].ncut; c++) {
			if (r->natom == IMAGE_READ_MAX_ATOMS)
				return dg_fail(err, DG_ERR_INVALID,
				               "more than %d pieces of ink: not one line of digits",
				               IMAGE_READ_MAX_ATOMS);
			r->atom[r->natom++] =
			    (struct atom){g, r->group[g].cut[c], r->group[g].cut[c + 1],
			                  r->group[g].ink[c] / r->stroke};
		}
	}
	pc = malloc((size_t)r->natom * (MAX_RUN + 1) * sizeof(*pc));
	pixels = malloc((size_t)r->natom * (MAX_RUN + 1) * IMAGE_PIXELS * sizeof(float));
	info = malloc((size_t)r->natom * (MAX_RUN + 1) * sizeof(*info));
	buf = malloc(((size_t)r->w * r->h + (size_t)r->h * 20) * sizeof(float) +
	             (size_t)r->w * r->h * 2 * sizeof(int));
	if (!pc || !pixels || !info || !buf) {
		free(pc), free(pixels), free(info), free(buf);
		return dg_fail(err, DG_ERR_NOMEM, "no memory for %d atoms' pieces", r->natom);
	}
	tmp = buf + (size_t)r->w * r->h;
	lab = (int *)(tmp + (size_t)r->h * 20);
	for (int a = 0; a < r->natom; a++) {
		/* A whole group is always a candidate, however wide or cut
		 * up: one wide digit is one piece of ink. */
		int first = a == 0 || r->atom[a - 1].group != r->atom[a].group, end = a + 1;

		while (end < r->natom && r->atom[end].group == r->atom[a].group)
			end++;
		for (int b = a + 1; b <= r->natom; b++) {
			struct piece *p = &pc[n];
			int got;

			if (!(first && b == end) && (b - a > MAX_RUN || !run_allowed(r, a, b))) {
				if (first && b < end)
					continue;
				break;
			}
			*p = (struct piece){a, b, {0}, -1, 0, 0};
			got = piece_pixels(r, p, buf, tmp, lab,
			                   pixels + (size_t)rows * IMAGE_PIXELS, err);
			if (got < 0) {
				free(pc), free(pixels), free(info), free(buf);
				return -1;
			}
			if (got) {
				struct image_read_piece *pi = &info[rows];
				int x0 = (int)floor(p->box[0] * r->sx);
				int y0 = (int)floor(p->box[1] * r->sy);

				p->row = rows++;
				p->prior = piece_prior(r, p);
				p->aspect = (double)(p->box[2] - p->box[0] + 1) /
				            (p->box[3] - p->box[1] + 1);
				pi->x = x0, pi->y = y0;
				pi->w = (int)ceil((p->box[2] + 1) * r->sx) - x0;
				pi->h = (int)ceil((p->box[3] + 1) * r->sy) - y0;
				piece_shape(r, p, pi->shape);
				pi->first = a, pi->end = b;
			}
			n++;
		}
	}
	free(buf);
	*pcp = pc, *npc = n, *pixelsp = pixels, *infop = info, *nrows = rows;
	return 0;
}

static int segment(struct reader *r, int *lab, int *stack, const struct image_reader *rd,
                   struct image_read_result *res, struct dg_error *err)
{
	struct piece *pc = NULL;
	struct image_read_piece *info = NULL;
	float *pixels = NULL;
	int npc = 0, nrows = 0, *order, rc;

	if (find_components(r, lab, stack) < 0)
		return dg_fail(err, DG_ERR_NOMEM, "no memory for the pieces of a %dx%d picture",
		               r->w, r->h);
	rc = make_groups(r, lab, stack);
	if (rc < 0)
		return dg_fail(err, DG_ERR_NOMEM, "no memory for the groups of a %dx%d picture",
		               r->w, r->h);
	if (rc == 0 || r->height <= 0)
		return dg_fail(err, DG_ERR_EMPTY, "no ink left after removing specks");
	/* Groups left to right; order maps a group's index to its rank. */
	for (int g = 0; g < r->ngroup; g++)
		r->group[g].ncut = g; /* remember the old index through the sort */
	qsort(r->group, (size_t)r->ngroup, sizeof(*r->group), by_x0);
	order = stack; /* the stack is free again */
	for (int g = 0; g < r->ngroup; g++)
		order[r->group[g].ncut] = g;
	label_pixels(r, lab, order);
	r->stroke = stroke_width(r);
	r->middle = line_middle(r);
	for (int g = 0; g < r->ngroup; g++)
		cut_group(r, g, (float *)lab); /* lab is done with: w floats of profile */
	if (make_pieces(r, &pc, &npc, &pixels, &info, &nrows, err) < 0)
		return -1;
	res->atoms = r->natom;
	res->pieces = nrows;
	rc = choose(r, pc, npc, pixels, info, nrows, rd, res, err);
	free(pc);
	free(pixels);
	free(info);
	return rc;
}

int image_read_luminance(const float *lum, int w, int h, double sx, double sy,
                         const struct image_reader *rd, struct image_read_result *res,
                         int *inverted, struct dg_error *err)
{
	const size_t n = (size_t)w * h;
	const int longer = w > h ? w : h;
	struct reader r = {.w = w, .h = h, .sx = sx, .sy = sy};
	float *v, *scratch;
	int *lab, *stack, inv = 0, rc = -1;
	uint8_t *mark;

	res->n = res->pieces = res->atoms = 0;
	if (w <= 0 || h <= 0 || n > (1u << 26))
		return dg_fail(err, DG_ERR_INVALID, "cannot read a %dx%d picture", w, h);
	if (rd->n_classes < 10 || rd->n_classes > 16 || rd->max_batch < 1)
		return dg_fail(err, DG_ERR_INVALID, "a classifier of %d classes cannot read digits",
		               rd->n_classes);
	/* One block: v, the ink module's scratch, labels, a stack, groups, marks. */
	v = malloc(n * (sizeof(float) * 6 + sizeof(int) * 3 + 1) +
	           (size_t)3 * longer * sizeof(float));
	if (!v)
		return dg_fail(err, DG_ERR_NOMEM, "no memory to read a %dx%d picture", w, h);
	scratch = v + n;
	lab = (int *)(scratch + 5 * n + 3 * (size_t)longer);
	stack = lab + n;
	r.gid = stack + n;
	mark = (uint8_t *)(r.gid + n);
	r.v = v;

	image_ink_strength(lum, w, h, v, &inv, scratch);
	if (inverted)
		*inverted = inv;
	if (image_stretch_paper(v, n, err) < 0)
		goto out;
	if (image_remove_lines(v, w, h, mark, lab) < 0) {
		dg_fail(err, DG_ERR_NOMEM, "no memory to analyse a %dx%d picture", w, h);
		goto out;
	}
	rc = segment(&r, lab, stack, rd, res, err);
out:
	free(r.comp);
	free(r.group);
	free(v);
	return rc;
}

int image_read(const void *data, size_t len, const struct image_limits *lim,
               const struct image_reader *rd, struct image_read_result *res,
               struct image_info *info, struct dg_error *err)
{
	struct image_luminance wk;
	struct image_info scratch;
	struct dg_error e = {0};
	double sx, sy;
	int inverted = 0, rc;

	if (!info)
		info = &scratch;
	res->n = 0;
	if (image_decode_luminance(data, len, lim, &wk, info, err) < 0)
		return -1;
	sx = (double)info->width / wk.w;
	sy = (double)info->height / wk.h;
	rc = image_read_luminance(wk.lum, wk.w, wk.h, sx, sy, rd, res, &inverted, &e);
	if (rc < 0 && e.code == DG_ERR_EMPTY && wk.any_alpha) {
		/* Light strokes on a transparent canvas, as image_to_mnist. */
		rc = image_read_luminance(wk.clear, wk.w, wk.h, sx, sy, rd, res, NULL, &e);
		inverted = 0;
	}
	image_luminance_free(&wk);
	if (rc < 0)
		return dg_fail(err, e.code, "%s %dx%d: %s", image_format_name(info->format),
		               info->width, info->height, e.msg);
	info->inverted = inverted;
	for (int i = 0; i < res->n; i++) { /* rounding may pass the edge by a pixel */
		struct image_read_digit *d = &res->digit[i];

		d->w = d->x + d->w > info->width ? info->width - d->x : d->w;
		d->h = d->y + d->h > info->height ? info->height - d->y : d->h;
	}
	return 0;
}
