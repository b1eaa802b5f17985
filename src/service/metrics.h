/*
 * metrics.h - this process's counters and latency histograms, and their
 * Prometheus text exposition (format 0.0.4).
 *
 * Every FastCGI process keeps its own numbers (there is no shared memory):
 * a scrape of /api/v1/metrics reports the one process that answered it,
 * identified by its pid label.  All storage is fixed-size; recording never
 * allocates.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

#include "answer.h"
#include "registry.h"

enum metrics_endpoint {
	METRICS_PREDICT,
	METRICS_RECOGNIZE,
	METRICS_MODELS,
	METRICS_HEALTH,
	METRICS_METRICS,
	METRICS_OTHER,
	METRICS_N_ENDPOINTS
};

#define METRICS_N_STATUS  (ANSWER_N_STATUS + 1) /* the statuses we answer, plus "other" */
#define METRICS_N_BUCKETS 14                    /* finite histogram bounds */

struct metrics_histogram {
	unsigned long count[METRICS_N_BUCKETS + 1]; /* last: +Inf */
	double sum;
};

struct metrics {
	double start_time; /* Unix time of process start */
	unsigned long requests[METRICS_N_ENDPOINTS][METRICS_N_STATUS];
	unsigned long requests_total;
	int n_models;
	char model_names[REGISTRY_MAX_MODELS][NN_NAME_MAX];
	unsigned long predictions[REGISTRY_MAX_MODELS]; /* images answered, per model */
	unsigned long image_errors;                     /* images refused (per-image errors) */
	struct metrics_histogram decode, inference, total;
};

void metrics_init(struct metrics *m, const struct registry *r);
const char *metrics_endpoint_name(enum metrics_endpoint e);
void metrics_request(struct metrics *m, enum metrics_endpoint e, int status, double seconds);
void metrics_predictions(struct metrics *m, int model_index, int n_ok, int n_failed,
                         double decode_s, double inference_s);
/* Render into buf[cap]; fails (DG_ERR_TOO_LARGE) if it does not fit. */
int metrics_render(const struct metrics *m, char *buf, size_t cap, size_t *len,
                   struct dg_error *err);

#endif
