/* matrix_bench.c - times the all-pairs P2P verdict matrix on a synthetic topology, side by
 * side with a baseline that walks each pair the way the kernel's nested loops do. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "topology.h"
#include "verdict.h"

/* Shape of the synthetic machine: per host bridge (one per PCI domain) ROOT_PORTS root ports,
 * each with a switch of DSP1 downstream ports, each holding a nested switch of DSP2 ports,
 * each with one FUNCS-function endpoint device: 4 * 8 * 4 * 4 = 512 endpoints per domain. */
enum {
	ROOT_PORTS = 4,
	DSP1 = 8,
	DSP2 = 4,
	FUNCS = 4,
};

struct gen {
	struct p2pb_topology *t;
	uint32_t domain;
	unsigned next_bus;
	int left; /* endpoints still to create */
};

static int
add(struct gen *g, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t type, int parent_idx)
{
	struct p2pb_dev d = {
		.bdf = { .domain = g->domain, .bus = bus, .dev = dev, .fn = fn },
		.vendor = 0x1b36,
		.device = type == P2PB_PT_ENDPOINT ? 0x0010 : 0x000c,
		.port_type = type,
		.header_type = type == P2PB_PT_ENDPOINT || type == P2PB_PT_CONVENTIONAL ? 0 : 1,
		.iommu_group = P2PB_NONE,
		.numa_node = -1,
	};

	if (parent_idx != P2PB_NONE) {
		d.has_parent_bdf = true;
		d.parent_bdf = g->t->devs[parent_idx].bdf;
	}
	return p2pb_topology_add_dev(g->t, &d);
}

/* A bridge's bus window: its secondary bus now, its subordinate once the subtree is built. */
static int
bridge_open(struct gen *g, int idx)
{
	if (g->next_bus > 255)
		return -ERANGE;
	g->t->devs[idx].secondary_bus = (uint8_t)g->next_bus;
	return (int)g->next_bus++;
}

static void
bridge_close(struct gen *g, int idx)
{
	g->t->devs[idx].subordinate_bus = (uint8_t)(g->next_bus - 1);
}

static void
set_acs(struct p2pb_topology *t, int idx, uint16_t ctrl)
{
	t->devs[idx].acs =
		(struct p2pb_acs){ .present = true, .pos = 0x100, .cap = 0x5f, .ctrl = ctrl };
}

static int
gen_leaf_switch(struct gen *g, int dsp1)
{
	int bus = bridge_open(g, dsp1);
	int usp = bus < 0 ? bus : add(g, (uint8_t)bus, 0, 0, P2PB_PT_SWITCH_UPSTREAM, dsp1);
	int dbus = usp < 0 ? usp : bridge_open(g, usp);

	if (dbus < 0)
		return dbus;
	for (int k = 0; k < DSP2 && g->left > 0; k++) {
		int dsp = add(g, (uint8_t)dbus, (uint8_t)k, 0, P2PB_PT_SWITCH_DOWNSTREAM, usp);
		int ebus = dsp < 0 ? dsp : bridge_open(g, dsp);
		if (ebus < 0)
			return ebus;
		/* Some ports redirect P2P upstream so the matrix has every kind of answer. */
		if (k == DSP2 - 1)
			set_acs(g->t, dsp, P2PB_ACS_SV | P2PB_ACS_RR | P2PB_ACS_CR | P2PB_ACS_UF);
		for (int f = 0; f < FUNCS && g->left > 0; f++, g->left--) {
			int r = add(g, (uint8_t)ebus, 0, (uint8_t)f, P2PB_PT_ENDPOINT, dsp);
			if (r < 0)
				return r;
			g->t->devs[r].multifunction = true;
		}
		bridge_close(g, dsp);
	}
	bridge_close(g, usp);
	bridge_close(g, dsp1);
	return 0;
}

static int
gen_root_port(struct gen *g, int rp)
{
	int bus = bridge_open(g, rp);
	int usp = bus < 0 ? bus : add(g, (uint8_t)bus, 0, 0, P2PB_PT_SWITCH_UPSTREAM, rp);
	int dbus = usp < 0 ? usp : bridge_open(g, usp);

	if (dbus < 0)
		return dbus;
	for (int j = 0; j < DSP1 && g->left > 0; j++) {
		int dsp = add(g, (uint8_t)dbus, (uint8_t)j, 0, P2PB_PT_SWITCH_DOWNSTREAM, usp);
		if (dsp < 0)
			return dsp;
		int r = gen_leaf_switch(g, dsp);
		if (r < 0)
			return r;
	}
	bridge_close(g, usp);
	bridge_close(g, rp);
	return 0;
}

/* Skylake-style root complex: no 00.0 device, so the kernel checks the first root
 * port against its whitelist, and every non-bridge function is a benchmarked endpoint. */
static int
gen_domain(struct gen *g)
{
	g->next_bus = 1;
	for (int i = 0; i < ROOT_PORTS && g->left > 0; i++) {
		int rp = add(g, 0, (uint8_t)(i + 1), 0, P2PB_PT_ROOT_PORT, P2PB_NONE);
		if (rp < 0)
			return rp;
		g->t->devs[rp].vendor = 0x8086;
		/* Even domains are whitelisted for any peer, odd ones only within
		 * themselves, so pairs across them are refused. */
		g->t->devs[rp].device = g->domain % 2 ? 0x3c00 : 0x2030;
		int r = gen_root_port(g, rp);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
build_topology(int n_endpoints, struct p2pb_topology **ret)
{
	struct gen g = { .t = p2pb_topology_new(), .left = n_endpoints };
	int r = g.t ? 0 : -ENOMEM;

	for (; r == 0 && g.left > 0; g.domain++)
		r = gen_domain(&g);
	if (r == 0)
		r = p2pb_topology_finish(g.t);
	if (r < 0) {
		p2pb_topology_free(g.t);
		return r;
	}
	snprintf(g.t->cpu.vendor, sizeof(g.t->cpu.vendor), "GenuineIntel");
	g.t->cpu.family = 6;
	g.t->cpu.known = true;
	*ret = g.t;
	return 0;
}

/* ---- BASELINE: the straightforward per-pair walk, for comparison only ---- */

/* No precomputation: like the kernel, for each device on the provider's way up
 * it walks the client's whole way up, then re-walks the client side for ACS,
 * and looks the host bridges up in the whitelist on every call. */
static bool
baseline_acs_redir(const struct p2pb_dev *d)
{
	return d->acs.present && (d->acs.ctrl & P2PB_ACS_REDIR_MASK);
}

static void
baseline_pair(const struct p2pb_topology *t, int provider, int client, uint8_t *ret_map,
	      int32_t *ret_dist)
{
	int a = provider, bb, dist_a = 0, dist_b = 0, acs = 0;

	while (a != P2PB_NONE) {
		dist_b = 0;
		acs += baseline_acs_redir(&t->devs[a]);
		for (bb = client; bb != P2PB_NONE; bb = p2pb_upstream_bridge(t, bb)) {
			if (bb == a)
				goto common;
			dist_b++;
		}
		a = p2pb_upstream_bridge(t, a);
		dist_a++;
	}
	goto through_host_bridge;

common:
	for (bb = client; bb != a; bb = p2pb_upstream_bridge(t, bb))
		acs += baseline_acs_redir(&t->devs[bb]);
	if (acs == 0) {
		*ret_map = P2PB_MAP_BUS_ADDR;
		*ret_dist = dist_a + dist_b;
		return;
	}

through_host_bridge:;
	int ha = t->devs[provider].hostbridge, hc = t->devs[client].hostbridge;
	bool cpu =
		t->cpu.known && strcmp(t->cpu.vendor, "AuthenticAMD") == 0 && t->cpu.family >= 0x17;
	bool wl = ha == hc ? p2pb_host_bridge_whitelisted(t, ha, true)
			   : p2pb_host_bridge_whitelisted(t, ha, false) &&
				     p2pb_host_bridge_whitelisted(t, hc, false);
	*ret_map = cpu || wl ? P2PB_MAP_THRU_HOST_BRIDGE : P2PB_MAP_NOT_SUPPORTED;
	*ret_dist = *ret_map == P2PB_MAP_NOT_SUPPORTED ? -1 : dist_a + dist_b;
}

static void
baseline_matrix(const struct p2pb_topology *t, const int *devs, size_t n, uint8_t *map,
		int32_t *dist)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			baseline_pair(t, devs[i], devs[j], &map[i * n + j], &dist[i * n + j]);
}

/* ---- timing ------------------------------------------------------------- */

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct times {
	double *v;
	int n;
};

static double
times_min(struct times *s)
{
	qsort(s->v, (size_t)s->n, sizeof(double), cmp_double);
	return s->v[0];
}

static double
times_median(struct times *s)
{
	qsort(s->v, (size_t)s->n, sizeof(double), cmp_double);
	return s->v[s->n / 2];
}

struct run {
	const struct p2pb_topology *t;
	const int *devs;
	size_t n;
	uint8_t *map, *bmap;
	int32_t *dist, *bdist;
};

/* One timed round of the real path (context + matrix) and of the baseline. */
static int
run_once(struct run *r, double *ctx_ms, double *matrix_ms, double *base_ms)
{
	double t0 = now_ms();
	struct p2pb_verdict_ctx *ctx = p2pb_verdict_ctx_new(r->t);
	double t1 = now_ms();

	if (!ctx)
		return -ENOMEM;
	p2pb_matrix(ctx, r->devs, r->n, r->map, r->dist);
	double t2 = now_ms();
	p2pb_verdict_ctx_free(ctx);

	double t3 = now_ms();
	baseline_matrix(r->t, r->devs, r->n, r->bmap, r->bdist);
	double t4 = now_ms();

	*ctx_ms = t1 - t0;
	*matrix_ms = t2 - t1;
	*base_ms = t4 - t3;
	return 0;
}

static size_t
count_disagreements(const struct run *r, size_t counts[4])
{
	size_t bad = 0, nn = r->n * r->n;

	for (size_t k = 0; k < nn; k++) {
		if (r->map[k] < 4)
			counts[r->map[k]]++;
		bad += r->map[k] != r->bmap[k] || r->dist[k] != r->bdist[k];
	}
	return bad;
}

static void
usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [-n ENDPOINTS] [-r RUNS]   or   %s [ENDPOINTS [RUNS]]\n"
		"Times p2pb_verdict_ctx_new() + p2pb_matrix() over ENDPOINTS (default 1024)\n"
		"synthetic endpoints, and a kernel-style per-pair baseline, RUNS times (default "
		"5).\n",
		argv0, argv0);
}

static int
parse_args(int argc, char **argv, int *ret_n, int *ret_runs)
{
	int opt;

	while ((opt = getopt(argc, argv, "n:r:h")) != -1) {
		switch (opt) {
		case 'n':
			*ret_n = atoi(optarg);
			break;
		case 'r':
			*ret_runs = atoi(optarg);
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	/* Positional forms too, as bench/run.sh calls it: [ENDPOINTS [RUNS]]. */
	if (optind < argc)
		*ret_n = atoi(argv[optind++]);
	if (optind < argc)
		*ret_runs = atoi(argv[optind++]);
	if (optind != argc || *ret_n < 1 || *ret_n > 65536 || *ret_runs < 1 || *ret_runs > 1000)
		return -EINVAL;
	return 0;
}

static void
report(const struct run *r, int runs, struct times *ctx, struct times *mat, struct times *base)
{
	size_t pairs = r->n * r->n, counts[4] = { 0 };
	size_t bad = count_disagreements(r, counts);
	double c = times_min(ctx), m = times_min(mat), b = times_min(base);

	printf("matrix_bench: %zu endpoints (%zu functions, %zu host bridges), %zu pairs, "
	       "%d runs\n",
	       r->n, r->t->n_devs, r->t->n_hostbridges, pairs, runs);
	printf("  %-34s %10s %10s %10s\n", "", "best ms", "median ms", "ns/pair");
	printf("  %-34s %10.3f %10.3f\n", "p2pb_verdict_ctx_new", c, times_median(ctx));
	printf("  %-34s %10.3f %10.3f %10.1f\n", "p2pb_matrix", m, times_median(mat),
	       m * 1e6 / (double)pairs);
	printf("  %-34s %10.3f %10s %10.1f\n", "ctx_new + matrix", c + m, "",
	       (c + m) * 1e6 / (double)pairs);
	printf("  %-34s %10.3f %10.3f %10.1f\n", "baseline: kernel-style nested loops", b,
	       times_median(base), b * 1e6 / (double)pairs);
	printf("  speedup over baseline: %.1fx\n", b / (c + m));
	printf("  verdicts: bus-addr %zu, thru-host-bridge %zu, not-supported %zu; "
	       "baseline disagrees on %zu pairs\n",
	       counts[P2PB_MAP_BUS_ADDR], counts[P2PB_MAP_THRU_HOST_BRIDGE],
	       counts[P2PB_MAP_NOT_SUPPORTED], bad);
}

int
main(int argc, char **argv)
{
	int n_endpoints = 1024, runs = 5, rc = 1, *devs = NULL;
	struct p2pb_topology *t = NULL;
	struct run r = { 0 };
	double *samples = NULL;

	if (parse_args(argc, argv, &n_endpoints, &runs) < 0) {
		usage(stderr, argv[0]);
		return 2;
	}
	if (build_topology(n_endpoints, &t) < 0) {
		fprintf(stderr, "matrix_bench: cannot build a %d-endpoint topology\n", n_endpoints);
		return 1;
	}
	int n = p2pb_matrix_devices(t, &devs);
	size_t nn = n > 0 ? (size_t)n * (size_t)n : 1;
	r = (struct run){ .t = t, .devs = devs, .n = n > 0 ? (size_t)n : 0 };
	r.map = malloc(nn);
	r.bmap = malloc(nn);
	r.dist = malloc(nn * sizeof(int32_t));
	r.bdist = malloc(nn * sizeof(int32_t));
	samples = calloc(3 * (size_t)runs, sizeof(double));
	if (n < 0 || !r.map || !r.bmap || !r.dist || !r.bdist || !samples) {
		fprintf(stderr, "matrix_bench: out of memory\n");
		goto out;
	}

	struct times ctx = { samples, runs }, mat = { samples + runs, runs },
		     base = { samples + 2 * runs, runs };
	for (int i = 0; i < runs; i++)
		if (run_once(&r, &ctx.v[i], &mat.v[i], &base.v[i]) < 0)
			goto out;
	report(&r, runs, &ctx, &mat, &base);
	rc = count_disagreements(&r, (size_t[4]){ 0 }) ? 1 : 0;
out:
	free(samples);
	free(r.map);
	free(r.bmap);
	free(r.dist);
	free(r.bdist);
	free(devs);
	p2pb_topology_free(t);
	return rc;
}
