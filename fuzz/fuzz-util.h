/* fuzz-util.h - what the libFuzzer targets share: a failed invariant aborts
 * with its reason (libFuzzer then saves the input), and a file-descriptor
 * leak check that works across iterations. */
#pragma once

#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* An invariant the code under test broke: say which and where, then crash
 * so that libFuzzer records the input as a finding. */
static void __attribute__((noreturn, format(printf, 4, 5)))
fuzz_fail_at(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: fuzz invariant violated (%s): ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* FUZZ_CHECK(cond, fmt, ...): the message says what the code did instead. */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail_at(__FILE__, __LINE__, #cond, __VA_ARGS__);                      \
	} while (0)

/* The lowest free descriptor number. Taken as an input starts and compared
 * when it is done: a descriptor the code under test forgot to close shows up
 * as a higher number. Per input, not once: the sanitizer runtime may open
 * descriptors of its own between inputs (a symbolizer's pipes). */
static inline int
fuzz_lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	FUZZ_CHECK(fd >= 0, "cannot open /dev/null");
	close(fd);
	return fd;
}

static inline void
fuzz_check_no_fd_leak(int baseline, const char *where)
{
	int now = fuzz_lowest_free_fd();

	FUZZ_CHECK(now <= baseline, "%s: descriptor %d was free before the input and is left open",
		   where, baseline);
	FUZZ_CHECK(now >= baseline,
		   "%s: descriptor %d was in use before the input and has been closed", where, now);
}
