/* topology.h - the PCI topology model: plain structs and pure functions, no I/O.
 * scan.c fills a topology from sysfs/libpci; verdict.c reasons over it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define P2PB_NONE (-1) /* "no such index" for every index field below */

/* PCIe Device/Port Type (PCIe capability flags bits 7:4), plus a value for
 * functions that have no PCIe capability at all (conventional PCI). */
enum p2pb_port_type {
	P2PB_PT_ENDPOINT = 0x0,
	P2PB_PT_LEGACY_ENDPOINT = 0x1,
	P2PB_PT_ROOT_PORT = 0x4,
	P2PB_PT_SWITCH_UPSTREAM = 0x5,
	P2PB_PT_SWITCH_DOWNSTREAM = 0x6,
	P2PB_PT_PCIE_TO_PCI = 0x7,
	P2PB_PT_PCI_TO_PCIE = 0x8,
	P2PB_PT_RC_INTEGRATED = 0x9,
	P2PB_PT_RC_EVENT_COLLECTOR = 0xa,
	P2PB_PT_CONVENTIONAL = 0x100, /* no PCIe capability */
};

/* ACS control/capability bits (PCIe spec 7.7.8; same values as pci_regs.h). */
enum {
	P2PB_ACS_SV = 0x0001,
	P2PB_ACS_TB = 0x0002,
	P2PB_ACS_RR = 0x0004,
	P2PB_ACS_CR = 0x0008,
	P2PB_ACS_UF = 0x0010,
	P2PB_ACS_EC = 0x0020,
	P2PB_ACS_DT = 0x0040,
	/* The bits the kernel's pci_bridge_has_acs_redir() looks at. */
	P2PB_ACS_REDIR_MASK = P2PB_ACS_RR | P2PB_ACS_CR | P2PB_ACS_EC,
};

/* Per-device problems found while scanning. The device is kept; each bit has
 * a matching human message in the topology's warning list. */
enum {
	P2PB_DW_CONFIG_MISSING = 1u << 0, /* config unreadable / absent */
	P2PB_DW_CONFIG_SHORT = 1u << 1,	  /* config shorter than 4096: no ext caps */
	P2PB_DW_CAP_LOOP = 1u << 2,	  /* capability list loops or is corrupt */
	P2PB_DW_SYSFS_ATTR = 1u << 3,	  /* an attribute file missing/garbled */
	P2PB_DW_BUS_MISMATCH = 1u << 4,	  /* bus numbers disagree with the tree */
	P2PB_DW_PARENT_UNKNOWN = 1u << 5, /* sysfs parent is not a known device */
	P2PB_DW_P2PMEM_GARBLED = 1u << 6, /* p2pmem/ present but unparsable */
	/* The kernel may see an ACS capability that could not be read here
	 * (config missing, truncated, or only partly readable): verdicts on
	 * paths through this device carry a caution. */
	P2PB_DW_ACS_UNKNOWN = 1u << 7,
};

struct p2pb_bdf {
	uint32_t domain; /* 32 bits: VMD-style domains exceed 16 */
	uint8_t bus;
	uint8_t dev;
	uint8_t fn;
};

struct p2pb_link {
	bool present;	   /* false when there is no PCIe capability */
	uint8_t cap_speed; /* Link Capabilities: max speed code (1=2.5GT/s..6=64GT/s) */
	uint8_t cap_width; /* Link Capabilities: max width (lanes) */
	uint8_t speed;	   /* Link Status: current speed code */
	uint8_t width;	   /* Link Status: negotiated width */
};

struct p2pb_acs {
	bool present;  /* ACS extended capability found (kernel: pdev->acs_cap != 0) */
	uint16_t pos;  /* its config-space offset */
	uint16_t cap;  /* ACS Capability register */
	uint16_t ctrl; /* ACS Control register */
};

struct p2pb_p2pmem {
	bool present; /* sysfs p2pmem/ directory exists */
	bool published;
	uint64_t size;
	uint64_t available;
};

struct p2pb_dev {
	struct p2pb_bdf bdf;
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys_device;
	uint32_t class_code; /* 24 bits: base class, subclass, prog-if */
	uint8_t revision;
	uint8_t header_type; /* bits 6:0 of the header type register */
	bool multifunction;  /* header type bit 7 */
	uint16_t port_type;  /* enum p2pb_port_type */
	struct p2pb_link link;
	struct p2pb_acs acs;
	bool has_dsn;
	uint64_t dsn;
	uint8_t secondary_bus, subordinate_bus; /* type-1 headers only */
	int iommu_group;			/* P2PB_NONE when absent */
	int numa_node;				/* -1 when absent, as sysfs says */
	char driver[32];			/* "" when unbound */
	struct p2pb_p2pmem p2pmem;
	bool is_virtfn;	   /* an SR-IOV VF; physfn names its PF */
	uint32_t warnings; /* P2PB_DW_* */

	/* Filled by the scanner: the parent named by the sysfs device path. */
	bool has_parent_bdf; /* false: on a root bus (parent dir is pciDDDD:BB) */
	struct p2pb_bdf parent_bdf;
	bool has_physfn_bdf;
	struct p2pb_bdf physfn_bdf;

	/* Filled by p2pb_topology_finish(): indices into topology.devs
	 * (P2PB_NONE when absent). */
	int parent;	 /* upstream bridge from the sysfs path; NONE on a root bus */
	int physfn;	 /* the PF of a VF */
	int first_child; /* children in BDF order */
	int next_sibling;
	int hostbridge; /* index into topology.hostbridges */
	int sw;		/* index into topology.switches for switch ports */
	int depth;	/* upstream hops to the root bus: 0 on a root bus */
};

/* One per root bus, as the kernel's struct pci_host_bridge. */
struct p2pb_hostbridge {
	uint32_t domain;
	uint8_t bus;
	int first_dev;	/* kernel's pci_host_bridge_dev(): 00.0 or a root port; NONE */
	int first_root; /* first device on the root bus (for display) or NONE */
};

/* A switch: an upstream port with its downstream ports. */
struct p2pb_switch {
	int upstream;	 /* device index of the upstream port */
	int *downstream; /* device indices of its downstream ports */
	size_t n_downstream;
	int parent_switch; /* enclosing switch for nested switches, or NONE */
};

struct p2pb_cpu {
	bool known; /* /proc/cpuinfo was read */
	char vendor[16];
	unsigned family;
};

struct p2pb_warning {
	int dev;       /* device index or P2PB_NONE for topology-wide */
	char *message; /* "what was wrong, where" */
};

struct p2pb_topology {
	struct p2pb_dev *devs; /* sorted by BDF */
	size_t n_devs;
	struct p2pb_hostbridge *hostbridges;
	size_t n_hostbridges;
	struct p2pb_switch *switches;
	size_t n_switches;
	struct p2pb_cpu cpu;
	struct p2pb_warning *warnings;
	size_t n_warnings;
	uint64_t generation; /* increases with every rescan */
	char *root;	     /* filesystem root it was read from ("/" for the system) */
};

/* Allocation and lifetime. _free() accepts NULL and returns NULL. */
struct p2pb_topology *p2pb_topology_new(void);
struct p2pb_topology *p2pb_topology_free(struct p2pb_topology *t);

/* Append a device (copied); returns its index or -ENOMEM. Indices are only
 * stable after p2pb_topology_finish(). */
int p2pb_topology_add_dev(struct p2pb_topology *t, const struct p2pb_dev *d);

/* Record a warning (printf-style); dev may be P2PB_NONE. Returns 0 or -ENOMEM. */
int p2pb_topology_warn(struct p2pb_topology *t, int dev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sort devices, resolve parent_bdf/physfn_bdf into indices, build host
 * bridges, switches, child lists and depths. Checks consistency (bus numbers
 * against bridge windows, parent loops, unknown parents) and records warnings
 * instead of failing. Returns 0 or -ENOMEM. */
int p2pb_topology_finish(struct p2pb_topology *t);

/* Lookup; returns the device index or -ENOENT. */
int p2pb_topology_find(const struct p2pb_topology *t, struct p2pb_bdf bdf);

/* "DDDD:BB:DD.F"; buf must hold P2PB_BDF_STRLEN bytes. Returns buf. */
#define P2PB_BDF_STRLEN 16
char *p2pb_bdf_format(struct p2pb_bdf bdf, char *buf);
/* Accepts "DDDD:BB:DD.F" and "BB:DD.F" (domain 0). 0 or -EINVAL. */
int p2pb_bdf_parse(const char *s, struct p2pb_bdf *ret);
int p2pb_bdf_cmp(struct p2pb_bdf a, struct p2pb_bdf b);

/* Kernel's pci_upstream_bridge(): the PF's parent for a VF, NONE on a root bus. */
int p2pb_upstream_bridge(const struct p2pb_topology *t, int dev);

/* Same vocabulary as libp2pbroker's p2pb_port_type_string() (docs/json.md). */
const char *p2pb_port_type_name(uint16_t port_type); /* "root-port", ... */
bool p2pb_dev_is_bridge(const struct p2pb_dev *d);
