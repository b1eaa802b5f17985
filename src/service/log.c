/*
 * log.c - request log lines (see log.h).
 */
#include "log.h"

#include "answer.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Bounded by image_warnings (4 x 99 printable bytes): the line stays far
 * under PIPE_BUF. */
static void warnings_json(struct json_object *o, const struct image_warnings *w)
{
	struct json_object *list = json_object_new_array();

	for (int i = 0; list && i < w->n && i < IMAGE_WARN_MAX; i++)
		json_object_array_add(
		    list,
		    json_object_new_string_len(w->msg[i], (int)strnlen(w->msg[i], IMAGE_WARN_LEN)));
	json_object_object_add(o, "decoder_warnings", list);
	if (w->dropped)
		json_object_object_add(o, "decoder_warnings_dropped",
		                       json_object_new_int(w->dropped));
}

static struct json_object *entry_json(const struct log_entry *e)
{
	struct json_object *o = json_object_new_object();
	struct timespec ts;
	struct tm tm;
	char when[40];
	size_t n;

	if (!o)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "id", json_object_new_string(e->id ? e->id : "-"));
	json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	/* strnlen bounds both lengths far below INT_MAX. */
	if (e->method)
		json_object_object_add(
		    o, "method",
		    json_object_new_string_len(e->method, (int)strnlen(e->method, 16)));
	if (e->path)
		json_object_object_add(
		    o, "path", json_object_new_string_len(e->path, (int)strnlen(e->path, 256)));
	json_object_object_add(o, "status", json_object_new_int(e->status));
	if (e->code)
		json_object_object_add(o, "code", json_object_new_string(e->code));
	if (e->model)
		json_object_object_add(o, "model", json_object_new_string(e->model));
	if (e->digit >= 0)
		json_object_object_add(o, "digit", json_object_new_int(e->digit));
	if (e->images)
		json_object_object_add(o, "images", json_object_new_int(e->images));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)e->bytes));
	json_object_object_add(o, "ms", answer_timings(e->decode_ms, e->inference_ms, e->total_ms));
	if (e->unsent)
		json_object_object_add(o, "sent", json_object_new_boolean(0));
	if (e->warnings && (e->warnings->n || e->warnings->dropped))
		warnings_json(o, e->warnings);
	return o;
}

size_t log_format(const struct log_entry *e, char *buf, size_t cap)
{
	struct json_object *o = entry_json(e);
	const char *s;
	size_t n;
	int w;

	if (!cap)
		return 0;
	s = answer_text(o, &n);
	if (s) {
		if (n >= cap)
			n = cap - 1;
		memcpy(buf, s, n);
		buf[n] = '\0';
	} else {
		/* json-c out of memory: what matters, without it.  Ids are
		 * [A-Za-z0-9._:-] (log_request_id), safe inside quotes. */
		w = snprintf(buf, cap, "{\"id\":\"%s\",\"status\":%d,\"log\":\"out of memory\"}",
		             e->id ? e->id : "-", e->status);
		n = w < 0 ? 0 : (size_t)w < cap ? (size_t)w : cap - 1;
	}
	json_object_put(o);
	return n;
}

void log_request(const struct log_entry *e)
{
	char line[PIPE_BUF];
	size_t n = log_format(e, line, sizeof(line) - 1);

	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere to report it. */
	}
}

static int id_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void log_request_id(const char *id, char out[65])
{
	static uint64_t counter;
	struct timespec ts;
	size_t n = id ? strnlen(id, 65) : 0;
	int sane = n >= 1 && n <= 64;

	for (size_t i = 0; sane && i < n; i++)
		sane = id_char(id[i]);
	if (sane) {
		memcpy(out, id, n);
		out[n] = '\0';
		return;
	}
	/* Unique per process and request; not a secret, so no need for getrandom. */
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, 65, "%016llx",
	         (unsigned long long)splitmix64((uint64_t)getpid() << 40 ^
	                                        (uint64_t)ts.tv_sec << 20 ^ (uint64_t)ts.tv_nsec ^
	                                        ++counter << 48));
}
