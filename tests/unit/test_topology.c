/* test_topology.c - unit tests for the topology model (daemon/topology.c):
 * p2pb_topology_finish() on hand-built device lists, BDF helpers, lookups. */
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

static struct p2pb_bdf
bdf(const char *s)
{
	struct p2pb_bdf b;

	assert_int_equal(p2pb_bdf_parse(s, &b), 0);
	return b;
}

/* Adds one function. parent NULL: on a root bus. sec/sub only for bridges. */
static void
add(struct p2pb_topology *t, const char *at, uint16_t port_type, const char *parent, int sec,
    int sub)
{
	struct p2pb_dev d = { .bdf = bdf(at), .port_type = port_type, .numa_node = -1 };

	d.iommu_group = P2PB_NONE;
	if (sec >= 0) {
		d.header_type = 1;
		d.secondary_bus = (uint8_t)sec;
		d.subordinate_bus = (uint8_t)sub;
	}
	if (parent) {
		d.has_parent_bdf = true;
		d.parent_bdf = bdf(parent);
	}
	assert_true(p2pb_topology_add_dev(t, &d) >= 0);
}

static int
idx(const struct p2pb_topology *t, const char *s)
{
	int i = p2pb_topology_find(t, bdf(s));

	assert_true(i >= 0);
	return i;
}

static struct p2pb_dev *
dev(struct p2pb_topology *t, const char *s)
{
	return &t->devs[idx(t, s)];
}

/* The warning attached to device bdf whose text contains text, or fail.
 * (Warnings name their device by attachment, not in the text.) */
static const struct p2pb_warning *
find_warning(const struct p2pb_topology *t, const char *bdf, const char *text)
{
	char name[P2PB_BDF_STRLEN];

	for (size_t i = 0; i < t->n_warnings; i++) {
		const struct p2pb_warning *w = &t->warnings[i];
		if (w->dev >= 0 && strcmp(p2pb_bdf_format(t->devs[w->dev].bdf, name), bdf) == 0 &&
		    strstr(w->message, text))
			return w;
	}
	for (size_t i = 0; i < t->n_warnings; i++)
		print_message("warning: %s\n", t->warnings[i].message);
	fail_msg("no warning on %s with \"%s\"", bdf, text);
	return NULL;
}

static void
finish(struct p2pb_topology *t)
{
	assert_int_equal(p2pb_topology_finish(t), 0);
}

/* Root port -> switch -> (endpoint, nested switch -> endpoint), added out of
 * order so that finish() has to sort. */
static struct p2pb_topology *
nested_switch_tree(void)
{
	struct p2pb_topology *t = p2pb_topology_new();

	assert_non_null(t);
	add(t, "0000:06:00.0", P2PB_PT_ENDPOINT, "0000:05:00.0", -1, -1);
	add(t, "0000:05:00.0", P2PB_PT_SWITCH_DOWNSTREAM, "0000:04:00.0", 6, 6);
	add(t, "0000:04:00.0", P2PB_PT_SWITCH_UPSTREAM, "0000:02:01.0", 5, 6);
	add(t, "0000:03:00.0", P2PB_PT_ENDPOINT, "0000:02:00.0", -1, -1);
	add(t, "0000:02:01.0", P2PB_PT_SWITCH_DOWNSTREAM, "0000:01:00.0", 4, 6);
	add(t, "0000:02:00.0", P2PB_PT_SWITCH_DOWNSTREAM, "0000:01:00.0", 3, 3);
	add(t, "0000:01:00.0", P2PB_PT_SWITCH_UPSTREAM, "0000:00:01.0", 2, 6);
	add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NULL, 1, 6);
	add(t, "0000:00:00.0", P2PB_PT_CONVENTIONAL, NULL, -1, -1);
	finish(t);
	return t;
}

static void
test_sorted_and_found(void **state)
{
	struct p2pb_topology *t = nested_switch_tree();

	assert_int_equal(t->n_devs, 9);
	for (size_t i = 1; i < t->n_devs; i++)
		assert_true(p2pb_bdf_cmp(t->devs[i - 1].bdf, t->devs[i].bdf) < 0);
	assert_int_equal(idx(t, "0000:00:00.0"), 0);
	assert_int_equal(idx(t, "0000:06:00.0"), 8);
	assert_int_equal(p2pb_topology_find(t, bdf("0000:07:00.0")), -ENOENT);
	assert_int_equal(p2pb_topology_find(t, bdf("0001:00:00.0")), -ENOENT);
	assert_int_equal(t->n_warnings, 0);
	p2pb_topology_free(t);
}

static void
test_nested_switches(void **state)
{
	struct p2pb_topology *t = nested_switch_tree();
	const struct p2pb_switch *outer, *inner;

	assert_int_equal(t->n_switches, 2);
	outer = &t->switches[dev(t, "0000:01:00.0")->sw];
	inner = &t->switches[dev(t, "0000:04:00.0")->sw];
	assert_int_equal(outer->upstream, idx(t, "0000:01:00.0"));
	assert_int_equal(outer->n_downstream, 2);
	assert_int_equal(outer->downstream[0], idx(t, "0000:02:00.0"));
	assert_int_equal(outer->downstream[1], idx(t, "0000:02:01.0"));
	assert_int_equal(outer->parent_switch, P2PB_NONE);
	assert_int_equal(inner->n_downstream, 1);
	assert_int_equal(inner->downstream[0], idx(t, "0000:05:00.0"));
	assert_int_equal(inner->parent_switch, dev(t, "0000:01:00.0")->sw);
	assert_int_equal(dev(t, "0000:02:01.0")->sw, dev(t, "0000:01:00.0")->sw);
	assert_int_equal(dev(t, "0000:05:00.0")->sw, dev(t, "0000:04:00.0")->sw);
	assert_int_equal(dev(t, "0000:00:01.0")->sw, P2PB_NONE);
	assert_int_equal(dev(t, "0000:03:00.0")->sw, P2PB_NONE);
	p2pb_topology_free(t);
}

static void
test_parents_children_depth(void **state)
{
	struct p2pb_topology *t = nested_switch_tree();
	struct p2pb_dev *usp = dev(t, "0000:01:00.0");

	assert_int_equal(dev(t, "0000:00:01.0")->parent, P2PB_NONE);
	assert_int_equal(dev(t, "0000:06:00.0")->parent, idx(t, "0000:05:00.0"));
	assert_int_equal(usp->first_child, idx(t, "0000:02:00.0"));
	assert_int_equal(t->devs[usp->first_child].next_sibling, idx(t, "0000:02:01.0"));
	assert_int_equal(dev(t, "0000:02:01.0")->next_sibling, P2PB_NONE);
	assert_int_equal(dev(t, "0000:06:00.0")->first_child, P2PB_NONE);
	assert_int_equal(dev(t, "0000:00:00.0")->depth, 0);
	assert_int_equal(dev(t, "0000:00:01.0")->depth, 0);
	assert_int_equal(dev(t, "0000:01:00.0")->depth, 1);
	assert_int_equal(dev(t, "0000:03:00.0")->depth, 3);
	assert_int_equal(dev(t, "0000:06:00.0")->depth, 5);
	assert_int_equal(p2pb_upstream_bridge(t, idx(t, "0000:06:00.0")), idx(t, "0000:05:00.0"));
	assert_int_equal(p2pb_upstream_bridge(t, idx(t, "0000:00:01.0")), P2PB_NONE);
	assert_int_equal(p2pb_upstream_bridge(t, -1), P2PB_NONE);
	assert_int_equal(p2pb_upstream_bridge(t, (int)t->n_devs), P2PB_NONE);
	p2pb_topology_free(t);
}

static void
test_host_bridges(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();

	/* 0000:00: 00.0 exists -> it. */
	add(t, "0000:00:00.0", P2PB_PT_CONVENTIONAL, NULL, -1, -1);
	add(t, "0000:00:03.0", P2PB_PT_ROOT_PORT, NULL, 1, 1);
	add(t, "0000:01:00.0", P2PB_PT_ENDPOINT, "0000:00:03.0", -1, -1);
	/* 0000:40: first device is a root port at 01.0 -> it. */
	add(t, "0000:40:01.0", P2PB_PT_ROOT_PORT, NULL, 0x41, 0x41);
	add(t, "0000:40:02.0", P2PB_PT_ROOT_PORT, NULL, 0x42, 0x42);
	/* 0001:80: first device an RC-integrated endpoint at 02.0 -> none. */
	add(t, "0001:80:03.0", P2PB_PT_ROOT_PORT, NULL, 0x81, 0x81);
	add(t, "0001:80:02.0", P2PB_PT_RC_INTEGRATED, NULL, -1, -1);
	finish(t);

	assert_int_equal(t->n_hostbridges, 3);
	assert_int_equal(t->hostbridges[0].domain, 0);
	assert_int_equal(t->hostbridges[0].bus, 0);
	assert_int_equal(t->hostbridges[0].first_dev, idx(t, "0000:00:00.0"));
	assert_int_equal(t->hostbridges[0].first_root, idx(t, "0000:00:00.0"));
	assert_int_equal(t->hostbridges[1].bus, 0x40);
	assert_int_equal(t->hostbridges[1].first_dev, idx(t, "0000:40:01.0"));
	assert_int_equal(t->hostbridges[2].domain, 1);
	assert_int_equal(t->hostbridges[2].bus, 0x80);
	assert_int_equal(t->hostbridges[2].first_dev, P2PB_NONE);
	assert_int_equal(t->hostbridges[2].first_root, idx(t, "0001:80:02.0"));
	assert_int_equal(dev(t, "0000:01:00.0")->hostbridge, 0);
	assert_int_equal(dev(t, "0000:40:02.0")->hostbridge, 1);
	assert_int_equal(dev(t, "0001:80:03.0")->hostbridge, 2);
	assert_int_equal(t->n_warnings, 0);
	p2pb_topology_free(t);
}

/* The kernel's bus list puts VFs after the scanned functions, so a VF that
 * sorts first is not the host bridge's device. */
static void
test_host_bridge_skips_vf(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();
	struct p2pb_dev vf = { .bdf = bdf("0000:00:00.0"),
			       .is_virtfn = true,
			       .has_physfn_bdf = true,
			       .physfn_bdf = bdf("0000:00:05.0") };

	add(t, "0000:00:05.0", P2PB_PT_RC_INTEGRATED, NULL, -1, -1);
	add(t, "0000:00:02.0", P2PB_PT_ROOT_PORT, NULL, 1, 1);
	assert_true(p2pb_topology_add_dev(t, &vf) >= 0);
	finish(t);
	assert_int_equal(t->n_hostbridges, 1);
	assert_int_equal(t->hostbridges[0].first_dev, idx(t, "0000:00:02.0"));
	assert_int_equal(t->hostbridges[0].first_root, idx(t, "0000:00:00.0"));
	assert_int_equal(dev(t, "0000:00:00.0")->physfn, idx(t, "0000:00:05.0"));
	p2pb_topology_free(t);

	/* The same with an endpoint at 01.0 instead of the root port: none. */
	t = p2pb_topology_new();
	add(t, "0000:00:01.0", P2PB_PT_RC_INTEGRATED, NULL, -1, -1);
	assert_true(p2pb_topology_add_dev(t, &vf) >= 0);
	finish(t);
	assert_int_equal(t->hostbridges[0].first_dev, P2PB_NONE);
	p2pb_topology_free(t);
}

static void
test_vf_upstream_is_pf_parent(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();
	struct p2pb_dev vf = { .bdf = bdf("0000:02:00.4"),
			       .is_virtfn = true,
			       .has_physfn_bdf = true,
			       .physfn_bdf = bdf("0000:02:00.0") };

	add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NULL, 1, 3);
	add(t, "0000:01:00.0", P2PB_PT_SWITCH_UPSTREAM, "0000:00:01.0", 2, 3);
	add(t, "0000:02:00.0", P2PB_PT_ENDPOINT, "0000:01:00.0", -1, -1);
	/* The VF names no parent of its own: the answer must come from the PF. */
	assert_true(p2pb_topology_add_dev(t, &vf) >= 0);
	finish(t);
	assert_int_equal(dev(t, "0000:02:00.4")->parent, P2PB_NONE);
	assert_int_equal(dev(t, "0000:02:00.4")->physfn, idx(t, "0000:02:00.0"));
	assert_int_equal(p2pb_upstream_bridge(t, idx(t, "0000:02:00.4")), idx(t, "0000:01:00.0"));
	assert_int_equal(p2pb_upstream_bridge(t, idx(t, "0000:02:00.0")), idx(t, "0000:01:00.0"));
	p2pb_topology_free(t);
}

static void
test_vf_on_later_bus_of_window(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();
	struct p2pb_dev vf = { .bdf = bdf("0000:03:00.0"),
			       .is_virtfn = true,
			       .has_physfn_bdf = true,
			       .physfn_bdf = bdf("0000:02:00.0"),
			       .has_parent_bdf = true,
			       .parent_bdf = bdf("0000:00:01.0") };

	add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NULL, 2, 3);
	add(t, "0000:02:00.0", P2PB_PT_ENDPOINT, "0000:00:01.0", -1, -1);
	assert_true(p2pb_topology_add_dev(t, &vf) >= 0);
	finish(t);
	assert_int_equal(t->n_warnings, 0);
	assert_int_equal(p2pb_upstream_bridge(t, idx(t, "0000:03:00.0")), idx(t, "0000:00:01.0"));
	p2pb_topology_free(t);
}

static void
test_bus_window_warning(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();
	const struct p2pb_warning *w;

	add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NULL, 1, 3);
	add(t, "0000:07:00.0", P2PB_PT_ENDPOINT, "0000:00:01.0", -1, -1);
	add(t, "0000:02:00.0", P2PB_PT_ENDPOINT, "0000:00:01.0", -1, -1);
	add(t, "0000:01:00.0", P2PB_PT_ENDPOINT, "0000:00:01.0", -1, -1);
	finish(t);
	w = find_warning(t, "0000:07:00.0", "outside the bus window 01..03");
	assert_int_equal(w->dev, idx(t, "0000:07:00.0"));
	assert_true(dev(t, "0000:07:00.0")->warnings & P2PB_DW_BUS_MISMATCH);
	w = find_warning(t, "0000:02:00.0", "not the secondary bus 01");
	assert_int_equal(w->dev, idx(t, "0000:02:00.0"));
	assert_false(dev(t, "0000:01:00.0")->warnings & P2PB_DW_BUS_MISMATCH);
	assert_int_equal(t->n_warnings, 2);
	/* The device stays linked where sysfs put it. */
	assert_int_equal(dev(t, "0000:07:00.0")->parent, idx(t, "0000:00:01.0"));
	p2pb_topology_free(t);
}

static void
test_bridge_window_must_nest(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();

	add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NULL, 1, 3);
	add(t, "0000:01:00.0", P2PB_PT_SWITCH_UPSTREAM, "0000:00:01.0", 2, 9);
	finish(t);
	find_warning(t, "0000:01:00.0", "does not nest inside the window 01..03");
	assert_int_equal(t->n_warnings, 1);
	p2pb_topology_free(t);
}

static void
test_parent_not_bridge(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();

	add(t, "0000:00:02.0", P2PB_PT_ENDPOINT, NULL, -1, -1);
	add(t, "0000:01:00.0", P2PB_PT_ENDPOINT, "0000:00:02.0", -1, -1);
	finish(t);
	find_warning(t, "0000:01:00.0", "0000:00:02.0 is not a bridge");
	assert_true(dev(t, "0000:01:00.0")->warnings & P2PB_DW_BUS_MISMATCH);
	assert_int_equal(dev(t, "0000:01:00.0")->parent, idx(t, "0000:00:02.0"));
	p2pb_topology_free(t);
}

static void
test_unknown_parent(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();
	struct p2pb_dev *d;

	add(t, "0000:00:00.0", P2PB_PT_CONVENTIONAL, NULL, -1, -1);
	add(t, "0000:05:00.0", P2PB_PT_ENDPOINT, "0000:00:1c.0", -1, -1);
	finish(t);
	find_warning(t, "0000:05:00.0", "0000:00:1c.0 is not a scanned device");
	d = dev(t, "0000:05:00.0");
	assert_true(d->warnings & P2PB_DW_PARENT_UNKNOWN);
	assert_int_equal(d->parent, P2PB_NONE);
	assert_int_equal(d->depth, 0);
	/* Treated as a root-bus device: its bus gets a host bridge. */
	assert_int_equal(t->n_hostbridges, 2);
	assert_int_equal(t->hostbridges[d->hostbridge].bus, 5);
	assert_int_equal(t->hostbridges[d->hostbridge].first_dev, idx(t, "0000:05:00.0"));
	p2pb_topology_free(t);
}

static void
test_parent_loop(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();
	int looped = 0;

	add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NULL, 1, 1);
	add(t, "0000:01:00.0", P2PB_PT_SWITCH_UPSTREAM, "0000:03:00.0", 2, 3);
	add(t, "0000:02:00.0", P2PB_PT_SWITCH_DOWNSTREAM, "0000:01:00.0", 3, 3);
	add(t, "0000:03:00.0", P2PB_PT_ENDPOINT, "0000:02:00.0", -1, -1);
	add(t, "0000:04:00.0", P2PB_PT_ENDPOINT, "0000:04:00.0", -1, -1);
	finish(t);
	find_warning(t, "0000:04:00.0", "loops");
	for (size_t i = 0; i < t->n_devs; i++) {
		/* Every chain ends on a root bus, with a host bridge. */
		int hops = 0;

		for (int j = (int)i; t->devs[j].parent != P2PB_NONE; j = t->devs[j].parent)
			assert_true(++hops <= (int)t->n_devs);
		assert_int_equal(t->devs[i].depth, hops);
		assert_true(t->devs[i].hostbridge >= 0);
		if (t->devs[i].warnings & P2PB_DW_PARENT_UNKNOWN)
			looped++;
	}
	/* One cut per loop: the three-device loop and the self-loop. */
	assert_int_equal(looped, 2);
	assert_int_equal(dev(t, "0000:04:00.0")->parent, P2PB_NONE);
	p2pb_topology_free(t);
}

static void
test_warnings_follow_sort(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();

	add(t, "0000:00:02.0", P2PB_PT_ENDPOINT, NULL, -1, -1);
	add(t, "0000:00:01.0", P2PB_PT_ENDPOINT, NULL, -1, -1);
	assert_int_equal(p2pb_topology_warn(t, 0, "about %s", "00:02.0"), 0);
	assert_int_equal(p2pb_topology_warn(t, 1, "about 00:01.0"), 0);
	assert_int_equal(p2pb_topology_warn(t, P2PB_NONE, "global %d", 1), 0);
	assert_int_equal(p2pb_topology_warn(t, 0, "more about 00:02.0"), 0);
	finish(t);
	/* Topology-wide first, then by device, each in the order recorded. */
	assert_int_equal(t->n_warnings, 4);
	assert_int_equal(t->warnings[0].dev, P2PB_NONE);
	assert_string_equal(t->warnings[0].message, "global 1");
	assert_string_equal(t->warnings[1].message, "about 00:01.0");
	assert_int_equal(t->warnings[1].dev, 0);
	assert_string_equal(t->warnings[2].message, "about 00:02.0");
	assert_int_equal(t->warnings[2].dev, idx(t, "0000:00:02.0"));
	assert_int_equal(t->warnings[2].dev, 1);
	assert_string_equal(t->warnings[3].message, "more about 00:02.0");
	p2pb_topology_free(t);
}

static void
test_duplicates_dropped(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();

	add(t, "0000:00:02.0", P2PB_PT_ENDPOINT, NULL, -1, -1);
	add(t, "0000:00:01.0", P2PB_PT_ROOT_PORT, NULL, 1, 1);
	add(t, "0000:00:02.0", P2PB_PT_LEGACY_ENDPOINT, NULL, -1, -1);
	finish(t);
	assert_int_equal(t->n_devs, 2);
	assert_int_equal(dev(t, "0000:00:02.0")->port_type, P2PB_PT_ENDPOINT);
	find_warning(t, "0000:00:02.0", "more than once");
	p2pb_topology_free(t);
}

static void
test_many_devices(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();
	char s[32];

	/* 256 root ports, each with 8 functions behind it, added backwards. */
	for (int b = 255; b >= 1; b--) {
		char rp[32];

		snprintf(rp, sizeof(rp), "0000:00:%02x.%x", (b - 1) / 8, (b - 1) % 8);
		for (int f = 7; f >= 0; f--) {
			snprintf(s, sizeof(s), "0000:%02x:00.%x", b, f);
			add(t, s, P2PB_PT_ENDPOINT, rp, -1, -1);
		}
		add(t, rp, P2PB_PT_ROOT_PORT, NULL, b, b);
	}
	finish(t);
	assert_int_equal(t->n_devs, 255 * 9);
	assert_int_equal(t->n_warnings, 0);
	assert_int_equal(t->n_hostbridges, 1);
	assert_int_equal(t->hostbridges[0].first_dev, idx(t, "0000:00:00.0"));
	assert_int_equal(dev(t, "0000:ff:00.7")->parent, idx(t, "0000:00:1f.6"));
	assert_int_equal(dev(t, "0000:ff:00.7")->depth, 1);
	p2pb_topology_free(t);
}

static void
test_empty(void **state)
{
	struct p2pb_topology *t = p2pb_topology_new();

	finish(t);
	assert_int_equal(t->n_devs, 0);
	assert_int_equal(t->n_hostbridges, 0);
	assert_int_equal(p2pb_topology_find(t, bdf("0000:00:00.0")), -ENOENT);
	assert_null(p2pb_topology_free(t));
	assert_null(p2pb_topology_free(NULL));
}

static void
test_bdf_parse(void **state)
{
	struct p2pb_bdf b = { 0 };

	assert_int_equal(p2pb_bdf_parse("0000:03:00.1", &b), 0);
	assert_int_equal(b.domain, 0);
	assert_int_equal(b.bus, 3);
	assert_int_equal(b.dev, 0);
	assert_int_equal(b.fn, 1);
	assert_int_equal(p2pb_bdf_parse("0001:Af:1F.7", &b), 0);
	assert_int_equal(b.domain, 1);
	assert_int_equal(b.bus, 0xaf);
	assert_int_equal(b.dev, 0x1f);
	assert_int_equal(b.fn, 7);
	assert_int_equal(p2pb_bdf_parse("10000:e1:00.0", &b), 0); /* VMD domain */
	assert_int_equal(b.domain, 0x10000);
	assert_int_equal(p2pb_bdf_parse("c2:1f.3", &b), 0);
	assert_int_equal(b.domain, 0);
	assert_int_equal(b.bus, 0xc2);
	assert_int_equal(b.dev, 0x1f);
	assert_int_equal(b.fn, 3);
}

static void
test_bdf_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"0000",
		"0000:03:00",
		"0000:03:00.",
		"0000:03:20.0",
		"0000:03:00.8",
		"0000:3:00.0",
		"0000:03:0.0",
		"0000:03:00.0x",
		"0000:03:00.0 ",
		" 0000:03:00.0",
		"-001:03:00.0",
		"+0000:03:00.0",
		"123456789:00:00.0",
		"10000000:00:00.0",
		"0000:03:0g.0",
		"0000:003:00.0",
		"0000:03:00.00",
		"0000.03:00.0",
		":03:00.0",
		"0000::03:00.0",
		"03:00",
		"0x00:03:00.0",
		"0000:03:00:0",
	};
	struct p2pb_bdf b = { .domain = 7, .bus = 7, .dev = 7, .fn = 7 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (p2pb_bdf_parse(bad[i], &b) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(p2pb_bdf_parse(NULL, &b), -EINVAL);
	/* Untouched on failure. */
	assert_int_equal(b.domain, 7);
	assert_int_equal(b.fn, 7);
}

static void
test_bdf_format_roundtrip(void **state)
{
	static const char *const good[] = { "0000:00:00.0", "0000:ff:1f.7", "ffff:80:01.2",
					    "10000:01:00.0", "fffffff:ff:1f.7" };
	char buf[P2PB_BDF_STRLEN];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct p2pb_bdf b;

		assert_int_equal(p2pb_bdf_parse(good[i], &b), 0);
		assert_string_equal(p2pb_bdf_format(b, buf), good[i]);
	}
	assert_string_equal(p2pb_bdf_format(bdf("03:00.1"), buf), "0000:03:00.1");
}

static void
test_bdf_cmp(void **state)
{
	assert_true(p2pb_bdf_cmp(bdf("0000:00:00.0"), bdf("0000:00:00.1")) < 0);
	assert_true(p2pb_bdf_cmp(bdf("0000:00:01.0"), bdf("0000:00:00.7")) > 0);
	assert_true(p2pb_bdf_cmp(bdf("0000:01:00.0"), bdf("0000:00:1f.7")) > 0);
	assert_true(p2pb_bdf_cmp(bdf("0000:ff:1f.7"), bdf("0001:00:00.0")) < 0);
	assert_true(p2pb_bdf_cmp(bdf("10000:00:00.0"), bdf("ffff:ff:1f.7")) > 0);
	assert_int_equal(p2pb_bdf_cmp(bdf("0002:03:04.5"), bdf("0002:03:04.5")), 0);
}

static void
test_port_type_names(void **state)
{
	static const struct {
		uint16_t type;
		const char *name;
	} names[] = {
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

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(p2pb_port_type_name(names[i].type), names[i].name);
	assert_string_equal(p2pb_port_type_name(0x3), "unknown");
	assert_string_equal(p2pb_port_type_name(0xffff), "unknown");
}

static void
test_is_bridge(void **state)
{
	struct p2pb_dev d = { .header_type = 0 };

	assert_false(p2pb_dev_is_bridge(&d));
	d.header_type = 1;
	assert_true(p2pb_dev_is_bridge(&d));
	d.header_type = 2;
	assert_true(p2pb_dev_is_bridge(&d));
	d.header_type = 0x7f;
	assert_false(p2pb_dev_is_bridge(&d));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sorted_and_found),
		cmocka_unit_test(test_nested_switches),
		cmocka_unit_test(test_parents_children_depth),
		cmocka_unit_test(test_host_bridges),
		cmocka_unit_test(test_host_bridge_skips_vf),
		cmocka_unit_test(test_vf_upstream_is_pf_parent),
		cmocka_unit_test(test_vf_on_later_bus_of_window),
		cmocka_unit_test(test_bus_window_warning),
		cmocka_unit_test(test_bridge_window_must_nest),
		cmocka_unit_test(test_parent_not_bridge),
		cmocka_unit_test(test_unknown_parent),
		cmocka_unit_test(test_parent_loop),
		cmocka_unit_test(test_warnings_follow_sort),
		cmocka_unit_test(test_duplicates_dropped),
		cmocka_unit_test(test_many_devices),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_bdf_parse),
		cmocka_unit_test(test_bdf_parse_rejects),
		cmocka_unit_test(test_bdf_format_roundtrip),
		cmocka_unit_test(test_bdf_cmp),
		cmocka_unit_test(test_port_type_names),
		cmocka_unit_test(test_is_bridge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
