/*
 * optim.c - AdamW and the learning-rate schedule (see optim.h).
 *
 * The update is element-wise, so splitting it over OpenMP threads cannot
 * change a single bit of the result.
 */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int adam_create(struct adam **out, const struct nn_graph *g, float weight_decay,
                struct dg_error *err)
{
	struct adam *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (!a)
		goto nomem;
	a->n = g->n_params;
	a->beta1 = 0.9f;
	a->beta2 = 0.999f;
	a->eps = 1e-8f;
	a->weight_decay = weight_decay;
	a->m = calloc(a->n ? a->n : 1, sizeof(float));
	a->v = calloc(a->n ? a->n : 1, sizeof(float));
	a->decay = calloc(a->n ? a->n : 1, 1);
	if (!a->m || !a->v || !a->decay)
		goto nomem;
	/* Decay the weights (the He-initialised tensors), not the biases. */
	for (int i = 0; i < g->n_nodes; i++) {
		struct nn_tensor t[NN_MAX_TENSORS];
		int count = nn_node_tensors(g, i, t);

		for (int k = 0; k < count; k++)
			if (t[k].fan_in)
				memset(a->decay + t[k].offset, 1, t[k].count);
	}
	*out = a;
	return 0;
nomem:
	adam_free(a);
	return dg_fail(err, DG_ERR_NOMEM, "%s: out of memory for the optimiser of %zu parameters",
	               g->name, g->n_params);
}

void adam_free(struct adam *a)
{
	if (!a)
		return;
	free(a->m);
	free(a->v);
	free(a->decay);
	free(a);
}

void adam_step(struct adam *a, float *params, const float *grads, float lr)
{
	const float b1 = a->beta1, b2 = a->beta2, eps = a->eps, wd = a->weight_decay;
	float *m = a->m, *v = a->v;
	const uint8_t *decay = a->decay;
	long n = (long)a->n;

	a->t++;
	/* Bias corrections folded into the step size and epsilon. */
	const float c1 = (float)(1.0 / (1.0 - pow(b1, (double)a->t)));
	const float c2 = (float)(1.0 / (1.0 - pow(b2, (double)a->t)));

#pragma omp parallel for schedule(static)
	for (long i = 0; i < n; i++) {
		float g = grads[i];
		m[i] = b1 * m[i] + (1.0f - b1) * g;
		v[i] = b2 * v[i] + (1.0f - b2) * g * g;
		float step = (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
		if (decay[i])
			step += wd * params[i];
		params[i] -= lr * step;
	}
}

double optim_lr(const struct optim_schedule_config *c, long step)
{
	long rest;
	double progress;

	if (step < c->warmup_steps)
		return c->lr * (double)(step + 1) / (double)c->warmup_steps;
	rest = c->total_steps - c->warmup_steps;
	progress = rest > 1 ? (double)(step - c->warmup_steps) / (double)(rest - 1) : 1.0;
	if (progress > 1.0)
		progress = 1.0;
	switch (c->kind) {
	case OPTIM_COSINE: {
		double lo = c->lr * OPTIM_FINAL_FRACTION;
		return lo + (c->lr - lo) * 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
	}
	case OPTIM_STEP:
		return c->lr * (progress < 0.5 ? 1.0 : progress < 0.75 ? 0.1 : 0.01);
	case OPTIM_CONSTANT:
		break;
	}
	return c->lr;
}

const char *optim_schedule_name(enum optim_schedule s)
{
	switch (s) {
	case OPTIM_COSINE:
		return "cosine";
	case OPTIM_STEP:
		return "step";
	case OPTIM_CONSTANT:
		return "constant";
	}
	return "?";
}

int optim_schedule_parse(const char *name, enum optim_schedule *out)
{
	static const enum optim_schedule all[] = {OPTIM_COSINE, OPTIM_STEP, OPTIM_CONSTANT};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(name, optim_schedule_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}
