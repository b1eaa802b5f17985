/*
 * fuzz_common.c - what every harness links: the in-memory input file, and
 * the leaks LeakSanitizer is told to ignore.
 */
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

int fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t cap)
{
	int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	if ((size_t)snprintf(path, cap, "/proc/self/fd/%d", fd) >= cap) {
		close(fd);
		return -1;
	}
	return fd;
}

/* libgd 2.3.3 (Debian 12) leaks in its AVIF reader (libgd issue #831, fixed
 * upstream after 2.3.3), which the image and API targets reach with every
 * AVIF input: not our code, so exactly that is suppressed, as test_image
 * does.  The fast unwinder stops inside libavif (no frame pointers), hence
 * the module name.  Only sanitizer builds call this. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:gdImageCreateFromAvifCtx\nleak:libavif.so\n";
}
