/* topology.c - the PCI topology model: collecting devices, then sorting, linking and
 * checking them into the tree (host bridges, switches, children) that verdicts walk. */
#include "topology.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Arrays grow by doubling; the capacity is implied by the count so that the
 * fixed struct needs no extra fields: 8, 16, 32, ... */
static size_t
capacity_for(size_t n)
{
	size_t c = 8;

	while (c < n)
		c *= 2;
	return c;
}

static int
grow(void **arr, size_t n, size_t elem)
{
	void *p;

	if (n != 0 && (n < 8 || n != capacity_for(n)))
		return 0;
	p = realloc(*arr, capacity_for(n + 1) * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

struct p2pb_topology *
p2pb_topology_new(void)
{
	return calloc(1, sizeof(struct p2pb_topology));
}

static void
free_derived(struct p2pb_topology *t)
{
	for (size_t i = 0; i < t->n_switches; i++)
		free(t->switches[i].downstream);
	free(t->switches);
	t->switches = NULL;
	t->n_switches = 0;
	free(t->hostbridges);
	t->hostbridges = NULL;
	t->n_hostbridges = 0;
}

struct p2pb_topology *
p2pb_topology_free(struct p2pb_topology *t)
{
	if (!t)
		return NULL;
	free_derived(t);
	for (size_t i = 0; i < t->n_warnings; i++)
		free(t->warnings[i].message);
	free(t->warnings);
	free(t->devs);
	free(t->root);
	free(t);
	return NULL;
}

int
p2pb_topology_add_dev(struct p2pb_topology *t, const struct p2pb_dev *d)
{
	int r = grow((void **)&t->devs, t->n_devs, sizeof(*t->devs));

	if (r < 0)
		return r;
	t->devs[t->n_devs] = *d;
	return (int)t->n_devs++;
}

static int
warn_va(struct p2pb_topology *t, int dev, const char *fmt, va_list ap)
{
	char *msg;
	int r = grow((void **)&t->warnings, t->n_warnings, sizeof(*t->warnings));

	if (r < 0)
		return r;
	if (vasprintf(&msg, fmt, ap) < 0)
		return -ENOMEM;
	t->warnings[t->n_warnings].dev = dev;
	t->warnings[t->n_warnings].message = msg;
	t->n_warnings++;
	return 0;
}

int
p2pb_topology_warn(struct p2pb_topology *t, int dev, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = warn_va(t, dev, fmt, ap);
	va_end(ap);
	return r;
}

/* A warning about device i that also sets its P2PB_DW_* bit. */
static int __attribute__((format(printf, 4, 5)))
warn_dev(struct p2pb_topology *t, int i, uint32_t bit, const char *fmt, ...)
{
	va_list ap;
	int r;

	t->devs[i].warnings |= bit;
	va_start(ap, fmt);
	r = warn_va(t, i, fmt, ap);
	va_end(ap);
	return r;
}

int
p2pb_bdf_cmp(struct p2pb_bdf a, struct p2pb_bdf b)
{
	if (a.domain != b.domain)
		return a.domain < b.domain ? -1 : 1;
	if (a.bus != b.bus)
		return a.bus < b.bus ? -1 : 1;
	if (a.dev != b.dev)
		return a.dev < b.dev ? -1 : 1;
	if (a.fn != b.fn)
		return a.fn < b.fn ? -1 : 1;
	return 0;
}

char *
p2pb_bdf_format(struct p2pb_bdf bdf, char *buf)
{
	/* Domains above 0x0fffffff would not fit; the parser never yields them
	 * and snprintf() keeps a hand-made one from overflowing. */
	snprintf(buf, P2PB_BDF_STRLEN, "%04x:%02x:%02x.%x", (unsigned)bdf.domain, bdf.bus, bdf.dev,
		 bdf.fn);
	return buf;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads min..max hex digits; NULL when there are fewer than min. */
static const char *
parse_hex(const char *s, size_t min, size_t max, uint32_t *ret)
{
	uint32_t v = 0;
	size_t k = 0;

	while (k < max && hexval(s[k]) >= 0) {
		v = v * 16 + (uint32_t)hexval(s[k]);
		k++;
	}
	if (k < min)
		return NULL;
	*ret = v;
	return s + k;
}

int
p2pb_bdf_parse(const char *s, struct p2pb_bdf *ret)
{
	uint32_t domain = 0, bus, dev, fn;
	const char *p;

	if (!s)
		return -EINVAL;
	/* With a domain there are two colons; "BB:DD.F" has one. */
	p = strchr(s, ':');
	if (p && strchr(p + 1, ':')) {
		s = parse_hex(s, 1, 8, &domain);
		if (!s || *s != ':' || domain > 0x0fffffff)
			return -EINVAL;
		s++;
	}
	s = parse_hex(s, 2, 2, &bus);
	if (!s || *s++ != ':')
		return -EINVAL;
	s = parse_hex(s, 2, 2, &dev);
	if (!s || *s++ != '.' || dev > 0x1f)
		return -EINVAL;
	s = parse_hex(s, 1, 1, &fn);
	if (!s || *s != '\0' || fn > 7)
		return -EINVAL;
	*ret = (struct p2pb_bdf){
		.domain = domain, .bus = (uint8_t)bus, .dev = (uint8_t)dev, .fn = (uint8_t)fn
	};
	return 0;
}

static int
bdf_key_cmp(const void *key, const void *elem)
{
	return p2pb_bdf_cmp(*(const struct p2pb_bdf *)key, ((const struct p2pb_dev *)elem)->bdf);
}

int
p2pb_topology_find(const struct p2pb_topology *t, struct p2pb_bdf bdf)
{
	const struct p2pb_dev *d;

	if (!t || !t->devs)
		return -ENOENT;
	d = bsearch(&bdf, t->devs, t->n_devs, sizeof(*t->devs), bdf_key_cmp);
	return d ? (int)(d - t->devs) : -ENOENT;
}

bool
p2pb_dev_is_bridge(const struct p2pb_dev *d)
{
	/* As the kernel's pci_is_bridge(): PCI-to-PCI and CardBus headers. */
	return d->header_type == 1 || d->header_type == 2;
}

int
p2pb_upstream_bridge(const struct p2pb_topology *t, int dev)
{
	const struct p2pb_dev *d;

	if (dev < 0 || (size_t)dev >= t->n_devs)
		return P2PB_NONE;
	d = &t->devs[dev];
	if (d->is_virtfn && d->physfn != P2PB_NONE)
		d = &t->devs[d->physfn];
	return d->parent;
}

static const struct {
	uint16_t type;
	const char *name;
} port_type_names[] = {
	{ P2PB_PT_ENDPOINT, "endpoint" },
	{ P2PB_PT_LEGACY_ENDPOINT, "legacy-endpoint" },
	{ P2PB_PT_ROOT_PORT, "root-port" },
	{ P2PB_PT_SWITCH_UPSTREAM, "switch-upstream" },
	{ P2PB_PT_SWITCH_DOWNSTREAM, "switch-downstream" },
	{ P2PB_PT_PCIE_TO_PCI, "pcie-to-pci-bridge" },
	{ P2PB_PT_PCI_TO_PCIE, "pci-to-pcie-bridge" },
	{ P2PB_PT_RC_INTEGRATED, "rc-integrated" },
	{ P2PB_PT_RC_EVENT_COLLECTOR, "rc-event-collector" },
	{ P2PB_PT_CONVENTIONAL, "conventional-pci" },
};

const char *
p2pb_port_type_name(uint16_t port_type)
{
	for (size_t i = 0; i < sizeof(port_type_names) / sizeof(port_type_names[0]); i++)
		if (port_type_names[i].type == port_type)
			return port_type_names[i].name;
	return "unknown";
}

/* --- p2pb_topology_finish() ---------------------------------------------- */

struct sort_ent {
	struct p2pb_bdf bdf;
	int old;
};

static int
sort_ent_cmp(const void *a, const void *b)
{
	const struct sort_ent *x = a, *y = b;
	int c = p2pb_bdf_cmp(x->bdf, y->bdf);

	if (c)
		return c;
	return x->old < y->old ? -1 : x->old > y->old;
}

/* Sorts devices by BDF, keeping the first of any duplicates (with a warning),
 * and moves the device indices of already recorded warnings along. */
static int
sort_devs(struct p2pb_topology *t)
{
	size_t n = t->n_devs, kept = 0;
	struct sort_ent *ents = malloc((n ? n : 1) * sizeof(*ents));
	int *map = malloc((n ? n : 1) * sizeof(*map));
	struct p2pb_dev *devs = malloc(capacity_for(n) * sizeof(*devs));
	int r = -ENOMEM;

	if (!ents || !map || !devs)
		goto out;
	for (size_t i = 0; i < n; i++)
		ents[i] = (struct sort_ent){ .bdf = t->devs[i].bdf, .old = (int)i };
	qsort(ents, n, sizeof(*ents), sort_ent_cmp);
	for (size_t i = 0; i < n; i++) {
		if (kept > 0 && p2pb_bdf_cmp(devs[kept - 1].bdf, ents[i].bdf) == 0) {
			map[ents[i].old] = (int)kept - 1;
			continue;
		}
		devs[kept] = t->devs[ents[i].old];
		map[ents[i].old] = (int)kept++;
	}
	for (size_t i = 0; i < t->n_warnings; i++)
		if (t->warnings[i].dev >= 0 && (size_t)t->warnings[i].dev < n)
			t->warnings[i].dev = map[t->warnings[i].dev];
	free(t->devs);
	t->devs = devs;
	devs = NULL;
	t->n_devs = kept;
	r = 0;
	for (size_t i = 1; i < n && r == 0; i++) {
		if (p2pb_bdf_cmp(ents[i - 1].bdf, ents[i].bdf) == 0)
			r = p2pb_topology_warn(t, map[ents[i].old],
					       "listed more than once; the first entry is kept");
	}
out:
	free(devs);
	free(map);
	free(ents);
	return r;
}

static void
reset_links(struct p2pb_topology *t)
{
	free_derived(t);
	for (size_t i = 0; i < t->n_devs; i++) {
		struct p2pb_dev *d = &t->devs[i];

		d->parent = d->physfn = d->first_child = d->next_sibling = P2PB_NONE;
		d->hostbridge = d->sw = P2PB_NONE;
		d->depth = 0;
	}
}

static int
resolve_links(struct p2pb_topology *t)
{
	char b[P2PB_BDF_STRLEN];
	int r;

	for (size_t i = 0; i < t->n_devs; i++) {
		struct p2pb_dev *d = &t->devs[i];
		int j;

		if (d->has_physfn_bdf) {
			j = p2pb_topology_find(t, d->physfn_bdf);
			if (j >= 0) {
				d->physfn = j;
			} else {
				r = warn_dev(t, (int)i, P2PB_DW_PARENT_UNKNOWN,
					     "physfn %s is not a scanned device; treating the "
					     "function as its own PF",
					     p2pb_bdf_format(d->physfn_bdf, b));
				if (r < 0)
					return r;
			}
		}
		if (!d->has_parent_bdf)
			continue;
		j = p2pb_topology_find(t, d->parent_bdf);
		if (j >= 0) {
			d->parent = j;
			continue;
		}
		r = warn_dev(t, (int)i, P2PB_DW_PARENT_UNKNOWN,
			     "sysfs parent %s is not a scanned device; treating the function "
			     "as on root bus %04x:%02x",
			     p2pb_bdf_format(d->parent_bdf, b), (unsigned)d->bdf.domain,
			     d->bdf.bus);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Parent links from sysfs cannot loop, but hand-made or damaged input can:
 * follow each chain once (colouring), and cut a loop at the device that
 * closes it, which then counts as on its root bus. O(n) overall. */
static int
break_loops(struct p2pb_topology *t)
{
	enum { WHITE, GREY, BLACK };
	char b[P2PB_BDF_STRLEN];
	unsigned char *colour = calloc(t->n_devs ? t->n_devs : 1, 1);
	int r = 0;

	if (!colour)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_devs && r == 0; i++) {
		int j = (int)i;

		while (colour[j] == WHITE) {
			int p = t->devs[j].parent;

			colour[j] = GREY;
			if (p == P2PB_NONE)
				break;
			if (colour[p] == GREY) {
				r = warn_dev(t, j, P2PB_DW_PARENT_UNKNOWN,
					     "parent chain loops back through %s; treating "
					     "the function as on root bus %04x:%02x",
					     p2pb_bdf_format(t->devs[p].bdf, b),
					     (unsigned)t->devs[j].bdf.domain, t->devs[j].bdf.bus);
				t->devs[j].parent = P2PB_NONE;
				break;
			}
			j = p;
		}
		for (j = (int)i; j != P2PB_NONE && colour[j] == GREY; j = t->devs[j].parent)
			colour[j] = BLACK;
	}
	free(colour);
	return r;
}

static void
link_children(struct p2pb_topology *t)
{
	/* Prepending in reverse index order leaves every list in BDF order. */
	for (size_t k = t->n_devs; k-- > 0;) {
		struct p2pb_dev *d = &t->devs[k];

		if (d->parent == P2PB_NONE)
			continue;
		d->next_sibling = t->devs[d->parent].first_child;
		t->devs[d->parent].first_child = (int)k;
	}
}

/* The kernel's pci_host_bridge_dev(): the first device on the root bus (its
 * bus list is in scan order, devfn order, with VFs appended after the
 * functions found by scanning) if that is 00.0 or a root port, else none. */
static int
host_bridge_dev(const struct p2pb_topology *t, const int *roots, size_t n)
{
	int first = P2PB_NONE;

	for (size_t k = 0; k < n && first == P2PB_NONE; k++)
		if (!t->devs[roots[k]].is_virtfn)
			first = roots[k];
	if (first == P2PB_NONE && n > 0)
		first = roots[0];
	if (first == P2PB_NONE)
		return P2PB_NONE;
	if (t->devs[first].bdf.dev == 0 && t->devs[first].bdf.fn == 0)
		return first;
	if (t->devs[first].port_type == P2PB_PT_ROOT_PORT)
		return first;
	return P2PB_NONE;
}

static bool
same_root_bus(const struct p2pb_dev *a, const struct p2pb_dev *b)
{
	return a->bdf.domain == b->bdf.domain && a->bdf.bus == b->bdf.bus;
}

/* One host bridge per root bus. Root-bus devices, taken in BDF order, come
 * grouped by (domain, bus). */
static int
build_host_bridges(struct p2pb_topology *t)
{
	int *roots = malloc((t->n_devs ? t->n_devs : 1) * sizeof(*roots));
	size_t n_roots = 0, start = 0;
	int r = 0;

	if (!roots)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_devs; i++)
		if (t->devs[i].parent == P2PB_NONE)
			roots[n_roots++] = (int)i;
	while (start < n_roots && r == 0) {
		struct p2pb_hostbridge *hb;
		size_t end = start + 1;

		while (end < n_roots && same_root_bus(&t->devs[roots[end]], &t->devs[roots[start]]))
			end++;
		r = grow((void **)&t->hostbridges, t->n_hostbridges, sizeof(*t->hostbridges));
		if (r < 0)
			break;
		hb = &t->hostbridges[t->n_hostbridges];
		hb->domain = t->devs[roots[start]].bdf.domain;
		hb->bus = t->devs[roots[start]].bdf.bus;
		hb->first_root = roots[start];
		hb->first_dev = host_bridge_dev(t, roots + start, end - start);
		for (size_t m = start; m < end; m++)
			t->devs[roots[m]].hostbridge = (int)t->n_hostbridges;
		t->n_hostbridges++;
		start = end;
	}
	free(roots);
	return r;
}

/* Depth and host bridge flow down from the root bus; walking up to the first
 * device already done and filling in on the way back keeps this O(n). */
static int
propagate_depth(struct p2pb_topology *t)
{
	int *stack = malloc((t->n_devs ? t->n_devs : 1) * sizeof(*stack));
	unsigned char *done = calloc(t->n_devs ? t->n_devs : 1, 1);
	int r = 0;

	if (!stack || !done) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < t->n_devs; i++) {
		size_t sp = 0;
		int j = (int)i;

		while (!done[j] && t->devs[j].parent != P2PB_NONE) {
			stack[sp++] = j;
			j = t->devs[j].parent;
		}
		done[j] = 1; /* a root-bus device: depth 0, its own host bridge */
		while (sp > 0) {
			int c = stack[--sp];

			t->devs[c].depth = t->devs[t->devs[c].parent].depth + 1;
			t->devs[c].hostbridge = t->devs[t->devs[c].parent].hostbridge;
			done[c] = 1;
		}
	}
out:
	free(done);
	free(stack);
	return r;
}

static int
add_switch(struct p2pb_topology *t, int up)
{
	struct p2pb_switch *sw;
	size_t n = 0;
	int r = grow((void **)&t->switches, t->n_switches, sizeof(*t->switches));

	if (r < 0)
		return r;
	sw = &t->switches[t->n_switches];
	*sw = (struct p2pb_switch){ .upstream = up, .parent_switch = P2PB_NONE };
	for (int c = t->devs[up].first_child; c != P2PB_NONE; c = t->devs[c].next_sibling)
		if (t->devs[c].port_type == P2PB_PT_SWITCH_DOWNSTREAM)
			n++;
	if (n > 0) {
		sw->downstream = malloc(n * sizeof(*sw->downstream));
		if (!sw->downstream)
			return -ENOMEM;
	}
	for (int c = t->devs[up].first_child; c != P2PB_NONE; c = t->devs[c].next_sibling) {
		if (t->devs[c].port_type != P2PB_PT_SWITCH_DOWNSTREAM)
			continue;
		sw->downstream[sw->n_downstream++] = c;
		t->devs[c].sw = (int)t->n_switches;
	}
	t->devs[up].sw = (int)t->n_switches;
	t->n_switches++;
	return 0;
}

static int
build_switches(struct p2pb_topology *t)
{
	int r;

	for (size_t i = 0; i < t->n_devs; i++) {
		if (t->devs[i].port_type != P2PB_PT_SWITCH_UPSTREAM)
			continue;
		r = add_switch(t, (int)i);
		if (r < 0)
			return r;
	}
	/* A switch whose upstream port hangs off another switch's downstream
	 * port is nested in it. */
	for (size_t s = 0; s < t->n_switches; s++) {
		int p = t->devs[t->switches[s].upstream].parent;

		if (p != P2PB_NONE && t->devs[p].port_type == P2PB_PT_SWITCH_DOWNSTREAM)
			t->switches[s].parent_switch = t->devs[p].sw;
	}
	return 0;
}

/* The bus numbers of device c against the bridge p it sits behind. */
static int
check_bus_numbers(struct p2pb_topology *t, int c, int p)
{
	const struct p2pb_dev *d = &t->devs[c], *b = &t->devs[p];
	char pb[P2PB_BDF_STRLEN];
	unsigned sec = b->secondary_bus, sub = b->subordinate_bus;

	p2pb_bdf_format(b->bdf, pb);
	if (d->bdf.domain != b->bdf.domain)
		return warn_dev(t, c, P2PB_DW_BUS_MISMATCH,
				"in a different domain from its parent bridge %s", pb);
	if (d->bdf.bus < sec || d->bdf.bus > sub)
		return warn_dev(t, c, P2PB_DW_BUS_MISMATCH,
				"bus %02x is outside the bus window %02x..%02x of its parent "
				"bridge %s",
				d->bdf.bus, sec, sub, pb);
	/* VFs may sit on later buses of the window; everything else is on the
	 * secondary bus itself. */
	if (d->bdf.bus != sec && !d->is_virtfn)
		return warn_dev(t, c, P2PB_DW_BUS_MISMATCH,
				"bus %02x is not the secondary bus %02x of its parent bridge %s",
				d->bdf.bus, sec, pb);
	if (p2pb_dev_is_bridge(d) && !(d->warnings & P2PB_DW_CONFIG_MISSING) &&
	    (d->secondary_bus <= d->bdf.bus || d->secondary_bus < sec || d->subordinate_bus > sub ||
	     d->subordinate_bus < d->secondary_bus))
		return warn_dev(t, c, P2PB_DW_BUS_MISMATCH,
				"bridge bus window %02x..%02x does not nest inside the window "
				"%02x..%02x of its parent bridge %s",
				d->secondary_bus, d->subordinate_bus, sec, sub, pb);
	return 0;
}

static int
check_consistency(struct p2pb_topology *t)
{
	char b[P2PB_BDF_STRLEN];
	int r = 0;

	for (size_t i = 0; i < t->n_devs && r == 0; i++) {
		int p = t->devs[i].parent;

		if (p == P2PB_NONE)
			continue;
		if (!p2pb_dev_is_bridge(&t->devs[p])) {
			/* A parent whose config could not be read has an unknown
			 * header type: its own warning already says so. */
			if (t->devs[p].warnings & P2PB_DW_CONFIG_MISSING)
				continue;
			r = warn_dev(t, (int)i, P2PB_DW_BUS_MISMATCH,
				     "sysfs parent %s is not a bridge (header type %u)",
				     p2pb_bdf_format(t->devs[p].bdf, b), t->devs[p].header_type);
			continue;
		}
		if (t->devs[p].warnings & P2PB_DW_CONFIG_MISSING)
			continue;
		r = check_bus_numbers(t, (int)i, p);
	}
	return r;
}

struct warning_ent {
	struct p2pb_warning w;
	size_t seq;
};

static int
warning_ent_cmp(const void *a, const void *b)
{
	const struct warning_ent *x = a, *y = b;

	if (x->w.dev != y->w.dev)
		return x->w.dev < y->w.dev ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Warnings arrive in directory order, which the filesystem chooses: order
 * them topology-wide first, then by device, each device's in arrival order,
 * so that the same tree always reads the same. */
static int
sort_warnings(struct p2pb_topology *t)
{
	struct warning_ent *e = malloc((t->n_warnings ? t->n_warnings : 1) * sizeof(*e));

	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_warnings; i++)
		e[i] = (struct warning_ent){ .w = t->warnings[i], .seq = i };
	qsort(e, t->n_warnings, sizeof(*e), warning_ent_cmp);
	for (size_t i = 0; i < t->n_warnings; i++)
		t->warnings[i] = e[i].w;
	free(e);
	return 0;
}

int
p2pb_topology_finish(struct p2pb_topology *t)
{
	int r = sort_devs(t);

	if (r < 0)
		return r;
	reset_links(t);
	r = resolve_links(t);
	if (r >= 0)
		r = break_loops(t);
	if (r < 0)
		return r;
	link_children(t);
	r = build_host_bridges(t);
	if (r >= 0)
		r = propagate_depth(t);
	if (r >= 0)
		r = build_switches(t);
	if (r >= 0)
		r = check_consistency(t);
	if (r >= 0)
		r = sort_warnings(t);
	return r < 0 ? r : 0;
}
