/*
 * bench_cgi.c - what one request costs digits.fcgi run as plain CGI: the
 * whole process, from fork to exit, the way mod_cgi runs it (environment +
 * stdin, one request, stdout read to the end).
 *
 * usage: bench_cgi PROGRAM RUNS [NAME=FILE...]
 * Runs GET /api/v1/health, then POST /api/v1/predict with each FILE as the
 * body (Content-Type application/octet-stream: the format comes from the
 * bytes), RUNS times each, and prints the median, 10th and 90th percentile
 * wall time in ms, and the median CPU time (user + system) of the process,
 * which a busy machine disturbs less.  A run that does not answer
 * "Status: 200" is reported and makes the exit status 1.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* One run; returns the wall time in ms and sets *cpu, or -1 when it did
 * not answer 200. */
static double run_once(const char *prog, const char *file, char **envp, double *cpu)
{
	struct rusage ru;
	int out[2];
	char buf[4096], head[16] = {0};
	size_t got = 0;
	ssize_t n;
	double t0 = bench_now_ms();
	pid_t pid;
	int status;

	if (pipe(out) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int in = open(file ? file : "/dev/null", O_RDONLY);
		int null = open("/dev/null", O_WRONLY);

		if (in < 0 || null < 0)
			_exit(127);
		dup2(in, 0);
		dup2(out[1], 1);
		dup2(null, 2); /* the log line */
		close(out[0]);
		execle(prog, prog, (char *)NULL, envp);
		_exit(127);
	}
	close(out[1]);
	while ((n = read(out[0], buf, sizeof(buf))) > 0) {
		if (got < sizeof(head) - 1) {
			size_t k =
			    sizeof(head) - 1 - got < (size_t)n ? sizeof(head) - 1 - got : (size_t)n;
			memcpy(head + got, buf, k);
			got += k;
		}
	}
	close(out[0]);
	if (wait4(pid, &status, 0, &ru) < 0)
		return -1;
	*cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	if (!WIFEXITED(status) || WEXITSTATUS(status) || strncmp(head, "Status: 200", 11))
		return -1;
	return bench_now_ms() - t0;
}

static int measure(const char *prog, const char *name, const char *file, int runs)
{
	static char len_var[64];
	const char *model_dir = getenv("DIGITS_MODEL_DIR");
	char model_var[4096];
	char *envp[] = {"PATH=/usr/bin:/bin",
	                "GATEWAY_INTERFACE=CGI/1.1",
	                file ? "REQUEST_METHOD=POST" : "REQUEST_METHOD=GET",
	                file ? "PATH_INFO=/api/v1/predict" : "PATH_INFO=/api/v1/health",
	                "SCRIPT_NAME=/cgi-bin/digits.fcgi",
	                "CONTENT_TYPE=application/octet-stream",
	                len_var,
	                model_dir ? model_var : NULL,
	                NULL};
	double *ms = calloc((size_t)runs * 2, sizeof(double)), *cpu = ms + runs;
	struct stat st;
	int failed = 0;

	if (!ms)
		return -1;
	snprintf(model_var, sizeof(model_var), "DIGITS_MODEL_DIR=%s", model_dir ? model_dir : "");
	snprintf(len_var, sizeof(len_var), "CONTENT_LENGTH=%lld",
	         file && stat(file, &st) == 0 ? (long long)st.st_size : 0LL);
	for (int i = 0; i < runs; i++) {
		ms[i] = run_once(prog, file, envp, &cpu[i]);
		failed += ms[i] < 0;
	}
	if (failed) {
		printf("%-8s %d of %d runs did not answer 200\n", name, failed, runs);
		free(ms);
		return -1;
	}
	qsort(ms, (size_t)runs, sizeof(double), bench_cmp_double);
	qsort(cpu, (size_t)runs, sizeof(double), bench_cmp_double);
	printf("%-8s %8.2f %8.2f %8.2f %8.2f\n", name, ms[runs / 2], ms[runs / 10],
	       ms[runs - 1 - runs / 10], cpu[runs / 2]);
	free(ms);
	return 0;
}

int main(int argc, char **argv)
{
	int runs, rc = 0;

	if (argc < 3 || (runs = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: bench_cgi PROGRAM RUNS [NAME=FILE...]\n");
		return 2;
	}
	printf("%s as plain CGI, %d runs each, wall ms per request\n", argv[1], runs);
	printf("%-8s %8s %8s %8s %8s\n", "request", "median", "p10", "p90", "cpu");
	rc |= measure(argv[1], "health", NULL, runs);
	for (int i = 3; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq) {
			fprintf(stderr, "bench_cgi: %s: expected NAME=FILE\n", argv[i]);
			return 2;
		}
		*eq = '\0';
		rc |= measure(argv[1], argv[i], eq + 1, runs);
	}
	return rc ? 1 : 0;
}
