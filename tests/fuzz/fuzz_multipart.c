/*
 * fuzz_multipart.c - the multipart/form-data parser and the Content-Type
 * header it takes its boundary from (src/service/request.c).
 *
 * Input: a Content-Type header value, a newline, then the body.  When the
 * header parses and names a boundary, the body is split into parts the way
 * api_predict does.  Checked beyond the sanitizers: a failure says why, and
 * every span of every part lies inside the input (the parser only views,
 * never copies).
 */
#include "fuzz.h"

#include <string.h>

#include "service/api_priv.h"

#define MAX_PARTS API_MAX_PARTS /* as api_predict calls it */

static int inside(struct span s, const uint8_t *data, size_t size)
{
	const char *lo = (const char *)data, *hi = lo + size;

	return s.n == 0 || (s.p >= lo && s.p <= hi && s.n <= (size_t)(hi - s.p));
}

static void check_parts(const struct req_part *parts, int n, const uint8_t *data, size_t size)
{
	fuzz_check(n >= 0 && n <= MAX_PARTS, "part count within max_parts");
	for (int i = 0; i < n; i++) {
		const struct req_part *p = &parts[i];

		fuzz_check(inside(p->name, data, size) && inside(p->filename, data, size) &&
		               inside(p->content_type, data, size) && inside(p->data, data, size),
		           "every part is a view into the body");
		fuzz_check(p->has_filename || p->filename.n == 0, "a filename only when present");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char header[1024];
	size_t hlen = nl ? (size_t)(nl - data) : size;
	struct req_content_type ct;
	struct req_part parts[MAX_PARTS];
	struct dg_error err = {0};
	struct span body;
	int n = -1;

	if (hlen >= sizeof(header) || memchr(data, '\0', hlen))
		return 0; /* a CGI variable: NUL-terminated, and lighttpd caps headers */
	memcpy(header, data, hlen);
	header[hlen] = '\0';
	if (req_content_type(header, &ct, &err) < 0) {
		fuzz_check(err.code == DG_ERR_FORMAT || err.code == DG_ERR_TOO_LARGE, "error code");
		fuzz_check(err.msg[0] != '\0', "an error says why");
		return 0;
	}
	fuzz_check(ct.boundary.n <= REQ_BOUNDARY_MAX, "boundary length within the limit");
	if (ct.boundary.n == 0)
		return 0;
	body = (struct span){(const char *)data + hlen + (nl ? 1 : 0), size - hlen - (nl ? 1 : 0)};
	if (req_multipart(body, ct.boundary, parts, MAX_PARTS, &n, &err) < 0) {
		fuzz_check(err.code == DG_ERR_FORMAT || err.code == DG_ERR_TOO_LARGE, "error code");
		fuzz_check(err.msg[0] != '\0', "an error says why");
		return 0;
	}
	check_parts(parts, n, data, size);
	return 0;
}
