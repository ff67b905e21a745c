/*
 * warp_sum.c -- lode's own `sum` warp of one chunk, giving the same pixels, bit for bit,
 * as GDAL 3.6's warper gives for it.  GDAL 3.6 computes sum with its own kernel,
 * GWKSumPreserving (alg/gdalwarpkernel.cpp), not with GWKAverageOrModeThread: every
 * source pixel is a quadrilateral in target pixel coordinates, and a target pixel's
 * value is the sum of the valid source values, each weighted by the part of the source
 * pixel's area that falls in the target pixel.
 *
 * Why: GDAL's version works through C++ vectors and a per-pixel value getter, and with
 * -multi every thread transforms all of a chunk's source pixel corners; this does the
 * same arithmetic in C over the Float32 copy of the chunk's source window that
 * warp_bilinear.c reads (chunking, reading and nodata mask are shared with the other
 * kernels: GDAL's filter radius for sum is 0, as for average).
 *
 * Following GDAL 3.6.2, for a chunk warped on one thread (lode warps a window on one):
 *  1. The corners of the source pixels are transformed, a row of ssx + 1 corners at a
 *     time, source to target (the warp's transformer, forward); a corner that comes back
 *     non-finite fails; the chunk's target offset is subtracted from the others.
 *  2. A valid source pixel (nodata mask) whose four corners transformed becomes a
 *     quadrilateral; GDAL's antimeridian split (FindDiscontinuity) is reproduced; its
 *     bounding box must overlap the chunk, and its edges must not cross (lode's
 *     transformer is never GDAL's affine one, so GDAL always checks).  It goes into a
 *     quadtree built as GDAL's CPLQuadTree builds it (same bounds, same order, same
 *     splits), because a target pixel's sum adds its source pixels in the order that
 *     tree's search returns: the order of the nodes holding them (depth first), then
 *     of their places in a node.  Instead of searching the tree for every target
 *     pixel, each pixel gets its list of candidates and sorts the overlapping ones by
 *     that order (qt_keys, cell_lists, cell_search).
 *  3. For each target pixel, row by row, the source pixels the tree finds are
 *     intersected with the unit square (getConvexPolyIntersection: the points of each
 *     polygon inside the other, the edges' crossings, sorted around the lowest point
 *     with GDAL's comparison, by std::sort, which for at most 16 points is the insertion
 *     sort written here; more points: GDAL's warper does the window), a non-convex one
 *     as two triangles; weight = intersection area / source pixel area (the area cached,
 *     as GDAL caches it, from the first target pixel that used it); sum += v * weight.
 *  4. A pixel with a positive sum of weights gets the sum, stored as GWKSetPixelValue
 *     stores it (density 1: the density sum and the weight sum are the same numbers).
 * Several bands go through once, as GDAL's loop does: the source pixels are those valid
 * in any band (the unified validity), each one's weight is computed once, and each band
 * adds value x weight and the weight where that band is valid, with its own sums; a band
 * whose sum of weights stays 0 keeps its nodata.  The values are read in the source's
 * type (b->raw), as GWKGetPixelValue reads them.
 * tests/e2e/test_kernels.py compares every pixel with gdalwarp -r sum -et 0's and the
 * bundle with the one LODE_WARP_KERNEL=gdal writes.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "warp_bilinear.h"
#include "warp_kernel.h"

typedef struct {
	double x, y;
} xy;

/* std::min and std::max (not fmin and fmax, a call each) */
static inline double min2(double a, double b)
{
	return b < a ? b : a;
}

static inline double max2(double a, double b)
{
	return a < b ? b : a;
}

/* One source pixel in target pixel coordinates (GDAL's SourcePixel). */
typedef struct {
	int ix, iy;
	xy p[4];
	double area;
} src_pixel;

enum { MAX_PTS = 24, MAX_SORT = 16 };

/* getOrientation */
static int orientation(xy a, xy b, xy c)
{
	const double v = (b.y - a.y) * (c.x - b.x) - (b.x - a.x) * (c.y - b.y);
	return fabs(v) < 1e-20 ? 0 : v > 0 ? 1 : -1;
}

/* isConvex, on a closed polygon of n points */
static int is_convex(const xy *p, int n)
{
	int last = orientation(p[0], p[1], p[2]);
	for (int i = 1; i < n - 2; i++) {
		const int o = orientation(p[i], p[i + 1], p[i + 2]);
		if (o != 0) {
			if (last == 0)
				last = o;
			else if (o != last)
				return 0;
		}
	}
	return 1;
}

/* pointIntersectsConvexPoly, poly closed, n points */
static int point_in(xy q, const xy *p, int n)
{
	double dx1 = q.x - p[0].x, dy1 = q.y - p[0].y;
	double dx2 = p[1].x - p[0].x, dy2 = p[1].y - p[0].y;
	double prev = dx1 * dy2 - dx2 * dy1;

	for (int i = 2; i < n; i++) {
		double cross;
		dx1 = q.x - p[i - 1].x;
		dy1 = q.y - p[i - 1].y;
		dx2 = p[i].x - p[i - 1].x;
		dy2 = p[i].y - p[i - 1].y;
		cross = dx1 * dy2 - dx2 * dy1;
		if (fabs(prev) < 1e-20)
			prev = cross;
		else if (prev * cross < 0)
			return 0;
	}
	return 1;
}

/* getIntersection of [p1,p2] with [p3,p4].  Segments whose bounding boxes lie more than
   SEP apart cannot pass GDAL's tests (t and u in [0, 1] with products of coordinates of
   a few units, rounding errors of 1e-15): they are rejected first, which is most pairs
   of a source pixel's edges and the target pixel's. */
#define SEP 1e-7
static int intersection_full(xy p1, xy p2, xy p3, xy p4, xy *out);
static int intersection(xy p1, xy p2, xy p3, xy p4, xy *out)
{
	if (max2(p1.x, p2.x) + SEP < min2(p3.x, p4.x) || max2(p3.x, p4.x) + SEP < min2(p1.x, p2.x) ||
	    max2(p1.y, p2.y) + SEP < min2(p3.y, p4.y) || max2(p3.y, p4.y) + SEP < min2(p1.y, p2.y))
		return 0;
	return intersection_full(p1, p2, p3, p4, out);
}

/* getIntersection itself */
static int intersection_full(xy p1, xy p2, xy p3, xy p4, xy *out)
{
	const double t_num = (p1.x - p3.x) * (p3.y - p4.y) - (p1.y - p3.y) * (p3.x - p4.x);
	const double denom = (p1.x - p2.x) * (p3.y - p4.y) - (p1.y - p2.y) * (p3.x - p4.x);
	double u_num, t;

	if (t_num * denom < 0 || fabs(t_num) > fabs(denom) || denom == 0)
		return 0;
	u_num = (p1.x - p3.x) * (p1.y - p2.y) - (p1.y - p3.y) * (p1.x - p2.x);
	if (u_num * denom < 0 || fabs(u_num) > fabs(denom))
		return 0;
	t = t_num / denom;
	out->x = p1.x + t * (p2.x - p1.x);
	out->y = p1.y + t * (p2.y - p1.y);
	return 1;
}

/* getConvexPolyIntersection's sortFunc: is p1 before p2 around (lx, ly)? */
static int before(xy p1, xy p2, double lx, double ly)
{
	const double p1x = p1.x - lx, p1y = p1.y - ly, p2x = p2.x - lx, p2y = p2.y - ly;
	double t1, t2;

	if (p2y == 0.0 && p1y == 0.0) {
		if (p1x >= 0)
			return p2x >= 0 ? p1.x < p2.x : 1;
		return p2x >= 0 ? 0 : p1.x < p2.x;
	}
	if (p2x == 0.0 && p1x == 0.0)
		return p1.y < p2.y;
	t1 = p1x == 0.0 ? (p1y == 0.0 ? 0.0 : DBL_MAX) : p1y / p1x;
	t2 = p2x == 0.0 ? (p2y == 0.0 ? 0.0 : DBL_MAX) : p2y / p2x;
	if (t1 >= 0)
		return t2 >= 0 ? t1 < t2 : 1;
	return t2 >= 0 ? 0 : t1 < t2;
}

/* getConvexPolyIntersection (poly1 of n1, poly2 of n2 points, both closed) into out;
   returns the number of points, or -1 when std::sort would not sort them by insertion. */
static int convex_intersection(const xy *p1, int n1, const xy *p2, int n2, xy *out)
{
	int n = 0, j;
	double lx = DBL_MAX, ly = DBL_MAX;
	xy q;

	for (int i = 0; i < n1 - 1; i++)
		if (point_in(p1[i], p2, n2))
			out[n++] = p1[i];
	if (n == n1 - 1)
		return n;
	for (int i = 0; i < n2 - 1; i++)
		if (point_in(p2[i], p1, n1))
			out[n++] = p2[i];
	for (int i1 = 0; i1 < n1 - 1; i1++)
		for (int i2 = 0; i2 < n2 - 1; i2++)
			if (intersection(p1[i1], p1[i1 + 1], p2[i2], p2[i2 + 1], &q))
				out[n++] = q;
	if (n == 0)
		return 0;
	if (n > MAX_SORT)
		return -1;
	for (int i = 0; i < n; i++)
		if (out[i].y < ly || (out[i].y == ly && out[i].x < lx)) {
			lx = out[i].x;
			ly = out[i].y;
		}
	/* libstdc++'s __insertion_sort, which std::sort is for 16 elements or fewer */
	for (int i = 1; i < n; i++) {
		const xy v = out[i];
		if (before(v, out[0], lx, ly)) {
			for (int k = i; k > 0; k--)
				out[k] = out[k - 1];
			out[0] = v;
		} else {
			int k = i;
			while (before(v, out[k - 1], lx, ly)) {
				out[k] = out[k - 1];
				k--;
			}
			out[k] = v;
		}
	}
	j = 1;
	for (int i = 1; i < n; i++)
		if (out[i].x != out[i - 1].x || out[i].y != out[i - 1].y) {
			if (j < i)
				out[j] = out[i];
			j++;
		}
	return j;
}

/* getArea (the polygon closed or not) */
static double area(const xy *p, int n)
{
	double s = p[0].x * (p[1].y - p[n - 1].y);
	for (int i = 1; i < n - 1; i++)
		s += p[i].x * (p[i + 1].y - p[i - 1].y);
	s += p[n - 1].x * (p[0].y - p[n - 2].y);
	return 0.5 * fabs(s);
}

/* The weight of source pixel sp in target pixel (tx, ty), as GDAL's non-affine branch
   computes it (caching sp->area).  Returns 0 and *w, or -1 for GDAL's warper. */
static int weight(src_pixel *sp, int tx, int ty, double *w)
{
	static const xy sq[5] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}};
	xy p[5], t[4], out[MAX_PTS];
	int n;

	*w = 0.0;
	for (int k = 0; k < 4; k++) {
		p[k].x = sp->p[k].x - tx;
		p[k].y = sp->p[k].y - ty;
	}
	p[4] = p[0];
	if (is_convex(p, 5)) {
		if ((n = convex_intersection(sq, 5, p, 5, out)) < 0)
			return -1;
		if (n >= 3)
			*w = area(out, n);
	} else {
		t[0] = p[0];
		t[1] = p[1];
		t[2] = p[2];
		t[3] = p[0];
		if ((n = convex_intersection(sq, 5, t, 4, out)) < 0)
			return -1;
		if (n >= 3)
			*w = area(out, n);
		t[1] = p[2];
		t[2] = p[3];
		if ((n = convex_intersection(sq, 5, t, 4, out)) < 0)
			return -1;
		if (n >= 3)
			*w += area(out, n);
	}
	if (*w > 0.0) {
		if (sp->area == 0)
			sp->area = area(p, 5);
		*w /= sp->area;
	}
	return 0;
}

/*
 * GDAL's CPLQuadTree (port/cpl_quad_tree.cpp) as GWKSumPreserving uses it (no maximum
 * depth, so its first insertion algorithm; buckets of 8; nodes split 0.55 / 0.45 along
 * their longer side), rebuilt here without a call or an allocation per search: a
 * search visits the nodes in the same order and returns the same features in the same
 * order, which is the order a target pixel's sum adds them in.
 */
typedef struct {
	double minx, miny, maxx, maxy;
} rect;

typedef struct {
	rect r;
	int nsub, sub[4];
	int nfeat, cap, *feat; /* feature indices, in the order they were added */
} qnode;

typedef struct {
	qnode *nodes;
	int nnodes, cap;
	int made;        /* nodes[0 .. made - 1] have been used: their feat arrays are kept */
	const rect *box; /* each feature's bounds */
} qtree;

enum { BUCKET = 8 };
#define SPLIT_RATIO 0.55

static int contained(const rect *a, const rect *b)
{
	return a->minx >= b->minx && a->maxx <= b->maxx && a->miny >= b->miny && a->maxy <= b->maxy;
}

static int overlap(const rect *a, const rect *b)
{
	return !(a->minx > b->maxx || a->maxx < b->minx || a->miny > b->maxy || a->maxy < b->miny);
}

/* CPLQuadTreeSplitBounds */
static void split_bounds(const rect *in, rect *o1, rect *o2)
{
	*o1 = *in;
	*o2 = *in;
	if (in->maxx - in->minx > in->maxy - in->miny) {
		const double range = in->maxx - in->minx;
		o1->maxx = in->minx + range * SPLIT_RATIO;
		o2->minx = in->maxx - range * SPLIT_RATIO;
	} else {
		const double range = in->maxy - in->miny;
		o1->maxy = in->miny + range * SPLIT_RATIO;
		o2->miny = in->maxy - range * SPLIT_RATIO;
	}
}

static int new_node(qtree *t, const rect *r)
{
	if (t->nnodes == t->cap) {
		const int cap = t->cap ? t->cap * 2 : 64;
		qnode *n = realloc(t->nodes, (size_t)cap * sizeof *n);
		if (!n)
			return -1;
		t->nodes = n;
		t->cap = cap;
	}
	if (t->nnodes < t->made) { /* a node of an earlier chunk's tree: its array stays */
		qnode *q = &t->nodes[t->nnodes];
		*q = (qnode){.r = *r, .cap = q->cap, .feat = q->feat};
	} else {
		t->nodes[t->nnodes] = (qnode){.r = *r};
		t->made++;
	}
	return t->nnodes++;
}

static int append(qnode *n, int f)
{
	if (n->nfeat == n->cap) {
		const int cap = n->cap ? n->cap * 2 : BUCKET;
		int *g = realloc(n->feat, (size_t)cap * sizeof *g);
		if (!g)
			return -1;
		n->feat = g;
		n->cap = cap;
	}
	n->feat[n->nfeat++] = f;
	return 0;
}

/* CPLQuadTreeNodeAddFeatureAlg1.  Returns 0, -1 when out of memory. */
static int qt_add(qtree *t, int node, int f)
{
	const rect *b = &t->box[f];

	if (t->nodes[node].nsub == 0) {
		if (t->nodes[node].nfeat >= BUCKET) {
			rect h1, h2, q[4];
			const rect nr = t->nodes[node].r;
			split_bounds(&nr, &h1, &h2);
			split_bounds(&h1, &q[0], &q[1]);
			split_bounds(&h2, &q[2], &q[3]);
			if (memcmp(&nr, &q[0], sizeof nr) != 0 && memcmp(&nr, &q[1], sizeof nr) != 0 &&
			    memcmp(&nr, &q[2], sizeof nr) != 0 && memcmp(&nr, &q[3], sizeof nr) != 0 &&
			    (contained(b, &q[0]) || contained(b, &q[1]) || contained(b, &q[2]) ||
			     contained(b, &q[3]))) {
				int *old, nold;
				for (int i = 0; i < 4; i++) {
					const int k = new_node(t, &q[i]);
					if (k < 0)
						return -1;
					t->nodes[node].sub[i] = k;
				}
				t->nodes[node].nsub = 4;
				old = t->nodes[node].feat;
				nold = t->nodes[node].nfeat;
				t->nodes[node].feat = NULL;
				t->nodes[node].nfeat = t->nodes[node].cap = 0;
				for (int i = 0; i < nold; i++)
					if (qt_add(t, node, old[i])) {
						free(old);
						return -1;
					}
				free(old);
				return qt_add(t, node, f);
			}
		}
	} else {
		for (int i = 0; i < t->nodes[node].nsub; i++)
			if (contained(b, &t->nodes[t->nodes[node].sub[i]].r))
				return qt_add(t, t->nodes[node].sub[i], f);
	}
	return append(&t->nodes[node], f);
}

static void qt_free(qtree *t)
{
	for (int i = 0; i < t->made; i++)
		free(t->nodes[i].feat);
	free(t->nodes);
}

/* Each feature's place in a search's results: the node's rank in the search's visit
   order (a node, then its subnodes 0 to 3, depth first) and its place in the node's
   list.  A search returns the features whose bounds overlap the area in that order
   (every node holding such a feature overlaps it: a feature lies inside its node's
   bounds, below the root, and a node inside its parent's). */
static int qt_keys(const qtree *t, uint64_t *key, int **stackp, size_t *cap)
{
	int *stack, top = 0;
	uint64_t rank = 0;

	if (lode__warp_fit((void **)stackp, cap, (size_t)t->nnodes, sizeof **stackp))
		return -1;
	stack = *stackp;
	stack[top++] = 0;
	while (top > 0) {
		const qnode *q = &t->nodes[stack[--top]];
		for (int i = 0; i < q->nfeat; i++)
			key[q->feat[i]] = rank << 32 | (uint64_t)i;
		rank++;
		for (int i = q->nsub - 1; i >= 0; i--)
			stack[top++] = q->sub[i];
	}
	return 0;
}

/* For every target pixel of the chunk (dsx x dsy), the features whose bounds may
   overlap it (a superset, touching ones included: the search's own test follows), in
   index order: CSR lists
   start[k] to start[k + 1] of list (both grown as needed and kept for the next chunk,
   capacities in start_cap and list_cap).  Returns 0, -1 when out of memory, 1 when the lists
   would hold more than LIST_MOST entries per feature and pixel (source pixels whose
   transformed bounds cover much of the chunk, near a projection's edge: memory the
   quadtree's search, which GDAL's warper does, does not need). */
#define LIST_MOST 64

static int cell_lists(const rect *box, size_t n, int dsx, int dsy, size_t **start, size_t *start_cap,
		      int **list, size_t *list_cap)
{
	const size_t cells = (size_t)dsx * (size_t)dsy;
	size_t *st, total = 0;
	int *ls = NULL;

	if (lode__warp_fit((void **)start, start_cap, cells + 1, sizeof **start))
		return -1;
	st = *start;
	memset(st, 0, (cells + 1) * sizeof *st);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t f = 0; f < n; f++) {
			/* overlap with [tx, tx + 1]: minx <= tx + 1 and maxx >= tx, so tx from
			   floor(minx) - 1 (tx + 1 is an integer >= minx) to floor(maxx) */
			const int x0 = (int)max2(0.0, floor(box[f].minx) - 1);
			const int x1 = (int)min2(dsx - 1.0, floor(box[f].maxx));
			const int y0 = (int)max2(0.0, floor(box[f].miny) - 1);
			const int y1 = (int)min2(dsy - 1.0, floor(box[f].maxy));
			for (int y = y0; y <= y1; y++)
				for (int x = x0; x <= x1; x++) {
					const size_t k = (size_t)y * (size_t)dsx + (size_t)x;
					if (pass == 0)
						st[k + 1]++;
					else
						ls[st[k]++] = (int)f;
				}
		}
		if (pass == 0) {
			for (size_t k = 0; k < cells; k++)
				st[k + 1] += st[k];
			total = st[cells];
			if (total > LIST_MOST * (n + cells)) /* huge boxes: GDAL's tree will do */
				return 1;
			if (lode__warp_fit((void **)list, list_cap, total ? total : 1, sizeof **list))
				return -1;
			ls = *list;
		} else {
			/* the second pass moved every start to the next list's: back */
			for (size_t k = cells; k > 0; k--)
				st[k] = st[k - 1];
			st[0] = 0;
		}
	}
	return 0;
}

/* The search for target pixel (tx, ty): the overlapping features of its list, in the
   tree's order. */
static int cell_search(const rect *box, const uint64_t *key, const int *cand, int nc, const rect *aoi,
		       int *hits)
{
	int n = 0;

	for (int i = 0; i < nc; i++) {
		const int f = cand[i];
		int k = n;
		if (!overlap(&box[f], aoi))
			continue;
		while (k > 0 && key[hits[k - 1]] > key[f]) {
			hits[k] = hits[k - 1];
			k--;
		}
		hits[k] = f;
		n++;
	}
	return n;
}

typedef struct {
	const lode__warp_chunk *c;
	double xs;
	GDALTransformerFunc fn;
	void *arg;
} sum_ctx;

/* getInsideXSign (x already has the chunk's offset subtracted once: GDAL subtracts it
   again, and so does this) */
static int inside_sign(const sum_ctx *s, double x)
{
	return x - s->c->dx >= -2 * s->xs && x - s->c->dx <= s->c->dsx + 2 * s->xs ? 1 : -1;
}

/* FindDiscontinuity */
static void discontinuity(const sum_ctx *s, double xl, double xr, double y, int sign, double *rep_l,
			  double *rep_r, double *rep_y)
{
	for (int i = 0; i < 10 && xr - xl > 1e-8; i++) {
		const double mid = (xl + xr) / 2;
		double x = mid, z = 0;
		int ok = 0;
		*rep_y = y;
		s->fn(s->arg, FALSE, 1, &x, rep_y, &z, &ok);
		if (sign != inside_sign(s, x)) {
			xr = mid;
			*rep_r = x;
		} else {
			xl = mid;
			*rep_l = x;
		}
	}
}

/* The antimeridian split of the source pixel whose corners are a0, a1 (top) and b0, b1
   (bottom), as GWKSumPreservingThread does it. */
static void split(const sum_ctx *s, int ix, int iy, xy a0, xy a1, xy b0, xy b1, src_pixel *sp)
{
	const lode__warp_chunk *c = s->c;
	double ltx = 0, rtx = 0, ty = 0, lbx = 0, rbx = 0, by = 0;
	xy l[5], r[5];

	discontinuity(s, ix + c->sx, ix + c->sx + 1, iy + c->sy, inside_sign(s, a0.x), &ltx, &rtx, &ty);
	discontinuity(s, ix + c->sx, ix + c->sx + 1, iy + c->sy + 1, inside_sign(s, b0.x), &lbx, &rbx, &by);
	l[0] = a0;
	l[1] = (xy){ltx, ty};
	l[2] = (xy){lbx, by};
	l[3] = b0;
	l[4] = a0;
	r[0] = a1;
	r[1] = (xy){rtx, ty};
	r[2] = (xy){rbx, by};
	r[3] = b1;
	r[4] = a1;
	sp->area = area(l, 5) + area(r, 5);
	if (inside_sign(s, a0.x) >= 1) {
		sp->p[1] = (xy){ltx, ty};
		sp->p[2] = (xy){lbx, by};
	} else {
		sp->p[0] = (xy){rtx, ty};
		sp->p[3] = (xy){rbx, by};
	}
}

/* One row of ssx + 1 corners (source row y of the window), transformed and offset. */
static void corner_row(const sum_ctx *s, int row, double *x, double *y, double *z, int *ok)
{
	const lode__warp_chunk *c = s->c;

	for (int i = 0; i <= c->ssx; i++) {
		x[i] = i + c->sx;
		y[i] = row + c->sy;
		z[i] = 0;
	}
	s->fn(s->arg, FALSE, c->ssx + 1, x, y, z, ok);
	for (int i = 0; i <= c->ssx; i++) {
		if (ok[i] && !isfinite(x[i])) {
			ok[i] = 0;
		} else {
			x[i] -= c->dx;
			y[i] -= c->dy;
		}
	}
}

/*
 * A worker's buffers for sum, kept from chunk to chunk (allocating and freeing them for
 * every chunk made the kernel page in fresh memory each time: a fifth of its CPU in the
 * kernel and malloc).  Each array grows as needed; caps are in elements.
 */
struct lode__sum_scratch {
	double *buf; /* five rows of corners: x, y and z of two rows */
	int *ok;     /* two rows of the transformer's success flags */
	size_t buf_cap, ok_cap;
	src_pixel *px; /* the chunk's source pixels (px_cap of them, and of boxes) */
	rect *boxes;
	size_t px_cap;
	int *hits;
	uint64_t *key;
	size_t hits_cap, key_cap;
	size_t *start;
	int *list, *stack;
	size_t start_cap, list_cap, stack_cap;
	double *acc; /* a target pixel's sum and sum of weights, for each band */
	size_t acc_cap;
	qtree t;
};

void lode__sum_scratch_free(struct lode__sum_scratch *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w->ok);
	free(w->px);
	free(w->boxes);
	free(w->hits);
	free(w->key);
	free(w->acc);
	free(w->start);
	free(w->list);
	free(w->stack);
	qt_free(&w->t);
	free(w);
}

/* First pass: the chunk's valid source pixels that may reach it, into w->px and their
   bounds into w->boxes (count *n).  Returns 0, -1 when out of memory. */
static int source_pixels(const sum_ctx *s, const unsigned char *m, struct lode__sum_scratch *w, size_t *n)
{
	const lode__warp_chunk *c = s->c;
	const size_t wd = (size_t)c->ssx + 1;
	double *x0 = w->buf, *y0 = w->buf + wd, *x1 = w->buf + 3 * wd, *y1 = w->buf + 4 * wd,
	       *z = w->buf + 2 * wd;
	int *ok0 = w->ok, *ok1 = w->ok + wd;

	corner_row(s, 0, x1, y1, z, ok1);
	for (int iy = 0; iy < c->ssy; iy++) {
		double *t = x0;
		int *o = ok0;
		x0 = x1;
		x1 = t;
		t = y0;
		y0 = y1;
		y1 = t;
		ok0 = ok1;
		ok1 = o;
		corner_row(s, iy + 1, x1, y1, z, ok1);
		for (int ix = 0; ix < c->ssx; ix++) {
			const xy a0 = {x0[ix], y0[ix]}, a1 = {x0[ix + 1], y0[ix + 1]};
			const xy b0 = {x1[ix], y1[ix]}, b1 = {x1[ix + 1], y1[ix + 1]};
			src_pixel sp;
			rect r;
			xy q;
			if (!ok0[ix] || !ok0[ix + 1] || !ok1[ix] || !ok1[ix + 1])
				continue;
			if (m && !m[(size_t)iy * (size_t)c->ssx + (size_t)ix])
				continue;
			sp.area = 0;
			sp.p[0] = a0;
			sp.p[1] = a1;
			sp.p[2] = b1;
			sp.p[3] = b0;
			if (inside_sign(s, a0.x) != inside_sign(s, a1.x) &&
			    inside_sign(s, a0.x) == inside_sign(s, b0.x) &&
			    inside_sign(s, a1.x) == inside_sign(s, b1.x) && (b0.y - a0.y) * (b1.y - a1.y) > 0)
				split(s, ix, iy, a0, a1, b0, b1, &sp);
			r.minx = min2(min2(sp.p[0].x, sp.p[1].x), min2(sp.p[2].x, sp.p[3].x));
			r.miny = min2(min2(sp.p[0].y, sp.p[1].y), min2(sp.p[2].y, sp.p[3].y));
			r.maxx = max2(max2(sp.p[0].x, sp.p[1].x), max2(sp.p[2].x, sp.p[3].x));
			r.maxy = max2(max2(sp.p[0].y, sp.p[1].y), max2(sp.p[2].y, sp.p[3].y));
			if (!(r.minx < c->dsx && r.maxx > 0 && r.miny < c->dsy && r.maxy > 0))
				continue;
			sp.ix = ix;
			sp.iy = iy;
			/* no self-crossing */
			if (intersection(sp.p[0], sp.p[1], sp.p[2], sp.p[3], &q) ||
			    intersection(sp.p[1], sp.p[2], sp.p[0], sp.p[3], &q))
				continue;
			if (*n == w->px_cap) {
				const size_t cap = w->px_cap ? w->px_cap * 2 : 1024;
				src_pixel *g = realloc(w->px, cap * sizeof *g);
				rect *h;
				if (!g)
					return -1;
				w->px = g;
				if (!(h = realloc(w->boxes, cap * sizeof *h)))
					return -1;
				w->boxes = h;
				w->px_cap = cap;
			}
			w->boxes[*n] = r;
			w->px[(*n)++] = sp;
		}
	}
	return 0;
}

/* Band k's value at offset o of the chunk's source window: with one band the Float32 copy
   (b->sbuf), with several each band's window in the source's type (b->raw, n pixels
   apart), as GWKGetPixelValue reads it. */
static inline double value(const lode__bilinear *b, int k, size_t n, size_t o)
{
	const size_t i = (size_t)k * n + o;

	if (b->nbands == 1)
		return b->sbuf[o];
	switch (b->type) {
	case GDT_Byte: return ((const unsigned char *)b->raw)[i];
	case GDT_Int16: return ((const int16_t *)b->raw)[i];
	case GDT_UInt16: return ((const uint16_t *)b->raw)[i];
	default: return ((const float *)b->raw)[i];
	}
}

int lode__sum_chunk(lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *um,
		    const unsigned char *bm, GDALTransformerFunc fn, void *arg, int nx, unsigned char *dst,
		    size_t plane)
{
	const size_t esize = (size_t)GDALGetDataTypeSizeBytes(b->type), wd = (size_t)c->ssx + 1;
	const size_t n = (size_t)c->ssx * (size_t)c->ssy, nb = (size_t)b->nbands;
	sum_ctx s = {.c = c, .fn = fn, .arg = arg};
	struct lode__sum_scratch *w = b->sum;
	double ys = 1.0, *total, *wsum;
	rect bounds;
	size_t np = 0;
	int rc = 1;

	if (!w && !(w = b->sum = calloc(1, sizeof *w)))
		return -1;
	w->t.nnodes = 0; /* the tree of an earlier chunk, its nodes' arrays kept */
	lode__warp_chunk_scale(c, &s.xs, &ys);
	/* GDAL's sGlobalBounds: the chunk's rows iYMin = 0 to iYMax = dsy (one thread) */
	bounds.minx = -2 * s.xs;
	bounds.miny = 0 - 2 * ys;
	bounds.maxx = c->dsx + 2 * s.xs;
	bounds.maxy = c->dsy + 2 * ys;
	if (lode__warp_fit((void **)&w->buf, &w->buf_cap, 5 * wd, sizeof *w->buf) ||
	    lode__warp_fit((void **)&w->ok, &w->ok_cap, 2 * wd, sizeof *w->ok) ||
	    lode__warp_fit((void **)&w->acc, &w->acc_cap, 2 * nb, sizeof *w->acc) ||
	    source_pixels(&s, um, w, &np) || np > INT_MAX ||
	    lode__warp_fit((void **)&w->hits, &w->hits_cap, np ? np : 1, sizeof *w->hits) ||
	    new_node(&w->t, &bounds) < 0)
		return -1;
	total = w->acc;
	wsum = w->acc + nb;
	w->t.box = w->boxes;
	for (size_t i = 0; i < np; i++)
		if (qt_add(&w->t, 0, (int)i))
			return -1;
	if (lode__warp_fit((void **)&w->key, &w->key_cap, np ? np : 1, sizeof *w->key) ||
	    qt_keys(&w->t, w->key, &w->stack, &w->stack_cap))
		return -1;
	switch (cell_lists(w->boxes, np, c->dsx, c->dsy, &w->start, &w->start_cap, &w->list, &w->list_cap)) {
	case 0: break;
	case 1: return 0; /* GDAL's warper does the window: the same pixels */
	default: return -1;
	}
	for (int ty = 0; ty < c->dsy && rc == 1; ty++) {
		unsigned char *row = dst + ((size_t)(c->dy + ty) * (size_t)nx + (size_t)c->dx) * esize;
		for (int tx = 0; tx < c->dsx; tx++) {
			const rect r = {.minx = tx, .miny = ty, .maxx = tx + 1.0, .maxy = ty + 1.0};
			const size_t k = (size_t)ty * (size_t)c->dsx + (size_t)tx;
			const int found = cell_search(w->boxes, w->key, w->list + w->start[k],
						      (int)(w->start[k + 1] - w->start[k]), &r, w->hits);
			memset(w->acc, 0, 2 * nb * sizeof *w->acc);
			for (int i = 0; i < found; i++) {
				src_pixel *sp = &w->px[w->hits[i]];
				const size_t o = (size_t)sp->iy * (size_t)c->ssx + (size_t)sp->ix;
				double wt;
				if (weight(sp, tx, ty, &wt)) {
					rc = 0;
					break;
				}
				if (!(wt > 0.0))
					continue;
				/* GWKGetPixelValue for each band: the value where the band is valid,
				   density 1 */
				for (size_t j = 0; j < nb; j++) {
					if (bm && !bm[j * n + o])
						continue;
					total[j] += value(b, (int)j, n, o) * wt;
					wsum[j] += wt;
				}
			}
			if (rc != 1)
				break;
			for (size_t j = 0; j < nb; j++) {
				if (!(wsum[j] > 0))
					continue;
				if (b->type == GDT_Float32) /* GWKSetPixelValue */
					((float *)(void *)(row + j * plane))[tx] = (float)total[j];
				else
					lode__warp_store_int(b, row + j * plane, tx, total[j]);
			}
		}
	}
	return rc;
}
