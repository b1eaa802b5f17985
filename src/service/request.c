/*
 * request.c - bounded parsing of request pieces (see request.h).
 *
 * Invariant: every read is checked against a span's length before it
 * happens, and every write against the capacity the caller gave.  The
 * functions below never look at a byte at or past s.p + s.n.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct span span_cstr(const char *s)
{
	return s ? (struct span){s, strlen(s)} : SPAN_NULL;
}

bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

bool span_istarts(struct span s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (s.n < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s.p[i]) != lower((unsigned char)prefix[i]))
			return false;
	return true;
}

bool span_ieq(struct span s, const char *lit)
{
	return s.n == strlen(lit) && span_istarts(s, lit);
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

struct span span_trim(struct span s)
{
	while (s.n && is_ows(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n && is_ows(s.p[s.n - 1]))
		s.n--;
	return s;
}

bool span_cut(struct span *s, char sep, struct span *head)
{
	const char *at = s->n ? memchr(s->p, sep, s->n) : NULL;

	if (!at) {
		*head = *s;
		/* NULL + 0 is undefined in C: an absent string stays NULL. */
		*s = (struct span){s->p ? s->p + s->n : NULL, 0};
		return false;
	}
	*head = (struct span){s->p, (size_t)(at - s->p)};
	s->n -= (size_t)(at - s->p) + 1;
	s->p = at + 1;
	return true;
}

int span_to_long(struct span s, long min, long max, long *out)
{
	long v = 0;
	size_t i = 0;
	bool neg = false;

	if (s.n && s.p[0] == '-' && min < 0) {
		neg = true;
		i = 1;
	}
	if (i == s.n || s.n - i > 18)
		return -1;
	for (; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (s.p[i] - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int span_copy(struct span s, char *out, size_t cap)
{
	if (s.n >= cap)
		return -1;
	if (s.n)
		memcpy(out, s.p, s.n);
	out[s.n] = '\0';
	return 0;
}

/* RFC 9110 token characters. */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

int req_param_next(struct span *rest, struct span *name, struct span *value, struct dg_error *err)
{
	struct span s = span_trim(*rest);
	size_t i = 0;

	if (s.n == 0) {
		*rest = s;
		return 0;
	}
	if (s.p[0] != ';')
		return dg_fail(err, DG_ERR_FORMAT, "expected ';' before a parameter");
	s.p++;
	s.n--;
	s = span_trim(s);
	if (s.n == 0) { /* a trailing ';' is harmless */
		*rest = s;
		return 0;
	}
	while (i < s.n && is_tchar((unsigned char)s.p[i]))
		i++;
	if (i == 0 || i == s.n || s.p[i] != '=')
		return dg_fail(err, DG_ERR_FORMAT, "malformed parameter (want name=value)");
	*name = (struct span){s.p, i};
	s.p += i + 1;
	s.n -= i + 1;
	if (s.n && s.p[0] == '"') {
		size_t j = 1;

		while (j < s.n && s.p[j] != '"') {
			if (s.p[j] == '\\')
				j++;
			j++;
		}
		if (j >= s.n)
			return dg_fail(err, DG_ERR_FORMAT, "unterminated quoted parameter value");
		*value = (struct span){s.p + 1, j - 1};
		s.p += j + 1;
		s.n -= j + 1;
	} else {
		i = 0;
		while (i < s.n && is_tchar((unsigned char)s.p[i]))
			i++;
		if (i == 0)
			return dg_fail(err, DG_ERR_FORMAT, "empty parameter value");
		*value = (struct span){s.p, i};
		s.p += i;
		s.n -= i;
	}
	*rest = s;
	return 1;
}

/* RFC 2046 boundary characters (a space is allowed, but not last). */
static bool boundary_valid(struct span b)
{
	if (b.n < 1 || b.n > REQ_BOUNDARY_MAX || b.p[b.n - 1] == ' ')
		return false;
	for (size_t i = 0; i < b.n; i++) {
		unsigned char c = (unsigned char)b.p[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      strchr("'()+_,-./:=? ", c)))
			return false;
	}
	return true;
}

int req_content_type(const char *header, struct req_content_type *ct, struct dg_error *err)
{
	struct span rest = span_cstr(header), name = SPAN_NULL, value = SPAN_NULL;
	const char *semi;
	int r;

	*ct = (struct req_content_type){SPAN_NULL, SPAN_NULL};
	semi = rest.n ? memchr(rest.p, ';', rest.n) : NULL;
	ct->type = span_trim((struct span){rest.p, semi ? (size_t)(semi - rest.p) : rest.n});
	rest = semi ? (struct span){semi, rest.n - (size_t)(semi - rest.p)} : SPAN_NULL;
	while ((r = req_param_next(&rest, &name, &value, err)) > 0) {
		if (span_ieq(name, "boundary")) {
			if (!boundary_valid(value))
				return dg_fail(err, DG_ERR_FORMAT,
				               "invalid multipart boundary (1-70 characters of "
				               "RFC 2046's set)");
			ct->boundary = value;
		}
	}
	return r;
}

int req_query_next(struct span *rest, struct span *key, struct span *value)
{
	while (rest->n) {
		struct span pair;
		size_t i = 0;

		while (i < rest->n && rest->p[i] != '&' && rest->p[i] != ';')
			i++;
		pair = (struct span){rest->p, i};
		rest->p += i < rest->n ? i + 1 : i;
		rest->n -= i < rest->n ? i + 1 : i;
		if (pair.n == 0)
			continue;
		if (!span_cut(&pair, '=', key)) {
			*value = SPAN_NULL; /* "preview" alone: empty value */
			return 1;
		}
		*value = pair;
		return 1;
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)lower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int req_url_decode(struct span in, char *out, size_t cap, struct dg_error *err)
{
	size_t o = 0;

	for (size_t i = 0; i < in.n; i++) {
		int c = (unsigned char)in.p[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = i + 2 < in.n ? hexval(in.p[i + 1]) : -1;
			int lo = i + 2 < in.n ? hexval(in.p[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return dg_fail(err, DG_ERR_FORMAT,
				               "bad percent-escape at offset %zu", i);
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0)
			return dg_fail(err, DG_ERR_FORMAT, "NUL byte in a parameter");
		if (o + 1 >= cap)
			return dg_fail(err, DG_ERR_TOO_LARGE, "parameter longer than %zu bytes",
			               cap - 1);
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* Position just after the CRLF that ends a delimiter line, or 0 for the
 * close delimiter ("--boundary--"), or -1 if the bytes at p are not a
 * delimiter line.  p points just after "--boundary". */
static long after_delimiter(struct span body, size_t p)
{
	if (p + 2 <= body.n && body.p[p] == '-' && body.p[p + 1] == '-')
		return 0;
	while (p < body.n && is_ows(body.p[p])) /* transport padding */
		p++;
	if (p + 2 <= body.n && body.p[p] == '\r' && body.p[p + 1] == '\n')
		return (long)(p + 2);
	return -1;
}

/* Content-Disposition: form-data; name="image"; filename="x.png" */
static int parse_disposition(struct span v, struct req_part *part, struct dg_error *err)
{
	const char *semi = v.n ? memchr(v.p, ';', v.n) : NULL;
	struct span type = {v.p, semi ? (size_t)(semi - v.p) : v.n}, rest;
	struct span name = SPAN_NULL, value = SPAN_NULL;
	int r;

	if (!span_ieq(span_trim(type), "form-data"))
		return dg_fail(err, DG_ERR_FORMAT, "part disposition is not form-data");
	rest = semi ? (struct span){semi, v.n - type.n} : SPAN_NULL;
	while ((r = req_param_next(&rest, &name, &value, err)) > 0) {
		if (span_ieq(name, "name")) {
			part->name = value;
		} else if (span_ieq(name, "filename")) {
			part->filename = value;
			part->has_filename = true;
		}
	}
	return r;
}

static int parse_part_headers(struct span h, struct req_part *part, struct dg_error *err)
{
	bool disposition = false;

	while (h.n) {
		struct span line, name;
		const char *eol = memmem(h.p, h.n, "\r\n", 2);

		line = (struct span){h.p, eol ? (size_t)(eol - h.p) : h.n};
		h.p += eol ? line.n + 2 : line.n;
		h.n -= eol ? line.n + 2 : line.n;
		if (!span_cut(&line, ':', &name) || name.n == 0)
			return dg_fail(err, DG_ERR_FORMAT, "malformed part header line");
		if (span_ieq(name, "Content-Disposition")) {
			if (parse_disposition(line, part, err) < 0)
				return -1;
			disposition = true;
		} else if (span_ieq(name, "Content-Type")) {
			part->content_type = span_trim(line);
		}
	}
	if (!disposition)
		return dg_fail(err, DG_ERR_FORMAT, "part without Content-Disposition");
	return 0;
}

int req_multipart(struct span body, struct span boundary, struct req_part *parts, int max_parts,
                  int *n_parts, struct dg_error *err)
{
	char delim[4 + REQ_BOUNDARY_MAX]; /* "\r\n--" boundary */
	size_t dn, p;
	long next;
	int n = 0;

	*n_parts = 0;
	if (!boundary_valid(boundary))
		return dg_fail(err, DG_ERR_FORMAT, "missing or invalid multipart boundary");
	dn = 4 + boundary.n;
	memcpy(delim, "\r\n--", 4);
	memcpy(delim + 4, boundary.p, boundary.n);

	/* The first delimiter may open the body (no CRLF before it). */
	if (body.n >= dn - 2 && memcmp(body.p, delim + 2, dn - 2) == 0) {
		p = dn - 2;
	} else {
		const char *at = memmem(body.p, body.n, delim, dn);

		if (!at)
			return dg_fail(err, DG_ERR_FORMAT, "no multipart boundary in the body");
		p = (size_t)(at - body.p) + dn;
	}
	for (;;) {
		struct req_part part = {0};
		const char *end, *hend;
		size_t hlen, search;

		next = after_delimiter(body, p);
		if (next == 0)
			break;
		if (next < 0)
			return dg_fail(err, DG_ERR_FORMAT,
			               "malformed delimiter line at offset %zu (want CRLF)", p);
		p = (size_t)next;
		/* Header block: lines, then an empty line. */
		if (p + 2 <= body.n && body.p[p] == '\r' && body.p[p + 1] == '\n') {
			hlen = 0;
		} else {
			search = body.n - p;
			if (search > REQ_PART_HEADERS_MAX + 4)
				search = REQ_PART_HEADERS_MAX + 4;
			hend = memmem(body.p + p, search, "\r\n\r\n", 4);
			if (!hend) {
				if (search == REQ_PART_HEADERS_MAX + 4)
					return dg_fail(err, DG_ERR_FORMAT,
					               "part headers longer than %d bytes",
					               REQ_PART_HEADERS_MAX);
				return dg_fail(err, DG_ERR_FORMAT,
				               "truncated part headers at offset %zu", p);
			}
			hlen = (size_t)(hend - (body.p + p)) + 2;
		}
		if (parse_part_headers((struct span){body.p + p, hlen ? hlen - 2 : 0}, &part, err) <
		    0)
			return -1;
		p += hlen + 2;
		/* Data run to the next delimiter that is followed by a valid line end. */
		for (search = p;; search = (size_t)(end - body.p) + 1) {
			end = search <= body.n ? memmem(body.p + search, body.n - search, delim, dn)
			                       : NULL;
			if (!end)
				return dg_fail(err, DG_ERR_FORMAT,
				               "truncated multipart body: no closing boundary");
			if (after_delimiter(body, (size_t)(end - body.p) + dn) >= 0)
				break;
		}
		part.data = (struct span){body.p + p, (size_t)(end - (body.p + p))};
		if (n == max_parts)
			return dg_fail(err, DG_ERR_TOO_LARGE, "more than %d multipart parts",
			               max_parts);
		parts[n++] = part;
		p = (size_t)(end - body.p) + dn;
	}
	*n_parts = n;
	return 0;
}

size_t req_base64_max(size_t encoded_len)
{
	return encoded_len / 4 * 3 + 3;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int req_base64_decode(struct span in, unsigned char *out, size_t cap, size_t *len,
                      struct dg_error *err)
{
	uint32_t acc = 0;
	size_t o = 0, nchars = 0, npad = 0;

	for (size_t i = 0; i < in.n; i++) {
		unsigned char c = (unsigned char)in.p[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			if (++npad > 2)
				return dg_fail(err, DG_ERR_FORMAT, "too much base64 padding");
			continue;
		}
		v = b64val(c);
		if (v < 0)
			return dg_fail(err, DG_ERR_FORMAT,
			               "invalid base64 character 0x%02x at offset %zu", c, i);
		if (npad)
			return dg_fail(err, DG_ERR_FORMAT, "base64 data after padding");
		acc = acc << 6 | (uint32_t)v;
		if (++nchars % 4 == 0) {
			if (o + 3 > cap)
				return dg_fail(err, DG_ERR_TOO_LARGE, "base64 output too large");
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	switch (nchars % 4) {
	case 1:
		return dg_fail(err, DG_ERR_FORMAT, "truncated base64 (%zu characters)", nchars);
	case 2:
	case 3:
		if (npad && (nchars + npad) % 4)
			return dg_fail(err, DG_ERR_FORMAT, "wrong base64 padding");
		if (o + nchars % 4 - 1 > cap)
			return dg_fail(err, DG_ERR_TOO_LARGE, "base64 output too large");
		if (nchars % 4 == 2) {
			out[o++] = (unsigned char)(acc >> 4);
		} else {
			out[o++] = (unsigned char)(acc >> 10);
			out[o++] = (unsigned char)(acc >> 2);
		}
		break;
	default:
		if (npad)
			return dg_fail(err, DG_ERR_FORMAT, "wrong base64 padding");
	}
	*len = o;
	return 0;
}

size_t req_base64_encode(const unsigned char *in, size_t len, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

int req_data_url(struct span s, struct span *payload, struct dg_error *err)
{
	struct span head;

	if (!span_istarts(s, "data:")) {
		*payload = s;
		return 0;
	}
	if (!span_cut(&s, ',', &head))
		return dg_fail(err, DG_ERR_FORMAT, "data: URL without a comma");
	if (head.n < 7 || !span_ieq((struct span){head.p + head.n - 7, 7}, ";base64"))
		return dg_fail(err, DG_ERR_FORMAT, "data: URL is not ;base64");
	*payload = s;
	return 0;
}

/* req_json_check: recursive descent whose depth is bounded by max_depth,
 * so the C stack is too. */
struct jscan {
	const char *p, *start, *end;
	int max_depth;
	size_t values, max_values;
	struct dg_error *err;
};

static int js_fail(struct jscan *s, enum dg_code code, const char *what)
{
	return dg_fail(s->err, code, "at byte %zu: %s", (size_t)(s->p - s->start), what);
}

static void js_space(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool js_digit(struct jscan *s)
{
	return s->p < s->end && *s->p >= '0' && *s->p <= '9';
}

static int js_string(struct jscan *s)
{
	for (s->p++; s->p < s->end; s->p++) {
		unsigned char c = (unsigned char)*s->p;

		if (c == '"') {
			s->p++;
			return 0;
		}
		if (c < 0x20)
			return js_fail(s, DG_ERR_FORMAT, "control character in a string");
		if (c != '\\')
			continue;
		if (++s->p == s->end)
			break;
		if (*s->p == 'u') {
			for (int i = 0; i < 4; i++)
				if (++s->p == s->end || !strchr("0123456789abcdefABCDEF", *s->p) ||
				    !*s->p)
					return js_fail(s, DG_ERR_FORMAT, "bad \\u escape");
		} else if (!*s->p || !strchr("\"\\/bfnrt", *s->p)) {
			return js_fail(s, DG_ERR_FORMAT, "bad escape in a string");
		}
	}
	return js_fail(s, DG_ERR_FORMAT, "unterminated string");
}

static int js_number(struct jscan *s)
{
	if (*s->p == '-')
		s->p++;
	if (!js_digit(s))
		return js_fail(s, DG_ERR_FORMAT, "bad number");
	if (*s->p == '0')
		s->p++;
	else
		while (js_digit(s))
			s->p++;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!js_digit(s))
			return js_fail(s, DG_ERR_FORMAT, "bad number");
		while (js_digit(s))
			s->p++;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!js_digit(s))
			return js_fail(s, DG_ERR_FORMAT, "bad number");
		while (js_digit(s))
			s->p++;
	}
	return 0;
}

static int js_literal(struct jscan *s)
{
	static const char *const words[] = {"true", "false", "null"};

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(words[i]);

		if ((size_t)(s->end - s->p) >= n && memcmp(s->p, words[i], n) == 0) {
			s->p += n;
			return 0;
		}
	}
	return js_fail(s, DG_ERR_FORMAT, "unexpected character");
}

static int js_value(struct jscan *s, int depth);

/* An array or an object, from its opening bracket. */
static int js_container(struct jscan *s, int depth)
{
	char close = *s->p == '{' ? '}' : ']';

	if (depth >= s->max_depth)
		return js_fail(s, DG_ERR_TOO_LARGE, "nesting too deep");
	s->p++;
	js_space(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			if (s->p == s->end || *s->p != '"')
				return js_fail(s, DG_ERR_FORMAT, "expected a member name");
			if (js_string(s) < 0)
				return -1;
			js_space(s);
			if (s->p == s->end || *s->p != ':')
				return js_fail(s, DG_ERR_FORMAT, "expected ':'");
			s->p++;
		}
		if (js_value(s, depth + 1) < 0)
			return -1;
		js_space(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			js_space(s);
			continue;
		}
		if (s->p < s->end && *s->p == close) {
			s->p++;
			return 0;
		}
		return js_fail(s, DG_ERR_FORMAT,
		               close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int js_value(struct jscan *s, int depth)
{
	js_space(s);
	if (s->p == s->end)
		return js_fail(s, DG_ERR_FORMAT, "unexpected end of data");
	if (++s->values > s->max_values)
		return dg_fail(s->err, DG_ERR_TOO_LARGE, "more than %zu JSON values",
		               s->max_values);
	if (*s->p == '{' || *s->p == '[')
		return js_container(s, depth);
	if (*s->p == '"')
		return js_string(s);
	if (*s->p == '-' || js_digit(s))
		return js_number(s);
	return js_literal(s);
}

int req_json_check(struct span text, int max_depth, size_t max_values, struct dg_error *err)
{
	struct jscan s = {text.p, text.p, text.p + text.n, max_depth, 0, max_values, err};

	if (js_value(&s, 0) < 0)
		return -1;
	js_space(&s);
	if (s.p != s.end)
		return js_fail(&s, DG_ERR_FORMAT, "data after the end");
	return 0;
}

/* mmap rather than malloc: the block must be page-aligned for
 * req_arena_reset's madvise, and must not sit inside the malloc heap. */
int req_arena_init(struct req_arena *a, size_t cap, struct dg_error *err)
{
	void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	a->base = p == MAP_FAILED ? NULL : p;
	a->cap = cap;
	a->used = 0;
	if (!a->base)
		return dg_fail(err, DG_ERR_NOMEM, "cannot map a %zu-byte request arena", cap);
	return 0;
}

void *req_arena_alloc(struct req_arena *a, size_t n)
{
	size_t at = (a->used + 15) & ~(size_t)15;

	if (at > a->cap || n > a->cap - at)
		return NULL;
	a->used = at + n;
	return a->base + at;
}

/* The first REQ_ARENA_KEEP bytes stay resident: small requests, the usual
 * ones, then never fault pages in again. */
void req_arena_reset(struct req_arena *a)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (a->used > REQ_ARENA_KEEP) {
		size_t from = (REQ_ARENA_KEEP + page - 1) & ~(page - 1);
		size_t to = (a->used + page - 1) & ~(page - 1);

		if (to > a->cap)
			to = a->cap;
		if (to > from)
			madvise(a->base + from, to - from, MADV_DONTNEED);
	}
	a->used = 0;
}

void req_arena_free(struct req_arena *a)
{
	if (a->base)
		munmap(a->base, a->cap);
	a->base = NULL;
	a->cap = a->used = 0;
}
