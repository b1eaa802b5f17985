/*
 * json_parse.c - json-c's tokener for the WebAssembly build's json-c subset
 * (json-c/json.h): strict JSON, one value, a plain recursive descent
 * bounded by JSON_TOKENER_DEFAULT_DEPTH so a hostile model header cannot
 * exhaust the stack.  Integers that fit int64 become ints and the rest
 * doubles, as in json-c, and a double keeps its text to be printed as it
 * was.
 */
#include "json-c/json.h"
#include "json_priv.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *s;
	size_t n, at;
	enum json_tokener_error err;
};

static int parse_value(struct parser *p, int depth, struct json_object **out);

static void skip_space(struct parser *p)
{
	while (p->at < p->n && (p->s[p->at] == ' ' || p->s[p->at] == '\t' || p->s[p->at] == '\n' ||
	                        p->s[p->at] == '\r'))
		p->at++;
}

static struct json_object *fail(struct parser *p, enum json_tokener_error e)
{
	if (p->err == json_tokener_success)
		p->err =
		    p->at >= p->n && e != json_tokener_error_depth && e != json_tokener_error_memory
		        ? json_tokener_error_parse_eof
		        : e;
	return NULL;
}

static bool literal(struct parser *p, const char *word)
{
	size_t len = strlen(word);

	if (p->n - p->at < len || memcmp(p->s + p->at, word, len) != 0)
		return false;
	p->at += len;
	return true;
}

static int hex4(struct parser *p, unsigned *out)
{
	unsigned v = 0;

	if (p->n - p->at < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p->s[p->at++];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void put_utf8(struct buf *b, unsigned cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		jsub_put(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		jsub_put(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		jsub_put(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		jsub_put(b, u, 4);
	}
}

/* A string after its opening quote, into b (NUL-terminated, may hold NULs). */
static int parse_string_body(struct parser *p, struct buf *b)
{
	jsub_put(b, "", 0);
	while (p->at < p->n) {
		char c = p->s[p->at++];
		unsigned cp, lo;

		if (c == '"')
			return b->failed ? -1 : 0;
		if ((unsigned char)c < 0x20)
			return -1;
		if (c != '\\') {
			jsub_put(b, &c, 1);
			continue;
		}
		if (p->at >= p->n)
			return -1;
		c = p->s[p->at++];
		switch (c) {
		case '"':
		case '\\':
		case '/':
			jsub_put(b, &c, 1);
			break;
		case 'b':
			jsub_put(b, "\b", 1);
			break;
		case 'f':
			jsub_put(b, "\f", 1);
			break;
		case 'n':
			jsub_put(b, "\n", 1);
			break;
		case 'r':
			jsub_put(b, "\r", 1);
			break;
		case 't':
			jsub_put(b, "\t", 1);
			break;
		case 'u':
			if (hex4(p, &cp))
				return -1;
			if (cp >= 0xd800 && cp < 0xdc00) {
				/* A high surrogate needs its low half. */
				if (!literal(p, "\\u") || hex4(p, &lo) || lo < 0xdc00 ||
				    lo > 0xdfff)
					return -1;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				return -1;
			}
			put_utf8(b, cp);
			break;
		default:
			return -1;
		}
	}
	return -1;
}

static struct json_object *parse_string(struct parser *p)
{
	struct buf b = {0};
	struct json_object *o;

	p->at++; /* the quote */
	if (parse_string_body(p, &b)) {
		free(b.p);
		return fail(p,
		            b.failed ? json_tokener_error_memory : json_tokener_error_parse_string);
	}
	o = jsub_new_string_len(b.p, b.n);
	free(b.p);
	return o ? o : fail(p, json_tokener_error_memory);
}

/* JSON's number grammar; integers that fit int64 are ints, as in json-c. */
static struct json_object *parse_number(struct parser *p)
{
	size_t start = p->at;
	bool integer = true;
	char tmp[64];
	struct json_object *o;

	if (p->s[p->at] == '-')
		p->at++;
	if (p->at >= p->n || p->s[p->at] < '0' || p->s[p->at] > '9')
		return fail(p, json_tokener_error_parse_number);
	if (p->s[p->at] == '0')
		p->at++;
	else
		while (p->at < p->n && p->s[p->at] >= '0' && p->s[p->at] <= '9')
			p->at++;
	if (p->at < p->n && p->s[p->at] == '.') {
		integer = false;
		p->at++;
		if (p->at >= p->n || p->s[p->at] < '0' || p->s[p->at] > '9')
			return fail(p, json_tokener_error_parse_number);
		while (p->at < p->n && p->s[p->at] >= '0' && p->s[p->at] <= '9')
			p->at++;
	}
	if (p->at < p->n && (p->s[p->at] == 'e' || p->s[p->at] == 'E')) {
		integer = false;
		p->at++;
		if (p->at < p->n && (p->s[p->at] == '+' || p->s[p->at] == '-'))
			p->at++;
		if (p->at >= p->n || p->s[p->at] < '0' || p->s[p->at] > '9')
			return fail(p, json_tokener_error_parse_number);
		while (p->at < p->n && p->s[p->at] >= '0' && p->s[p->at] <= '9')
			p->at++;
	}
	if (p->at - start >= sizeof(tmp))
		return fail(p, json_tokener_error_parse_number);
	memcpy(tmp, p->s + start, p->at - start);
	tmp[p->at - start] = '\0';
	if (integer) {
		long long v = strtoll(tmp, NULL, 10);

		/* json-c keeps an integer out of int64's range as a saturated int. */
		o = json_object_new_int64(v);
	} else {
		o = json_object_new_double(strtod(tmp, NULL));
		if (o && jsub_set_source(o, tmp)) {
			json_object_put(o);
			o = NULL;
		}
	}
	return o ? o : fail(p, json_tokener_error_memory);
}

static struct json_object *parse_array(struct parser *p, int depth)
{
	struct json_object *a = json_object_new_array(), *v;

	if (!a)
		return fail(p, json_tokener_error_memory);
	p->at++;
	skip_space(p);
	if (p->at < p->n && p->s[p->at] == ']') {
		p->at++;
		return a;
	}
	for (;;) {
		if (parse_value(p, depth + 1, &v)) {
			json_object_put(a);
			return NULL;
		}
		if (json_object_array_add(a, v)) {
			json_object_put(v);
			json_object_put(a);
			return fail(p, json_tokener_error_memory);
		}
		skip_space(p);
		if (p->at < p->n && p->s[p->at] == ',') {
			p->at++;
			continue;
		}
		if (p->at < p->n && p->s[p->at] == ']') {
			p->at++;
			return a;
		}
		json_object_put(a);
		return fail(p, json_tokener_error_parse_array);
	}
}

static struct json_object *parse_object(struct parser *p, int depth)
{
	struct json_object *o = json_object_new_object(), *v;
	struct buf key = {0};

	if (!o)
		return fail(p, json_tokener_error_memory);
	p->at++;
	skip_space(p);
	if (p->at < p->n && p->s[p->at] == '}') {
		p->at++;
		return o;
	}
	for (;;) {
		enum json_tokener_error e = json_tokener_success;

		skip_space(p);
		key.n = 0;
		if (p->at >= p->n || p->s[p->at] != '"')
			e = json_tokener_error_parse_object_key_name;
		else if (p->at++, parse_string_body(p, &key))
			e = json_tokener_error_parse_string;
		skip_space(p);
		if (!e && (p->at >= p->n || p->s[p->at++] != ':'))
			e = json_tokener_error_parse_object_key_sep;
		if (e) {
			free(key.p);
			json_object_put(o);
			return fail(p, e);
		}
		if (parse_value(p, depth + 1, &v)) {
			free(key.p);
			json_object_put(o);
			return NULL;
		}
		if (json_object_object_add(o, key.p, v)) {
			json_object_put(v);
			free(key.p);
			json_object_put(o);
			return fail(p, json_tokener_error_memory);
		}
		skip_space(p);
		if (p->at < p->n && p->s[p->at] == ',') {
			p->at++;
			continue;
		}
		free(key.p);
		if (p->at < p->n && p->s[p->at] == '}') {
			p->at++;
			return o;
		}
		json_object_put(o);
		return fail(p, json_tokener_error_parse_object_value_sep);
	}
}

/* One value into *out: NULL for JSON null, as json-c gives it. */
static int parse_value(struct parser *p, int depth, struct json_object **out)
{
	*out = NULL;
	if (depth > JSON_TOKENER_DEFAULT_DEPTH) {
		fail(p, json_tokener_error_depth);
		return -1;
	}
	skip_space(p);
	if (p->at >= p->n) {
		fail(p, json_tokener_error_parse_eof);
		return -1;
	}
	switch (p->s[p->at]) {
	case '{':
		*out = parse_object(p, depth);
		break;
	case '[':
		*out = parse_array(p, depth);
		break;
	case '"':
		*out = parse_string(p);
		break;
	case 't':
		*out = literal(p, "true") ? json_object_new_boolean(1)
		                          : fail(p, json_tokener_error_parse_boolean);
		break;
	case 'f':
		*out = literal(p, "false") ? json_object_new_boolean(0)
		                           : fail(p, json_tokener_error_parse_boolean);
		break;
	case 'n':
		if (literal(p, "null"))
			return 0;
		fail(p, json_tokener_error_parse_null);
		return -1;
	default:
		if (p->s[p->at] == '-' || (p->s[p->at] >= '0' && p->s[p->at] <= '9'))
			*out = parse_number(p);
		else
			fail(p, json_tokener_error_parse_unexpected);
	}
	if (!*out && p->err == json_tokener_success)
		fail(p, json_tokener_error_memory);
	return *out ? 0 : -1;
}

struct json_tokener *json_tokener_new(void)
{
	return calloc(1, sizeof(struct json_tokener));
}

void json_tokener_free(struct json_tokener *tok)
{
	free(tok);
}

struct json_object *json_tokener_parse_ex(struct json_tokener *tok, const char *str, int len)
{
	struct parser p = {.s = str, .n = len > 0 ? (size_t)len : 0};
	struct json_object *o;

	tok->err = parse_value(&p, 1, &o) ? p.err : json_tokener_success;
	tok->char_offset = p.at;
	return o;
}

enum json_tokener_error json_tokener_get_error(struct json_tokener *tok)
{
	return tok->err;
}

size_t json_tokener_get_parse_end(struct json_tokener *tok)
{
	return tok->char_offset;
}

const char *json_tokener_error_desc(enum json_tokener_error err)
{
	static const char *const desc[] = {
	    [json_tokener_success] = "success",
	    [json_tokener_continue] = "continue",
	    [json_tokener_error_depth] = "nesting too deep",
	    [json_tokener_error_parse_eof] = "unexpected end of data",
	    [json_tokener_error_parse_unexpected] = "unexpected character",
	    [json_tokener_error_parse_null] = "null expected",
	    [json_tokener_error_parse_boolean] = "boolean expected",
	    [json_tokener_error_parse_number] = "number expected",
	    [json_tokener_error_parse_array] = "array value separator ',' expected",
	    [json_tokener_error_parse_object_key_name] = "quoted object property name expected",
	    [json_tokener_error_parse_object_key_sep] =
	        "object property name separator ':' expected",
	    [json_tokener_error_parse_object_value_sep] = "object value separator ',' expected",
	    [json_tokener_error_parse_string] = "invalid string sequence",
	    [json_tokener_error_parse_comment] = "expected comment",
	    [json_tokener_error_parse_utf8_string] = "invalid utf-8 string",
	    [json_tokener_error_size] = "buffer size overflow",
	    [json_tokener_error_memory] = "out of memory",
	};

	return (unsigned)err < sizeof(desc) / sizeof(desc[0]) && desc[err] ? desc[err]
	                                                                   : "unknown error";
}

struct json_object *json_tokener_parse_verbose(const char *str, enum json_tokener_error *error)
{
	struct json_tokener tok;
	size_t len = strlen(str);
	struct json_object *o;

	if (len > INT_MAX) {
		*error = json_tokener_error_size;
		return NULL;
	}
	o = json_tokener_parse_ex(&tok, str, (int)len);
	*error = tok.err;
	/* As json-c: trailing text after the value is an error. */
	if (tok.err == json_tokener_success) {
		struct parser p = {.s = str, .n = len, .at = tok.char_offset};

		skip_space(&p);
		if (p.at != len) {
			json_object_put(o);
			*error = json_tokener_error_parse_unexpected;
			return NULL;
		}
	}
	return o;
}

struct json_object *json_tokener_parse(const char *str)
{
	enum json_tokener_error e;

	return json_tokener_parse_verbose(str, &e);
}
