/* context.c - p2pbrokerd's lifetime: the context that owns every event
 * source, topology installs and rescans, signals, the systemd watchdog and
 * readiness notifications. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "context.h"
#include "handlers.h"
#include "log.h"
#include "rescan.h"
#include "scan.h"
#include "server.h"
#include "uevent.h"

/* A client's rescan request waiting for the scan numbered seq. */
struct rescan_waiter {
	struct rescan_waiter *next;
	struct p2pb_deferred *d;
	uint64_t seq;
};

static void scan_work(void *userdata, struct p2pb_scan_outcome *o);
static void on_scan_done(void *userdata, struct p2pb_scan_outcome *o);

uint64_t
p2pb_now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int
p2pb_context_new(const struct p2pb_options *opts, struct p2pb_context **ret)
{
	struct p2pb_context *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->opts = *opts;
	c->start_usec = p2pb_now_usec();
	c->base = event_base_new();
	if (!c->base) {
		free(c);
		return -ENOMEM;
	}
	c->scan = p2pb_scan;
	struct p2pb_server_ops ops = { .request = p2pb_handle_request, .userdata = c };
	struct p2pb_rescan_ops rops = { .work = scan_work, .done = on_scan_done, .userdata = c };
	int r = p2pb_server_new(c->base, &ops, &c->server);
	if (r >= 0)
		r = p2pb_rescan_new(c->base, &rops, &c->rescan);
	if (r < 0) {
		p2pb_context_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

struct p2pb_context *
p2pb_context_free(struct p2pb_context *c)
{
	if (!c)
		return NULL;
	if (c->rescan && p2pb_rescan_running(c->rescan))
		log_info("waiting for the running scan to end");
	p2pb_rescan_free(c->rescan);
	while (c->waiters) {
		struct rescan_waiter *w = c->waiters;
		c->waiters = w->next;
		p2pb_deferred_free(w->d);
		free(w);
	}
	/* Connections first: nothing may outlive the topology it points into. */
	p2pb_server_free(c->server);
	p2pb_uevent_free(c->uevent);
	struct event *evs[] = { c->sig_term, c->sig_int, c->sig_hup, c->watchdog };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	p2pb_verdict_ctx_free(c->vctx);
	p2pb_topology_free(c->topo);
	if (c->base)
		event_base_free(c->base);
	if (c->opts.ready_fd >= 0)
		close(c->opts.ready_fd);
	free(c);
	return NULL;
}

static size_t
count_providers(const struct p2pb_topology *t)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n_devs; i++)
		if (t->devs[i].p2pmem.present && t->devs[i].p2pmem.published)
			n++;
	return n;
}

/* The one step that replaces what every request reads. */
static void
install_built(struct p2pb_context *c, struct p2pb_topology *t, struct p2pb_verdict_ctx *v)
{
	p2pb_verdict_ctx_free(c->vctx);
	p2pb_topology_free(c->topo);
	c->topo = t;
	c->vctx = v;
	c->generation++;
	t->generation = c->generation;
	c->n_providers = count_providers(t);
}

int
p2pb_context_install(struct p2pb_context *c, struct p2pb_topology *t)
{
	struct p2pb_verdict_ctx *v = p2pb_verdict_ctx_new(t);
	if (!v) {
		p2pb_topology_free(t);
		return -ENOMEM;
	}
	install_built(c, t, v);
	return 0;
}

static void
log_topology_warnings(const struct p2pb_topology *t)
{
	for (size_t i = 0; i < t->n_warnings; i++) {
		const struct p2pb_warning *w = &t->warnings[i];
		char bdf[P2PB_BDF_STRLEN];
		bool has_dev = w->dev >= 0 && (size_t)w->dev < t->n_devs;
		if (has_dev)
			p2pb_bdf_format(t->devs[w->dev].bdf, bdf);
		log_dev(LOG_WARNING, has_dev ? bdf : NULL, "%s", w->message);
	}
}

static void
notify_status(const struct p2pb_context *c)
{
	sd_notifyf(0, "STATUS=serving %zu devices, %zu providers (generation %llu)",
		   c->topo ? c->topo->n_devs : 0, c->n_providers,
		   (unsigned long long)c->generation);
}

/* The worker thread's part of a rescan: everything that takes time, the
 * scan and the verdict context. Reads only c->scan and c->opts, which do not
 * change while the daemon runs. */
static void
scan_work(void *userdata, struct p2pb_scan_outcome *o)
{
	const struct p2pb_context *c = userdata;
	uint64_t start = p2pb_now_usec();
	struct p2pb_topology *t = NULL;
	int r = c->scan(c->opts.root, &t);
	if (r < 0) {
		o->error = r;
		return;
	}
	o->scan_usec = p2pb_now_usec() - start;
	o->vctx = p2pb_verdict_ctx_new(t);
	if (!o->vctx) {
		p2pb_topology_free(t);
		o->error = -ENOMEM;
		return;
	}
	o->topo = t;
}

/* The loop's part: install a finished scan, or log why it failed and put
 * that into failure (for the replies to waiting clients). */
static int
scan_finish(struct p2pb_context *c, struct p2pb_scan_outcome *o, char *failure, size_t size)
{
	const char *root = c->opts.root ? c->opts.root : "/";
	if (o->error) {
		/* ENOENT: no sys/bus/pci/devices under the root. */
		const char *hint = o->error == -ENOENT ? " (no sys/bus/pci/devices there)" : "";
		snprintf(failure, size, "scan of %s%s failed: %s", root, hint, strerror(-o->error));
		if (c->topo)
			return log_errno(LOG_ERR, o->error,
					 "scan of %s%s (%s) failed, keeping generation %llu", root,
					 hint, o->why, (unsigned long long)c->generation);
		return log_errno(LOG_ERR, o->error, "scan of %s%s (%s) failed", root, hint, o->why);
	}
	install_built(c, o->topo, o->vctx);
	o->topo = NULL;
	o->vctx = NULL;
	c->last_scan_usec = o->scan_usec;
	log_info("scanned %s (%s): %zu devices, %zu switches, %zu host bridges, %zu providers, "
		 "%zu warnings in %llu us, generation %llu",
		 root, o->why, c->topo->n_devs, c->topo->n_switches, c->topo->n_hostbridges,
		 c->n_providers, c->topo->n_warnings, (unsigned long long)o->scan_usec,
		 (unsigned long long)c->generation);
	log_topology_warnings(c->topo);
	notify_status(c);
	return 0;
}

int
p2pb_context_rescan(struct p2pb_context *c, const char *why)
{
	/* libpci and the scanner serve one scan at a time. */
	if (c->rescan && p2pb_rescan_running(c->rescan))
		return -EBUSY;
	struct p2pb_scan_outcome o = { .why = why };
	char failure[PATH_MAX + 128];
	scan_work(c, &o);
	return scan_finish(c, &o, failure, sizeof(failure));
}

/* Answers the clients waiting for scans up to seq. */
static void
answer_waiters(struct p2pb_context *c, uint64_t seq, const char *failure)
{
	struct rescan_waiter **p = &c->waiters;
	while (*p) {
		struct rescan_waiter *w = *p;
		if (w->seq > seq) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		p2pb_handle_rescan_done(c, w->d, failure);
		free(w);
	}
}

static void
on_scan_done(void *userdata, struct p2pb_scan_outcome *o)
{
	struct p2pb_context *c = userdata;
	char failure[PATH_MAX + 128];
	int r = scan_finish(c, o, failure, sizeof(failure));
	answer_waiters(c, o->seq, r < 0 ? failure : NULL);
	if (c->reload_seq && o->seq >= c->reload_seq) {
		c->reload_seq = 0;
		sd_notify(0, "READY=1");
	}
}

static int
request_scan(struct p2pb_context *c, const char *why, struct p2pb_deferred *d, uint64_t *ret_seq)
{
	struct rescan_waiter *w = NULL;
	if (d && !(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	uint64_t seq;
	int r = p2pb_rescan_request(c->rescan, why, &seq);
	if (r < 0) {
		free(w);
		return log_errno(LOG_ERR, r, "cannot start a rescan (%s)", why);
	}
	log_debug(r == 0 ? "rescan %llu (%s) started"
			 : "rescan %llu (%s) will follow the running one",
		  (unsigned long long)seq, why);
	if (w) {
		/* Each waiter is a different client (one deferred request per
		 * connection), so the order they are answered in is free. */
		w->d = d;
		w->seq = seq;
		w->next = c->waiters;
		c->waiters = w;
	}
	*ret_seq = seq;
	return 0;
}

int
p2pb_context_request_rescan(struct p2pb_context *c, const char *why, struct p2pb_deferred *d)
{
	uint64_t seq;
	return request_scan(c, why, d, &seq);
}

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct p2pb_context *c = arg;
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	log_info("received %s, stopping", strsignal((int)sig));
	event_base_loopbreak(c->base);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct p2pb_context *c = arg;
	uint64_t seq;
	sd_notify(0, "RELOADING=1");
	if (request_scan(c, "SIGHUP", NULL, &seq) < 0)
		sd_notify(0, "READY=1");
	else
		c->reload_seq = seq; /* READY=1 once it has ended */
}

static void
on_uevent(void *arg)
{
	p2pb_context_request_rescan(arg, "PCI uevent", NULL);
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

static int
setup_signals(struct p2pb_context *c)
{
	/* A client that hangs up must not kill the daemon; writes use
	 * MSG_NOSIGNAL too, this covers everything else. */
	signal(SIGPIPE, SIG_IGN);
	c->sig_term = evsignal_new(c->base, SIGTERM, on_stop_signal, c);
	c->sig_int = evsignal_new(c->base, SIGINT, on_stop_signal, c);
	c->sig_hup = evsignal_new(c->base, SIGHUP, on_hup, c);
	if (!c->sig_term || !c->sig_int || !c->sig_hup || evsignal_add(c->sig_term, NULL) < 0 ||
	    evsignal_add(c->sig_int, NULL) < 0 || evsignal_add(c->sig_hup, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static int
setup_watchdog(struct p2pb_context *c)
{
	uint64_t usec = 0;
	int r = sd_watchdog_enabled(0, &usec);
	if (r <= 0)
		return r;
	c->watchdog_usec = usec;
	c->watchdog = event_new(c->base, -1, EV_PERSIST, on_watchdog, c);
	/* Half the interval, as sd_watchdog_enabled(3) recommends. */
	struct timeval tv = { .tv_sec = (time_t)(usec / 2 / 1000000u),
			      .tv_usec = (suseconds_t)(usec / 2 % 1000000u) };
	if (!c->watchdog || event_add(c->watchdog, &tv) < 0)
		return -ENOMEM;
	log_debug("watchdog every %llu us", (unsigned long long)(usec / 2));
	return 1;
}

static int
setup_listeners(struct p2pb_context *c, const char **ret_where)
{
	int r = p2pb_server_listen_systemd(c->server);
	if (r < 0)
		return log_errno(LOG_ERR, r, "cannot use the sockets passed by systemd");
	if (r > 0) {
		*ret_where = "socket-activated sockets";
		return 0;
	}
	const char *path = c->opts.socket_path;
	r = p2pb_server_listen_path(c->server, path);
	if (r == -EADDRINUSE)
		return log_errno(LOG_ERR, r,
				 "another p2pbrokerd is already listening on %s; stop it first "
				 "or choose another --socket",
				 path);
	if (r == -EEXIST)
		return log_errno(LOG_ERR, r,
				 "%s exists and is not a socket; remove it or choose another "
				 "--socket",
				 path);
	if (r < 0)
		return log_errno(LOG_ERR, r, "cannot listen on %s", path);
	*ret_where = path;
	return 0;
}

static void
signal_ready(struct p2pb_context *c, const char *where)
{
	log_notice("ready: serving %zu devices, %zu providers on %s", c->topo->n_devs,
		   c->n_providers, where);
	sd_notifyf(0, "READY=1\nSTATUS=serving %zu devices, %zu providers", c->topo->n_devs,
		   c->n_providers);
	if (c->opts.ready_fd >= 0) {
		static const char msg[] = "READY=1\n";
		if (write(c->opts.ready_fd, msg, sizeof(msg) - 1) < 0)
			log_errno(LOG_WARNING, errno, "cannot write to --ready-fd");
		close(c->opts.ready_fd);
		c->opts.ready_fd = -1;
	}
}

int
p2pb_context_start(struct p2pb_context *c)
{
	const char *where = NULL;
	int r = setup_listeners(c, &where);
	if (r < 0)
		return r;
	r = setup_signals(c);
	if (r < 0)
		return log_errno(LOG_ERR, r, "cannot set up signal handling");
	r = setup_watchdog(c);
	if (r < 0)
		return log_errno(LOG_ERR, r, "cannot set up the watchdog");
	if (!c->opts.root) {
		/* Without uevents the topology still refreshes on request and on
		 * SIGHUP, so a missing monitor is worth a warning, not an exit. */
		r = p2pb_uevent_new(c->base, on_uevent, c, &c->uevent);
		if (r < 0)
			log_errno(
				LOG_WARNING, r,
				"cannot watch PCI uevents; rescan with 'p2pctl rescan' or SIGHUP");
	}
	signal_ready(c, where);
	return 0;
}

int
p2pb_context_run(struct p2pb_context *c)
{
	if (event_base_dispatch(c->base) < 0)
		return log_errno(LOG_ERR, EIO, "event loop failed");
	return 0;
}
