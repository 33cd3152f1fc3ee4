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

/* The lowest free descriptor number. Taken once before the first input and
 * compared after each one: any descriptor the code under test forgot to
 * close shows up as a higher number. */
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

	FUZZ_CHECK(now <= baseline, "%s: descriptor %d was free before and is left open", where,
		   baseline);
	FUZZ_CHECK(now >= baseline, "%s: descriptor %d was in use before and has been closed",
		   where, now);
}
