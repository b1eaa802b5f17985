/* digits.c - the shared error report (see digits.h). */
#include "digits.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

double dg_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int dg_fail(struct dg_error *err, enum dg_code code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

const char *dg_code_name(enum dg_code code)
{
	switch (code) {
	case DG_OK:
		return "ok";
	case DG_ERR_NOMEM:
		return "nomem";
	case DG_ERR_IO:
		return "io";
	case DG_ERR_FORMAT:
		return "format";
	case DG_ERR_UNSUPPORTED:
		return "unsupported";
	case DG_ERR_TOO_LARGE:
		return "too_large";
	case DG_ERR_INVALID:
		return "invalid";
	case DG_ERR_EMPTY:
		return "empty";
	}
	return "unknown";
}
