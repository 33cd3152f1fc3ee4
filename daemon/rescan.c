/* rescan.c - scans off the event loop: one worker thread at a time runs the
 * scan and wakes the loop through an eventfd; requests made while a scan runs
 * share the one scan that follows it. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "rescan.h"

struct p2pb_rescan {
	struct p2pb_rescan_ops ops;
	int efd; /* written by the worker when its scan has ended */
	struct event *ev;
	bool running;
	pthread_t thread;
	uint64_t seq; /* the last scan started */
	/* Non-NULL: the trigger of a scan wanted after the running one. */
	const char *pending_why;
	/* The running scan's outcome. The worker writes it; the loop reads it
	 * only after pthread_join(), which orders the two. */
	struct p2pb_scan_outcome job;
};

static void *
worker(void *arg)
{
	struct p2pb_rescan *r = arg;
	r->ops.work(r->ops.userdata, &r->job);
	uint64_t one = 1;
	/* Cannot fail short of EINTR: the counter is read after every write. */
	while (write(r->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return NULL;
}

static int
start(struct p2pb_rescan *r, const char *why)
{
	r->job = (struct p2pb_scan_outcome){ .seq = ++r->seq, .why = why };
	/* Signals stay with the loop thread, where libevent handles them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&r->thread, NULL, worker, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		return -e;
	r->running = true;
	return 0;
}

/* Collects the worker's outcome; the worker has written the eventfd, so the
 * join waits at most for its return. */
static struct p2pb_scan_outcome
join(struct p2pb_rescan *r)
{
	pthread_join(r->thread, NULL);
	r->running = false;
	struct p2pb_scan_outcome o = r->job;
	r->job = (struct p2pb_scan_outcome){ 0 };
	return o;
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct p2pb_rescan *r = arg;
	uint64_t n;
	if (read(r->efd, &n, sizeof(n)) < 0 || !r->running)
		return;
	struct p2pb_scan_outcome done = join(r);
	/* The pending scan starts before the loop installs the finished one:
	 * its requests have waited long enough. */
	struct p2pb_scan_outcome failed = { 0 };
	if (r->pending_why) {
		const char *why = r->pending_why;
		r->pending_why = NULL;
		int e = start(r, why);
		if (e < 0)
			failed =
				(struct p2pb_scan_outcome){ .seq = r->seq, .why = why, .error = e };
	}
	r->ops.done(r->ops.userdata, &done);
	if (failed.error)
		r->ops.done(r->ops.userdata, &failed);
}

int
p2pb_rescan_new(struct event_base *base, const struct p2pb_rescan_ops *ops,
		struct p2pb_rescan **ret)
{
	if (!base || !ops || !ops->work || !ops->done)
		return -EINVAL;
	struct p2pb_rescan *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ops = *ops;
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0) {
		int e = -errno;
		free(r);
		return e;
	}
	r->ev = event_new(base, r->efd, EV_READ | EV_PERSIST, on_wake, r);
	if (!r->ev || event_add(r->ev, NULL) < 0) {
		p2pb_rescan_free(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

struct p2pb_rescan *
p2pb_rescan_free(struct p2pb_rescan *r)
{
	if (!r)
		return NULL;
	if (r->running) {
		struct p2pb_scan_outcome o = join(r);
		p2pb_verdict_ctx_free(o.vctx);
		p2pb_topology_free(o.topo);
	}
	if (r->ev)
		event_free(r->ev);
	close(r->efd);
	free(r);
	return NULL;
}

int
p2pb_rescan_request(struct p2pb_rescan *r, const char *why, uint64_t *ret_seq)
{
	if (r->running) {
		if (!r->pending_why)
			r->pending_why = why;
		*ret_seq = r->seq + 1;
		return 1;
	}
	int e = start(r, why);
	if (e < 0)
		return e;
	*ret_seq = r->seq;
	return 0;
}

bool
p2pb_rescan_running(const struct p2pb_rescan *r)
{
	return r->running;
}
