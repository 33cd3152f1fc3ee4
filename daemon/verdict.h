/* verdict.h - P2P DMA verdicts exactly as Linux 6.12's drivers/pci/p2pdma.c
 * decides them (calc_map_type_and_dist() and helpers), with explanations;
 * provider choice as pci_p2pmem_find_many(); the all-pairs matrix. Pure. */
#pragma once

#include "topology.h"

enum p2pb_map_type {
	P2PB_MAP_NOT_SUPPORTED = 1, /* values as the kernel's enum */
	P2PB_MAP_BUS_ADDR = 2,
	P2PB_MAP_THRU_HOST_BRIDGE = 3,
};

#define P2PB_MAX_PATH_ACS 64

struct p2pb_verdict {
	enum p2pb_map_type map;
	int distance;	  /* kernel distance; -1 when NOT_SUPPORTED */
	int raw_distance; /* the distance the kernel computed before refusing */
	int common;	  /* common upstream bridge index, P2PB_NONE if none */
	/* Devices on the path whose ACS control has RR, CR or EC set, in the
	 * order the kernel lists them (provider side up, then client side up). */
	int acs_devs[P2PB_MAX_PATH_ACS];
	size_t n_acs;
	bool cpu_allows;	      /* AMD family >= 0x17: cpu_supports_p2pdma() */
	bool host_bridge_whitelisted; /* host_bridge_whitelist(provider, client) */
	int provider_hb, client_hb;   /* host bridge indices */
};

/* Per-topology precomputation (ancestor chains, ACS prefix counts, host
 * bridge whitelist bits) so verdicts cost O(depth). Owned by the caller. */
struct p2pb_verdict_ctx;
struct p2pb_verdict_ctx *p2pb_verdict_ctx_new(const struct p2pb_topology *t);
struct p2pb_verdict_ctx *p2pb_verdict_ctx_free(struct p2pb_verdict_ctx *c);

/* Verdict for one (provider, client) pair of device indices. */
void p2pb_verdict(const struct p2pb_verdict_ctx *c, int provider, int client,
		  struct p2pb_verdict *ret);

/* Human explanation: "same switch 0000:01:00.0, no ACS redirect on the path",
 * "ACS redirect set on 0000:02:01.0 (RR CR): routed through host bridge
 * 0000:00 which is not on the kernel's whitelist", ... Returns bytes written
 * as snprintf does. */
int p2pb_verdict_explain(const struct p2pb_topology *t, const struct p2pb_verdict *v, int provider,
			 int client, char *buf, size_t len);

const char *p2pb_map_type_name(enum p2pb_map_type m); /* "bus-addr", ... */

/* Devices whose ACS the kernel checks for this pair (provider side up to and
 * including the common device, client side below it) but whose ACS could not
 * be read here (P2PB_DW_ACS_UNKNOWN), in the kernel's order. None without a
 * common device: then the kernel's answer does not depend on ACS. Writes up
 * to max indices; returns how many there are. */
size_t p2pb_verdict_acs_unknown(const struct p2pb_topology *t, const struct p2pb_verdict *v,
				int provider, int client, int *ret, size_t max);

/* Kernel's host-bridge whitelist lookup for one host bridge. */
bool p2pb_host_bridge_whitelisted(const struct p2pb_topology *t, int hb, bool same_host_bridge);

/* The kernel's pci_p2pdma_distance_many(): -1 if any client unsupported. */
int p2pb_distance_many(const struct p2pb_verdict_ctx *c, int provider, const int *clients,
		       size_t n_clients);

struct p2pb_provider_choice {
	int dev; /* provider device index */
	int total_distance;
	int numa_matches; /* clients on the provider's NUMA node */
};

/* Providers with published p2pmem that every client can reach, best first:
 * total distance, then NUMA locality, free bytes, address (where the kernel
 * would pick at random). Writes up to max entries; returns the count found
 * (may exceed max), or -EINVAL for bad client indices. */
int p2pb_providers_rank(const struct p2pb_verdict_ctx *c, const int *clients, size_t n_clients,
			struct p2pb_provider_choice *ret, size_t max);

/* All-pairs matrix over the given device indices: map[i*n+j], dist[i*n+j]
 * for provider i, client j. Arrays of n*n owned by the caller. */
void p2pb_matrix(const struct p2pb_verdict_ctx *c, const int *devs, size_t n, uint8_t *map,
		 int32_t *dist);

/* Endpoints for the matrix: every function that is not a bridge, in BDF order.
 * Returns count; *ret is malloc'd (caller frees). -ENOMEM on failure. */
int p2pb_matrix_devices(const struct p2pb_topology *t, int **ret);
