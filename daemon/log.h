/* log.h - logging: structured journal entries under systemd, stderr otherwise.
 * Only the caller that decides logs, once. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

/* to_journal: send to the journal (set when JOURNAL_STREAM/INVOCATION_ID show
 * we run under systemd); max_level: LOG_ERR..LOG_DEBUG. */
void p2pb_log_init(bool to_journal, int max_level);

/* device: a BDF string attached as the P2PB_DEVICE= journal field and printed
 * as a prefix on stderr, or NULL. Returns -abs(err) when err != 0, else 0, so
 * callers can write `return p2pb_log_errno(LOG_ERR, r, NULL, "...")`. */
int p2pb_log_full(int level, int err, const char *device, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_error(...)		   p2pb_log_full(LOG_ERR, 0, NULL, __VA_ARGS__)
#define log_warning(...)	   p2pb_log_full(LOG_WARNING, 0, NULL, __VA_ARGS__)
#define log_notice(...)		   p2pb_log_full(LOG_NOTICE, 0, NULL, __VA_ARGS__)
#define log_info(...)		   p2pb_log_full(LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_debug(...)		   p2pb_log_full(LOG_DEBUG, 0, NULL, __VA_ARGS__)
#define log_errno(level, err, ...) p2pb_log_full(level, err, NULL, __VA_ARGS__)
#define log_dev(level, bdf, ...)   p2pb_log_full(level, 0, bdf, __VA_ARGS__)
