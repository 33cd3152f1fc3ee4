/* test_scan.c - unit tests for the sysfs/libpci scanner (daemon/scan.c) on small sysfs
 * trees built in a temp dir: fields read, damage reported and survived, cpuinfo parsed. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan.h"
#include "sysfs_tree.h"

#define RP	 "pci0000:00/0000:00:01.0"
#define USP	 RP "/0000:01:00.0"
#define DSP	 USP "/0000:02:00.0"
#define NVME_DSN 0x0123456789abcdefull

/* The configs of the base tree, kept so that tests can damage one. */
struct base {
	struct tree t;
	struct cfg hb, rp, usp, dsp, nvme, nvme1, vf, p2p_bridge, legacy;
};

static void
make_configs(struct base *b)
{
	cfg_init(&b->hb, 0x8086, 0x2020, 0x060000, 0x04, 0, 256);

	cfg_init(&b->rp, 0x8086, 0x2030, 0x060400, 0x04, 1, 4096);
	cfg_bridge_buses(&b->rp, 0, 1, 3);
	cfg_pcie(&b->rp, 0x40, 0, 0x4, 4, 16, 3, 8);
	cfg_acs(&b->rp, 0x100, 0, 0x001f, 0x001d);

	cfg_init(&b->usp, 0x10b5, 0x9797, 0x060400, 0xab, 1, 4096);
	cfg_bridge_buses(&b->usp, 1, 2, 3);
	cfg_pcie(&b->usp, 0x68, 0, 0x5, 4, 16, 4, 16);
	cfg_dsn(&b->usp, 0x100, 0, 0xab979710b5df0e03ull);

	cfg_init(&b->dsp, 0x10b5, 0x9797, 0x060400, 0xab, 1, 4096);
	cfg_bridge_buses(&b->dsp, 2, 3, 3);
	cfg_pcie(&b->dsp, 0x68, 0, 0x6, 4, 4, 3, 4);
	cfg_acs(&b->dsp, 0x148, 0, 0x007f, 0x0011);
	cfg_ext(&b->dsp, 0x100, 0x0001, 0x148); /* AER first, then ACS */

	/* Two functions of one NVMe device, and a VF of the first. */
	cfg_init(&b->nvme, 0x144d, 0xa824, 0x010802, 0x00, 0x80, 4096);
	cfg_cap(&b->nvme, 0x40, 0x01, 0x50); /* power management */
	cfg_pcie(&b->nvme, 0x50, 0, 0x0, 4, 4, 3, 4);
	cfg_dsn(&b->nvme, 0x100, 0, NVME_DSN);
	cfg_init(&b->nvme1, 0x144d, 0xa824, 0x010802, 0x00, 0x80, 4096);
	cfg_pcie(&b->nvme1, 0x50, 0, 0x0, 4, 4, 3, 4);
	cfg_init(&b->vf, 0x144d, 0xa825, 0x010802, 0x00, 0, 4096);
	cfg_pcie(&b->vf, 0x50, 0, 0x0, 0, 0, 0, 0);

	cfg_init(&b->p2p_bridge, 0x8086, 0x244e, 0x060401, 0x01, 1, 4096);
	cfg_bridge_buses(&b->p2p_bridge, 0, 4, 4);
	cfg_pcie(&b->p2p_bridge, 0x40, 0, 0x7, 1, 1, 1, 1);

	cfg_init(&b->legacy, 0x10ec, 0x8139, 0x020000, 0x10, 0, 256);
}

static void
add_devices(struct base *b)
{
	struct tree *t = &b->t;

	tree_add(t, "pci0000:00", "0000:00:00.0", &b->hb);
	tree_add(t, "pci0000:00", "0000:00:01.0", &b->rp);
	tree_add(t, RP, "0000:01:00.0", &b->usp);
	tree_add(t, USP, "0000:02:00.0", &b->dsp);
	tree_add(t, DSP, "0000:03:00.0", &b->nvme);
	tree_add(t, DSP, "0000:03:00.1", &b->nvme1);
	tree_add(t, DSP, "0000:03:00.4", &b->vf);
	tree_add(t, "pci0000:00", "0000:00:1e.0", &b->p2p_bridge);
	tree_add(t, "pci0000:00/0000:00:1e.0", "0000:04:05.0", &b->legacy);

	tree_link(t, "0000:03:00.4", "physfn", "../0000:03:00.0");
	tree_link(t, "0000:03:00.0", "virtfn0", "../0000:03:00.4");
	tree_iommu_group(t, "0000:00:00.0", 0);
	tree_iommu_group(t, "0000:00:01.0", 1);
	tree_iommu_group(t, "0000:03:00.0", 17);
	tree_driver(t, "0000:00:01.0", "pcieport");
	tree_driver(t, "0000:03:00.0", "nvme");
	tree_attr(t, "0000:00:01.0", "numa_node", "1\n");
	tree_attr(t, "0000:03:00.0", "numa_node", "1\n");
	tree_attr(t, "0000:03:00.0", "p2pmem/size", "67108864\n");
	tree_attr(t, "0000:03:00.0", "p2pmem/available", "33554432\n");
	tree_attr(t, "0000:03:00.0", "p2pmem/published", "1\n");
}

static void
write_cpuinfo(const struct tree *t, const char *text)
{
	char path[PATH_MAX];

	tree_path(t, path, sizeof(path), "proc");
	tree_mkdirs(path);
	tree_path(t, path, sizeof(path), "proc/cpuinfo");
	tree_write_file(path, text, strlen(text));
}

static const char amd_cpuinfo[] = "processor\t: 0\n"
				  "vendor_id\t: AuthenticAMD\n"
				  "cpu family\t: 25\n"
				  "model\t\t: 1\n"
				  "\n"
				  "processor\t: 1\n"
				  "vendor_id\t: AuthenticAMD\n"
				  "cpu family\t: 25\n";

static int
setup(void **state)
{
	struct base *b = calloc(1, sizeof(*b));

	if (!b)
		return -1;
	tree_init(&b->t);
	make_configs(b);
	*state = b;
	return 0;
}

static int
teardown(void **state)
{
	struct base *b = *state;

	tree_cleanup(&b->t);
	free(b);
	return 0;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Scans the tree; checks that no descriptor stays open. */
static struct p2pb_topology *
scan(struct base *b)
{
	struct p2pb_topology *topo = NULL;
	int fds = count_fds();

	assert_int_equal(p2pb_scan(b->t.root, &topo), 0);
	assert_non_null(topo);
	assert_int_equal(count_fds(), fds);
	return topo;
}

static struct p2pb_dev *
dev(struct p2pb_topology *t, const char *s)
{
	struct p2pb_bdf bdf;
	int i;

	assert_int_equal(p2pb_bdf_parse(s, &bdf), 0);
	i = p2pb_topology_find(t, bdf);
	if (i < 0)
		fail_msg("%s not in the topology", s);
	return &t->devs[i];
}

static void
dump_warnings(const struct p2pb_topology *t)
{
	for (size_t i = 0; i < t->n_warnings; i++)
		print_message("warning[%d]: %s\n", t->warnings[i].dev, t->warnings[i].message);
}

/* Asserts a warning on device BDF (or topology-wide when bdf is NULL) whose
 * message holds every string given. */
static void
expect_warning(const struct p2pb_topology *t, const char *bdf, ...)
{
	for (size_t i = 0; i < t->n_warnings; i++) {
		const struct p2pb_warning *w = &t->warnings[i];
		bool all = true;
		const char *s;
		va_list ap;

		if (bdf) {
			char b[P2PB_BDF_STRLEN];

			if (w->dev < 0 || strcmp(p2pb_bdf_format(t->devs[w->dev].bdf, b), bdf))
				continue;
		} else if (w->dev != P2PB_NONE) {
			continue;
		}
		va_start(ap, bdf);
		while (all && (s = va_arg(ap, const char *)))
			all = strstr(w->message, s) != NULL;
		va_end(ap);
		if (all)
			return;
	}
	dump_warnings(t);
	fail_msg("no such warning for %s", bdf ? bdf : "the topology");
}

static struct p2pb_topology *
scan_base(struct base *b)
{
	add_devices(b);
	write_cpuinfo(&b->t, amd_cpuinfo);
	return scan(b);
}

static void
test_fields(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t = scan_base(b);
	struct p2pb_dev *d;

	if (t->n_warnings)
		dump_warnings(t);
	assert_int_equal(t->n_warnings, 0);
	assert_int_equal(t->n_devs, 9);
	assert_string_equal(t->root, b->t.root);
	assert_true(t->cpu.known);
	assert_string_equal(t->cpu.vendor, "AuthenticAMD");
	assert_int_equal(t->cpu.family, 25);

	d = dev(t, "0000:00:00.0");
	assert_int_equal(d->vendor, 0x8086);
	assert_int_equal(d->device, 0x2020);
	assert_int_equal(d->class_code, 0x060000);
	assert_int_equal(d->revision, 0x04);
	assert_int_equal(d->port_type, P2PB_PT_CONVENTIONAL);
	assert_false(d->link.present);
	assert_int_equal(d->iommu_group, 0);
	assert_int_equal(d->numa_node, -1);
	assert_false(d->has_parent_bdf);

	d = dev(t, "0000:00:01.0");
	assert_int_equal(d->header_type, 1);
	assert_false(d->multifunction);
	assert_int_equal(d->port_type, P2PB_PT_ROOT_PORT);
	assert_true(d->link.present);
	assert_int_equal(d->link.cap_speed, 4);
	assert_int_equal(d->link.cap_width, 16);
	assert_int_equal(d->link.speed, 3);
	assert_int_equal(d->link.width, 8);
	assert_true(d->acs.present);
	assert_int_equal(d->acs.pos, 0x100);
	assert_int_equal(d->acs.cap, 0x001f);
	assert_int_equal(d->acs.ctrl, 0x001d);
	assert_false(d->has_dsn);
	assert_int_equal(d->secondary_bus, 1);
	assert_int_equal(d->subordinate_bus, 3);
	assert_string_equal(d->driver, "pcieport");
	assert_int_equal(d->numa_node, 1);
	assert_int_equal(d->iommu_group, 1);

	d = dev(t, "0000:01:00.0");
	assert_int_equal(d->port_type, P2PB_PT_SWITCH_UPSTREAM);
	assert_true(d->has_dsn);
	assert_int_equal(d->dsn, 0xab979710b5df0e03ull);
	assert_false(d->acs.present);
	assert_true(d->has_parent_bdf);
	assert_int_equal(p2pb_bdf_cmp(d->parent_bdf, dev(t, "0000:00:01.0")->bdf), 0);
	assert_int_equal(d->iommu_group, P2PB_NONE);
	assert_string_equal(d->driver, "");

	d = dev(t, "0000:02:00.0");
	assert_int_equal(d->port_type, P2PB_PT_SWITCH_DOWNSTREAM);
	assert_true(d->acs.present);
	assert_int_equal(d->acs.pos, 0x148);
	assert_int_equal(d->acs.ctrl, 0x0011);

	d = dev(t, "0000:03:00.0");
	assert_int_equal(d->vendor, 0x144d);
	assert_int_equal(d->class_code, 0x010802);
	assert_int_equal(d->subsys_vendor, 0x144d);
	assert_int_equal(d->subsys_device, 0x1234);
	assert_int_equal(d->header_type, 0);
	assert_true(d->multifunction);
	assert_int_equal(d->port_type, P2PB_PT_ENDPOINT);
	assert_true(d->has_dsn);
	assert_int_equal(d->dsn, NVME_DSN);
	assert_true(d->p2pmem.present);
	assert_true(d->p2pmem.published);
	assert_int_equal(d->p2pmem.size, 67108864);
	assert_int_equal(d->p2pmem.available, 33554432);
	assert_string_equal(d->driver, "nvme");
	assert_int_equal(d->iommu_group, 17);
	assert_false(d->is_virtfn);
	assert_int_equal(d->depth, 3);

	d = dev(t, "0000:03:00.1");
	assert_true(d->multifunction);
	assert_false(d->p2pmem.present);

	d = dev(t, "0000:03:00.4");
	assert_true(d->is_virtfn);
	assert_true(d->has_physfn_bdf);
	assert_int_equal(d->physfn, (int)(dev(t, "0000:03:00.0") - t->devs));
	assert_int_equal(p2pb_upstream_bridge(t, (int)(d - t->devs)),
			 (int)(dev(t, "0000:02:00.0") - t->devs));

	d = dev(t, "0000:00:1e.0");
	assert_int_equal(d->port_type, P2PB_PT_PCIE_TO_PCI);
	d = dev(t, "0000:04:05.0");
	assert_int_equal(d->port_type, P2PB_PT_CONVENTIONAL);
	assert_int_equal(d->parent, (int)(dev(t, "0000:00:1e.0") - t->devs));

	assert_int_equal(t->n_hostbridges, 1);
	assert_int_equal(t->hostbridges[0].first_dev, 0);
	assert_int_equal(t->n_switches, 1);
	p2pb_topology_free(t);
}

static void
test_missing_root(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t = (struct p2pb_topology *)0x1;
	char path[PATH_MAX];

	assert_int_equal(p2pb_scan("/nonexistent/p2pb-root", &t), -ENOENT);
	assert_ptr_equal(t, (struct p2pb_topology *)0x1);
	/* A root with sys/ but no sys/bus/pci/devices. */
	tree_path(&b->t, path, sizeof(path), "sys/bus/pci/devices");
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(p2pb_scan(b->t.root, &t), -ENOENT);
	assert_ptr_equal(t, (struct p2pb_topology *)0x1);
}

static void
test_empty_root(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t = scan(b);

	assert_int_equal(t->n_devs, 0);
	assert_false(t->cpu.known);
	assert_int_equal(t->n_warnings, 0);
	p2pb_topology_free(t);
}

static void
test_garbage_entries_skipped(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	char path[PATH_MAX];

	add_devices(b);
	tree_write_file(tree_path(&b->t, path, sizeof(path), "sys/bus/pci/devices/garbage"), "x",
			1);
	tree_mkdirs(tree_path(&b->t, path, sizeof(path), "sys/bus/pci/devices/0:3:0.0"));
	tree_mkdirs(tree_path(&b->t, path, sizeof(path), "sys/bus/pci/devices/0000:00:02.0.bak"));
	tree_mkdirs(tree_path(&b->t, path, sizeof(path), "sys/bus/pci/devices/0000:00:20.0"));
	t = scan(b);
	assert_int_equal(t->n_devs, 9);
	expect_warning(t, NULL, "devices/garbage", "not a PCI function name", NULL);
	expect_warning(t, NULL, "devices/0:3:0.0", "skipped", NULL);
	expect_warning(t, NULL, "devices/0000:00:02.0.bak", "skipped", NULL);
	expect_warning(t, NULL, "devices/0000:00:20.0", "skipped", NULL);
	assert_int_equal(t->n_warnings, 4);
	p2pb_topology_free(t);
}

/* A valid name whose entry is a plain file: every read fails, libpci
 * reports errors, and the function is still kept. */
static void
test_entry_not_a_directory(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	char path[PATH_MAX];
	struct p2pb_dev *d;

	add_devices(b);
	tree_write_file(tree_path(&b->t, path, sizeof(path), "sys/bus/pci/devices/0000:00:09.0"),
			"x", 1);
	t = scan(b);
	assert_int_equal(t->n_devs, 10);
	d = dev(t, "0000:00:09.0");
	assert_true(d->warnings & P2PB_DW_CONFIG_MISSING);
	assert_true(d->warnings & P2PB_DW_SYSFS_ATTR);
	expect_warning(t, "0000:00:09.0", "libpci", "0000:00:09.0/vendor", NULL);
	assert_int_equal(d->vendor, 0);
	/* The healthy functions were scanned as before. */
	assert_int_equal(dev(t, "0000:03:00.0")->vendor, 0x144d);
	assert_int_equal(dev(t, "0000:03:00.0")->warnings, 0);
	p2pb_topology_free(t);
}

static void
test_config_missing_bridge(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	struct p2pb_dev *d;

	add_devices(b);
	tree_remove(&b->t, "0000:01:00.0", "config");
	tree_attr(&b->t, "0000:01:00.0", "secondary_bus_number", "2\n");
	tree_attr(&b->t, "0000:01:00.0", "subordinate_bus_number", "3\n");
	t = scan(b);
	d = dev(t, "0000:01:00.0");
	assert_int_equal(d->warnings, P2PB_DW_CONFIG_MISSING | P2PB_DW_ACS_UNKNOWN);
	expect_warning(t, "0000:01:00.0", "0000:01:00.0/config", "No such file",
		       "filled from sysfs attributes", NULL);
	/* From the attribute files. */
	assert_int_equal(d->vendor, 0x10b5);
	assert_int_equal(d->device, 0x9797);
	assert_int_equal(d->class_code, 0x060400);
	assert_int_equal(d->revision, 0xab);
	assert_int_equal(d->header_type, 1);
	assert_int_equal(d->secondary_bus, 2);
	assert_int_equal(d->subordinate_bus, 3);
	assert_int_equal(d->port_type, P2PB_PT_CONVENTIONAL);
	/* Its children hang off it without further complaint. */
	assert_int_equal(dev(t, "0000:02:00.0")->warnings, 0);
	assert_int_equal(dev(t, "0000:02:00.0")->depth, 2);
	assert_int_equal(t->n_warnings, 1);
	p2pb_topology_free(t);
}

static void
test_config_directory_or_dangling(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	char path[PATH_MAX];

	add_devices(b);
	tree_remove(&b->t, "0000:03:00.0", "config");
	tree_mkdirs(
		tree_path(&b->t, path, sizeof(path), "sys/bus/pci/devices/0000:03:00.0/config"));
	tree_remove(&b->t, "0000:03:00.1", "config");
	tree_link(&b->t, "0000:03:00.1", "config", "nowhere");
	t = scan(b);
	assert_true(dev(t, "0000:03:00.0")->warnings & P2PB_DW_CONFIG_MISSING);
	expect_warning(t, "0000:03:00.0", "0000:03:00.0/config", "not a regular file", NULL);
	assert_int_equal(dev(t, "0000:03:00.0")->vendor, 0x144d);
	assert_int_equal(dev(t, "0000:03:00.0")->class_code, 0x010802);
	assert_false(dev(t, "0000:03:00.0")->has_dsn);
	assert_true(dev(t, "0000:03:00.1")->warnings & P2PB_DW_CONFIG_MISSING);
	expect_warning(t, "0000:03:00.1", "0000:03:00.1/config", "No such file", NULL);
	p2pb_topology_free(t);
}

static void
test_config_256_bytes(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	struct p2pb_dev *d;

	b->dsp.len = 256;
	add_devices(b);
	t = scan(b);
	d = dev(t, "0000:02:00.0");
	assert_int_equal(d->warnings, P2PB_DW_CONFIG_SHORT);
	expect_warning(t, "0000:02:00.0", "0000:02:00.0/config",
		       "config space is 256 bytes, shorter than 4096: extended capabilities "
		       "(ACS) unavailable",
		       NULL);
	/* What lies in the first 256 bytes still counts. */
	assert_int_equal(d->port_type, P2PB_PT_SWITCH_DOWNSTREAM);
	assert_int_equal(d->link.cap_width, 4);
	assert_int_equal(d->secondary_bus, 3);
	assert_false(d->acs.present);
	assert_int_equal(t->n_warnings, 1);
	p2pb_topology_free(t);
}

/* A 4096-byte file whose ext space holds an ACS capability is cut to 256:
 * the kernel would not see the ACS, and neither may we, even if libpci
 * could read further. */
static void
test_config_short_hides_acs(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;

	b->rp.len = 1024;
	add_devices(b);
	t = scan(b);
	assert_true(dev(t, "0000:00:01.0")->warnings & P2PB_DW_CONFIG_SHORT);
	/* No kernel has a 1024-byte config space: the file was cut, and what
	 * the kernel knows about ACS is unknown here. */
	assert_true(dev(t, "0000:00:01.0")->warnings & P2PB_DW_ACS_UNKNOWN);
	expect_warning(t, "0000:00:01.0", "config space is 1024 bytes, shorter than 4096", NULL);
	assert_false(dev(t, "0000:00:01.0")->acs.present);
	p2pb_topology_free(t);
}

static void
test_config_64_and_40_bytes(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	struct p2pb_dev *d;

	b->nvme.len = 64;
	b->nvme1.len = 40;
	add_devices(b);
	t = scan(b);
	d = dev(t, "0000:03:00.0");
	assert_int_equal(d->warnings, P2PB_DW_CONFIG_SHORT | P2PB_DW_ACS_UNKNOWN);
	expect_warning(t, "0000:03:00.0", "config space is 64 bytes, shorter than 4096", NULL);
	assert_int_equal(d->vendor, 0x144d);
	assert_true(d->multifunction);
	assert_int_equal(d->port_type, P2PB_PT_CONVENTIONAL);
	d = dev(t, "0000:03:00.1");
	assert_int_equal(d->warnings, P2PB_DW_CONFIG_MISSING | P2PB_DW_ACS_UNKNOWN);
	expect_warning(t, "0000:03:00.1", "config space is 40 bytes, shorter than the 64-byte",
		       NULL);
	assert_int_equal(d->vendor, 0x144d);
	assert_int_equal(d->class_code, 0x010802);
	p2pb_topology_free(t);
}

static void
test_cap_loop(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	struct p2pb_dev *d;

	cfg_w8(&b->nvme, 0x51, 0x40);  /* PCIe cap's next points back to PM */
	cfg_w8(&b->nvme1, 0x51, 0x20); /* into the header */
	add_devices(b);
	t = scan(b);
	d = dev(t, "0000:03:00.0");
	assert_int_equal(d->warnings, P2PB_DW_CAP_LOOP);
	expect_warning(t, "0000:03:00.0", "0000:03:00.0/config",
		       "capability list loops back to 0x40", NULL);
	/* Found before the loop closed. */
	assert_int_equal(d->port_type, P2PB_PT_ENDPOINT);
	assert_true(d->has_dsn);
	d = dev(t, "0000:03:00.1");
	assert_int_equal(d->warnings, P2PB_DW_CAP_LOOP);
	expect_warning(t, "0000:03:00.1", "capability pointer 0x20 points into the header", NULL);
	assert_int_equal(d->port_type, P2PB_PT_ENDPOINT);
	p2pb_topology_free(t);
}

static void
test_ext_cap_loop(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	struct p2pb_dev *d;

	cfg_dsn(&b->nvme, 0x100, 0x140, NVME_DSN);
	cfg_acs(&b->nvme, 0x140, 0x100, 0x005f, 0x0004);
	cfg_dsn(&b->nvme1, 0x100, 0x040, 7); /* next below 0x100 */
	add_devices(b);
	t = scan(b);
	d = dev(t, "0000:03:00.0");
	assert_int_equal(d->warnings, P2PB_DW_CAP_LOOP);
	expect_warning(t, "0000:03:00.0", "extended capability list loops back to 0x100", NULL);
	assert_true(d->acs.present);
	assert_int_equal(d->acs.pos, 0x140);
	assert_int_equal(d->acs.ctrl, 0x0004);
	assert_true(d->has_dsn);
	d = dev(t, "0000:03:00.1");
	expect_warning(t, "0000:03:00.1", "extended capability pointer 0x040 points below 0x100",
		       NULL);
	assert_true(d->has_dsn);
	assert_int_equal(d->dsn, 7);
	assert_false(d->acs.present);
	p2pb_topology_free(t);
}

/* libpci treats vendor and class as mandatory and calls its error
 * callback; the scan must survive it and use the config registers. */
static void
test_libpci_error_survived(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	struct p2pb_dev *d;

	add_devices(b);
	tree_remove(&b->t, "0000:03:00.0", "vendor");
	tree_remove(&b->t, "0000:02:00.0", "class");
	t = scan(b);
	d = dev(t, "0000:03:00.0");
	assert_true(d->warnings & P2PB_DW_SYSFS_ATTR);
	expect_warning(t, "0000:03:00.0", "libpci", "0000:03:00.0/vendor", NULL);
	assert_int_equal(d->vendor, 0x144d);
	assert_int_equal(d->device, 0xa824);
	/* The rest of it was still read. */
	assert_int_equal(d->class_code, 0x010802);
	assert_true(d->has_dsn);
	assert_true(d->p2pmem.published);
	d = dev(t, "0000:02:00.0");
	expect_warning(t, "0000:02:00.0", "libpci", "0000:02:00.0/class", NULL);
	assert_int_equal(d->class_code, 0x060400);
	assert_int_equal(d->revision, 0xab);
	assert_true(d->acs.present);
	assert_int_equal(t->n_devs, 9);
	p2pb_topology_free(t);
}

static void
test_garbage_attributes(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;

	add_devices(b);
	tree_attr(&b->t, "0000:03:00.0", "numa_node", "zero\n");
	tree_attr(&b->t, "0000:03:00.1", "numa_node", "1x\n");
	tree_link(&b->t, "0000:03:00.0", "iommu_group", "../../../../kernel/iommu_groups/99");
	tree_link(&b->t, "0000:03:00.0", "driver", "../nowhere/nvme");
	tree_iommu_group(&b->t, "0000:03:00.1", 5);
	tree_link(&b->t, "0000:03:00.1", "iommu_group", "../../../../../../kernel/iommu_groups");
	t = scan(b);
	expect_warning(t, "0000:03:00.0", "0000:03:00.0/numa_node",
		       "\"zero\" is not a NUMA node number", NULL);
	assert_int_equal(dev(t, "0000:03:00.0")->numa_node, -1);
	expect_warning(t, "0000:03:00.1", "\"1x\" is not a NUMA node number", NULL);
	expect_warning(t, "0000:03:00.0", "0000:03:00.0/iommu_group", "does not resolve", NULL);
	assert_int_equal(dev(t, "0000:03:00.0")->iommu_group, P2PB_NONE);
	expect_warning(t, "0000:03:00.0", "0000:03:00.0/driver", "link to \"../nowhere/nvme\"",
		       "does not resolve", NULL);
	assert_string_equal(dev(t, "0000:03:00.0")->driver, "");
	expect_warning(t, "0000:03:00.1", "\"iommu_groups\", which is not an IOMMU group", NULL);
	assert_true(dev(t, "0000:03:00.0")->warnings & P2PB_DW_SYSFS_ATTR);
	p2pb_topology_free(t);
}

static void
test_garbage_p2pmem(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	char path[PATH_MAX];
	struct p2pb_dev *d;

	add_devices(b);
	tree_attr(&b->t, "0000:03:00.0", "p2pmem/size", "lots\n");
	tree_attr(&b->t, "0000:03:00.1", "p2pmem/published", "2\n");
	tree_attr(&b->t, "0000:03:00.1", "p2pmem/size", "4096\n");
	tree_attr(&b->t, "0000:03:00.1", "p2pmem/available", "0\n");
	tree_mkdirs(
		tree_path(&b->t, path, sizeof(path), "sys/bus/pci/devices/0000:02:00.0/p2pmem"));
	t = scan(b);
	d = dev(t, "0000:03:00.0");
	assert_int_equal(d->warnings, P2PB_DW_P2PMEM_GARBLED);
	expect_warning(t, "0000:03:00.0", "0000:03:00.0/p2pmem/size", "\"lots\" is not a number",
		       NULL);
	assert_true(d->p2pmem.present);
	assert_false(d->p2pmem.published);
	assert_int_equal(d->p2pmem.size, 0);
	expect_warning(t, "0000:03:00.1", "p2pmem/published", "neither 0 nor 1", NULL);
	assert_false(dev(t, "0000:03:00.1")->p2pmem.published);
	expect_warning(t, "0000:02:00.0", "0000:02:00.0/p2pmem/size", "No such file", NULL);
	assert_true(dev(t, "0000:02:00.0")->p2pmem.present);
	p2pb_topology_free(t);
}

static void
test_bus_numbers_inconsistent(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;

	cfg_bridge_buses(&b->dsp, 2, 5, 5);
	add_devices(b);
	t = scan(b);
	assert_true(dev(t, "0000:03:00.0")->warnings & P2PB_DW_BUS_MISMATCH);
	expect_warning(t, "0000:03:00.0", "outside the bus window 05..05", "0000:02:00.0", NULL);
	/* Still where sysfs put it. */
	assert_int_equal(dev(t, "0000:03:00.0")->parent, (int)(dev(t, "0000:02:00.0") - t->devs));
	p2pb_topology_free(t);
}

static void
test_bad_physfn(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;

	add_devices(b);
	tree_link(&b->t, "0000:03:00.4", "physfn", "../garbage");
	t = scan(b);
	expect_warning(t, "0000:03:00.4", "0000:03:00.4/physfn", "not a PCI function", NULL);
	assert_true(dev(t, "0000:03:00.4")->is_virtfn);
	assert_false(dev(t, "0000:03:00.4")->has_physfn_bdf);
	p2pb_topology_free(t);
}

/* Links the kernel would not write (absolute) are resolved in full, and
 * must not lead outside the root. */
static void
test_parent_from_unusual_links(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	char link[PATH_MAX], target[PATH_MAX];

	add_devices(b);
	tree_path(&b->t, link, sizeof(link), "sys/bus/pci/devices/0000:03:00.1");
	tree_path(&b->t, target, sizeof(target), "sys/devices/" DSP "/0000:03:00.1");
	assert_int_equal(remove(link), 0);
	assert_int_equal(symlink(target, link), 0);
	tree_path(&b->t, link, sizeof(link), "sys/bus/pci/devices/0000:04:05.0");
	assert_int_equal(remove(link), 0);
	assert_int_equal(symlink("/sys/devices", link), 0);
	t = scan(b);
	assert_true(dev(t, "0000:03:00.1")->has_parent_bdf);
	assert_int_equal(dev(t, "0000:03:00.1")->parent, (int)(dev(t, "0000:02:00.0") - t->devs));
	expect_warning(t, "0000:04:05.0", "outside the scanned root", NULL);
	assert_false(dev(t, "0000:04:05.0")->has_parent_bdf);
	p2pb_topology_free(t);
}

static void
test_bad_cpuinfo(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;

	add_devices(b);
	write_cpuinfo(&b->t, "processor\t: 0\nCPU implementer\t: 0x41\n");
	t = scan(b);
	assert_false(t->cpu.known);
	expect_warning(t, NULL, "proc/cpuinfo", "no vendor_id", NULL);
	p2pb_topology_free(t);
}

/* Many functions, a share of them damaged so that libpci errors out
 * mid-device again and again: all kept, no descriptor or memory leaked
 * (the sanitizer build checks the latter). */
static void
test_many_functions_with_damage(void **state)
{
	struct base *b = *state;
	struct p2pb_topology *t;
	struct cfg ep;
	int n = 0;

	add_devices(b);
	cfg_init(&ep, 0x1b36, 0x0010, 0x010802, 2, 0, 4096);
	cfg_pcie(&ep, 0x40, 0, 0, 4, 4, 4, 4);
	for (int bus = 0x10; bus < 0x30; bus++) {
		for (int f = 0; f < 8; f++) {
			char bdf[32];

			snprintf(bdf, sizeof(bdf), "0001:%02x:00.%d", bus, f);
			cfg_w8(&ep, 0x0e, 0x80);
			tree_add(&b->t, "pci0001:10", bdf, &ep);
			if (f == 3)
				tree_remove(&b->t, bdf, "vendor");
			if (f == 5)
				tree_remove(&b->t, bdf, "config");
			n++;
		}
	}
	t = scan(b);
	assert_int_equal(t->n_devs, 9 + n);
	/* Each bus is a root bus of its own here: 32 plus 0000:00. */
	assert_int_equal(t->n_hostbridges, 33);
	for (size_t i = 0; i < t->n_devs; i++) {
		const struct p2pb_dev *d = &t->devs[i];

		if (d->bdf.domain != 1)
			continue;
		assert_int_equal(d->vendor, 0x1b36);
		assert_int_equal(d->warnings != 0, d->bdf.fn == 3 || d->bdf.fn == 5);
	}
	p2pb_topology_free(t);
}

static void
test_cpuinfo_parse(void **state)
{
	struct p2pb_cpu c = { 0 };

	assert_int_equal(p2pb_parse_cpuinfo(amd_cpuinfo, &c), 0);
	assert_true(c.known);
	assert_string_equal(c.vendor, "AuthenticAMD");
	assert_int_equal(c.family, 25);

	assert_int_equal(p2pb_parse_cpuinfo("processor : 0\nvendor_id : GenuineIntel\n"
					    "cpu family : 6",
					    &c),
			 0);
	assert_string_equal(c.vendor, "GenuineIntel");
	assert_int_equal(c.family, 6);

	/* Family 0x17 is printed in decimal by the kernel. */
	assert_int_equal(p2pb_parse_cpuinfo("vendor_id\t: HygonGenuine\ncpu family\t: 24\n", &c),
			 0);
	assert_string_equal(c.vendor, "HygonGenuine");
	assert_int_equal(c.family, 24);
}

static void
test_cpuinfo_parse_rejects(void **state)
{
	static const struct {
		const char *text;
		int err;
	} bad[] = {
		{ "", -ENOENT },
		{ "processor\t: 0\nCPU implementer\t: 0x41\n", -ENOENT },
		/* The first processor's block lacks the family. */
		{ "vendor_id\t: AuthenticAMD\n\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n",
		  -ENOENT },
		{ "vendor_id\t: AuthenticAMD\ncpu family\t: 0x19\n", -EINVAL },
		{ "vendor_id\t: AuthenticAMD\ncpu family\t: 25 \n", -EINVAL },
		{ "vendor_id\t: AuthenticAMD\ncpu family\t: \n", -EINVAL },
		{ "vendor_id\t: AVendorNameThatIsFarTooLong\ncpu family\t: 6\n", -EINVAL },
		{ "vendor_id_x\t: GenuineIntel\ncpu family\t: 6\n", -ENOENT },
	};
	struct p2pb_cpu c = { .family = 77 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = p2pb_parse_cpuinfo(bad[i].text, &c);

		if (r != bad[i].err)
			fail_msg("case %zu: %d, expected %d", i, r, bad[i].err);
	}
	assert_int_equal(p2pb_parse_cpuinfo(NULL, &c), -EINVAL);
	assert_int_equal(c.family, 77);
	assert_false(c.known);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_entries_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_not_a_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_missing_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_directory_or_dangling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_256_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_short_hides_acs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_64_and_40_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ext_cap_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_libpci_error_survived, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_p2pmem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_numbers_inconsistent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_physfn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parent_from_unusual_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_cpuinfo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_functions_with_damage, setup, teardown),
		cmocka_unit_test(test_cpuinfo_parse),
		cmocka_unit_test(test_cpuinfo_parse_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
