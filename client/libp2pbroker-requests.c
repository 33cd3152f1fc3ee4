/* libp2pbroker-requests.c - one call per request: build it, exchange it, turn the
 * protobuf reply into the library's own plain structs (p2pbroker.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libp2pbroker-internal.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef P2pbroker__V1__Reply Reply;
typedef P2pbroker__V1__Request Request;

static Reply *
reply_free(Reply *r)
{
	if (r)
		p2pbroker__v1__reply__free_unpacked(r, NULL);
	return NULL;
}

/* Strings in an answer point into the unpacked reply, kept alive beside it. */

/* ---- status ---------------------------------------------------------- */

struct status_box {
	struct p2pb_status_info pub;
	Reply *reply;
};

struct p2pb_status_info *
p2pb_status_info_free(struct p2pb_status_info *s)
{
	struct status_box *b;

	if (!s)
		return NULL;
	b = container_of(s, struct status_box, pub);
	reply_free(b->reply);
	free(b);
	return NULL;
}

int
p2pb_get_status(struct p2pb_client *c, struct p2pb_status_info **ret)
{
	P2pbroker__V1__StatusRequest body = P2PBROKER__V1__STATUS_REQUEST__INIT;
	Request req = P2PBROKER__V1__REQUEST__INIT;
	const P2pbroker__V1__StatusReply *s;
	struct status_box *b;
	Reply *rep;
	int r;

	if (!ret)
		return -EINVAL;
	req.body_case = P2PBROKER__V1__REQUEST__BODY_STATUS;
	req.status = &body;
	r = p2pbc_call(c, &req, P2PBROKER__V1__REPLY__BODY_STATUS_REPLY, &rep);
	if (r < 0)
		return r;
	b = calloc(1, sizeof(*b));
	if (!b) {
		reply_free(rep);
		return -ENOMEM;
	}
	s = rep->status_reply;
	b->reply = rep;
	b->pub = (struct p2pb_status_info){
		.version = s->version,
		.protocol = s->protocol,
		.root = s->root,
		.generation = s->generation,
		.n_devices = s->n_devices,
		.n_switches = s->n_switches,
		.n_hostbridges = s->n_hostbridges,
		.n_providers = s->n_providers,
		.n_warnings = s->n_warnings,
		.uptime_usec = s->uptime_usec,
		.last_scan_usec = s->last_scan_usec,
		.cpu_known = s->cpu_known,
		.cpu_vendor = s->cpu_vendor,
		.cpu_family = s->cpu_family,
		.n_clients = s->n_clients,
		.scanning = s->scanning,
	};
	*ret = &b->pub;
	return 0;
}

/* ---- topology -------------------------------------------------------- */

struct topology_box {
	struct p2pb_topology_info pub;
	Reply *reply;
	/* Element storage; pub's pointer arrays point into these. */
	struct p2pb_device_info *dev_store;
	struct p2pb_hostbridge_info *hb_store;
	struct p2pb_switch_info *sw_store;
	struct p2pb_warning_info *warn_store;
};

struct p2pb_topology_info *
p2pb_topology_info_free(struct p2pb_topology_info *t)
{
	struct topology_box *b;

	if (!t)
		return NULL;
	b = container_of(t, struct topology_box, pub);
	for (size_t i = 0; b->sw_store && i < t->n_switches; i++)
		free(b->sw_store[i].downstream);
	free(t->devices);
	free(t->hostbridges);
	free(t->switches);
	free(t->warnings);
	free(b->dev_store);
	free(b->hb_store);
	free(b->sw_store);
	free(b->warn_store);
	reply_free(b->reply);
	free(b);
	return NULL;
}

/* Allocates n elements (store) and n pointers to them (ptrs); n may be 0.
 * Evaluates to 0 or -ENOMEM. */
#define LIST_ALLOC(store, ptrs, n)                                                                 \
	({                                                                                         \
		size_t n_ = (n);                                                                   \
		(store) = calloc(n_ ? n_ : 1, sizeof(*(store)));                                   \
		(ptrs) = calloc(n_ ? n_ : 1, sizeof(*(ptrs)));                                     \
		for (size_t i_ = 0; (store) && (ptrs) && i_ < n_; i_++)                            \
			(ptrs)[i_] = &(store)[i_];                                                 \
		(store) && (ptrs) ? 0 : -ENOMEM;                                                   \
	})

static int
convert_device(struct p2pb_client *c, const P2pbroker__V1__Device *w, struct p2pb_device_info *d)
{
	int r = p2pbc_address_from_wire(c, w->bdf, "a device", &d->address);

	if (r < 0)
		return r;
	d->vendor = (uint16_t)w->vendor;
	d->device = (uint16_t)w->device;
	d->subsys_vendor = (uint16_t)w->subsys_vendor;
	d->subsys_device = (uint16_t)w->subsys_device;
	d->class_code = w->class_code & 0xffffff;
	d->revision = (uint8_t)w->revision;
	d->header_type = (uint8_t)w->header_type;
	d->multifunction = w->multifunction;
	d->port_type = (uint16_t)w->port_type;
	d->has_link = w->link != NULL;
	if (w->link) {
		d->link_cap_speed = (uint8_t)w->link->cap_speed;
		d->link_cap_width = (uint8_t)w->link->cap_width;
		d->link_speed = (uint8_t)w->link->speed;
		d->link_width = (uint8_t)w->link->width;
	}
	d->has_acs = w->acs != NULL;
	if (w->acs) {
		d->acs_pos = (uint16_t)w->acs->pos;
		d->acs_cap = (uint16_t)w->acs->cap;
		d->acs_ctrl = (uint16_t)w->acs->ctrl;
	}
	d->has_dsn = w->has_dsn;
	d->dsn = w->dsn;
	d->has_parent = w->parent != NULL;
	if (w->parent && (r = p2pbc_address_from_wire(c, w->parent, "a parent", &d->parent)) < 0)
		return r;
	d->iommu_group = w->iommu_group;
	d->numa_node = w->numa_node;
	d->driver = w->driver ? w->driver : "";
	d->has_p2pmem = w->p2pmem != NULL;
	if (w->p2pmem) {
		d->p2pmem_published = w->p2pmem->published;
		d->p2pmem_size = w->p2pmem->size;
		d->p2pmem_available = w->p2pmem->available;
	}
	d->is_virtfn = w->is_virtfn;
	d->has_physfn = w->physfn != NULL;
	if (w->physfn && (r = p2pbc_address_from_wire(c, w->physfn, "a PF", &d->physfn)) < 0)
		return r;
	d->secondary_bus = (uint8_t)w->secondary_bus;
	d->subordinate_bus = (uint8_t)w->subordinate_bus;
	d->hostbridge = w->hostbridge;
	d->switch_index = w->switch_index;
	d->warnings = w->warnings;
	return 0;
}

static int
convert_hostbridge(struct p2pb_client *c, const P2pbroker__V1__HostBridge *w,
		   struct p2pb_hostbridge_info *h)
{
	h->domain = w->domain;
	h->bus = (uint8_t)w->bus;
	h->whitelisted = w->whitelisted;
	h->whitelisted_same = w->whitelisted_same;
	h->has_whitelist_dev = w->whitelist_dev != NULL;
	if (w->whitelist_dev)
		return p2pbc_address_from_wire(c, w->whitelist_dev, "a host bridge device",
					       &h->whitelist_dev);
	return 0;
}

static int
convert_switch(struct p2pb_client *c, const P2pbroker__V1__Switch *w, struct p2pb_switch_info *s)
{
	int r = p2pbc_address_from_wire(c, w->upstream, "a switch", &s->upstream);

	if (r < 0)
		return r;
	s->parent_switch = w->parent_switch;
	s->downstream = calloc(w->n_downstream ? w->n_downstream : 1, sizeof(*s->downstream));
	if (!s->downstream)
		return -ENOMEM;
	s->n_downstream = w->n_downstream;
	for (size_t i = 0; i < w->n_downstream; i++) {
		r = p2pbc_address_from_wire(c, w->downstream[i], "a downstream port",
					    &s->downstream[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
convert_warning(struct p2pb_client *c, const P2pbroker__V1__Warning *w, struct p2pb_warning_info *x)
{
	x->message = w->message ? w->message : "";
	x->has_device = w->device != NULL;
	if (w->device)
		return p2pbc_address_from_wire(c, w->device, "a warning", &x->device);
	return 0;
}

static int
convert_topology(struct p2pb_client *c, const P2pbroker__V1__TopologyReply *w,
		 struct topology_box *b)
{
	struct p2pb_topology_info *t = &b->pub;
	int r;

	t->generation = w->generation;
	if ((r = LIST_ALLOC(b->dev_store, t->devices, w->n_devices)) < 0 ||
	    (r = LIST_ALLOC(b->hb_store, t->hostbridges, w->n_hostbridges)) < 0 ||
	    (r = LIST_ALLOC(b->sw_store, t->switches, w->n_switches)) < 0 ||
	    (r = LIST_ALLOC(b->warn_store, t->warnings, w->n_warnings)) < 0)
		return r;
	/* Counts follow the conversions so _free() only sees filled entries. */
	for (; t->n_devices < w->n_devices; t->n_devices++)
		if ((r = convert_device(c, w->devices[t->n_devices], t->devices[t->n_devices])) < 0)
			return r;
	for (; t->n_hostbridges < w->n_hostbridges; t->n_hostbridges++)
		if ((r = convert_hostbridge(c, w->hostbridges[t->n_hostbridges],
					    t->hostbridges[t->n_hostbridges])) < 0)
			return r;
	for (; t->n_switches < w->n_switches; t->n_switches++) {
		r = convert_switch(c, w->switches[t->n_switches], t->switches[t->n_switches]);
		if (r < 0) {
			t->n_switches++; /* its downstream array may be allocated */
			return r;
		}
	}
	for (; t->n_warnings < w->n_warnings; t->n_warnings++)
		if ((r = convert_warning(c, w->warnings[t->n_warnings],
					 t->warnings[t->n_warnings])) < 0)
			return r;
	return 0;
}

int
p2pb_get_topology(struct p2pb_client *c, struct p2pb_topology_info **ret)
{
	P2pbroker__V1__TopologyRequest body = P2PBROKER__V1__TOPOLOGY_REQUEST__INIT;
	Request req = P2PBROKER__V1__REQUEST__INIT;
	struct topology_box *b;
	Reply *rep;
	int r;

	if (!ret)
		return -EINVAL;
	req.body_case = P2PBROKER__V1__REQUEST__BODY_TOPOLOGY;
	req.topology = &body;
	r = p2pbc_call(c, &req, P2PBROKER__V1__REPLY__BODY_TOPOLOGY, &rep);
	if (r < 0)
		return r;
	b = calloc(1, sizeof(*b));
	if (!b) {
		reply_free(rep);
		return -ENOMEM;
	}
	b->reply = rep;
	r = convert_topology(c, rep->topology, b);
	if (r < 0) {
		p2pb_topology_info_free(&b->pub);
		return r;
	}
	*ret = &b->pub;
	return 0;
}

/* ---- path ------------------------------------------------------------ */

struct path_box {
	struct p2pb_path_info pub;
	Reply *reply;
};

struct p2pb_path_info *
p2pb_path_info_free(struct p2pb_path_info *p)
{
	struct path_box *b;

	if (!p)
		return NULL;
	b = container_of(p, struct path_box, pub);
	free(p->acs_devices);
	free(p->acs_ctrl);
	free(p->acs_unknown);
	reply_free(b->reply);
	free(b);
	return NULL;
}

static int
convert_path(struct p2pb_client *c, const P2pbroker__V1__PathReply *w, struct p2pb_path_info *p)
{
	int r;

	if ((r = p2pbc_address_from_wire(c, w->provider, "the provider", &p->provider)) < 0 ||
	    (r = p2pbc_address_from_wire(c, w->client, "the client", &p->client)) < 0)
		return r;
	if (w->n_acs_ctrl != w->n_acs_redirect)
		return p2pbc_fail(c, -EPROTO, "reply lists %zu ACS devices but %zu registers",
				  w->n_acs_redirect, w->n_acs_ctrl);
	p->verdict = (enum p2pb_p2p_map)w->verdict;
	p->distance = w->distance;
	p->raw_distance = w->raw_distance;
	p->has_common_bridge = w->common_bridge != NULL;
	if (w->common_bridge &&
	    (r = p2pbc_address_from_wire(c, w->common_bridge, "the common bridge",
					 &p->common_bridge)) < 0)
		return r;
	p->acs_devices = calloc(w->n_acs_redirect + 1, sizeof(*p->acs_devices));
	p->acs_ctrl = calloc(w->n_acs_redirect + 1, sizeof(*p->acs_ctrl));
	if (!p->acs_devices || !p->acs_ctrl)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_acs_redirect; i++) {
		r = p2pbc_address_from_wire(c, w->acs_redirect[i], "an ACS device",
					    &p->acs_devices[i]);
		if (r < 0)
			return r;
		p->acs_ctrl[i] = (uint16_t)w->acs_ctrl[i];
	}
	p->n_acs = w->n_acs_redirect;
	p->acs_unknown = calloc(w->n_acs_unknown + 1, sizeof(*p->acs_unknown));
	if (!p->acs_unknown)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_acs_unknown; i++) {
		r = p2pbc_address_from_wire(c, w->acs_unknown[i], "an ACS-unknown device",
					    &p->acs_unknown[i]);
		if (r < 0)
			return r;
	}
	p->n_acs_unknown = w->n_acs_unknown;
	p->cpu_allows = w->cpu_allows;
	p->host_bridge_whitelisted = w->host_bridge_whitelisted;
	p->reason = w->reason ? w->reason : "";
	return 0;
}

int
p2pb_get_path(struct p2pb_client *c, struct p2pb_address provider, struct p2pb_address client,
	      struct p2pb_path_info **ret)
{
	P2pbroker__V1__PathRequest body = P2PBROKER__V1__PATH_REQUEST__INIT;
	Request req = P2PBROKER__V1__REQUEST__INIT;
	P2pbroker__V1__Bdf wp, wc;
	struct path_box *b;
	Reply *rep;
	int r;

	if (!ret)
		return -EINVAL;
	p2pbc_address_to_wire(provider, &wp);
	p2pbc_address_to_wire(client, &wc);
	body.provider = &wp;
	body.client = &wc;
	req.body_case = P2PBROKER__V1__REQUEST__BODY_PATH;
	req.path = &body;
	r = p2pbc_call(c, &req, P2PBROKER__V1__REPLY__BODY_PATH, &rep);
	if (r < 0)
		return r;
	b = calloc(1, sizeof(*b));
	if (!b) {
		reply_free(rep);
		return -ENOMEM;
	}
	b->reply = rep;
	r = convert_path(c, rep->path, &b->pub);
	if (r < 0) {
		p2pb_path_info_free(&b->pub);
		return r;
	}
	*ret = &b->pub;
	return 0;
}

/* ---- providers ------------------------------------------------------- */

struct p2pb_providers_info *
p2pb_providers_info_free(struct p2pb_providers_info *p)
{
	if (!p)
		return NULL;
	free(p->providers ? p->providers[0] : NULL); /* one block for all entries */
	free(p->providers);
	free(p->clients);
	free(p);
	return NULL;
}

static int
convert_providers(struct p2pb_client *c, const P2pbroker__V1__ProvidersReply *w,
		  struct p2pb_providers_info *p)
{
	struct p2pb_provider_info *store;
	int r;

	/* _free() releases the entries as one block through providers[0]. */
	r = LIST_ALLOC(store, p->providers, w->n_providers);
	if (r < 0) {
		free(store);
		return r;
	}
	p->providers[0] = store;
	p->clients = calloc(w->n_clients + 1, sizeof(*p->clients));
	if (!p->clients)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_clients; i++) {
		r = p2pbc_address_from_wire(c, w->clients[i], "a client", &p->clients[i]);
		if (r < 0)
			return r;
	}
	p->n_clients = w->n_clients;
	for (size_t i = 0; i < w->n_providers; i++) {
		const P2pbroker__V1__ProviderEntry *e = w->providers[i];
		struct p2pb_provider_info *x = p->providers[i];

		r = p2pbc_address_from_wire(c, e->bdf, "a provider", &x->address);
		if (r < 0)
			return r;
		x->total_distance = e->total_distance;
		x->numa_matches = e->numa_matches;
		x->numa_node = e->numa_node;
		x->size = e->size;
		x->available = e->available;
	}
	p->n_providers = w->n_providers;
	return 0;
}

int
p2pb_find_providers(struct p2pb_client *c, const struct p2pb_address *clients, size_t n_clients,
		    struct p2pb_providers_info **ret)
{
	P2pbroker__V1__ProvidersRequest body = P2PBROKER__V1__PROVIDERS_REQUEST__INIT;
	Request req = P2PBROKER__V1__REQUEST__INIT;
	struct p2pb_providers_info *p = NULL;
	P2pbroker__V1__Bdf *wire = NULL, **ptrs = NULL;
	Reply *rep = NULL;
	int r = -ENOMEM;

	if (!ret || (!clients && n_clients))
		return -EINVAL;
	wire = calloc(n_clients + 1, sizeof(*wire));
	ptrs = calloc(n_clients + 1, sizeof(*ptrs));
	if (!wire || !ptrs)
		goto out;
	for (size_t i = 0; i < n_clients; i++) {
		p2pbc_address_to_wire(clients[i], &wire[i]);
		ptrs[i] = &wire[i];
	}
	body.n_clients = n_clients;
	body.clients = ptrs;
	req.body_case = P2PBROKER__V1__REQUEST__BODY_PROVIDERS;
	req.providers = &body;
	r = p2pbc_call(c, &req, P2PBROKER__V1__REPLY__BODY_PROVIDERS, &rep);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto out;
	r = convert_providers(c, rep->providers, p);
	if (r < 0)
		goto out;
	*ret = p;
	p = NULL;
out:
	p2pb_providers_info_free(p);
	reply_free(rep);
	free(ptrs);
	free(wire);
	return r;
}

/* ---- matrix ---------------------------------------------------------- */

struct p2pb_matrix_info *
p2pb_matrix_info_free(struct p2pb_matrix_info *m)
{
	if (!m)
		return NULL;
	free(m->devices);
	free(m->verdict);
	free(m->distance);
	free(m);
	return NULL;
}

static int
convert_matrix(struct p2pb_client *c, const P2pbroker__V1__MatrixReply *w,
	       struct p2pb_matrix_info *m)
{
	size_t n = w->n_devices, cells;
	int r;

	if (__builtin_mul_overflow(n, n, &cells) || w->n_verdict != cells || w->n_distance != cells)
		return p2pbc_fail(c, -EPROTO,
				  "matrix of %zu devices carries %zu verdicts and %zu distances", n,
				  w->n_verdict, w->n_distance);
	m->devices = calloc(n + 1, sizeof(*m->devices));
	m->verdict = malloc(cells + 1);
	m->distance = malloc((cells + 1) * sizeof(*m->distance));
	if (!m->devices || !m->verdict || !m->distance)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r = p2pbc_address_from_wire(c, w->devices[i], "a matrix device", &m->devices[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < cells; i++)
		m->verdict[i] = (uint8_t)w->verdict[i];
	/* An empty matrix (no endpoints) arrives with NULL arrays, which
	 * memcpy() must not be given even for zero bytes. */
	if (cells)
		memcpy(m->distance, w->distance, cells * sizeof(*m->distance));
	m->n = n;
	return 0;
}

int
p2pb_get_matrix(struct p2pb_client *c, struct p2pb_matrix_info **ret)
{
	P2pbroker__V1__MatrixRequest body = P2PBROKER__V1__MATRIX_REQUEST__INIT;
	Request req = P2PBROKER__V1__REQUEST__INIT;
	struct p2pb_matrix_info *m;
	Reply *rep;
	int r;

	if (!ret)
		return -EINVAL;
	req.body_case = P2PBROKER__V1__REQUEST__BODY_MATRIX;
	req.matrix = &body;
	r = p2pbc_call(c, &req, P2PBROKER__V1__REPLY__BODY_MATRIX, &rep);
	if (r < 0)
		return r;
	m = calloc(1, sizeof(*m));
	r = m ? convert_matrix(c, rep->matrix, m) : -ENOMEM;
	reply_free(rep);
	if (r < 0) {
		p2pb_matrix_info_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

/* ---- rescan ---------------------------------------------------------- */

struct p2pb_rescan_info *
p2pb_rescan_info_free(struct p2pb_rescan_info *r)
{
	free(r);
	return NULL;
}

int
p2pb_rescan(struct p2pb_client *c, struct p2pb_rescan_info **ret)
{
	P2pbroker__V1__RescanRequest body = P2PBROKER__V1__RESCAN_REQUEST__INIT;
	Request req = P2PBROKER__V1__REQUEST__INIT;
	struct p2pb_rescan_info *x;
	Reply *rep;
	int r;

	if (!ret)
		return -EINVAL;
	req.body_case = P2PBROKER__V1__REQUEST__BODY_RESCAN;
	req.rescan = &body;
	r = p2pbc_call(c, &req, P2PBROKER__V1__REPLY__BODY_RESCAN, &rep);
	if (r < 0)
		return r;
	x = calloc(1, sizeof(*x));
	if (x) {
		x->generation = rep->rescan->generation;
		x->n_devices = rep->rescan->n_devices;
		x->scan_usec = rep->rescan->scan_usec;
	}
	reply_free(rep);
	if (!x)
		return -ENOMEM;
	*ret = x;
	return 0;
}
