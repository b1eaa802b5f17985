/*
 * json_subset.c - the json-c calls the engine makes, for the WebAssembly
 * build (see json-c/json.h beside it for why and for what differs): values,
 * lookups, equality and printing; json_parse.c reads text.
 *
 * Values are reference counted as in json-c; an object keeps its keys in
 * insertion order (as json-c prints them) and is searched linearly, which
 * suits model headers (tens of keys an object).  Printing gives json-c's
 * plain form, so a model header read (json_parse.c) and printed again is
 * the text json-c wrote.
 */
#include "json-c/json.h"
#include "json_priv.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct json_object {
	enum json_type type;
	int refs;
	char *text;   /* cached printed form, freed when o changes */
	char *source; /* a parsed double's own text, printed as it was (json-c does) */
	union {
		bool b;
		int64_t i;
		double d;
		struct {
			char *s;
			size_t len;
		} str;
		struct {
			struct json_object **v;
			size_t n, cap;
		} arr;
		struct {
			char **keys;
			struct json_object **v;
			size_t n, cap;
		} obj;
	} u;
};

static struct json_object *new_value(enum json_type type)
{
	struct json_object *o = calloc(1, sizeof(*o));

	if (o) {
		o->type = type;
		o->refs = 1;
	}
	return o;
}

static void forget_text(struct json_object *o)
{
	free(o->text);
	o->text = NULL;
}

struct json_object *json_object_new_object(void)
{
	return new_value(json_type_object);
}

struct json_object *json_object_new_array(void)
{
	return new_value(json_type_array);
}

struct json_object *jsub_new_string_len(const char *s, size_t len)
{
	struct json_object *o = new_value(json_type_string);

	if (!o)
		return NULL;
	o->u.str.s = malloc(len + 1);
	if (!o->u.str.s) {
		free(o);
		return NULL;
	}
	memcpy(o->u.str.s, s, len);
	o->u.str.s[len] = '\0';
	o->u.str.len = len;
	return o;
}

struct json_object *json_object_new_string(const char *s)
{
	return jsub_new_string_len(s, strlen(s));
}

struct json_object *json_object_new_int64(int64_t i)
{
	struct json_object *o = new_value(json_type_int);

	if (o)
		o->u.i = i;
	return o;
}

struct json_object *json_object_new_int(int32_t i)
{
	return json_object_new_int64(i);
}

struct json_object *json_object_new_double(double d)
{
	struct json_object *o = new_value(json_type_double);

	if (o)
		o->u.d = d;
	return o;
}

/* Written as text nowhere here: the value alone. */
struct json_object *json_object_new_double_s(double d, const char *text)
{
	(void)text;
	return json_object_new_double(d);
}

struct json_object *json_object_new_boolean(int b)
{
	struct json_object *o = new_value(json_type_boolean);

	if (o)
		o->u.b = b != 0;
	return o;
}

struct json_object *json_object_get(struct json_object *o)
{
	if (o)
		o->refs++;
	return o;
}

int json_object_put(struct json_object *o)
{
	if (!o || --o->refs > 0)
		return 0;
	switch (o->type) {
	case json_type_string:
		free(o->u.str.s);
		break;
	case json_type_array:
		for (size_t i = 0; i < o->u.arr.n; i++)
			json_object_put(o->u.arr.v[i]);
		free(o->u.arr.v);
		break;
	case json_type_object:
		for (size_t i = 0; i < o->u.obj.n; i++) {
			free(o->u.obj.keys[i]);
			json_object_put(o->u.obj.v[i]);
		}
		free(o->u.obj.keys);
		free(o->u.obj.v);
		break;
	default:
		break;
	}
	free(o->text);
	free(o->source);
	free(o);
	return 1;
}

enum json_type json_object_get_type(const struct json_object *o)
{
	return o ? o->type : json_type_null;
}

int json_object_is_type(const struct json_object *o, enum json_type type)
{
	return json_object_get_type(o) == type;
}

static long find_key(const struct json_object *o, const char *key)
{
	for (size_t i = 0; i < o->u.obj.n; i++)
		if (strcmp(o->u.obj.keys[i], key) == 0)
			return (long)i;
	return -1;
}

/* Grow *v (of elements of size elem) to hold at least n + 1. */
static int reserve(void **v, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t want = *cap ? *cap * 2 : 8;
	void *p = realloc(*v, want * elem);

	if (!p)
		return -1;
	*v = p;
	*cap = want;
	return 0;
}

/* As json-c: a key already there gets the new value (the old one is put). */
int json_object_object_add(struct json_object *o, const char *key, struct json_object *val)
{
	long at;
	size_t cap;

	if (!json_object_is_type(o, json_type_object))
		return -1;
	forget_text(o);
	at = find_key(o, key);
	if (at >= 0) {
		if (o->u.obj.v[at] != val)
			json_object_put(o->u.obj.v[at]);
		o->u.obj.v[at] = val;
		return 0;
	}
	cap = o->u.obj.cap;
	if (reserve((void **)&o->u.obj.keys, &cap, o->u.obj.n, sizeof(char *)))
		return -1;
	cap = o->u.obj.cap;
	if (reserve((void **)&o->u.obj.v, &cap, o->u.obj.n, sizeof(struct json_object *)))
		return -1;
	o->u.obj.cap = cap;
	o->u.obj.keys[o->u.obj.n] = strdup(key);
	if (!o->u.obj.keys[o->u.obj.n])
		return -1;
	o->u.obj.v[o->u.obj.n++] = val;
	return 0;
}

int json_object_object_get_ex(const struct json_object *o, const char *key,
                              struct json_object **value)
{
	long at = json_object_is_type(o, json_type_object) ? find_key(o, key) : -1;

	if (value)
		*value = at >= 0 ? o->u.obj.v[at] : NULL;
	return at >= 0;
}

struct json_object *json_object_object_get(const struct json_object *o, const char *key)
{
	struct json_object *v;

	json_object_object_get_ex(o, key, &v);
	return v;
}

int json_object_object_length(const struct json_object *o)
{
	return json_object_is_type(o, json_type_object) ? (int)o->u.obj.n : 0;
}

int json_object_array_add(struct json_object *o, struct json_object *val)
{
	if (!json_object_is_type(o, json_type_array))
		return -1;
	forget_text(o);
	if (reserve((void **)&o->u.arr.v, &o->u.arr.cap, o->u.arr.n, sizeof(struct json_object *)))
		return -1;
	o->u.arr.v[o->u.arr.n++] = val;
	return 0;
}

size_t json_object_array_length(const struct json_object *o)
{
	return json_object_is_type(o, json_type_array) ? o->u.arr.n : 0;
}

struct json_object *json_object_array_get_idx(const struct json_object *o, size_t idx)
{
	return json_object_is_type(o, json_type_array) && idx < o->u.arr.n ? o->u.arr.v[idx] : NULL;
}

const char *json_object_get_string(struct json_object *o)
{
	if (!o)
		return NULL;
	if (o->type == json_type_string)
		return o->u.str.s;
	return json_object_to_json_string(o);
}

int json_object_get_string_len(const struct json_object *o)
{
	return json_object_is_type(o, json_type_string) ? (int)o->u.str.len : 0;
}

/* json-c's conversions between the scalar types. */
int64_t json_object_get_int64(const struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_int:
		return o->u.i;
	case json_type_double:
		if (isnan(o->u.d))
			return 0;
		if (o->u.d >= (double)INT64_MAX)
			return INT64_MAX;
		if (o->u.d <= (double)INT64_MIN)
			return INT64_MIN;
		return (int64_t)o->u.d;
	case json_type_boolean:
		return o->u.b;
	case json_type_string:
		return strtoll(o->u.str.s, NULL, 10);
	default:
		return 0;
	}
}

int32_t json_object_get_int(const struct json_object *o)
{
	int64_t v = json_object_get_int64(o);

	return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

double json_object_get_double(const struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_double:
		return o->u.d;
	case json_type_int:
		return (double)o->u.i;
	case json_type_boolean:
		return o->u.b;
	case json_type_string:
		return strtod(o->u.str.s, NULL);
	default:
		return 0.0;
	}
}

int json_object_get_boolean(const struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_boolean:
		return o->u.b;
	case json_type_int:
		return o->u.i != 0;
	case json_type_double:
		return o->u.d != 0.0;
	case json_type_string:
		return o->u.str.len != 0;
	default:
		return 0;
	}
}

int json_object_equal(struct json_object *a, struct json_object *b)
{
	if (a == b)
		return 1;
	if (!a || !b || a->type != b->type)
		return 0;
	switch (a->type) {
	case json_type_boolean:
		return a->u.b == b->u.b;
	case json_type_int:
		return a->u.i == b->u.i;
	case json_type_double:
		return a->u.d == b->u.d;
	case json_type_string:
		return a->u.str.len == b->u.str.len &&
		       memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
	case json_type_array:
		if (a->u.arr.n != b->u.arr.n)
			return 0;
		for (size_t i = 0; i < a->u.arr.n; i++)
			if (!json_object_equal(a->u.arr.v[i], b->u.arr.v[i]))
				return 0;
		return 1;
	case json_type_object:
		if (a->u.obj.n != b->u.obj.n)
			return 0;
		for (size_t i = 0; i < a->u.obj.n; i++) {
			struct json_object *bv;

			if (!json_object_object_get_ex(b, a->u.obj.keys[i], &bv) ||
			    !json_object_equal(a->u.obj.v[i], bv))
				return 0;
		}
		return 1;
	default:
		return 1;
	}
}

/* ---- printing ---- */

void jsub_put(struct buf *b, const char *s, size_t len)
{
	if (b->failed)
		return;
	if (b->n + len + 1 > b->cap) {
		size_t want = b->cap ? b->cap : 64;
		char *p;

		while (want < b->n + len + 1)
			want *= 2;
		p = realloc(b->p, want);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = want;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		jsub_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void put_string(struct buf *b, const char *s, size_t len, int flags)
{
	jsub_put(b, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"':
			jsub_put(b, "\\\"", 2);
			break;
		case '\\':
			jsub_put(b, "\\\\", 2);
			break;
		case '\b':
			jsub_put(b, "\\b", 2);
			break;
		case '\f':
			jsub_put(b, "\\f", 2);
			break;
		case '\n':
			jsub_put(b, "\\n", 2);
			break;
		case '\r':
			jsub_put(b, "\\r", 2);
			break;
		case '\t':
			jsub_put(b, "\\t", 2);
			break;
		case '/':
			jsub_put(b, (flags & JSON_C_TO_STRING_NOSLASHESCAPE) ? "/" : "\\/",
			         (flags & JSON_C_TO_STRING_NOSLASHESCAPE) ? 1 : 2);
			break;
		default:
			if (c < 0x20)
				putf(b, "\\u%04x", c);
			else
				jsub_put(b, (const char *)&c, 1);
		}
	}
	jsub_put(b, "\"", 1);
}

/* json-c's: a parsed double as its text was, a new one as "%.17g" with a
 * ".0" on what would otherwise read as an integer. */
static void put_double(struct buf *b, const struct json_object *o)
{
	char tmp[64];

	if (o->source) {
		jsub_put(b, o->source, strlen(o->source));
		return;
	}
	if (isnan(o->u.d)) {
		jsub_put(b, "NaN", 3);
		return;
	}
	if (isinf(o->u.d)) {
		jsub_put(b, o->u.d > 0 ? "Infinity" : "-Infinity", o->u.d > 0 ? 8 : 9);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%.17g", o->u.d);
	if (!strpbrk(tmp, ".e"))
		strcat(tmp, ".0");
	jsub_put(b, tmp, strlen(tmp));
}

static void print_value(struct buf *b, const struct json_object *o, int flags)
{
	switch (json_object_get_type(o)) {
	case json_type_null:
		jsub_put(b, "null", 4);
		break;
	case json_type_boolean:
		jsub_put(b, o->u.b ? "true" : "false", o->u.b ? 4 : 5);
		break;
	case json_type_int:
		putf(b, "%lld", (long long)o->u.i);
		break;
	case json_type_double:
		put_double(b, o);
		break;
	case json_type_string:
		put_string(b, o->u.str.s, o->u.str.len, flags);
		break;
	case json_type_array:
		jsub_put(b, "[", 1);
		for (size_t i = 0; i < o->u.arr.n; i++) {
			if (i)
				jsub_put(b, ",", 1);
			print_value(b, o->u.arr.v[i], flags);
		}
		jsub_put(b, "]", 1);
		break;
	case json_type_object:
		jsub_put(b, "{", 1);
		for (size_t i = 0; i < o->u.obj.n; i++) {
			if (i)
				jsub_put(b, ",", 1);
			put_string(b, o->u.obj.keys[i], strlen(o->u.obj.keys[i]), flags);
			jsub_put(b, ":", 1);
			print_value(b, o->u.obj.v[i], flags);
		}
		jsub_put(b, "}", 1);
		break;
	}
}

const char *json_object_to_json_string_ext(struct json_object *o, int flags)
{
	struct buf b = {0};

	if (!o)
		return "null";
	print_value(&b, o, flags);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	free(o->text);
	o->text = b.p;
	return o->text;
}

const char *json_object_to_json_string(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
}

int jsub_set_source(struct json_object *o, const char *text)
{
	o->source = strdup(text);
	return o->source ? 0 : -1;
}
