/*
 * trainer.c - the training loop, evaluation and progress display.
 *
 * One step: gather a batch (in the epoch's seeded order, each image
 * distorted by its own seeded generator when augmenting; OpenMP over the
 * images, which cannot change the result), zero the gradients, forward,
 * backward (which adds the batch-mean gradient), one Adam step at the
 * scheduled learning rate.  After each epoch the held-out images are
 * evaluated and the parameters copied aside if they are the best so far
 * (highest validation accuracy, ties to the lower loss).
 *
 * Dropout masks come from the workspace seed, which we set from
 * (seed, step) before every forward, so they too survive a resume.
 */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rng.h"

/* Domains of the seeded generators, so no two choices share a stream. */
#define SEED_SHUFFLE   0x73687566666c65ull   /* "shuffle" */
#define SEED_AUGMENT   0x6175676d656e74ull   /* "augment" */
#define SEED_ARTEFACTS 0x6172746566616374ull /* "artefact" */
#define SEED_DROPOUT   0x64726f706f7574ull   /* "dropout" */
#define EVAL_BATCH     250
/* Evaluation's cross-entropy clamps a probability of 0 here (-ln: 69). */
#define EVAL_MIN_PROB 1e-30

int train_state_init(struct train_state *st, const struct train_config *cfg,
                     const struct nn_graph *g, struct dg_error *err)
{
	size_t n = g->n_params ? g->n_params : 1;

	memset(st, 0, sizeof(*st));
	st->history = calloc((size_t)cfg->epochs, sizeof(*st->history));
	st->params = malloc(n * sizeof(float));
	st->best = malloc(n * sizeof(float));
	if (!st->history || !st->params || !st->best) {
		train_state_free(st);
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory for %zu parameters",
		               cfg->model, g->n_params);
	}
	if (adam_create(&st->adam, g, (float)cfg->weight_decay, err) < 0) {
		train_state_free(st);
		return -1;
	}
	nn_params_init(g, st->params, cfg->seed);
	memcpy(st->best, st->params, g->n_params * sizeof(float));
	return 0;
}

void train_state_free(struct train_state *st)
{
	free(st->history);
	free(st->params);
	free(st->best);
	adam_free(st->adam);
	memset(st, 0, sizeof(*st));
}

long train_steps_per_epoch(const struct train_config *cfg, int n_train)
{
	return ((long)n_train + cfg->batch - 1) / cfg->batch;
}

long train_warmup_steps(const struct train_config *cfg, long total_steps)
{
	long w;

	if (cfg->warmup_steps >= 0)
		return cfg->warmup_steps < total_steps ? cfg->warmup_steps : total_steps;
	w = total_steps / TRAIN_WARMUP_DIVISOR;
	return w > TRAIN_WARMUP_MAX ? TRAIN_WARMUP_MAX : w;
}

/* The first index of the largest of p[0..k-1]. */
static int argmax(const float *p, int k)
{
	int best = 0;

	for (int c = 1; c < k; c++)
		if (p[c] > p[best])
			best = c;
	return best;
}

int train_evaluate(const struct nn_graph *g, const float *params, const uint8_t *pixels,
                   const uint8_t *labels, int n, struct train_eval *ev, struct dg_error *err)
{
	const int px = g->nodes[0].c * g->nodes[0].h * g->nodes[0].w;
	const int k = g->n_classes;
	struct nn_workspace *ws;
	float *input;
	double loss = 0;

	memset(ev, 0, sizeof(*ev));
	if (px != AUGMENT_PIXELS || k != TRAIN_CLASSES)
		return dg_fail(err, DG_ERR_UNSUPPORTED,
		               "%s: takes %d inputs and gives %d classes; MNIST needs %d and %d",
		               g->name, px, k, AUGMENT_PIXELS, TRAIN_CLASSES);
	if (nn_workspace_create(&ws, g, EVAL_BATCH, false, err))
		return -1;
	input = malloc((size_t)EVAL_BATCH * px * sizeof(float));
	if (!input) {
		nn_workspace_free(ws);
		return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory for evaluation", g->name);
	}
	for (int first = 0; first < n; first += EVAL_BATCH) {
		int b = n - first < EVAL_BATCH ? n - first : EVAL_BATCH;
		augment_plain(pixels + (size_t)first * px, input, b * px);
		const float *prob = nn_forward(g, params, ws, input, b);
		for (int i = 0; i < b; i++) {
			const float *p = prob + (size_t)i * k;
			int y = labels[first + i], best = argmax(p, k);
			ev->confusion[y][best]++;
			ev->correct += best == y;
			loss -= log(fmax((double)p[y], EVAL_MIN_PROB));
		}
	}
	ev->n = n;
	ev->loss = n ? loss / n : 0;
	nn_workspace_free(ws);
	free(input);
	return 0;
}

/* --- progress ---------------------------------------------------------- */

struct progress {
	bool tty, quiet;
	double last_draw;
	double run_start;
	long steps_at_start;
};

static void fmt_duration(char *buf, size_t size, double s)
{
	long t = s > 0 && s < 1e7 ? (long)(s + 0.5) : 0;

	if (t >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static void progress_draw(struct progress *pr, const struct train_config *cfg,
                          const struct train_state *st, long spe, long total_steps, double t)
{
	char eta[32];
	double rate, done = (double)(st->step - pr->steps_at_start);
	int width = 24, fill;
	long in_epoch = st->step - (long)st->epoch * spe;

	if (!pr->tty || pr->quiet || (t - pr->last_draw < 0.1 && in_epoch != spe))
		return;
	pr->last_draw = t;
	rate = done > 0 ? done / (t - pr->run_start) : 0;
	fmt_duration(eta, sizeof(eta), rate > 0 ? (double)(total_steps - st->step) / rate : 0);
	fill = (int)(width * in_epoch / spe);
	fprintf(stderr,
	        "\r\033[Kepoch %d/%d [%.*s%*s] %ld/%ld loss %.4f acc %.2f%% %.0f img/s ETA %s",
	        st->epoch + 1, cfg->epochs, fill, "########################", width - fill, "",
	        in_epoch, spe, st->seen ? st->loss_sum / st->seen : 0.0,
	        st->seen ? 100.0 * st->correct / st->seen : 0.0,
	        st->seconds > 0 ? st->seen / st->seconds : 0.0, eta);
	fflush(stderr);
}

static void progress_epoch(struct progress *pr, const struct train_config *cfg,
                           const struct train_state *st, int n_val, int n_train)
{
	const struct train_epoch *e = &st->history[st->epoch - 1];

	if (pr->quiet)
		return;
	if (pr->tty)
		fprintf(stderr, "\r\033[K");
	fprintf(stderr, "epoch %d/%d  train loss %.4f acc %.2f%%", st->epoch, cfg->epochs,
	        e->train_loss, 100 * e->train_acc);
	if (n_val)
		fprintf(stderr, "  val loss %.4f acc %.2f%%%s", e->val_loss, 100 * e->val_acc,
		        st->best_epoch == st->epoch ? " *" : "  ");
	fprintf(stderr, "  lr %.2e  %.1f s  %.0f img/s\n", e->lr, e->seconds,
	        e->seconds > 0 ? n_train / e->seconds : 0.0);
}

/* --- the loop ---------------------------------------------------------- */

static void shuffle(int *perm, int n, uint64_t seed, int epoch)
{
	struct train_rng r;

	train_rng_init(&r, train_seed3(seed, SEED_SHUFFLE, (uint64_t)epoch));
	for (int i = 0; i < n; i++)
		perm[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j = (int)train_rng_below(&r, (uint32_t)i + 1), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
}

static int end_epoch(const struct train_config *cfg, const struct nn_graph *g,
                     struct train_state *st, const struct idx_set *data, int n_train, int n_val,
                     double lr, struct dg_error *err)
{
	struct train_epoch *e = &st->history[st->epoch];
	struct train_eval ev;
	bool better;

	e->train_loss = st->seen ? st->loss_sum / st->seen : 0;
	e->train_acc = st->seen ? (double)st->correct / st->seen : 0;
	e->lr = lr;
	e->seconds = st->seconds;
	if (n_val) {
		if (train_evaluate(g, st->params, data->pixels + (size_t)n_train * AUGMENT_PIXELS,
		                   data->labels + n_train, n_val, &ev, err) < 0)
			return -1;
		e->val_loss = ev.loss;
		e->val_acc = (double)ev.correct / ev.n;
		better = st->best_epoch == 0 || e->val_acc > st->best_val_acc ||
		         (e->val_acc == st->best_val_acc && e->val_loss < st->best_val_loss);
	} else {
		better = true; /* nothing to choose with: keep the last epoch */
	}
	st->epoch++;
	if (better) {
		st->best_epoch = st->epoch;
		st->best_val_acc = e->val_acc;
		st->best_val_loss = e->val_loss;
		memcpy(st->best, st->params, g->n_params * sizeof(float));
	}
	st->loss_sum = 0;
	st->correct = st->seen = 0;
	st->seconds = 0;
	return 0;
}

/* What the loop allocates once per run. */
struct loop_buffers {
	struct nn_workspace *ws;
	float *input, *grads; /* batch images; n_params gradients */
	uint8_t *labels;      /* batch labels */
	int *perm;            /* the epoch's order of the training images */
};

/* Batch s of the epoch in progress into b->input and b->labels (augmented
 * when asked: each image by its own generator, so OpenMP cannot change
 * the result).  Returns its size. */
static int load_batch(const struct train_config *cfg, const struct train_state *st,
                      const struct idx_set *data, int n_train, long s, struct loop_buffers *b)
{
	const int px = AUGMENT_PIXELS, B = cfg->batch;
	int first = (int)(s * B), n = n_train - first < B ? n_train - first : B;
	uint64_t epoch = (uint64_t)st->epoch;

#pragma omp parallel for schedule(static)
	for (int i = 0; i < n; i++) {
		int k = b->perm[first + i];
		const uint8_t *src = data->pixels + (size_t)k * px;
		if (cfg->augment) {
			uint64_t seed = train_seed3(cfg->seed ^ SEED_AUGMENT, epoch, (uint64_t)k);

			augment_image(&cfg->aug, src, b->input + (size_t)i * px, seed);
			if (cfg->aug.artefacts > 0)
				augment_artefacts(&cfg->aug, b->input + (size_t)i * px,
				                  train_mix64(seed ^ SEED_ARTEFACTS));
		} else
			augment_plain(src, b->input + (size_t)i * px, px);
	}
	for (int i = 0; i < n; i++)
		b->labels[i] = data->labels[b->perm[first + i]];
	return n;
}

/* One optimiser step on batch s of the epoch in progress; *lr: the rate
 * it used. */
static int train_step(const struct train_config *cfg, const struct nn_graph *g,
                      struct train_state *st, const struct idx_set *data, int n_train, long s,
                      const struct optim_schedule_config *sched, struct loop_buffers *b, double *lr,
                      struct dg_error *err)
{
	const int n = load_batch(cfg, st, data, n_train, s, b);
	const float *prob;
	float loss;

	memset(b->grads, 0, g->n_params * sizeof(float));
	nn_workspace_seed(b->ws, train_seed3(cfg->seed, SEED_DROPOUT, (uint64_t)st->step));
	prob = nn_forward(g, st->params, b->ws, b->input, n);
	for (int i = 0; i < n; i++)
		st->correct +=
		    argmax(prob + (size_t)i * TRAIN_CLASSES, TRAIN_CLASSES) == b->labels[i];
	if (nn_backward(g, st->params, b->grads, b->ws, b->labels, n, &loss, err))
		return -1;
	if (!isfinite(loss))
		return dg_fail(err, DG_ERR_INVALID,
		               "%s: training diverged at epoch %d step %ld (loss %g); "
		               "try a lower --lr",
		               cfg->model, st->epoch + 1, s + 1, (double)loss);
	*lr = optim_lr(sched, st->step);
	adam_step(st->adam, st->params, b->grads, (float)*lr);
	st->loss_sum += (double)loss * n;
	st->seen += n;
	st->step++;
	return 0;
}

int train_run(const struct train_config *cfg, const struct nn_graph *g, struct train_state *st,
              const struct idx_set *data, int n_train, int n_val, volatile sig_atomic_t *stop,
              struct dg_error *err)
{
	const int px = AUGMENT_PIXELS, B = cfg->batch;
	const long spe = train_steps_per_epoch(cfg, n_train), total = spe * cfg->epochs;
	struct optim_schedule_config sched = {cfg->schedule, cfg->lr,
	                                      train_warmup_steps(cfg, total), total};
	struct progress pr = {isatty(STDERR_FILENO), cfg->quiet, 0, dg_seconds(), st->step};
	struct loop_buffers b = {
	    .input = malloc((size_t)B * px * sizeof(float)),
	    .grads = malloc((g->n_params ? g->n_params : 1) * sizeof(float)),
	    .labels = malloc((size_t)B),
	    .perm = malloc((size_t)(n_train ? n_train : 1) * sizeof(int)),
	};
	char *ckpt = train_checkpoint_path(cfg->out);
	int rc = -1, perm_epoch = -1;
	double lr = cfg->lr;

	if (nn_workspace_create(&b.ws, g, B, true, err))
		goto out;
	if (!b.input || !b.grads || !b.labels || !b.perm || !ckpt) {
		dg_fail(err, DG_ERR_NOMEM, "%s: out of memory for training", cfg->model);
		goto out;
	}
	if (g->nodes[0].c * g->nodes[0].h * g->nodes[0].w != px || g->n_classes != TRAIN_CLASSES) {
		dg_fail(err, DG_ERR_UNSUPPORTED, "%s: not a 28x28 -> 10 classes network",
		        cfg->model);
		goto out;
	}

	while (st->epoch < cfg->epochs) {
		long s = st->step - (long)st->epoch * spe; /* step within the epoch */
		double t0 = dg_seconds();

		if (perm_epoch != st->epoch) {
			shuffle(b.perm, n_train, cfg->seed, st->epoch);
			perm_epoch = st->epoch;
		}
		if (s < spe && train_step(cfg, g, st, data, n_train, s, &sched, &b, &lr, err) < 0)
			goto out;
		double t1 = dg_seconds();
		st->seconds += t1 - t0;
		progress_draw(&pr, cfg, st, spe, total, t1);

		if (st->step - (long)st->epoch * spe == spe) {
			if (end_epoch(cfg, g, st, data, n_train, n_val, lr, err) < 0)
				goto out;
			progress_epoch(&pr, cfg, st, n_val, n_train);
			if (train_checkpoint_save(ckpt, cfg, g, st, err) < 0)
				goto out;
		}
		if (st->epoch < cfg->epochs &&
		    ((stop && *stop) || (cfg->stop_after > 0 && st->step >= cfg->stop_after))) {
			if (pr.tty && !pr.quiet)
				fprintf(stderr, "\n");
			if (train_checkpoint_save(ckpt, cfg, g, st, err) < 0)
				goto out;
			rc = 1;
			goto out;
		}
	}
	rc = 0;
out:
	nn_workspace_free(b.ws);
	free(b.input);
	free(b.grads);
	free(b.labels);
	free(b.perm);
	free(ckpt);
	return rc;
}
