/* p2pbroker.h - libp2pbroker, the C client library of p2pbrokerd: connect to the
 * daemon's socket, ask for the PCIe topology and P2P DMA verdicts, get plain C answers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * ABI rules (the library is versioned P2PBROKER_1 and keeps its soname):
 *  - struct p2pb_client is opaque.
 *  - Every answer struct (p2pb_*_info) is allocated by the library and freed by
 *    its own _free() function. Callers never allocate, copy or take the size of
 *    one; new fields are only ever appended at the end. Lists of them are arrays
 *    of pointers, so element size never matters to a caller.
 *  - struct p2pb_address is a plain value type and will not change.
 *
 * Error convention: functions that can fail return 0 (or a count) on success
 * and a negative errno on failure; output parameters (ret_*) are untouched on
 * failure. After a failed call, p2pb_last_error() says what happened in words
 * (including the daemon's own message when the daemon refused the request).
 * Daemon status codes map to errno values:
 *   invalid request -EINVAL, not found -ENOENT, request too large -E2BIG,
 *   unsupported version -EPROTONOSUPPORT, permission denied -EACCES,
 *   internal -EIO, unavailable -EAGAIN.
 * Transport failures: -ETIMEDOUT (no complete reply within the timeout),
 * -ECONNRESET (daemon closed the connection), -EPROTO (malformed reply),
 * -EMSGSIZE (reply over the size limit), -ENOTCONN (the connection was lost by
 * an earlier call; connect again).
 */

/* A PCI function address; printed as "DDDD:BB:DD.F". */
struct p2pb_address {
	uint32_t domain;
	uint8_t bus;
	uint8_t dev;
	uint8_t fn;
};

#define P2PB_ADDRESS_STRLEN 20 /* "DDDD:BB:DD.F" with room for 8-digit domains + NUL */

/* How the kernel maps a provider's memory for a client (values as the wire). */
enum p2pb_p2p_map {
	P2PB_P2P_UNKNOWN = 0,
	P2PB_P2P_NOT_SUPPORTED = 1,
	P2PB_P2P_BUS_ADDR = 2,
	P2PB_P2P_THRU_HOST_BRIDGE = 3,
};

struct p2pb_client;

/* Connect to the daemon. path NULL means $P2PBROKER_SOCKET, or when that is
 * unset or empty /run/p2pbroker/socket. */
int p2pb_connect(const char *path, struct p2pb_client **ret);
/* Close the connection and any received fds not taken. Accepts NULL; returns NULL. */
struct p2pb_client *p2pb_disconnect(struct p2pb_client *c);

/* The socket path p2pb_connect(path) would use (never NULL). */
const char *p2pb_socket_path(const char *path);

/* Time allowed for one whole request/reply exchange, in milliseconds; a
 * negative value waits forever. Default 30000. Returns 0 or -EINVAL (NULL c). */
int p2pb_set_timeout(struct p2pb_client *c, int timeout_ms);

/* Text describing the last failure on c ("" when none). Valid until the next call. */
const char *p2pb_last_error(const struct p2pb_client *c);

/* File descriptors that arrived with the last reply. Moves up to max of them
 * into fds (the caller now owns and closes them) and returns how many were
 * moved. Fds not taken are closed by the next request or by p2pb_disconnect(). */
int p2pb_take_fds(struct p2pb_client *c, int *fds, size_t max);

/* ---- status ---------------------------------------------------------- */

struct p2pb_status_info {
	const char *version; /* daemon version */
	uint32_t protocol;   /* daemon protocol version */
	const char *root;    /* filesystem root scanned, "/" on the system */
	uint64_t generation; /* topology generation, increases on each rescan */
	uint32_t n_devices;
	uint32_t n_switches;
	uint32_t n_hostbridges;
	uint32_t n_providers; /* devices with published p2pmem */
	uint32_t n_warnings;
	uint64_t uptime_usec;
	uint64_t last_scan_usec;
	bool cpu_known;		/* the daemon could read the CPU vendor and family */
	const char *cpu_vendor; /* e.g. "AuthenticAMD", "" when unknown */
	uint32_t cpu_family;
	uint32_t n_clients; /* clients connected to the daemon */
	bool scanning;	    /* a rescan is running; answers come from `generation` */
};

int p2pb_get_status(struct p2pb_client *c, struct p2pb_status_info **ret);
struct p2pb_status_info *p2pb_status_info_free(struct p2pb_status_info *s);

/* ---- topology -------------------------------------------------------- */

/* Port types: the PCIe Device/Port Type field, plus one value for functions
 * without a PCIe capability (conventional PCI). */
enum {
	P2PB_PORT_ENDPOINT = 0x0,
	P2PB_PORT_LEGACY_ENDPOINT = 0x1,
	P2PB_PORT_ROOT_PORT = 0x4,
	P2PB_PORT_SWITCH_UPSTREAM = 0x5,
	P2PB_PORT_SWITCH_DOWNSTREAM = 0x6,
	P2PB_PORT_PCIE_TO_PCI = 0x7,
	P2PB_PORT_PCI_TO_PCIE = 0x8,
	P2PB_PORT_RC_INTEGRATED = 0x9,
	P2PB_PORT_RC_EVENT_COLLECTOR = 0xa,
	P2PB_PORT_CONVENTIONAL = 0x100,
};

struct p2pb_device_info {
	struct p2pb_address address;
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys_device;
	uint32_t class_code; /* base class, subclass, prog-if */
	uint8_t revision;
	uint8_t header_type; /* bits 6:0 of the header type register */
	bool multifunction;
	uint16_t port_type; /* P2PB_PORT_* */

	bool has_link;				/* false without a PCIe capability */
	uint8_t link_cap_speed, link_cap_width; /* speed codes: 1=2.5GT/s .. 6=64GT/s */
	uint8_t link_speed, link_width;

	bool has_acs; /* ACS extended capability present */
	uint16_t acs_pos, acs_cap, acs_ctrl;

	bool has_dsn;
	uint64_t dsn; /* Device Serial Number */

	bool has_parent; /* false on a root bus */
	struct p2pb_address parent;

	int32_t iommu_group; /* -1 when none */
	int32_t numa_node;   /* -1 when none */
	const char *driver;  /* "" when unbound */

	bool has_p2pmem; /* sysfs p2pmem/ present */
	bool p2pmem_published;
	uint64_t p2pmem_size, p2pmem_available;

	bool is_virtfn;
	bool has_physfn;
	struct p2pb_address physfn;

	uint8_t secondary_bus, subordinate_bus; /* bridges only */
	uint32_t hostbridge;			/* index into p2pb_topology_info.hostbridges */
	int32_t switch_index;			/* index into .switches, -1 when none */
	uint32_t warnings;			/* P2PB_DEVICE_WARN_* bits */
};

/* Device warning bits (what the scanner found wrong; messages in .warnings). */
enum {
	P2PB_DEVICE_WARN_CONFIG_MISSING = 1u << 0,
	P2PB_DEVICE_WARN_CONFIG_SHORT = 1u << 1,
	P2PB_DEVICE_WARN_CAP_LOOP = 1u << 2,
	P2PB_DEVICE_WARN_SYSFS_ATTR = 1u << 3,
	P2PB_DEVICE_WARN_BUS_MISMATCH = 1u << 4,
	P2PB_DEVICE_WARN_PARENT_UNKNOWN = 1u << 5,
	P2PB_DEVICE_WARN_P2PMEM_GARBLED = 1u << 6,
	P2PB_DEVICE_WARN_ACS_UNKNOWN = 1u << 7, /* verdicts through it carry a caution */
};

struct p2pb_hostbridge_info {
	uint32_t domain;
	uint8_t bus;
	bool has_whitelist_dev; /* the device the kernel's whitelist check looks at */
	struct p2pb_address whitelist_dev;
	bool whitelisted;      /* on the kernel's whitelist for any pair */
	bool whitelisted_same; /* whitelisted when both ends are below this bridge */
};

struct p2pb_switch_info {
	struct p2pb_address upstream;
	struct p2pb_address *downstream; /* n_downstream addresses */
	size_t n_downstream;
	int32_t parent_switch; /* enclosing switch index, -1 when not nested */
};

struct p2pb_warning_info {
	bool has_device; /* false for a topology-wide warning */
	struct p2pb_address device;
	const char *message;
};

struct p2pb_topology_info {
	uint64_t generation;
	struct p2pb_device_info **devices; /* in address order */
	size_t n_devices;
	struct p2pb_hostbridge_info **hostbridges;
	size_t n_hostbridges;
	struct p2pb_switch_info **switches;
	size_t n_switches;
	struct p2pb_warning_info **warnings;
	size_t n_warnings;
};

int p2pb_get_topology(struct p2pb_client *c, struct p2pb_topology_info **ret);
struct p2pb_topology_info *p2pb_topology_info_free(struct p2pb_topology_info *t);

/* ---- one pair -------------------------------------------------------- */

struct p2pb_path_info {
	struct p2pb_address provider, client;
	enum p2pb_p2p_map verdict;
	int32_t distance;     /* -1 when not supported */
	int32_t raw_distance; /* the distance computed before any refusal */
	bool has_common_bridge;
	struct p2pb_address common_bridge;
	/* Bridges on the path with ACS redirect (RR, CR or EC) set, and their ACS
	 * control registers, n_acs of each. */
	struct p2pb_address *acs_devices;
	uint16_t *acs_ctrl;
	size_t n_acs;
	bool cpu_allows; /* the CPU rule for traffic through the host bridge */
	bool host_bridge_whitelisted;
	const char *reason;
	/* Devices on the path whose ACS could not be read by the daemon (its
	 * P2PB_DEVICE_WARN_ACS_UNKNOWN): the kernel may see a redirect there. */
	struct p2pb_address *acs_unknown;
	size_t n_acs_unknown;
};

int p2pb_get_path(struct p2pb_client *c, struct p2pb_address provider, struct p2pb_address client,
		  struct p2pb_path_info **ret);
struct p2pb_path_info *p2pb_path_info_free(struct p2pb_path_info *p);

/* ---- provider choice ------------------------------------------------- */

struct p2pb_provider_info {
	struct p2pb_address address;
	int32_t total_distance;
	uint32_t numa_matches; /* clients on the provider's NUMA node */
	int32_t numa_node;     /* -1 when none */
	uint64_t size, available;
};

struct p2pb_providers_info {
	struct p2pb_address *clients;
	size_t n_clients;
	struct p2pb_provider_info **providers; /* best first; none when nothing fits */
	size_t n_providers;
};

int p2pb_find_providers(struct p2pb_client *c, const struct p2pb_address *clients, size_t n_clients,
			struct p2pb_providers_info **ret);
struct p2pb_providers_info *p2pb_providers_info_free(struct p2pb_providers_info *p);

/* ---- all pairs ------------------------------------------------------- */

struct p2pb_matrix_info {
	struct p2pb_address *devices; /* n endpoints */
	size_t n;
	/* Row-major n*n: entry [i*n + j] is provider devices[i], client devices[j]. */
	uint8_t *verdict; /* enum p2pb_p2p_map */
	int32_t *distance;
};

int p2pb_get_matrix(struct p2pb_client *c, struct p2pb_matrix_info **ret);
struct p2pb_matrix_info *p2pb_matrix_info_free(struct p2pb_matrix_info *m);

/* ---- rescan ---------------------------------------------------------- */

struct p2pb_rescan_info {
	uint64_t generation;
	uint32_t n_devices;
	uint64_t scan_usec;
};

int p2pb_rescan(struct p2pb_client *c, struct p2pb_rescan_info **ret);
struct p2pb_rescan_info *p2pb_rescan_info_free(struct p2pb_rescan_info *r);

/* ---- helpers ----------------------------------------------------------- */

/* Accepts "DDDD:BB:DD.F" and "BB:DD.F" (domain 0), hex digits; 0 or -EINVAL. */
int p2pb_address_parse(const char *s, struct p2pb_address *ret);
/* Writes "DDDD:BB:DD.F" into buf (P2PB_ADDRESS_STRLEN bytes); returns buf. */
char *p2pb_address_format(struct p2pb_address a, char *buf);
/* <0, 0, >0 in domain, bus, device, function order. */
int p2pb_address_compare(struct p2pb_address a, struct p2pb_address b);

/* "bus-addr", "thru-host-bridge", "not-supported", "unknown". */
const char *p2pb_p2p_map_name(enum p2pb_p2p_map m);
/* "endpoint", "root-port", "switch-upstream", ...; "unknown" otherwise. */
const char *p2pb_port_type_string(uint16_t port_type);
/* "2.5GT/s" .. "64GT/s" for link speed codes 1..6, "unknown" otherwise. */
const char *p2pb_link_speed_string(uint8_t code);

/* The library's version string, e.g. "0.1.0". */
const char *p2pb_library_version(void);

#ifdef __cplusplus
}
#endif
