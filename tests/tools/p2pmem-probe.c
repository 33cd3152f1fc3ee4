/* p2pmem-probe.c - asks the running kernel for its own P2P DMA verdict: maps a buffer from a
 * provider's p2pmem and reads into it from a client NVMe drive with O_DIRECT (VM tests). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_BYTES (64 * 1024)
#define POISON	      0xa5

struct probe {
	const char *sysfs; /* normally /sys */
	const char *provider;
	const char *client;
	const char *block; /* client block device; found through sysfs when NULL */
	size_t bytes;
	uint64_t offset; /* on the client drive */
	bool verify;
};

/* What one probe found; printed as one line of key=value pairs. */
struct outcome {
	char block[PATH_MAX];
	const char *stage; /* where it stopped: "done" or the failing step */
	int err;	   /* 0 or a positive errno */
	const char *verify;
	long long avail_before, avail_mapped;
	size_t first_bad; /* offset of the first wrong byte when verify=mismatch */
};

/* snprintf that reports truncation: sysfs paths are built from names given by the user. */
__attribute__((format(printf, 3, 4))) static int
path_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static const char *
errno_name(int err)
{
	const char *n = strerrorname_np(err);
	return n ? n : "EUNKNOWN";
}

static int
read_ll(const char *path, long long *ret)
{
	char buf[64], *end;
	ssize_t n;
	long long v;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ENODATA;
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 0);
	if (errno || end == buf || (*end != '\n' && *end != '\0'))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* In controller directory DIR (sysfs .../nvme/nvmeX), the first namespace nvmeXnY that is a
 * block device (has a dev file): the kernel lists namespaces below their controller. */
static int
find_namespace(const char *dir, const char *ctrl, char *ret, size_t len)
{
	char dev[PATH_MAX];
	size_t cl = strlen(ctrl);
	struct dirent *e;
	DIR *d = opendir(dir);
	int r = -ENOENT;

	if (!d)
		return -errno;
	while (r == -ENOENT && (e = readdir(d))) {
		if (strncmp(e->d_name, ctrl, cl) != 0 || e->d_name[cl] != 'n')
			continue;
		if (path_fmt(dev, sizeof(dev), "%s/%s/dev", dir, e->d_name) < 0 ||
		    access(dev, R_OK) != 0)
			continue;
		r = path_fmt(ret, len, "/dev/%s", e->d_name);
	}
	closedir(d);
	return r;
}

/* The block device of the NVMe function BDF: SYSFS/bus/pci/devices/BDF/nvme/nvmeX/nvmeXnY. */
static int
find_block(const char *sysfs, const char *bdf, char *ret, size_t len)
{
	char path[PATH_MAX], ctrl[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int r;

	r = path_fmt(path, sizeof(path), "%s/bus/pci/devices/%s/nvme", sysfs, bdf);
	if (r < 0)
		return r;
	d = opendir(path);
	if (!d)
		return -errno;
	r = -ENOENT;
	while (r < 0 && (e = readdir(d))) {
		if (strncmp(e->d_name, "nvme", 4) != 0)
			continue;
		if (path_fmt(ctrl, sizeof(ctrl), "%s/%s", path, e->d_name) == 0)
			r = find_namespace(ctrl, e->d_name, ret, len);
	}
	closedir(d);
	return r;
}

/* A pattern that cannot be mistaken for zeroes, the poison, or another run's data. */
static void
fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed | 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

static int
write_pattern(int fd, const struct probe *p, uint8_t **ret_pattern)
{
	void *buf;
	ssize_t n;

	if (posix_memalign(&buf, 4096, p->bytes) != 0)
		return -ENOMEM;
	fill_pattern(buf, p->bytes, (uint32_t)getpid() ^ (uint32_t)time(NULL));
	n = pwrite(fd, buf, p->bytes, (off_t)p->offset);
	if (n != (ssize_t)p->bytes) {
		int err = n < 0 ? errno : EIO;

		free(buf);
		return -err;
	}
	*ret_pattern = buf;
	return 0;
}

/* Compares through volatile reads: the buffer is device memory behind a BAR. */
static bool
same_bytes(const volatile uint8_t *mem, const uint8_t *want, size_t len, size_t *ret_bad)
{
	for (size_t i = 0; i < len; i++) {
		if (mem[i] != want[i]) {
			*ret_bad = i;
			return false;
		}
	}
	return true;
}

static void
fail_at(struct outcome *o, const char *stage, int err)
{
	o->stage = stage;
	o->err = err < 0 ? -err : err;
}

/* With the p2pmem buffer mapped: optionally write the pattern, then read into the buffer. */
static void
transfer(const struct probe *p, struct outcome *o, volatile uint8_t *mem)
{
	uint8_t *pattern = NULL;
	ssize_t n;
	int fd, r;

	fd = open(o->block, (p->verify ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return fail_at(o, "open-block", errno);
	if (p->verify) {
		r = write_pattern(fd, p, &pattern);
		if (r < 0) {
			close(fd);
			return fail_at(o, "write", r);
		}
	}
	memset((void *)mem, POISON, p->bytes);
	n = pread(fd, (void *)mem, p->bytes, (off_t)p->offset);
	close(fd);
	if (n != (ssize_t)p->bytes) {
		free(pattern);
		return fail_at(o, "read", n < 0 ? errno : EIO);
	}
	o->stage = "done";
	if (pattern)
		o->verify =
			same_bytes(mem, pattern, p->bytes, &o->first_bad) ? "match" : "mismatch";
	free(pattern);
}

/* SYSFS/bus/pci/devices/BDF/p2pmem/NAME */
static int
p2pmem_path(const struct probe *p, const char *name, char *ret, size_t len)
{
	return path_fmt(ret, len, "%s/bus/pci/devices/%s/p2pmem/%s", p->sysfs, p->provider, name);
}

static void
probe_run(const struct probe *p, struct outcome *o)
{
	char avail[PATH_MAX], alloc[PATH_MAX];
	void *mem;
	int fd, r;

	r = p2pmem_path(p, "available", avail, sizeof(avail));
	if (r == 0)
		r = p2pmem_path(p, "allocate", alloc, sizeof(alloc));
	if (r == 0 && p->block)
		r = path_fmt(o->block, sizeof(o->block), "%s", p->block);
	else if (r == 0)
		r = find_block(p->sysfs, p->client, o->block, sizeof(o->block));
	if (r < 0)
		return fail_at(o, "find-block", r);
	read_ll(avail, &o->avail_before);
	fd = open(alloc, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail_at(o, "open-allocate", errno);
	mem = mmap(NULL, p->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (mem == MAP_FAILED)
		return fail_at(o, "mmap", errno);
	/* available drops by the mapped length while the mapping lives */
	read_ll(avail, &o->avail_mapped);
	transfer(p, o, mem);
	munmap(mem, p->bytes);
}

static void
print_outcome(const struct probe *p, const struct outcome *o)
{
	const char *result = o->err ? errno_name(o->err) : "ok";

	if (!o->err && strcmp(o->verify, "mismatch") == 0)
		result = "mismatch";
	printf("provider=%s client=%s block=%s bytes=%zu result=%s stage=%s errno=%d verify=%s "
	       "available_before=%lld available_mapped=%lld",
	       p->provider, p->client, o->block[0] ? o->block : "-", p->bytes, result, o->stage,
	       o->err, o->verify, o->avail_before, o->avail_mapped);
	if (strcmp(o->verify, "mismatch") == 0)
		printf(" first_bad=%zu", o->first_bad);
	putchar('\n');
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: p2pmem-probe [--verify] [--bytes N] [--offset N] [--block DEV] "
		"[--sysfs DIR] PROVIDER CLIENT\n"
		"Maps N bytes (default %d) of PROVIDER's p2pmem and reads them with O_DIRECT from\n"
		"CLIENT's NVMe namespace into that buffer; --verify first writes a pattern there\n"
		"and checks that it arrived. Prints one line of key=value pairs; result= is ok,\n"
		"mismatch or the errno name (EREMOTEIO: the kernel refused the pair).\n"
		"Exit: 0 ok, 3 EREMOTEIO, 1 any other failure, 2 usage.\n",
		DEFAULT_BYTES);
}

static int
parse_size(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int
parse_args(int argc, char **argv, struct probe *p)
{
	static const struct option opts[] = {
		{ "verify", no_argument, NULL, 'v' },
		{ "bytes", required_argument, NULL, 'n' },
		{ "offset", required_argument, NULL, 'o' },
		{ "block", required_argument, NULL, 'b' },
		{ "sysfs", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "vn:o:b:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			p->verify = true;
			break;
		case 'n':
			if (parse_size(optarg, &v) < 0 || v == 0 || v % 512 || v > SIZE_MAX)
				return -EINVAL;
			p->bytes = v;
			break;
		case 'o':
			if (parse_size(optarg, &p->offset) < 0 || p->offset % 512)
				return -EINVAL;
			break;
		case 'b':
			p->block = optarg;
			break;
		case 's':
			p->sysfs = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (argc - optind != 2)
		return -EINVAL;
	p->provider = argv[optind];
	p->client = argv[optind + 1];
	return 0;
}

int
main(int argc, char **argv)
{
	struct probe p = { .sysfs = "/sys", .bytes = DEFAULT_BYTES };
	struct outcome o = {
		.stage = "start", .verify = "off", .avail_before = -1, .avail_mapped = -1
	};

	if (parse_args(argc, argv, &p) < 0) {
		usage(stderr);
		return 2;
	}
	if (p.verify)
		o.verify = "not-run";
	probe_run(&p, &o);
	print_outcome(&p, &o);
	if (o.err == EREMOTEIO)
		return 3;
	return o.err || strcmp(o.verify, "mismatch") == 0 ? 1 : 0;
}
