/*
 * bench_worst.c - the worst file of each format (tests/worst_files.h) at
 * the default limits (4096 x 4096 declared, 8 MiB), through
 * image_to_mnist: milliseconds and peak memory.  Prints a table; asserts
 * nothing.
 *
 * Each file is decoded in a fresh child process (fork), three times; the
 * table shows the fastest of the three and how far the child's peak
 * resident memory (VmHWM) rose above what it held before decoding.  A
 * request holds at most DIGITS_MAX_PIXELS declared pixels (default one
 * 4096 x 4096 picture), so the slowest row is the worst request's decoding
 * time under the default limits.
 *
 * Usage: bench_worst [SIDE]   (default 4096)
 */
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "worst_files.h"

/* A line of /proc/self/status in kB ("VmHWM", "VmRSS"), -1 if absent. */
static long status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	size_t n = strlen(key);

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			kb = strtol(line + n + 1, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

/* In the child: decode three times, send back {ms, peak MB}, print a row. */
static void measure(const struct worst_kind *k, struct blob b, int fd)
{
	long before = status_kb("VmRSS");
	double best = 1e30, r[2];
	float out[IMAGE_PIXELS];
	struct image_info info;
	struct dg_error err = {0};
	int rc = 0;

	for (int i = 0; i < 3; i++) {
		double t0 = bench_now_ms();

		rc = image_to_mnist(b.p, (size_t)b.n, NULL, out, &info, &err);
		if (bench_now_ms() - t0 < best)
			best = bench_now_ms() - t0;
	}
	r[0] = best;
	r[1] = (status_kb("VmHWM") - before) / 1024.0;
	printf("%-18s %10d %6dx%-6d %9.1f %9.1f  %s\n", k->name, b.n, info.width, info.height, r[0],
	       r[1], rc == 0 ? "ok" : err.msg);
	fflush(stdout);
	if (write(fd, r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	int side = argc > 1 ? atoi(argv[1]) : 4096;
	struct image_limits lim;
	double worst = 0;
	const char *worst_name = "none";

	image_limits_default(&lim);
	if (side < 28 || side > lim.max_width) {
		fprintf(stderr, "usage: bench_worst [SIDE]   (28 to %d)\n", lim.max_width);
		return 2;
	}
	printf("worst files at %dx%d, %zu bytes at most: image_to_mnist, best of 3,\n"
	       "each in a fresh process; peak = VmHWM rise while decoding\n\n",
	       side, side, lim.max_bytes);
	printf("%-18s %10s %13s %9s %9s  %s\n", "format", "bytes", "decoded", "ms", "peak MB",
	       "result");
	for (size_t i = 0; i < WORST_N; i++) {
		struct blob b = worst_file(worst_kinds[i].name, side, lim.max_bytes);
		int fds[2], status;
		double r[2] = {0, 0};
		pid_t pid;

		if (!b.p) {
			printf("%-18s %10s  (this libgd cannot write it within the limits)\n",
			       worst_kinds[i].name, "-");
			continue;
		}
		/* Free heap pages the child would inherit resident would hide
		 * its decoding's growth. */
		malloc_trim(0);
		fflush(stdout);
		if (pipe(fds) < 0 || (pid = fork()) < 0) {
			perror("bench_worst");
			return 1;
		}
		if (pid == 0) {
			close(fds[0]);
			measure(&worst_kinds[i], b, fds[1]);
		}
		close(fds[1]);
		if (read(fds[0], r, sizeof(r)) == (ssize_t)sizeof(r) && r[0] > worst) {
			worst = r[0];
			worst_name = worst_kinds[i].name;
		}
		close(fds[0]);
		waitpid(pid, &status, 0);
		free(b.p);
	}
	printf("\nslowest: %s, %.0f ms: the decoding part of the worst request when\n"
	       "DIGITS_MAX_PIXELS is one %dx%d picture (the default is %dx%d)\n",
	       worst_name, worst, side, side, lim.max_width, lim.max_height);
	return 0;
}
