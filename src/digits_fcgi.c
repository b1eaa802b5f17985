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
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "service/api.h"
#include "service/registry.h"
#include "service/request.h"

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

/* api_read_fn over the request's input stream. */
static long read_body(void *source, unsigned char *buf, size_t len)
{
	struct conn *c = source;
	int want = len > INT_MAX ? INT_MAX : (int)len;

	if (c->fcgi)
		return FCGX_GetStr((char *)buf, want, c->fcgi->in);
	return (long)fread(buf, 1, (size_t)want, stdin);
}

/* All of data, or -1 once a write fails (the client is gone). */
static int put(struct conn *c, const char *data, size_t len)
{
	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;

		if (c->fcgi ? FCGX_PutStr(data, n, c->fcgi->out) != n
		            : fwrite(data, 1, (size_t)n, stdout) != (size_t)n)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int respond(struct conn *c, const struct api_response *res, bool head)
{
	char hdr[1024];
	int n;

	n = snprintf(hdr, sizeof(hdr),
	             "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	             "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	             "X-Request-Id: %s\r\n%s%s%s\r\n",
	             res->status, res->reason, res->content_type, res->len, res->id,
	             res->allow ? "Allow: " : "", res->allow ? res->allow : "",
	             res->allow ? "\r\n" : "");
	/* Every field is bounded (an id is at most 64 characters, the rest
	 * are our own constants), so the header always fits. */
	if (n < 0 || (size_t)n >= sizeof(hdr) || put(c, hdr, (size_t)n) < 0)
		return -1;
	if (!head && put(c, res->body, res->len) < 0)
		return -1;
	if (!c->fcgi && fflush(stdout) != 0)
		return -1;
	return 0;
}

static void serve(struct api_ctx *ctx, struct conn *c)
{
	struct api_request req = {0};
	struct api_response res;
	char path[API_PATH_MAX];
	bool sent;

	req.method = param(c, "REQUEST_METHOD");
	api_route_path(param(c, "PATH_INFO"), param(c, "REQUEST_URI"), param(c, "SCRIPT_NAME"),
	               path, sizeof(path));
	req.path = path;
	req.query = param(c, "QUERY_STRING");
	req.content_type = param(c, "CONTENT_TYPE");
	req.content_length = param(c, "CONTENT_LENGTH");
	req.request_id = param(c, "HTTP_X_REQUEST_ID");
	req.read = read_body;
	req.source = c;
	api_handle(ctx, &req, &res);
	sent = respond(c, &res, req.method && strcmp(req.method, "HEAD") == 0) == 0;
	api_finish(ctx, &res, sent);
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

struct options {
	const char *listen_addr; /* NULL: spawned, or CGI */
	const char *dir;         /* NULL: registry_default_dir() */
	int backlog;
	bool check;
};

/* -1 to go on, else the exit status (--help: 0, usage error: 2). */
static int parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){.backlog = 64};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			o->listen_addr = argv[++i];
		} else if (strcmp(argv[i], "--backlog") == 0 && i + 1 < argc) {
			long v;

			if (span_to_long(span_cstr(argv[++i]), 1, 65535, &v) < 0) {
				fprintf(
				    stderr,
				    "digits.fcgi: --backlog %s: want an integer from 1 to 65535\n",
				    argv[i]);
				return 2;
			}
			o->backlog = (int)v; /* <= 65535 */
		} else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) {
			o->dir = argv[++i];
		} else if (strcmp(argv[i], "--check") == 0) {
			o->check = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "digits.fcgi: unknown argument %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	return -1;
}

/* One request at a time per process: with max-procs = cores, one thread
 * each uses every core without oversubscribing. */
static int set_threads(void)
{
	const char *env = getenv("DIGITS_THREADS");
	long threads = 1;

	if (env && *env && span_to_long(span_cstr(env), 1, 1024, &threads) < 0) {
		fprintf(stderr, "digits.fcgi: DIGITS_THREADS=%s: want 1 to 1024\n", env);
		return -1;
	}
#ifdef _OPENMP
	omp_set_num_threads((int)threads); /* <= 1024 */
#endif
	return 0;
}

/* Answer requests the way the process was started; the exit status. */
static int run(struct api_ctx *ctx, const struct options *o)
{
	struct sigaction sa;
	int sock;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term; /* no SA_RESTART: accept() must return */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0) {
		fprintf(stderr, "digits.fcgi: FCGX_Init failed\n");
		return 1;
	}
	if (o->listen_addr) {
		sock = FCGX_OpenSocket(o->listen_addr, o->backlog);
		if (sock < 0) {
			fprintf(stderr, "digits.fcgi: cannot listen on %s: %s\n", o->listen_addr,
			        strerror(errno));
			return 1;
		}
		fprintf(stderr, "digits.fcgi: pid %ld listening on %s\n", (long)getpid(),
		        o->listen_addr);
		return serve_fastcgi(ctx, sock);
	}
	if (FCGX_IsCGI()) {
		struct conn c = {NULL};

		if (!getenv("REQUEST_METHOD")) {
			fprintf(stderr,
			        "digits.fcgi: not started by a web server (no REQUEST_METHOD "
			        "and stdin is not a FastCGI socket); see --help\n");
			return 2;
		}
		serve(ctx, &c);
		return 0;
	}
	return serve_fastcgi(ctx, 0);
}

static void list_models(const struct registry *reg)
{
	for (int i = 0; i < registry_count(reg); i++) {
		const struct registry_model_info *m = registry_model_info(reg, i);

		printf("%s %s %s\n", m->name, m->version, m->file);
	}
}

int main(int argc, char **argv)
{
	struct options o;
	struct registry *reg;
	struct api_config cfg;
	struct api_ctx *ctx;
	struct dg_error err;
	int rc = parse_args(argc, argv, &o);

	if (rc >= 0)
		return rc;
	if (api_config_from_env(&cfg, &err) < 0) {
		fprintf(stderr, "digits.fcgi: %s\n", err.msg);
		return 2;
	}
	if (set_threads() < 0)
		return 2;
	if (registry_load(&reg, o.dir ? o.dir : registry_default_dir(), cfg.max_images, &err) < 0) {
		fprintf(stderr, "digits.fcgi: refusing to start: %s\n", err.msg);
		return 1;
	}
	if (api_ctx_create(&ctx, &cfg, reg, &err) < 0) {
		fprintf(stderr, "digits.fcgi: %s\n", err.msg);
		registry_free(reg);
		return 1;
	}
	if (o.check) {
		list_models(reg);
		rc = fflush(stdout) == 0 ? 0 : 1;
	} else {
		rc = run(ctx, &o);
	}
	api_ctx_free(ctx);
	registry_free(reg);
	return rc;
}
