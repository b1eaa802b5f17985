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
 * serves.  One request at a time per process; SIGTERM, or the
 * DIGITS_MAX_REQUESTS-th request, makes the process leave: it removes its
 * socket's name (so the web server's next connect fails at once and goes to
 * another process), answers the connections already queued on the socket,
 * then exits with status 0.
 *
 * Started as root, the program becomes DIGITS_USER (default nobody) before
 * it reads a model or a request, and refuses to go on if it cannot.
 * FastCGI processes count into the service's shared metrics segment, named
 * after the socket they serve (metrics.h).
 *
 * Nothing here writes a request to disk or runs another program: a body is
 * read into memory (api.c), and the only files opened are the models.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "service/api.h"
#include "service/metrics.h"
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

/* One JSON line on stderr for an event that is not a request (the log's
 * other lines are requests, log.h). */
static void log_event(const char *event, const char *message)
{
	struct json_object *o = json_object_new_object();
	struct timespec ts;
	struct tm tm;
	char when[64];
	const char *line;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "pid", json_object_new_int64((int64_t)getpid()));
	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, "message", json_object_new_string(message));
	line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (line)
		dprintf(2, "%s\n", line);
	json_object_put(o);
}

/* The path of a unix socket, or "" for another kind. */
static void socket_path(int sock, char *out, size_t cap)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);

	out[0] = '\0';
	if (getsockname(sock, (struct sockaddr *)&sa, &len) == 0 && sa.sun_family == AF_UNIX &&
	    len > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0] == '/')
		snprintf(out, cap, "%.*s", (int)(len - offsetof(struct sockaddr_un, sun_path)),
		         sa.sun_path);
}

/* Stop taking new connections: remove the socket's name, so that a web
 * server's connect fails at once (lighttpd then tries another process)
 * instead of queueing behind a process that is leaving; and make accept
 * non-blocking, so that the connections already queued are answered and
 * then FCGX_Accept_r fails. */
static void start_leaving(int sock)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];

	socket_path(sock, path, sizeof(path));
	if (path[0])
		unlink(path);
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
}

#define RECYCLE (-1) /* serve_fastcgi's answer after DIGITS_MAX_REQUESTS requests */

/* Answer requests on sock until SIGTERM (the exit status) or, with
 * max_requests > 0, until that many are answered (RECYCLE). */
static int serve_fastcgi(struct api_ctx *ctx, int sock, long max_requests)
{
	FCGX_Request request;
	struct conn c = {&request};
	sigset_t term;
	int leaving = 0, rc = 0;
	long served = 0;

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
		if (stopping && !leaving) {
			start_leaving(sock);
			leaving = 1;
		}
		if (FCGX_Accept_r(&request) < 0)
			break;
		sigprocmask(SIG_BLOCK, &term, NULL);
		serve(ctx, &c);
		FCGX_Finish_r(&request);
		/* SIGTERM stays blocked (pending, if sent) into the new image. */
		if (max_requests && ++served >= max_requests && !leaving) {
			rc = RECYCLE;
			break;
		}
	}
	FCGX_Free(&request, 1);
	return rc;
}

static void usage(FILE *f)
{
	fputs("usage: digits.fcgi [--listen HOST:PORT | --listen /path.sock] [--backlog N]\n"
	      "                   [--models DIR] [--check]\n"
	      "Serves the digits HTTP API over FastCGI (spawned by a web server, or on its own\n"
	      "socket with --listen) or as plain CGI.  --check loads the models and exits.\n"
	      "Environment: DIGITS_MODEL_DIR, DIGITS_THREADS (default 1), DIGITS_MAX_BODY,\n"
	      "DIGITS_MAX_IMAGES, DIGITS_MAX_SIDE, DIGITS_MAX_REQUESTS (default 0: no limit),\n"
	      "DIGITS_USER (as root; default nobody), DIGITS_METRICS_SHM (a service name for\n"
	      "the shared metrics, or off), FCGI_WEB_SERVER_ADDRS (with --listen).\n",
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

/* Started as root, become DIGITS_USER (default nobody) for good: groups,
 * group and user, checked, before any model or request is read.  An empty
 * DIGITS_USER keeps root where a web server chose to run us so (a
 * development fallback, said on stderr), never with --listen. */
static int drop_privileges(bool listening)
{
	const char *user = getenv("DIGITS_USER");
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if (user && !*user) {
		fprintf(stderr, "digits.fcgi: %s as root (DIGITS_USER is empty)\n",
		        listening ? "refusing to serve" : "warning: serving");
		return listening ? -1 : 0;
	}
	if (!user)
		user = "nobody";
	pw = getpwnam(user);
	if (!pw || pw->pw_uid == 0) {
		fprintf(stderr, "digits.fcgi: refusing to serve as root: DIGITS_USER=%s is %s\n",
		        user, pw ? "root" : "not a user");
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "digits.fcgi: refusing to serve as root: cannot become %s: %s\n",
		        user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		fprintf(stderr, "digits.fcgi: refusing to serve: could become root again\n");
		return -1;
	}
	return 0;
}

/* DIGITS_MAX_REQUESTS: requests a process answers before it leaves (0 and
 * unset: no limit), into *out; -1 with a message if malformed. */
static int max_requests(long *out)
{
	const char *env = getenv("DIGITS_MAX_REQUESTS");

	*out = 0;
	if (env && *env && span_to_long(span_cstr(env), 0, LONG_MAX, out) < 0) {
		fprintf(stderr, "digits.fcgi: DIGITS_MAX_REQUESTS=%s: want an integer >= 0\n", env);
		return -1;
	}
	return 0;
}

/* The socket requests come on: --listen's, or the web server's on fd 0;
 * -1 for CGI (*cgi set) or an error (said on stderr). */
static int open_socket(const struct options *o, bool *cgi)
{
	int sock;

	*cgi = false;
	if (FCGX_Init() != 0) {
		fprintf(stderr, "digits.fcgi: FCGX_Init failed\n");
		return -1;
	}
	if (!o->listen_addr) {
		*cgi = FCGX_IsCGI();
		return *cgi ? -1 : 0;
	}
	sock = FCGX_OpenSocket(o->listen_addr, o->backlog);
	if (sock < 0)
		fprintf(stderr, "digits.fcgi: cannot listen on %s: %s\n", o->listen_addr,
		        strerror(errno));
	return sock;
}

/* After DIGITS_MAX_REQUESTS: start this program afresh in this process.
 * The listening socket stays open across exec as fd 0 (where a web server
 * puts it), so the connections queued on it wait a few ms for the new image
 * instead of failing, and the web server sees no process die: lighttpd
 * 1.4.69 would disable a vanished backend for a second and restart it only
 * on its next one-second tick, answering 503 meanwhile if every process is
 * recycling.  The new image has all its memory fresh, which is the point.
 * Returns only if exec fails. */
static void recycle(int sock, const struct options *o, const char *service, long served)
{
	char *argv[4] = {(char *)"digits.fcgi", NULL, NULL, NULL};
	char msg[128];

	if (o->dir) {
		argv[1] = (char *)"--models";
		argv[2] = (char *)o->dir;
	}
	if (sock != 0 && dup2(sock, 0) < 0)
		return;
	fcntl(0, F_SETFD, 0);
	if (service[0])
		setenv("DIGITS_METRICS_SHM", service, 1); /* the same service, seen from fd 0 */
	snprintf(msg, sizeof(msg), "served %ld requests (DIGITS_MAX_REQUESTS): starting afresh",
	         served);
	log_event("recycle", msg);
	execv("/proc/self/exe", argv);
	snprintf(msg, sizeof(msg), "cannot start afresh: %s: exiting", strerror(errno));
	log_event("recycle", msg);
}

#define SERVICE_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) + 1)

/* Attach to the service's metrics segment: DIGITS_METRICS_SHM names the
 * service (off: none), else the socket does; the name used goes into
 * service[SERVICE_MAX].  On failure the process counts alone and says so
 * in one log line; it still serves. */
static void share_metrics(int sock, const struct options *o, char *service)
{
	const char *env = getenv("DIGITS_METRICS_SHM");
	char name[64], msg[DG_ERROR_MAX + 64];
	struct dg_error err;

	if (env && *env)
		snprintf(service, SERVICE_MAX, "%s", env);
	else if (o->listen_addr)
		snprintf(service, SERVICE_MAX, "%s", o->listen_addr);
	else
		socket_path(sock, service, SERVICE_MAX);
	if (!service[0]) /* TCP from a spawner: its processes share a parent */
		snprintf(service, SERVICE_MAX, "fd0-%ld", (long)getppid());
	if (strcmp(service, "off") == 0)
		return;
	metrics_shared_name(service, name);
	if (metrics_shared_open(name, &err) < 0) {
		snprintf(msg, sizeof(msg), "metrics are this process's only: %s", err.msg);
		log_event("metrics_private", msg);
	}
}

/* Answer requests the way the process was started; the exit status. */
static int run(struct api_ctx *ctx, int sock, bool cgi, long max)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term; /* no SA_RESTART: accept() must return */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (cgi) {
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
	return serve_fastcgi(ctx, sock, max);
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
	int sock = -1, rc = parse_args(argc, argv, &o);
	bool cgi = false;
	char service[SERVICE_MAX] = "";
	const char *dir;
	long max;

	if (rc >= 0)
		return rc;
	if (api_config_from_env(&cfg, &err) < 0) {
		fprintf(stderr, "digits.fcgi: %s\n", err.msg);
		return 2;
	}
	if (set_threads() < 0 || max_requests(&max) < 0)
		return 2;
	/* The socket first (a privileged port needs root), then nothing as root. */
	if (!o.check && (sock = open_socket(&o, &cgi)) < 0 && !cgi)
		return 1;
	if (!o.check && drop_privileges(o.listen_addr != NULL) < 0)
		return 1;
	dir = o.dir ? o.dir : registry_default_dir();
	/* Plain CGI answers one request: read each model when it is used.
	 * --check and servers read and check every model before serving. */
	if (!o.check && cgi)
		rc = registry_load_lazy(&reg, dir, cfg.max_images, &err);
	else
		rc = registry_load(&reg, dir, cfg.max_images, &err);
	if (rc < 0) {
		fprintf(stderr, "digits.fcgi: refusing to start: %s\n", err.msg);
		return 1;
	}
	if (!o.check && !cgi)
		share_metrics(sock, &o, service);
	if (api_ctx_create(&ctx, &cfg, reg, &err) < 0) {
		fprintf(stderr, "digits.fcgi: %s\n", err.msg);
		metrics_shared_close(false);
		registry_free(reg);
		return 1;
	}
	if (o.check) {
		list_models(reg);
		rc = fflush(stdout) == 0 ? 0 : 1;
	} else {
		if (o.listen_addr)
			fprintf(stderr, "digits.fcgi: pid %ld listening on %s\n", (long)getpid(),
			        o.listen_addr);
		rc = run(ctx, sock, cgi, max);
	}
	/* Stopped by a signal: the service may be going away, and the last
	 * process out removes the segment; recycled, it goes on counting. */
	metrics_shared_close(stopping);
	api_ctx_free(ctx);
	registry_free(reg);
	if (rc == RECYCLE) {
		recycle(sock, &o, service, max);
		rc = 1;
	}
	return rc;
}
