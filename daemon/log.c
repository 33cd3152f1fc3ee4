/* log.c - logging for p2pbrokerd: structured journal entries (MESSAGE,
 * PRIORITY, ERRNO, P2PB_DEVICE) under systemd, plain lines on stderr otherwise.
 * The logging target is process-wide state by nature, set once at start. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <systemd/sd-journal.h>

#include "log.h"

static struct {
	bool to_journal;
	int max_level;
} log_target = { .to_journal = false, .max_level = LOG_INFO };

static const char *const level_names[] = {
	[LOG_EMERG] = "emergency", [LOG_ALERT] = "alert",     [LOG_CRIT] = "critical",
	[LOG_ERR] = "error",	   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",	   [LOG_DEBUG] = "debug",
};

void
p2pb_log_init(bool to_journal, int max_level)
{
	log_target.to_journal = to_journal;
	if (max_level < LOG_EMERG)
		max_level = LOG_EMERG;
	if (max_level > LOG_DEBUG)
		max_level = LOG_DEBUG;
	log_target.max_level = max_level;
}

static void
log_to_journal(int level, int err, const char *device, const char *text)
{
	char prio[16], errno_field[32];
	char *msg = NULL, *dev = NULL;
	struct iovec iov[5];
	size_t n = 0;

	if (asprintf(&msg, "MESSAGE=%s%s%s", text, err ? ": " : "", err ? strerror(err) : "") < 0)
		return;
	iov[n++] = (struct iovec){ msg, strlen(msg) };
	snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
	iov[n++] = (struct iovec){ prio, strlen(prio) };
	iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=p2pbrokerd", 28 };
	if (err) {
		snprintf(errno_field, sizeof(errno_field), "ERRNO=%d", err);
		iov[n++] = (struct iovec){ errno_field, strlen(errno_field) };
	}
	if (device && asprintf(&dev, "P2PB_DEVICE=%s", device) >= 0)
		iov[n++] = (struct iovec){ dev, strlen(dev) };
	sd_journal_sendv(iov, (int)n);
	free(dev);
	free(msg);
}

static void
log_to_stderr(int level, int err, const char *device, const char *text)
{
	fprintf(stderr, "p2pbrokerd: %s: %s%s%s%s%s\n", level_names[level], device ? device : "",
		device ? ": " : "", text, err ? ": " : "", err ? strerror(err) : "");
}

int
p2pb_log_full(int level, int err, const char *device, const char *fmt, ...)
{
	int saved = errno;
	err = err < 0 ? -err : err;
	if (level < LOG_EMERG || level > LOG_DEBUG)
		level = LOG_ERR;
	if (level <= log_target.max_level) {
		char text[2048];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(text, sizeof(text), fmt, ap);
		va_end(ap);
		if (log_target.to_journal)
			log_to_journal(level, err, device, text);
		else
			log_to_stderr(level, err, device, text);
	}
	errno = saved;
	return -err;
}
