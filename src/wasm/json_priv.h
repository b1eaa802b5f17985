/*
 * json_priv.h - what json_subset.c and json_parse.c share, and nothing
 * outside them uses: a growing text buffer and two ways into a value.
 */
#ifndef DIGITS_JSON_PRIV_H
#define DIGITS_JSON_PRIV_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

/* A NUL-terminated text that grows; failed once an allocation failed. */
struct buf {
	char *p;
	size_t n, cap;
	bool failed;
};

void jsub_put(struct buf *b, const char *s, size_t len);

/* A string value of s[0, len) (which may hold NULs). */
struct json_object *jsub_new_string_len(const char *s, size_t len);

/* A parsed double keeps its text, printed as it was (json-c does). */
int jsub_set_source(struct json_object *o, const char *text);

#endif
