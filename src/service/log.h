/*
 * log.h - one JSON line per request on stderr.
 *
 * Under lighttpd a FastCGI process's stderr goes to lighttpd's error log;
 * every line is written with a single write(2) (and kept under PIPE_BUF)
 * so lines from several processes never interleave.
 */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "image/image.h"

struct log_entry {
	const char *id;     /* request id */
	const char *method; /* may be NULL */
	const char *path;   /* may be NULL */
	int status;
	const char *code;  /* error code, NULL on success */
	const char *model; /* NULL when no model was used */
	int digit;         /* first prediction, -1 if none */
	int images;        /* images in the request */
	size_t bytes;      /* request body */
	double decode_ms, inference_ms, total_ms;
	bool unsent; /* the answer could not be written: adds "sent": false */
	/* What the decoding libraries said, NULL or empty for nothing: becomes
	 * "decoder_warnings": [...] (and "decoder_warnings_dropped": n), so
	 * their text never reaches the log raw. */
	const struct image_warnings *warnings;
};

/* Write the entry to fd 2.  Never fails visibly: logging must not break a
 * request. */
void log_request(const struct log_entry *e);

/* Same line into buf (NUL-terminated, truncated to cap); returns length.
 * For tests. */
size_t log_format(const struct log_entry *e, char *buf, size_t cap);

/* A request id: id if it is 1-64 characters of [A-Za-z0-9._:-] (so a
 * balancer's X-Request-Id is kept), else a fresh random-looking one. */
void log_request_id(const char *id, char out[65]);

#endif
