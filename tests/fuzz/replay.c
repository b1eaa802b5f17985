/*
 * replay.c - a harness without libFuzzer: every file of the target's seed
 * corpus and regression directory through LLVMFuzzerTestOneInput once, as a
 * TAP test (one result per file), so `make check` (gcc, and the ASan build
 * in CI) keeps every input that ever mattered passing.
 *
 * The target is compiled in (FUZZ_TARGET); the files are read from
 * $top_srcdir/tests/fuzz/{corpus,regress}/FUZZ_TARGET.  A crash, a sanitizer
 * report or a fuzz_check ends the process, which the TAP driver reports as a
 * failure after the "# file" line naming the input.
 */
#include "fuzz.h"

#include <dirent.h>
#include <string.h>

#include "../tap.h"

#define REPLAY_MAX_BYTES (16 << 20) /* larger than any committed input */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The input as its own malloc'ed block, so ASan sees a read past its end. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(REPLAY_MAX_BYTES);
	size_t n;
	int rc = -1;

	if (f && buf) {
		n = fread(buf, 1, REPLAY_MAX_BYTES, f);
		if (!ferror(f) && feof(f)) {
			uint8_t *exact = malloc(n ? n : 1);

			if (exact) {
				memcpy(exact, buf, n);
				diag("file %s (%zu bytes)", path, n);
				LLVMFuzzerTestOneInput(exact, n);
				free(exact);
				rc = 0;
			}
		}
	}
	if (f)
		fclose(f);
	free(buf);
	return rc;
}

/* Every regular file of dir, in name order (README files excepted). */
static void replay_dir(const char *top, const char *kind, int *files)
{
	char dir[4096], path[8192];
	char *names[4096];
	struct dirent *d;
	int n = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/%s/%s", top, kind, FUZZ_TARGET);
	if (!(dp = opendir(dir))) {
		ok(0, "%s: cannot open %s", FUZZ_TARGET, dir);
		return;
	}
	while ((d = readdir(dp)) && n < (int)(sizeof(names) / sizeof(names[0])))
		if (d->d_name[0] != '.' && strcmp(d->d_name, "README") != 0)
			names[n++] = strdup(d->d_name);
	closedir(dp);
	qsort(names, (size_t)n, sizeof(names[0]), by_name);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		ok(names[i] && replay_file(path) == 0, "%s %s/%s", FUZZ_TARGET, kind, names[i]);
		free(names[i]);
		(*files)++;
	}
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	int files = 0;

	if (!top || !*top)
		top = ".";
	replay_dir(top, "corpus", &files);
	replay_dir(top, "regress", &files);
	ok(files > 0, "%s: %d inputs replayed", FUZZ_TARGET, files);
	return tap_done();
}
