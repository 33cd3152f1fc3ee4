/* handlers.c - answers each request from the current topology and verdict
 * context: status, topology, path, providers, matrix, rescan. Every request
 * field is validated before use; replies are built in the reply's arena. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "handlers.h"
#include "log.h"
#include "rescan.h"
#include "server.h"
#include "topology.h"
#include "verdict.h"

typedef P2pbroker__V1__Bdf Bdf;
typedef P2pbroker__V1__Request Request;

#define ST(x) P2PBROKER__V1__STATUS_CODE__STATUS_##x

struct handler {
	const char *name;
	bool needs_topology;
	/* 0, a negative errno (-ENOMEM) when the reply could not be built, or
	 * 1 when the handler already set an error status. */
	int (*fn)(struct p2pb_context *ctx, struct p2pb_conn *conn, const Request *req,
		  struct p2pb_reply *r);
};

/* --- helpers ---------------------------------------------------------------- */

static void *
new_msg(struct p2pb_reply *r, const ProtobufCMessageDescriptor *d)
{
	void *m = p2pb_reply_alloc(r, d->sizeof_message);
	if (m)
		protobuf_c_message_init(d, m);
	return m;
}

#define NEW(r, name) new_msg((r), &p2pbroker__v1__##name##__descriptor)

/* Sets an error status on the reply; handlers return this (1) to say so. */
#define REFUSE(r, status, ...) (p2pb_reply_status((r), ST(status), __VA_ARGS__), 1)

static Bdf *
bdf_msg(struct p2pb_reply *r, struct p2pb_bdf b)
{
	Bdf *m = NEW(r, bdf);
	if (m) {
		m->domain = b.domain;
		m->bus = b.bus;
		m->dev = b.dev;
		m->fn = b.fn;
	}
	return m;
}

static Bdf *
dev_bdf_msg(struct p2pb_reply *r, const struct p2pb_topology *t, int dev)
{
	return bdf_msg(r, t->devs[dev].bdf);
}

/* n pointers to n initialised messages of type d, in two allocations. */
static void **
msg_array(struct p2pb_reply *r, size_t n, const ProtobufCMessageDescriptor *d)
{
	if (n == 0)
		return NULL;
	void **ptrs = p2pb_reply_alloc(r, n * sizeof(void *));
	unsigned char *msgs = p2pb_reply_alloc(r, n * d->sizeof_message);
	if (!ptrs || !msgs)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		ptrs[i] = msgs + i * d->sizeof_message;
		protobuf_c_message_init(d, ptrs[i]);
	}
	return ptrs;
}

/* Builds the n messages of one repeated field with fill(index, msg). */
static int
fill_list(struct p2pb_reply *r, const struct p2pb_topology *t, size_t n,
	  const ProtobufCMessageDescriptor *d,
	  int (*fill)(struct p2pb_reply *, const struct p2pb_topology *, int, void *), void ***ret)
{
	void **a = msg_array(r, n, d);
	if (n && !a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int rc = fill(r, t, (int)i, a[i]);
		if (rc < 0)
			return rc;
	}
	*ret = a;
	return 0;
}

/* Checks a Bdf from a request and finds its device. Sets the reply's error
 * and returns 1 when the field is missing, out of range or unknown. */
static int
find_bdf(const struct p2pb_topology *t, const Bdf *m, const char *field, struct p2pb_reply *r,
	 int *ret_dev)
{
	if (!m)
		return REFUSE(r, INVALID_REQUEST, "%s is missing", field);
	const struct {
		const char *name;
		uint32_t value, max;
	} parts[] = {
		{ "bus", m->bus, 0xff },
		{ "dev", m->dev, 0x1f },
		{ "fn", m->fn, 0x7 },
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i].value > parts[i].max)
			return REFUSE(r, INVALID_REQUEST, "%s.%s is %u, must be 0..%u", field,
				      parts[i].name, parts[i].value, parts[i].max);
	struct p2pb_bdf b = { .domain = m->domain,
			      .bus = (uint8_t)m->bus,
			      .dev = (uint8_t)m->dev,
			      .fn = (uint8_t)m->fn };
	int d = p2pb_topology_find(t, b);
	if (d < 0) {
		char s[P2PB_BDF_STRLEN];
		return REFUSE(r, NOT_FOUND, "%s: no device %s", field, p2pb_bdf_format(b, s));
	}
	*ret_dev = d;
	return 0;
}

/* --- status ------------------------------------------------------------------ */

static int
handle_status(struct p2pb_context *ctx, struct p2pb_conn *conn, const Request *req,
	      struct p2pb_reply *r)
{
	P2pbroker__V1__StatusReply *s = NEW(r, status_reply);
	if (!s)
		return -ENOMEM;
	const struct p2pb_topology *t = ctx->topo;
	s->version = (char *)P2PB_VERSION;
	s->protocol = P2PB_PROTOCOL_VERSION;
	s->root = (char *)(ctx->opts.root ? ctx->opts.root : "/");
	s->generation = ctx->generation;
	s->uptime_usec = p2pb_now_usec() - ctx->start_usec;
	s->last_scan_usec = ctx->last_scan_usec;
	s->n_clients = (uint32_t)p2pb_server_n_clients(ctx->server);
	s->scanning = ctx->rescan && p2pb_rescan_running(ctx->rescan);
	if (t) {
		s->n_devices = (uint32_t)t->n_devs;
		s->n_switches = (uint32_t)t->n_switches;
		s->n_hostbridges = (uint32_t)t->n_hostbridges;
		s->n_providers = (uint32_t)ctx->n_providers;
		s->n_warnings = (uint32_t)t->n_warnings;
		s->cpu_known = t->cpu.known;
		s->cpu_vendor = (char *)t->cpu.vendor;
		s->cpu_family = t->cpu.family;
	}
	r->msg.body_case = P2PBROKER__V1__REPLY__BODY_STATUS_REPLY;
	r->msg.status_reply = s;
	return 0;
}

/* --- topology ---------------------------------------------------------------- */

static int
fill_device(struct p2pb_reply *r, const struct p2pb_topology *t, int i, void *msg)
{
	P2pbroker__V1__Device *m = msg;
	const struct p2pb_dev *d = &t->devs[i];
	m->bdf = bdf_msg(r, d->bdf);
	m->vendor = d->vendor;
	m->device = d->device;
	m->subsys_vendor = d->subsys_vendor;
	m->subsys_device = d->subsys_device;
	m->class_code = d->class_code;
	m->revision = d->revision;
	m->header_type = d->header_type;
	m->multifunction = d->multifunction;
	m->port_type = d->port_type;
	if (d->link.present) {
		m->link = NEW(r, link);
		if (!m->link)
			return -ENOMEM;
		m->link->cap_speed = d->link.cap_speed;
		m->link->cap_width = d->link.cap_width;
		m->link->speed = d->link.speed;
		m->link->width = d->link.width;
	}
	if (d->acs.present) {
		m->acs = NEW(r, acs);
		if (!m->acs)
			return -ENOMEM;
		m->acs->pos = d->acs.pos;
		m->acs->cap = d->acs.cap;
		m->acs->ctrl = d->acs.ctrl;
	}
	m->has_dsn = d->has_dsn;
	m->dsn = d->dsn;
	if (d->parent >= 0 && !(m->parent = dev_bdf_msg(r, t, d->parent)))
		return -ENOMEM;
	m->iommu_group = d->iommu_group;
	m->numa_node = d->numa_node;
	m->driver = (char *)d->driver;
	if (d->p2pmem.present) {
		m->p2pmem = NEW(r, p2pmem);
		if (!m->p2pmem)
			return -ENOMEM;
		m->p2pmem->size = d->p2pmem.size;
		m->p2pmem->available = d->p2pmem.available;
		m->p2pmem->published = d->p2pmem.published;
	}
	m->is_virtfn = d->is_virtfn;
	if (d->physfn >= 0 && !(m->physfn = dev_bdf_msg(r, t, d->physfn)))
		return -ENOMEM;
	m->secondary_bus = d->secondary_bus;
	m->subordinate_bus = d->subordinate_bus;
	m->hostbridge = d->hostbridge >= 0 ? (uint32_t)d->hostbridge : UINT32_MAX;
	m->switch_index = d->sw;
	m->warnings = d->warnings;
	return m->bdf ? 0 : -ENOMEM;
}

static int
fill_hostbridge(struct p2pb_reply *r, const struct p2pb_topology *t, int i, void *msg)
{
	P2pbroker__V1__HostBridge *m = msg;
	const struct p2pb_hostbridge *hb = &t->hostbridges[i];
	m->domain = hb->domain;
	m->bus = hb->bus;
	if (hb->first_dev >= 0 && !(m->whitelist_dev = dev_bdf_msg(r, t, hb->first_dev)))
		return -ENOMEM;
	m->whitelisted = p2pb_host_bridge_whitelisted(t, i, false);
	m->whitelisted_same = p2pb_host_bridge_whitelisted(t, i, true);
	return 0;
}

static int
fill_switch(struct p2pb_reply *r, const struct p2pb_topology *t, int i, void *msg)
{
	P2pbroker__V1__Switch *m = msg;
	const struct p2pb_switch *sw = &t->switches[i];
	m->upstream = dev_bdf_msg(r, t, sw->upstream);
	m->parent_switch = sw->parent_switch;
	if (sw->n_downstream) {
		m->downstream = p2pb_reply_alloc(r, sw->n_downstream * sizeof(Bdf *));
		if (!m->downstream)
			return -ENOMEM;
		m->n_downstream = sw->n_downstream;
		for (size_t j = 0; j < sw->n_downstream; j++)
			if (!(m->downstream[j] = dev_bdf_msg(r, t, sw->downstream[j])))
				return -ENOMEM;
	}
	return m->upstream ? 0 : -ENOMEM;
}

static int
fill_warning(struct p2pb_reply *r, const struct p2pb_topology *t, int i, void *msg)
{
	P2pbroker__V1__Warning *m = msg;
	const struct p2pb_warning *w = &t->warnings[i];
	m->message = w->message;
	if (w->dev >= 0 && (size_t)w->dev < t->n_devs && !(m->device = dev_bdf_msg(r, t, w->dev)))
		return -ENOMEM;
	return 0;
}

static int
handle_topology(struct p2pb_context *ctx, struct p2pb_conn *conn, const Request *req,
		struct p2pb_reply *r)
{
	const struct p2pb_topology *t = ctx->topo;
	P2pbroker__V1__TopologyReply *m = NEW(r, topology_reply);
	if (!m)
		return -ENOMEM;
	m->generation = ctx->generation;
	void **a = NULL;
	int rc = fill_list(r, t, t->n_devs, &p2pbroker__v1__device__descriptor, fill_device, &a);
	if (rc < 0)
		return rc;
	m->devices = (P2pbroker__V1__Device **)a;
	m->n_devices = t->n_devs;
	rc = fill_list(r, t, t->n_hostbridges, &p2pbroker__v1__host_bridge__descriptor,
		       fill_hostbridge, &a);
	if (rc < 0)
		return rc;
	m->hostbridges = (P2pbroker__V1__HostBridge **)a;
	m->n_hostbridges = t->n_hostbridges;
	rc = fill_list(r, t, t->n_switches, &p2pbroker__v1__switch__descriptor, fill_switch, &a);
	if (rc < 0)
		return rc;
	m->switches = (P2pbroker__V1__Switch **)a;
	m->n_switches = t->n_switches;
	rc = fill_list(r, t, t->n_warnings, &p2pbroker__v1__warning__descriptor, fill_warning, &a);
	if (rc < 0)
		return rc;
	m->warnings = (P2pbroker__V1__Warning **)a;
	m->n_warnings = t->n_warnings;
	r->msg.body_case = P2PBROKER__V1__REPLY__BODY_TOPOLOGY;
	r->msg.topology = m;
	return 0;
}

/* --- path ------------------------------------------------------------------------ */

static char *
explain(struct p2pb_reply *r, const struct p2pb_topology *t, const struct p2pb_verdict *v,
	int provider, int client)
{
	char small[512];
	int n = p2pb_verdict_explain(t, v, provider, client, small, sizeof(small));
	if (n < 0)
		n = 0;
	char *s = p2pb_reply_alloc(r, (size_t)n + 1);
	if (!s)
		return NULL;
	if ((size_t)n < sizeof(small))
		memcpy(s, small, (size_t)n + 1);
	else
		p2pb_verdict_explain(t, v, provider, client, s, (size_t)n + 1);
	return s;
}

static int
fill_path(struct p2pb_reply *r, const struct p2pb_topology *t, const struct p2pb_verdict *v,
	  int provider, int client, P2pbroker__V1__PathReply *m)
{
	m->provider = dev_bdf_msg(r, t, provider);
	m->client = dev_bdf_msg(r, t, client);
	m->verdict = (P2pbroker__V1__MapType)v->map;
	m->distance = v->distance;
	m->raw_distance = v->raw_distance;
	if (v->common >= 0 && !(m->common_bridge = dev_bdf_msg(r, t, v->common)))
		return -ENOMEM;
	size_t n = v->n_acs < P2PB_MAX_PATH_ACS ? v->n_acs : P2PB_MAX_PATH_ACS;
	if (n) {
		m->acs_redirect = p2pb_reply_alloc(r, n * sizeof(Bdf *));
		m->acs_ctrl = p2pb_reply_alloc(r, n * sizeof(uint32_t));
		if (!m->acs_redirect || !m->acs_ctrl)
			return -ENOMEM;
		m->n_acs_redirect = m->n_acs_ctrl = n;
		for (size_t i = 0; i < n; i++) {
			if (!(m->acs_redirect[i] = dev_bdf_msg(r, t, v->acs_devs[i])))
				return -ENOMEM;
			m->acs_ctrl[i] = t->devs[v->acs_devs[i]].acs.ctrl;
		}
	}
	int unknown[P2PB_MAX_PATH_ACS];
	n = p2pb_verdict_acs_unknown(t, v, provider, client, unknown, P2PB_MAX_PATH_ACS);
	if (n > P2PB_MAX_PATH_ACS)
		n = P2PB_MAX_PATH_ACS;
	if (n) {
		m->acs_unknown = p2pb_reply_alloc(r, n * sizeof(Bdf *));
		if (!m->acs_unknown)
			return -ENOMEM;
		m->n_acs_unknown = n;
		for (size_t i = 0; i < n; i++)
			if (!(m->acs_unknown[i] = dev_bdf_msg(r, t, unknown[i])))
				return -ENOMEM;
	}
	m->cpu_allows = v->cpu_allows;
	m->host_bridge_whitelisted = v->host_bridge_whitelisted;
	m->reason = explain(r, t, v, provider, client);
	return m->provider && m->client && m->reason ? 0 : -ENOMEM;
}

static int
handle_path(struct p2pb_context *ctx, struct p2pb_conn *conn, const Request *req,
	    struct p2pb_reply *r)
{
	const struct p2pb_topology *t = ctx->topo;
	const P2pbroker__V1__PathRequest *p = req->path;
	int provider, client;
	if (find_bdf(t, p->provider, "path.provider", r, &provider) ||
	    find_bdf(t, p->client, "path.client", r, &client))
		return 1;
	struct p2pb_verdict v;
	p2pb_verdict(ctx->vctx, provider, client, &v);
	P2pbroker__V1__PathReply *m = NEW(r, path_reply);
	if (!m || fill_path(r, t, &v, provider, client, m) < 0)
		return -ENOMEM;
	r->msg.body_case = P2PBROKER__V1__REPLY__BODY_PATH;
	r->msg.path = m;
	return 0;
}

/* --- providers ------------------------------------------------------------------- */

static int
fill_provider(struct p2pb_reply *r, const struct p2pb_topology *t,
	      const struct p2pb_provider_choice *c, P2pbroker__V1__ProviderEntry *m)
{
	const struct p2pb_dev *d = &t->devs[c->dev];
	m->bdf = bdf_msg(r, d->bdf);
	m->total_distance = c->total_distance;
	m->numa_matches = (uint32_t)c->numa_matches;
	m->numa_node = d->numa_node;
	m->size = d->p2pmem.size;
	m->available = d->p2pmem.available;
	return m->bdf ? 0 : -ENOMEM;
}

static int
handle_providers(struct p2pb_context *ctx, struct p2pb_conn *conn, const Request *req,
		 struct p2pb_reply *r)
{
	const struct p2pb_topology *t = ctx->topo;
	const P2pbroker__V1__ProvidersRequest *p = req->providers;
	if (p->n_clients == 0)
		return REFUSE(r, INVALID_REQUEST,
			      "providers.clients is empty: name at least one client");
	int *clients = p2pb_reply_alloc(r, p->n_clients * sizeof(int));
	P2pbroker__V1__ProvidersReply *m = NEW(r, providers_reply);
	if (!clients || !m)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_clients; i++) {
		char field[48];
		snprintf(field, sizeof(field), "providers.clients[%zu]", i);
		if (find_bdf(t, p->clients[i], field, r, &clients[i]))
			return 1;
	}
	size_t max = t->n_devs ? t->n_devs : 1;
	struct p2pb_provider_choice *ch = p2pb_reply_alloc(r, max * sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	int n = p2pb_providers_rank(ctx->vctx, clients, p->n_clients, ch, max);
	if (n < 0)
		return REFUSE(r, INTERNAL, "cannot rank providers: %s", strerror(-n));
	if ((size_t)n > max)
		n = (int)max;
	m->clients = p2pb_reply_alloc(r, p->n_clients * sizeof(Bdf *));
	m->providers = (P2pbroker__V1__ProviderEntry **)msg_array(
		r, (size_t)n, &p2pbroker__v1__provider_entry__descriptor);
	if (!m->clients || (n && !m->providers))
		return -ENOMEM;
	m->n_clients = p->n_clients;
	for (size_t i = 0; i < p->n_clients; i++)
		if (!(m->clients[i] = dev_bdf_msg(r, t, clients[i])))
			return -ENOMEM;
	m->n_providers = (size_t)n;
	for (int i = 0; i < n; i++)
		if (fill_provider(r, t, &ch[i], m->providers[i]) < 0)
			return -ENOMEM;
	r->msg.body_case = P2PBROKER__V1__REPLY__BODY_PROVIDERS;
	r->msg.providers = m;
	return 0;
}

/* --- matrix ---------------------------------------------------------------------- */

static int
handle_matrix(struct p2pb_context *ctx, struct p2pb_conn *conn, const Request *req,
	      struct p2pb_reply *r)
{
	const struct p2pb_topology *t = ctx->topo;
	int *devs = NULL;
	int n = p2pb_matrix_devices(t, &devs);
	if (n < 0)
		return n;
	size_t nn = (size_t)n * (size_t)n;
	int rc = -ENOMEM;
	uint8_t *map = malloc(nn ? nn : 1);
	P2pbroker__V1__MatrixReply *m = NEW(r, matrix_reply);
	if (!map || !m)
		goto out;
	m->devices = (Bdf **)msg_array(r, (size_t)n, &p2pbroker__v1__bdf__descriptor);
	m->verdict = p2pb_reply_alloc(r, (nn ? nn : 1) * sizeof(*m->verdict));
	m->distance = p2pb_reply_alloc(r, (nn ? nn : 1) * sizeof(*m->distance));
	if ((n && !m->devices) || !m->verdict || !m->distance)
		goto out;
	for (int i = 0; i < n; i++) {
		const struct p2pb_bdf b = t->devs[devs[i]].bdf;
		m->devices[i]->domain = b.domain;
		m->devices[i]->bus = b.bus;
		m->devices[i]->dev = b.dev;
		m->devices[i]->fn = b.fn;
	}
	p2pb_matrix(ctx->vctx, devs, (size_t)n, map, m->distance);
	for (size_t i = 0; i < nn; i++)
		m->verdict[i] = (P2pbroker__V1__MapType)map[i];
	m->n_devices = (size_t)n;
	m->n_verdict = m->n_distance = nn;
	r->msg.body_case = P2PBROKER__V1__REPLY__BODY_MATRIX;
	r->msg.matrix = m;
	rc = 0;
out:
	free(map);
	free(devs);
	return rc;
}

/* --- rescan ------------------------------------------------------------------------ */

/* The scan runs on a worker thread (daemon/rescan.h) while the loop serves
 * other clients: the reply is deferred until a scan begun after this request
 * has been installed or has failed (p2pb_handle_rescan_done). */
static int
handle_rescan(struct p2pb_context *ctx, struct p2pb_conn *conn, const Request *req,
	      struct p2pb_reply *r)
{
	struct p2pb_deferred *d;
	int rc = p2pb_conn_defer(conn, &d);
	if (rc < 0)
		return rc;
	rc = p2pb_context_request_rescan(ctx, "client request", d);
	if (rc < 0) {
		p2pb_reply_status(p2pb_deferred_reply(d), ST(INTERNAL),
				  "cannot start a rescan (%s); still serving generation %llu",
				  strerror(-rc), (unsigned long long)ctx->generation);
		p2pb_deferred_finish(d);
	}
	return 0;
}

static int
fill_rescan(struct p2pb_context *ctx, struct p2pb_reply *r)
{
	P2pbroker__V1__RescanReply *m = NEW(r, rescan_reply);
	if (!m)
		return -ENOMEM;
	m->generation = ctx->generation;
	m->n_devices = (uint32_t)ctx->topo->n_devs;
	m->scan_usec = ctx->last_scan_usec;
	r->msg.body_case = P2PBROKER__V1__REPLY__BODY_RESCAN;
	r->msg.rescan = m;
	return 0;
}

void
p2pb_handle_rescan_done(struct p2pb_context *ctx, struct p2pb_deferred *d, const char *failure)
{
	struct p2pb_reply *r = p2pb_deferred_reply(d);
	if (failure)
		p2pb_reply_status(r, ST(INTERNAL),
				  "rescan failed: %s; still serving generation %llu", failure,
				  (unsigned long long)ctx->generation);
	else if (p2pb_deferred_connected(d) && fill_rescan(ctx, r) < 0)
		p2pb_reply_status(r, ST(INTERNAL), "cannot build the rescan reply: %s",
				  strerror(ENOMEM));
	if (p2pb_deferred_finish(d) == -ENOTCONN)
		log_debug("a client hung up before its rescan ended");
}

/* --- dispatch ---------------------------------------------------------------------- */

static const struct handler handlers[] = {
	[P2PBROKER__V1__REQUEST__BODY_STATUS] = { "status", false, handle_status },
	[P2PBROKER__V1__REQUEST__BODY_TOPOLOGY] = { "topology", true, handle_topology },
	[P2PBROKER__V1__REQUEST__BODY_PATH] = { "path", true, handle_path },
	[P2PBROKER__V1__REQUEST__BODY_PROVIDERS] = { "providers", true, handle_providers },
	[P2PBROKER__V1__REQUEST__BODY_MATRIX] = { "matrix", true, handle_matrix },
	[P2PBROKER__V1__REQUEST__BODY_RESCAN] = { "rescan", false, handle_rescan },
};

void
p2pb_handle_request(void *userdata, struct p2pb_conn *conn, const Request *req,
		    struct p2pb_reply *r)
{
	struct p2pb_context *ctx = userdata;
	size_t i = (size_t)req->body_case;
	const struct handler *h = i < sizeof(handlers) / sizeof(handlers[0]) ? &handlers[i] : NULL;
	if (!h || !h->fn) {
		p2pb_reply_status(r, ST(INVALID_REQUEST), "unknown request type %zu", i);
		return;
	}
	if (h->needs_topology && (!ctx->topo || !ctx->vctx)) {
		p2pb_reply_status(r, ST(UNAVAILABLE), "no topology has been scanned yet");
		return;
	}
	log_debug("request %llu: %s from pid %d uid %u", (unsigned long long)req->id, h->name,
		  (int)p2pb_conn_pid(conn), (unsigned)p2pb_conn_uid(conn));
	int rc = h->fn(ctx, conn, req, r);
	if (rc < 0) {
		/* Whatever was built lives in the arena and goes with it. */
		r->msg.body_case = P2PBROKER__V1__REPLY__BODY__NOT_SET;
		log_errno(LOG_ERR, rc, "cannot build the %s reply", h->name);
		p2pb_reply_status(r, ST(INTERNAL), "cannot build the %s reply: %s", h->name,
				  strerror(-rc));
	}
}
