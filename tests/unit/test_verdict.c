/* test_verdict.c - P2P verdicts on hand-built topologies, each expected value worked out
 * from Linux 6.12's calc_map_type_and_dist() rules; also ranking, matrix and explanations. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "topology.h"
#include "verdict.h"

#define MAX_DEVS 64
#define MAX_HBS	 8
#define NONE	 P2PB_NONE

/* ---- building topologies by hand ---------------------------------------- */

/* Index fields are filled here directly, in BDF order, so these tests depend
 * only on struct p2pb_topology and not on how p2pb_topology_finish() works. */
static struct p2pb_topology *
topo_new(void)
{
	struct p2pb_topology *t = p2pb_topology_new();

	assert_non_null(t);
	t->devs = calloc(MAX_DEVS, sizeof(*t->devs));
	t->hostbridges = calloc(MAX_HBS, sizeof(*t->hostbridges));
	assert_non_null(t->devs);
	assert_non_null(t->hostbridges);
	return t;
}

static bool
port_type_is_bridge(uint16_t pt)
{
	return pt == P2PB_PT_ROOT_PORT || pt == P2PB_PT_SWITCH_UPSTREAM ||
	       pt == P2PB_PT_SWITCH_DOWNSTREAM || pt == P2PB_PT_PCIE_TO_PCI ||
	       pt == P2PB_PT_PCI_TO_PCIE;
}

/* The root bus's host bridge, created on first use; like the kernel's
 * pci_host_bridge_dev() it remembers the first device if that is 00.0 or a root port. */
static int
hostbridge_for(struct p2pb_topology *t, int idx)
{
	const struct p2pb_dev *d = &t->devs[idx];

	for (size_t h = 0; h < t->n_hostbridges; h++)
		if (t->hostbridges[h].domain == d->bdf.domain &&
		    t->hostbridges[h].bus == d->bdf.bus)
			return (int)h;
	assert_true(t->n_hostbridges < MAX_HBS);
	struct p2pb_hostbridge *hb = &t->hostbridges[t->n_hostbridges];
	hb->domain = d->bdf.domain;
	hb->bus = d->bdf.bus;
	hb->first_root = idx;
	hb->first_dev = (d->bdf.dev == 0 && d->bdf.fn == 0) || d->port_type == P2PB_PT_ROOT_PORT
				? idx
				: NONE;
	return (int)t->n_hostbridges++;
}

static int
dev_add(struct p2pb_topology *t, const char *bdf, uint16_t port_type, int parent)
{
	assert_true(t->n_devs < MAX_DEVS);
	int idx = (int)t->n_devs;
	struct p2pb_dev *d = &t->devs[idx];

	memset(d, 0, sizeof(*d));
	assert_int_equal(p2pb_bdf_parse(bdf, &d->bdf), 0);
	if (idx > 0)
		assert_true(p2pb_bdf_cmp(t->devs[idx - 1].bdf, d->bdf) < 0);
	d->vendor = 0x1234;
	d->device = 0x0001;
	d->port_type = port_type;
	d->header_type = port_type_is_bridge(port_type) ? 1 : 0;
	d->iommu_group = NONE;
	d->numa_node = -1;
	d->parent = parent;
	d->physfn = NONE;
	d->first_child = d->next_sibling = d->sw = NONE;
	t->n_devs++;
	if (parent == NONE) {
		d->hostbridge = hostbridge_for(t, idx);
	} else {
		d->has_parent_bdf = true;
		d->parent_bdf = t->devs[parent].bdf;
		d->hostbridge = t->devs[parent].hostbridge;
		d->depth = t->devs[parent].depth + 1;
	}
	return idx;
}

static int
vf_add(struct p2pb_topology *t, const char *bdf, int pf)
{
	int idx = dev_add(t, bdf, P2PB_PT_ENDPOINT, t->devs[pf].parent);

	t->devs[idx].is_virtfn = true;
	t->devs[idx].physfn = pf;
	t->devs[idx].has_physfn_bdf = true;
	t->devs[idx].physfn_bdf = t->devs[pf].bdf;
	return idx;
}

static void
set_ids(struct p2pb_topology *t, int d, uint16_t vendor, uint16_t device)
{
	t->devs[d].vendor = vendor;
	t->devs[d].device = device;
}

static void
set_acs(struct p2pb_topology *t, int d, uint16_t ctrl)
{
	t->devs[d].acs.present = true;
	t->devs[d].acs.pos = 0x100;
	t->devs[d].acs.cap = 0x7f;
	t->devs[d].acs.ctrl = ctrl;
}

static void
set_cpu(struct p2pb_topology *t, const char *vendor, unsigned family)
{
	t->cpu.known = vendor != NULL;
	snprintf(t->cpu.vendor, sizeof(t->cpu.vendor), "%s", vendor ? vendor : "");
	t->cpu.family = family;
}

static void
set_p2pmem(struct p2pb_topology *t, int d, bool published, uint64_t available, int numa)
{
	t->devs[d].p2pmem = (struct p2pb_p2pmem){
		.present = true, .published = published, .size = 1 << 20, .available = available
	};
	t->devs[d].numa_node = numa;
}

/*
 * Topology A: one host bridge, three root ports.
 *
 *   00:00.0 host bridge device          00:04.0, 00:04.1 RC-integrated functions
 *   00:01.0 RP1 - 01:00.0 USP1 -+- 02:00.0 DSP1a - 03:00.0 A, 03:00.1 A1
 *                               +- 02:01.0 DSP1b - 04:00.0 B
 *                               \- 02:02.0 DSP1c - 05:00.0 USPn -+- 06:00.0 DSPn1 - 07:00.0 C
 *                                                                \- 06:01.0 DSPn2 - 08:00.0 C2
 *   00:02.0 RP2 - 09:00.0 D
 *   00:03.0 RP3 - 0a:00.0 USP2 - 0b:00.0 DSP2a - 0c:00.0 E
 */
struct topo_a {
	struct p2pb_topology *t;
	int hb, rp1, rp2, rp3, rc0, rc1, usp1, dsp1a, dsp1b, dsp1c, a, a1, b;
	int uspn, dspn1, dspn2, c, c2, d, usp2, dsp2a, e;
};

static void
topo_a_build(struct topo_a *x, uint16_t hb_device)
{
	struct p2pb_topology *t = x->t = topo_new();

	x->hb = dev_add(t, "0000:00:00.0", P2PB_PT_CONVENTIONAL, NONE);
	set_ids(t, x->hb, 0x8086, hb_device);
	x->rp1 = dev_add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NONE);
	x->rp2 = dev_add(t, "0000:00:02.0", P2PB_PT_ROOT_PORT, NONE);
	x->rp3 = dev_add(t, "0000:00:03.0", P2PB_PT_ROOT_PORT, NONE);
	x->rc0 = dev_add(t, "0000:00:04.0", P2PB_PT_RC_INTEGRATED, NONE);
	x->rc1 = dev_add(t, "0000:00:04.1", P2PB_PT_RC_INTEGRATED, NONE);
	x->usp1 = dev_add(t, "0000:01:00.0", P2PB_PT_SWITCH_UPSTREAM, x->rp1);
	x->dsp1a = dev_add(t, "0000:02:00.0", P2PB_PT_SWITCH_DOWNSTREAM, x->usp1);
	x->dsp1b = dev_add(t, "0000:02:01.0", P2PB_PT_SWITCH_DOWNSTREAM, x->usp1);
	x->dsp1c = dev_add(t, "0000:02:02.0", P2PB_PT_SWITCH_DOWNSTREAM, x->usp1);
	x->a = dev_add(t, "0000:03:00.0", P2PB_PT_ENDPOINT, x->dsp1a);
	x->a1 = dev_add(t, "0000:03:00.1", P2PB_PT_ENDPOINT, x->dsp1a);
	x->b = dev_add(t, "0000:04:00.0", P2PB_PT_ENDPOINT, x->dsp1b);
	x->uspn = dev_add(t, "0000:05:00.0", P2PB_PT_SWITCH_UPSTREAM, x->dsp1c);
	x->dspn1 = dev_add(t, "0000:06:00.0", P2PB_PT_SWITCH_DOWNSTREAM, x->uspn);
	x->dspn2 = dev_add(t, "0000:06:01.0", P2PB_PT_SWITCH_DOWNSTREAM, x->uspn);
	x->c = dev_add(t, "0000:07:00.0", P2PB_PT_ENDPOINT, x->dspn1);
	x->c2 = dev_add(t, "0000:08:00.0", P2PB_PT_ENDPOINT, x->dspn2);
	x->d = dev_add(t, "0000:09:00.0", P2PB_PT_ENDPOINT, x->rp2);
	x->usp2 = dev_add(t, "0000:0a:00.0", P2PB_PT_SWITCH_UPSTREAM, x->rp3);
	x->dsp2a = dev_add(t, "0000:0b:00.0", P2PB_PT_SWITCH_DOWNSTREAM, x->usp2);
	x->e = dev_add(t, "0000:0c:00.0", P2PB_PT_ENDPOINT, x->dsp2a);
	t->devs[x->a].multifunction = t->devs[x->a1].multifunction = true;
	t->devs[x->rc0].multifunction = t->devs[x->rc1].multifunction = true;
	set_cpu(t, "GenuineIntel", 6);
}

/*
 * Topology B: two host bridges, one endpoint under each.
 *   0000:00:00.0 host bridge (id hb0), 00:01.0 RP - 01:00.0 P
 *   0000:80:00.0 host bridge (id hb1), 80:01.0 RP - 81:00.0 Q
 */
struct topo_b {
	struct p2pb_topology *t;
	int hb0, rp0, p, hb1, rp1, q;
};

static void
topo_b_build(struct topo_b *x, uint16_t hb0_device, uint16_t hb1_device)
{
	struct p2pb_topology *t = x->t = topo_new();

	x->hb0 = dev_add(t, "0000:00:00.0", P2PB_PT_CONVENTIONAL, NONE);
	set_ids(t, x->hb0, 0x8086, hb0_device);
	x->rp0 = dev_add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NONE);
	x->p = dev_add(t, "0000:01:00.0", P2PB_PT_ENDPOINT, x->rp0);
	x->hb1 = dev_add(t, "0000:80:00.0", P2PB_PT_CONVENTIONAL, NONE);
	set_ids(t, x->hb1, 0x8086, hb1_device);
	x->rp1 = dev_add(t, "0000:80:01.0", P2PB_PT_ROOT_PORT, NONE);
	x->q = dev_add(t, "0000:81:00.0", P2PB_PT_ENDPOINT, x->rp1);
	set_cpu(t, "GenuineIntel", 6);
}

/* ---- checking ----------------------------------------------------------- */

static void
verdict_of(const struct p2pb_topology *t, int p, int c, struct p2pb_verdict *v)
{
	struct p2pb_verdict_ctx *ctx = p2pb_verdict_ctx_new(t);

	assert_non_null(ctx);
	p2pb_verdict(ctx, p, c, v);
	p2pb_verdict_ctx_free(ctx);
}

struct expect {
	enum p2pb_map_type map;
	int distance;
	int raw_distance;
	int common;
	size_t n_acs;
	int acs[8];
};

static void
check(const struct p2pb_topology *t, int p, int c, struct expect e)
{
	struct p2pb_verdict v;

	verdict_of(t, p, c, &v);
	if (v.map != e.map || v.distance != e.distance || v.raw_distance != e.raw_distance ||
	    v.common != e.common || v.n_acs != e.n_acs) {
		char buf[1024];
		p2pb_verdict_explain(t, &v, p, c, buf, sizeof(buf));
		print_error("pair %d -> %d: got map %d dist %d raw %d common %d n_acs %zu, "
			    "want map %d dist %d raw %d common %d n_acs %zu\n  %s\n",
			    p, c, v.map, v.distance, v.raw_distance, v.common, v.n_acs, e.map,
			    e.distance, e.raw_distance, e.common, e.n_acs, buf);
		fail();
	}
	for (size_t i = 0; i < e.n_acs; i++)
		assert_int_equal(v.acs_devs[i], e.acs[i]);
}

#define BUS(dist, common_)                                                                         \
	(struct expect)                                                                            \
	{                                                                                          \
		.map = P2PB_MAP_BUS_ADDR, .distance = (dist), .raw_distance = (dist),              \
		.common = (common_)                                                                \
	}
#define THRU(dist, common_, n, ...)                                                                \
	(struct expect)                                                                            \
	{                                                                                          \
		.map = P2PB_MAP_THRU_HOST_BRIDGE, .distance = (dist), .raw_distance = (dist),      \
		.common = (common_), .n_acs = (n),                                                 \
		.acs = { __VA_ARGS__ }                                                             \
	}
#define NOTSUP(raw, common_, n, ...)                                                               \
	(struct expect)                                                                            \
	{                                                                                          \
		.map = P2PB_MAP_NOT_SUPPORTED, .distance = -1, .raw_distance = (raw),              \
		.common = (common_), .n_acs = (n),                                                 \
		.acs = { __VA_ARGS__ }                                                             \
	}

/* ---- distances and common devices --------------------------------------- */

static void
test_same_switch(void **state)
{
	struct topo_a x;

	topo_a_build(&x, 0x1234);
	/* A, DSP1a, USP1 | B, DSP1b, USP1: two hops each side. */
	check(x.t, x.a, x.b, BUS(4, x.usp1));
	check(x.t, x.b, x.a, BUS(4, x.usp1));
	/* A second switch below the same root port, nested in the first. */
	check(x.t, x.c, x.c2, BUS(4, x.uspn));
	p2pb_topology_free(x.t);
}

static void
test_nested_switch_distances(void **state)
{
	struct topo_a x;

	topo_a_build(&x, 0x1234);
	/* C, DSPn1, USPn, DSP1c, USP1 is 4 hops; B, DSP1b, USP1 is 2. */
	check(x.t, x.c, x.b, BUS(6, x.usp1));
	check(x.t, x.a, x.c, BUS(6, x.usp1));
	check(x.t, x.a1, x.c2, BUS(6, x.usp1));
	/* A bridge as one end: the client's own upstream port is the common device. */
	check(x.t, x.dsp1a, x.a, BUS(1, x.dsp1a));
	check(x.t, x.a, x.usp1, BUS(2, x.usp1));
	check(x.t, x.c, x.dsp1c, BUS(3, x.dsp1c));
	p2pb_topology_free(x.t);
}

static void
test_same_device_and_functions(void **state)
{
	struct topo_a x;

	topo_a_build(&x, 0x1234);
	check(x.t, x.a, x.a, BUS(0, x.a));
	check(x.t, x.e, x.e, BUS(0, x.e));
	/* Two functions of one device meet at their bridge: distance 2. */
	check(x.t, x.a, x.a1, BUS(2, x.dsp1a));
	check(x.t, x.a1, x.a, BUS(2, x.dsp1a));
	/* Functions on the root bus have no upstream bridge: each chain is one
	 * device long, 1 + 1, through the (non-whitelisted) host bridge. */
	check(x.t, x.rc0, x.rc1, NOTSUP(2, NONE, 0));
	/* Even the same function on a root bus is its own common device. */
	check(x.t, x.rc0, x.rc0, BUS(0, x.rc0));
	p2pb_topology_free(x.t);
}

static void
test_no_common_bridge_distance(void **state)
{
	struct topo_a x;

	topo_a_build(&x, 0x2020);
	/* Chains: A,DSP1a,USP1,RP1 (4); D,RP2 (2); E,DSP2a,USP2,RP3 (4); C is 6. */
	check(x.t, x.a, x.d, THRU(6, NONE, 0));
	check(x.t, x.a, x.e, THRU(8, NONE, 0));
	check(x.t, x.c, x.e, THRU(10, NONE, 0));
	check(x.t, x.d, x.rc0, THRU(3, NONE, 0));
	check(x.t, x.hb, x.a, THRU(5, NONE, 0));
	p2pb_topology_free(x.t);
}

/* ---- host bridge whitelist ---------------------------------------------- */

static void
test_whitelist_table(void **state)
{
	static const struct {
		uint16_t device;
		bool same, other;
	} cases[] = {
		{ 0x3c00, true, false },  { 0x3c01, true, false },  { 0x2f00, true, false },
		{ 0x2f01, true, false },  { 0x2030, true, true },   { 0x2031, true, true },
		{ 0x2032, true, true },	  { 0x2033, true, true },   { 0x2020, true, true },
		{ 0x09a2, true, true },	  { 0x3c02, false, false }, { 0x2021, false, false },
		{ 0x0000, false, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct topo_a x;

		topo_a_build(&x, cases[i].device);
		assert_int_equal(p2pb_host_bridge_whitelisted(x.t, 0, true), cases[i].same);
		assert_int_equal(p2pb_host_bridge_whitelisted(x.t, 0, false), cases[i].other);
		/* The vendor must be Intel as well. */
		set_ids(x.t, x.hb, 0x1022, cases[i].device);
		assert_false(p2pb_host_bridge_whitelisted(x.t, 0, true));
		p2pb_topology_free(x.t);
	}
}

static void
test_across_root_ports_one_host_bridge(void **state)
{
	struct topo_a x;

	topo_a_build(&x, 0x2020); /* whitelisted */
	check(x.t, x.a, x.d, THRU(6, NONE, 0));
	p2pb_topology_free(x.t);

	topo_a_build(&x, 0x3c00); /* same-host-bridge only: here they share one */
	check(x.t, x.a, x.d, THRU(6, NONE, 0));
	check(x.t, x.d, x.e, THRU(6, NONE, 0));
	p2pb_topology_free(x.t);

	topo_a_build(&x, 0x2f01);
	check(x.t, x.e, x.a, THRU(8, NONE, 0));
	p2pb_topology_free(x.t);

	topo_a_build(&x, 0x1234); /* not whitelisted */
	check(x.t, x.a, x.d, NOTSUP(6, NONE, 0));
	/* Same switch is still fine without any whitelist. */
	check(x.t, x.a, x.b, BUS(4, x.usp1));
	p2pb_topology_free(x.t);

	topo_a_build(&x, 0x2020);
	set_ids(x.t, x.hb, 0x1022, 0x2020); /* right device id, wrong vendor */
	check(x.t, x.a, x.d, NOTSUP(6, NONE, 0));
	p2pb_topology_free(x.t);
}

static void
test_first_dev_rules(void **state)
{
	/* No 00.0 device: the kernel checks the first root port (Skylake style). */
	struct p2pb_topology *t = topo_new();
	int rp = dev_add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NONE);
	int rp2 = dev_add(t, "0000:00:02.0", P2PB_PT_ROOT_PORT, NONE);
	int p = dev_add(t, "0000:01:00.0", P2PB_PT_ENDPOINT, rp);
	int q = dev_add(t, "0000:02:00.0", P2PB_PT_ENDPOINT, rp2);

	set_cpu(t, "GenuineIntel", 6);
	set_ids(t, rp, 0x8086, 0x2030);
	set_ids(t, rp2, 0x8086, 0x1111); /* not the first device: never looked at */
	assert_int_equal(t->hostbridges[0].first_dev, rp);
	check(t, p, q, THRU(4, NONE, 0));
	set_ids(t, rp, 0x8086, 0x1111);
	set_ids(t, rp2, 0x8086, 0x2030);
	check(t, p, q, NOTSUP(4, NONE, 0));
	p2pb_topology_free(t);

	/* The first device is neither 00.0 nor a root port: nothing is whitelisted. */
	t = topo_new();
	int rc = dev_add(t, "0000:00:01.0", P2PB_PT_RC_INTEGRATED, NONE);
	rp = dev_add(t, "0000:00:02.0", P2PB_PT_ROOT_PORT, NONE);
	p = dev_add(t, "0000:01:00.0", P2PB_PT_ENDPOINT, rp);
	set_cpu(t, "GenuineIntel", 6);
	set_ids(t, rc, 0x8086, 0x2020);
	set_ids(t, rp, 0x8086, 0x2020);
	assert_int_equal(t->hostbridges[0].first_dev, NONE);
	assert_false(p2pb_host_bridge_whitelisted(t, 0, true));
	check(t, rc, p, NOTSUP(3, NONE, 0));
	p2pb_topology_free(t);
}

static void
test_different_host_bridges(void **state)
{
	static const struct {
		uint16_t hb0, hb1;
		bool ok;
	} cases[] = {
		{ 0x2020, 0x2020, true },  { 0x2030, 0x09a2, true },  { 0x3c00, 0x3c00, false },
		{ 0x2020, 0x3c00, false }, { 0x2f00, 0x2020, false }, { 0x2020, 0x1234, false },
		{ 0x1234, 0x2020, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct topo_b x;

		topo_b_build(&x, cases[i].hb0, cases[i].hb1);
		/* P, RP0 and Q, RP1: 2 + 2 devices. */
		if (cases[i].ok) {
			check(x.t, x.p, x.q, THRU(4, NONE, 0));
			check(x.t, x.q, x.p, THRU(4, NONE, 0));
		} else {
			check(x.t, x.p, x.q, NOTSUP(4, NONE, 0));
			check(x.t, x.q, x.p, NOTSUP(4, NONE, 0));
		}
		/* Within each host bridge the same-host-bridge entries do count. */
		struct p2pb_verdict v;
		verdict_of(x.t, x.p, x.rp0, &v);
		assert_int_equal(v.map, P2PB_MAP_BUS_ADDR);
		verdict_of(x.t, x.p, x.hb0, &v);
		assert_int_equal(v.provider_hb, 0);
		assert_int_equal(v.client_hb, 0);
		assert_int_equal(v.map, p2pb_host_bridge_whitelisted(x.t, 0, true)
						? P2PB_MAP_THRU_HOST_BRIDGE
						: P2PB_MAP_NOT_SUPPORTED);
		p2pb_topology_free(x.t);
	}
}

/* ---- CPU rule ----------------------------------------------------------- */

static void
test_cpu_rule(void **state)
{
	static const struct {
		const char *vendor;
		unsigned family;
		bool ok;
	} cases[] = {
		{ "AuthenticAMD", 0x17, true },	 { "AuthenticAMD", 0x19, true },
		{ "AuthenticAMD", 0x1a, true },	 { "AuthenticAMD", 0x16, false },
		{ "AuthenticAMD", 0x10, false }, { "HygonGenuine", 0x18, false },
		{ "GenuineIntel", 0x6, false },	 { NULL, 0x19, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct topo_b x;
		struct p2pb_verdict v;

		topo_b_build(&x, 0x1234, 0x1234);
		set_cpu(x.t, cases[i].vendor, cases[i].family);
		verdict_of(x.t, x.p, x.q, &v);
		assert_int_equal(v.cpu_allows, cases[i].ok);
		assert_false(v.host_bridge_whitelisted);
		if (cases[i].ok)
			check(x.t, x.p, x.q, THRU(4, NONE, 0));
		else
			check(x.t, x.p, x.q, NOTSUP(4, NONE, 0));
		p2pb_topology_free(x.t);
	}
}

static void
test_cpu_known_flag(void **state)
{
	struct topo_b x;

	/* The vendor string alone is not enough when cpuinfo was not read. */
	topo_b_build(&x, 0x1234, 0x1234);
	set_cpu(x.t, "AuthenticAMD", 0x19);
	x.t->cpu.known = false;
	check(x.t, x.p, x.q, NOTSUP(4, NONE, 0));
	p2pb_topology_free(x.t);
}

/* ---- ACS redirect ------------------------------------------------------- */

static void
test_acs_each_redirect_bit(void **state)
{
	static const uint16_t redirect[] = { P2PB_ACS_RR, P2PB_ACS_CR, P2PB_ACS_EC,
					     P2PB_ACS_RR | P2PB_ACS_CR | P2PB_ACS_EC };
	static const uint16_t harmless[] = { P2PB_ACS_SV, P2PB_ACS_UF, P2PB_ACS_TB, P2PB_ACS_DT,
					     P2PB_ACS_SV | P2PB_ACS_TB | P2PB_ACS_UF |
						     P2PB_ACS_DT };
	for (size_t i = 0; i < sizeof(redirect) / sizeof(redirect[0]); i++) {
		struct topo_a x;

		topo_a_build(&x, 0x2020);
		set_acs(x.t, x.dsp1a, redirect[i]);
		check(x.t, x.a, x.b, THRU(4, x.usp1, 1, x.dsp1a));
		p2pb_topology_free(x.t);

		topo_a_build(&x, 0x1234);
		set_acs(x.t, x.dsp1b, redirect[i]);
		check(x.t, x.a, x.b, NOTSUP(4, x.usp1, 1, x.dsp1b));
		p2pb_topology_free(x.t);
	}
	for (size_t i = 0; i < sizeof(harmless) / sizeof(harmless[0]); i++) {
		struct topo_a x;

		topo_a_build(&x, 0x1234);
		set_acs(x.t, x.dsp1a, harmless[i]);
		set_acs(x.t, x.dsp1b, harmless[i]);
		set_acs(x.t, x.usp1, harmless[i]);
		check(x.t, x.a, x.b, BUS(4, x.usp1));
		p2pb_topology_free(x.t);
	}
}

static void
test_acs_path_extent(void **state)
{
	struct topo_a x;

	/* The common upstream port is checked (it is `a` when the loops meet). */
	topo_a_build(&x, 0x2020);
	set_acs(x.t, x.usp1, P2PB_ACS_RR);
	check(x.t, x.a, x.b, THRU(4, x.usp1, 1, x.usp1));
	check(x.t, x.b, x.a, THRU(4, x.usp1, 1, x.usp1));
	/* ... but not a device above it. */
	check(x.t, x.c, x.c2, BUS(4, x.uspn));
	p2pb_topology_free(x.t);

	topo_a_build(&x, 0x2020);
	set_acs(x.t, x.rp1, P2PB_ACS_RR | P2PB_ACS_CR);
	check(x.t, x.a, x.b, BUS(4, x.usp1));
	p2pb_topology_free(x.t);

	/* A disabled capability (acs_cap == 0 in the kernel) is never read. */
	topo_a_build(&x, 0x1234);
	set_acs(x.t, x.dsp1a, P2PB_ACS_RR);
	x.t->devs[x.dsp1a].acs.present = false;
	check(x.t, x.a, x.b, BUS(4, x.usp1));
	p2pb_topology_free(x.t);

	/* Without a common device the kernel never acts on ACS: nothing listed. */
	topo_a_build(&x, 0x2020);
	set_acs(x.t, x.dsp1a, P2PB_ACS_RR);
	set_acs(x.t, x.rp2, P2PB_ACS_RR);
	check(x.t, x.a, x.d, THRU(6, NONE, 0));
	p2pb_topology_free(x.t);
}

static void
test_acs_on_endpoints(void **state)
{
	struct topo_a x;

	topo_a_build(&x, 0x2020);
	set_acs(x.t, x.a, P2PB_ACS_EC);
	check(x.t, x.a, x.b, THRU(4, x.usp1, 1, x.a)); /* provider */
	check(x.t, x.b, x.a, THRU(4, x.usp1, 1, x.a)); /* client */
	/* The kernel checks a function against itself too: provider == client
	 * with redirect on it goes through the host bridge at distance 0. */
	check(x.t, x.a, x.a, THRU(0, x.a, 1, x.a));
	check(x.t, x.a, x.a1, THRU(2, x.dsp1a, 1, x.a));
	p2pb_topology_free(x.t);

	topo_a_build(&x, 0x1234);
	set_acs(x.t, x.a, P2PB_ACS_RR);
	check(x.t, x.a, x.a, NOTSUP(0, x.a, 1, x.a));
	check(x.t, x.a1, x.a1, BUS(0, x.a1));
	p2pb_topology_free(x.t);
}

static void
test_acs_order_and_hint(void **state)
{
	struct topo_a x;
	struct p2pb_verdict v;
	char buf[2048];

	topo_a_build(&x, 0x2020);
	set_acs(x.t, x.a, P2PB_ACS_RR);
	set_acs(x.t, x.dsp1a, P2PB_ACS_RR | P2PB_ACS_CR);
	set_acs(x.t, x.usp1, P2PB_ACS_EC);
	set_acs(x.t, x.b, P2PB_ACS_CR);
	set_acs(x.t, x.dsp1b, P2PB_ACS_RR | P2PB_ACS_CR | P2PB_ACS_EC | P2PB_ACS_SV);
	/* Provider side up to and including the common port, then client side. */
	check(x.t, x.a, x.b, THRU(4, x.usp1, 5, x.a, x.dsp1a, x.usp1, x.b, x.dsp1b));

	/* Multi-function with redirect on the shared port: common device counts. */
	check(x.t, x.a1, x.a, THRU(2, x.dsp1a, 2, x.dsp1a, x.a));

	verdict_of(x.t, x.a, x.b, &v);
	p2pb_verdict_explain(x.t, &v, x.a, x.b, buf, sizeof(buf));
	assert_non_null(strstr(buf, "common upstream device 0000:01:00.0 (switch-upstream)"));
	assert_non_null(strstr(buf, "0000:02:00.0 (RR CR)"));
	assert_non_null(strstr(buf, "0000:02:01.0 (RR CR EC)"));
	assert_non_null(strstr(buf, "0000:01:00.0 (EC)"));
	assert_non_null(strstr(buf, "pci=disable_acs_redir=0000:03:00.0;0000:02:00.0;"
				    "0000:01:00.0;0000:04:00.0;0000:02:01.0)"));
	assert_non_null(strstr(buf, "[8086:2020], which is on the kernel's whitelist"));
	assert_non_null(strstr(buf, "thru-host-bridge, distance 4"));
	p2pb_topology_free(x.t);
}

/* ---- SR-IOV ------------------------------------------------------------- */

/*
 *   00:00.0 host bridge, 00:01.0 RP - 01:00.0 USP -+- 02:00.0 DSPa - 03:00.0 PF, VFs 03:00.1
 * 03:00.2
 *                                                  \- 02:01.0 DSPb - 04:00.0 B
 */
struct topo_vf {
	struct p2pb_topology *t;
	int hb, rp, usp, dspa, dspb, pf, vf1, vf2, b;
};

static void
topo_vf_build(struct topo_vf *x)
{
	struct p2pb_topology *t = x->t = topo_new();

	x->hb = dev_add(t, "0000:00:00.0", P2PB_PT_CONVENTIONAL, NONE);
	set_ids(t, x->hb, 0x8086, 0x2020);
	x->rp = dev_add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NONE);
	x->usp = dev_add(t, "0000:01:00.0", P2PB_PT_SWITCH_UPSTREAM, x->rp);
	x->dspa = dev_add(t, "0000:02:00.0", P2PB_PT_SWITCH_DOWNSTREAM, x->usp);
	x->dspb = dev_add(t, "0000:02:01.0", P2PB_PT_SWITCH_DOWNSTREAM, x->usp);
	x->pf = dev_add(t, "0000:03:00.0", P2PB_PT_ENDPOINT, x->dspa);
	x->vf1 = vf_add(t, "0000:03:00.1", x->pf);
	x->vf2 = vf_add(t, "0000:03:00.2", x->pf);
	x->b = dev_add(t, "0000:04:00.0", P2PB_PT_ENDPOINT, x->dspb);
	set_cpu(t, "GenuineIntel", 6);
}

static void
test_vf(void **state)
{
	struct topo_vf x;

	topo_vf_build(&x);
	/* A VF's chain is VF, then its PF's upstream bridge: the PF is skipped. */
	check(x.t, x.vf1, x.b, BUS(4, x.usp));
	check(x.t, x.b, x.vf2, BUS(4, x.usp));
	check(x.t, x.vf1, x.pf, BUS(2, x.dspa));
	check(x.t, x.vf1, x.vf2, BUS(2, x.dspa));
	check(x.t, x.vf1, x.vf1, BUS(0, x.vf1));

	/* The PF's ACS is not on a VF's path ... */
	set_acs(x.t, x.pf, P2PB_ACS_RR);
	check(x.t, x.vf1, x.b, BUS(4, x.usp));
	check(x.t, x.vf1, x.vf2, BUS(2, x.dspa));
	/* ... but is on the PF's own. */
	check(x.t, x.pf, x.b, THRU(4, x.usp, 1, x.pf));
	check(x.t, x.vf1, x.pf, THRU(2, x.dspa, 1, x.pf));

	/* The VF's own ACS: checked as provider (first `a`) and as client (first `bb`). */
	set_acs(x.t, x.vf1, P2PB_ACS_EC);
	check(x.t, x.vf1, x.b, THRU(4, x.usp, 1, x.vf1));
	check(x.t, x.b, x.vf1, THRU(4, x.usp, 1, x.vf1));
	p2pb_topology_free(x.t);
}

static void
test_vf_walks_through_physfn(void **state)
{
	struct topo_vf x;

	/* The upstream walk follows physfn even when the VF's own parent field
	 * says something else, as the kernel's pci_upstream_bridge() does. */
	topo_vf_build(&x);
	x.t->devs[x.vf1].parent = x.dspb;
	check(x.t, x.vf1, x.b, BUS(4, x.usp));
	check(x.t, x.vf1, x.pf, BUS(2, x.dspa));
	p2pb_topology_free(x.t);
}

/* ---- providers ---------------------------------------------------------- */

/*
 *   00:00.0 host bridge, 00:01.0 RP - 01:00.0 USP - 02:0N.0 DSPn - (N+3):00.0 for N = 0..4,
 *   with the client X at 07:00.0 and its sibling function X1 at 07:00.1;
 *   00:02.0 RP2 - 08:00.0 F (far).
 */
struct topo_rank {
	struct p2pb_topology *t;
	int rp, usp, dsp[5], p[4], x, x1, rp2, far;
};

static void
topo_rank_build(struct topo_rank *r, uint16_t hb_device)
{
	static const char *const dsp_bdf[] = { "0000:02:00.0", "0000:02:01.0", "0000:02:02.0",
					       "0000:02:03.0", "0000:02:04.0" };
	static const char *const ep_bdf[] = { "0000:03:00.0", "0000:04:00.0", "0000:05:00.0",
					      "0000:06:00.0" };
	struct p2pb_topology *t = r->t = topo_new();
	int hb = dev_add(t, "0000:00:00.0", P2PB_PT_CONVENTIONAL, NONE);

	set_ids(t, hb, 0x8086, hb_device);
	r->rp = dev_add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NONE);
	r->rp2 = dev_add(t, "0000:00:02.0", P2PB_PT_ROOT_PORT, NONE);
	r->usp = dev_add(t, "0000:01:00.0", P2PB_PT_SWITCH_UPSTREAM, r->rp);
	for (int i = 0; i < 5; i++)
		r->dsp[i] = dev_add(t, dsp_bdf[i], P2PB_PT_SWITCH_DOWNSTREAM, r->usp);
	for (int i = 0; i < 4; i++)
		r->p[i] = dev_add(t, ep_bdf[i], P2PB_PT_ENDPOINT, r->dsp[i]);
	r->x = dev_add(t, "0000:07:00.0", P2PB_PT_ENDPOINT, r->dsp[4]);
	r->x1 = dev_add(t, "0000:07:00.1", P2PB_PT_ENDPOINT, r->dsp[4]);
	r->far = dev_add(t, "0000:08:00.0", P2PB_PT_ENDPOINT, r->rp2);
	set_cpu(t, "GenuineIntel", 6);

	/* p[0]: other NUMA node; p[1]: local, little room; p[2], p[3]: local,
	 * same room (address decides); x1: closest; far: another root port. */
	set_p2pmem(t, r->p[0], true, 900, 1);
	set_p2pmem(t, r->p[1], true, 100, 0);
	set_p2pmem(t, r->p[2], true, 300, 0);
	set_p2pmem(t, r->p[3], true, 300, 0);
	set_p2pmem(t, r->x1, true, 1, 0);
	set_p2pmem(t, r->far, true, 5000, 0);
	t->devs[r->x].numa_node = 0;
}

static void
test_providers_rank_ties(void **state)
{
	struct topo_rank r;
	struct p2pb_provider_choice out[8];

	topo_rank_build(&r, 0x1234); /* far is unreachable: no common bridge, no whitelist */
	struct p2pb_verdict_ctx *ctx = p2pb_verdict_ctx_new(r.t);
	assert_non_null(ctx);
	int n = p2pb_providers_rank(ctx, &r.x, 1, out, 8);
	assert_int_equal(n, 5);
	const int want[] = { r.x1, r.p[2], r.p[3], r.p[1], r.p[0] };
	const int want_dist[] = { 2, 4, 4, 4, 4 };
	const int want_numa[] = { 1, 1, 1, 1, 0 };
	for (int i = 0; i < n; i++) {
		assert_int_equal(out[i].dev, want[i]);
		assert_int_equal(out[i].total_distance, want_dist[i]);
		assert_int_equal(out[i].numa_matches, want_numa[i]);
	}

	/* max limits what is written, not the count. */
	memset(out, 0xff, sizeof(out));
	assert_int_equal(p2pb_providers_rank(ctx, &r.x, 1, out, 2), 5);
	assert_int_equal(out[1].dev, r.p[2]);
	assert_int_equal(out[2].dev, -1);

	/* Unpublished p2pmem is not a provider. */
	r.t->devs[r.x1].p2pmem.published = false;
	assert_int_equal(p2pb_providers_rank(ctx, &r.x, 1, out, 8), 4);
	assert_int_equal(out[0].dev, r.p[2]);

	/* Bad input. */
	int bad = 99;
	assert_int_equal(p2pb_providers_rank(ctx, &bad, 1, out, 8), -EINVAL);
	assert_int_equal(p2pb_providers_rank(ctx, NULL, 0, out, 8), 0);
	p2pb_verdict_ctx_free(ctx);
	p2pb_topology_free(r.t);
}

static void
test_providers_rank_many_clients(void **state)
{
	struct topo_rank r;
	struct p2pb_provider_choice out[8];

	topo_rank_build(&r, 0x2020); /* now far is reachable through the host bridge */
	struct p2pb_verdict_ctx *ctx = p2pb_verdict_ctx_new(r.t);
	int clients[] = { r.x, r.p[0] };

	/* x1: 2 + 4; p[0]: 4 + 0; p[1..3]: 4 + 4; far: (2+4) + (2+4). */
	assert_int_equal(p2pb_distance_many(ctx, r.x1, clients, 2), 6);
	assert_int_equal(p2pb_distance_many(ctx, r.p[0], clients, 2), 4);
	assert_int_equal(p2pb_distance_many(ctx, r.far, clients, 2), 12);
	assert_int_equal(p2pb_distance_many(ctx, r.far, clients, 0), -1);

	int n = p2pb_providers_rank(ctx, clients, 2, out, 8);
	assert_int_equal(n, 6);
	/* p[0] has one NUMA match (itself); p[1..3] and x1 one (x). */
	const int want[] = { r.p[0], r.x1, r.p[2], r.p[3], r.p[1], r.far };
	for (int i = 0; i < n; i++)
		assert_int_equal(out[i].dev, want[i]);
	assert_int_equal(out[5].total_distance, 12);
	assert_int_equal(out[5].numa_matches, 1);
	p2pb_verdict_ctx_free(ctx);

	/* One unreachable client removes a provider altogether. */
	set_acs(r.t, r.dsp[0], P2PB_ACS_RR);
	set_ids(r.t, 0, 0x8086, 0x1234);
	ctx = p2pb_verdict_ctx_new(r.t);
	assert_int_equal(p2pb_distance_many(ctx, r.p[1], clients, 2), -1);
	assert_int_equal(p2pb_distance_many(ctx, r.p[0], clients, 2), -1);
	assert_int_equal(p2pb_providers_rank(ctx, clients, 2, out, 8), 0);
	p2pb_verdict_ctx_free(ctx);
	p2pb_topology_free(r.t);
}

/* ---- matrix ------------------------------------------------------------- */

/* An independent transcription of the kernel's nested loops, one pair at a time. */
static int
naive_up(const struct p2pb_topology *t, int d)
{
	if (t->devs[d].is_virtfn)
		d = t->devs[d].physfn;
	return t->devs[d].parent;
}

static bool
naive_redir(const struct p2pb_topology *t, int d)
{
	return t->devs[d].acs.present &&
	       (t->devs[d].acs.ctrl & (P2PB_ACS_RR | P2PB_ACS_CR | P2PB_ACS_EC));
}

static bool
naive_hb_ok(const struct p2pb_topology *t, int hb, bool same)
{
	static const uint16_t any[] = { 0x2030, 0x2031, 0x2032, 0x2033, 0x2020, 0x09a2 };
	static const uint16_t only_same[] = { 0x3c00, 0x3c01, 0x2f00, 0x2f01 };
	int d = t->hostbridges[hb].first_dev;

	if (d == NONE || t->devs[d].vendor != 0x8086)
		return false;
	for (size_t i = 0; i < sizeof(any) / sizeof(any[0]); i++)
		if (t->devs[d].device == any[i])
			return true;
	for (size_t i = 0; i < sizeof(only_same) / sizeof(only_same[0]); i++)
		if (t->devs[d].device == only_same[i])
			return same;
	return false;
}

static void
naive_verdict(const struct p2pb_topology *t, int provider, int client, uint8_t *ret_map,
	      int32_t *ret_dist)
{
	int a = provider, dist_a = 0, dist_b = 0, acs = 0, bb;
	bool through = true, hb_ok;

	for (; a != NONE; a = naive_up(t, a), dist_a++) {
		dist_b = 0;
		acs += naive_redir(t, a);
		for (bb = client; bb != NONE && bb != a; bb = naive_up(t, bb))
			dist_b++;
		if (bb == a)
			break;
	}
	if (a != NONE) {
		for (bb = client; bb != a; bb = naive_up(t, bb))
			acs += naive_redir(t, bb);
		through = acs > 0;
	}
	int ha = t->devs[provider].hostbridge, hc = t->devs[client].hostbridge;
	hb_ok = ha == hc ? naive_hb_ok(t, ha, true)
			 : naive_hb_ok(t, ha, false) && naive_hb_ok(t, hc, false);
	bool cpu = t->cpu.known && !strcmp(t->cpu.vendor, "AuthenticAMD") && t->cpu.family >= 0x17;

	*ret_map = !through	    ? P2PB_MAP_BUS_ADDR
		   : (cpu || hb_ok) ? P2PB_MAP_THRU_HOST_BRIDGE
				    : P2PB_MAP_NOT_SUPPORTED;
	*ret_dist = *ret_map == P2PB_MAP_NOT_SUPPORTED ? -1 : dist_a + dist_b;
}

static void
check_matrix(const struct p2pb_topology *t)
{
	size_t n = t->n_devs;
	int *devs = malloc(n * sizeof(int));
	uint8_t *map = malloc(n * n);
	int32_t *dist = malloc(n * n * sizeof(int32_t));
	struct p2pb_verdict_ctx *ctx = p2pb_verdict_ctx_new(t);

	assert_non_null(ctx);
	for (size_t i = 0; i < n; i++)
		devs[i] = (int)i;
	p2pb_matrix(ctx, devs, n, map, dist);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			struct p2pb_verdict v;
			uint8_t nm;
			int32_t nd;

			p2pb_verdict(ctx, (int)i, (int)j, &v);
			naive_verdict(t, (int)i, (int)j, &nm, &nd);
			if (map[i * n + j] != v.map || dist[i * n + j] != v.distance ||
			    v.map != nm || v.distance != nd) {
				print_error("pair %zu -> %zu: matrix %d/%d, verdict %d/%d, "
					    "kernel loops %d/%d\n",
					    i, j, map[i * n + j], dist[i * n + j], v.map,
					    v.distance, nm, nd);
				fail();
			}
		}
	}
	p2pb_verdict_ctx_free(ctx);
	free(devs);
	free(map);
	free(dist);
}

static void
test_matrix_agrees(void **state)
{
	static const uint16_t hb_ids[] = { 0x1234, 0x2020, 0x3c00 };
	static const uint16_t acs_choices[] = { 0, 0, 0, P2PB_ACS_RR, P2PB_ACS_SV, P2PB_ACS_EC };
	static const char *const cpus[] = { "GenuineIntel", "AuthenticAMD" };
	uint32_t seed = 12345;
	size_t checked = 0;

	for (int round = 0; round < 24; round++) {
		struct topo_a x;
		struct topo_vf y;

		topo_a_build(&x, hb_ids[round % 3]);
		topo_vf_build(&y);
		set_cpu(x.t, cpus[(round / 3) % 2], 0x17);
		for (size_t d = 0; d < x.t->n_devs; d++) {
			seed = seed * 1103515245u + 12345u;
			uint16_t ctrl = acs_choices[(seed >> 16) % 6];
			if (ctrl)
				set_acs(x.t, (int)d, ctrl);
		}
		for (size_t d = 0; d < y.t->n_devs; d++) {
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 3 == 0)
				set_acs(y.t, (int)d, P2PB_ACS_CR);
		}
		check_matrix(x.t);
		check_matrix(y.t);
		checked += x.t->n_devs * x.t->n_devs + y.t->n_devs * y.t->n_devs;
		p2pb_topology_free(x.t);
		p2pb_topology_free(y.t);
	}
	struct topo_b z;
	topo_b_build(&z, 0x2020, 0x2030);
	check_matrix(z.t);
	p2pb_topology_free(z.t);
	assert_true(checked > 24 * 400);
}

static void
test_matrix_devices(void **state)
{
	struct topo_vf x;
	int *devs = NULL;

	topo_vf_build(&x);
	int n = p2pb_matrix_devices(x.t, &devs);
	/* Bridges (root port, switch ports) are left out; BDF order. */
	const int want[] = { x.hb, x.pf, x.vf1, x.vf2, x.b };
	assert_int_equal(n, 5);
	for (int i = 0; i < n; i++)
		assert_int_equal(devs[i], want[i]);
	free(devs);
	p2pb_topology_free(x.t);
}

/* ---- explanations ------------------------------------------------------- */

static void
explain(const struct p2pb_topology *t, int p, int c, char *buf, size_t len)
{
	struct p2pb_verdict v;

	verdict_of(t, p, c, &v);
	int n = p2pb_verdict_explain(t, &v, p, c, buf, len);
	assert_int_equal((size_t)n, strlen(buf));
}

static void
test_explain_cases(void **state)
{
	struct topo_a x;
	char buf[2048];

	topo_a_build(&x, 0x1234);
	explain(x.t, x.a, x.b, buf, sizeof(buf));
	assert_string_equal(buf,
			    "common upstream device 0000:01:00.0 (switch-upstream), distance 4 "
			    "(provider 2 + client 2 hops); no ACS redirect (RR, CR, EC) on "
			    "the path: bus-addr, distance 4");

	explain(x.t, x.a, x.a, buf, sizeof(buf));
	assert_non_null(strstr(buf, "same function 0000:03:00.0"));
	assert_non_null(strstr(buf, "bus-addr, distance 0"));

	explain(x.t, x.a, x.d, buf, sizeof(buf));
	assert_non_null(strstr(buf, "no common upstream device"));
	assert_non_null(strstr(buf, "ends at 0000:00:01.0 on root bus 0000:00"));
	assert_non_null(strstr(buf, "distance 6 = 4 + 2 devices"));
	assert_non_null(strstr(buf, "GenuineIntel family 0x6"));
	assert_non_null(strstr(buf, "first device 0000:00:00.0 [8086:1234], which is not on the "
				    "kernel's P2PDMA whitelist"));
	assert_non_null(strstr(buf, ": not-supported"));

	set_acs(x.t, x.dsp1a, P2PB_ACS_CR);
	explain(x.t, x.a, x.b, buf, sizeof(buf));
	assert_non_null(strstr(buf, "ACS redirect is set on 0000:02:00.0 (CR)"));
	assert_non_null(strstr(buf, "pci=disable_acs_redir=0000:02:00.0)"));
	assert_non_null(strstr(buf, ": not-supported"));

	set_cpu(x.t, "AuthenticAMD", 0x17);
	explain(x.t, x.a, x.b, buf, sizeof(buf));
	assert_non_null(strstr(buf, "AuthenticAMD family 0x17 (Zen or newer)"));
	assert_null(strstr(buf, "[8086:1234]"));
	assert_non_null(strstr(buf, "thru-host-bridge, distance 4"));

	set_cpu(x.t, "AuthenticAMD", 0x16);
	explain(x.t, x.a, x.b, buf, sizeof(buf));
	assert_non_null(strstr(buf, "family 0x16, older than Zen"));

	set_cpu(x.t, "HygonGenuine", 0x18);
	explain(x.t, x.a, x.b, buf, sizeof(buf));
	assert_non_null(strstr(buf, "HygonGenuine family 0x18"));
	assert_non_null(strstr(buf, "AMD (AuthenticAMD) family 0x17 or newer only"));

	set_cpu(x.t, NULL, 0);
	explain(x.t, x.a, x.b, buf, sizeof(buf));
	assert_non_null(strstr(buf, "unknown"));

	explain(x.t, x.dsp1a, x.a, buf, sizeof(buf));
	assert_non_null(strstr(buf, "0000:02:00.0 (switch-downstream, the provider itself)"));
	p2pb_topology_free(x.t);
}

/* A device whose ACS could not be read (short config) is named in a caution,
 * but only when the kernel would look at its ACS for that pair. */
static void
test_explain_acs_unknown(void **state)
{
	struct topo_a x;
	char buf[2048];

	topo_a_build(&x, 0x1234);
	x.t->devs[x.dsp1a].warnings |= P2PB_DW_ACS_UNKNOWN;
	explain(x.t, x.a, x.b, buf, sizeof(buf));
	assert_non_null(strstr(buf, "bus-addr, distance 4 (caution: the ACS control of "
				    "0000:02:00.0 could not be read here"));
	/* Client side, below the common device, is checked too. */
	explain(x.t, x.b, x.a, buf, sizeof(buf));
	assert_non_null(strstr(buf, "caution: the ACS control of 0000:02:00.0"));
	/* Not on the path of this pair: no caution. */
	explain(x.t, x.c, x.c2, buf, sizeof(buf));
	assert_null(strstr(buf, "caution"));
	/* No common device: the kernel's answer does not depend on ACS. */
	explain(x.t, x.a, x.d, buf, sizeof(buf));
	assert_null(strstr(buf, "caution"));
	/* Two of them, in the kernel's order: provider side first. */
	x.t->devs[x.b].warnings |= P2PB_DW_ACS_UNKNOWN;
	explain(x.t, x.a, x.b, buf, sizeof(buf));
	assert_non_null(strstr(buf, "the ACS control of 0000:02:00.0, 0000:04:00.0 could not"));
	/* The same list, structured, and bounded by max. */
	struct p2pb_verdict v;
	int devs[2] = { -1, -1 };
	verdict_of(x.t, x.a, x.b, &v);
	assert_int_equal(p2pb_verdict_acs_unknown(x.t, &v, x.a, x.b, devs, 2), 2);
	assert_int_equal(devs[0], x.dsp1a);
	assert_int_equal(devs[1], x.b);
	devs[1] = -1;
	assert_int_equal(p2pb_verdict_acs_unknown(x.t, &v, x.a, x.b, devs, 1), 2);
	assert_int_equal(devs[1], -1);
	verdict_of(x.t, x.a, x.d, &v);
	assert_int_equal(p2pb_verdict_acs_unknown(x.t, &v, x.a, x.d, devs, 2), 0);
	p2pb_topology_free(x.t);
}

static void
test_explain_host_bridges(void **state)
{
	struct topo_b x;
	char buf[2048];

	topo_b_build(&x, 0x3c00, 0x2020);
	explain(x.t, x.p, x.q, buf, sizeof(buf));
	assert_non_null(strstr(buf, "different host bridges"));
	assert_non_null(strstr(buf,
			       "host bridge 0000:00 is checked by its first device "
			       "0000:00:00.0 [8086:3c00], which the kernel's whitelist accepts "
			       "only when provider and client are under the same host bridge"));
	assert_non_null(strstr(buf,
			       "host bridge 0000:80 is checked by its first device "
			       "0000:80:00.0 [8086:2020], which is on the kernel's whitelist"));
	assert_non_null(strstr(buf, ": not-supported"));

	explain(x.t, x.p, x.hb0, buf, sizeof(buf));
	assert_non_null(strstr(buf, "[8086:3c00], which is on the kernel's whitelist for provider "
				    "and client under the same host bridge"));
	assert_non_null(strstr(buf, "thru-host-bridge, distance 3"));
	p2pb_topology_free(x.t);
}

static void
test_explain_truncation(void **state)
{
	struct topo_a x;
	struct p2pb_verdict v;
	char full[2048], small[16];

	topo_a_build(&x, 0x1234);
	verdict_of(x.t, x.a, x.e, &v);
	int n = p2pb_verdict_explain(x.t, &v, x.a, x.e, full, sizeof(full));
	assert_true(n > 100);
	memset(small, 'x', sizeof(small));
	assert_int_equal(p2pb_verdict_explain(x.t, &v, x.a, x.e, small, sizeof(small)), n);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, full, sizeof(small) - 1);
	assert_int_equal(p2pb_verdict_explain(x.t, &v, x.a, x.e, NULL, 0), n);
	p2pb_topology_free(x.t);
}

static void
test_map_type_names(void **state)
{
	assert_string_equal(p2pb_map_type_name(P2PB_MAP_BUS_ADDR), "bus-addr");
	assert_string_equal(p2pb_map_type_name(P2PB_MAP_THRU_HOST_BRIDGE), "thru-host-bridge");
	assert_string_equal(p2pb_map_type_name(P2PB_MAP_NOT_SUPPORTED), "not-supported");
	assert_string_equal(p2pb_map_type_name((enum p2pb_map_type)0), "unknown");
}

/* The same rules on a topology linked by p2pb_topology_finish(), as the scanner
 * leaves it: devices added out of order, parents and PFs named by BDF only. */
static int
scanned_add(struct p2pb_topology *t, const char *bdf, uint16_t type, const char *parent,
	    const char *physfn)
{
	struct p2pb_dev d = { .port_type = type, .numa_node = -1, .iommu_group = NONE };

	assert_int_equal(p2pb_bdf_parse(bdf, &d.bdf), 0);
	d.header_type = port_type_is_bridge(type) ? 1 : 0;
	d.vendor = 0x8086;
	d.device = 0x2030;
	if (parent) {
		d.has_parent_bdf = true;
		assert_int_equal(p2pb_bdf_parse(parent, &d.parent_bdf), 0);
	}
	if (physfn) {
		d.is_virtfn = d.has_physfn_bdf = true;
		assert_int_equal(p2pb_bdf_parse(physfn, &d.physfn_bdf), 0);
	}
	return p2pb_topology_add_dev(t, &d);
}

static int
find(const struct p2pb_topology *t, const char *s)
{
	struct p2pb_bdf bdf;

	assert_int_equal(p2pb_bdf_parse(s, &bdf), 0);
	int i = p2pb_topology_find(t, bdf);
	assert_true(i >= 0);
	return i;
}

static void
test_finished_topology(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();

	assert_non_null(t);
	/* Skylake-style: no 00.0, the first root port (8086:2030) is checked. */
	scanned_add(t, "0000:03:00.2", P2PB_PT_ENDPOINT, "0000:02:00.0", "0000:03:00.0");
	scanned_add(t, "0000:04:00.0", P2PB_PT_ENDPOINT, "0000:02:01.0", NULL);
	scanned_add(t, "0000:02:01.0", P2PB_PT_SWITCH_DOWNSTREAM, "0000:01:00.0", NULL);
	scanned_add(t, "0000:03:00.0", P2PB_PT_ENDPOINT, "0000:02:00.0", NULL);
	scanned_add(t, "0000:02:00.0", P2PB_PT_SWITCH_DOWNSTREAM, "0000:01:00.0", NULL);
	scanned_add(t, "0000:01:00.0", P2PB_PT_SWITCH_UPSTREAM, "0000:00:01.0", NULL);
	scanned_add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NULL, NULL);
	scanned_add(t, "0000:00:02.0", P2PB_PT_ROOT_PORT, NULL, NULL);
	scanned_add(t, "0000:05:00.0", P2PB_PT_ENDPOINT, "0000:00:02.0", NULL);
	assert_int_equal(p2pb_topology_finish(t), 0);
	set_cpu(t, "GenuineIntel", 6);
	set_acs(t, find(t, "0000:03:00.0"), P2PB_ACS_RR); /* the PF */

	int vf = find(t, "0000:03:00.2"), pf = find(t, "0000:03:00.0");
	int b = find(t, "0000:04:00.0"), far = find(t, "0000:05:00.0");
	check(t, vf, b, BUS(4, find(t, "0000:01:00.0")));
	check(t, pf, b, THRU(4, find(t, "0000:01:00.0"), 1, pf));
	check(t, vf, pf, THRU(2, find(t, "0000:02:00.0"), 1, pf));
	/* VF, DSP, USP, RP (4) and far, RP2 (2); the checked root port is whitelisted. */
	check(t, vf, far, THRU(6, NONE, 0));
	t->devs[find(t, "0000:00:01.0")].device = 0x1234;
	check(t, vf, far, NOTSUP(6, NONE, 0));
	p2pb_topology_free(t);
}

/* A parent loop must not hang the verdict (the kernel's tree cannot have one). */
static void
test_parent_loop_bounded(void **state)
{
	struct topo_a x;
	struct p2pb_verdict v;

	topo_a_build(&x, 0x1234);
	x.t->devs[x.rp1].parent = x.usp1;
	verdict_of(x.t, x.a, x.b, &v);
	assert_int_equal(v.common, x.usp1);
	verdict_of(x.t, x.a, x.d, &v);
	assert_int_equal(v.map, P2PB_MAP_NOT_SUPPORTED);
	p2pb_topology_free(x.t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_switch),
		cmocka_unit_test(test_nested_switch_distances),
		cmocka_unit_test(test_same_device_and_functions),
		cmocka_unit_test(test_no_common_bridge_distance),
		cmocka_unit_test(test_whitelist_table),
		cmocka_unit_test(test_across_root_ports_one_host_bridge),
		cmocka_unit_test(test_first_dev_rules),
		cmocka_unit_test(test_different_host_bridges),
		cmocka_unit_test(test_cpu_rule),
		cmocka_unit_test(test_cpu_known_flag),
		cmocka_unit_test(test_acs_each_redirect_bit),
		cmocka_unit_test(test_acs_path_extent),
		cmocka_unit_test(test_acs_on_endpoints),
		cmocka_unit_test(test_acs_order_and_hint),
		cmocka_unit_test(test_vf),
		cmocka_unit_test(test_vf_walks_through_physfn),
		cmocka_unit_test(test_providers_rank_ties),
		cmocka_unit_test(test_providers_rank_many_clients),
		cmocka_unit_test(test_matrix_agrees),
		cmocka_unit_test(test_matrix_devices),
		cmocka_unit_test(test_explain_cases),
		cmocka_unit_test(test_explain_acs_unknown),
		cmocka_unit_test(test_explain_host_bridges),
		cmocka_unit_test(test_explain_truncation),
		cmocka_unit_test(test_map_type_names),
		cmocka_unit_test(test_finished_topology),
		cmocka_unit_test(test_parent_loop_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
