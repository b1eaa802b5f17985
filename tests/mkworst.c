/*
 * mkworst.c - write the worst file of one kind (tests/worst_files.h), for
 * tests/test_limits.sh.
 *
 *   mkworst KIND SIDE OUT [MAX_BYTES]   KIND: png8 png16 png16-interlaced jpeg ...
 *
 * MAX_BYTES bounds the file (JPEG lowers its quality to fit; default 1 GiB).
 *
 * Exit 77 when this libgd cannot write the kind (the caller skips), 1 on
 * other errors.
 */
#include "config.h"

#include <stdio.h>

#include "worst_files.h"

/* libgd 2.3.3 (Debian 12) leaks in its AVIF and HEIF writers: not our
 * code, so exactly that is suppressed when CI runs us under ASan (as in
 * test_image.c); without ASan this function is never called. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:gdImageAvifPtrEx\nleak:gdImageHeifPtrEx\nleak:libavif.so\nleak:libx265.so\n";
}

int main(int argc, char **argv)
{
	size_t max_bytes = argc == 5 ? strtoul(argv[4], NULL, 10) : (size_t)1 << 30;
	struct blob b;
	FILE *f;
	int side;

	if (argc < 4 || argc > 5 || (side = atoi(argv[2])) < 1 || side > 65535 || !max_bytes) {
		fprintf(stderr, "usage: mkworst KIND SIDE OUT [MAX_BYTES]\n");
		return 1;
	}
	b = worst_file(argv[1], side, max_bytes);
	if (!b.p) {
		fprintf(stderr, "mkworst: cannot write %s at %d\n", argv[1], side);
		return 77;
	}
	f = fopen(argv[3], "wb");
	if (!f || fwrite(b.p, 1, (size_t)b.n, f) != (size_t)b.n || fclose(f) != 0) {
		perror(argv[3]);
		return 1;
	}
	free(b.p);
	return 0;
}
