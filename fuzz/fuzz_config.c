/* fuzz_config.c - libFuzzer target: arbitrary bytes as one function's sysfs config file in a
 * tiny tree on tmpfs, scanned with p2pb_scan() and judged with the verdict engine; the scan
 * must keep the device, say what was wrong, and give a topology the engine can reason over. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "scan.h"
#include "sysfs_tree.h"
#include "topology.h"
#include "verdict.h"

/* Input layout: one byte choosing the tree (modulo the number of trees),
 * then the config file of the function under test. */

#define RP_ACS_CTRL 0x001d /* SV RR CR UF, as the kernel sets them with an IOMMU */

/* The fixed functions around the one under test. */
static void
cfg_root_port(struct cfg *c)
{
	cfg_init(c, 0x8086, 0x2030, 0x060400, 0x04, 0x01, 4096);
	cfg_bridge_buses(c, 0x00, 0x01, 0x01);
	cfg_pcie(c, 0x40, 0, 0x4, 3, 16, 3, 16);
	cfg_acs(c, 0x100, 0, 0x005f, RP_ACS_CTRL);
}

static void
cfg_endpoint(struct cfg *c, uint8_t header_type, uint64_t dsn)
{
	cfg_init(c, 0x1b36, 0x0010, 0x010802, 0x02, header_type, 4096);
	cfg_pcie(c, 0x40, 0, 0x0, 3, 4, 3, 4);
	cfg_dsn(c, 0x100, 0, dsn);
}

static void
make_provider(const struct tree *t, const char *bdf)
{
	tree_attr(t, bdf, "p2pmem/size", "16777216\n");
	tree_attr(t, bdf, "p2pmem/available", "16646144\n");
	tree_attr(t, bdf, "p2pmem/published", "1\n");
}

/* The function under test starts as a plain endpoint; its sysfs attributes
 * stay as they are while the config file changes under them, as when the
 * kernel's cached values and the hardware disagree. */
static void
add_target(const struct tree *t, const char *dir, const char *bdf)
{
	struct cfg c;

	cfg_endpoint(&c, 0x00, 0x0102030405060708ull);
	tree_add(t, dir, bdf, &c);
	make_provider(t, bdf);
}

/* The function under test alone on a root bus. */
static void
build_alone(const struct tree *t)
{
	add_target(t, "pci0000:00", "0000:00:00.0");
}

/* Below a fixed root port (with ACS redirect bits on), beside nothing. */
static void
build_endpoint(const struct tree *t)
{
	struct cfg c;

	cfg_root_port(&c);
	tree_add(t, "pci0000:00", "0000:00:01.0", &c);
	add_target(t, "pci0000:00/0000:00:01.0", "0000:01:00.0");
}

/* As the bridge above two fixed functions of one device, so that its bus
 * numbers and ACS decide their verdicts. */
static void
build_bridge(const struct tree *t)
{
	struct cfg c;

	add_target(t, "pci0000:00", "0000:00:01.0");
	cfg_endpoint(&c, 0x80, 0x1111);
	tree_add(t, "pci0000:00/0000:00:01.0", "0000:01:00.0", &c);
	make_provider(t, "0000:01:00.0");
	cfg_endpoint(&c, 0x80, 0x2222);
	tree_add(t, "pci0000:00/0000:00:01.0", "0000:01:00.1", &c);
}

static const struct layout {
	const char *name;
	void (*build)(const struct tree *t);
	const char *target; /* the function whose config is the input */
	size_t n_devs;
	const char *fixed_rp; /* a fixed root port whose ACS must survive, or NULL */
} layouts[] = {
	{ "alone", build_alone, "0000:00:00.0", 1, NULL },
	{ "endpoint", build_endpoint, "0000:01:00.0", 2, "0000:00:01.0" },
	{ "bridge", build_bridge, "0000:00:01.0", 3, NULL },
};
#define N_LAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

static struct {
	struct tree trees[N_LAYOUTS];
	char config[N_LAYOUTS][PATH_MAX];
} h;

static void
remove_trees(void)
{
	for (size_t i = 0; i < N_LAYOUTS; i++)
		tree_cleanup(&h.trees[i]);
}

/* tree_init() of the unit tests, on tmpfs: every input rewrites a file. */
static void
tree_init_shm(struct tree *t)
{
	char p[PATH_MAX + 32];
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	snprintf(t->root, sizeof(t->root), "%s/p2pb-fuzz-config-XXXXXX", base);
	if (!mkdtemp(t->root))
		tree_die("mkdtemp", t->root);
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices", t->root);
	tree_mkdirs(p);
	snprintf(p, sizeof(p), "%s/sys/devices", t->root);
	tree_mkdirs(p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (size_t i = 0; i < N_LAYOUTS; i++) {
		tree_init_shm(&h.trees[i]);
		layouts[i].build(&h.trees[i]);
		tree_path(&h.trees[i], h.config[i], sizeof(h.config[i]),
			  "sys/bus/pci/devices/%s/config", layouts[i].target);
	}
	atexit(remove_trees);
	return 0;
}

/* --- what must hold of the scanned topology -------------------------------------- */

static int
find(const struct p2pb_topology *t, const char *bdf)
{
	struct p2pb_bdf b;

	FUZZ_CHECK(p2pb_bdf_parse(bdf, &b) == 0, "bad address %s", bdf);
	int d = p2pb_topology_find(t, b);
	FUZZ_CHECK(d >= 0, "%s lost by the scan", bdf);
	return d;
}

static uint16_t
le16(const uint8_t *cfg, size_t pos)
{
	return (uint16_t)(cfg[pos] | cfg[pos + 1] << 8);
}

/* The function under test: what its config bytes allow the scan to claim. */
static void
check_target(const struct p2pb_dev *d, const uint8_t *cfg, size_t len)
{
	if (len < 64) {
		FUZZ_CHECK(d->warnings & P2PB_DW_CONFIG_MISSING,
			   "%zu config bytes without a config warning", len);
		return;
	}
	FUZZ_CHECK(d->header_type == (cfg[0x0e] & 0x7f) && d->multifunction == !!(cfg[0x0e] & 0x80),
		   "header type %#x from config byte %#x", d->header_type, cfg[0x0e]);
	if (len < 256)
		FUZZ_CHECK(d->warnings & P2PB_DW_CONFIG_SHORT, "%zu config bytes without a warning",
			   len);
	if (len < 4096)
		FUZZ_CHECK(!d->acs.present && !d->has_dsn,
			   "extended capabilities found in %zu config bytes", len);
	if (d->acs.present) {
		size_t pos = d->acs.pos;
		FUZZ_CHECK(pos >= 0x100 && pos + 8 <= 4096 && (pos & 3) == 0,
			   "ACS capability at %#zx", pos);
		FUZZ_CHECK(d->acs.cap == le16(cfg, pos + 4) && d->acs.ctrl == le16(cfg, pos + 6),
			   "ACS registers %#x/%#x differ from config at %#zx", d->acs.cap,
			   d->acs.ctrl, pos);
	}
}

static void
check_model(const struct p2pb_topology *t)
{
	for (size_t i = 0; i < t->n_devs; i++) {
		const struct p2pb_dev *d = &t->devs[i];
		FUZZ_CHECK(d->link.present == (d->port_type != P2PB_PT_CONVENTIONAL) &&
				   (d->port_type <= 0xf || d->port_type == P2PB_PT_CONVENTIONAL),
			   "device %zu: port type %#x, link %d", i, d->port_type, d->link.present);
		FUZZ_CHECK(d->parent == P2PB_NONE ||
				   (d->parent >= 0 && (size_t)d->parent < t->n_devs),
			   "device %zu: parent %d", i, d->parent);
		FUZZ_CHECK(d->hostbridge == P2PB_NONE ||
				   (d->hostbridge >= 0 && (size_t)d->hostbridge < t->n_hostbridges),
			   "device %zu: host bridge %d", i, d->hostbridge);
		FUZZ_CHECK(d->sw == P2PB_NONE || (d->sw >= 0 && (size_t)d->sw < t->n_switches),
			   "device %zu: switch %d", i, d->sw);
		size_t hops = 0;
		for (int p = d->parent; p != P2PB_NONE; p = t->devs[p].parent)
			FUZZ_CHECK(++hops <= t->n_devs, "device %zu: parent chain loops", i);
		FUZZ_CHECK((size_t)d->depth == hops, "device %zu: depth %d, %zu parents", i,
			   d->depth, hops);
		if (!d->warnings)
			continue;
		bool said = false;
		for (size_t k = 0; k < t->n_warnings && !said; k++)
			said = t->warnings[k].dev == (int)i;
		FUZZ_CHECK(said, "device %zu has warning bits %#x and no message", i, d->warnings);
	}
	for (size_t k = 0; k < t->n_warnings; k++)
		FUZZ_CHECK(t->warnings[k].message && t->warnings[k].message[0] &&
				   (t->warnings[k].dev == P2PB_NONE ||
				    (t->warnings[k].dev >= 0 &&
				     (size_t)t->warnings[k].dev < t->n_devs)),
			   "warning %zu is empty or names device %d", k, t->warnings[k].dev);
}

/* Every pair, both ways: the matrix, single verdicts and explanations agree. */
static void
check_verdicts(const struct p2pb_topology *t)
{
	struct p2pb_verdict_ctx *vc = p2pb_verdict_ctx_new(t);
	size_t n = t->n_devs;
	int devs[8];
	uint8_t map[64];
	int32_t dist[64];

	FUZZ_CHECK(vc, "no verdict context");
	FUZZ_CHECK(n <= 8, "%zu devices", n);
	for (size_t i = 0; i < n; i++)
		devs[i] = (int)i;
	p2pb_matrix(vc, devs, n, map, dist);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			struct p2pb_verdict v;
			char why[1024];
			p2pb_verdict(vc, (int)i, (int)j, &v);
			FUZZ_CHECK(v.map == map[i * n + j] && v.distance == dist[i * n + j],
				   "pair %zu,%zu: verdict %d/%d, matrix %d/%d", i, j, v.map,
				   v.distance, map[i * n + j], dist[i * n + j]);
			FUZZ_CHECK(v.map >= P2PB_MAP_NOT_SUPPORTED &&
					   v.map <= P2PB_MAP_THRU_HOST_BRIDGE &&
					   (v.map == P2PB_MAP_NOT_SUPPORTED) == (v.distance == -1),
				   "pair %zu,%zu: map %d distance %d", i, j, v.map, v.distance);
			int len = p2pb_verdict_explain(t, &v, (int)i, (int)j, why, sizeof(why));
			FUZZ_CHECK(len > 0 && (size_t)len < sizeof(why) &&
					   strlen(why) == (size_t)len,
				   "pair %zu,%zu: explanation of %d bytes", i, j, len);
		}
		struct p2pb_provider_choice ch[8];
		int client = (int)i;
		int np = p2pb_providers_rank(vc, &client, 1, ch, 8);
		FUZZ_CHECK(np >= 0 && (size_t)np <= n, "%d providers for client %zu", np, i);
	}
	p2pb_verdict_ctx_free(vc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int fd_before = fuzz_lowest_free_fd();
	size_t which = data[0] % N_LAYOUTS;
	const struct layout *l = &layouts[which];
	const uint8_t *cfg = data + 1;
	size_t len = size - 1;
	/* Config reads stop at 4096 bytes, as the kernel's config file does. */
	uint8_t full[4096] = { 0 };
	memcpy(full, cfg, len < sizeof(full) ? len : sizeof(full));

	tree_write_file(h.config[which], cfg, len);
	struct p2pb_topology *t = NULL;
	int r = p2pb_scan(h.trees[which].root, &t);
	FUZZ_CHECK(r == 0 && t, "scan of the %s tree failed: %s", l->name, strerror(-r));
	FUZZ_CHECK(t->n_devs == l->n_devs, "%s tree: %zu devices, expected %zu", l->name, t->n_devs,
		   l->n_devs);
	check_target(&t->devs[find(t, l->target)], full, len);
	if (l->fixed_rp) {
		const struct p2pb_dev *rp = &t->devs[find(t, l->fixed_rp)];
		FUZZ_CHECK(rp->acs.present && rp->acs.ctrl == RP_ACS_CTRL && !rp->warnings,
			   "the fixed root port changed: ACS %d ctrl %#x warnings %#x",
			   rp->acs.present, rp->acs.ctrl, rp->warnings);
	}
	check_model(t);
	check_verdicts(t);
	p2pb_topology_free(t);
	fuzz_check_no_fd_leak(fd_before, "after a scan");
	return 0;
}
