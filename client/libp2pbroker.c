/* libp2pbroker.c - the client's connection: connect, frame a request, read the
 * reply (with any fds passed alongside) within a deadline, map errors to -errno. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "libp2pbroker-internal.h"

/* Bodies are read into a buffer that grows as bytes arrive, so a bogus length
 * header does not make the client allocate the maximum up front. */
#define INITIAL_BODY_ALLOC (64u * 1024u)
#define CONNECT_RETRY_MS   10

int
p2pbc_fail(struct p2pb_client *c, int err, const char *fmt, ...)
{
	va_list ap;

	if (!c)
		return err;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	return err;
}

const char *
p2pb_socket_path(const char *path)
{
	const char *env;

	if (path)
		return path;
	env = getenv(P2PB_SOCKET_ENV);
	if (env && *env)
		return env;
	return P2PB_DEFAULT_SOCKET;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before deadline for poll(): -1 means no deadline. */
static int
remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

static int64_t
deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Waits until fd is ready for events; -ETIMEDOUT when the deadline passes. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	for (;;) {
		r = poll(&p, 1, remaining_ms(deadline));
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int
connect_fd(const char *path, int timeout_ms, int *ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = deadline_after(timeout_ms);
	int fd = -1, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A non-blocking AF_UNIX connect fails with EAGAIN while the listener's
	 * backlog is full (a stuck daemon); retry until the deadline. */
	while ((r = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0) {
		r = -errno;
		if (r == -EINTR)
			continue;
		if (r != -EAGAIN || remaining_ms(deadline) == 0)
			break;
		poll(NULL, 0, CONNECT_RETRY_MS);
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret = fd;
	return 0;
}

int
p2pb_connect(const char *path, struct p2pb_client **ret)
{
	struct p2pb_client *c;
	int fd = -1, r;

	if (!ret)
		return -EINVAL;
	r = connect_fd(p2pb_socket_path(path), P2PBC_DEFAULT_TIMEOUT_MS, &fd);
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->timeout_ms = P2PBC_DEFAULT_TIMEOUT_MS;
	c->next_id = 1;
	*ret = c;
	return 0;
}

static void
close_fds(struct p2pb_client *c)
{
	for (size_t i = 0; i < c->n_fds; i++)
		close(c->fds[i]);
	c->n_fds = 0;
}

/* The stream is out of step after a transport error: drop it. */
static void
lose_connection(struct p2pb_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

struct p2pb_client *
p2pb_disconnect(struct p2pb_client *c)
{
	if (!c)
		return NULL;
	close_fds(c);
	lose_connection(c);
	free(c);
	return NULL;
}

int
p2pb_set_timeout(struct p2pb_client *c, int timeout_ms)
{
	if (!c)
		return -EINVAL;
	c->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
	return 0;
}

const char *
p2pb_last_error(const struct p2pb_client *c)
{
	return c ? c->error : "no client";
}

int
p2pb_take_fds(struct p2pb_client *c, int *fds, size_t max)
{
	size_t n;

	if (!c || (!fds && max))
		return -EINVAL;
	n = c->n_fds < max ? c->n_fds : max;
	if (n == 0)
		return 0; /* fds may be NULL: memcpy() must not see it */
	memcpy(fds, c->fds, n * sizeof(int));
	memmove(c->fds, c->fds + n, (c->n_fds - n) * sizeof(int));
	c->n_fds -= n;
	return (int)n;
}

static int
send_all(struct p2pb_client *c, const uint8_t *buf, size_t len, int64_t deadline)
{
	ssize_t n;
	int r;

	while (len > 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		r = wait_fd(c->fd, POLLOUT, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Keeps the fds of every SCM_RIGHTS message; -EPROTO if more arrive than a
 * reply may carry or the kernel had to drop some (MSG_CTRUNC). */
static int
collect_fds(struct p2pb_client *c, struct msghdr *m)
{
	int r = (m->msg_flags & MSG_CTRUNC) ? -EPROTO : 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->n_fds < P2PB_MAX_FDS_PER_REPLY) {
				c->fds[c->n_fds++] = fd;
			} else {
				close(fd);
				r = -EPROTO;
			}
		}
	}
	return r;
}

/* Reads exactly len bytes (fds may ride on any of them). -ECONNRESET when
 * the daemon closes first. */
static int
recv_exact(struct p2pb_client *c, uint8_t *buf, size_t len, int64_t deadline)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * P2PB_MAX_FDS_PER_REPLY)];
		struct cmsghdr align;
	} control;

	while (len > 0) {
		struct iovec iov = { .iov_base = buf, .iov_len = len };
		struct msghdr m = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = control.buf,
			.msg_controllen = sizeof(control.buf),
		};
		ssize_t n = recvmsg(c->fd, &m, MSG_CMSG_CLOEXEC);
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			r = wait_fd(c->fd, POLLIN, deadline);
			if (r < 0)
				return r;
			continue;
		}
		r = collect_fds(c, &m);
		if (r < 0)
			return r;
		if (n == 0)
			return -ECONNRESET;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
recv_frame(struct p2pb_client *c, int64_t deadline, uint8_t **ret, size_t *ret_len)
{
	uint8_t hdr[P2PB_FRAME_HEADER], *body = NULL;
	size_t len, have = 0, alloc = 0;
	int r;

	r = recv_exact(c, hdr, sizeof(hdr), deadline);
	if (r < 0)
		return r == -ECONNRESET
			       ? p2pbc_fail(c, r,
					    "p2pbrokerd closed the connection without replying")
			       : r;
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (len > P2PB_MAX_REPLY_BYTES)
		return p2pbc_fail(c, -EMSGSIZE, "reply length %zu exceeds the limit of %u bytes",
				  len, P2PB_MAX_REPLY_BYTES);
	while (have < len) {
		size_t chunk;
		uint8_t *nb;

		if (have == alloc) {
			alloc = alloc ? alloc * 2 : INITIAL_BODY_ALLOC;
			if (alloc > len)
				alloc = len;
			nb = realloc(body, alloc);
			if (!nb) {
				free(body);
				return -ENOMEM;
			}
			body = nb;
		}
		chunk = alloc - have;
		r = recv_exact(c, body + have, chunk, deadline);
		if (r < 0) {
			free(body);
			if (r == -ECONNRESET)
				return p2pbc_fail(
					c, r,
					"p2pbrokerd closed the connection in the middle of "
					"a %zu-byte reply",
					len);
			return r;
		}
		have += chunk;
	}
	*ret = body;
	*ret_len = len;
	return 0;
}

static int
send_request(struct p2pb_client *c, const P2pbroker__V1__Request *req, int64_t deadline)
{
	size_t len = p2pbroker__v1__request__get_packed_size(req);
	uint8_t *buf;
	int r;

	if (len > P2PB_MAX_REQUEST_BYTES)
		return p2pbc_fail(c, -E2BIG, "request of %zu bytes exceeds the limit of %u bytes",
				  len, P2PB_MAX_REQUEST_BYTES);
	buf = malloc(P2PB_FRAME_HEADER + len);
	if (!buf)
		return -ENOMEM;
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	p2pbroker__v1__request__pack(req, buf + P2PB_FRAME_HEADER);
	r = send_all(c, buf, P2PB_FRAME_HEADER + len, deadline);
	free(buf);
	return r;
}

/* Daemon status codes as -errno (see p2pbroker.h). */
static const struct {
	int err;
	const char *name;
} status_map[] = {
	[P2PBROKER__V1__STATUS_CODE__STATUS_OK] = { 0, "ok" },
	[P2PBROKER__V1__STATUS_CODE__STATUS_INVALID_REQUEST] = { -EINVAL, "invalid request" },
	[P2PBROKER__V1__STATUS_CODE__STATUS_NOT_FOUND] = { -ENOENT, "not found" },
	[P2PBROKER__V1__STATUS_CODE__STATUS_TOO_LARGE] = { -E2BIG, "request too large" },
	[P2PBROKER__V1__STATUS_CODE__STATUS_UNSUPPORTED_VERSION] = { -EPROTONOSUPPORT,
								     "unsupported version" },
	[P2PBROKER__V1__STATUS_CODE__STATUS_PERMISSION_DENIED] = { -EACCES, "permission denied" },
	[P2PBROKER__V1__STATUS_CODE__STATUS_INTERNAL] = { -EIO, "internal error" },
	[P2PBROKER__V1__STATUS_CODE__STATUS_UNAVAILABLE] = { -EAGAIN, "unavailable" },
};

static int
status_error(struct p2pb_client *c, const P2pbroker__V1__Reply *rep)
{
	size_t s = (size_t)rep->status;
	int err = -EIO;
	const char *name = "unknown status";

	if (s < sizeof(status_map) / sizeof(status_map[0]) && status_map[s].name) {
		err = status_map[s].err;
		name = status_map[s].name;
	}
	if (rep->message && *rep->message)
		return p2pbc_fail(c, err, "p2pbrokerd: %s (%s)", rep->message, name);
	return p2pbc_fail(c, err, "p2pbrokerd: %s (status %u)", name, (unsigned)s);
}

/* Checks a decoded reply against the request it answers. */
static int
check_reply(struct p2pb_client *c, const P2pbroker__V1__Reply *rep, uint64_t id,
	    P2pbroker__V1__Reply__BodyCase want)
{
	/* A daemon that could not read the request cannot know its id: accept
	 * its error reply with id 0 so the caller sees the daemon's reason. */
	if (rep->id != id && !(rep->id == 0 && rep->status != 0))
		return p2pbc_fail(c, -EPROTO, "reply id %llu does not match request id %llu",
				  (unsigned long long)rep->id, (unsigned long long)id);
	if (rep->n_fds != c->n_fds)
		return p2pbc_fail(c, -EPROTO, "reply announced %u file descriptors, %zu arrived",
				  rep->n_fds, c->n_fds);
	if (rep->status != 0)
		return status_error(c, rep);
	if (rep->body_case != want)
		return p2pbc_fail(c, -EPROTO, "reply carries body %d, expected %d",
				  (int)rep->body_case, (int)want);
	return 0;
}

/* Send + receive + decode; transport failures lose the connection. */
static int
exchange(struct p2pb_client *c, P2pbroker__V1__Request *req, P2pbroker__V1__Reply **ret)
{
	int64_t deadline = deadline_after(c->timeout_ms);
	P2pbroker__V1__Reply *rep;
	uint8_t *body = NULL;
	size_t len = 0;
	int r;

	r = send_request(c, req, deadline);
	if (r >= 0)
		r = recv_frame(c, deadline, &body, &len);
	if (r < 0) {
		if (r == -ETIMEDOUT)
			p2pbc_fail(c, r, "no reply from p2pbrokerd within %d ms", c->timeout_ms);
		else if (!c->error[0])
			p2pbc_fail(c, r, "talking to p2pbrokerd: %s", strerror(-r));
		if (r != -E2BIG)
			lose_connection(c);
		return r;
	}
	rep = p2pbroker__v1__reply__unpack(NULL, len, body);
	free(body);
	if (!rep) {
		lose_connection(c);
		return p2pbc_fail(c, -EPROTO, "undecodable reply of %zu bytes", len);
	}
	*ret = rep;
	return 0;
}

int
p2pbc_call(struct p2pb_client *c, P2pbroker__V1__Request *req, P2pbroker__V1__Reply__BodyCase want,
	   P2pbroker__V1__Reply **ret)
{
	P2pbroker__V1__Reply *rep = NULL;
	int r;

	if (!c || !ret)
		return -EINVAL;
	c->error[0] = '\0';
	close_fds(c);
	if (c->fd < 0)
		return p2pbc_fail(c, -ENOTCONN, "connection to p2pbrokerd was lost earlier");
	req->id = c->next_id++;
	req->version = P2PB_PROTOCOL_VERSION;
	r = exchange(c, req, &rep);
	if (r < 0)
		return r;
	r = check_reply(c, rep, req->id, want);
	if (r < 0) {
		if (r == -EPROTO)
			lose_connection(c);
		close_fds(c);
		p2pbroker__v1__reply__free_unpacked(rep, NULL);
		return r;
	}
	*ret = rep;
	return 0;
}

const char *
p2pb_library_version(void)
{
	return P2PB_VERSION;
}
