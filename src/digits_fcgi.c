/*
 * digits_fcgi.c - main of cgi-bin/digits.fcgi: the API as FastCGI or CGI.
 *
 * One binary, three ways to run:
 *   - spawned by a FastCGI server (lighttpd's mod_fastcgi with bin-path):
 *     fd 0 is the listening socket; answer requests until SIGTERM;
 *   - plain CGI (fd 0 is not a socket and REQUEST_METHOD is set): answer
 *     the one request in the environment and on stdin, then exit;
 *   - --listen HOST:PORT or --listen /path.sock: open the socket ourselves,
 *     for a web server or balancer on another host (FCGI_WEB_SERVER_ADDRS
 *     limits who may connect).
 * Models are loaded before the first request; if any fails to load the
 * program exits with status 1 and says why, so a broken deployment never
 * serves.  One request at a time per process; SIGTERM lets the current
 * request and those already queued on the socket finish, then the process
 * exits with status 0.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "service/api.h"
#include "service/log.h"

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
	FCGX_ShutdownPending(); /* makes a blocked accept() give up */
}

/* Where a request comes from and goes to: a FastCGI request, or stdio. */
struct conn {
	FCGX_Request *fcgi; /* NULL for CGI */
};

static const char *param(struct conn *c, const char *name)
{
	return c->fcgi ? FCGX_GetParam(name, c->fcgi->envp) : getenv(name);
}

static size_t read_body(struct conn *c, unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		size_t want = len - got > (1 << 20) ? (1 << 20) : len - got;
		int n;

		if (c->fcgi) {
			n = FCGX_GetStr((char *)buf + got, (int)want, c->fcgi->in);
		} else {
			n = (int)fread(buf + got, 1, want, stdin);
		}
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static void put(struct conn *c, const char *data, size_t len)
{
	if (c->fcgi)
		FCGX_PutStr(data, (int)len, c->fcgi->out);
	else
		fwrite(data, 1, len, stdout);
}

static void respond(struct conn *c, const struct api_response *res, const char *id, bool head)
{
	char hdr[1024];
	int n;

	n = snprintf(hdr, sizeof(hdr),
	             "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	             "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	             "X-Request-Id: %s\r\n%s%s%s\r\n",
	             res->status, api_status_text(res->status), res->content_type, res->len, id,
	             res->allow ? "Allow: " : "", res->allow ? res->allow : "",
	             res->allow ? "\r\n" : "");
	put(c, hdr, (size_t)n < sizeof(hdr) ? (size_t)n : sizeof(hdr) - 1);
	if (!head)
		put(c, res->body, res->len);
	if (!c->fcgi)
		fflush(stdout);
}

static void serve(struct api_ctx *ctx, struct conn *c)
{
	struct api_request req = {0};
	struct api_response res = {.digit = -1};
	char path[512], id[65];
	size_t len = 0;

	req.method = param(c, "REQUEST_METHOD");
	api_route_path(param(c, "PATH_INFO"), param(c, "REQUEST_URI"), param(c, "SCRIPT_NAME"),
	               path, sizeof(path));
	req.path = path;
	req.query = param(c, "QUERY_STRING");
	req.content_type = param(c, "CONTENT_TYPE");
	req.content_length = param(c, "CONTENT_LENGTH");
	log_request_id(param(c, "HTTP_X_REQUEST_ID"), id);

	if (api_body_length(ctx, &req, &len, &res) == 0) {
		unsigned char *body = len ? api_body_buffer(ctx, len) : NULL;
		size_t got = body ? read_body(c, body, len) : 0;

		if (len && !body) {
			api_error(&res, 500, "internal", "no memory for a %zu-byte body", len);
		} else if (got < len) {
			api_error(&res, 400, "truncated_body", "body ended after %zu of %zu bytes",
			          got, len);
		} else {
			req.body = body;
			req.body_len = len;
			api_handle(ctx, &req, &res);
		}
	} else {
		metrics_request(&ctx->metrics, METRICS_OTHER, res.status, 0);
	}
	respond(c, &res, id, req.method && strcmp(req.method, "HEAD") == 0);
	log_request(&(struct log_entry){
	    .id = id,
	    .method = req.method,
	    .path = path,
	    .status = res.status,
	    .code = res.code,
	    .model = res.model,
	    .digit = res.digit,
	    .images = res.images,
	    .bytes = len,
	    .decode_ms = res.decode_ms,
	    .inference_ms = res.inference_ms,
	    .total_ms = res.total_ms,
	});
	api_response_free(ctx, &res);
}

static int serve_fastcgi(struct api_ctx *ctx, int sock)
{
	FCGX_Request request;
	struct conn c = {&request};
	sigset_t term;
	int draining = 0;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	if (FCGX_InitRequest(&request, sock, 0) != 0) {
		fprintf(stderr, "digits.fcgi: cannot initialise a FastCGI request\n");
		return 1;
	}
	for (;;) {
		/* Signals may only interrupt the wait for a request, never one
		 * being answered. */
		sigprocmask(SIG_UNBLOCK, &term, NULL);
		/* Stopping: answer the connections already queued on our socket
		 * (the web server sent them to us, nobody else will take them),
		 * then accept fails with EAGAIN and we leave. */
		if (stopping && !draining) {
			fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
			draining = 1;
		}
		if (FCGX_Accept_r(&request) < 0)
			break;
		sigprocmask(SIG_BLOCK, &term, NULL);
		serve(ctx, &c);
		FCGX_Finish_r(&request);
	}
	FCGX_Free(&request, 1);
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: digits.fcgi [--listen HOST:PORT | --listen /path.sock] [--backlog N]\n"
	      "                   [--models DIR] [--check]\n"
	      "Serves the digits HTTP API over FastCGI (spawned by a web server, or on its own\n"
	      "socket with --listen) or as plain CGI.  --check loads the models and exits.\n"
	      "Environment: DIGITS_MODEL_DIR, DIGITS_THREADS (default 1), DIGITS_MAX_BODY,\n"
	      "DIGITS_MAX_IMAGES, DIGITS_MAX_SIDE, FCGI_WEB_SERVER_ADDRS (with --listen).\n",
	      f);
}

int main(int argc, char **argv)
{
	const char *listen_addr = NULL, *dir = NULL;
	int backlog = 64, check = 0, rc;
	struct registry *reg;
	struct api_config cfg;
	struct api_ctx ctx;
	struct dg_error err;
	struct sigaction sa;
	const char *env_threads = getenv("DIGITS_THREADS");
	long threads = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen_addr = argv[++i];
		} else if (strcmp(argv[i], "--backlog") == 0 && i + 1 < argc) {
			backlog = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (strcmp(argv[i], "--check") == 0) {
			check = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "digits.fcgi: unknown argument %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (api_config_from_env(&cfg, &err) < 0) {
		fprintf(stderr, "digits.fcgi: %s\n", err.msg);
		return 2;
	}
	/* One request at a time per process: with max-procs = cores, one
	 * thread each uses every core without oversubscribing. */
	if (env_threads && *env_threads &&
	    span_to_long(span_cstr(env_threads), 1, 1024, &threads) < 0) {
		fprintf(stderr, "digits.fcgi: DIGITS_THREADS=%s: want 1 to 1024\n", env_threads);
		return 2;
	}
#ifdef _OPENMP
	omp_set_num_threads((int)threads);
#endif
	if (!dir)
		dir = registry_default_dir();
	if (registry_load(&reg, dir, cfg.max_images, &err) < 0) {
		fprintf(stderr, "digits.fcgi: refusing to start: %s\n", err.msg);
		return 1;
	}
	if (api_ctx_init(&ctx, &cfg, reg, &err) < 0) {
		fprintf(stderr, "digits.fcgi: %s\n", err.msg);
		registry_free(reg);
		return 1;
	}
	if (check) {
		for (int i = 0; i < reg->n; i++)
			printf("%s %s %s\n", reg->models[i].name, reg->models[i].version,
			       reg->models[i].file);
		rc = 0;
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term; /* no SA_RESTART: accept() must return */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0) {
		fprintf(stderr, "digits.fcgi: FCGX_Init failed\n");
		rc = 1;
	} else if (listen_addr) {
		int sock = FCGX_OpenSocket(listen_addr, backlog);

		if (sock < 0) {
			fprintf(stderr, "digits.fcgi: cannot listen on %s: %s\n", listen_addr,
			        strerror(errno));
			rc = 1;
		} else {
			fprintf(stderr, "digits.fcgi: pid %ld listening on %s\n", (long)getpid(),
			        listen_addr);
			rc = serve_fastcgi(&ctx, sock);
		}
	} else if (FCGX_IsCGI()) {
		struct conn c = {NULL};

		if (!getenv("REQUEST_METHOD")) {
			fprintf(stderr,
			        "digits.fcgi: not started by a web server (no REQUEST_METHOD "
			        "and stdin is not a FastCGI socket); see --help\n");
			rc = 2;
		} else {
			serve(&ctx, &c);
			rc = 0;
		}
	} else {
		rc = serve_fastcgi(&ctx, 0);
	}
out:
	api_ctx_free(&ctx);
	registry_free(reg);
	return rc;
}
