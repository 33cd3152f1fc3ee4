/* sysfs_tree.h - builds small sysfs trees laid out as the kernel lays them out
 * (sys/devices/pciDDDD:BB/..., sys/bus/pci/devices links) in a temp dir, for scan tests. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Config space under construction. Little-endian as the hardware is. */
struct cfg {
	uint8_t b[4096];
	size_t len; /* bytes written to the config file */
};

static inline void
cfg_w8(struct cfg *c, unsigned pos, uint8_t v)
{
	c->b[pos] = v;
}

static inline void
cfg_w16(struct cfg *c, unsigned pos, uint16_t v)
{
	c->b[pos] = v & 0xff;
	c->b[pos + 1] = v >> 8;
}

static inline void
cfg_w32(struct cfg *c, unsigned pos, uint32_t v)
{
	cfg_w16(c, pos, v & 0xffff);
	cfg_w16(c, pos + 2, v >> 16);
}

/* A header: type 0 or 1 (| 0x80 for multi-function), class 24 bits. */
static inline void
cfg_init(struct cfg *c, uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t rev,
	 uint8_t header_type, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->len = len;
	cfg_w16(c, 0x00, vendor);
	cfg_w16(c, 0x02, device);
	cfg_w32(c, 0x08, class_code << 8 | rev);
	cfg_w8(c, 0x0e, header_type);
	if ((header_type & 0x7f) == 0) {
		cfg_w16(c, 0x2c, vendor);
		cfg_w16(c, 0x2e, 0x1234);
	}
}

static inline void
cfg_bridge_buses(struct cfg *c, uint8_t primary, uint8_t secondary, uint8_t subordinate)
{
	cfg_w8(c, 0x18, primary);
	cfg_w8(c, 0x19, secondary);
	cfg_w8(c, 0x1a, subordinate);
}

/* A standard capability at pos; the first one also sets the list pointer. */
static inline void
cfg_cap(struct cfg *c, unsigned pos, uint8_t id, uint8_t next)
{
	if (!(c->b[0x06] & 0x10)) {
		c->b[0x06] |= 0x10;
		cfg_w8(c, 0x34, (uint8_t)pos);
	}
	cfg_w8(c, pos, id);
	cfg_w8(c, pos + 1, next);
}

/* The PCI Express capability (id 0x10) with port type and link registers. */
static inline void
cfg_pcie(struct cfg *c, unsigned pos, uint8_t next, unsigned type, unsigned cap_speed,
	 unsigned cap_width, unsigned speed, unsigned width)
{
	cfg_cap(c, pos, 0x10, next);
	cfg_w16(c, pos + 2, (uint16_t)(type << 4 | 2));
	cfg_w32(c, pos + 0x0c, cap_speed | cap_width << 4);
	cfg_w16(c, pos + 0x12, (uint16_t)(speed | width << 4));
}

static inline void
cfg_ext(struct cfg *c, unsigned pos, uint16_t id, unsigned next)
{
	cfg_w32(c, pos, id | 1u << 16 | (uint32_t)next << 20);
}

static inline void
cfg_acs(struct cfg *c, unsigned pos, unsigned next, uint16_t cap, uint16_t ctrl)
{
	cfg_ext(c, pos, 0x0d, next);
	cfg_w16(c, pos + 4, cap);
	cfg_w16(c, pos + 6, ctrl);
}

static inline void
cfg_dsn(struct cfg *c, unsigned pos, unsigned next, uint64_t dsn)
{
	cfg_ext(c, pos, 0x03, next);
	cfg_w32(c, pos + 4, (uint32_t)dsn);
	cfg_w32(c, pos + 8, (uint32_t)(dsn >> 32));
}

struct tree {
	char root[PATH_MAX];
};

static inline void
tree_die(const char *what, const char *path)
{
	fprintf(stderr, "sysfs_tree: %s %s: %s\n", what, path, strerror(errno));
	abort();
}

static inline void
tree_mkdirs(const char *path)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		tree_die("path too long", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			tree_die("mkdir", p);
		*s = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		tree_die("mkdir", p);
}

static inline void
tree_init(struct tree *t)
{
	char p[PATH_MAX + 32];

	snprintf(t->root, sizeof(t->root), "/tmp/p2pb-scan-XXXXXX");
	if (!mkdtemp(t->root))
		tree_die("mkdtemp", t->root);
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices", t->root);
	tree_mkdirs(p);
	snprintf(p, sizeof(p), "%s/sys/devices", t->root);
	tree_mkdirs(p);
}

static inline int
tree_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static inline void
tree_cleanup(struct tree *t)
{
	if (t->root[0])
		nftw(t->root, tree_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	t->root[0] = '\0';
}

/* ROOT/rel, formatted. */
static inline const char *
tree_path(const struct tree *t, char *buf, size_t size, const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if (snprintf(buf, size, "%s/%s", t->root, rel) >= (int)size)
		tree_die("path too long", rel);
	return buf;
}

static inline void
tree_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		tree_die("open", path);
	if (write(fd, data, len) != (ssize_t)len)
		tree_die("write", path);
	close(fd);
}

/* Writes ROOT/sys/bus/pci/devices/BDF/FILE (creating p2pmem/ and the like). */
static inline void
tree_attr(const struct tree *t, const char *bdf, const char *file, const char *fmt, ...)
{
	char path[PATH_MAX], dir[PATH_MAX], val[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	tree_path(t, path, sizeof(path), "sys/bus/pci/devices/%s/%s", bdf, file);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	tree_mkdirs(dir);
	tree_write_file(path, val, strlen(val));
}

static inline void
tree_remove(const struct tree *t, const char *bdf, const char *file)
{
	char path[PATH_MAX];

	tree_path(t, path, sizeof(path), "sys/bus/pci/devices/%s/%s", bdf, file);
	if (remove(path) < 0)
		tree_die("remove", path);
}

/* A link BDF/FILE -> target (relative to the device directory). */
static inline void
tree_link(const struct tree *t, const char *bdf, const char *file, const char *target)
{
	char path[PATH_MAX];

	tree_path(t, path, sizeof(path), "sys/bus/pci/devices/%s/%s", bdf, file);
	remove(path);
	if (symlink(target, path) < 0)
		tree_die("symlink", path);
}

/* Adds a function: sys/devices/DIR/BDF with config and the identity
 * attributes taken from it, and the sys/bus/pci/devices/BDF link. DIR is
 * "pci0000:00" for a root bus or the parent's directory below sys/devices. */
static inline void
tree_add(const struct tree *t, const char *dir, const char *bdf, const struct cfg *c)
{
	char path[PATH_MAX], link[PATH_MAX], target[PATH_MAX];
	const uint8_t *b = c->b;

	tree_path(t, path, sizeof(path), "sys/devices/%s/%s", dir, bdf);
	tree_mkdirs(path);
	tree_path(t, link, sizeof(link), "sys/bus/pci/devices/%s", bdf);
	snprintf(target, sizeof(target), "../../../devices/%s/%s", dir, bdf);
	if (symlink(target, link) < 0)
		tree_die("symlink", link);
	strcat(path, "/config");
	tree_write_file(path, c->b, c->len);
	tree_attr(t, bdf, "vendor", "0x%04x\n", b[0] | b[1] << 8);
	tree_attr(t, bdf, "device", "0x%04x\n", b[2] | b[3] << 8);
	tree_attr(t, bdf, "class", "0x%06x\n", b[9] | b[10] << 8 | b[11] << 16);
	tree_attr(t, bdf, "revision", "0x%02x\n", b[8]);
	tree_attr(t, bdf, "subsystem_vendor", "0x%04x\n", b[0x2c] | b[0x2d] << 8);
	tree_attr(t, bdf, "subsystem_device", "0x%04x\n", b[0x2e] | b[0x2f] << 8);
	tree_attr(t, bdf, "numa_node", "-1\n");
}

/* "../../.." from the device's real directory up to ROOT/sys. */
static inline const char *
tree_up_to_sys(const struct tree *t, const char *bdf, char *buf, size_t size)
{
	char path[PATH_MAX], *real;
	size_t skip = strlen(t->root) + strlen("/sys/");

	tree_path(t, path, sizeof(path), "sys/bus/pci/devices/%s", bdf);
	real = realpath(path, NULL);
	if (!real)
		tree_die("realpath", path);
	buf[0] = '\0';
	for (const char *c = real + skip - 1; *c; c++)
		if (*c == '/')
			snprintf(buf + strlen(buf), size - strlen(buf), "%s..", buf[0] ? "/" : "");
	free(real);
	return buf;
}

/* sys/kernel/iommu_groups/N and the device's link to it. */
static inline void
tree_iommu_group(const struct tree *t, const char *bdf, int group)
{
	char path[PATH_MAX], target[PATH_MAX], up[256];

	tree_path(t, path, sizeof(path), "sys/kernel/iommu_groups/%d/devices", group);
	tree_mkdirs(path);
	snprintf(target, sizeof(target), "%s/kernel/iommu_groups/%d",
		 tree_up_to_sys(t, bdf, up, sizeof(up)), group);
	tree_link(t, bdf, "iommu_group", target);
}

static inline void
tree_driver(const struct tree *t, const char *bdf, const char *name)
{
	char path[PATH_MAX], target[PATH_MAX], up[256];

	tree_path(t, path, sizeof(path), "sys/bus/pci/drivers/%s", name);
	tree_mkdirs(path);
	snprintf(target, sizeof(target), "%s/bus/pci/drivers/%s",
		 tree_up_to_sys(t, bdf, up, sizeof(up)), name);
	tree_link(t, bdf, "driver", target);
}
