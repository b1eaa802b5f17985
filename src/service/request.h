/*
 * request.h - bounded parsing of what an HTTP request sends us.
 *
 * Everything here works on spans: (pointer, length) views into a buffer the
 * caller owns (the request body, an environment string).  Nothing is copied
 * or allocated except into buffers the caller passes with their capacity, so
 * a request can never make the parser allocate, read past its input or write
 * past an output.  Malformed input fails with DG_ERR_FORMAT and a message
 * saying what and where; exceeding a fixed limit fails with DG_ERR_TOO_LARGE.
 * The caller (api.c) turns those into HTTP error codes, because only it
 * knows which part of the request was being parsed.
 *
 * Also here: the per-request arena, the one place request-sized memory comes
 * from.  It is allocated once per process and reset after every request.
 */
#ifndef REQUEST_H
#define REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "digits.h"

struct span {
	const char *p;
	size_t n;
};

#define SPAN_NULL ((struct span){NULL, 0})

struct span span_cstr(const char *s); /* NULL gives the empty span */
bool span_eq(struct span s, const char *lit);
bool span_ieq(struct span s, const char *lit); /* ASCII case-insensitive */
bool span_istarts(struct span s, const char *prefix);
struct span span_trim(struct span s); /* drops spaces and tabs at both ends */
/* Split at the first sep: *head is what precedes it, *s what follows.
 * Without sep, *head is all of *s, *s becomes empty and false is returned. */
bool span_cut(struct span *s, char sep, struct span *head);
/* Decimal integer in [min, max], nothing else (no sign for min >= 0). */
int span_to_long(struct span s, long min, long max, long *out);
/* Copy into a NUL-terminated buffer; fails if it does not fit. */
int span_copy(struct span s, char *out, size_t cap);

/* Media type and the parameters we use: "multipart/form-data; boundary=x".
 * type is "type/subtype" trimmed (compare with span_ieq). */
struct req_content_type {
	struct span type;
	struct span boundary; /* quotes removed; empty if absent */
};
int req_content_type(const char *header, struct req_content_type *ct, struct dg_error *err);

/* Next "name=value" parameter of a header value, from *rest positioned at
 * or before a ';'.  Returns 1 and advances, 0 at the end, -1 if malformed.
 * Quoted values come back without their quotes (escapes left as sent). */
int req_param_next(struct span *rest, struct span *name, struct span *value, struct dg_error *err);

/* Next "key=value" pair of a query string or urlencoded form (separators
 * '&' and ';'; empty pairs skipped).  Returns 1, or 0 at the end.  Both
 * spans are still percent-encoded: decode them with req_url_decode. */
int req_query_next(struct span *rest, struct span *key, struct span *value);
/* Percent-decoding ('+' is a space) into out[cap], NUL-terminated.  Bad
 * escapes and NUL bytes are DG_ERR_FORMAT, overflow DG_ERR_TOO_LARGE. */
int req_url_decode(struct span in, char *out, size_t cap, struct dg_error *err);

/* multipart/form-data (RFC 7578 / 2046).  Lines end in CRLF; a preamble and
 * an epilogue are ignored; each part's header block is limited to
 * REQ_PART_HEADERS_MAX bytes; the close delimiter must be present (no
 * close: the body was truncated).  Part data are views into body. */
#define REQ_PART_HEADERS_MAX 4096
#define REQ_BOUNDARY_MAX     70
struct req_part {
	struct span name;     /* Content-Disposition name */
	struct span filename; /* may be empty; present says has_filename */
	bool has_filename;
	struct span content_type; /* may be empty */
	struct span data;
};
int req_multipart(struct span body, struct span boundary, struct req_part *parts, int max_parts,
                  int *n_parts, struct dg_error *err);

/* Base64 (RFC 4648; the URL-safe alphabet is accepted too; whitespace is
 * skipped; padding optional but, when present, correct).  out needs
 * req_base64_max(in.n) bytes. */
size_t req_base64_max(size_t encoded_len);
int req_base64_decode(struct span in, unsigned char *out, size_t cap, size_t *len,
                      struct dg_error *err);
/* Standard alphabet with padding; out needs 4 * ((len + 2) / 3) + 1 bytes. */
size_t req_base64_encode(const unsigned char *in, size_t len, char *out);
/* If s is a data: URL, *payload is its base64 part (it must say ;base64);
 * otherwise *payload is s itself. */
int req_data_url(struct span s, struct span *payload, struct dg_error *err);

/* A pass over a JSON text before any parser builds it, so that what a body
 * makes json-c allocate is bounded by what the API can use: one document
 * (RFC 8259, strict: no comments, single quotes or trailing commas, nothing
 * after it but whitespace), at most max_depth levels of arrays and objects
 * and at most max_values values (every scalar, array and object counts one;
 * object keys are not counted, each has a value).  Linear in the text,
 * allocates nothing.  Fails DG_ERR_FORMAT for bad syntax and
 * DG_ERR_TOO_LARGE past a limit, the message naming the byte offset. */
int req_json_check(struct span text, int max_depth, size_t max_values, struct dg_error *err);

/* Bump allocator over one block: allocations are 16-byte aligned and live
 * until req_arena_reset.  The block is mapped once; pages the process never
 * touches cost nothing, and req_arena_reset gives back to the kernel what a
 * big request touched beyond the first REQ_ARENA_KEEP bytes, so an 8 MiB
 * upload does not leave the process 14 MiB larger for good. */
#define REQ_ARENA_KEEP (1u << 20)
struct req_arena {
	unsigned char *base;
	size_t cap, used;
};
int req_arena_init(struct req_arena *a, size_t cap, struct dg_error *err);
void *req_arena_alloc(struct req_arena *a, size_t n); /* NULL when full */
void req_arena_reset(struct req_arena *a);
void req_arena_free(struct req_arena *a);

#endif
