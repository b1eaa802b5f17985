/*
 * metrics.h - the service's counters and latency histograms, and their
 * Prometheus text exposition (format 0.0.4).
 *
 * The numbers live in one POSIX shared-memory segment per service (see
 * metrics_shared_open): each process owns one slot of it and is its only
 * writer, and a scrape of /api/v1/metrics, whichever process answers it,
 * sums every slot.  A slot outlives its process: a process that starts
 * (after a crash, a SIGKILL or DIGITS_MAX_REQUESTS) takes a free slot,
 * possibly a dead process's, and adds to its counts, so the service's
 * totals never go down while the segment exists.  A process that is not
 * attached (CGI, tests, or the segment could not be made) counts in a slot
 * of its own and its scrape says so (digits_metrics_shared 0).  All storage
 * is fixed-size; recording never allocates and never takes a lock.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "registry.h"

enum metrics_endpoint {
	METRICS_PREDICT,
	METRICS_RECOGNIZE,
	METRICS_READ,
	METRICS_MODELS,
	METRICS_HEALTH,
	METRICS_METRICS,
	METRICS_OTHER,
	METRICS_N_ENDPOINTS
};

#define METRICS_N_STATUS  (ANSWER_N_STATUS + 1) /* the statuses we answer, plus "other" */
#define METRICS_N_BUCKETS 14                    /* finite histogram bounds */

struct metrics_histogram {
	uint64_t count[METRICS_N_BUCKETS + 1]; /* last: +Inf */
	uint64_t sum_ns;
};

/* One process's counts: a slot of the shared segment, or a private one.
 * Written only by the process that owns it, with relaxed atomic stores, so
 * a reader in another process never sees a torn value. */
struct metrics_counts {
	uint64_t requests[METRICS_N_ENDPOINTS][METRICS_N_STATUS];
	int n_models;                                       /* names[0 .. n_models - 1] are set */
	char model_names[REGISTRY_MAX_MODELS][NN_NAME_MAX]; /* by name: models may change */
	uint64_t predictions[REGISTRY_MAX_MODELS];          /* images answered, per model */
	uint64_t image_errors;                              /* images refused */
	struct metrics_histogram decode, inference, total;
};

struct metrics {
	double start_time;                   /* Unix time of process start */
	unsigned long requests_total;        /* this process's own answers (health) */
	int model_slot[REGISTRY_MAX_MODELS]; /* registry index -> counts->predictions index */
	struct metrics_counts *counts;       /* where this process records: a slot or &own */
	struct metrics_counts own;           /* used when not attached to a segment */
};

void metrics_init(struct metrics *m, const struct registry *r);
const char *metrics_endpoint_name(enum metrics_endpoint e);
void metrics_request(struct metrics *m, enum metrics_endpoint e, int status, double seconds);
void metrics_predictions(struct metrics *m, int model_index, int n_ok, int n_failed,
                         double decode_s, double inference_s);
/* Render into buf[cap]; fails (DG_ERR_TOO_LARGE) if it does not fit. */
int metrics_render(const struct metrics *m, char *buf, size_t cap, size_t *len,
                   struct dg_error *err);

/*
 * The shared segment.  metrics_shared_open attaches this process to the
 * segment called name ("/digits-..."), creating it if it does not exist; a
 * later metrics_init takes a slot in it.  It fails, leaving the process on
 * private counters, when the segment cannot be created or sized (/dev/shm
 * full: the space is reserved up front, so a full tmpfs is an error here and
 * never a SIGBUS later), or when an existing one is not ours or was made by
 * a build with another layout.  One segment per process.
 */
int metrics_shared_open(const char *name, struct dg_error *err);
/* Give the slot back (its counts stay); detach.  With unlink_if_last, the
 * segment is removed when no other live process holds a slot (the whole
 * service is stopping). */
void metrics_shared_close(bool unlink_if_last);
/* A segment name for a service reached through addr (a socket path or
 * HOST:PORT): "/digits-" and a hash of the uid and addr, with a trailing
 * "-N" removed from a socket path (lighttpd numbers its processes' sockets
 * so, and they are one service). */
void metrics_shared_name(const char *addr, char out[64]);

#endif
