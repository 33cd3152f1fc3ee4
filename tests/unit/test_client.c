/* test_client.c - libp2pbroker against a fake daemon on a temporary unix socket:
 * framing, large replies, fds passed with a reply, errors, timeouts, conversions. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "p2pbroker.h"
#include "p2pbroker.pb-c.h"
#include "protocol.h"

typedef P2pbroker__V1__Reply Reply;
typedef P2pbroker__V1__Request Request;

/* ---- the fake daemon -------------------------------------------------- */

struct fake;
/* Answers one request (or misbehaves, which is the point of most tests). */
typedef void (*serve_fn)(struct fake *f, int conn, const P2pbroker__V1__Request *req);

struct fake {
	char dir[64];
	char path[128];
	int listen_fd;
	pthread_t thread;
	serve_fn serve;
	/* What the server saw, checked by the tests after join. */
	int n_requests;
	uint64_t last_id;
	uint32_t last_version;
	int last_body_case;
	size_t last_n_clients;
	uint32_t last_provider_bus;
	int pass_fds[2]; /* fds a scenario passes with its reply */
};

static int
read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one request frame; NULL when the client has gone. */
static Request *
read_request(struct fake *f, int conn)
{
	uint8_t hdr[4], *body;
	uint32_t len;
	Request *req;

	if (read_full(conn, hdr, 4) < 0)
		return NULL;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	assert_true(len <= P2PB_MAX_REQUEST_BYTES);
	body = malloc(len + 1);
	assert_non_null(body);
	assert_int_equal(read_full(conn, body, len), 0);
	req = p2pbroker__v1__request__unpack(NULL, len, body);
	free(body);
	assert_non_null(req);
	f->n_requests++;
	f->last_id = req->id;
	f->last_version = req->version;
	f->last_body_case = req->body_case;
	if (req->body_case == P2PBROKER__V1__REQUEST__BODY_PROVIDERS)
		f->last_n_clients = req->providers->n_clients;
	if (req->body_case == P2PBROKER__V1__REQUEST__BODY_PATH && req->path->provider)
		f->last_provider_bus = req->path->provider->bus;
	return req;
}

static void
write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			return; /* the client gave up; the test checks its side */
		p += n;
		len -= (size_t)n;
	}
}

static uint8_t *
frame(const Reply *rep, size_t *ret_len)
{
	size_t len = p2pbroker__v1__reply__get_packed_size(rep);
	uint8_t *buf = malloc(len + 4);

	assert_non_null(buf);
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	p2pbroker__v1__reply__pack(rep, buf + 4);
	*ret_len = len + 4;
	return buf;
}

/* Sends a framed reply; fds ride on its first byte as the daemon does it. */
static void
send_reply(int conn, const Reply *rep, const int *fds, size_t n_fds)
{
	size_t len;
	uint8_t *buf = frame(rep, &len);

	if (n_fds) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} control = { 0 };
		struct iovec iov = { .iov_base = buf, .iov_len = 1 };
		struct msghdr m = { .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control.buf,
				    .msg_controllen = CMSG_SPACE(sizeof(int) * n_fds) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
		assert_int_equal(sendmsg(conn, &m, 0), 1);
		write_all(conn, buf + 1, len - 1);
	} else {
		write_all(conn, buf, len);
	}
	free(buf);
}

static void *
fake_thread(void *arg)
{
	struct fake *f = arg;
	int conn = accept(f->listen_fd, NULL, NULL);
	Request *req;

	if (conn < 0)
		return NULL;
	/* Until the client goes away (or a handler shuts the connection). */
	while ((req = read_request(f, conn))) {
		f->serve(f, conn, req);
		p2pbroker__v1__request__free_unpacked(req, NULL);
	}
	close(conn);
	return NULL;
}

static void
fake_start(struct fake *f, serve_fn serve)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	f->serve = serve;
	f->pass_fds[0] = f->pass_fds[1] = -1;
	strcpy(f->dir, "/tmp/p2pb-test-client-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/socket", f->dir);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->listen_fd >= 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listen_fd, 4), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_thread, f), 0);
}

static void
fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	unlink(f->path);
	rmdir(f->dir);
}

static struct p2pb_client *
connect_to(struct fake *f)
{
	struct p2pb_client *c = NULL;

	assert_int_equal(p2pb_connect(f->path, &c), 0);
	assert_non_null(c);
	return c;
}

static void
init_reply(Reply *rep, const Request *req)
{
	p2pbroker__v1__reply__init(rep);
	rep->id = req->id;
}

static void
serve_status_fds(struct fake *f, int conn, const Request *req, const int *fds, size_t n_fds)
{
	P2pbroker__V1__StatusReply s = P2PBROKER__V1__STATUS_REPLY__INIT;
	Reply rep;

	init_reply(&rep, req);
	s.version = "9.8.7";
	s.protocol = P2PB_PROTOCOL_VERSION;
	s.root = "/fixture";
	s.generation = 42;
	s.n_devices = 17;
	s.n_providers = 3;
	s.cpu_known = 1;
	s.cpu_vendor = "AuthenticAMD";
	s.cpu_family = 0x19;
	rep.n_fds = (uint32_t)n_fds;
	rep.body_case = P2PBROKER__V1__REPLY__BODY_STATUS_REPLY;
	rep.status_reply = &s;
	send_reply(conn, &rep, fds, n_fds);
}

static void
serve_status(struct fake *f, int conn, const Request *req)
{
	serve_status_fds(f, conn, req, NULL, 0);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- normal exchange ------------------------------------------------------ */

static void
test_status_reply(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_status_info *s = NULL;

	fake_start(&f, serve_status);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_status(c, &s), 0);
	assert_string_equal(s->version, "9.8.7");
	assert_string_equal(s->root, "/fixture");
	assert_int_equal(s->generation, 42);
	assert_int_equal(s->n_devices, 17);
	assert_int_equal(s->n_providers, 3);
	assert_true(s->cpu_known);
	assert_string_equal(s->cpu_vendor, "AuthenticAMD");
	assert_int_equal(s->cpu_family, 0x19);
	assert_string_equal(p2pb_last_error(c), "");
	s = p2pb_status_info_free(s);
	assert_int_equal(p2pb_get_status(c, &s), 0);
	s = p2pb_status_info_free(s);
	p2pb_disconnect(c);
	fake_stop(&f);
	/* Each request carries the protocol version and a fresh id. */
	assert_int_equal(f.n_requests, 2);
	assert_int_equal(f.last_id, 2);
	assert_int_equal(f.last_version, P2PB_PROTOCOL_VERSION);
	assert_int_equal(f.last_body_case, P2PBROKER__V1__REQUEST__BODY_STATUS);
}

/* ---- a reply far larger than the socket buffers ------------------------- */

#define BIG_N 20000
#define I     12347

static void
serve_big_topology(struct fake *f, int conn, const Request *req)
{
	P2pbroker__V1__TopologyReply t = P2PBROKER__V1__TOPOLOGY_REPLY__INIT;
	P2pbroker__V1__Device *devs = calloc(BIG_N, sizeof(*devs)), **dp;
	P2pbroker__V1__Bdf *bdfs = calloc(BIG_N, sizeof(*bdfs)), parent, *down[2];
	P2pbroker__V1__Link link = P2PBROKER__V1__LINK__INIT;
	P2pbroker__V1__Acs acs = P2PBROKER__V1__ACS__INIT;
	P2pbroker__V1__P2pmem mem = P2PBROKER__V1__P2PMEM__INIT;
	P2pbroker__V1__HostBridge hb = P2PBROKER__V1__HOST_BRIDGE__INIT, *hbp = &hb;
	P2pbroker__V1__Switch sw = P2PBROKER__V1__SWITCH__INIT, *swp = &sw;
	P2pbroker__V1__Warning w = P2PBROKER__V1__WARNING__INIT, *wp = &w;
	Reply rep;

	dp = calloc(BIG_N, sizeof(*dp));
	assert_true(devs && bdfs && dp);
	p2pbroker__v1__bdf__init(&parent);
	parent.bus = 0x01;
	link = (P2pbroker__V1__Link)P2PBROKER__V1__LINK__INIT;
	link.cap_speed = 4;
	link.cap_width = 16;
	link.speed = 3;
	link.width = 8;
	acs.pos = 0x220;
	acs.cap = 0x7f;
	acs.ctrl = 0x1d;
	mem.size = 1u << 24;
	mem.available = 1u << 23;
	mem.published = 1;
	for (size_t i = 0; i < BIG_N; i++) {
		p2pbroker__v1__bdf__init(&bdfs[i]);
		bdfs[i].domain = (uint32_t)(i / 8192);
		bdfs[i].bus = (uint32_t)((i / 32) % 256);
		bdfs[i].dev = (uint32_t)(i % 32);
		p2pbroker__v1__device__init(&devs[i]);
		devs[i].bdf = &bdfs[i];
		devs[i].vendor = 0x10de;
		devs[i].device = (uint32_t)(i & 0xffff);
		devs[i].class_code = 0x030200;
		devs[i].port_type = 0;
		devs[i].link = &link;
		devs[i].acs = (i % 2) ? &acs : NULL;
		devs[i].parent = &parent;
		devs[i].iommu_group = (int32_t)i;
		devs[i].numa_node = (int32_t)(i % 2);
		devs[i].driver = "nvidia";
		devs[i].p2pmem = (i % 3 == 0) ? &mem : NULL;
		devs[i].switch_index = -1;
		devs[i].has_dsn = 1;
		devs[i].dsn = 0x0123456789abcdefull + i;
		dp[i] = &devs[i];
	}
	hb.whitelisted = 1;
	sw.upstream = &bdfs[1];
	down[0] = &bdfs[2];
	down[1] = &bdfs[3];
	sw.n_downstream = 2;
	sw.downstream = down;
	sw.parent_switch = -1;
	w.device = &bdfs[7];
	w.message = "config space of 0000:00:07.0 is 256 bytes";
	t.generation = 5;
	t.n_devices = BIG_N;
	t.devices = dp;
	t.n_hostbridges = 1;
	t.hostbridges = &hbp;
	t.n_switches = 1;
	t.switches = &swp;
	t.n_warnings = 1;
	t.warnings = &wp;
	init_reply(&rep, req);
	rep.body_case = P2PBROKER__V1__REPLY__BODY_TOPOLOGY;
	rep.topology = &t;
	/* Large enough that the client must read it in many pieces. */
	assert_true(p2pbroker__v1__reply__get_packed_size(&rep) > 1024 * 1024);
	send_reply(conn, &rep, NULL, 0);
	free(dp);
	free(bdfs);
	free(devs);
}

static void
test_large_reply(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_topology_info *t = NULL;
	const struct p2pb_device_info *d;

	fake_start(&f, serve_big_topology);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_topology(c, &t), 0);
	assert_int_equal(t->generation, 5);
	assert_int_equal(t->n_devices, BIG_N);
	/* Index I is odd (ACS) and not a multiple of 3 (no p2pmem); I + 1 has p2pmem. */
	d = t->devices[I];
	assert_int_equal(d->address.domain, I / 8192);
	assert_int_equal(d->address.bus, (I / 32) % 256);
	assert_int_equal(d->address.dev, I % 32);
	assert_int_equal(d->device, I);
	assert_int_equal(d->vendor, 0x10de);
	assert_int_equal(d->class_code, 0x030200);
	assert_true(d->has_link);
	assert_int_equal(d->link_cap_speed, 4);
	assert_int_equal(d->link_width, 8);
	assert_true(d->has_acs);
	assert_int_equal(d->acs_ctrl, 0x1d);
	assert_int_equal(d->acs_pos, 0x220);
	assert_false(t->devices[I - 1]->has_acs);
	assert_true(d->has_parent);
	assert_int_equal(d->parent.bus, 1);
	assert_int_equal(d->iommu_group, I);
	assert_int_equal(d->numa_node, 1);
	assert_string_equal(d->driver, "nvidia");
	assert_false(d->has_p2pmem);
	assert_true(t->devices[I + 1]->has_p2pmem);
	assert_true(t->devices[I + 1]->p2pmem_published);
	assert_int_equal(t->devices[I + 1]->p2pmem_available, 1u << 23);
	assert_true(d->has_dsn);
	assert_int_equal(d->dsn, 0x0123456789abcdefull + I);
	assert_int_equal(d->switch_index, -1);
	assert_int_equal(t->n_hostbridges, 1);
	assert_true(t->hostbridges[0]->whitelisted);
	assert_false(t->hostbridges[0]->has_whitelist_dev);
	assert_int_equal(t->n_switches, 1);
	assert_int_equal(t->switches[0]->n_downstream, 2);
	assert_int_equal(t->switches[0]->downstream[1].dev, 3);
	assert_int_equal(t->switches[0]->parent_switch, -1);
	assert_int_equal(t->n_warnings, 1);
	assert_true(t->warnings[0]->has_device);
	assert_int_equal(t->warnings[0]->device.dev, 7);
	assert_string_equal(t->warnings[0]->message, "config space of 0000:00:07.0 is 256 bytes");
	p2pb_topology_info_free(t);
	p2pb_disconnect(c);
	fake_stop(&f);
}

/* ---- file descriptors passed with a reply ------------------------------- */

static void
serve_pass_fds(struct fake *f, int conn, const Request *req)
{
	serve_status_fds(f, conn, req, f->pass_fds, 2);
	close(f->pass_fds[0]);
	close(f->pass_fds[1]);
}

static void
test_fds_received(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_status_info *s = NULL;
	int pipefd[2], got[4] = { -1, -1, -1, -1 };
	char buf[8] = "";

	assert_int_equal(pipe(pipefd), 0);
	fake_start(&f, serve_pass_fds);
	f.pass_fds[0] = pipefd[0];
	f.pass_fds[1] = pipefd[1];
	c = connect_to(&f);
	assert_int_equal(p2pb_get_status(c, &s), 0);
	assert_int_equal(s->generation, 42);
	/* Taking none (into no array) is allowed and leaves them (found by
	 * fuzz/fuzz_reply.c: it once passed NULL to memcpy). */
	assert_int_equal(p2pb_take_fds(c, NULL, 0), 0);
	/* Both arrive, close-on-exec, and work: the pipe carries bytes. */
	assert_int_equal(p2pb_take_fds(c, got, 4), 2);
	assert_int_equal(p2pb_take_fds(c, got + 2, 2), 0);
	assert_true(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(got[1], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(got[1], "lease", 5), 5);
	assert_int_equal(read(got[0], buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "lease", 5);
	close(got[0]);
	close(got[1]);
	p2pb_status_info_free(s);
	p2pb_disconnect(c);
	fake_stop(&f);
}

static void
test_untaken_fds_closed(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_status_info *s = NULL;
	int pipefd[2], devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	char buf[4];

	/* The client receives the pipe's write end (and /dev/null) but never
	 * takes them: disconnecting must close them, so the read end sees EOF. */
	assert_true(devnull >= 0);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC | O_NONBLOCK), 0);
	fake_start(&f, serve_pass_fds);
	f.pass_fds[0] = devnull;
	f.pass_fds[1] = pipefd[1];
	c = connect_to(&f);
	assert_int_equal(p2pb_get_status(c, &s), 0);
	p2pb_status_info_free(s);
	/* Still held by the library: no EOF yet. */
	assert_int_equal(read(pipefd[0], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	p2pb_disconnect(c);
	fake_stop(&f);
	assert_int_equal(read(pipefd[0], buf, sizeof(buf)), 0);
	close(pipefd[0]);
}

static void
serve_fd_count_lie(struct fake *f, int conn, const Request *req)
{
	P2pbroker__V1__StatusReply s = P2PBROKER__V1__STATUS_REPLY__INIT;
	Reply rep;

	init_reply(&rep, req);
	rep.n_fds = 1; /* but none is sent */
	rep.body_case = P2PBROKER__V1__REPLY__BODY_STATUS_REPLY;
	rep.status_reply = &s;
	send_reply(conn, &rep, NULL, 0);
}

static void
test_fd_count_mismatch(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_status_info *s = NULL;

	fake_start(&f, serve_fd_count_lie);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_status(c, &s), -EPROTO);
	assert_null(s);
	assert_non_null(strstr(p2pb_last_error(c), "file descriptors"));
	p2pb_disconnect(c);
	fake_stop(&f);
}

/* ---- the daemon misbehaves ----------------------------------------------- */

static void
serve_close_mid_reply(struct fake *f, int conn, const Request *req)
{
	static const uint8_t partial[] = { 0, 0, 0x03, 0xe8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

	write_all(conn, partial, sizeof(partial)); /* 10 of 1000 bytes */
	shutdown(conn, SHUT_RDWR);
}

static void
test_close_mid_reply(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_status_info *s = NULL;

	fake_start(&f, serve_close_mid_reply);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_status(c, &s), -ECONNRESET);
	assert_null(s);
	assert_non_null(strstr(p2pb_last_error(c), "middle of a 1000-byte reply"));
	/* The stream is lost: later calls say so instead of hanging. */
	assert_int_equal(p2pb_get_status(c, &s), -ENOTCONN);
	assert_non_null(strstr(p2pb_last_error(c), "lost"));
	p2pb_disconnect(c);
	fake_stop(&f);
}

static void
serve_close_without_reply(struct fake *f, int conn, const Request *req)
{
	shutdown(conn, SHUT_RDWR);
}

static void
test_close_before_reply(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_status_info *s = NULL;

	fake_start(&f, serve_close_without_reply);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_status(c, &s), -ECONNRESET);
	assert_non_null(strstr(p2pb_last_error(c), "without replying"));
	p2pb_disconnect(c);
	fake_stop(&f);
}

static void
serve_silence(struct fake *f, int conn, const Request *req)
{
	/* Reads the request and never answers: a stuck daemon. */
}

static void
test_timeout(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_status_info *s = NULL;
	int64_t start, took;

	fake_start(&f, serve_silence);
	c = connect_to(&f);
	assert_int_equal(p2pb_set_timeout(c, 200), 0);
	start = now_ms();
	assert_int_equal(p2pb_get_status(c, &s), -ETIMEDOUT);
	took = now_ms() - start;
	assert_true(took >= 190);
	assert_true(took < 5000);
	assert_null(s);
	assert_non_null(strstr(p2pb_last_error(c), "within 200 ms"));
	p2pb_disconnect(c); /* ends the fake's read loop */
	fake_stop(&f);
	assert_int_equal(f.n_requests, 1);
}

static void
serve_huge_length(struct fake *f, int conn, const Request *req)
{
	static const uint8_t hdr[] = { 0xff, 0xff, 0xff, 0xff, 0x08, 0x01 };

	write_all(conn, hdr, sizeof(hdr));
}

static void
test_bad_length_header(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_status_info *s = NULL;

	fake_start(&f, serve_huge_length);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_status(c, &s), -EMSGSIZE);
	assert_null(s);
	assert_non_null(strstr(p2pb_last_error(c), "4294967295"));
	assert_int_equal(p2pb_get_status(c, &s), -ENOTCONN);
	p2pb_disconnect(c);
	fake_stop(&f);
}

static void
serve_garbage(struct fake *f, int conn, const Request *req)
{
	static const uint8_t junk[] = { 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff };

	write_all(conn, junk, sizeof(junk));
}

static void
test_undecodable_reply(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_status_info *s = NULL;

	fake_start(&f, serve_garbage);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_status(c, &s), -EPROTO);
	assert_non_null(strstr(p2pb_last_error(c), "undecodable"));
	p2pb_disconnect(c);
	fake_stop(&f);
}

static void
serve_wrong_id(struct fake *f, int conn, const Request *req)
{
	P2pbroker__V1__StatusReply s = P2PBROKER__V1__STATUS_REPLY__INIT;
	Reply rep;

	init_reply(&rep, req);
	rep.id = req->id + 100;
	rep.body_case = P2PBROKER__V1__REPLY__BODY_STATUS_REPLY;
	rep.status_reply = &s;
	send_reply(conn, &rep, NULL, 0);
}

static void
test_wrong_reply_id(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_status_info *s = NULL;

	fake_start(&f, serve_wrong_id);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_status(c, &s), -EPROTO);
	assert_non_null(strstr(p2pb_last_error(c), "reply id 101 does not match request id 1"));
	p2pb_disconnect(c);
	fake_stop(&f);
}

static void
serve_wrong_body(struct fake *f, int conn, const Request *req)
{
	P2pbroker__V1__RescanReply r = P2PBROKER__V1__RESCAN_REPLY__INIT;
	Reply rep;

	init_reply(&rep, req);
	rep.body_case = P2PBROKER__V1__REPLY__BODY_RESCAN;
	rep.rescan = &r;
	send_reply(conn, &rep, NULL, 0);
}

static void
test_wrong_reply_body(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_status_info *s = NULL;

	fake_start(&f, serve_wrong_body);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_status(c, &s), -EPROTO);
	assert_null(s);
	p2pb_disconnect(c);
	fake_stop(&f);
}

/* ---- daemon errors are reported and keep the connection ------------------ */

static void
serve_not_found_then_ok(struct fake *f, int conn, const Request *req)
{
	Reply rep;

	if (f->n_requests > 1) {
		serve_status(f, conn, req);
		return;
	}
	init_reply(&rep, req);
	rep.status = P2PBROKER__V1__STATUS_CODE__STATUS_NOT_FOUND;
	rep.message = "no device 0000:99:00.0";
	send_reply(conn, &rep, NULL, 0);
}

static void
test_daemon_error(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_path_info *p = NULL;
	struct p2pb_status_info *s = NULL;
	struct p2pb_address a = { .bus = 0x99 }, b = { .bus = 0x01 };

	fake_start(&f, serve_not_found_then_ok);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_path(c, a, b, &p), -ENOENT);
	assert_null(p);
	assert_string_equal(p2pb_last_error(c), "p2pbrokerd: no device 0000:99:00.0 (not found)");
	assert_int_equal(f.last_provider_bus, 0x99);
	assert_int_equal(p2pb_get_status(c, &s), 0);
	assert_string_equal(p2pb_last_error(c), "");
	p2pb_status_info_free(s);
	p2pb_disconnect(c);
	fake_stop(&f);
}

/* ---- conversions of path, providers, matrix ------------------------------- */

static void
serve_answers(struct fake *f, int conn, const Request *req)
{
	P2pbroker__V1__Bdf b[4], *bp[4];
	uint32_t ctrl[2] = { 0x1d, 0x04 };
	P2pbroker__V1__PathReply path = P2PBROKER__V1__PATH_REPLY__INIT;
	P2pbroker__V1__ProvidersReply prov = P2PBROKER__V1__PROVIDERS_REPLY__INIT;
	P2pbroker__V1__ProviderEntry pe[2], *pep[2];
	P2pbroker__V1__MatrixReply mat = P2PBROKER__V1__MATRIX_REPLY__INIT;
	P2pbroker__V1__MapType verdict[9];
	int32_t dist[9];
	P2pbroker__V1__RescanReply rescan = P2PBROKER__V1__RESCAN_REPLY__INIT;
	Reply rep;

	for (int i = 0; i < 4; i++) {
		p2pbroker__v1__bdf__init(&b[i]);
		b[i].bus = (uint32_t)(0x10 + i);
		bp[i] = &b[i];
	}
	init_reply(&rep, req);
	switch (req->body_case) {
	case P2PBROKER__V1__REQUEST__BODY_PATH:
		path.provider = &b[0];
		path.client = &b[1];
		path.verdict = P2PBROKER__V1__MAP_TYPE__MAP_THRU_HOST_BRIDGE;
		path.distance = 10;
		path.raw_distance = 4;
		path.common_bridge = NULL;
		path.n_acs_redirect = 2;
		path.acs_redirect = &bp[2];
		path.n_acs_ctrl = 2;
		path.acs_ctrl = ctrl;
		path.host_bridge_whitelisted = 1;
		path.reason = "ACS redirect";
		rep.body_case = P2PBROKER__V1__REPLY__BODY_PATH;
		rep.path = &path;
		break;
	case P2PBROKER__V1__REQUEST__BODY_PROVIDERS:
		for (int i = 0; i < 2; i++) {
			p2pbroker__v1__provider_entry__init(&pe[i]);
			pe[i].bdf = &b[2 + i];
			pe[i].total_distance = 4 + i;
			pe[i].numa_node = i ? -1 : 1;
			pe[i].size = 1000;
			pe[i].available = 500;
			pep[i] = &pe[i];
		}
		prov.n_clients = 2;
		prov.clients = bp;
		prov.n_providers = 2;
		prov.providers = pep;
		rep.body_case = P2PBROKER__V1__REPLY__BODY_PROVIDERS;
		rep.providers = &prov;
		break;
	case P2PBROKER__V1__REQUEST__BODY_MATRIX:
		for (int i = 0; i < 9; i++) {
			verdict[i] = (P2pbroker__V1__MapType)(1 + i % 3);
			dist[i] = i % 3 == 0 ? -1 : i;
		}
		mat.n_devices = 3;
		mat.devices = bp;
		mat.n_verdict = f->n_requests == 99 ? 8 : 9;
		mat.verdict = verdict;
		mat.n_distance = 9;
		mat.distance = dist;
		rep.body_case = P2PBROKER__V1__REPLY__BODY_MATRIX;
		rep.matrix = &mat;
		break;
	default:
		rescan.generation = 77;
		rescan.n_devices = 12;
		rescan.scan_usec = 3456;
		rep.body_case = P2PBROKER__V1__REPLY__BODY_RESCAN;
		rep.rescan = &rescan;
		break;
	}
	send_reply(conn, &rep, NULL, 0);
}

static void
test_path_providers_matrix_rescan(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_path_info *p = NULL;
	struct p2pb_providers_info *pr = NULL;
	struct p2pb_matrix_info *m = NULL;
	struct p2pb_rescan_info *r = NULL;
	struct p2pb_address a = { .bus = 0x10 }, b = { .bus = 0x11 }, cl[3] = { a, b, b };

	fake_start(&f, serve_answers);
	c = connect_to(&f);

	assert_int_equal(p2pb_get_path(c, a, b, &p), 0);
	assert_int_equal(p->verdict, P2PB_P2P_THRU_HOST_BRIDGE);
	assert_int_equal(p->distance, 10);
	assert_int_equal(p->raw_distance, 4);
	assert_false(p->has_common_bridge);
	assert_int_equal(p->n_acs, 2);
	assert_int_equal(p->acs_devices[1].bus, 0x13);
	assert_int_equal(p->acs_ctrl[0], 0x1d);
	assert_true(p->host_bridge_whitelisted);
	assert_false(p->cpu_allows);
	assert_string_equal(p->reason, "ACS redirect");
	p2pb_path_info_free(p);

	assert_int_equal(p2pb_find_providers(c, cl, 3, &pr), 0);
	assert_int_equal(f.last_n_clients, 3);
	assert_int_equal(pr->n_clients, 2);
	assert_int_equal(pr->n_providers, 2);
	assert_int_equal(pr->providers[0]->address.bus, 0x12);
	assert_int_equal(pr->providers[1]->total_distance, 5);
	assert_int_equal(pr->providers[1]->numa_node, -1);
	assert_int_equal(pr->providers[0]->available, 500);
	p2pb_providers_info_free(pr);

	assert_int_equal(p2pb_get_matrix(c, &m), 0);
	assert_int_equal(m->n, 3);
	assert_int_equal(m->devices[2].bus, 0x12);
	assert_int_equal(m->verdict[1 * 3 + 2], 1 + 5 % 3);
	assert_int_equal(m->distance[1 * 3 + 2], 5);
	assert_int_equal(m->distance[0], -1);
	p2pb_matrix_info_free(m);

	assert_int_equal(p2pb_rescan(c, &r), 0);
	assert_int_equal(r->generation, 77);
	assert_int_equal(r->n_devices, 12);
	assert_int_equal(r->scan_usec, 3456);
	p2pb_rescan_info_free(r);
	p2pb_disconnect(c);
	fake_stop(&f);
}

static void
serve_short_matrix(struct fake *f, int conn, const Request *req)
{
	f->n_requests = 99; /* serve_answers sends 8 verdicts for 3x3 */
	serve_answers(f, conn, req);
}

static void
test_inconsistent_matrix(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_matrix_info *m = NULL;

	fake_start(&f, serve_short_matrix);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_matrix(c, &m), -EPROTO);
	assert_null(m);
	assert_non_null(strstr(p2pb_last_error(c), "3 devices carries 8 verdicts"));
	p2pb_disconnect(c);
	fake_stop(&f);
}

/* A topology without endpoints: the daemon sends an empty matrix, whose
 * arrays arrive as NULL (found by fuzz/fuzz_reply.c). */
static void
serve_empty_matrix(struct fake *f, int conn, const Request *req)
{
	P2pbroker__V1__MatrixReply m = P2PBROKER__V1__MATRIX_REPLY__INIT;
	Reply rep;

	init_reply(&rep, req);
	rep.body_case = P2PBROKER__V1__REPLY__BODY_MATRIX;
	rep.matrix = &m;
	send_reply(conn, &rep, NULL, 0);
}

static void
test_empty_matrix(void **state)
{
	struct fake f;
	struct p2pb_client *c;
	struct p2pb_matrix_info *m = NULL;

	fake_start(&f, serve_empty_matrix);
	c = connect_to(&f);
	assert_int_equal(p2pb_get_matrix(c, &m), 0);
	assert_non_null(m);
	assert_int_equal(m->n, 0);
	p2pb_matrix_info_free(m);
	p2pb_disconnect(c);
	fake_stop(&f);
}

/* ---- connecting ------------------------------------------------------------ */

static void
test_connect_paths(void **state)
{
	struct fake f;
	struct p2pb_client *c = NULL;
	struct p2pb_status_info *s = NULL;
	char longpath[200];

	assert_int_equal(p2pb_connect("/nonexistent/p2pbroker.sock", &c), -ENOENT);
	assert_null(c);
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(p2pb_connect(longpath, &c), -ENAMETOOLONG);

	unsetenv(P2PB_SOCKET_ENV);
	assert_string_equal(p2pb_socket_path(NULL), P2PB_DEFAULT_SOCKET);
	setenv(P2PB_SOCKET_ENV, "", 1);
	assert_string_equal(p2pb_socket_path(NULL), P2PB_DEFAULT_SOCKET);
	assert_string_equal(p2pb_socket_path("/a/b"), "/a/b");

	/* NULL path follows the environment. */
	fake_start(&f, serve_status);
	setenv(P2PB_SOCKET_ENV, f.path, 1);
	assert_string_equal(p2pb_socket_path(NULL), f.path);
	assert_int_equal(p2pb_connect(NULL, &c), 0);
	assert_int_equal(p2pb_get_status(c, &s), 0);
	p2pb_status_info_free(s);
	c = p2pb_disconnect(c);
	assert_null(c);
	assert_null(p2pb_disconnect(NULL));
	unsetenv(P2PB_SOCKET_ENV);
	fake_stop(&f);
}

/* ---- addresses ------------------------------------------------------------- */

static void
test_address_parse_format(void **state)
{
	static const struct {
		const char *in;
		int ret;
		const char *out;
	} cases[] = {
		{ "0000:01:00.0", 0, "0000:01:00.0" },
		{ "01:00.0", 0, "0000:01:00.0" },
		{ "1:0.7", 0, "0000:01:00.7" },
		{ "10000:ff:1f.7", 0, "10000:ff:1f.7" },
		{ "ffffffff:AB:1f.0", 0, "ffffffff:ab:1f.0" },
		{ "0000:01:20.0", -EINVAL, NULL }, /* device > 31 */
		{ "0000:01:00.8", -EINVAL, NULL }, /* function > 7 */
		{ "0000:100:00.0", -EINVAL, NULL },
		{ "123456789:00:00.0", -EINVAL, NULL },
		{ "0000:01:00", -EINVAL, NULL },
		{ "0000:01:00.0 ", -EINVAL, NULL },
		{ "g0:00.0", -EINVAL, NULL },
		{ "", -EINVAL, NULL },
		{ "1:2:3:4.0", -EINVAL, NULL },
		{ ":00.0", -EINVAL, NULL },
		{ "-1:00.0", -EINVAL, NULL },
	};
	char buf[P2PB_ADDRESS_STRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct p2pb_address a = { .domain = 0xdead, .bus = 0xbe };

		assert_int_equal(p2pb_address_parse(cases[i].in, &a), cases[i].ret);
		if (cases[i].ret == 0)
			assert_string_equal(p2pb_address_format(a, buf), cases[i].out);
		else
			assert_int_equal(a.domain, 0xdead); /* untouched on failure */
	}
	assert_true(p2pb_address_compare((struct p2pb_address){ .bus = 1 },
					 (struct p2pb_address){ .domain = 1 }) < 0);
	assert_true(p2pb_address_compare((struct p2pb_address){ .dev = 2, .fn = 0 },
					 (struct p2pb_address){ .dev = 1, .fn = 7 }) > 0);
	assert_string_equal(p2pb_p2p_map_name(P2PB_P2P_BUS_ADDR), "bus-addr");
	assert_string_equal(p2pb_p2p_map_name(P2PB_P2P_THRU_HOST_BRIDGE), "thru-host-bridge");
	assert_string_equal(p2pb_p2p_map_name(P2PB_P2P_NOT_SUPPORTED), "not-supported");
	assert_string_equal(p2pb_p2p_map_name((enum p2pb_p2p_map)42), "unknown");
	assert_string_equal(p2pb_port_type_string(P2PB_PORT_SWITCH_DOWNSTREAM),
			    "switch-downstream");
	assert_string_equal(p2pb_port_type_string(0x3), "unknown");
	assert_string_equal(p2pb_link_speed_string(4), "16GT/s");
	assert_string_equal(p2pb_link_speed_string(0), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_reply),
		cmocka_unit_test(test_large_reply),
		cmocka_unit_test(test_fds_received),
		cmocka_unit_test(test_untaken_fds_closed),
		cmocka_unit_test(test_fd_count_mismatch),
		cmocka_unit_test(test_close_mid_reply),
		cmocka_unit_test(test_close_before_reply),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_bad_length_header),
		cmocka_unit_test(test_undecodable_reply),
		cmocka_unit_test(test_wrong_reply_id),
		cmocka_unit_test(test_wrong_reply_body),
		cmocka_unit_test(test_daemon_error),
		cmocka_unit_test(test_path_providers_matrix_rescan),
		cmocka_unit_test(test_inconsistent_matrix),
		cmocka_unit_test(test_empty_matrix),
		cmocka_unit_test(test_connect_paths),
		cmocka_unit_test(test_address_parse_format),
	};

	/* A daemon that vanishes must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
