/*
 * fuzz_common.c - what every harness links: the in-memory input file.
 * No leak is suppressed: libgd 2.3.3's AVIF reader, which leaks on
 * refusals (libgd issue #831), is no longer called (src/image/image_avif.c
 * drives libavif itself).
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
