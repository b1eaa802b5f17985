/*
 * metrics.c - counters, histograms and the Prometheus text format.
 */
#include "metrics.h"

#include "answer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* Seconds; a digit takes about a millisecond, a huge photo far longer. */
static const double bounds[METRICS_N_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const char *const endpoint_names[METRICS_N_ENDPOINTS] = {
    [METRICS_PREDICT] = "predict", [METRICS_RECOGNIZE] = "recognize", [METRICS_MODELS] = "models",
    [METRICS_HEALTH] = "health",   [METRICS_METRICS] = "metrics",     [METRICS_OTHER] = "other",
};

void metrics_init(struct metrics *m, const struct registry *r)
{
	struct timeval tv;

	memset(m, 0, sizeof(*m));
	gettimeofday(&tv, NULL);
	m->start_time = (double)tv.tv_sec + tv.tv_usec / 1e6;
	m->n_models = registry_count(r);
	for (int i = 0; i < m->n_models; i++)
		snprintf(m->model_names[i], sizeof(m->model_names[i]), "%s",
		         registry_model_info(r, i)->name);
}

const char *metrics_endpoint_name(enum metrics_endpoint e)
{
	return (unsigned)e < METRICS_N_ENDPOINTS ? endpoint_names[e] : "other";
}

static void observe(struct metrics_histogram *h, double v)
{
	int i = 0;

	while (i < METRICS_N_BUCKETS && v > bounds[i])
		i++;
	h->count[i]++;
	h->sum += v;
}

void metrics_request(struct metrics *m, enum metrics_endpoint e, int status, double seconds)
{
	int s = answer_status_index(status);

	if (s < 0)
		s = METRICS_N_STATUS - 1; /* "other" */
	if ((unsigned)e >= METRICS_N_ENDPOINTS)
		e = METRICS_OTHER;
	m->requests[e][s]++;
	m->requests_total++;
	if (e == METRICS_PREDICT || e == METRICS_RECOGNIZE)
		observe(&m->total, seconds);
}

void metrics_predictions(struct metrics *m, int model_index, int n_ok, int n_failed,
                         double decode_s, double inference_s)
{
	if (model_index >= 0 && model_index < m->n_models)
		m->predictions[model_index] += (unsigned long)n_ok;
	m->image_errors += (unsigned long)n_failed;
	observe(&m->decode, decode_s);
	if (n_ok)
		observe(&m->inference, inference_s);
}

struct out {
	char *buf;
	size_t cap, len;
	int overflow;
};

static __attribute__((format(printf, 2, 3))) void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->overflow = 1;
	else
		o->len += (size_t)n;
}

static void histogram(struct out *o, const char *name, const char *help,
                      const struct metrics_histogram *h, const char *pid)
{
	unsigned long cum = 0;

	put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i <= METRICS_N_BUCKETS; i++) {
		cum += h->count[i];
		if (i < METRICS_N_BUCKETS)
			put(o, "%s_bucket{%s,le=\"%g\"} %lu\n", name, pid, bounds[i], cum);
		else
			put(o, "%s_bucket{%s,le=\"+Inf\"} %lu\n", name, pid, cum);
	}
	put(o, "%s_sum{%s} %.6f\n%s_count{%s} %lu\n", name, pid, h->sum, name, pid, cum);
}

int metrics_render(const struct metrics *m, char *buf, size_t cap, size_t *len,
                   struct dg_error *err)
{
	struct out o = {buf, cap, 0, 0};
	char pid[32];

	snprintf(pid, sizeof(pid), "pid=\"%ld\"", (long)getpid());
	put(&o,
	    "# HELP process_start_time_seconds Start time of this process since the epoch.\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds{%s} %.3f\n",
	    pid, m->start_time);
	put(&o, "# HELP digits_http_requests_total Requests this process answered, by endpoint "
	        "and status.\n# TYPE digits_http_requests_total counter\n");
	for (int e = 0; e < METRICS_N_ENDPOINTS; e++) {
		for (int s = 0; s < METRICS_N_STATUS; s++) {
			if (!m->requests[e][s])
				continue;
			if (s < METRICS_N_STATUS - 1)
				put(&o,
				    "digits_http_requests_total{%s,endpoint=\"%s\",status=\"%d\"} "
				    "%lu\n",
				    pid, endpoint_names[e], answer_status(s), m->requests[e][s]);
			else
				put(&o,
				    "digits_http_requests_total{%s,endpoint=\"%s\",status="
				    "\"other\"} %lu\n",
				    pid, endpoint_names[e], m->requests[e][s]);
		}
	}
	put(&o, "# HELP digits_predictions_total Images classified, by model.\n"
	        "# TYPE digits_predictions_total counter\n");
	for (int i = 0; i < m->n_models; i++)
		put(&o, "digits_predictions_total{%s,model=\"%s\"} %lu\n", pid, m->model_names[i],
		    m->predictions[i]);
	put(&o,
	    "# HELP digits_image_errors_total Images refused (undecodable, blank, too large).\n"
	    "# TYPE digits_image_errors_total counter\ndigits_image_errors_total{%s} %lu\n",
	    pid, m->image_errors);
	histogram(&o, "digits_decode_seconds", "Image decoding and normalisation per request.",
	          &m->decode, pid);
	histogram(&o, "digits_inference_seconds", "Forward pass per request (all its images).",
	          &m->inference, pid);
	histogram(&o, "digits_request_seconds", "Whole prediction requests, body read excluded.",
	          &m->total, pid);
	if (o.overflow)
		return dg_fail(err, DG_ERR_TOO_LARGE, "metrics exceed %zu bytes", cap);
	*len = o.len;
	return 0;
}
