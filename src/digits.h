/*
 * digits.h - what every module of the engine shares: the error report.
 *
 * Library code never prints and never exits.  A function that can fail
 * returns 0 on success and -1 on failure, having filled a struct dg_error
 * whose message names the input and the problem ("models/cnn.model: tensor
 * fc1.weight has 1000 floats, graph needs 295168").  The code lets a front
 * end choose an HTTP status or exit status without parsing the message.
 */
#ifndef DIGITS_H
#define DIGITS_H

#include <stddef.h>

enum dg_code {
	DG_OK = 0,
	DG_ERR_NOMEM,       /* allocation failed */
	DG_ERR_IO,          /* open/read/write/rename failed; errno text in message */
	DG_ERR_FORMAT,      /* malformed input: file, image, request body */
	DG_ERR_UNSUPPORTED, /* well-formed but not something we handle */
	DG_ERR_TOO_LARGE,   /* input exceeds a configured limit */
	DG_ERR_INVALID,     /* bad argument or parameter value */
	DG_ERR_EMPTY,       /* input holds nothing to work on (no ink, no data) */
};

#define DG_ERROR_MAX 320

struct dg_error {
	enum dg_code code;
	char msg[DG_ERROR_MAX];
};

/* Fill err (which may be NULL) and return -1, so callers can write
 * "return dg_fail(err, DG_ERR_IO, "%s: %s", path, strerror(errno));". */
int dg_fail(struct dg_error *err, enum dg_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Stable lowercase name of a code, for logs ("io", "format", ...). */
const char *dg_code_name(enum dg_code code);

/* Seconds on the monotonic clock: only differences mean anything.  The one
 * clock every timing in the engine, the service, the trainer and the
 * benchmarks reads. */
double dg_seconds(void);

#endif
