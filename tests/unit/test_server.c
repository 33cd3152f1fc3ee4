/* test_server.c - unit tests for the socket server (daemon/server.c): framing
 * limits, the validation ladder, fd passing, slow clients, deferred replies,
 * socket binding.
 * Includes server.c so that internal counters can be checked (chrony style). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../../daemon/server.c"
#include "wire.h"

#define ST(x)	P2PBROKER__V1__STATUS_CODE__STATUS_##x
#define BODY(x) P2PBROKER__V1__REQUEST__BODY_##x

struct fixture {
	struct event_base *base;
	struct p2pb_server *server;
	int sv[2];		/* sv[0]: test side, sv[1]: served by the server */
	size_t calls;		/* requests that reached the dispatcher */
	size_t big_reply_bytes; /* message size for TOPOLOGY requests */
	int fd_to_pass;		/* attached to RESCAN replies */
	size_t fds_per_reply;	/* how many times fd_to_pass is attached */
	int attach_results[P2PB_MAX_FDS_PER_REPLY + 4];
	struct p2pb_deferred *deferred; /* the MATRIX request being deferred */
	bool finish_inside;		/* answer it from inside the callback */
	int defer_result, defer_again_result, finish_result;
};

/* MATRIX: the reply is deferred, and answered at once when finish_inside. */
static void
fake_defer(struct fixture *f, struct p2pb_conn *conn)
{
	struct p2pb_deferred *d = NULL, *again = NULL;
	f->defer_result = p2pb_conn_defer(conn, &d);
	f->defer_again_result = p2pb_conn_defer(conn, &again);
	assert_null(again);
	if (f->defer_result < 0)
		return;
	if (f->finish_inside) {
		p2pb_reply_status(p2pb_deferred_reply(d), ST(OK), "at once");
		f->finish_result = p2pb_deferred_finish(d);
	} else {
		f->deferred = d;
	}
}

/* A stand-in for the handlers: STATUS says hello, TOPOLOGY produces a large
 * reply, RESCAN passes fds, MATRIX is deferred. */
static void
fake_request(void *userdata, struct p2pb_conn *conn, const P2pbroker__V1__Request *req,
	     struct p2pb_reply *r)
{
	struct fixture *f = userdata;
	f->calls++;
	switch (req->body_case) {
	case BODY(STATUS):
		r->msg.message = p2pb_reply_printf(r, "hello %llu", (unsigned long long)req->id);
		break;
	case BODY(TOPOLOGY): {
		char *s = p2pb_reply_alloc(r, f->big_reply_bytes + 1);
		assert_non_null(s);
		memset(s, 'x', f->big_reply_bytes);
		r->msg.message = s;
		break;
	}
	case BODY(RESCAN):
		for (size_t i = 0; i < f->fds_per_reply; i++)
			f->attach_results[i] = p2pb_reply_attach_fd(r, f->fd_to_pass);
		break;
	case BODY(MATRIX):
		/* What the callback wrote must never be sent once deferred. */
		p2pb_reply_status(r, ST(INTERNAL), "discarded");
		fake_defer(f, conn);
		break;
	default:
		p2pb_reply_status(r, ST(INVALID_REQUEST), "not in this test");
	}
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->base = event_base_new();
	assert_non_null(f->base);
	struct p2pb_server_ops ops = { .request = fake_request, .userdata = f };
	assert_int_equal(p2pb_server_new(f->base, &ops, &f->server), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv), 0);
	assert_int_equal(p2pb_server_add_conn(f->server, f->sv[1], NULL), 0);
	f->fd_to_pass = -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	p2pb_server_free(f->server);
	event_base_free(f->base);
	close(f->sv[0]);
	if (f->fd_to_pass >= 0)
		close(f->fd_to_pass);
	free(f);
	return 0;
}

/* A second client connection served by f's server; returns the test side. */
static int
add_client(struct fixture *f)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(p2pb_server_add_conn(f->server, sv[1], NULL), 0);
	return sv[0];
}

static P2pbroker__V1__Reply *
roundtrip(struct fixture *f, int fd, uint64_t id, P2pbroker__V1__Request__BodyCase body)
{
	P2pbroker__V1__Request req = wire_request(id, body);
	wire_send_request(f->base, fd, &req);
	return wire_recv_reply(f->base, fd, NULL, NULL);
}

static void
test_status_roundtrip_echoes_id(void **state)
{
	struct fixture *f = *state;
	P2pbroker__V1__Reply *r = roundtrip(f, f->sv[0], 4242, BODY(STATUS));
	assert_non_null(r);
	assert_int_equal(r->id, 4242);
	assert_int_equal(r->status, ST(OK));
	assert_string_equal(r->message, "hello 4242");
	assert_int_equal(r->n_fds, 0);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	assert_int_equal(f->calls, 1);
}

static void
test_peer_credentials_are_recorded(void **state)
{
	struct fixture *f = *state;
	struct p2pb_conn *c = f->server->conns;
	assert_non_null(c);
	assert_int_equal(p2pb_conn_pid(c), getpid());
	assert_int_equal(p2pb_conn_uid(c), getuid());
	assert_int_equal(p2pb_conn_gid(c), getgid());
}

/* A header claiming 1 GiB followed by a stream of junk: refused with
 * TOO_LARGE, the dispatcher never runs, the server never buffers more than
 * one maximal request, and the connection is closed. */
static void
test_oversized_request_refused_without_reading(void **state)
{
	struct fixture *f = *state;
	uint8_t h[P2PB_FRAME_HEADER] = { 0x40, 0, 0, 0 }; /* 1 GiB */
	wire_write_all(f->base, f->sv[0], h, sizeof(h));
	size_t junk_len = 4 * P2PB_MAX_REQUEST_BYTES;
	uint8_t *junk = malloc(junk_len);
	assert_non_null(junk);
	memset(junk, 0xab, junk_len);
	/* Part of the junk may never be read: the server closes first. */
	ssize_t sent = send(f->sv[0], junk, junk_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	assert_true(sent > 0);
	free(junk);

	P2pbroker__V1__Reply *r = wire_recv_reply(f->base, f->sv[0], NULL, NULL);
	assert_non_null(r);
	assert_int_equal(r->status, ST(TOO_LARGE));
	assert_int_equal(r->id, 0);
	assert_non_null(strstr(r->message, "1073741824"));
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	assert_null(wire_recv_reply(f->base, f->sv[0], NULL, NULL)); /* closed */
	assert_int_equal(f->calls, 0);
	assert_int_equal(p2pb_server_n_clients(f->server), 0);
	assert_true(f->server->max_input_buffered <= P2PB_FRAME_HEADER + P2PB_MAX_REQUEST_BYTES);
}

/* Exactly at the limit is not too large: it is read, found undecodable and
 * answered, and the connection stays usable. */
static void
test_request_at_limit_is_read(void **state)
{
	struct fixture *f = *state;
	uint8_t *body = malloc(P2PB_MAX_REQUEST_BYTES);
	assert_non_null(body);
	memset(body, 0xff, P2PB_MAX_REQUEST_BYTES);
	wire_send_frame(f->base, f->sv[0], body, P2PB_MAX_REQUEST_BYTES);
	free(body);
	P2pbroker__V1__Reply *r = wire_recv_reply(f->base, f->sv[0], NULL, NULL);
	assert_non_null(r);
	assert_int_equal(r->status, ST(INVALID_REQUEST));
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	r = roundtrip(f, f->sv[0], 7, BODY(STATUS));
	assert_non_null(r);
	assert_int_equal(r->status, ST(OK));
	p2pbroker__v1__reply__free_unpacked(r, NULL);
}

/* Zero-length and undecodable frames are answered and the connection is
 * kept: the frame boundary is known. */
static void
test_bad_frames_keep_connection(void **state)
{
	struct fixture *f = *state;
	static const uint8_t garbage[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff,
					   0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	wire_send_frame(f->base, f->sv[0], NULL, 0);
	wire_send_frame(f->base, f->sv[0], garbage, sizeof(garbage));
	for (int i = 0; i < 2; i++) {
		P2pbroker__V1__Reply *r = wire_recv_reply(f->base, f->sv[0], NULL, NULL);
		assert_non_null(r);
		assert_int_equal(r->status, ST(INVALID_REQUEST));
		assert_true(strlen(r->message) > 0);
		p2pbroker__v1__reply__free_unpacked(r, NULL);
	}
	P2pbroker__V1__Reply *r = roundtrip(f, f->sv[0], 9, BODY(STATUS));
	assert_non_null(r);
	assert_int_equal(r->id, 9);
	assert_int_equal(r->status, ST(OK));
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	assert_int_equal(f->calls, 1);
}

static void
test_wrong_version_and_missing_body(void **state)
{
	struct fixture *f = *state;
	P2pbroker__V1__Request req = wire_request(11, BODY(STATUS));
	req.version = P2PB_PROTOCOL_VERSION + 1;
	wire_send_request(f->base, f->sv[0], &req);
	P2pbroker__V1__Reply *r = wire_recv_reply(f->base, f->sv[0], NULL, NULL);
	assert_non_null(r);
	assert_int_equal(r->id, 11);
	assert_int_equal(r->status, ST(UNSUPPORTED_VERSION));
	p2pbroker__v1__reply__free_unpacked(r, NULL);

	req = wire_request(12, P2PBROKER__V1__REQUEST__BODY__NOT_SET);
	wire_send_request(f->base, f->sv[0], &req);
	r = wire_recv_reply(f->base, f->sv[0], NULL, NULL);
	assert_non_null(r);
	assert_int_equal(r->id, 12);
	assert_int_equal(r->status, ST(INVALID_REQUEST));
	assert_non_null(strstr(r->message, "no body"));
	p2pbroker__v1__reply__free_unpacked(r, NULL);

	/* id 13, version 1, and a body field (30) from a newer schema. */
	static const uint8_t newer[] = { 0x08, 13, 0x10, P2PB_PROTOCOL_VERSION, 0xf2, 0x01, 0x00 };
	wire_send_frame(f->base, f->sv[0], newer, sizeof(newer));
	r = wire_recv_reply(f->base, f->sv[0], NULL, NULL);
	assert_non_null(r);
	assert_int_equal(r->id, 13);
	assert_int_equal(r->status, ST(INVALID_REQUEST));
	assert_non_null(strstr(r->message, "not known to this daemon"));
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	assert_int_equal(f->calls, 0);
}

static int
pipe_with(const char *text)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write(p[1], text, strlen(text)), (ssize_t)strlen(text));
	close(p[1]);
	return p[0];
}

static void
assert_fd_reads(int fd, const char *text)
{
	char buf[64] = { 0 };
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), (ssize_t)strlen(text));
	assert_string_equal(buf, text);
}

/* Three pipelined requests, the middle one answered with an fd: the fd
 * arrives with the first byte of the middle reply, not with its
 * neighbours. */
static void
test_fd_travels_with_its_reply(void **state)
{
	struct fixture *f = *state;
	f->fd_to_pass = pipe_with("lease");
	f->fds_per_reply = 1;
	for (uint64_t id = 1; id <= 3; id++) {
		P2pbroker__V1__Request req =
			wire_request(id, id == 2 ? BODY(RESCAN) : BODY(STATUS));
		wire_send_request(f->base, f->sv[0], &req);
	}
	for (uint64_t id = 1; id <= 3; id++) {
		int fds[P2PB_MAX_FDS_PER_REPLY];
		size_t n_fds = 0;
		P2pbroker__V1__Reply *r = wire_recv_reply(f->base, f->sv[0], fds, &n_fds);
		assert_non_null(r);
		assert_int_equal(r->id, id);
		assert_int_equal(r->n_fds, id == 2 ? 1 : 0);
		assert_int_equal(n_fds, r->n_fds);
		if (id == 2) {
			assert_int_equal(f->attach_results[0], 0);
			assert_fd_reads(fds[0], "lease");
			close(fds[0]);
		}
		p2pbroker__v1__reply__free_unpacked(r, NULL);
	}
}

/* At most P2PB_MAX_FDS_PER_REPLY fds per reply; the rest are refused at
 * attach time, and exactly the accepted ones arrive. */
static void
test_fd_limit_per_reply(void **state)
{
	struct fixture *f = *state;
	f->fd_to_pass = pipe_with("x");
	f->fds_per_reply = P2PB_MAX_FDS_PER_REPLY + 1;
	P2pbroker__V1__Request req = wire_request(5, BODY(RESCAN));
	wire_send_request(f->base, f->sv[0], &req);
	int fds[P2PB_MAX_FDS_PER_REPLY];
	size_t n_fds = 0;
	P2pbroker__V1__Reply *r = wire_recv_reply(f->base, f->sv[0], fds, &n_fds);
	assert_non_null(r);
	assert_int_equal(r->n_fds, P2PB_MAX_FDS_PER_REPLY);
	assert_int_equal(n_fds, P2PB_MAX_FDS_PER_REPLY);
	for (size_t i = 0; i < P2PB_MAX_FDS_PER_REPLY; i++) {
		assert_int_equal(f->attach_results[i], 0);
		close(fds[i]);
	}
	assert_int_equal(f->attach_results[P2PB_MAX_FDS_PER_REPLY], -E2BIG);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	assert_int_equal(p2pb_reply_attach_fd(&(struct p2pb_reply){ 0 }, -1), -EBADF);
}

/* Client A pipelines requests with 1 MiB replies and reads none of them;
 * client B is answered all the same. A is served only up to the pipeline
 * limit until it reads, then gets every reply in order. */
static void
test_slow_client_does_not_block_others(void **state)
{
	struct fixture *f = *state;
	enum { N = P2PB_CONN_MAX_PIPELINE + 8 };
	f->big_reply_bytes = 1024 * 1024;
	int a = f->sv[0];
	for (uint64_t id = 1; id <= N; id++) {
		P2pbroker__V1__Request req = wire_request(id, BODY(TOPOLOGY));
		wire_send_request(f->base, a, &req);
	}
	wire_pump(f->base);
	assert_int_equal(f->calls, P2PB_CONN_MAX_PIPELINE);
	assert_true(p2pb_conn_queued_bytes(f->server->conns) > 16u * 1024 * 1024);

	int b = add_client(f);
	for (uint64_t id = 100; id < 110; id++) {
		P2pbroker__V1__Reply *r = roundtrip(f, b, id, BODY(STATUS));
		assert_non_null(r);
		assert_int_equal(r->id, id);
		p2pbroker__v1__reply__free_unpacked(r, NULL);
	}
	assert_int_equal(f->calls, P2PB_CONN_MAX_PIPELINE + 10);

	for (uint64_t id = 1; id <= N; id++) {
		P2pbroker__V1__Reply *r = wire_recv_reply(f->base, a, NULL, NULL);
		assert_non_null(r);
		assert_int_equal(r->id, id);
		assert_int_equal(strlen(r->message), f->big_reply_bytes);
		p2pbroker__v1__reply__free_unpacked(r, NULL);
	}
	assert_int_equal(f->calls, N + 10);
	close(b);
}

/* A client that leaves more than P2PB_CONN_MAX_QUEUED_BYTES unread is
 * dropped; the others keep being served. */
static void
test_stuck_client_is_dropped(void **state)
{
	struct fixture *f = *state;
	f->big_reply_bytes = 3 * 1024 * 1024;
	int b = add_client(f);
	assert_int_equal(p2pb_server_n_clients(f->server), 2);
	for (uint64_t id = 1; id <= P2PB_CONN_MAX_PIPELINE; id++) {
		P2pbroker__V1__Request req = wire_request(id, BODY(TOPOLOGY));
		wire_send_request(f->base, f->sv[0], &req);
	}
	wire_pump(f->base);
	assert_int_equal(p2pb_server_n_clients(f->server), 1);
	P2pbroker__V1__Reply *r = roundtrip(f, b, 77, BODY(STATUS));
	assert_non_null(r);
	assert_int_equal(r->id, 77);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	close(b);
}

/* Half-closing after the requests still delivers every reply. */
static void
test_replies_after_half_close(void **state)
{
	struct fixture *f = *state;
	for (uint64_t id = 1; id <= 3; id++) {
		P2pbroker__V1__Request req = wire_request(id, BODY(STATUS));
		wire_send_request(f->base, f->sv[0], &req);
	}
	shutdown(f->sv[0], SHUT_WR);
	for (uint64_t id = 1; id <= 3; id++) {
		P2pbroker__V1__Reply *r = wire_recv_reply(f->base, f->sv[0], NULL, NULL);
		assert_non_null(r);
		assert_int_equal(r->id, id);
		p2pbroker__v1__reply__free_unpacked(r, NULL);
	}
	assert_null(wire_recv_reply(f->base, f->sv[0], NULL, NULL));
	assert_int_equal(p2pb_server_n_clients(f->server), 0);
}

/* --- deferred replies ------------------------------------------------------ */

static void
send_req(struct fixture *f, int fd, uint64_t id, P2pbroker__V1__Request__BodyCase body)
{
	P2pbroker__V1__Request req = wire_request(id, body);
	wire_send_request(f->base, fd, &req);
}

/* Turns the loop, then checks that nothing has arrived on fd. */
static void
assert_nothing_to_read(struct fixture *f, int fd)
{
	wire_pump(f->base);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0);
}

static void
expect_reply(struct fixture *f, int fd, uint64_t id, const char *message)
{
	P2pbroker__V1__Reply *r = wire_recv_reply(f->base, fd, NULL, NULL);
	assert_non_null(r);
	assert_int_equal(r->id, id);
	assert_string_equal(r->message, message);
	p2pbroker__v1__reply__free_unpacked(r, NULL);
}

/* A deferred request holds back the same client's later requests (replies
 * stay in request order) but not other clients; once finished, the client's
 * replies arrive in order, the deferred one first. */
static void
test_deferred_reply_keeps_order(void **state)
{
	struct fixture *f = *state;
	int a = f->sv[0];
	send_req(f, a, 1, BODY(MATRIX));
	send_req(f, a, 2, BODY(STATUS));
	assert_nothing_to_read(f, a);
	assert_int_equal(f->defer_result, 0);
	assert_int_equal(f->defer_again_result, -EINVAL);
	assert_non_null(f->deferred);
	assert_true(p2pb_deferred_connected(f->deferred));
	assert_int_equal(f->calls, 1); /* request 2 waits in the input buffer */

	int b = add_client(f);
	P2pbroker__V1__Reply *r = roundtrip(f, b, 50, BODY(STATUS));
	assert_non_null(r);
	assert_string_equal(r->message, "hello 50");
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	assert_nothing_to_read(f, a);

	p2pb_reply_status(p2pb_deferred_reply(f->deferred), ST(OK), "later");
	assert_int_equal(p2pb_deferred_finish(f->deferred), 0);
	f->deferred = NULL;
	expect_reply(f, a, 1, "later");
	expect_reply(f, a, 2, "hello 2");
	assert_int_equal(f->calls, 3);
	close(b);
}

/* Finishing from inside the request callback sends exactly one reply, in
 * its place. */
static void
test_deferred_finished_inside_callback(void **state)
{
	struct fixture *f = *state;
	f->finish_inside = true;
	send_req(f, f->sv[0], 7, BODY(MATRIX));
	send_req(f, f->sv[0], 8, BODY(STATUS));
	expect_reply(f, f->sv[0], 7, "at once");
	expect_reply(f, f->sv[0], 8, "hello 8");
	assert_int_equal(f->finish_result, 0);
	assert_nothing_to_read(f, f->sv[0]);
}

/* Deferring is only possible for the request being handled. */
static void
test_defer_outside_callback_refused(void **state)
{
	struct fixture *f = *state;
	struct p2pb_deferred *d = NULL;
	assert_int_equal(p2pb_conn_defer(f->server->conns, &d), -EINVAL);
	assert_null(d);
}

/* A client that half-closes after a deferred request still gets the reply. */
static void
test_deferred_reply_after_half_close(void **state)
{
	struct fixture *f = *state;
	send_req(f, f->sv[0], 3, BODY(MATRIX));
	shutdown(f->sv[0], SHUT_WR);
	assert_nothing_to_read(f, f->sv[0]);
	assert_int_equal(p2pb_server_n_clients(f->server), 1);
	p2pb_reply_status(p2pb_deferred_reply(f->deferred), ST(OK), "still here");
	assert_int_equal(p2pb_deferred_finish(f->deferred), 0);
	f->deferred = NULL;
	expect_reply(f, f->sv[0], 3, "still here");
	assert_null(wire_recv_reply(f->base, f->sv[0], NULL, NULL));
	assert_int_equal(p2pb_server_n_clients(f->server), 0);
}

/* A client that hangs up (here with a reply left unread, which resets the
 * connection) is freed at once; its token stays valid, says so, and
 * finishing it drops the reply. */
static void
test_deferred_client_gone(void **state)
{
	struct fixture *f = *state;
	send_req(f, f->sv[0], 1, BODY(STATUS));
	send_req(f, f->sv[0], 2, BODY(MATRIX));
	wire_pump(f->base);
	assert_non_null(f->deferred);
	close(f->sv[0]);
	f->sv[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); /* for teardown */
	wire_pump(f->base);
	assert_int_equal(p2pb_server_n_clients(f->server), 0);
	assert_false(p2pb_deferred_connected(f->deferred));
	p2pb_reply_status(p2pb_deferred_reply(f->deferred), ST(OK), "nobody");
	assert_int_equal(p2pb_deferred_finish(f->deferred), -ENOTCONN);
	f->deferred = NULL;
}

/* A client that closes without unread replies is noticed when its deferred
 * reply cannot be written; the server outliving it or not, nothing leaks. */
static void
test_deferred_client_closed_then_finished(void **state)
{
	struct fixture *f = *state;
	send_req(f, f->sv[0], 4, BODY(MATRIX));
	wire_pump(f->base);
	close(f->sv[0]);
	f->sv[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	wire_pump(f->base);
	/* End of input alone does not end a client that waits for a reply. */
	assert_int_equal(p2pb_server_n_clients(f->server), 1);
	assert_true(p2pb_deferred_connected(f->deferred));
	p2pb_reply_status(p2pb_deferred_reply(f->deferred), ST(OK), "too late");
	assert_int_equal(p2pb_deferred_finish(f->deferred), 0);
	f->deferred = NULL;
	wire_pump(f->base);
	assert_int_equal(p2pb_server_n_clients(f->server), 0);
}

/* Tokens outlive the server (shutdown with a scan still running). */
static void
test_deferred_outlives_server(void **state)
{
	struct fixture *f = *state;
	send_req(f, f->sv[0], 5, BODY(MATRIX));
	wire_pump(f->base);
	assert_non_null(f->deferred);
	p2pb_server_free(f->server);
	f->server = NULL;
	assert_false(p2pb_deferred_connected(f->deferred));
	assert_int_equal(p2pb_deferred_finish(f->deferred), -ENOTCONN);
	f->deferred = NULL;
	assert_null(p2pb_deferred_free(NULL));
}

/* Giving up on a deferred reply closes the client's connection after what
 * was queued before it: a later reply would answer the wrong request. */
static void
test_deferred_free_closes_connection(void **state)
{
	struct fixture *f = *state;
	send_req(f, f->sv[0], 1, BODY(STATUS));
	send_req(f, f->sv[0], 2, BODY(MATRIX));
	send_req(f, f->sv[0], 3, BODY(STATUS));
	expect_reply(f, f->sv[0], 1, "hello 1");
	assert_non_null(f->deferred);
	assert_null(p2pb_deferred_free(f->deferred));
	f->deferred = NULL;
	assert_null(wire_recv_reply(f->base, f->sv[0], NULL, NULL));
	assert_int_equal(p2pb_server_n_clients(f->server), 0);
	assert_int_equal(f->calls, 2);
}

/* --- connection limits ---------------------------------------------------- */

/* Every connection of f's server (the fixture's own one included) as uid. */
static void
set_all_uids(struct fixture *f, uid_t uid)
{
	for (struct p2pb_conn *c = f->server->conns; c; c = c->next)
		c->cred.uid = uid;
}

static void
test_client_limits(void **state)
{
	struct fixture *f = *state;
	int fds[P2PB_MAX_CLIENTS + P2PB_ROOT_RESERVED_CLIENTS];
	size_t n = 0;

	/* One user fills its share; others, and root, still get in. */
	while (f->server->n_conns < P2PB_MAX_CLIENTS_PER_UID)
		fds[n++] = add_client(f);
	set_all_uids(f, 1000);
	assert_false(admit_uid(f->server, 1000, 1));
	assert_true(admit_uid(f->server, 1001, 1));
	assert_true(admit_uid(f->server, 0, 1));

	/* All slots taken by many users: only root's reserve is left. */
	while (f->server->n_conns < P2PB_MAX_CLIENTS)
		fds[n++] = add_client(f);
	uid_t uid = 2000;
	size_t k = 0;
	for (struct p2pb_conn *c = f->server->conns; c; c = c->next, k++)
		c->cred.uid = uid + k / 32;
	assert_false(admit_uid(f->server, 3000, 1));
	assert_true(admit_uid(f->server, 0, 1));
	while (f->server->n_conns < P2PB_MAX_CLIENTS + P2PB_ROOT_RESERVED_CLIENTS)
		fds[n++] = add_client(f);
	assert_false(admit_uid(f->server, 0, 1));

	/* A slot comes back when a client leaves. */
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	while (f->server->n_conns > 1)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_true(admit_uid(f->server, 3000, 1));
}

/* --- binding a path ------------------------------------------------------- */

static void
test_listen_path(void **state)
{
	struct fixture *f = *state;
	char dir[] = "/tmp/p2pb-server-test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/sub/dir/socket", dir);

	assert_int_equal(p2pb_server_listen_path(f->server, path), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);

	/* A live daemon on the path: the second one refuses. */
	struct p2pb_server *other;
	struct p2pb_server_ops ops = { .request = fake_request, .userdata = f };
	assert_int_equal(p2pb_server_new(f->base, &ops, &other), 0);
	assert_int_equal(p2pb_server_listen_path(other, path), -EADDRINUSE);

	/* A real connection through the listener is served. */
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	P2pbroker__V1__Reply *r = roundtrip(f, c, 3, BODY(STATUS));
	assert_non_null(r);
	assert_int_equal(r->status, ST(OK));
	p2pbroker__v1__reply__free_unpacked(r, NULL);
	close(c);

	/* The first server leaves; its socket file goes with it. */
	p2pb_server_free(f->server);
	f->server = NULL;
	assert_int_equal(lstat(path, &st), -1);

	/* A stale socket (nobody listening) is replaced. */
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	assert_int_equal(p2pb_server_listen_path(other, path), 0);
	p2pb_server_free(other);

	/* A regular file is never removed. */
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(p2pb_server_new(f->base, &ops, &other), 0);
	assert_int_equal(p2pb_server_listen_path(other, path), -EEXIST);
	p2pb_server_free(other);
	assert_int_equal(lstat(path, &st), 0);

	unlink(path);
	snprintf(path, sizeof(path), "%s/sub/dir", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
}

int
main(void)
{
	p2pb_log_init(false, LOG_WARNING);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_roundtrip_echoes_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_credentials_are_recorded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_oversized_request_refused_without_reading,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_at_limit_is_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_frames_keep_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_version_and_missing_body, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fd_travels_with_its_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_limit_per_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_client_does_not_block_others, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stuck_client_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replies_after_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_reply_keeps_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_finished_inside_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_defer_outside_callback_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deferred_reply_after_half_close, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deferred_client_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_client_closed_then_finished, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deferred_outlives_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_free_closes_connection, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_listen_path, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
