/*
 * optim.h - Adam with decoupled weight decay (AdamW), and the learning-rate
 * schedule.
 *
 * The optimiser state is two float arrays the size of the parameters (the
 * moments) and a step count; the trainer checkpoints exactly these, so a
 * resumed run continues bit for bit.  Weight decay, when asked for, applies
 * only to conv and dense weights, never to biases.
 *
 * The schedule is a pure function of the step: a linear warm-up from
 * lr/warmup to lr over the first warmup steps, then cosine decay to
 * lr * OPTIM_FINAL_FRACTION at the last step, or a step decay (x0.1 at 50 %
 * and 75 % of the steps), or constant.
 */
#ifndef TRAIN_OPTIM_H
#define TRAIN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "engine/nn.h"

#define OPTIM_FINAL_FRACTION 0.01

enum optim_schedule {
	OPTIM_COSINE,
	OPTIM_STEP,
	OPTIM_CONSTANT,
};

struct optim_schedule_config {
	enum optim_schedule kind;
	double lr;         /* peak learning rate */
	long warmup_steps; /* >= 0 */
	long total_steps;  /* > 0 */
};

struct adam {
	size_t n;
	float beta1, beta2, eps, weight_decay;
	long t;         /* steps taken */
	float *m, *v;   /* first and second moments, n floats each */
	uint8_t *decay; /* n flags: 1 where weight decay applies */
};

/* Moments zeroed; defaults beta1 0.9, beta2 0.999, eps 1e-8; decay on the
 * weights of g's conv and dense layers.  0, or -1 (out of memory). */
int adam_create(struct adam **out, const struct nn_graph *g, float weight_decay,
                struct dg_error *err);
void adam_free(struct adam *a);

/* One step: params -= lr * (m^ / (sqrt(v^) + eps) + weight_decay * params). */
void adam_step(struct adam *a, float *params, const float *grads, float lr);

double optim_lr(const struct optim_schedule_config *c, long step);
const char *optim_schedule_name(enum optim_schedule s);
/* 0 and the schedule for "cosine", "step", "constant"; -1 otherwise. */
int optim_schedule_parse(const char *name, enum optim_schedule *out);

#endif
