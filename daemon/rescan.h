/* rescan.h - scans off the event loop: one worker thread at a time builds a
 * topology and its verdict context, then wakes the loop, which installs it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "topology.h"
#include "verdict.h"

struct event_base;
struct p2pb_rescan;

/* One scan: what asked for it, and what it produced. */
struct p2pb_scan_outcome {
	uint64_t seq;	 /* scans are numbered from 1 in the order they start */
	const char *why; /* the trigger of the first request it serves (static text) */
	int error;	 /* 0 or -errno */
	struct p2pb_topology *topo;
	struct p2pb_verdict_ctx *vctx;
	uint64_t scan_usec;
};

struct p2pb_rescan_ops {
	/* Runs on the worker thread and fills error or topo + vctx. It may
	 * only read what the event loop leaves unchanged while a scan runs. */
	void (*work)(void *userdata, struct p2pb_scan_outcome *o);
	/* Runs on the event loop once scan o->seq has ended (or could not
	 * start); takes ownership of o->topo and o->vctx. */
	void (*done)(void *userdata, struct p2pb_scan_outcome *o);
	void *userdata;
};

/* A rescanner on base, with no scan running. Returns 0 or -errno; *ret
 * untouched on failure. */
int p2pb_rescan_new(struct event_base *base, const struct p2pb_rescan_ops *ops,
		    struct p2pb_rescan **ret);
/* Waits for a running scan to end (a scan cannot be interrupted; it takes
 * about a second at most) and frees what it built. Accepts NULL. */
struct p2pb_rescan *p2pb_rescan_free(struct p2pb_rescan *r);

/* Asks for a scan that begins after this call. With none running, one starts
 * now; otherwise one more starts when the running one ends, shared by every
 * request made meanwhile (at most one running and one pending). *ret_seq is
 * the number of the scan that answers this request: ops.done is called with
 * it. Returns 0 when a scan started, 1 when the request joined the pending
 * one, or -errno when no worker could be started (then done is not called
 * for this request). why must be static text. */
int p2pb_rescan_request(struct p2pb_rescan *r, const char *why, uint64_t *ret_seq);

/* Whether a scan is running on the worker thread. */
bool p2pb_rescan_running(const struct p2pb_rescan *r);
