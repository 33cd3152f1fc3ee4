/* scan.c - reads the PCI topology under a movable root: config space and capabilities
 * through libpci's linux-sysfs back end, links and p2pmem/ from sysfs, the CPU from cpuinfo. */
#include "scan.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pci/pci.h>

#define CFG_FULL 4096 /* PCIe config space; the kernel's cfg_size with extended caps */
#define CFG_MIN	 64   /* the standard header */
#define ATTR_MAX 128  /* longest sysfs attribute value we accept */

struct scan {
	struct p2pb_topology *t;
	struct pci_access *acc;
	char *devices_path; /* ROOT/sys/bus/pci/devices */
	char *root_real;    /* realpath of ROOT, to keep links inside it */
	int devices_fd;
	int r; /* first allocation failure seen where it cannot be returned */

	/* The function being filled. libpci's error callback longjmp()s to the
	 * stage that called it, so everything it needs lives here, not in
	 * locals of the frame that setjmp() saved. */
	jmp_buf jmp;
	bool armed;
	uint32_t stage_bit;
	struct pci_dev *pd;
	int cur;
	char name[P2PB_BDF_STRLEN];
	size_t cfg_len; /* config bytes cached for libpci, 0 when unusable */
	uint8_t cfg[CFG_FULL];
};

/* libpci's callbacks take no context argument; this is the scan that is
 * running on this thread, set only for the duration of p2pb_scan(). */
static __thread struct scan *scan_current;

static struct p2pb_dev *
cur_dev(struct scan *s)
{
	return &s->t->devs[s->cur];
}

static void
note_va(struct scan *s, uint32_t bit, const char *fmt, va_list ap)
{
	char msg[1024];
	int r;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (s->cur == P2PB_NONE) {
		r = p2pb_topology_warn(s->t, P2PB_NONE, "%s", msg);
	} else {
		/* The warning is attached to the device: whoever shows it names the
		 * device (log prefix, journal field, JSON "device"), so the text
		 * does not repeat it. */
		cur_dev(s)->warnings |= bit;
		r = p2pb_topology_warn(s->t, s->cur, "%s", msg);
	}
	if (r < 0 && s->r == 0)
		s->r = r;
}

/* A warning on the function being filled; sets its P2PB_DW_* bit. */
static void __attribute__((format(printf, 3, 4)))
note(struct scan *s, uint32_t bit, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_va(s, bit, fmt, ap);
	va_end(ap);
}

/* Same, naming a file under the device's sysfs directory. */
static void __attribute__((format(printf, 4, 5)))
note_file(struct scan *s, uint32_t bit, const char *file, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	note(s, bit, "%s/%s/%s: %s", s->devices_path, s->name, file, msg);
}

/* libpci's error callback must not return. It abandons the stage that
 * called libpci (see run_stage()); the device keeps what was read so far. */
static void __attribute__((noreturn)) lib_error(char *msg, ...)
{
	struct scan *s = scan_current;
	char buf[768];
	va_list ap;

	if (!s || !s->armed) {
		/* Every libpci call is made inside a stage; reaching this is a
		 * bug in this file, not bad data. */
		va_start(ap, msg);
		vfprintf(stderr, msg, ap);
		va_end(ap);
		abort();
	}
	s->armed = false;
	va_start(ap, msg);
	vsnprintf(buf, sizeof(buf), msg, ap);
	va_end(ap);
	note(s, s->stage_bit, "libpci: %s", buf);
	longjmp(s->jmp, 1);
}

static void
lib_warning(char *msg, ...)
{
	struct scan *s = scan_current;
	char buf[768];
	va_list ap;

	if (!s || !s->armed)
		return;
	va_start(ap, msg);
	vsnprintf(buf, sizeof(buf), msg, ap);
	va_end(ap);
	/* An unusable config file already has its own warning. */
	if (s->cur != P2PB_NONE && (cur_dev(s)->warnings & P2PB_DW_CONFIG_MISSING) &&
	    strstr(buf, "/config"))
		return;
	note(s, s->stage_bit, "libpci: %s", buf);
}

static void
lib_debug(char *msg, ...)
{
}

/* Runs one stage of filling a function. A libpci error inside it lands back
 * here: the stage is abandoned, its warning already recorded. */
static bool
run_stage(struct scan *s, uint32_t bit, void (*fn)(struct scan *))
{
	s->stage_bit = bit;
	if (setjmp(s->jmp)) {
		s->armed = false;
		return false;
	}
	s->armed = true;
	fn(s);
	s->armed = false;
	return true;
}

/* --- small sysfs readers (files libpci does not read, or reads too loosely) */

/* Reads a small attribute file of the current device into buf (NUL-ended,
 * trailing newline removed). Returns its length or -errno. */
static int
read_attr(struct scan *s, const char *file, char *buf, size_t size)
{
	char rel[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(rel, sizeof(rel), "%s/%s", s->name, file);
	fd = openat(s->devices_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	if ((size_t)n == size - 1)
		return -EFBIG;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return (int)n;
}

/* Strict decimal: optional '-', digits, nothing else. */
static int
parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]) && !(s[0] == '-' && isdigit((unsigned char)s[1])))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int
parse_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* sysfs entry names are exactly what the kernel prints: "%04x:%02x:%02x.%d". */
static int
parse_canonical_bdf(const char *name, struct p2pb_bdf *ret)
{
	char again[P2PB_BDF_STRLEN];
	struct p2pb_bdf b;

	if (strlen(name) >= sizeof(again) || p2pb_bdf_parse(name, &b) < 0)
		return -EINVAL;
	if (strcmp(p2pb_bdf_format(b, again), name) != 0)
		return -EINVAL;
	*ret = b;
	return 0;
}

/* --- stages run under libpci ------------------------------------------- */

/* The next, shorter config read to try after one of len bytes failed. */
static size_t
shorter_read(size_t len)
{
	if (len > 256)
		return 256;
	return len > CFG_MIN ? CFG_MIN : 0;
}

/* Reads the config file once into s->cfg and hands it to libpci as its
 * cache, so that every later register read is a memory access. The file's
 * size is the kernel's cfg_size; a read may still return less (non-root
 * readers get 64 bytes), so fall back to 256 and then 64 bytes. */
static void
stage_config(struct scan *s)
{
	char rel[PATH_MAX];
	struct stat st;
	size_t want;

	snprintf(rel, sizeof(rel), "%s/config", s->name);
	/* Cleared below once enough of config space is read to know what the
	 * kernel knows about ACS: all of its cfg_size (the file's size), which
	 * is 256 or 4096 bytes on a real system. */
	cur_dev(s)->warnings |= P2PB_DW_ACS_UNKNOWN;
	if (fstatat(s->devices_fd, rel, &st, 0) < 0) {
		note_file(s, P2PB_DW_CONFIG_MISSING, "config", "%s; filled from sysfs attributes",
			  strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		note_file(s, P2PB_DW_CONFIG_MISSING, "config",
			  "not a regular file; filled from sysfs attributes");
		return;
	}
	if (st.st_size < CFG_MIN) {
		note_file(s, P2PB_DW_CONFIG_MISSING, "config",
			  "config space is %lld bytes, shorter than the %d-byte header; filled "
			  "from sysfs attributes",
			  (long long)st.st_size, CFG_MIN);
		return;
	}
	want = st.st_size < CFG_FULL ? (size_t)st.st_size : CFG_FULL;
	for (size_t len = want; len >= CFG_MIN; len = shorter_read(len)) {
		if (!pci_read_block(s->pd, 0, s->cfg, (int)len))
			continue;
		s->cfg_len = len;
		pci_setup_cache(s->pd, s->cfg, (int)len);
		if (len == want && (len == 256 || len >= CFG_FULL))
			cur_dev(s)->warnings &= ~(uint32_t)P2PB_DW_ACS_UNKNOWN;
		if (len < want)
			note_file(s, P2PB_DW_CONFIG_SHORT, "config",
				  "only %zu of %zu bytes readable (not running as root?): "
				  "capabilities beyond them unavailable",
				  len, want);
		else if (len < 256)
			note_file(s, P2PB_DW_CONFIG_SHORT, "config",
				  "config space is %zu bytes, shorter than 4096: extended "
				  "capabilities (ACS) unavailable, and capabilities past the "
				  "header too",
				  len);
		return;
	}
	note_file(s, P2PB_DW_CONFIG_MISSING, "config", "unreadable; filled from sysfs attributes");
}

static void
stage_ident(struct scan *s)
{
	pci_fill_info(s->pd, PCI_FILL_IDENT);
	cur_dev(s)->vendor = s->pd->vendor_id;
	cur_dev(s)->device = s->pd->device_id;
}

/* After a failed sysfs read of vendor/device: the register values. */
static void
ident_from_config(struct scan *s)
{
	if (!s->cfg_len)
		return;
	cur_dev(s)->vendor = pci_read_word(s->pd, PCI_VENDOR_ID);
	cur_dev(s)->device = pci_read_word(s->pd, PCI_DEVICE_ID);
}

static void
stage_class(struct scan *s)
{
	pci_fill_info(s->pd, PCI_FILL_CLASS | PCI_FILL_CLASS_EXT);
	cur_dev(s)->class_code = (uint32_t)s->pd->device_class << 8 | s->pd->prog_if;
	cur_dev(s)->revision = s->pd->rev_id;
}

static void
class_from_config(struct scan *s)
{
	if (!s->cfg_len)
		return;
	cur_dev(s)->class_code = pci_read_long(s->pd, PCI_CLASS_REVISION) >> 8;
	cur_dev(s)->revision = pci_read_byte(s->pd, PCI_REVISION_ID);
}

static void
stage_subsys(struct scan *s)
{
	if (pci_fill_info(s->pd, PCI_FILL_SUBSYS) & PCI_FILL_SUBSYS) {
		cur_dev(s)->subsys_vendor = s->pd->subsys_vendor_id;
		cur_dev(s)->subsys_device = s->pd->subsys_id;
	}
}

static void
stage_header(struct scan *s)
{
	struct p2pb_dev *d = cur_dev(s);
	uint8_t ht;

	if (!s->cfg_len)
		return;
	ht = pci_read_byte(s->pd, PCI_HEADER_TYPE);
	d->header_type = ht & 0x7f;
	d->multifunction = ht & 0x80;
	if (p2pb_dev_is_bridge(d)) {
		d->secondary_bus = pci_read_byte(s->pd, PCI_SECONDARY_BUS);
		d->subordinate_bus = pci_read_byte(s->pd, PCI_SUBORDINATE_BUS);
	}
}

/* Walks a capability list with the kernel's rules (pointers below 0x40 end
 * it, at most 48 hops) to report what libpci's loop guard silently stops at. */
static void
check_std_caps(struct scan *s)
{
	uint8_t seen[256] = { 0 };
	unsigned pos;
	int ttl = 48;

	if (!(pci_read_word(s->pd, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return;
	pos = pci_read_byte(s->pd, cur_dev(s)->header_type == PCI_HEADER_TYPE_CARDBUS
					   ? PCI_CB_CAPABILITY_LIST
					   : PCI_CAPABILITY_LIST);
	while (pos && ttl-- > 0) {
		if (pos < 0x40) {
			note_file(
				s, P2PB_DW_CAP_LOOP, "config",
				"capability pointer 0x%02x points into the header; list cut there",
				pos);
			return;
		}
		pos &= ~3u;
		if (pos + 1 >= s->cfg_len || pci_read_byte(s->pd, (int)pos) == 0xff)
			return;
		if (seen[pos]++) {
			note_file(s, P2PB_DW_CAP_LOOP, "config",
				  "capability list loops back to 0x%02x; capabilities found before "
				  "the loop kept",
				  pos);
			return;
		}
		pos = pci_read_byte(s->pd, (int)pos + 1);
	}
	if (pos)
		note_file(s, P2PB_DW_CAP_LOOP, "config",
			  "capability list longer than 48 entries; cut there");
}

static void
check_ext_caps(struct scan *s)
{
	uint8_t seen[CFG_FULL / 4] = { 0 };
	unsigned pos = 0x100;
	uint32_t header = pci_read_long(s->pd, 0x100);

	if (header == 0 || header == 0xffffffff)
		return;
	for (;;) {
		if (seen[pos / 4]++) {
			note_file(s, P2PB_DW_CAP_LOOP, "config",
				  "extended capability list loops back to 0x%03x; capabilities "
				  "found before the loop kept",
				  pos);
			return;
		}
		pos = (header >> 20) & 0xffc;
		if (pos == 0)
			return;
		if (pos < 0x100) {
			note_file(s, P2PB_DW_CAP_LOOP, "config",
				  "extended capability pointer 0x%03x points below 0x100; list cut "
				  "there",
				  pos);
			return;
		}
		header = pci_read_long(s->pd, (int)pos);
		if (header == 0 || header == 0xffffffff)
			return;
	}
}

static void
fill_pcie(struct scan *s, unsigned pos)
{
	struct p2pb_dev *d = cur_dev(s);
	uint32_t lnkcap = pci_read_long(s->pd, (int)pos + PCI_EXP_LNKCAP);
	uint16_t lnksta = pci_read_word(s->pd, (int)pos + PCI_EXP_LNKSTA);

	d->port_type = (pci_read_word(s->pd, (int)pos + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_TYPE) >> 4;
	d->link.present = true;
	d->link.cap_speed = lnkcap & PCI_EXP_LNKCAP_SPEED;
	d->link.cap_width = (lnkcap & PCI_EXP_LNKCAP_WIDTH) >> 4;
	d->link.speed = lnksta & PCI_EXP_LNKSTA_SPEED;
	d->link.width = (lnksta & PCI_EXP_LNKSTA_WIDTH) >> 4;
}

static void
fill_ext_caps(struct scan *s)
{
	struct p2pb_dev *d = cur_dev(s);
	struct pci_cap *c;

	check_ext_caps(s);
	/* A pointer below 0x100 can lead libpci to "find" a capability in
	 * the standard space; the kernel stops there, so do we. */
	c = pci_find_cap(s->pd, PCI_EXT_CAP_ID_ACS, PCI_CAP_EXTENDED);
	if (c && c->addr >= 0x100 && c->addr + 8 <= s->cfg_len) {
		d->acs.present = true;
		d->acs.pos = (uint16_t)c->addr;
		d->acs.cap = pci_read_word(s->pd, (int)c->addr + PCI_ACS_CAP);
		d->acs.ctrl = pci_read_word(s->pd, (int)c->addr + PCI_ACS_CTRL);
	}
	c = pci_find_cap(s->pd, PCI_EXT_CAP_ID_DSN, PCI_CAP_EXTENDED);
	if (c && c->addr >= 0x100 && c->addr + 12 <= s->cfg_len) {
		d->has_dsn = true;
		d->dsn = (uint64_t)pci_read_long(s->pd, (int)c->addr + 8) << 32 |
			 pci_read_long(s->pd, (int)c->addr + 4);
	}
}

static void
stage_caps(struct scan *s)
{
	struct p2pb_dev *d = cur_dev(s);
	struct pci_cap *c;

	if (!s->cfg_len)
		return;
	check_std_caps(s);
	/* Without the whole 4096 bytes the kernel has no extended
	 * capabilities (cfg_size 256): nor do we. */
	pci_fill_info(s->pd, PCI_FILL_CAPS | (s->cfg_len >= CFG_FULL ? PCI_FILL_EXT_CAPS : 0));
	c = pci_find_cap(s->pd, PCI_CAP_ID_EXP, PCI_CAP_NORMAL);
	if (!c)
		return;
	fill_pcie(s, c->addr);
	if (s->cfg_len >= CFG_FULL)
		fill_ext_caps(s);
	else if (!(d->warnings & P2PB_DW_CONFIG_SHORT))
		note_file(s, P2PB_DW_CONFIG_SHORT, "config",
			  "config space is %zu bytes, shorter than 4096: extended capabilities "
			  "(ACS) unavailable",
			  s->cfg_len);
}

/* --- sysfs reads of our own ------------------------------------------- */

/* libpci reads numa_node with strtol(), which turns garbage into node 0;
 * a wrong node would mislead provider ranking, so read it strictly here. */
static void
read_numa(struct scan *s)
{
	char buf[ATTR_MAX];
	long v;
	int n = read_attr(s, "numa_node", buf, sizeof(buf));

	if (n == -ENOENT)
		return;
	if (n < 0)
		note_file(s, P2PB_DW_SYSFS_ATTR, "numa_node", "%s", strerror(-n));
	else if (parse_long(buf, -1, INT_MAX, &v) < 0)
		note_file(s, P2PB_DW_SYSFS_ATTR, "numa_node", "\"%s\" is not a NUMA node number",
			  buf);
	else
		cur_dev(s)->numa_node = (int)v;
}

/* Without a usable config space, bridges still show their bus numbers in
 * these attributes (present only for bridges). */
static void
bridge_from_attrs(struct scan *s)
{
	struct p2pb_dev *d = cur_dev(s);
	char sec[ATTR_MAX], sub[ATTR_MAX];
	long a, b;

	if (read_attr(s, "secondary_bus_number", sec, sizeof(sec)) < 0 ||
	    read_attr(s, "subordinate_bus_number", sub, sizeof(sub)) < 0)
		return;
	if (parse_long(sec, 0, 255, &a) < 0 || parse_long(sub, 0, 255, &b) < 0) {
		note_file(s, P2PB_DW_SYSFS_ATTR, "secondary_bus_number",
			  "bus numbers \"%s\"/\"%s\" unparsable", sec, sub);
		return;
	}
	d->header_type = PCI_HEADER_TYPE_BRIDGE;
	d->secondary_bus = (uint8_t)a;
	d->subordinate_bus = (uint8_t)b;
}

static void
read_physfn(struct scan *s)
{
	struct p2pb_dev *d = cur_dev(s);
	char rel[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(rel, sizeof(rel), "%s/physfn", s->name);
	n = readlinkat(s->devices_fd, rel, target, sizeof(target) - 1);
	if (n < 0)
		return; /* not a VF */
	target[n] = '\0';
	d->is_virtfn = true;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (parse_canonical_bdf(base, &d->physfn_bdf) == 0)
		d->has_physfn_bdf = true;
	else
		note_file(s, P2PB_DW_SYSFS_ATTR, "physfn", "links to \"%s\", not a PCI function",
			  target);
}

/* The target of the current device's link FILE in target, and its last
 * component in ret_name. -ENOENT when there is no link; -ENOLINK when it
 * leads nowhere. */
static int
read_link_name(struct scan *s, const char *file, char target[PATH_MAX], char *ret_name, size_t size)
{
	char rel[PATH_MAX];
	const char *base;
	struct stat st;
	ssize_t n;

	snprintf(rel, sizeof(rel), "%s/%s", s->name, file);
	n = readlinkat(s->devices_fd, rel, target, PATH_MAX - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	if (fstatat(s->devices_fd, rel, &st, 0) < 0)
		return -ENOLINK;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= size)
		return -ENAMETOOLONG;
	strcpy(ret_name, base);
	return 0;
}

static void
note_link(struct scan *s, const char *file, const char *target, int r)
{
	if (r == -ENOLINK)
		note_file(s, P2PB_DW_SYSFS_ATTR, file, "link to \"%s\" does not resolve", target);
	else if (r == -ENAMETOOLONG)
		note_file(s, P2PB_DW_SYSFS_ATTR, file, "link to \"%s\": name too long", target);
	else
		note_file(s, P2PB_DW_SYSFS_ATTR, file, "%s", strerror(-r));
}

/* libpci would resolve these links with realpath(), a dozen system calls
 * each; the kernel names the group and the driver in the target's last
 * component, which one readlink gives. */
static void
read_links(struct scan *s)
{
	struct p2pb_dev *d = cur_dev(s);
	char target[PATH_MAX], group[NAME_MAX + 1];
	long v;
	int r;

	r = read_link_name(s, "iommu_group", target, group, sizeof(group));
	if (r == 0 && parse_long(group, 0, INT_MAX, &v) == 0)
		d->iommu_group = (int)v;
	else if (r == 0)
		note_file(s, P2PB_DW_SYSFS_ATTR, "iommu_group",
			  "links to \"%s\", which is not an IOMMU group number", group);
	else if (r != -ENOENT)
		note_link(s, "iommu_group", target, r);

	r = read_link_name(s, "driver", target, d->driver, sizeof(d->driver));
	if (r < 0)
		d->driver[0] = '\0';
	if (r < 0 && r != -ENOENT)
		note_link(s, "driver", target, r);
}

/* A kernel link target, "../../../devices/pci0000:00/0000:00:01.0/NAME",
 * spells the device's place lexically: the component before NAME is the
 * parent. Anything else (absolute, "." or ".." inside) is left to
 * realpath(). */
static const char *
lexical_parent(char *target, const char *name)
{
	char *p = target, *last = NULL, *prev = NULL;

	if (*p == '/')
		return NULL;
	while (strncmp(p, "../", 3) == 0)
		p += 3;
	for (char *c = strtok(p, "/"); c; c = strtok(NULL, "/")) {
		if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0)
			return NULL;
		prev = last;
		last = c;
	}
	if (!last || !prev || strcmp(last, name) != 0)
		return NULL;
	return prev;
}

/* The full resolution, staying inside ROOT. */
static char *
resolved_parent(struct scan *s, char **ret_real)
{
	char path[PATH_MAX], *real, *slash, *parent;
	size_t rl = strlen(s->root_real);

	snprintf(path, sizeof(path), "%s/%s", s->devices_path, s->name);
	real = realpath(path, NULL);
	*ret_real = real;
	if (!real) {
		note(s, P2PB_DW_SYSFS_ATTR, "%s: cannot resolve: %s; taken as on a root bus", path,
		     strerror(errno));
		return NULL;
	}
	if (strncmp(real, s->root_real, rl) != 0 || (rl > 1 && real[rl] != '/')) {
		note(s, P2PB_DW_SYSFS_ATTR,
		     "%s: resolves to %s, outside the scanned root; taken as on a root bus", path,
		     real);
		return NULL;
	}
	slash = strrchr(real, '/');
	if (!slash || slash == real)
		return NULL;
	*slash = '\0';
	parent = strrchr(real, '/');
	return parent ? parent + 1 : NULL;
}

/* The parent is the directory the device sits in under sys/devices: a
 * bridge's BDF, or pciDDDD:BB (or anything else) for a root bus. */
static void
read_parent(struct scan *s)
{
	struct p2pb_dev *d = cur_dev(s);
	char target[PATH_MAX], *real = NULL;
	const char *parent = NULL;
	ssize_t n = readlinkat(s->devices_fd, s->name, target, sizeof(target) - 1);

	if (n >= 0) {
		target[n] = '\0';
		parent = lexical_parent(target, s->name);
	}
	if (!parent)
		parent = resolved_parent(s, &real);
	if (parent && parse_canonical_bdf(parent, &d->parent_bdf) == 0)
		d->has_parent_bdf = true;
	free(real);
}

static int
read_p2pmem_value(struct scan *s, const char *file, uint64_t *ret)
{
	char buf[ATTR_MAX];
	int n = read_attr(s, file, buf, sizeof(buf));

	if (n < 0) {
		note_file(s, P2PB_DW_P2PMEM_GARBLED, file, "%s", strerror(-n));
		return n;
	}
	if (parse_u64(buf, ret) < 0) {
		note_file(s, P2PB_DW_P2PMEM_GARBLED, file, "\"%s\" is not a number", buf);
		return -EINVAL;
	}
	return 0;
}

static void
read_p2pmem(struct scan *s)
{
	struct p2pb_p2pmem *m = &cur_dev(s)->p2pmem;
	uint64_t size = 0, avail = 0, pub = 0;
	char buf[ATTR_MAX], rel[PATH_MAX];
	struct stat st;
	int r = read_attr(s, "p2pmem/size", buf, sizeof(buf));

	/* Most functions are no providers: one failed open tells. */
	if (r == -ENOENT || r == -ENOTDIR) {
		snprintf(rel, sizeof(rel), "%s/p2pmem", s->name);
		if (fstatat(s->devices_fd, rel, &st, 0) < 0 || !S_ISDIR(st.st_mode))
			return;
	}
	m->present = true;
	r = read_p2pmem_value(s, "p2pmem/size", &size);
	r |= read_p2pmem_value(s, "p2pmem/available", &avail);
	r |= read_p2pmem_value(s, "p2pmem/published", &pub);
	if (r == 0 && pub > 1) {
		note_file(s, P2PB_DW_P2PMEM_GARBLED, "p2pmem/published", "%llu is neither 0 nor 1",
			  (unsigned long long)pub);
		r = -EINVAL;
	}
	if (r == 0 && avail > size) {
		note_file(s, P2PB_DW_P2PMEM_GARBLED, "p2pmem/available",
			  "%llu available exceeds size %llu", (unsigned long long)avail,
			  (unsigned long long)size);
		r = -EINVAL;
	}
	/* Half-read numbers would be worse than none: a provider whose files
	 * are garbled is reported present, unpublished and empty. */
	if (r == 0) {
		m->size = size;
		m->available = avail;
		m->published = pub == 1;
	}
}

/* --- per function -------------------------------------------------------- */

static const struct stage {
	void (*run)(struct scan *);
	void (*fallback)(struct scan *); /* after a libpci error in run */
	uint32_t bit;			 /* what a libpci error in it means */
} stages[] = {
	{ stage_config, NULL, P2PB_DW_CONFIG_MISSING },
	{ stage_ident, ident_from_config, P2PB_DW_SYSFS_ATTR },
	{ stage_class, class_from_config, P2PB_DW_SYSFS_ATTR },
	{ stage_subsys, NULL, P2PB_DW_SYSFS_ATTR },
	{ stage_header, NULL, P2PB_DW_CONFIG_MISSING },
	{ stage_caps, NULL, P2PB_DW_CAP_LOOP },
};

static void
pd_alloc(struct scan *s)
{
	const struct p2pb_bdf b = cur_dev(s)->bdf;

	s->pd = pci_get_dev(s->acc, (int)b.domain, b.bus, b.dev, b.fn);
}

static void
pd_free(struct scan *s)
{
	pci_free_dev(s->pd);
}

static int
scan_function(struct scan *s, struct p2pb_bdf bdf)
{
	struct p2pb_dev blank = { .bdf = bdf,
				  .iommu_group = P2PB_NONE,
				  .numa_node = -1,
				  .port_type = P2PB_PT_CONVENTIONAL };
	int idx = p2pb_topology_add_dev(s->t, &blank);

	if (idx < 0)
		return idx;
	s->cur = idx;
	s->cfg_len = 0;
	s->pd = NULL;
	p2pb_bdf_format(bdf, s->name);
	if (!run_stage(s, P2PB_DW_SYSFS_ATTR, pd_alloc))
		return s->r < 0 ? s->r : -ENOMEM;
	for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
		if (!run_stage(s, stages[i].bit, stages[i].run) && stages[i].fallback)
			run_stage(s, stages[i].bit, stages[i].fallback);
	run_stage(s, 0, pd_free);
	s->pd = NULL;
	if (!s->cfg_len)
		bridge_from_attrs(s);
	read_numa(s);
	read_links(s);
	read_physfn(s);
	read_parent(s);
	read_p2pmem(s);
	s->cur = P2PB_NONE;
	return s->r;
}

/* --- cpuinfo ----------------------------------------------------------- */

/* "key<tabs/spaces>: value" -> value, when the line's key is key. */
static const char *
cpuinfo_value(const char *line, size_t len, const char *key)
{
	size_t k = strlen(key);
	size_t i = k;

	if (len < k || strncmp(line, key, k) != 0)
		return NULL;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i >= len || line[i] != ':')
		return NULL;
	i++;
	while (i < len && line[i] == ' ')
		i++;
	return line + i;
}

int
p2pb_parse_cpuinfo(const char *text, struct p2pb_cpu *ret)
{
	struct p2pb_cpu cpu = { .known = true };
	bool have_vendor = false, have_family = false;
	const char *line = text;

	if (!text)
		return -EINVAL;
	/* The first processor's block ends at the first empty line. */
	while (*line && *line != '\n' && !(have_vendor && have_family)) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		const char *v;

		if ((v = cpuinfo_value(line, len, "vendor_id"))) {
			size_t n = len - (size_t)(v - line);

			if (n == 0 || n >= sizeof(cpu.vendor))
				return -EINVAL;
			memcpy(cpu.vendor, v, n);
			cpu.vendor[n] = '\0';
			have_vendor = true;
		} else if ((v = cpuinfo_value(line, len, "cpu family"))) {
			char num[16];
			size_t n = len - (size_t)(v - line);
			long fam;

			if (n == 0 || n >= sizeof(num))
				return -EINVAL;
			memcpy(num, v, n);
			num[n] = '\0';
			if (parse_long(num, 0, 0xffff, &fam) < 0)
				return -EINVAL;
			cpu.family = (unsigned)fam;
			have_family = true;
		}
		line += len + (eol ? 1 : 0);
	}
	if (!have_vendor || !have_family)
		return -ENOENT;
	*ret = cpu;
	return 0;
}

static void
read_cpuinfo(struct scan *s, const char *root)
{
	char path[PATH_MAX], buf[16384];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/proc/cpuinfo", root);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* The first processor's block is near the start; /proc files may
	 * return less than asked per read, so read until full or EOF. */
	size_t have = 0;

	while (have < sizeof(buf) - 1 && (n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0)
		have += (size_t)n;
	close(fd);
	buf[have] = '\0';
	if (p2pb_parse_cpuinfo(buf, &s->t->cpu) < 0) {
		int r = p2pb_topology_warn(s->t, P2PB_NONE,
					   "%s: no vendor_id and cpu family for the first "
					   "processor; the kernel's AMD rule cannot be applied",
					   path);
		if (r < 0 && s->r == 0)
			s->r = r;
	}
}

/* --- the scan ---------------------------------------------------------- */

static void
lib_init(struct scan *s)
{
	/* libpci's sysfs.path names sys/bus/pci and adds "/devices" itself. */
	size_t n = strlen(s->devices_path) - strlen("/devices");
	char *sysfs = strndup(s->devices_path, n);

	if (!sysfs) {
		s->r = -ENOMEM;
		return;
	}
	s->acc = pci_alloc();
	s->acc->error = lib_error;
	s->acc->warning = lib_warning;
	s->acc->debug = lib_debug;
	s->acc->method = PCI_ACCESS_SYS_BUS_PCI;
	pci_set_param(s->acc, "sysfs.path", sysfs);
	free(sysfs);
	pci_init(s->acc);
}

static void
lib_cleanup(struct scan *s)
{
	pci_cleanup(s->acc);
	s->acc = NULL;
}

static void
scan_free(struct scan *s)
{
	if (s->acc)
		run_stage(s, 0, lib_cleanup);
	scan_current = NULL;
	if (s->devices_fd >= 0)
		close(s->devices_fd);
	free(s->devices_path);
	free(s->root_real);
	p2pb_topology_free(s->t);
	free(s);
}

static int
scan_open(const char *root, struct scan **ret)
{
	struct scan *s = calloc(1, sizeof(*s));
	int r = -ENOMEM;

	if (!s)
		return -ENOMEM;
	s->devices_fd = -1;
	s->cur = P2PB_NONE;
	scan_current = s;
	s->t = p2pb_topology_new();
	if (!s->t || asprintf(&s->devices_path, "%s/sys/bus/pci/devices", root) < 0) {
		s->devices_path = NULL;
		goto fail;
	}
	s->t->root = strdup(root[0] ? root : "/");
	s->root_real = realpath(root[0] ? root : "/", NULL);
	if (!s->t->root || !s->root_real) {
		r = s->t->root && errno != ENOMEM ? -errno : -ENOMEM;
		goto fail;
	}
	if (!run_stage(s, 0, lib_init) || s->r < 0) {
		r = s->r < 0 ? s->r : -EIO;
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	scan_free(s);
	return r;
}

static int
scan_devices(struct scan *s)
{
	DIR *dir;
	struct dirent *e;
	int r = 0;

	s->devices_fd = open(s->devices_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->devices_fd < 0)
		return -errno;
	dir = fdopendir(dup(s->devices_fd));
	if (!dir)
		return -errno;
	while (r == 0 && (e = readdir(dir))) {
		struct p2pb_bdf b;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (parse_canonical_bdf(e->d_name, &b) < 0) {
			r = p2pb_topology_warn(s->t, P2PB_NONE,
					       "%s/%s: not a PCI function name; entry skipped",
					       s->devices_path, e->d_name);
			continue;
		}
		r = scan_function(s, b);
	}
	closedir(dir);
	return r;
}

int
p2pb_scan(const char *root, struct p2pb_topology **ret)
{
	struct scan *s = NULL;
	char *devices = NULL;
	struct stat st;
	int r;

	if (!root || strcmp(root, "/") == 0)
		root = "";
	if (asprintf(&devices, "%s/sys/bus/pci/devices", root) < 0)
		return -ENOMEM;
	r = stat(devices, &st) < 0 ? -errno : !S_ISDIR(st.st_mode) ? -ENOTDIR : 0;
	free(devices);
	if (r < 0)
		return r;
	r = scan_open(root, &s);
	if (r < 0)
		return r;
	r = scan_devices(s);
	if (r >= 0)
		read_cpuinfo(s, root);
	if (r >= 0)
		r = s->r;
	if (r >= 0)
		r = p2pb_topology_finish(s->t);
	if (r >= 0) {
		*ret = s->t;
		s->t = NULL;
	}
	scan_free(s);
	return r < 0 ? r : 0;
}
