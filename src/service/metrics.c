/*
 * metrics.c - counters, histograms, the shared segment and the Prometheus
 * text format.
 *
 * Segment layout: a header, then METRICS_SLOTS slots.  A slot belongs to the
 * process whose pid it holds; 0, or the pid of a process that no longer
 * exists, marks it free.  A process takes a free slot with a compare-and-
 * swap on that pid, so two processes never share one, and keeps what the
 * slot already counted.  Only the owner writes a slot's counts (one request
 * at a time per process), with relaxed atomic adds; a scrape reads every
 * slot with relaxed atomic loads.  Counts of one request may be seen half
 * recorded by a concurrent scrape, never torn.
 */
#include "metrics.h"

#include "answer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define METRICS_SLOTS   256         /* processes of one service at once, and more */
#define SEGMENT_MAGIC   0x4d475444u /* set last by the creator: the header is ready */
#define SEGMENT_WAIT_MS 2000        /* how long to wait for another process's creation */

struct slot {
	int32_t pid;      /* owner, 0 when free */
	int32_t last_pid; /* the latest owner, for the per-process lines */
	struct metrics_counts counts;
};

struct segment {
	uint32_t magic;
	uint32_t slot_size; /* sizeof(struct slot): another layout is refused */
	uint32_t n_slots;
	uint32_t pad;
	double created; /* Unix time the segment was made */
	struct slot slots[METRICS_SLOTS];
};

/* This process's attachment (one per process, see metrics_shared_open). */
static struct {
	struct segment *seg;
	struct slot *mine;
	char name[64];
} shared;

/* Seconds; a digit takes about a millisecond, a huge photo far longer. */
static const double bounds[METRICS_N_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const char *const endpoint_names[METRICS_N_ENDPOINTS] = {
    [METRICS_PREDICT] = "predict", [METRICS_RECOGNIZE] = "recognize", [METRICS_READ] = "read",
    [METRICS_MODELS] = "models",   [METRICS_HEALTH] = "health",       [METRICS_METRICS] = "metrics",
    [METRICS_OTHER] = "other",
};

static double now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static void add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static bool alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

void metrics_shared_name(const char *addr, char out[64])
{
	size_t len = strlen(addr), end = len;
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	char uid[24];

	if (addr[0] == '/') {
		while (end > 0 && addr[end - 1] >= '0' && addr[end - 1] <= '9')
			end--;
		if (end > 1 && end < len && addr[end - 1] == '-')
			len = end - 1;
	}
	snprintf(uid, sizeof(uid), "%lu:", (unsigned long)geteuid());
	for (const char *p = uid; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)addr[i]) * 1099511628211ull;
	snprintf(out, 64, "/digits-%016llx", (unsigned long long)h);
}

/* Wait (bounded) until the creator has sized the segment and set its magic. */
static int wait_ready(int fd, const char *name, struct segment **out, struct dg_error *err)
{
	struct stat st;
	struct segment *seg;

	for (int ms = 0;; ms += 10) {
		if (fstat(fd, &st) < 0)
			return dg_fail(err, DG_ERR_IO, "shm %s: %s", name, strerror(errno));
		if (st.st_uid != geteuid())
			return dg_fail(err, DG_ERR_INVALID, "shm %s: owned by uid %lu, not us",
			               name, (unsigned long)st.st_uid);
		if ((size_t)st.st_size == sizeof(struct segment))
			break;
		if (ms >= SEGMENT_WAIT_MS)
			return dg_fail(err, DG_ERR_FORMAT,
			               "shm %s: %lld bytes, this build expects %zu (another "
			               "version, or its creator died: remove it)",
			               name, (long long)st.st_size, sizeof(struct segment));
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	seg = mmap(NULL, sizeof(*seg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (seg == MAP_FAILED)
		return dg_fail(err, DG_ERR_IO, "shm %s: mmap: %s", name, strerror(errno));
	for (int ms = 0; __atomic_load_n(&seg->magic, __ATOMIC_ACQUIRE) != SEGMENT_MAGIC;
	     ms += 10) {
		if (ms >= SEGMENT_WAIT_MS) {
			munmap(seg, sizeof(*seg));
			return dg_fail(err, DG_ERR_FORMAT, "shm %s: not a digits metrics segment",
			               name);
		}
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	if (seg->slot_size != sizeof(struct slot) || seg->n_slots != METRICS_SLOTS) {
		munmap(seg, sizeof(*seg));
		return dg_fail(err, DG_ERR_UNSUPPORTED,
		               "shm %s: made by a build with another layout (remove it)", name);
	}
	*out = seg;
	return 0;
}

/* Make the segment; posix_fallocate reserves its pages now, so a full
 * /dev/shm fails here rather than with SIGBUS on a later write. */
static int create(int fd, const char *name, struct segment **out, struct dg_error *err)
{
	struct segment *seg;
	int rc = posix_fallocate(fd, 0, sizeof(struct segment));

	if (rc != 0)
		return dg_fail(err, DG_ERR_IO, "shm %s: cannot reserve %zu bytes: %s", name,
		               sizeof(struct segment), strerror(rc));
	seg = mmap(NULL, sizeof(*seg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (seg == MAP_FAILED)
		return dg_fail(err, DG_ERR_IO, "shm %s: mmap: %s", name, strerror(errno));
	seg->slot_size = sizeof(struct slot);
	seg->n_slots = METRICS_SLOTS;
	seg->created = now();
	__atomic_store_n(&seg->magic, SEGMENT_MAGIC, __ATOMIC_RELEASE);
	*out = seg;
	return 0;
}

int metrics_shared_open(const char *name, struct dg_error *err)
{
	struct segment *seg = NULL;
	int fd, rc;

	if (shared.seg)
		return dg_fail(err, DG_ERR_INVALID, "shm %s: already attached to %s", name,
		               shared.name);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		rc = create(fd, name, &seg, err);
		if (rc < 0)
			shm_unlink(name);
	} else if (errno == EEXIST) {
		fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
		if (fd < 0)
			return dg_fail(err, DG_ERR_IO, "shm %s: %s", name, strerror(errno));
		rc = wait_ready(fd, name, &seg, err);
	} else {
		return dg_fail(err, DG_ERR_IO, "shm %s: %s", name, strerror(errno));
	}
	close(fd); /* the mapping stays */
	if (rc < 0)
		return -1;
	shared.seg = seg;
	snprintf(shared.name, sizeof(shared.name), "%s", name);
	return 0;
}

/* A free slot (never used, released, or its owner is dead), now ours. */
static struct slot *take_slot(struct segment *seg)
{
	int32_t me = (int32_t)getpid();

	for (int i = 0; i < METRICS_SLOTS; i++) {
		struct slot *s = &seg->slots[i];
		int32_t owner = __atomic_load_n(&s->pid, __ATOMIC_ACQUIRE);

		if (owner != 0 && (owner == me || alive(owner)))
			continue;
		if (__atomic_compare_exchange_n(&s->pid, &owner, me, false, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&s->last_pid, me, __ATOMIC_RELAXED);
			return s;
		}
	}
	return NULL;
}

void metrics_shared_close(bool unlink_if_last)
{
	bool last = true;

	if (!shared.seg)
		return;
	if (shared.mine)
		__atomic_store_n(&shared.mine->pid, 0, __ATOMIC_SEQ_CST);
	/* Released before looking: of two processes leaving together, the
	 * second to look sees no one and removes the segment. */
	for (int i = 0; i < METRICS_SLOTS && last; i++)
		last = !alive(__atomic_load_n(&shared.seg->slots[i].pid, __ATOMIC_SEQ_CST));
	if (unlink_if_last && last)
		shm_unlink(shared.name);
	munmap(shared.seg, sizeof(*shared.seg));
	shared.seg = NULL;
	shared.mine = NULL;
}

/* Where this process's models are counted in c: found by name, or added. */
static void map_models(struct metrics *m, struct metrics_counts *c, const struct registry *r)
{
	for (int i = 0; i < registry_count(r) && i < REGISTRY_MAX_MODELS; i++) {
		const char *name = registry_model_info(r, i)->name;
		int n = __atomic_load_n(&c->n_models, __ATOMIC_ACQUIRE), j = 0;

		while (j < n && strcmp(c->model_names[j], name) != 0)
			j++;
		if (j == n && n < REGISTRY_MAX_MODELS) {
			snprintf(c->model_names[n], NN_NAME_MAX, "%s", name);
			__atomic_store_n(&c->n_models, n + 1, __ATOMIC_RELEASE);
		}
		m->model_slot[i] = j < REGISTRY_MAX_MODELS ? j : -1;
	}
}

void metrics_init(struct metrics *m, const struct registry *r)
{
	memset(m, 0, sizeof(*m));
	m->start_time = now();
	m->counts = &m->own;
	if (shared.seg && !shared.mine)
		shared.mine = take_slot(shared.seg);
	if (shared.mine)
		m->counts = &shared.mine->counts;
	map_models(m, m->counts, r);
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
	add(&h->count[i], 1);
	add(&h->sum_ns, v > 0 ? (uint64_t)(v * 1e9) : 0);
}

void metrics_request(struct metrics *m, enum metrics_endpoint e, int status, double seconds)
{
	int s = answer_status_index(status);

	if (s < 0)
		s = METRICS_N_STATUS - 1; /* "other" */
	if ((unsigned)e >= METRICS_N_ENDPOINTS)
		e = METRICS_OTHER;
	add(&m->counts->requests[e][s], 1);
	m->requests_total++;
	if (e == METRICS_PREDICT || e == METRICS_RECOGNIZE || e == METRICS_READ)
		observe(&m->counts->total, seconds);
}

void metrics_predictions(struct metrics *m, int model_index, int n_ok, int n_failed,
                         double decode_s, double inference_s)
{
	if (model_index >= 0 && model_index < REGISTRY_MAX_MODELS &&
	    m->model_slot[model_index] >= 0 && n_ok > 0)
		add(&m->counts->predictions[m->model_slot[model_index]], (uint64_t)n_ok);
	if (n_failed > 0)
		add(&m->counts->image_errors, (uint64_t)n_failed);
	observe(&m->counts->decode, decode_s);
	if (n_ok)
		observe(&m->counts->inference, inference_s);
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

/* Whether m counts into this process's slot of the shared segment. */
static bool attached(const struct metrics *m)
{
	return shared.mine && m->counts == &shared.mine->counts;
}

/* Add src into the sum; predictions are matched by model name. */
static void sum_counts(struct metrics_counts *sum, const struct metrics_counts *src)
{
	int n = __atomic_load_n(&src->n_models, __ATOMIC_ACQUIRE);

	for (int e = 0; e < METRICS_N_ENDPOINTS; e++)
		for (int s = 0; s < METRICS_N_STATUS; s++)
			sum->requests[e][s] += get(&src->requests[e][s]);
	for (int i = 0; i < n && i < REGISTRY_MAX_MODELS; i++) {
		int j = 0;

		while (j < sum->n_models && strcmp(sum->model_names[j], src->model_names[i]) != 0)
			j++;
		if (j == REGISTRY_MAX_MODELS)
			continue; /* more distinct names than a registry holds: not shown */
		if (j == sum->n_models)
			memcpy(sum->model_names[sum->n_models++], src->model_names[i], NN_NAME_MAX);
		sum->predictions[j] += get(&src->predictions[i]);
	}
	sum->image_errors += get(&src->image_errors);
	const struct metrics_histogram *from[] = {&src->decode, &src->inference, &src->total};
	struct metrics_histogram *to[] = {&sum->decode, &sum->inference, &sum->total};
	for (int h = 0; h < 3; h++) {
		for (int i = 0; i <= METRICS_N_BUCKETS; i++)
			to[h]->count[i] += get(&from[h]->count[i]);
		to[h]->sum_ns += get(&from[h]->sum_ns);
	}
}

static uint64_t slot_requests(const struct metrics_counts *c)
{
	uint64_t n = 0;

	for (int e = 0; e < METRICS_N_ENDPOINTS; e++)
		for (int s = 0; s < METRICS_N_STATUS; s++)
			n += get(&c->requests[e][s]);
	return n;
}

static void histogram(struct out *o, const char *name, const char *help,
                      const struct metrics_histogram *h)
{
	uint64_t cum = 0;

	put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i <= METRICS_N_BUCKETS; i++) {
		cum += h->count[i];
		if (i < METRICS_N_BUCKETS)
			put(o, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
			    (unsigned long long)cum);
		else
			put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	}
	put(o, "%s_sum %.6f\n%s_count %llu\n", name, h->sum_ns / 1e9, name,
	    (unsigned long long)cum);
}

/* The per-process lines: requests counted in each slot, by its latest
 * owner, and how many processes hold a slot now. */
static void processes(struct out *o, const struct metrics *m)
{
	int live = 0;

	put(o, "# HELP digits_process_requests_total Requests counted in each slot, by the "
	       "slot's latest process.\n# TYPE digits_process_requests_total counter\n");
	if (!attached(m)) {
		put(o, "digits_process_requests_total{slot=\"private\",pid=\"%ld\"} %llu\n",
		    (long)getpid(), (unsigned long long)slot_requests(m->counts));
		live = 1;
	} else {
		for (int i = 0; i < METRICS_SLOTS; i++) {
			const struct slot *s = &shared.seg->slots[i];
			int32_t last = __atomic_load_n(&s->last_pid, __ATOMIC_RELAXED);

			if (!last)
				continue;
			live += alive(__atomic_load_n(&s->pid, __ATOMIC_RELAXED));
			put(o, "digits_process_requests_total{slot=\"%d\",pid=\"%ld\"} %llu\n", i,
			    (long)last, (unsigned long long)slot_requests(&s->counts));
		}
	}
	put(o,
	    "# HELP digits_processes Processes counting into these metrics now.\n"
	    "# TYPE digits_processes gauge\ndigits_processes %d\n"
	    "# HELP digits_metrics_shared 1: the counts are the whole service's (shared "
	    "memory); 0: this process's only.\n# TYPE digits_metrics_shared gauge\n"
	    "digits_metrics_shared %d\n",
	    live, attached(m));
}

static void requests(struct out *o, const struct metrics_counts *sum)
{
	put(o, "# HELP digits_http_requests_total Requests answered, by endpoint and status.\n"
	       "# TYPE digits_http_requests_total counter\n");
	for (int e = 0; e < METRICS_N_ENDPOINTS; e++) {
		for (int s = 0; s < METRICS_N_STATUS; s++) {
			unsigned long long n = sum->requests[e][s];

			if (!n)
				continue;
			if (s < METRICS_N_STATUS - 1)
				put(o,
				    "digits_http_requests_total{endpoint=\"%s\",status=\"%d\"} "
				    "%llu\n",
				    endpoint_names[e], answer_status(s), n);
			else
				put(o,
				    "digits_http_requests_total{endpoint=\"%s\",status=\"other\"} "
				    "%llu\n",
				    endpoint_names[e], n);
		}
	}
}

int metrics_render(const struct metrics *m, char *buf, size_t cap, size_t *len,
                   struct dg_error *err)
{
	struct out o = {buf, cap, 0, 0};
	struct metrics_counts sum = {0};
	bool whole = attached(m);

	if (whole)
		for (int i = 0; i < METRICS_SLOTS; i++)
			sum_counts(&sum, &shared.seg->slots[i].counts);
	else
		sum_counts(&sum, m->counts);
	put(&o,
	    "# HELP process_start_time_seconds Start time of the process that answered.\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds{pid=\"%ld\"} %.3f\n"
	    "# HELP digits_metrics_start_time_seconds Since when these counts run.\n"
	    "# TYPE digits_metrics_start_time_seconds gauge\n"
	    "digits_metrics_start_time_seconds %.3f\n",
	    (long)getpid(), m->start_time, whole ? shared.seg->created : m->start_time);
	processes(&o, m);
	requests(&o, &sum);
	put(&o, "# HELP digits_predictions_total Images classified, by model.\n"
	        "# TYPE digits_predictions_total counter\n");
	for (int i = 0; i < sum.n_models; i++)
		put(&o, "digits_predictions_total{model=\"%s\"} %llu\n", sum.model_names[i],
		    (unsigned long long)sum.predictions[i]);
	put(&o,
	    "# HELP digits_image_errors_total Images refused (undecodable, blank, too large).\n"
	    "# TYPE digits_image_errors_total counter\ndigits_image_errors_total %llu\n",
	    (unsigned long long)sum.image_errors);
	histogram(&o, "digits_decode_seconds", "Image decoding and normalisation per request.",
	          &sum.decode);
	histogram(&o, "digits_inference_seconds", "Forward pass per request (all its images).",
	          &sum.inference);
	histogram(&o, "digits_request_seconds", "Whole prediction requests, body read excluded.",
	          &sum.total);
	if (o.overflow)
		return dg_fail(err, DG_ERR_TOO_LARGE, "metrics exceed %zu bytes", cap);
	*len = o.len;
	return 0;
}
