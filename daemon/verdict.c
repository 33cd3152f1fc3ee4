/* verdict.c - P2P DMA verdicts as Linux 6.12's drivers/pci/p2pdma.c decides them, their
 * explanations, provider ranking and the all-pairs matrix. Pure: reads a topology only. */
#include "verdict.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Host bridges the kernel trusts for P2P through the root complex
 * (pci_p2pdma_whitelist[]), matched against pci_host_bridge_dev(). */
struct hb_whitelist_entry {
	uint16_t vendor;
	uint16_t device;
	bool same_host_bridge_only; /* REQ_SAME_HOST_BRIDGE */
};

#define VENDOR_INTEL 0x8086

static const struct hb_whitelist_entry hb_whitelist[] = {
	/* Xeon E5 / Core i7 */
	{ VENDOR_INTEL, 0x3c00, true },
	{ VENDOR_INTEL, 0x3c01, true },
	/* Xeon E7 v3 / Xeon E5 v3 / Core i7 */
	{ VENDOR_INTEL, 0x2f00, true },
	{ VENDOR_INTEL, 0x2f01, true },
	/* Skylake-E and later */
	{ VENDOR_INTEL, 0x2030, false },
	{ VENDOR_INTEL, 0x2031, false },
	{ VENDOR_INTEL, 0x2032, false },
	{ VENDOR_INTEL, 0x2033, false },
	{ VENDOR_INTEL, 0x2020, false },
	{ VENDOR_INTEL, 0x09a2, false },
};

#define N_HB_WHITELIST (sizeof(hb_whitelist) / sizeof(hb_whitelist[0]))

/* Per host bridge: may it carry P2P when provider and client share it, and
 * when they do not (then both host bridges need HB_WL_ANY). */
enum {
	HB_WL_SAME = 1u << 0,
	HB_WL_ANY = 1u << 1,
};

struct p2pb_verdict_ctx {
	const struct p2pb_topology *t;
	int n;
	/* Device i's upstream chain as the kernel walks it: chain[off[i]] is i
	 * itself, then each pci_upstream_bridge() in turn, len[i] entries. */
	int *off;
	int *len;
	int *chain;
	/* acs_upto[off[i] + k]: ACS-redirect devices among chain entries 0..k. */
	int *acs_upto;
	uint8_t *hb_wl; /* HB_WL_* per host bridge */
	bool cpu_ok;
};

/* The pair facts every caller needs; ia/ib are the common device's positions
 * in the provider's and client's chains, -1 when there is none. */
struct pair {
	enum p2pb_map_type map;
	int dist;
	int ia, ib;
	int n_acs;
	bool hb_ok;
};

static const struct hb_whitelist_entry *
hb_whitelist_find(uint16_t vendor, uint16_t device)
{
	for (size_t i = 0; i < N_HB_WHITELIST; i++)
		if (hb_whitelist[i].vendor == vendor && hb_whitelist[i].device == device)
			return &hb_whitelist[i];
	return NULL;
}

/* The device __host_bridge_whitelist() looks at, or NULL. */
static const struct p2pb_dev *
hb_checked_dev(const struct p2pb_topology *t, int hb)
{
	if (hb < 0 || (size_t)hb >= t->n_hostbridges)
		return NULL;
	int d = t->hostbridges[hb].first_dev;
	if (d < 0 || (size_t)d >= t->n_devs)
		return NULL;
	return &t->devs[d];
}

bool
p2pb_host_bridge_whitelisted(const struct p2pb_topology *t, int hb, bool same_host_bridge)
{
	const struct p2pb_dev *root = hb_checked_dev(t, hb);
	if (!root)
		return false;
	const struct hb_whitelist_entry *e = hb_whitelist_find(root->vendor, root->device);
	if (!e)
		return false;
	return same_host_bridge || !e->same_host_bridge_only;
}

/* cpu_supports_p2pdma(): any AMD CPU of family 0x17 (Zen) or newer. Hygon is
 * a vendor of its own in the kernel and does not count. */
static bool
cpu_supports_p2pdma(const struct p2pb_cpu *cpu)
{
	return cpu->known && strcmp(cpu->vendor, "AuthenticAMD") == 0 && cpu->family >= 0x17;
}

/* pci_bridge_has_acs_redir(), which the kernel applies to every device on
 * the path, endpoints included. */
static bool
acs_redirects(const struct p2pb_dev *d)
{
	return d->acs.present && (d->acs.ctrl & P2PB_ACS_REDIR_MASK);
}

static bool
dev_valid(const struct p2pb_topology *t, int d)
{
	return d >= 0 && (size_t)d < t->n_devs;
}

/* pci_upstream_bridge(), bounded so a damaged index can never leave the array. */
static int
upstream(const struct p2pb_topology *t, int d)
{
	int up = p2pb_upstream_bridge(t, d);
	return dev_valid(t, up) ? up : P2PB_NONE;
}

/* Length of d's chain; a parent loop (which p2pb_topology_finish() should
 * already have broken) is cut after n devices instead of looping forever. */
static int
chain_length(const struct p2pb_topology *t, int d)
{
	int n = 0;
	for (; d != P2PB_NONE && (size_t)n < t->n_devs; d = upstream(t, d))
		n++;
	return n;
}

static int
ctx_build_chains(struct p2pb_verdict_ctx *c)
{
	const struct p2pb_topology *t = c->t;
	size_t total = 0;

	c->off = calloc((size_t)c->n + 1, sizeof(int));
	c->len = calloc((size_t)c->n + 1, sizeof(int));
	if (!c->off || !c->len)
		return -ENOMEM;
	for (int i = 0; i < c->n; i++) {
		c->off[i] = (int)total;
		c->len[i] = chain_length(t, i);
		total += (size_t)c->len[i];
	}
	c->chain = malloc((total + 1) * sizeof(int));
	c->acs_upto = malloc((total + 1) * sizeof(int));
	if (!c->chain || !c->acs_upto)
		return -ENOMEM;
	for (int i = 0; i < c->n; i++) {
		int d = i, acs = 0;
		for (int k = 0; k < c->len[i]; k++, d = upstream(t, d)) {
			acs += acs_redirects(&t->devs[d]);
			c->chain[c->off[i] + k] = d;
			c->acs_upto[c->off[i] + k] = acs;
		}
	}
	return 0;
}

struct p2pb_verdict_ctx *
p2pb_verdict_ctx_new(const struct p2pb_topology *t)
{
	if (!t || t->n_devs > (size_t)(INT32_MAX / 2))
		return NULL;

	struct p2pb_verdict_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->t = t;
	c->n = (int)t->n_devs;
	c->cpu_ok = cpu_supports_p2pdma(&t->cpu);
	if (ctx_build_chains(c) < 0)
		return p2pb_verdict_ctx_free(c);

	c->hb_wl = calloc(t->n_hostbridges + 1, 1);
	if (!c->hb_wl)
		return p2pb_verdict_ctx_free(c);
	for (size_t h = 0; h < t->n_hostbridges; h++) {
		if (p2pb_host_bridge_whitelisted(t, (int)h, true))
			c->hb_wl[h] |= HB_WL_SAME;
		if (p2pb_host_bridge_whitelisted(t, (int)h, false))
			c->hb_wl[h] |= HB_WL_ANY;
	}
	return c;
}

struct p2pb_verdict_ctx *
p2pb_verdict_ctx_free(struct p2pb_verdict_ctx *c)
{
	if (!c)
		return NULL;
	free(c->off);
	free(c->len);
	free(c->chain);
	free(c->acs_upto);
	free(c->hb_wl);
	free(c);
	return NULL;
}

static int
dev_hostbridge(const struct p2pb_topology *t, int d)
{
	int hb = t->devs[d].hostbridge;
	return hb >= 0 && (size_t)hb < t->n_hostbridges ? hb : P2PB_NONE;
}

/* host_bridge_whitelist(): one shared host bridge may carry same-host-bridge
 * entries; two different ones must both be whitelisted without that flag. */
static bool
pair_hb_whitelisted(const struct p2pb_verdict_ctx *c, int hb_a, int hb_b)
{
	if (hb_a == P2PB_NONE || hb_b == P2PB_NONE)
		return false;
	if (hb_a == hb_b)
		return c->hb_wl[hb_a] & HB_WL_SAME;
	return (c->hb_wl[hb_a] & HB_WL_ANY) && (c->hb_wl[hb_b] & HB_WL_ANY);
}

/*
 * calc_map_type_and_dist(). The kernel takes the first device of the
 * provider's chain that also lies on the client's chain. Every chain is a
 * device followed by its ancestors' chain, so two chains that meet share
 * their whole tail: the common device starts their longest common suffix,
 * found from the root end in O(depth).
 */
static void
pair_compute(const struct p2pb_verdict_ctx *c, int p, int q, struct pair *ret)
{
	const int *a = c->chain + c->off[p], *b = c->chain + c->off[q];
	int i = c->len[p] - 1, j = c->len[q] - 1;
	bool through_hb = true;

	ret->ia = ret->ib = -1;
	ret->n_acs = 0;
	if (a[i] == b[j]) {
		while (i > 0 && j > 0 && a[i - 1] == b[j - 1]) {
			i--;
			j--;
		}
		ret->ia = i;
		ret->ib = j;
		ret->dist = i + j;
		/* Provider side up to and including the common device, client
		 * side up to but excluding it. */
		ret->n_acs = c->acs_upto[c->off[p] + i] + (j ? c->acs_upto[c->off[q] + j - 1] : 0);
		through_hb = ret->n_acs > 0;
	} else {
		/* No common device: the loops leave each count at its chain's length. */
		ret->dist = c->len[p] + c->len[q];
	}

	ret->hb_ok = pair_hb_whitelisted(c, dev_hostbridge(c->t, p), dev_hostbridge(c->t, q));
	if (!through_hb)
		ret->map = P2PB_MAP_BUS_ADDR;
	else if (c->cpu_ok || ret->hb_ok)
		ret->map = P2PB_MAP_THRU_HOST_BRIDGE;
	else
		ret->map = P2PB_MAP_NOT_SUPPORTED;
}

static void
verdict_add_acs(struct p2pb_verdict *v, const struct p2pb_topology *t, int d)
{
	if (acs_redirects(&t->devs[d]) && v->n_acs < P2PB_MAX_PATH_ACS)
		v->acs_devs[v->n_acs++] = d;
}

void
p2pb_verdict(const struct p2pb_verdict_ctx *c, int provider, int client, struct p2pb_verdict *ret)
{
	const struct p2pb_topology *t = c->t;
	struct pair pr;

	memset(ret, 0, sizeof(*ret));
	ret->common = P2PB_NONE;
	ret->provider_hb = ret->client_hb = P2PB_NONE;
	ret->cpu_allows = c->cpu_ok;
	if (!dev_valid(t, provider) || !dev_valid(t, client)) {
		ret->map = P2PB_MAP_NOT_SUPPORTED;
		ret->distance = ret->raw_distance = -1;
		return;
	}

	pair_compute(c, provider, client, &pr);
	ret->map = pr.map;
	ret->raw_distance = pr.dist;
	ret->distance = pr.map == P2PB_MAP_NOT_SUPPORTED ? -1 : pr.dist;
	ret->host_bridge_whitelisted = pr.hb_ok;
	ret->provider_hb = dev_hostbridge(t, provider);
	ret->client_hb = dev_hostbridge(t, client);
	if (pr.ia < 0)
		return; /* the kernel never reports ACS without a common device */

	ret->common = c->chain[c->off[provider] + pr.ia];
	for (int k = 0; k <= pr.ia; k++)
		verdict_add_acs(ret, t, c->chain[c->off[provider] + k]);
	for (int k = 0; k < pr.ib; k++)
		verdict_add_acs(ret, t, c->chain[c->off[client] + k]);
}

void
p2pb_matrix(const struct p2pb_verdict_ctx *c, const int *devs, size_t n, uint8_t *map,
	    int32_t *dist)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			size_t k = i * n + j;
			struct pair pr;

			if (!dev_valid(c->t, devs[i]) || !dev_valid(c->t, devs[j])) {
				map[k] = P2PB_MAP_NOT_SUPPORTED;
				dist[k] = -1;
				continue;
			}
			pair_compute(c, devs[i], devs[j], &pr);
			map[k] = (uint8_t)pr.map;
			dist[k] = pr.map == P2PB_MAP_NOT_SUPPORTED ? -1 : pr.dist;
		}
	}
}

int
p2pb_matrix_devices(const struct p2pb_topology *t, int **ret)
{
	int *v = malloc((t->n_devs + 1) * sizeof(int));
	int n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_devs; i++)
		if (!p2pb_dev_is_bridge(&t->devs[i]))
			v[n++] = (int)i;
	*ret = v;
	return n;
}

/* pci_p2pdma_distance_many() without its warnings; -EINVAL for indices that
 * name no device (the kernel's non-PCI client case returns -1). */
int
p2pb_distance_many(const struct p2pb_verdict_ctx *c, int provider, const int *clients,
		   size_t n_clients)
{
	int total = 0;

	if (!dev_valid(c->t, provider) || (n_clients && !clients))
		return -EINVAL;
	if (n_clients == 0)
		return -1;
	for (size_t i = 0; i < n_clients; i++) {
		struct pair pr;

		if (!dev_valid(c->t, clients[i]))
			return -EINVAL;
		pair_compute(c, provider, clients[i], &pr);
		if (pr.map == P2PB_MAP_NOT_SUPPORTED)
			return -1;
		total += pr.dist;
	}
	return total;
}

/* Ranking order; the kernel picks at random among the closest, we pick the
 * same set's best by locality, then room, then address. */
struct rank_item {
	struct p2pb_provider_choice choice;
	uint64_t available;
	struct p2pb_bdf bdf;
};

static int
rank_cmp(const void *x, const void *y)
{
	const struct rank_item *a = x, *b = y;

	if (a->choice.total_distance != b->choice.total_distance)
		return a->choice.total_distance < b->choice.total_distance ? -1 : 1;
	if (a->choice.numa_matches != b->choice.numa_matches)
		return a->choice.numa_matches > b->choice.numa_matches ? -1 : 1;
	if (a->available != b->available)
		return a->available > b->available ? -1 : 1;
	return p2pb_bdf_cmp(a->bdf, b->bdf);
}

static int
numa_matches(const struct p2pb_topology *t, int provider, const int *clients, size_t n_clients)
{
	int node = t->devs[provider].numa_node, n = 0;

	if (node < 0)
		return 0; /* no NUMA information: locality says nothing */
	for (size_t i = 0; i < n_clients; i++)
		n += t->devs[clients[i]].numa_node == node;
	return n;
}

int
p2pb_providers_rank(const struct p2pb_verdict_ctx *c, const int *clients, size_t n_clients,
		    struct p2pb_provider_choice *ret, size_t max)
{
	const struct p2pb_topology *t = c->t;
	struct rank_item *items;
	size_t found = 0;

	if (n_clients && !clients)
		return -EINVAL;
	for (size_t i = 0; i < n_clients; i++)
		if (!dev_valid(t, clients[i]))
			return -EINVAL;
	if (t->n_devs > (size_t)INT32_MAX)
		return -EOVERFLOW;

	items = malloc((t->n_devs + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (size_t d = 0; d < t->n_devs; d++) {
		if (!t->devs[d].p2pmem.published)
			continue; /* pci_has_p2pmem() */
		int total = p2pb_distance_many(c, (int)d, clients, n_clients);
		if (total < 0)
			continue;
		items[found++] = (struct rank_item){
			.choice = { .dev = (int)d,
				    .total_distance = total,
				    .numa_matches = numa_matches(t, (int)d, clients, n_clients) },
			.available = t->devs[d].p2pmem.available,
			.bdf = t->devs[d].bdf,
		};
	}
	qsort(items, found, sizeof(*items), rank_cmp);
	for (size_t i = 0; i < found && i < max; i++)
		ret[i] = items[i].choice;
	free(items);
	return (int)found;
}

const char *
p2pb_map_type_name(enum p2pb_map_type m)
{
	switch (m) {
	case P2PB_MAP_NOT_SUPPORTED:
		return "not-supported";
	case P2PB_MAP_BUS_ADDR:
		return "bus-addr";
	case P2PB_MAP_THRU_HOST_BRIDGE:
		return "thru-host-bridge";
	}
	return "unknown";
}

/* ---- explanations ------------------------------------------------------ */

/* An append-only text buffer that, like snprintf, counts what it could not store. */
struct sbuf {
	char *buf;
	size_t len;
	size_t pos;
};

static void sbuf_printf(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sbuf_printf(struct sbuf *s, const char *fmt, ...)
{
	size_t room = s->pos < s->len ? s->len - s->pos : 0;
	char *at = room ? s->buf + s->pos : NULL; /* vsnprintf(NULL, 0) only measures */
	va_list ap;

	va_start(ap, fmt);
	int r = vsnprintf(at, room, fmt, ap);
	va_end(ap);
	if (r > 0)
		s->pos += (size_t)r;
}

static const char *
bdf_str(const struct p2pb_topology *t, int d, char *buf)
{
	return p2pb_bdf_format(t->devs[d].bdf, buf);
}

static void
sbuf_hb_name(struct sbuf *s, const struct p2pb_topology *t, int hb)
{
	if (hb == P2PB_NONE)
		sbuf_printf(s, "(unknown host bridge)");
	else
		sbuf_printf(s, "%04" PRIx32 ":%02x", t->hostbridges[hb].domain,
			    t->hostbridges[hb].bus);
}

static void
sbuf_acs_bits(struct sbuf *s, uint16_t ctrl)
{
	static const struct {
		uint16_t bit;
		const char *name;
	} bits[] = { { P2PB_ACS_RR, "RR" }, { P2PB_ACS_CR, "CR" }, { P2PB_ACS_EC, "EC" } };
	const char *sep = "";

	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		if (ctrl & bits[i].bit) {
			sbuf_printf(s, "%s%s", sep, bits[i].name);
			sep = " ";
		}
	}
}

/* Hops from d up to target (or to the chain's end when target is NONE),
 * counted as the kernel's loops count them. */
static int
hops_to(const struct p2pb_topology *t, int d, int target, int *ret_top)
{
	int hops = 0, top = d;

	for (; d != P2PB_NONE && d != target && (size_t)hops < t->n_devs; d = upstream(t, d)) {
		top = d;
		hops++;
	}
	if (ret_top)
		*ret_top = top;
	return hops;
}

static void
explain_path(struct sbuf *s, const struct p2pb_topology *t, const struct p2pb_verdict *v,
	     int provider, int client)
{
	char b[P2PB_BDF_STRLEN]; /* each BDF is printed before the next is formatted */

	if (v->common == P2PB_NONE) {
		int top_p, top_c;
		int dp = hops_to(t, provider, P2PB_NONE, &top_p);
		int dc = hops_to(t, client, P2PB_NONE, &top_c);

		sbuf_printf(
			s, "no common upstream device: the provider's path ends at %s on root bus ",
			bdf_str(t, top_p, b));
		sbuf_hb_name(s, t, v->provider_hb);
		sbuf_printf(s, " and the client's at %s on root bus ", bdf_str(t, top_c, b));
		sbuf_hb_name(s, t, v->client_hb);
		sbuf_printf(
			s,
			", so traffic goes through the host bridge (distance %d = %d + %d devices)",
			v->raw_distance, dp, dc);
		return;
	}
	if (provider == client) {
		sbuf_printf(s, "provider and client are the same function %s (distance 0)",
			    bdf_str(t, provider, b));
		return;
	}
	const char *role = v->common == provider ? ", the provider itself"
			   : v->common == client ? ", the client itself"
						 : "";
	sbuf_printf(s,
		    "common upstream device %s (%s%s), distance %d (provider %d + client %d hops)",
		    bdf_str(t, v->common, b), p2pb_port_type_name(t->devs[v->common].port_type),
		    role, v->raw_distance, hops_to(t, provider, v->common, NULL),
		    hops_to(t, client, v->common, NULL));
}

static void
explain_acs(struct sbuf *s, const struct p2pb_topology *t, const struct p2pb_verdict *v)
{
	char b[P2PB_BDF_STRLEN];

	if (v->n_acs == 0) {
		sbuf_printf(s, "; no ACS redirect (RR, CR, EC) on the path");
		return;
	}
	sbuf_printf(s, "; ACS redirect is set on ");
	for (size_t i = 0; i < v->n_acs; i++) {
		sbuf_printf(s, "%s%s (", i ? ", " : "", bdf_str(t, v->acs_devs[i], b));
		sbuf_acs_bits(s, t->devs[v->acs_devs[i]].acs.ctrl);
		sbuf_printf(s, ")");
	}
	sbuf_printf(s,
		    ", so P2P requests are redirected up through the host bridge (to disable ACS "
		    "redirect for this path, add the kernel parameter: pci=disable_acs_redir=");
	for (size_t i = 0; i < v->n_acs; i++)
		sbuf_printf(s, "%s%s", i ? ";" : "", bdf_str(t, v->acs_devs[i], b));
	sbuf_printf(s, ")");
}

size_t
p2pb_verdict_acs_unknown(const struct p2pb_topology *t, const struct p2pb_verdict *v, int provider,
			 int client, int *ret, size_t max)
{
	size_t n = 0;

	if (v->common == P2PB_NONE || !dev_valid(t, provider) || !dev_valid(t, client))
		return 0;
	for (int side = 0; side < 2; side++) {
		int d = side == 0 ? provider : client;
		/* Bounded: a damaged parent chain cannot loop us forever. */
		for (size_t steps = 0; d != P2PB_NONE && steps <= t->n_devs; steps++) {
			if (side == 1 && d == v->common)
				break;
			if (t->devs[d].warnings & P2PB_DW_ACS_UNKNOWN) {
				if (n < max)
					ret[n] = d;
				n++;
			}
			if (d == v->common)
				break;
			d = p2pb_upstream_bridge(t, d);
		}
	}
	return n;
}

static void
explain_acs_unknown(struct sbuf *s, const struct p2pb_topology *t, const struct p2pb_verdict *v,
		    int provider, int client)
{
	char b[P2PB_BDF_STRLEN];
	int devs[P2PB_MAX_PATH_ACS];
	size_t n = p2pb_verdict_acs_unknown(t, v, provider, client, devs, P2PB_MAX_PATH_ACS);

	if (n == 0)
		return;
	if (n > P2PB_MAX_PATH_ACS)
		n = P2PB_MAX_PATH_ACS;
	sbuf_printf(s, " (caution: the ACS control of ");
	for (size_t i = 0; i < n; i++)
		sbuf_printf(s, "%s%s", i ? ", " : "", bdf_str(t, devs[i], b));
	sbuf_printf(s, " could not be read here, see the scan warnings; the kernel may see an "
		       "ACS redirect this verdict does not)");
}

static void
explain_cpu(struct sbuf *s, const struct p2pb_cpu *cpu, bool allows)
{
	if (allows)
		sbuf_printf(s,
			    "the CPU is %s family 0x%x (Zen or newer), which the kernel trusts for "
			    "P2P through the host bridge, so the host bridge whitelist is not "
			    "consulted",
			    cpu->vendor, cpu->family);
	else if (!cpu->known)
		sbuf_printf(s, "the CPU vendor and family are unknown (no cpuinfo), so the AMD Zen "
			       "rule cannot apply");
	else if (strcmp(cpu->vendor, "AuthenticAMD") == 0)
		sbuf_printf(
			s,
			"the CPU is AuthenticAMD family 0x%x, older than Zen (0x17), so the AMD "
			"rule does not apply",
			cpu->family);
	else
		sbuf_printf(s,
			    "the CPU is %s family 0x%x and the kernel's CPU rule is for AMD "
			    "(AuthenticAMD) family 0x17 or newer only",
			    cpu->vendor[0] ? cpu->vendor : "(no vendor)", cpu->family);
}

/* One host bridge's whitelist status, as __host_bridge_whitelist() sees it. */
static void
explain_one_hb(struct sbuf *s, const struct p2pb_topology *t, int hb, bool same)
{
	char b[P2PB_BDF_STRLEN];

	sbuf_printf(s, "host bridge ");
	sbuf_hb_name(s, t, hb);
	const struct p2pb_dev *root = hb_checked_dev(t, hb);
	if (!root) {
		sbuf_printf(s, " has no device the kernel checks (its first device is neither 00.0 "
			       "nor a root port), so it is not whitelisted");
		return;
	}
	const struct hb_whitelist_entry *e = hb_whitelist_find(root->vendor, root->device);
	sbuf_printf(s, " is checked by its first device %s [%04x:%04x], which ",
		    p2pb_bdf_format(root->bdf, b), root->vendor, root->device);
	if (!e)
		sbuf_printf(s, "is not on the kernel's P2PDMA whitelist");
	else if (!e->same_host_bridge_only)
		sbuf_printf(s, "is on the kernel's whitelist");
	else if (same)
		sbuf_printf(s,
			    "is on the kernel's whitelist for provider and client under the same "
			    "host bridge");
	else
		sbuf_printf(
			s, "the kernel's whitelist accepts only when provider and client are under "
			   "the same host bridge, and they are not");
}

static void
explain_hosts(struct sbuf *s, const struct p2pb_topology *t, const struct p2pb_verdict *v)
{
	if (v->provider_hb == v->client_hb) {
		explain_one_hb(s, t, v->provider_hb, true);
		return;
	}
	sbuf_printf(s, "provider and client are under different host bridges, which must both be "
		       "whitelisted without the same-host-bridge restriction: ");
	explain_one_hb(s, t, v->provider_hb, false);
	sbuf_printf(s, "; ");
	explain_one_hb(s, t, v->client_hb, false);
}

int
p2pb_verdict_explain(const struct p2pb_topology *t, const struct p2pb_verdict *v, int provider,
		     int client, char *buf, size_t len)
{
	struct sbuf s = { .buf = buf, .len = len, .pos = 0 };

	if (len)
		buf[0] = '\0';
	if (!dev_valid(t, provider) || !dev_valid(t, client)) {
		sbuf_printf(&s, "no such device: provider index %d, client index %d", provider,
			    client);
		return (int)s.pos;
	}

	explain_path(&s, t, v, provider, client);
	if (v->common != P2PB_NONE)
		explain_acs(&s, t, v);
	if (v->map == P2PB_MAP_BUS_ADDR) {
		sbuf_printf(&s, ": %s, distance %d", p2pb_map_type_name(v->map), v->distance);
		explain_acs_unknown(&s, t, v, provider, client);
		return (int)s.pos;
	}

	sbuf_printf(&s, "; ");
	explain_cpu(&s, &t->cpu, v->cpu_allows);
	if (!v->cpu_allows) {
		sbuf_printf(&s, "; ");
		explain_hosts(&s, t, v);
	}
	if (v->map == P2PB_MAP_NOT_SUPPORTED)
		sbuf_printf(&s,
			    ": not-supported (the path goes through the host bridge, which is not "
			    "whitelisted for this pair, and the CPU rule does not apply)");
	else
		sbuf_printf(&s, ": %s, distance %d", p2pb_map_type_name(v->map), v->distance);
	explain_acs_unknown(&s, t, v, provider, client);
	return (int)s.pos;
}
