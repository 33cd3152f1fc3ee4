/* fuzz_reply.c - libFuzzer target: libp2pbroker reading what a hostile or broken daemon sends.
 * A fake daemon on a socketpair writes the input as the reply to one library call; the call
 * must fail cleanly or return answers whose every field can be read. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "libp2pbroker-internal.h"

/* Input layout: one control byte, then the bytes the fake daemon sends.
 *   bits 0-2  which call (modulo the number of calls)
 *   bit 3     raw: send the bytes as they are, framing included; otherwise
 *             they are one reply payload and get a correct length header
 *   bits 4-5  how many descriptors ride on the first byte (SCM_RIGHTS) */
#define CTL_RAW	      0x08
#define CTL_FDS_SHIFT 4
#define CTL_FDS_MASK  0x3
/* The whole reply is written before the call, so it must fit the socket. */
#define MAX_FUZZ_INPUT (1u << 20)
#define REQUEST_ID     1

typedef P2pbroker__V1__Reply Reply;

/* Reading every answer field into here keeps the reads from being optimised
 * away, so ASan sees each of them. */
static volatile uint64_t sink;
/* What ret_ pointers hold before a call: a failed call must leave it. */
static char not_set;
#define NOT_SET ((void *)&not_set)

static void
touch(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += b[i];
	sink += s;
}

static void
touch_str(const char *s)
{
	FUZZ_CHECK(s, "a string in an answer is NULL");
	touch(s, strlen(s) + 1);
}

/* --- one call per reply type, reading everything it returns ---------------------- */

static const struct p2pb_address some_devs[] = {
	{ 0, 0x01, 0x00, 0 },
	{ 0, 0x02, 0x00, 0 },
	{ 0x10000, 0xff, 0x1f, 7 },
};

static int
call_status(struct p2pb_client *c, const Reply *w)
{
	struct p2pb_status_info *s = NOT_SET;
	int r = p2pb_get_status(c, &s);

	if (r < 0) {
		FUZZ_CHECK(s == NOT_SET, "ret_ set on failure");
		return r;
	}
	touch(s, sizeof(*s));
	touch_str(s->version);
	touch_str(s->root);
	touch_str(s->cpu_vendor);
	p2pb_status_info_free(s);
	return 0;
}

static void
touch_topology(const struct p2pb_topology_info *t, const Reply *w)
{
	const P2pbroker__V1__TopologyReply *m = w ? w->topology : NULL;

	FUZZ_CHECK(!m || (t->n_devices == m->n_devices && t->n_hostbridges == m->n_hostbridges &&
			  t->n_switches == m->n_switches && t->n_warnings == m->n_warnings),
		   "topology answer counts differ from the reply's");
	for (size_t i = 0; i < t->n_devices; i++) {
		char a[P2PB_ADDRESS_STRLEN];
		touch(t->devices[i], sizeof(*t->devices[i]));
		touch_str(p2pb_address_format(t->devices[i]->address, a));
		touch_str(t->devices[i]->driver);
		touch_str(p2pb_port_type_string(t->devices[i]->port_type));
		touch_str(p2pb_link_speed_string(t->devices[i]->link_speed));
	}
	for (size_t i = 0; i < t->n_hostbridges; i++)
		touch(t->hostbridges[i], sizeof(*t->hostbridges[i]));
	for (size_t i = 0; i < t->n_switches; i++) {
		touch(t->switches[i], sizeof(*t->switches[i]));
		touch(t->switches[i]->downstream,
		      t->switches[i]->n_downstream * sizeof(*t->switches[i]->downstream));
	}
	for (size_t i = 0; i < t->n_warnings; i++) {
		touch(t->warnings[i], sizeof(*t->warnings[i]));
		touch_str(t->warnings[i]->message);
	}
}

static int
call_topology(struct p2pb_client *c, const Reply *w)
{
	struct p2pb_topology_info *t = NOT_SET;
	int r = p2pb_get_topology(c, &t);

	if (r < 0) {
		FUZZ_CHECK(t == NOT_SET, "ret_ set on failure");
		return r;
	}
	touch_topology(t, w);
	p2pb_topology_info_free(t);
	return 0;
}

static int
call_path(struct p2pb_client *c, const Reply *w)
{
	struct p2pb_path_info *p = NOT_SET;
	int r = p2pb_get_path(c, some_devs[0], some_devs[1], &p);

	if (r < 0) {
		FUZZ_CHECK(p == NOT_SET, "ret_ set on failure");
		return r;
	}
	FUZZ_CHECK(!w || p->n_acs == w->path->n_acs_redirect, "path answer lists %zu ACS devices",
		   p->n_acs);
	touch(p, sizeof(*p));
	touch(p->acs_devices, p->n_acs * sizeof(*p->acs_devices));
	touch(p->acs_ctrl, p->n_acs * sizeof(*p->acs_ctrl));
	touch_str(p->reason);
	touch_str(p2pb_p2p_map_name(p->verdict));
	p2pb_path_info_free(p);
	return 0;
}

static int
call_providers(struct p2pb_client *c, const Reply *w)
{
	struct p2pb_providers_info *p = NOT_SET;
	size_t n = sizeof(some_devs) / sizeof(some_devs[0]);
	int r = p2pb_find_providers(c, some_devs, n, &p);

	if (r < 0) {
		FUZZ_CHECK(p == NOT_SET, "ret_ set on failure");
		return r;
	}
	FUZZ_CHECK(!w || (p->n_providers == w->providers->n_providers &&
			  p->n_clients == w->providers->n_clients),
		   "providers answer counts differ from the reply's");
	touch(p->clients, p->n_clients * sizeof(*p->clients));
	for (size_t i = 0; i < p->n_providers; i++)
		touch(p->providers[i], sizeof(*p->providers[i]));
	p2pb_providers_info_free(p);
	return 0;
}

static int
call_matrix(struct p2pb_client *c, const Reply *w)
{
	struct p2pb_matrix_info *m = NOT_SET;
	int r = p2pb_get_matrix(c, &m);

	if (r < 0) {
		FUZZ_CHECK(m == NOT_SET, "ret_ set on failure");
		return r;
	}
	FUZZ_CHECK(!w || m->n == w->matrix->n_devices, "matrix answer of %zu devices", m->n);
	touch(m->devices, m->n * sizeof(*m->devices));
	touch(m->verdict, m->n * m->n * sizeof(*m->verdict));
	touch(m->distance, m->n * m->n * sizeof(*m->distance));
	p2pb_matrix_info_free(m);
	return 0;
}

static int
call_rescan(struct p2pb_client *c, const Reply *w)
{
	struct p2pb_rescan_info *x = NOT_SET;
	int r = p2pb_rescan(c, &x);

	if (r < 0) {
		FUZZ_CHECK(x == NOT_SET, "ret_ set on failure");
		return r;
	}
	touch(x, sizeof(*x));
	p2pb_rescan_info_free(x);
	return 0;
}

/* The calls, with the reply body each one accepts. */
static const struct {
	const char *name;
	P2pbroker__V1__Reply__BodyCase body;
	int (*call)(struct p2pb_client *c, const Reply *w);
} calls[] = {
	{ "status", P2PBROKER__V1__REPLY__BODY_STATUS_REPLY, call_status },
	{ "topology", P2PBROKER__V1__REPLY__BODY_TOPOLOGY, call_topology },
	{ "path", P2PBROKER__V1__REPLY__BODY_PATH, call_path },
	{ "providers", P2PBROKER__V1__REPLY__BODY_PROVIDERS, call_providers },
	{ "matrix", P2PBROKER__V1__REPLY__BODY_MATRIX, call_matrix },
	{ "rescan", P2PBROKER__V1__REPLY__BODY_RESCAN, call_rescan },
};
#define N_CALLS (sizeof(calls) / sizeof(calls[0]))

/* --- the fake daemon ------------------------------------------------------------------ */

/* Sends all of buf at once with n_fds descriptors (of /dev/null) on its
 * first byte; the socket was sized to take it without blocking. */
static void
fake_daemon_send(int fd, const uint8_t *buf, size_t len, int n_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * CTL_FDS_MASK)];
	} cm;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[CTL_FDS_MASK];

	if (len == 0)
		return;
	for (int i = 0; i < n_fds; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		FUZZ_CHECK(fds[i] >= 0, "open /dev/null: %s", strerror(errno));
	}
	if (n_fds) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
		struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
		memcpy(CMSG_DATA(h), fds, sizeof(int) * (size_t)n_fds);
	}
	ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	FUZZ_CHECK(n == (ssize_t)len, "fake daemon wrote %zd of %zu bytes: %s", n, len,
		   strerror(errno));
	for (int i = 0; i < n_fds; i++)
		close(fds[i]); /* the client's copies are in flight */
}

/* What the library must return for a framed payload, judged from our own
 * decoding of it: 1 when it must succeed or may refuse the contents
 * (-EPROTO), otherwise the exact error. */
static int
expected_result(const Reply *w, int n_fds, P2pbroker__V1__Reply__BodyCase want)
{
	static const int status_err[] = { 0,	   -EINVAL, -ENOENT, -E2BIG, -EPROTONOSUPPORT,
					  -EACCES, -EIO,    -EAGAIN };

	if (!w)
		return -EPROTO;
	if (w->id != REQUEST_ID && !(w->id == 0 && w->status != 0))
		return -EPROTO;
	if (w->n_fds != (uint32_t)n_fds)
		return -EPROTO;
	if (w->status != 0)
		return (size_t)w->status < sizeof(status_err) / sizeof(status_err[0])
			       ? status_err[w->status]
			       : -EIO;
	return w->body_case == want ? 1 : -EPROTO;
}

static void
set_big_sndbuf(int fd)
{
	int size = (int)MAX_FUZZ_INPUT * 2;

	/* SO_SNDBUFFORCE passes the system limit when we may; else do our best. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > MAX_FUZZ_INPUT)
		return 0;
	int fd_before = fuzz_lowest_free_fd();
	uint8_t ctl = data[0];
	const uint8_t *payload = data + 1;
	size_t len = size - 1;
	size_t which = (ctl & 7u) % N_CALLS;
	bool raw = ctl & CTL_RAW;
	int n_fds = (ctl >> CTL_FDS_SHIFT) & CTL_FDS_MASK;

	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0,
		   "socketpair: %s", strerror(errno));
	set_big_sndbuf(sv[1]);
	uint8_t *stream = malloc(P2PB_FRAME_HEADER + len);
	FUZZ_CHECK(stream, "out of memory");
	size_t stream_len = len;
	if (raw) {
		memcpy(stream, payload, len);
	} else {
		stream[0] = (uint8_t)(len >> 24);
		stream[1] = (uint8_t)(len >> 16);
		stream[2] = (uint8_t)(len >> 8);
		stream[3] = (uint8_t)len;
		memcpy(stream + P2PB_FRAME_HEADER, payload, len);
		stream_len += P2PB_FRAME_HEADER;
	}
	fake_daemon_send(sv[1], stream, stream_len, n_fds);
	free(stream);
	/* After the reply the fake daemon hangs up: a short stream ends the
	 * call with an error instead of a wait for the timeout. */
	shutdown(sv[1], SHUT_WR);

	struct p2pb_client *c = calloc(1, sizeof(*c));
	FUZZ_CHECK(c, "out of memory");
	c->fd = sv[0];
	c->timeout_ms = 10000;
	c->next_id = REQUEST_ID;

	Reply *w = raw ? NULL : p2pbroker__v1__reply__unpack(NULL, len, payload);
	int want = raw ? 1 : expected_result(w, n_fds, calls[which].body);
	int r = calls[which].call(c, want == 1 ? w : NULL);

	FUZZ_CHECK(r != -ETIMEDOUT, "%s: waited for the timeout on a closed stream",
		   calls[which].name);
	if (raw)
		FUZZ_CHECK(r <= 0, "%s returned %d", calls[which].name, r);
	else if (want == 1)
		FUZZ_CHECK(r == 0 || r == -EPROTO, "%s: %d (%s), expected success or -EPROTO",
			   calls[which].name, r, p2pb_last_error(c));
	else
		FUZZ_CHECK(r == want, "%s: %d (%s), expected %d", calls[which].name, r,
			   p2pb_last_error(c), want);
	FUZZ_CHECK(r == 0 || r == -ENOMEM || p2pb_last_error(c)[0],
		   "%s failed with %d and no error text", calls[which].name, r);

	/* Asking for none is allowed and takes none. */
	FUZZ_CHECK(p2pb_take_fds(c, NULL, 0) == 0, "took fds into NULL");
	int got[P2PB_MAX_FDS_PER_REPLY];
	int n = p2pb_take_fds(c, got, P2PB_MAX_FDS_PER_REPLY);
	FUZZ_CHECK(n >= 0 && n <= n_fds, "took %d fds of %d sent", n, n_fds);
	for (int i = 0; i < n; i++)
		close(got[i]);
	if (w)
		p2pbroker__v1__reply__free_unpacked(w, NULL);
	p2pb_disconnect(c);
	close(sv[1]);
	fuzz_check_no_fd_leak(fd_before, calls[which].name);
	return 0;
}
