/* scan.h - reads the PCI topology from sysfs through libpci's linux-sysfs
 * back end, under a movable filesystem root (as hwloc's HWLOC_FSROOT). */
#pragma once

#include "topology.h"

/* Scan ROOT/sys/bus/pci/devices (ROOT NULL or "/" for the real system) and
 * ROOT/proc/cpuinfo when present. Bad data on a device never fails the scan:
 * the device is kept and a warning saying what and where is recorded in the
 * topology. Returns 0 and a finished topology in *ret, -ENOENT when
 * ROOT/sys/bus/pci/devices does not exist, -ENOMEM; *ret untouched on failure. */
int p2pb_scan(const char *root, struct p2pb_topology **ret);

/* Parse /proc/cpuinfo text for the first CPU's vendor_id and cpu family. */
int p2pb_parse_cpuinfo(const char *text, struct p2pb_cpu *ret);
