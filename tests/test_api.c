/*
 * test_api.c - the request parsers and the API's routing, with fake
 * requests and no server: exact results and exact error codes.
 *
 * The prediction tests use an untrained "cnn" (zoo graph, seeded weights)
 * saved to a temporary directory: they check shapes, codes and JSON, not
 * accuracy (tests/test_http.sh checks real digits with the shipped models).
 */
#include <dirent.h>
#include <gd.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "service/api.h"
#include "service/log.h"
#include "engine/model.h"
#include "engine/nn.h"
#include "service/registry.h"
#include "service/request.h"
#include "tap.h"

static struct span S(const char *s) {
	return span_cstr(s);
}

static void
test_spans(void)
{
	long v = 0;
	char buf[8];

	ok(span_to_long(S("10"), 1, 10, &v) == 0 && v == 10, "span_to_long 10 in [1,10]");
	ok(span_to_long(S("11"), 1, 10, &v) < 0, "span_to_long rejects 11 > max");
	ok(span_to_long(S("-1"), 0, 10, &v) < 0, "span_to_long rejects a sign when min >= 0");
	ok(span_to_long(S("1a"), 0, 10, &v) < 0, "span_to_long rejects trailing junk");
	ok(span_to_long(S(""), 0, 10, &v) < 0, "span_to_long rejects empty");
	ok(span_to_long(S("99999999999999999999"), 0, 1L << 62, &v) < 0,
	   "span_to_long rejects overflow");
	ok(span_ieq(S("Multipart/Form-Data"), "multipart/form-data"), "span_ieq ignores case");
	is_int(span_trim(S(" \tab \t")).n, 2, "span_trim drops spaces and tabs");
	ok(span_copy(S("1234567"), buf, sizeof(buf)) == 0 && strcmp(buf, "1234567") == 0,
	   "span_copy fits 7 + NUL in 8");
	ok(span_copy(S("12345678"), buf, sizeof(buf)) < 0, "span_copy refuses 8 + NUL in 8");
}

static void test_query(void)
{
	struct span rest = S("model=cnn&top=3&&preview;x=%41"), k, v;
	struct dg_error err = {0};
	char out[16];

	ok(req_query_next(&rest, &k, &v) == 1 && span_eq(k, "model") && span_eq(v, "cnn"),
	   "query: model=cnn");
	ok(req_query_next(&rest, &k, &v) == 1 && span_eq(k, "top") && span_eq(v, "3"),
	   "query: top=3");
	ok(req_query_next(&rest, &k, &v) == 1 && span_eq(k, "preview") && v.n == 0,
	   "query: empty pair skipped, bare key has an empty value");
	ok(req_query_next(&rest, &k, &v) == 1 && span_eq(k, "x") && span_eq(v, "%41"),
	   "query: ';' separates too, values stay encoded");
	ok(req_query_next(&rest, &k, &v) == 0, "query: end");

	ok(req_url_decode(S("a%20b+c%2B"), out, sizeof(out), &err) == 0 &&
	       strcmp(out, "a b c+") == 0,
	   "url decode: %%20, + and %%2B");
	ok(req_url_decode(S("%zz"), out, sizeof(out), &err) < 0 && err.code == DG_ERR_FORMAT,
	   "url decode: bad hex is a format error");
	ok(req_url_decode(S("ab%2"), out, sizeof(out), &err) < 0 && err.code == DG_ERR_FORMAT,
	   "url decode: truncated escape");
	ok(req_url_decode(S("a%00"), out, sizeof(out), &err) < 0 && err.code == DG_ERR_FORMAT,
	   "url decode: NUL refused");
	ok(req_url_decode(S("0123456789abcdefg"), out, sizeof(out), &err) < 0 &&
	       err.code == DG_ERR_TOO_LARGE,
	   "url decode: overflow is too large");
}

static void test_content_type(void)
{
	struct req_content_type ct;
	struct dg_error err = {0};
	char big[120];

	ok(req_content_type("multipart/form-data; boundary=abc123", &ct, &err) == 0 &&
	       span_eq(ct.type, "multipart/form-data") && span_eq(ct.boundary, "abc123"),
	   "content type: token boundary");
	ok(req_content_type("Multipart/Form-Data ; charset=utf-8; BOUNDARY=\"a b:c\"", &ct, &err) ==
	           0 &&
	       span_ieq(ct.type, "multipart/form-data") && span_eq(ct.boundary, "a b:c"),
	   "content type: quoted boundary with space and colon, other params ignored");
	ok(req_content_type("image/png", &ct, &err) == 0 && span_eq(ct.type, "image/png") &&
	       ct.boundary.n == 0,
	   "content type: no parameters");
	ok(req_content_type("multipart/form-data; boundary=\"abc", &ct, &err) < 0,
	   "content type: unterminated quote");
	ok(req_content_type("multipart/form-data; boundary=", &ct, &err) < 0,
	   "content type: empty boundary");
	ok(req_content_type("multipart/form-data; boundary", &ct, &err) < 0,
	   "content type: parameter without '='");
	memset(big, 'b', sizeof(big));
	memcpy(big, "multipart/form-data; boundary=", 30);
	big[30 + 71] = '\0';
	ok(req_content_type(big, &ct, &err) < 0, "content type: 71-character boundary refused");
	big[30 + 70] = '\0';
	ok(req_content_type(big, &ct, &err) == 0 && ct.boundary.n == 70,
	   "content type: 70-character boundary accepted");
	ok(req_content_type("multipart/form-data; boundary=\"bad\\\"q\"", &ct, &err) < 0,
	   "content type: backslash is not a boundary character");
}

#define CRLF "\r\n"

static int mp(const char *body, size_t len, struct req_part *parts, int max, int *n,
              struct dg_error *err)
{
	return req_multipart((struct span){body, len}, S("XyZ"), parts, max, n, err);
}

static void test_multipart(void)
{
	struct req_part parts[4];
	struct dg_error err = {0};
	int n = -1;
	static const char one[] =
	    "--XyZ" CRLF "Content-Disposition: form-data; name=\"image\"; filename=\"a.png\"" CRLF
	    "Content-Type: image/png" CRLF CRLF "\x89PNG\r\n--XyZZ\r\n" CRLF "--XyZ--" CRLF;
	static const char three[] =
	    "preamble" CRLF "--XyZ  " CRLF "content-disposition: form-data; name=model" CRLF CRLF
	    "mlp" CRLF "--XyZ" CRLF "Content-Disposition: form-data; name=\"image\"; "
	    "filename=\"1.gif\"" CRLF CRLF "GIF89a" CRLF "--XyZ" CRLF
	    "Content-Disposition: form-data; name=\"image\"; filename=\"\"" CRLF CRLF CRLF
	    "--XyZ--" CRLF "epilogue --XyZ junk";
	char huge[REQ_PART_HEADERS_MAX + 200];

	ok(mp(one, sizeof(one) - 1, parts, 4, &n, &err) == 0 && n == 1, "multipart: one part");
	ok(span_eq(parts[0].name, "image") && span_eq(parts[0].filename, "a.png") &&
	       parts[0].has_filename && span_eq(parts[0].content_type, "image/png"),
	   "multipart: name, filename, content type");
	is_int(parts[0].data.n, 14, "multipart: data keeps CRLF and a longer boundary-like line");
	ok(mp(three, sizeof(three) - 1, parts, 4, &n, &err) == 0 && n == 3,
	   "multipart: preamble, padding after a delimiter, three parts, epilogue");
	ok(span_eq(parts[0].name, "model") && span_eq(parts[0].data, "mlp") &&
	       !parts[0].has_filename,
	   "multipart: a plain field");
	ok(span_eq(parts[1].data, "GIF89a"), "multipart: second part data");
	ok(parts[2].has_filename && parts[2].filename.n == 0 && parts[2].data.n == 0,
	   "multipart: empty file part");
	ok(mp(three, sizeof(three) - 1, parts, 2, &n, &err) < 0 && err.code == DG_ERR_TOO_LARGE,
	   "multipart: more parts than room is too large");
	ok(mp(one, sizeof(one) - 1 - 9, parts, 4, &n, &err) < 0 && err.code == DG_ERR_FORMAT &&
	       strstr(err.msg, "truncated"),
	   "multipart: no close delimiter is truncated");
	ok(mp(one, 40, parts, 4, &n, &err) < 0 && err.code == DG_ERR_FORMAT,
	   "multipart: truncated inside the part headers");
	ok(mp("", 0, parts, 4, &n, &err) < 0 && err.code == DG_ERR_FORMAT, "multipart: empty body");
	ok(mp("hello", 5, parts, 4, &n, &err) < 0 && err.code == DG_ERR_FORMAT,
	   "multipart: no boundary in the body");
	{
		static const char lf[] = "--XyZ\nContent-Disposition: form-data; name=\"image\"\n\n"
		                         "data\n--XyZ--\n";

		ok(mp(lf, sizeof(lf) - 1, parts, 4, &n, &err) < 0 && err.code == DG_ERR_FORMAT,
		   "multipart: bare LF line ends refused");
	}
	{
		static const char nodisp[] =
		    "--XyZ" CRLF "Content-Type: image/png" CRLF CRLF "x" CRLF "--XyZ--" CRLF;

		ok(mp(nodisp, sizeof(nodisp) - 1, parts, 4, &n, &err) < 0 &&
		       strstr(err.msg, "Content-Disposition"),
		   "multipart: part without Content-Disposition");
	}
	{
		static const char att[] = "--XyZ" CRLF "Content-Disposition: attachment" CRLF CRLF
		                          "x" CRLF "--XyZ--" CRLF;

		ok(mp(att, sizeof(att) - 1, parts, 4, &n, &err) < 0, "multipart: not form-data");
	}
	snprintf(huge, sizeof(huge),
	         "--XyZ" CRLF "Content-Disposition: form-data; name=image" CRLF "X-Pad: ");
	memset(huge + strlen(huge), 'a', REQ_PART_HEADERS_MAX);
	memcpy(huge + sizeof(huge) - 30, CRLF CRLF "x" CRLF "--XyZ--" CRLF, 16);
	ok(mp(huge, sizeof(huge) - 14, parts, 4, &n, &err) < 0 && err.code == DG_ERR_FORMAT &&
	       strstr(err.msg, "longer than"),
	   "multipart: part headers over the limit");
	ok(req_multipart(S(one), S(""), parts, 4, &n, &err) < 0, "multipart: empty boundary");
}

static void test_base64(void)
{
	unsigned char out[64];
	char enc[64];
	struct dg_error err = {0};
	size_t len = 0;
	struct span payload;

	ok(req_base64_decode(S("aGVsbG8="), out, sizeof(out), &len, &err) == 0 && len == 5 &&
	       memcmp(out, "hello", 5) == 0,
	   "base64: padded");
	ok(req_base64_decode(S("aGVsbG8"), out, sizeof(out), &len, &err) == 0 && len == 5,
	   "base64: unpadded");
	ok(req_base64_decode(S("aGVs\r\nbG8g d29y bGQ="), out, sizeof(out), &len, &err) == 0 &&
	       len == 11 && memcmp(out, "hello world", 11) == 0,
	   "base64: whitespace skipped");
	ok(req_base64_decode(S("-_-_"), out, sizeof(out), &len, &err) == 0 && len == 3 &&
	       out[0] == 0xfb && out[1] == 0xff && out[2] == 0xbf,
	   "base64: URL-safe alphabet");
	ok(req_base64_decode(S(""), out, sizeof(out), &len, &err) == 0 && len == 0,
	   "base64: empty");
	ok(req_base64_decode(S("aGV*bG8="), out, sizeof(out), &len, &err) < 0 &&
	       strstr(err.msg, "0x2a at offset 3"),
	   "base64: invalid character named with its offset");
	ok(req_base64_decode(S("aGVsbG8=="), out, sizeof(out), &len, &err) < 0,
	   "base64: wrong padding");
	ok(req_base64_decode(S("aGVsbA==="), out, sizeof(out), &len, &err) < 0,
	   "base64: too much padding");
	ok(req_base64_decode(S("aGVsbG8=aGVs"), out, sizeof(out), &len, &err) < 0,
	   "base64: data after padding");
	ok(req_base64_decode(S("aGVsb"), out, sizeof(out), &len, &err) < 0 &&
	       strstr(err.msg, "truncated"),
	   "base64: one dangling character");
	ok(req_base64_decode(S("aGVsbG8h"), out, 5, &len, &err) < 0 && err.code == DG_ERR_TOO_LARGE,
	   "base64: output capacity respected");
	is_int(req_base64_encode((const unsigned char *)"hello", 5, enc), 8,
	       "base64 encode length");
	is_str(enc, "aGVsbG8=", "base64 encode");
	req_base64_encode((const unsigned char *)"hi!", 3, enc);
	is_str(enc, "aGkh", "base64 encode without padding");
	ok(req_data_url(S("data:image/png;base64,AAAA"), &payload, &err) == 0 &&
	       span_eq(payload, "AAAA"),
	   "data URL: payload");
	ok(req_data_url(S("AAAA"), &payload, &err) == 0 && span_eq(payload, "AAAA"),
	   "data URL: plain base64 passes through");
	ok(req_data_url(S("data:image/png,AAAA"), &payload, &err) < 0,
	   "data URL: not base64 refused");
}

static void test_arena(void)
{
	struct req_arena a;
	struct dg_error err;
	unsigned char *p, *q;

	ok(req_arena_init(&a, 100, &err) == 0, "arena: init");
	p = req_arena_alloc(&a, 10);
	q = req_arena_alloc(&a, 10);
	ok(p && q && q - p == 16 && ((size_t)q & 15) == ((size_t)p & 15), "arena: 16-byte steps");
	ok(req_arena_alloc(&a, 80) == NULL, "arena: full");
	req_arena_reset(&a);
	ok(req_arena_alloc(&a, 100) == p, "arena: reset reuses the block");
	req_arena_free(&a);

	{
		size_t cap = REQ_ARENA_KEEP + (4u << 20), page = (size_t)sysconf(_SC_PAGESIZE);
		unsigned char vec[(4u << 20) / 4096 + 1];
		unsigned char *big;
		int kept = 0, resident = 0;

		ok(req_arena_init(&a, cap, &err) == 0 && (big = req_arena_alloc(&a, cap)) != NULL,
		   "arena: 5 MiB");
		memset(big, 1, cap);
		req_arena_reset(&a);
		/* mincore: which pages are in memory.  The first KEEP stay, the
		 * rest were given back. */
		if (page == 4096 && mincore(big, REQ_ARENA_KEEP, vec) == 0)
			kept = vec[0] & 1 && vec[REQ_ARENA_KEEP / page - 1] & 1;
		if (page == 4096 && mincore(big + REQ_ARENA_KEEP, cap - REQ_ARENA_KEEP, vec) == 0)
			for (size_t i = 0; i < (cap - REQ_ARENA_KEEP) / page; i++)
				resident += vec[i] & 1;
		ok(kept && resident == 0,
		   "arena: reset keeps the first MiB, gives back the rest (%d pages left)",
		   resident);
		big = req_arena_alloc(&a, cap);
		ok(big && big[0] == 1 && big[cap - 1] == 0,
		   "arena: given-back pages read as zeros");
		req_arena_free(&a);
	}
}

/* req_json_check: strict syntax, depth and value count. */
static void test_json_check(void)
{
	static const struct {
		const char *text;
		int rc;
		enum dg_code code;
	} cases[] = {
	    {"{}", 0, 0},
	    {" {\"image\": \"aGk=\", \"top\": 3, \"x\": [true, false, null, -1.5e+3, 0]} ", 0, 0},
	    {"{\"a\": \"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9\"}", 0, 0},
	    {"[[[[[[[[]]]]]]]]", 0, 0},
	    {"[[[[[[[[[]]]]]]]]]", -1, DG_ERR_TOO_LARGE},
	    {"", -1, DG_ERR_FORMAT},
	    {"{", -1, DG_ERR_FORMAT},
	    {"{} {}", -1, DG_ERR_FORMAT},
	    {"{'a': 1}", -1, DG_ERR_FORMAT},
	    {"{\"a\": 1,}", -1, DG_ERR_FORMAT},
	    {"[1,]", -1, DG_ERR_FORMAT},
	    {"{\"a\" 1}", -1, DG_ERR_FORMAT},
	    {"{\"a\": 01}", -1, DG_ERR_FORMAT},
	    {"{\"a\": 1.}", -1, DG_ERR_FORMAT},
	    {"{\"a\": tru}", -1, DG_ERR_FORMAT},
	    {"{\"a\": \"\\x\"}", -1, DG_ERR_FORMAT},
	    {"{\"a\": \"\\u12g4\"}", -1, DG_ERR_FORMAT},
	    {"{\"a\": \"tab\there\"}", -1, DG_ERR_FORMAT},
	    {"{\"a\": \"open}", -1, DG_ERR_FORMAT},
	    {"{\"a\": NaN}", -1, DG_ERR_FORMAT},
	};
	struct dg_error err;
	char many[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = req_json_check(span_cstr(cases[i].text), 8, 1024, &err);

		ok(rc == cases[i].rc && (rc == 0 || err.code == cases[i].code),
		   "json check: %s -> %d", cases[i].text, cases[i].rc);
	}
	ok(req_json_check((struct span){"{\"a\": \"x\0y\"}", 12}, 8, 1024, &err) < 0,
	   "json check: NUL in a string refused");
	snprintf(many, sizeof(many), "[1,2,3,[4,5]]");
	ok(req_json_check(span_cstr(many), 8, 7, &err) == 0, "json check: 7 values within 7");
	ok(req_json_check(span_cstr(many), 8, 6, &err) < 0 && err.code == DG_ERR_TOO_LARGE &&
	       strstr(err.msg, "more than 6 JSON values"),
	   "json check: 7 values over 6: %s", err.msg);
	ok(req_json_check(span_cstr("{\"a\": [1, x]}"), 8, 1024, &err) < 0 &&
	       strstr(err.msg, "at byte 10"),
	   "json check: names the byte: %s", err.msg);
}

/* A fake request through the API; the response's JSON (if any) in *doc. */
struct call {
	struct api_response res;
	struct json_object *doc;
	const char *code;
};

/* A body for api_read_fn: len bytes of p, or of zeros when p is NULL. */
struct source {
	const unsigned char *p;
	size_t len, at;
	int reads;
};

static long read_source(void *source, unsigned char *buf, size_t len)
{
	struct source *s = source;
	size_t n = s->len - s->at < len ? s->len - s->at : len;

	if (s->p)
		memcpy(buf, s->p + s->at, n);
	else
		memset(buf, 0, n);
	s->at += n;
	s->reads++;
	return (long)n;
}

static struct api_ctx *ctx;
static struct source src;

/* The previous request of c is finished (counted, logged, freed) first. */
static void call_cl(struct call *c, const char *method, const char *path, const char *query,
                    const char *ctype, const char *content_length, const void *body, size_t len)
{
	struct api_request req = {
	    .method = method,
	    .path = path,
	    .query = query,
	    .content_type = ctype,
	    .content_length = content_length,
	    .read = read_source,
	    .source = &src,
	};
	struct json_object *e, *code;

	if (c->doc)
		json_object_put(c->doc);
	api_finish(ctx, &c->res, true);
	memset(c, 0, sizeof(*c));
	src = (struct source){body, len, 0, 0};
	api_handle(ctx, &req, &c->res);
	c->doc = json_tokener_parse(c->res.body);
	if (c->doc && json_object_object_get_ex(c->doc, "error", &e) &&
	    json_object_object_get_ex(e, "code", &code))
		c->code = json_object_get_string(code);
}

/* With a Content-Length that matches the body (none for a GET without one). */
static void call(struct call *c, const char *method, const char *path, const char *query,
                 const char *ctype, const void *body, size_t len)
{
	char cl[32];

	snprintf(cl, sizeof(cl), "%zu", len);
	call_cl(c, method, path, query, ctype, len || strcmp(method, "POST") == 0 ? cl : NULL, body,
	        len);
}

/* Finish c's last request. */
static void done(struct call *c)
{
	if (c->doc)
		json_object_put(c->doc);
	c->doc = NULL;
	api_finish(ctx, &c->res, true);
}

static void expect(struct call *c, int status, const char *code, const char *what)
{
	ok(c->res.status == status && (code ? c->code && strcmp(c->code, code) == 0 : !c->code) &&
	       strcmp(c->res.content_type, "application/json") == 0,
	   "%s: %d %s", what, status, code ? code : "");
	if (c->res.status != status || (code && (!c->code || strcmp(c->code, code))))
		diag("  got %d %.300s", c->res.status, c->res.body);
}

static void test_routing(void)
{
	struct call c = {0};
	const char *P = "/api/v1/predict";
	char path[64];

	call(&c, "GET", "/api/v1/nope", NULL, NULL, NULL, 0);
	expect(&c, 404, "not_found", "unknown path");
	call(&c, "GET", "/api/v1/predict", NULL, NULL, NULL, 0);
	expect(&c, 405, "method_not_allowed", "GET predict");
	is_str(c.res.allow, "POST", "405 says Allow: POST");
	call(&c, "DELETE", "/api/v1/models", NULL, NULL, NULL, 0);
	expect(&c, 405, "method_not_allowed", "DELETE models");
	is_str(c.res.allow, "GET, HEAD", "405 says Allow: GET, HEAD");
	call(&c, "GET", "/api/v1/predict/", NULL, NULL, NULL, 0);
	expect(&c, 404, "not_found", "trailing slash is another path");

	call_cl(&c, "POST", P, NULL, "image/png", NULL, "x", 1);
	expect(&c, 411, "length_required", "POST without Content-Length");
	call_cl(&c, "POST", P, NULL, "image/png", "12x", "x", 1);
	expect(&c, 400, "bad_request", "malformed Content-Length");
	call_cl(&c, "POST", P, NULL, "image/png", "8388609", NULL, 8388609);
	expect(&c, 413, "payload_too_large", "Content-Length over the cap");
	is_int(src.reads, 0, "413 before reading the body");
	call_cl(&c, "POST", P, NULL, "image/png", "8388608", NULL, 8388608);
	ok(c.res.status != 413 && src.at == 8388608, "Content-Length at the cap is read");
	call_cl(&c, "GET", "/api/v1/models", NULL, NULL, NULL, NULL, 0);
	ok(c.res.status == 200 && src.reads == 0, "GET needs no body");

	api_route_path("/api/v1/models", "/cgi-bin/digits.fcgi/api/v1/models?x",
	               "/cgi-bin/digits.fcgi", path, sizeof(path));
	is_str(path, "/api/v1/models", "route path: PATH_INFO first");
	api_route_path("", "/api/v1/predict?top=3", "/api/v1/predict", path, sizeof(path));
	is_str(path, "/api/v1/predict", "route path: REQUEST_URI without its query");
	api_route_path("/v1/health", "/api/v1/health", "/api", path, sizeof(path));
	is_str(path, "/api/v1/health", "route path: lighttpd's prefix split");
	api_route_path("/v1/health", "/x/api/v1/health", "/api", path, sizeof(path));
	is_str(path, "/api/v1/health", "route path: SCRIPT_NAME + PATH_INFO");
	api_route_path("/nope", "/x/nope?a", "/x", path, sizeof(path));
	is_str(path, "/x/nope", "route path: no route, REQUEST_URI kept for the message");
	api_route_path(NULL, NULL, NULL, path, sizeof(path));
	is_str(path, "/", "route path: nothing given");
	done(&c);
}

/* The count of one digits_http_requests_total line ("endpoint=...,
 * status=...") from /api/v1/metrics, 0 if absent. */
static unsigned long counter(struct call *c, const char *labels)
{
	const char *at;

	call(c, "GET", "/api/v1/metrics", NULL, NULL, NULL, 0);
	at = c->res.status == 200 ? strstr(c->res.body, labels) : NULL;
	return at ? strtoul(at + strlen(labels), NULL, 10) : 0;
}

/* A body that never arrives whole, or is refused before it is read, is
 * counted like every other answer. */
static void test_body_accounting(void)
{
	static const char l400[] = "endpoint=\"recognize\",status=\"400\"} ";
	static const char l413[] = "endpoint=\"recognize\",status=\"413\"} ";
	struct call c = {0};
	unsigned long n400 = counter(&c, l400), n413 = counter(&c, l413);

	call_cl(&c, "POST", "/recognize.json", NULL, "image/png", "10", "abc", 3);
	expect(&c, 400, "truncated_body", "body shorter than its Content-Length");
	call_cl(&c, "POST", "/recognize.json", NULL, "image/png", "8388609", NULL, 0);
	expect(&c, 413, "payload_too_large", "body over the limit");
	is_int(counter(&c, l400), n400 + 1, "metrics count a body cut short");
	is_int(counter(&c, l413), n413 + 1, "metrics count a body over the limit");
	done(&c);
}

/* Errors found before any model runs. */
static void test_request_errors(void)
{
	struct call c = {0};
	static const char mp_field[] =
	    "--b" CRLF "Content-Disposition: form-data; name=\"top\"" CRLF CRLF "3" CRLF
	    "--b--" CRLF;
	static const char mp_trunc[] =
	    "--b" CRLF "Content-Disposition: form-data; name=\"image\"" CRLF CRLF "abc";
	const char *P = "/api/v1/predict";
	char json[4096];

	call(&c, "POST", P, NULL, "image/png", "", 0);
	expect(&c, 400, "empty_body", "empty body");
	call(&c, "POST", P, NULL, NULL, "x", 1);
	expect(&c, 415, "unsupported_media_type", "no Content-Type");
	call(&c, "POST", P, NULL, "text/plain", "x", 1);
	expect(&c, 415, "unsupported_media_type", "text/plain");
	call(&c, "POST", P, NULL, "application/x-www-form-urlencoded", "image=x", 7);
	expect(&c, 415, "unsupported_media_type", "urlencoded form");
	call(&c, "POST", P, NULL, "multipart/form-data", mp_field, sizeof(mp_field) - 1);
	expect(&c, 400, "bad_multipart", "multipart without boundary");
	call(&c, "POST", P, NULL, "multipart/form-data; boundary=\"b", mp_field,
	     sizeof(mp_field) - 1);
	expect(&c, 400, "bad_multipart", "multipart with a broken boundary parameter");
	call(&c, "POST", P, NULL, "multipart/form-data; boundary=b", mp_trunc,
	     sizeof(mp_trunc) - 1);
	expect(&c, 400, "bad_multipart", "truncated multipart");
	call(&c, "POST", P, NULL, "multipart/form-data; boundary=b", mp_field,
	     sizeof(mp_field) - 1);
	expect(&c, 400, "missing_image", "multipart without an image part");
	call(&c, "POST", "/recognize.json", NULL, "multipart/form-data; boundary=b", mp_field,
	     sizeof(mp_field) - 1);
	expect(&c, 400, "missing_image", "recognize.json routes to predict");

	call(&c, "POST", P, NULL, "application/json", "{\"image\": ", 10);
	expect(&c, 400, "bad_json", "truncated JSON");
	call(&c, "POST", P, NULL, "application/json", "{} {}", 5);
	expect(&c, 400, "bad_json", "two JSON documents");
	call(&c, "POST", P, NULL, "application/json", "[\"aGk=\"]", 8);
	expect(&c, 400, "bad_json", "JSON array");
	call(&c, "POST", P, NULL, "application/json", "{\"image\": 5}", 12);
	expect(&c, 400, "bad_json", "image is a number");
	call(&c, "POST", P, NULL, "application/json", "{\"images\": \"aGk=\"}", 18);
	expect(&c, 400, "bad_json", "images is not an array");
	call(&c, "POST", P, NULL, "application/json", "{\"images\": [1]}", 15);
	expect(&c, 400, "bad_json", "images holds a number");
	call(&c, "POST", P, NULL, "application/json", "{\"image\": \"a*b=\"}", 17);
	expect(&c, 400, "bad_base64", "bad base64");
	call(&c, "POST", P, NULL, "application/json; charset=utf-8", "{} ", 3);
	expect(&c, 400, "missing_image", "JSON without image");
	/* Inside an object, where only the depth limit refuses it (a top-level
	 * array, or an image that is not a string, fail for other reasons). */
	snprintf(json, sizeof(json), "%s", "{\"image\": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}");
	call(&c, "POST", P, NULL, "application/json", json, strlen(json));
	expect(&c, 400, "bad_json", "JSON nested too deep");
	ok(strstr(c.res.body, "nesting too deep") != NULL, "JSON nested too deep: says so");
	call(&c, "POST", P, NULL, "application/json", "{'image': 'aGk='}", 17);
	expect(&c, 400, "bad_json", "single-quoted JSON");
	call(&c, "POST", P, NULL, "application/json", "{\"image\": \"aGk=\",}", 18);
	expect(&c, 400, "bad_json", "trailing comma");
	/* Escapes are JSON's: "\/" is how some encoders write base64's '/'. */
	call(&c, "POST", P, NULL, "application/json", "{\"image\": \"aGk\\/\"}", 18);
	expect(&c, 503, "unavailable", "escaped '/' in base64 reaches the model lookup");
	{
		/* The bombs of issue 11, small: empty arrays and many keys, each
		 * a few bytes of body and a json-c object. */
		size_t cap = 64 * 1024, n = 0;
		char *bomb = malloc(cap);

		n += (size_t)snprintf(bomb + n, cap - n, "{\"a\":[");
		for (int i = 0; i < 2000; i++)
			n += (size_t)snprintf(bomb + n, cap - n, "%s[]", i ? "," : "");
		n += (size_t)snprintf(bomb + n, cap - n, "]}");
		call(&c, "POST", P, NULL, "application/json", bomb, n);
		expect(&c, 400, "bad_json", "2,000 empty arrays");
		ok(strstr(c.res.body, "more than 1024 JSON values") != NULL,
		   "2,000 empty arrays: says why");
		n = (size_t)snprintf(bomb, cap, "{");
		for (int i = 0; i < 2000; i++)
			n += (size_t)snprintf(bomb + n, cap - n, "%s\"k%d\":0", i ? "," : "", i);
		n += (size_t)snprintf(bomb + n, cap - n, "}");
		call(&c, "POST", P, NULL, "application/json", bomb, n);
		expect(&c, 400, "bad_json", "2,000 keys");
		free(bomb);
	}

	call(&c, "POST", P, "top=11", "image/png", "x", 1);
	expect(&c, 400, "invalid_parameter", "top=11");
	call(&c, "POST", P, "top=abc", "image/png", "x", 1);
	expect(&c, 400, "invalid_parameter", "top=abc");
	call(&c, "POST", P, "preview=maybe", "image/png", "x", 1);
	expect(&c, 400, "invalid_parameter", "preview=maybe");
	call(&c, "POST", P, "explain=maybe", "image/png", "x", 1);
	expect(&c, 400, "invalid_parameter", "explain=maybe");
	call(&c, "POST", P, "explain_class=10", "image/png", "x", 1);
	expect(&c, 400, "invalid_parameter", "explain_class=10");
	ok(strstr(c.res.body, "explain_class must be a digit from 0 to 9") != NULL,
	   "explain_class=10: says what it takes");
	call(&c, "POST", P, "explain_class=-1", "image/png", "x", 1);
	expect(&c, 400, "invalid_parameter", "explain_class=-1");
	call(&c, "POST", P, "explain_class=3x", "image/png", "x", 1);
	expect(&c, 400, "invalid_parameter", "explain_class=3x");
	call(&c, "POST", P, "explain_class=", "image/png", "x", 1);
	expect(&c, 400, "invalid_parameter", "explain_class empty");
	call(&c, "POST", P, NULL, "application/json",
	     "{\"image\": \"aGk=\", \"explain_class\": 12}", 38);
	expect(&c, 400, "invalid_parameter", "JSON explain_class=12");
	call(&c, "POST", P, NULL, "application/json", "{\"image\": \"aGk=\", \"top\": 0}", 27);
	expect(&c, 400, "invalid_parameter", "JSON top=0");
	call(&c, "POST", P, "model=%zz", "image/png", "x", 1);
	expect(&c, 400, "invalid_parameter", "undecodable parameter");

	{
		char *many = malloc(17 * 20 + 20);
		size_t n = 0;

		n += (size_t)sprintf(many + n, "{\"images\": [");
		for (int i = 0; i < 17; i++)
			n += (size_t)sprintf(many + n, "%s\"aGk=\"", i ? "," : "");
		n += (size_t)sprintf(many + n, "]}");
		call(&c, "POST", P, NULL, "application/json", many, n);
		expect(&c, 413, "too_many_images", "17 images");
		free(many);
	}
	done(&c);
}

/* The static error documents lighttpd sends must look like ours. */
static void test_error_documents(void)
{
	static const char *const codes[] = {
	    "bad_request",       "not_found",         "method_not_allowed", "request_timeout",
	    "length_required",   "payload_too_large", "uri_too_long",       "expectation_failed",
	    "headers_too_large", "internal",          "not_implemented",    "bad_gateway",
	    "unavailable",       "gateway_timeout"};
	const char *srcdir = getenv("top_srcdir");
	char dir[4096];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/cgi-bin/errors", srcdir ? srcdir : "..");
	dp = opendir(dir);
	if (!dp) {
		skip(1, "no cgi-bin/errors (set top_srcdir)");
		return;
	}
	while ((d = readdir(dp))) {
		char path[8192];
		struct json_object *doc, *e, *v;
		int status = 0, good = 0;
		const char *code = "";

		if (sscanf(d->d_name, "api-error-%d.html", &status) != 1)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		doc = json_object_from_file(path);
		if (doc && json_object_object_get_ex(doc, "error", &e) &&
		    json_object_object_get_ex(e, "status", &v) &&
		    json_object_get_int(v) == status && json_object_object_get_ex(e, "code", &v) &&
		    json_object_object_get_ex(e, "message", NULL)) {
			code = json_object_get_string(v);
			for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
				good |= strcmp(code, codes[i]) == 0;
		}
		ok(good, "error document %s: status %d, code %s", d->d_name, status, code);
		json_object_put(doc);
		n++;
	}
	closedir(dp);
	ok(n >= 14, "%d error documents", n);
}

static void test_log(void)
{
	char id[65], line[1024];
	struct json_object *doc;

	log_request_id("abc-123_X.y:z", id);
	is_str(id, "abc-123_X.y:z", "request id: a sane X-Request-Id is kept");
	log_request_id("bad id\"", id);
	ok(strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16,
	   "request id: an unsafe one is replaced by 16 hex digits");
	log_request_id(NULL, line);
	ok(strcmp(id, line) != 0, "request id: fresh ids differ");
	log_format(&(struct log_entry){.id = id,
	                               .method = "POST",
	                               .path = "/a\"b",
	                               .status = 422,
	                               .code = "no_digit",
	                               .digit = -1,
	                               .bytes = 10},
	           line, sizeof(line));
	doc = json_tokener_parse(line);
	ok(doc && json_object_get_int(json_object_object_get(doc, "status")) == 422 &&
	       strcmp(json_object_get_string(json_object_object_get(doc, "path")), "/a\"b") == 0 &&
	       !json_object_object_get_ex(doc, "digit", NULL),
	   "log line is JSON with status and an escaped path");
	json_object_put(doc);
}

/* A PNG of a dark bar on white (or blank), made with libgd. */
static unsigned char *png(int blank, int *len)
{
	gdImagePtr im = gdImageCreateTrueColor(60, 80);
	unsigned char *p;

	gdImageFilledRectangle(im, 0, 0, 59, 79, gdTrueColor(255, 255, 255));
	if (!blank)
		gdImageFilledRectangle(im, 26, 10, 33, 69, gdTrueColor(20, 20, 20));
	p = gdImagePngPtr(im, len);
	gdImageDestroy(im);
	return p;
}

static struct json_object *get(struct json_object *o, const char *path)
{
	char key[64];

	while (o && *path) {
		size_t n = strcspn(path, ".");

		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(key));
		else if (!json_object_object_get_ex(o, key, &o))
			o = NULL;
		path += n + (path[n] == '.');
	}
	return o;
}

/* explain=1: the map of the predicted digit, 28 rows of 28 numbers in
 * 0..1, its method, and a PNG; explain_class picks another class. */
static void test_explain(struct call *c, const unsigned char *img, int len)
{
	const char *P = "/api/v1/predict";
	struct json_object *map;
	bool shape = true, range = true;
	double mass = 0;

	call(c, "POST", P, "explain=1", "image/png", img, (size_t)len);
	expect(c, 200, NULL, "explain=1");
	map = get(c->doc, "explanation.map");
	ok(json_object_array_length(map) == 28, "explanation.map: 28 rows");
	for (int y = 0; y < 28; y++) {
		struct json_object *row = json_object_array_get_idx(map, (size_t)y);

		shape = shape && json_object_array_length(row) == 28;
		for (int x = 0; shape && x < 28; x++) {
			double v =
			    json_object_get_double(json_object_array_get_idx(row, (size_t)x));

			range = range && v >= 0 && v <= 1;
			mass += v;
		}
	}
	ok(shape && range && mass > 0, "explanation.map: 28 x 28 numbers in 0..1, not all 0");
	is_str(json_object_get_string(get(c->doc, "explanation.method")), "grad-cam",
	       "explanation.method: grad-cam for cnn");
	is_int(json_object_get_int(get(c->doc, "explanation.class")),
	       json_object_get_int(get(c->doc, "digit")), "explanation.class: the predicted digit");
	ok(json_object_get_int(get(c->doc, "explanation.map_size.0")) == 7 &&
	       json_object_get_int(get(c->doc, "explanation.map_size.1")) == 7,
	   "explanation.map_size: cnn's 7x7");
	ok(strncmp(json_object_get_string(get(c->doc, "explanation.png")),
	           "data:image/png;base64,iVBOR", 27) == 0,
	   "explanation.png: a PNG data URL");

	call(c, "POST", P, "explain_class=3", "image/png", img, (size_t)len);
	expect(c, 200, NULL, "explain_class=3");
	is_int(json_object_get_int(get(c->doc, "explanation.class")), 3,
	       "explain_class=3 explains class 3");
	call(c, "POST", P, "explain=0", "image/png", img, (size_t)len);
	expect(c, 200, NULL, "explain=0");
	ok(!get(c->doc, "explanation"), "explain=0: no explanation");
}

/* model=cnn-int8 (the shipped file, beside the untrained cnn): reads a
 * digit, refuses explanations, and the models list says which is int8. */
static void test_int8(struct call *c, const unsigned char *img, int len)
{
	const char *P = "/api/v1/predict";
	int found = 0;

	call(c, "POST", P, "model=cnn-int8", "image/png", img, (size_t)len);
	expect(c, 200, NULL, "model=cnn-int8");
	is_str(json_object_get_string(get(c->doc, "model.name")), "cnn-int8",
	       "model=cnn-int8 answers with cnn-int8");
	is_int(json_object_get_int(get(c->doc, "digit")), 1, "cnn-int8 reads the bar as a 1");
	call(c, "POST", P, "model=cnn-int8&explain=1", "image/png", img, (size_t)len);
	expect(c, 400, "explain_unsupported", "explain=1 on cnn-int8");
	ok(c->doc && strstr(json_object_get_string(get(c->doc, "error.message")), "int8"),
	   "explain_unsupported says the model is int8");

	call(c, "GET", "/api/v1/models", NULL, NULL, NULL, 0);
	expect(c, 200, NULL, "models");
	for (size_t i = 0; i < json_object_array_length(get(c->doc, "models")); i++) {
		struct json_object *m = json_object_array_get_idx(get(c->doc, "models"), i);
		const char *name = json_object_get_string(get(m, "name"));
		const char *want = strstr(name, "-int8") ? "int8" : "float32";

		found += strcmp(name, "cnn-int8") == 0;
		if (!ok(strcmp(json_object_get_string(get(m, "precision")), want) == 0,
		        "models: %s has precision %s", name, want))
			diag("precision: %s", json_object_get_string(get(m, "precision")));
	}
	ok(found == 1, "models lists cnn-int8");
	is_str(json_object_get_string(get(c->doc, "models.1.name")), "cnn-int8",
	       "models: cnn-int8 comes right after cnn");
}

static void test_predict(void)
{
	struct call c = {0};
	const char *P = "/api/v1/predict";
	int len, blank_len;
	unsigned char *img = png(0, &len), *blank = png(1, &blank_len);
	char *b64 = malloc((size_t)len * 2 + 100), *body = malloc((size_t)len * 3 + 1000);
	double sum = 0;
	size_t n;

	call(&c, "POST", P, NULL, "image/png", img, (size_t)len);
	expect(&c, 200, NULL, "raw PNG");
	ok(json_object_array_length(get(c.doc, "probabilities")) == 10, "ten probabilities");
	for (int i = 0; i < 10; i++)
		sum += json_object_get_double(
		    get(c.doc, "probabilities")
		        ? json_object_array_get_idx(get(c.doc, "probabilities"), (size_t)i)
		        : NULL);
	is_near(sum, 1.0, 1e-4, "probabilities sum to 1");
	/* The model is untrained: the digit must be the argmax of the ten, and
	 * "probability" that digit's own. */
	{
		struct json_object *probs = get(c.doc, "probabilities");
		int digit = json_object_get_int(get(c.doc, "digit")), best = 0;

		for (int i = 1; probs && i < 10; i++)
			if (json_object_get_double(json_object_array_get_idx(probs, (size_t)i)) >
			    json_object_get_double(json_object_array_get_idx(probs, (size_t)best)))
				best = i;
		is_int(digit, best, "digit is the most probable of the ten");
		ok(probs && digit >= 0 && digit <= 9 &&
		       json_object_get_double(get(c.doc, "probability")) ==
		           json_object_get_double(json_object_array_get_idx(probs, (size_t)digit)),
		   "probability is the digit's own");
	}
	is_str(json_object_get_string(get(c.doc, "model.name")), "cnn", "default model is cnn");
	ok(strlen(json_object_get_string(get(c.doc, "model.version"))) == 8, "model version: crc");
	is_str(json_object_get_string(get(c.doc, "image.format")), "png", "image.format");
	is_int(json_object_get_int(get(c.doc, "image.width")), 60, "image.width");
	ok(get(c.doc, "timing_ms.total") && get(c.doc, "timing_ms.inference"), "timing_ms");
	ok(!get(c.doc, "top") && !get(c.doc, "preview"), "no top, no preview unless asked");

	call(&c, "POST", P, "top=3&preview=1", "application/octet-stream", img, (size_t)len);
	expect(&c, 200, NULL, "octet-stream with top=3&preview=1");
	ok(json_object_array_length(get(c.doc, "top")) == 3 &&
	       json_object_get_double(get(c.doc, "top.0.probability")) >=
	           json_object_get_double(get(c.doc, "top.1.probability")) &&
	       json_object_get_int(get(c.doc, "top.0.digit")) ==
	           json_object_get_int(get(c.doc, "digit")),
	   "top: three, best first");
	ok(strncmp(json_object_get_string(get(c.doc, "preview")), "data:image/png;base64,iVBOR",
	           27) == 0,
	   "preview is a PNG data URL");

	test_explain(&c, img, len);
	test_int8(&c, img, len);

	call(&c, "POST", P, "model=nope", "image/png", img, (size_t)len);
	expect(&c, 400, "unknown_model", "model=nope");
	call(&c, "POST", P, NULL, "image/png", blank, (size_t)blank_len);
	expect(&c, 422, "no_digit", "blank image");
	call(&c, "POST", P, NULL, "image/png", img, (size_t)len / 2);
	expect(&c, 422, "corrupt_image", "truncated PNG");
	call(&c, "POST", P, NULL, "image/png", "hello world, not an image", 25);
	expect(&c, 415, "unsupported_image", "text sent as image/png");

	req_base64_encode(img, (size_t)len, b64);
	n = (size_t)sprintf(body,
	                    "{\"image\": \"data:image/png;base64,%s\", \"top\": 2, "
	                    "\"model\": \"cnn\", \"preview\": false}",
	                    b64);
	call(&c, "POST", P, NULL, "application/json", body, n);
	expect(&c, 200, NULL, "JSON data URL with top 2");
	is_int(json_object_array_length(get(c.doc, "top")), 2, "JSON top=2");

	n = (size_t)sprintf(body, "{\"images\": [\"%s\", \"!!\", \"%s\"]}", b64, b64);
	call(&c, "POST", P, NULL, "application/json", body, n);
	expect(&c, 200, NULL, "JSON images[] with a bad one");
	is_int(json_object_array_length(get(c.doc, "predictions")), 3, "three predictions");
	is_str(json_object_get_string(get(c.doc, "predictions.1.error.code")), "bad_base64",
	       "the bad one has its own error");
	ok(json_object_get_int(get(c.doc, "predictions.0.digit")) ==
	       json_object_get_int(get(c.doc, "predictions.2.digit")),
	   "same image, same digit");

	n = (size_t)sprintf(body, "--XyZ" CRLF "Content-Disposition: form-data; name=\"image\"; "
	                          "filename=\"a.png\"" CRLF "Content-Type: image/png" CRLF CRLF);
	memcpy(body + n, img, (size_t)len);
	n += (size_t)len;
	n += (size_t)sprintf(body + n, CRLF "--XyZ" CRLF "Content-Disposition: form-data; "
	                                    "name=\"image\"; filename=\"b.png\"" CRLF CRLF);
	memcpy(body + n, blank, (size_t)blank_len);
	n += (size_t)blank_len;
	n += (size_t)sprintf(body + n, CRLF "--XyZ" CRLF "Content-Disposition: form-data; "
	                                    "name=\"top\"" CRLF CRLF "1" CRLF "--XyZ--" CRLF);
	call(&c, "POST", P, NULL, "multipart/form-data; boundary=XyZ", body, n);
	expect(&c, 200, NULL, "multipart with two images and a field");
	is_int(json_object_array_length(get(c.doc, "predictions.0.top")), 1, "form field top=1");
	is_str(json_object_get_string(get(c.doc, "predictions.1.error.code")), "no_digit",
	       "blank second image: no_digit in its slot");

	call(&c, "GET", "/api/v1/models", NULL, NULL, NULL, 0);
	expect(&c, 200, NULL, "models");
	is_str(json_object_get_string(get(c.doc, "models.0.name")), "cnn", "models lists cnn");
	ok(json_object_get_boolean(get(c.doc, "models.0.default")) &&
	       json_object_get_int64(get(c.doc, "models.0.params")) > 100000 &&
	       json_object_get_int64(get(c.doc, "models.0.macs")) > 1000000,
	   "models: default, params, macs");
	call(&c, "GET", "/api/v1/health", NULL, NULL, NULL, 0);
	expect(&c, 200, NULL, "health");
	is_str(json_object_get_string(get(c.doc, "status")), "ok", "health status ok");
	is_int(json_object_get_int(get(c.doc, "pid")), getpid(), "health pid");
	call(&c, "GET", "/api/v1/metrics", NULL, NULL, NULL, 0);
	ok(c.res.status == 200 && strstr(c.res.content_type, "version=0.0.4") &&
	       strstr(c.res.body, "endpoint=\"predict\",status=\"422\"} 2") &&
	       strstr(c.res.body, "model=\"cnn\"} ") &&
	       strstr(c.res.body, "digits_inference_seconds_bucket{") &&
	       strstr(c.res.body, "process_start_time_seconds{"),
	   "metrics: Prometheus text with statuses, models and histograms");

	done(&c);
	free(b64);
	free(body);
	gdFree(img);
	gdFree(blank);
}

/* An untrained cnn saved in a temporary directory. */
static int make_model(char *dir, size_t cap, struct dg_error *err)
{
	struct nn_graph *g;
	float *params;
	char path[4200];
	int rc;

	snprintf(dir, cap, "%s/test_api.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return dg_fail(err, DG_ERR_IO, "mkdtemp failed");
	snprintf(path, sizeof(path), "%s/cnn.model", dir);
	if (nn_zoo_build(&g, "cnn", err) < 0)
		return -1;
	params = malloc(g->n_params * sizeof(float));
	nn_params_init(g, params, 1);
	rc = model_save(path, g, params, NULL, err);
	free(params);
	nn_graph_free(g);
	return rc;
}

/* make_model's model again at path (after a test changed it). */
static void make_model_at(const char *path)
{
	struct nn_graph *g;
	struct dg_error err;
	float *params;

	if (nn_zoo_build(&g, "cnn", &err) < 0)
		return;
	params = malloc(g->n_params * sizeof(float));
	nn_params_init(g, params, 1);
	model_save(path, g, params, NULL, &err);
	free(params);
	nn_graph_free(g);
}

/*
 * Plain CGI's registry (registry_load_lazy) on dir's cnn.model: it lists
 * what the full one lists, answers the same bits, and a model file that
 * is corrupt, or replaced since it was listed, fails the request that
 * uses it, not the listing.
 */
static void test_lazy(const char *dir)
{
	struct registry *full, *lazy;
	struct dg_error err;
	float px[IMAGE_PIXELS];
	const float *p;
	float want[10];
	char path[4200];

	for (int i = 0; i < IMAGE_PIXELS; i++)
		px[i] = (float)((i * 37) % 101) / 100.0f;
	if (registry_load(&full, dir, 4, &err) < 0 || registry_predict(full, 0, px, 1, &p, &err)) {
		ok(0, "lazy registry: the full one loads: %s", err.msg);
		return;
	}
	memcpy(want, p, sizeof(want));
	if (!ok(registry_load_lazy(&lazy, dir, 4, &err) == 0 && registry_count(lazy) == 1,
	        "lazy registry lists the model directory")) {
		diag("%s", err.msg);
		registry_free(full);
		return;
	}
	ok(strcmp(registry_model_info(lazy, 0)->version, registry_model_info(full, 0)->version) ==
	           0 &&
	       registry_model_info(lazy, 0)->n_params == registry_model_info(full, 0)->n_params &&
	       registry_model_info(lazy, 0)->n_macs == registry_model_info(full, 0)->n_macs,
	   "lazy registry: version, weights and cost as the full one says");
	ok(registry_hidden(lazy, 0, 0) == NULL, "lazy registry: nothing computed before use");
	ok(registry_predict(lazy, 0, px, 1, &p, &err) == 0 && memcmp(p, want, sizeof(want)) == 0,
	   "lazy registry: the model read on first use answers the same bits");
	registry_free(lazy);
	registry_free(full);

	/* Replaced after listing: another model under the same name. */
	snprintf(path, sizeof(path), "%s/cnn.model", dir);
	registry_load_lazy(&lazy, dir, 4, &err);
	{
		struct nn_graph *g;
		float *params;

		nn_zoo_build(&g, "cnn", &err);
		params = malloc(g->n_params * sizeof(float));
		nn_params_init(g, params, 2);
		model_save(path, g, params, NULL, &err);
		free(params);
		nn_graph_free(g);
	}
	ok(registry_predict(lazy, 0, px, 1, &p, &err) < 0 && strstr(err.msg, "changed since"),
	   "lazy registry: a model file replaced after listing fails the request (%s)", err.msg);
	registry_free(lazy);

	/* A weight flipped on disk: listed, then refused when used. */
	{
		FILE *f = fopen(path, "r+b");

		fseek(f, -100, SEEK_END);
		fputc(0x7f, f);
		fclose(f);
	}
	ok(registry_load_lazy(&lazy, dir, 4, &err) == 0, "lazy registry lists a corrupt model");
	ok(registry_predict(lazy, 0, px, 1, &p, &err) < 0 && strstr(err.msg, "checksum mismatch") &&
	       strstr(err.msg, "model \"cnn\""),
	   "lazy registry: using it fails, naming the model and the problem");
	registry_free(lazy);
	ok(registry_load(&full, dir, 4, &err) < 0, "the full registry refuses it at once");
	unlink(path);
	make_model_at(path);
}

/* A PNG of nothing but its signature and IHDR, declaring w x h. */
static size_t png_header(unsigned char *out, unsigned long w, unsigned long h)
{
	static const unsigned char head[16] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
	                                       0,    0,   0,   13,  'I',  'H',  'D',  'R'};
	unsigned char *p = out + 16;

	memcpy(out, head, 16);
	for (int i = 3; i >= 0; i--)
		p[3 - i] = (unsigned char)(w >> (8 * i)), p[7 - i] = (unsigned char)(h >> (8 * i));
	memcpy(p + 8,
	       "\x08\x00\x00\x00\x00"
	       "CRC!",
	       9);
	return 16 + 17;
}

/* cfg.max_pixels counts what all images of a request declare. */
static void test_pixels(void)
{
	struct call c = {0};
	const char *P = "/api/v1/predict";
	unsigned char one[64], body[512];
	size_t n1 = png_header(one, 3000, 3000), n = 0;

	call(&c, "POST", P, NULL, "image/png", one, n1);
	expect(&c, 422, "corrupt_image", "one 3000x3000 header: within the request's pixels");
	for (int i = 0; i < 2; i++) {
		n += (size_t)sprintf((char *)body + n,
		                     "--b\r\nContent-Disposition: form-data; name=\"image\"; "
		                     "filename=\"%d.png\"\r\n\r\n",
		                     i);
		memcpy(body + n, one, n1);
		n += n1;
		n += (size_t)sprintf((char *)body + n, "\r\n");
	}
	n += (size_t)sprintf((char *)body + n, "--b--\r\n");
	call(&c, "POST", P, NULL, "multipart/form-data; boundary=b", body, n);
	expect(&c, 413, "too_many_pixels", "two 3000x3000 headers: 18 M pixels over 16.8 M");
	ok(strstr(c.res.body, "18000000 pixels") != NULL, "too_many_pixels: says how many");
	n1 = png_header(one, 5000, 10);
	call(&c, "POST", P, NULL, "image/png", one, n1);
	expect(&c, 413, "image_too_large", "5000 wide: the per-image limit still speaks first");
	done(&c);
}

int main(void)
{
	struct api_config cfg;
	struct registry *reg, *loaded;
	struct dg_error err;
	char dir[4096], path[4200];

	test_spans();
	test_query();
	test_content_type();
	test_multipart();
	test_base64();
	test_arena();
	test_json_check();
	test_log();
	test_error_documents();

	api_config_default(&cfg);
	cfg.log = false; /* the log line has its own test */
	/* No models: every request error is found before a model is needed. */
	ok(registry_create(&reg, 16, &err) == 0 && api_ctx_create(&ctx, &cfg, reg, &err) == 0,
	   "context with no models");
	test_routing();
	test_request_errors();
	test_body_accounting();
	{
		struct call c = {0};

		call(&c, "GET", "/api/v1/health", NULL, NULL, NULL, 0);
		ok(c.res.status == 503, "health without models: 503");
		done(&c);
	}
	api_ctx_free(ctx);
	registry_free(reg);

	if (make_model(dir, sizeof(dir), &err) < 0) {
		diag("%s", err.msg);
		skip(1, "cannot make a test model");
		return tap_done();
	}
	ok(registry_load(&loaded, dir, cfg.max_images, &err) == 0 && registry_count(loaded) == 1,
	   "registry loads the model directory");
	snprintf(path, sizeof(path), "%s/models/cnn-int8.model",
	         getenv("top_srcdir") ? getenv("top_srcdir") : ".");
	if (!ok(registry_add_file(loaded, path, &err) == 0, "registry adds %s", path))
		diag("%s", err.msg);
	ok(api_ctx_create(&ctx, &cfg, loaded, &err) == 0, "context with a model");
	test_predict();
	test_pixels();
	api_ctx_free(ctx);
	registry_free(loaded);

	test_lazy(dir);

	snprintf(path, sizeof(path), "%s/bad.model", dir);
	{
		FILE *f = fopen(path, "w");

		fputs("DIGITSNN garbage", f);
		fclose(f);
	}
	ok(registry_load(&loaded, dir, 4, &err) < 0 && strstr(err.msg, "bad.model"),
	   "a bad model file fails the whole registry, naming the file");
	diag("%s", err.msg);
	unlink(path);
	snprintf(path, sizeof(path), "%s/cnn.model", dir);
	unlink(path);
	ok(registry_load(&loaded, dir, 4, &err) < 0 && strstr(err.msg, "no *.model"),
	   "an empty model directory is refused");
	rmdir(dir);
	return tap_done();
}
