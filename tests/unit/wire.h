/* wire.h - test helpers that speak the daemon's framing over a socket while
 * pumping the daemon's event loop on the same thread (server and handler
 * tests). Include after <cmocka.h>. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "p2pbroker.pb-c.h"
#include "protocol.h"

#define WIRE_TIMEOUT_MS 10000

/* Runs the loop until nothing is immediately ready. */
static inline void
wire_pump(struct event_base *base)
{
	for (int i = 0; i < 64; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static inline uint64_t
wire_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Writes all of buf, pumping the loop while the socket is full. */
static inline void
wire_write_all(struct event_base *base, int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t deadline = wire_ms() + WIRE_TIMEOUT_MS;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
			assert_true(wire_ms() < deadline);
			wire_pump(base);
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
}

static inline void
wire_send_frame(struct event_base *base, int fd, const void *body, uint32_t len)
{
	uint8_t h[P2PB_FRAME_HEADER] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16),
					 (uint8_t)(len >> 8), (uint8_t)len };
	wire_write_all(base, fd, h, sizeof(h));
	if (len)
		wire_write_all(base, fd, body, len);
}

static inline void
wire_send_request(struct event_base *base, int fd, const P2pbroker__V1__Request *req)
{
	size_t len = protobuf_c_message_get_packed_size(&req->base);
	uint8_t *buf = malloc(len ? len : 1);
	assert_non_null(buf);
	protobuf_c_message_pack(&req->base, buf);
	wire_send_frame(base, fd, buf, (uint32_t)len);
	free(buf);
}

/* Reads exactly len bytes, pumping the loop until they arrive. fds that come
 * with them are appended to fds (up to P2PB_MAX_FDS_PER_REPLY). Returns 0, or
 * -EPIPE when the peer closed first. */
static inline int
wire_read_exact(struct event_base *base, int fd, void *buf, size_t len, int *fds, size_t *n_fds)
{
	uint8_t *p = buf;
	uint64_t deadline = wire_ms() + WIRE_TIMEOUT_MS;
	while (len > 0) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * P2PB_MAX_FDS_PER_REPLY)];
		} cm;
		struct iovec iov = { p, len };
		struct msghdr msg = { .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = cm.buf,
				      .msg_controllen = sizeof(cm.buf) };
		ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == ECONNRESET)
				return -EPIPE;
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
			if (wire_ms() > deadline)
				fail_msg("no reply within %d ms", WIRE_TIMEOUT_MS);
			wire_pump(base);
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			poll(&pfd, 1, 1);
			continue;
		}
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int f;
				memcpy(&f, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
				assert_non_null(fds);
				assert_true(*n_fds < P2PB_MAX_FDS_PER_REPLY);
				fds[(*n_fds)++] = f;
			}
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Receives one reply frame; fds received with it go to fds/n_fds (may be
 * NULL when none are expected: then any fd fails the test). Returns the
 * unpacked reply (free with p2pbroker__v1__reply__free_unpacked) or NULL when
 * the peer closed the connection instead. */
static inline P2pbroker__V1__Reply *
wire_recv_reply(struct event_base *base, int fd, int *fds, size_t *n_fds)
{
	uint8_t h[P2PB_FRAME_HEADER];
	if (wire_read_exact(base, fd, h, sizeof(h), fds, n_fds) < 0)
		return NULL;
	uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	assert_true(len <= P2PB_MAX_REPLY_BYTES);
	uint8_t *body = malloc(len ? len : 1);
	assert_non_null(body);
	assert_int_equal(wire_read_exact(base, fd, body, len, fds, n_fds), 0);
	P2pbroker__V1__Reply *r = p2pbroker__v1__reply__unpack(NULL, len, body);
	free(body);
	assert_non_null(r);
	return r;
}

/* A request with a body of the given case; the body message is static. */
static inline P2pbroker__V1__Request
wire_request(uint64_t id, P2pbroker__V1__Request__BodyCase body)
{
	static P2pbroker__V1__StatusRequest status = P2PBROKER__V1__STATUS_REQUEST__INIT;
	static P2pbroker__V1__TopologyRequest topology = P2PBROKER__V1__TOPOLOGY_REQUEST__INIT;
	static P2pbroker__V1__MatrixRequest matrix = P2PBROKER__V1__MATRIX_REQUEST__INIT;
	static P2pbroker__V1__RescanRequest rescan = P2PBROKER__V1__RESCAN_REQUEST__INIT;
	P2pbroker__V1__Request req = P2PBROKER__V1__REQUEST__INIT;
	req.id = id;
	req.version = P2PB_PROTOCOL_VERSION;
	req.body_case = body;
	switch (body) {
	case P2PBROKER__V1__REQUEST__BODY_STATUS:
		req.status = &status;
		break;
	case P2PBROKER__V1__REQUEST__BODY_TOPOLOGY:
		req.topology = &topology;
		break;
	case P2PBROKER__V1__REQUEST__BODY_MATRIX:
		req.matrix = &matrix;
		break;
	case P2PBROKER__V1__REQUEST__BODY_RESCAN:
		req.rescan = &rescan;
		break;
	default:
		break; /* the caller sets path/providers itself */
	}
	return req;
}
