/* context.h - the one struct that owns all of p2pbrokerd's state: the event
 * loop, the server, the current topology with its verdict context, options,
 * signal and timer events. Nothing else in the daemon is mutable and global. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "topology.h"
#include "verdict.h"

struct event;
struct event_base;
struct p2pb_deferred;
struct p2pb_rescan;
struct p2pb_server;
struct p2pb_uevent;
struct rescan_waiter;

/* How a topology is read: p2pb_scan() (daemon/scan.h); tests substitute
 * slow or failing scans. Runs on the rescan worker thread. */
typedef int (*p2pb_scan_fn)(const char *root, struct p2pb_topology **ret);

struct p2pb_options {
	const char *root;	 /* filesystem root to scan; NULL: the real system */
	const char *socket_path; /* used when not socket-activated */
	bool foreground;
	int log_level; /* LOG_ERR..LOG_DEBUG */
	int ready_fd;  /* written "READY=1\n" and closed once serving; -1: none */
};

struct p2pb_context {
	struct p2pb_options opts;
	struct event_base *base;
	struct p2pb_server *server;

	/* Swapped together, only between events, by p2pb_context_install() or
	 * when a scan from the worker thread ends. Immutable once installed. */
	struct p2pb_topology *topo;
	struct p2pb_verdict_ctx *vctx;
	uint64_t generation;
	size_t n_providers; /* devices with published p2pmem */

	/* Rescans run on a worker thread (daemon/rescan.h); rescan requests
	 * from clients wait in waiters, each for the scan numbered its seq. */
	p2pb_scan_fn scan;
	struct p2pb_rescan *rescan;
	struct rescan_waiter *waiters;
	uint64_t reload_seq; /* SIGHUP: READY=1 once this scan ends; 0: none */

	uint64_t start_usec;	 /* CLOCK_MONOTONIC at start */
	uint64_t last_scan_usec; /* duration of the last successful scan */

	struct p2pb_uevent *uevent; /* NULL with --root: no uevents for fixtures */
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *watchdog;
	uint64_t watchdog_usec; /* 0: no watchdog */
};

/* A context with an event base and a server but no topology and no sockets.
 * Returns 0 or -errno; *ret untouched on failure. */
int p2pb_context_new(const struct p2pb_options *opts, struct p2pb_context **ret);
struct p2pb_context *p2pb_context_free(struct p2pb_context *c);

/* Make t the current topology (taking ownership): builds its verdict context,
 * bumps the generation and frees the old pair. On failure t is freed and the
 * old topology stays. Returns 0 or -errno. */
int p2pb_context_install(struct p2pb_context *c, struct p2pb_topology *t);

/* Scan opts.root on this thread and install the result; on failure the old
 * topology stays and the reason is logged. why names the trigger in the log.
 * For start-up, before the loop runs. Returns 0, -EBUSY while a scan runs on
 * the worker thread, or -errno. */
int p2pb_context_rescan(struct p2pb_context *c, const char *why);

/* Rescan on the worker thread while the loop goes on serving the current
 * topology; the result is installed in one step when the scan ends. When a
 * scan is already running, one more runs after it, shared with every request
 * made meanwhile, so the answer always comes from a scan begun after the
 * call. d, when not NULL, is answered then through
 * p2pb_handle_rescan_done(). why is static text naming the trigger. Returns
 * 0, or -errno when no scan can start (d is then left to the caller). */
int p2pb_context_request_rescan(struct p2pb_context *c, const char *why, struct p2pb_deferred *d);

/* Listen (socket activation or opts.socket_path), install signal handlers,
 * the watchdog and the uevent monitor, and tell systemd we are ready. Call
 * after the first successful scan. Returns 0 or -errno. */
int p2pb_context_start(struct p2pb_context *c);

/* Run the event loop until SIGTERM/SIGINT. Returns 0 or -errno. */
int p2pb_context_run(struct p2pb_context *c);

uint64_t p2pb_now_usec(void);
