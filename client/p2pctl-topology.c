/* p2pctl-topology.c - `p2pctl topology` (a tree like lspci -tv: host bridges,
 * root ports, switches, endpoints, annotated) and `p2pctl devices` (a table). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "p2pctl.h"

#define MAX_INDENT 64 /* deeper levels are printed at this depth */

/* The topology with derived indices: devices sorted by address, each one's
 * parent and children (CSR: children of i are child[first[i] .. first[i+1])). */
struct view {
	const struct p2pb_topology_info *t;
	const struct p2pb_device_info **dev; /* sorted by address */
	size_t n;
	int *parent;   /* index into dev, -1 on a root bus or when not found */
	size_t *first; /* n + 1 entries */
	size_t *child;
	char *printed;		/* loop guard for the tree walk */
	json_object **messages; /* per device: its warning messages (JSON) */
};

static int
cmp_dev(const void *a, const void *b)
{
	const struct p2pb_device_info *const *x = a, *const *y = b;

	return p2pb_address_compare((*x)->address, (*y)->address);
}

static int
find_dev(const struct view *v, struct p2pb_address a)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = p2pb_address_compare(v->dev[mid]->address, a);

		if (c == 0)
			return (int)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void
view_free(struct view *v)
{
	free(v->dev);
	free(v->parent);
	free(v->first);
	free(v->child);
	free(v->printed);
	free(v->messages); /* the arrays themselves belong to the JSON tree */
}

static void
link_children(struct view *v)
{
	size_t *fill = v->first + 1; /* counts, then fill positions */

	for (size_t i = 0; i < v->n; i++)
		if (v->parent[i] >= 0)
			fill[v->parent[i]]++;
	for (size_t i = 0; i < v->n; i++)
		v->first[i + 1] += v->first[i];
	/* first[i] now starts i's block; fill each child in address order. */
	{
		size_t *pos = calloc(v->n + 1, sizeof(*pos));

		if (!pos)
			return;
		memcpy(pos, v->first, (v->n + 1) * sizeof(*pos));
		for (size_t i = 0; i < v->n; i++)
			if (v->parent[i] >= 0)
				v->child[pos[v->parent[i]]++] = i;
		free(pos);
	}
}

static int
view_init(struct view *v, const struct p2pb_topology_info *t)
{
	memset(v, 0, sizeof(*v));
	v->t = t;
	v->n = t->n_devices;
	v->dev = malloc((v->n + 1) * sizeof(*v->dev));
	v->parent = malloc((v->n + 1) * sizeof(*v->parent));
	v->first = calloc(v->n + 2, sizeof(*v->first));
	v->child = calloc(v->n + 1, sizeof(*v->child));
	v->printed = calloc(v->n + 1, 1);
	v->messages = calloc(v->n + 1, sizeof(*v->messages));
	if (!v->dev || !v->parent || !v->first || !v->child || !v->printed || !v->messages) {
		view_free(v);
		return -1;
	}
	memcpy(v->dev, t->devices, v->n * sizeof(*v->dev));
	qsort(v->dev, v->n, sizeof(*v->dev), cmp_dev);
	for (size_t i = 0; i < v->n; i++)
		v->parent[i] = v->dev[i]->has_parent ? find_dev(v, v->dev[i]->parent) : -1;
	link_children(v);
	return 0;
}

/* ---- JSON ---------------------------------------------------------------- */

static json_object *
hex_string(unsigned v, int digits)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%0*x", digits, v);
	return json_object_new_string(buf);
}

static json_object *
link_json(const struct p2pb_device_info *d)
{
	json_object *o;

	if (!d->has_link)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "speed",
			       json_object_new_string(p2pb_link_speed_string(d->link_speed)));
	json_object_object_add(o, "width", json_object_new_int(d->link_width));
	json_object_object_add(o, "cap_speed",
			       json_object_new_string(p2pb_link_speed_string(d->link_cap_speed)));
	json_object_object_add(o, "cap_width", json_object_new_int(d->link_cap_width));
	json_object_object_add(o, "speed_code", json_object_new_int(d->link_speed));
	json_object_object_add(o, "cap_speed_code", json_object_new_int(d->link_cap_speed));
	return o;
}

static json_object *
acs_json(const struct p2pb_device_info *d)
{
	json_object *o;

	if (!d->has_acs)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "pos", json_object_new_int(d->acs_pos));
	json_object_object_add(o, "cap", json_object_new_int(d->acs_cap));
	json_object_object_add(o, "ctrl", json_object_new_int(d->acs_ctrl));
	json_object_object_add(o, "cap_bits", p2pctl_json_acs_bits(d->acs_cap));
	json_object_object_add(o, "ctrl_bits", p2pctl_json_acs_bits(d->acs_ctrl));
	return o;
}

static json_object *
dsn_json(const struct p2pb_device_info *d)
{
	char buf[32];
	uint64_t x = d->dsn;

	if (!d->has_dsn)
		return NULL;
	/* As lspci prints it: most significant byte first, dash separated. */
	snprintf(buf, sizeof(buf), "%02x-%02x-%02x-%02x-%02x-%02x-%02x-%02x",
		 (unsigned)(x >> 56) & 0xff, (unsigned)(x >> 48) & 0xff, (unsigned)(x >> 40) & 0xff,
		 (unsigned)(x >> 32) & 0xff, (unsigned)(x >> 24) & 0xff, (unsigned)(x >> 16) & 0xff,
		 (unsigned)(x >> 8) & 0xff, (unsigned)x & 0xff);
	return json_object_new_string(buf);
}

static json_object *
p2pmem_json(const struct p2pb_device_info *d)
{
	json_object *o;

	if (!d->has_p2pmem)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "size", json_object_new_uint64(d->p2pmem_size));
	json_object_object_add(o, "available", json_object_new_uint64(d->p2pmem_available));
	json_object_object_add(o, "published", json_object_new_boolean(d->p2pmem_published));
	return o;
}

static json_object *
warning_bits_json(uint32_t bits)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < 32; i++)
		if (bits & (1u << i))
			json_object_array_add(
				a, json_object_new_string(p2pctl_device_warning_name(i)));
	return a;
}

static bool
is_bridge_header(const struct p2pb_device_info *d)
{
	return d->header_type == 1 || d->header_type == 2;
}

/* Every field of the wire's Device message (docs/json.md). */
static json_object *
device_json(const struct p2pb_device_info *d, json_object *messages)
{
	json_object *o = json_object_new_object();
	bool bridge = is_bridge_header(d);

	json_object_object_add(o, "bdf", p2pctl_json_address(d->address));
	json_object_object_add(o, "vendor", hex_string(d->vendor, 4));
	json_object_object_add(o, "device", hex_string(d->device, 4));
	json_object_object_add(o, "subsys_vendor", hex_string(d->subsys_vendor, 4));
	json_object_object_add(o, "subsys_device", hex_string(d->subsys_device, 4));
	json_object_object_add(o, "class", hex_string(d->class_code, 6));
	json_object_object_add(o, "revision", hex_string(d->revision, 2));
	json_object_object_add(o, "header_type", json_object_new_int(d->header_type));
	json_object_object_add(o, "multifunction", json_object_new_boolean(d->multifunction));
	json_object_object_add(o, "port_type",
			       json_object_new_string(p2pb_port_type_string(d->port_type)));
	json_object_object_add(o, "port_type_code", json_object_new_int(d->port_type));
	json_object_object_add(o, "link", link_json(d));
	json_object_object_add(o, "acs", acs_json(d));
	json_object_object_add(o, "dsn", dsn_json(d));
	json_object_object_add(o, "parent", d->has_parent ? p2pctl_json_address(d->parent) : NULL);
	json_object_object_add(o, "iommu_group",
			       p2pctl_json_int_or_null(d->iommu_group, d->iommu_group >= 0));
	json_object_object_add(o, "numa_node",
			       p2pctl_json_int_or_null(d->numa_node, d->numa_node >= 0));
	json_object_object_add(o, "driver", p2pctl_json_string_or_null(d->driver));
	json_object_object_add(o, "p2pmem", p2pmem_json(d));
	json_object_object_add(o, "is_virtfn", json_object_new_boolean(d->is_virtfn));
	json_object_object_add(o, "physfn", d->has_physfn ? p2pctl_json_address(d->physfn) : NULL);
	json_object_object_add(o, "secondary_bus",
			       p2pctl_json_int_or_null(d->secondary_bus, bridge));
	json_object_object_add(o, "subordinate_bus",
			       p2pctl_json_int_or_null(d->subordinate_bus, bridge));
	json_object_object_add(o, "hostbridge", json_object_new_int64(d->hostbridge));
	json_object_object_add(o, "switch",
			       p2pctl_json_int_or_null(d->switch_index, d->switch_index >= 0));
	json_object_object_add(o, "warnings", warning_bits_json(d->warnings));
	json_object_object_add(o, "warning_messages",
			       messages ? messages : json_object_new_array());
	return o;
}

static json_object *
hostbridge_json(const struct p2pb_hostbridge_info *h, size_t index)
{
	json_object *o = json_object_new_object();
	char name[24];

	snprintf(name, sizeof(name), "%04x:%02x", h->domain, h->bus);
	json_object_object_add(o, "index", json_object_new_int64((int64_t)index));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "domain", json_object_new_int64(h->domain));
	json_object_object_add(o, "bus", json_object_new_int(h->bus));
	json_object_object_add(o, "whitelist_device",
			       h->has_whitelist_dev ? p2pctl_json_address(h->whitelist_dev) : NULL);
	json_object_object_add(o, "whitelisted", json_object_new_boolean(h->whitelisted));
	json_object_object_add(o, "whitelisted_same", json_object_new_boolean(h->whitelisted_same));
	return o;
}

static json_object *
switch_json(const struct p2pb_switch_info *s, size_t index)
{
	json_object *o = json_object_new_object(), *down = json_object_new_array();

	json_object_object_add(o, "index", json_object_new_int64((int64_t)index));
	json_object_object_add(o, "upstream", p2pctl_json_address(s->upstream));
	for (size_t i = 0; i < s->n_downstream; i++)
		json_object_array_add(down, p2pctl_json_address(s->downstream[i]));
	json_object_object_add(o, "downstream", down);
	json_object_object_add(o, "parent_switch",
			       p2pctl_json_int_or_null(s->parent_switch, s->parent_switch >= 0));
	return o;
}

static json_object *
warning_json(const struct p2pb_warning_info *w)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "device", w->has_device ? p2pctl_json_address(w->device) : NULL);
	json_object_object_add(o, "message", json_object_new_string(w->message));
	return o;
}

/* Each device's warning messages, for its "warning_messages". */
static void
collect_messages(struct view *v)
{
	for (size_t i = 0; i < v->t->n_warnings; i++) {
		const struct p2pb_warning_info *w = v->t->warnings[i];
		int d = w->has_device ? find_dev(v, w->device) : -1;

		if (d < 0)
			continue;
		if (!v->messages[d])
			v->messages[d] = json_object_new_array();
		json_object_array_add(v->messages[d], json_object_new_string(w->message));
	}
}

static json_object *
topology_json(struct view *v, bool full)
{
	const struct p2pb_topology_info *t = v->t;
	json_object *o = json_object_new_object(), *a;

	collect_messages(v);
	json_object_object_add(o, "generation", json_object_new_uint64(t->generation));
	if (full) {
		a = json_object_new_array_ext((int)t->n_hostbridges);
		for (size_t i = 0; i < t->n_hostbridges; i++)
			json_object_array_add(a, hostbridge_json(t->hostbridges[i], i));
		json_object_object_add(o, "hostbridges", a);
		a = json_object_new_array_ext((int)t->n_switches);
		for (size_t i = 0; i < t->n_switches; i++)
			json_object_array_add(a, switch_json(t->switches[i], i));
		json_object_object_add(o, "switches", a);
	}
	a = json_object_new_array_ext((int)v->n);
	for (size_t i = 0; i < v->n; i++)
		json_object_array_add(a, device_json(v->dev[i], v->messages[i]));
	json_object_object_add(o, "devices", a);
	a = json_object_new_array_ext((int)t->n_warnings);
	for (size_t i = 0; i < t->n_warnings; i++)
		json_object_array_add(a, warning_json(t->warnings[i]));
	json_object_object_add(o, "warnings", a);
	return o;
}

/* ---- the tree ------------------------------------------------------------ */

static void
print_switch_tag(const struct view *v, const struct p2pb_device_info *d)
{
	const struct p2pb_switch_info *s;

	if (d->switch_index < 0 || (size_t)d->switch_index >= v->t->n_switches)
		return;
	s = v->t->switches[d->switch_index];
	if (d->port_type == P2PB_PORT_SWITCH_UPSTREAM) {
		printf(" [switch %d: %zu downstream port%s", d->switch_index, s->n_downstream,
		       s->n_downstream == 1 ? "" : "s");
		if (s->parent_switch >= 0)
			printf(", below switch %d", s->parent_switch);
		printf("]");
	} else {
		printf(" [switch %d]", d->switch_index);
	}
}

static void
print_annotations(const struct view *v, const struct p2pb_device_info *d)
{
	char buf[96], b2[32];

	if (*p2pctl_link_string(d, buf, sizeof(buf)))
		printf(" %s", buf);
	if (d->has_acs)
		printf(" ACS[%s]", p2pctl_acs_bits_string(d->acs_ctrl, buf, sizeof(buf)));
	else
		printf(" ACS-");
	if (d->iommu_group >= 0)
		printf(" iommu %d", d->iommu_group);
	if (d->numa_node >= 0)
		printf(" numa %d", d->numa_node);
	if (*d->driver)
		printf(" driver %s", d->driver);
	if (d->has_p2pmem)
		printf(" p2pmem %s (%s free, %s)",
		       p2pctl_size_string(d->p2pmem_size, buf, sizeof(buf)),
		       p2pctl_size_string(d->p2pmem_available, b2, sizeof(b2)),
		       d->p2pmem_published ? "published" : "not published");
	if (d->has_physfn)
		printf(" VF of %s", p2pb_address_format(d->physfn, buf));
	if (d->warnings) {
		const char *sep = " !";

		for (unsigned i = 0; i < 32; i++)
			if (d->warnings & (1u << i)) {
				printf("%s%s", sep, p2pctl_device_warning_name(i));
				sep = ",";
			}
	}
}

static void
print_device_line(const struct view *v, size_t i)
{
	const struct p2pb_device_info *d = v->dev[i];
	char bdf[P2PB_ADDRESS_STRLEN];

	printf("%s %04x:%04x [%04x] %s", p2pb_address_format(d->address, bdf), d->vendor, d->device,
	       d->class_code >> 8, p2pb_port_type_string(d->port_type));
	print_switch_tag(v, d);
	print_annotations(v, d);
	if (d->has_parent && v->parent[i] < 0)
		printf(" (parent %s not in the topology)", p2pb_address_format(d->parent, bdf));
	putchar('\n');
}

/* prefix holds one 4-character column per ancestor level. */
static void
print_subtree(struct view *v, size_t i, char *prefix, size_t depth, bool last)
{
	size_t col = depth < MAX_INDENT ? depth : MAX_INDENT;

	v->printed[i] = 1;
	printf("%.*s%s", (int)(col * 4), prefix, last ? " \\- " : " +- ");
	print_device_line(v, i);
	memcpy(prefix + col * 4, last ? "    " : " |  ", 4);
	for (size_t k = v->first[i]; k < v->first[i + 1]; k++) {
		size_t c = v->child[k];

		if (!v->printed[c])
			print_subtree(v, c, prefix, depth + 1, k + 1 == v->first[i + 1]);
	}
}

static void
print_hostbridge(const struct p2pb_hostbridge_info *h, size_t index)
{
	char bdf[P2PB_ADDRESS_STRLEN];

	printf("[%04x:%02x] host bridge %zu, kernel whitelist: %s", h->domain, h->bus, index,
	       h->whitelisted	     ? "yes"
	       : h->whitelisted_same ? "same host bridge only"
				     : "no");
	if (h->has_whitelist_dev)
		printf(" (checks %s)", p2pb_address_format(h->whitelist_dev, bdf));
	putchar('\n');
}

/* Roots (no parent found) below host bridge hb; hb == n_hostbridges picks
 * those whose host bridge index is out of range. */
static void
print_roots(struct view *v, size_t hb, char *prefix)
{
	size_t last = SIZE_MAX;

	for (size_t i = 0; i < v->n; i++) {
		size_t h = v->dev[i]->hostbridge < v->t->n_hostbridges ? v->dev[i]->hostbridge
								       : v->t->n_hostbridges;

		if (v->parent[i] < 0 && h == hb)
			last = i;
	}
	for (size_t i = 0; last != SIZE_MAX && i <= last; i++) {
		size_t h = v->dev[i]->hostbridge < v->t->n_hostbridges ? v->dev[i]->hostbridge
								       : v->t->n_hostbridges;

		if (v->parent[i] < 0 && h == hb && !v->printed[i])
			print_subtree(v, i, prefix, 0, i == last);
	}
}

static void
topology_text(struct view *v)
{
	const struct p2pb_topology_info *t = v->t;
	char prefix[(MAX_INDENT + 1) * 4];
	bool header = false;

	for (size_t hb = 0; hb < t->n_hostbridges; hb++) {
		print_hostbridge(t->hostbridges[hb], hb);
		print_roots(v, hb, prefix);
	}
	for (size_t i = 0; i < v->n; i++) {
		if (v->printed[i])
			continue;
		/* Below no known host bridge, or in a parent loop: show them anyway. */
		if (!header)
			printf("[unattached] devices not reached from any host bridge\n");
		header = true;
		printf(" +- ");
		print_device_line(v, i);
		v->printed[i] = 1;
	}
	if (t->n_warnings)
		printf("\nwarnings:\n");
	for (size_t i = 0; i < t->n_warnings; i++) {
		char bdf[P2PB_ADDRESS_STRLEN];
		const struct p2pb_warning_info *w = t->warnings[i];

		if (!w->has_device)
			printf("  -: %s\n", w->message);
		else if (strncmp(w->message, p2pb_address_format(w->device, bdf), strlen(bdf)) == 0)
			printf("  %s\n", w->message); /* the message names its device already */
		else
			printf("  %s: %s\n", bdf, w->message);
	}
}

/* ---- the table ------------------------------------------------------------- */

static void
devices_text(const struct view *v)
{
	printf("%-12s %-9s %-6s %-18s %-11s %-14s %5s %4s %-12s %-22s %s\n", "BDF", "ID", "CLASS",
	       "TYPE", "LINK", "ACS", "IOMMU", "NUMA", "DRIVER", "P2PMEM", "PARENT");
	for (size_t i = 0; i < v->n; i++) {
		const struct p2pb_device_info *d = v->dev[i];
		char bdf[P2PB_ADDRESS_STRLEN], parent[P2PB_ADDRESS_STRLEN], id[16], link[24],
			acs[32], iommu[16], numa[16], mem[48], s1[16], s2[16];

		snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
		if (*p2pctl_link_string(d, mem, sizeof(mem)))
			snprintf(link, sizeof(link), "%s x%u",
				 p2pb_link_speed_string(d->link_speed), d->link_width);
		else
			strcpy(link, "-");
		if (d->has_acs)
			snprintf(acs, sizeof(acs), "[%s]",
				 p2pctl_acs_bits_string(d->acs_ctrl, mem, sizeof(mem)));
		else
			strcpy(acs, "-");
		snprintf(iommu, sizeof(iommu), d->iommu_group >= 0 ? "%d" : "-", d->iommu_group);
		snprintf(numa, sizeof(numa), d->numa_node >= 0 ? "%d" : "-", d->numa_node);
		if (d->has_p2pmem)
			snprintf(mem, sizeof(mem), "%s/%s%s",
				 p2pctl_size_string(d->p2pmem_available, s1, sizeof(s1)),
				 p2pctl_size_string(d->p2pmem_size, s2, sizeof(s2)),
				 d->p2pmem_published ? " pub" : "");
		else
			strcpy(mem, "-");
		printf("%-12s %-9s %06x %-18s %-11s %-14s %5s %4s %-12s %-22s %s%s\n",
		       p2pb_address_format(d->address, bdf), id, d->class_code,
		       p2pb_port_type_string(d->port_type), link, acs, iommu, numa,
		       *d->driver ? d->driver : "-", mem,
		       d->has_parent ? p2pb_address_format(d->parent, parent) : "-",
		       d->warnings ? " !" : "");
	}
}

/* ---- commands -------------------------------------------------------------- */

static int
run_view(struct p2pctl *ctl, const struct p2pctl_command *cmd, int argc, char **argv, bool tree)
{
	struct p2pb_topology_info *t = NULL;
	struct view v;
	int first = 0, r;

	r = p2pctl_simple_options(ctl, cmd, argc, argv, 0, 0, &first);
	if (r >= 0)
		return r;
	r = p2pctl_connect(ctl);
	if (r != P2PCTL_EXIT_OK)
		return r;
	r = p2pb_get_topology(ctl->client, &t);
	if (r < 0)
		return p2pctl_request_failed(ctl, cmd->name, r);
	if (view_init(&v, t) < 0) {
		p2pb_topology_info_free(t);
		fputs("p2pctl: out of memory\n", stderr);
		return P2PCTL_EXIT_ERROR;
	}
	r = P2PCTL_EXIT_OK;
	if (ctl->json)
		r = p2pctl_json_print(topology_json(&v, tree));
	else if (tree)
		topology_text(&v);
	else
		devices_text(&v);
	view_free(&v);
	p2pb_topology_info_free(t);
	return r;
}

static int
run_topology(struct p2pctl *ctl, int argc, char **argv)
{
	return run_view(ctl, &p2pctl_cmd_topology, argc, argv, true);
}

static int
run_devices(struct p2pctl *ctl, int argc, char **argv)
{
	return run_view(ctl, &p2pctl_cmd_devices, argc, argv, false);
}

const struct p2pctl_command p2pctl_cmd_topology = {
	.name = "topology",
	.synopsis = "",
	.summary = "the PCI tree: host bridges, root ports, switches, endpoints",
	.run = run_topology,
};

const struct p2pctl_command p2pctl_cmd_devices = {
	.name = "devices",
	.synopsis = "",
	.summary = "every PCI function, one line each",
	.run = run_devices,
};
