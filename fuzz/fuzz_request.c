/* fuzz_request.c - libFuzzer target: each input is one request payload, framed and sent over a
 * socketpair through the daemon's own server (read, framing, decode, validation, handler table);
 * the reply must decode, re-pack to the same bytes, and agree with the engine. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "context.h"
#include "fuzz-util.h"
#include "log.h"
#include "protocol.h"
#include "server.h"
#include "topology.h"
#include "verdict.h"

#define ST(x)	 P2PBROKER__V1__STATUS_CODE__STATUS_##x
#define REPLY(x) P2PBROKER__V1__REPLY__BODY_##x

typedef P2pbroker__V1__Request Request;
typedef P2pbroker__V1__Reply Reply;
typedef P2pbroker__V1__Bdf Bdf;

/* Time without progress before the daemon counts as stuck. A rescan replies
 * from its worker thread, so the reply may take a scan's time to come. */
#define STUCK_USEC (10 * 1000000ull)

/* libFuzzer calls in with no context argument: the one daemon that lives
 * across inputs. */
static struct {
	struct p2pb_context *ctx;
	int peer; /* the client's end of the connection */
} h;

static void
connect_client(void)
{
	int sv[2];

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0,
		   "socketpair: %s", strerror(errno));
	int r = p2pb_server_add_conn(h.ctx->server, sv[0], NULL);
	FUZZ_CHECK(r == 0, "p2pb_server_add_conn: %s", strerror(-r));
	h.peer = sv[1];
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *root = getenv("P2PB_FUZZ_ROOT");
	struct p2pb_options opts = { .root = root, .ready_fd = -1 };

	if (!root || !*root) {
		fprintf(stderr,
			"fuzz_request: set P2PB_FUZZ_ROOT to a fixture root, e.g.\n"
			"  tests/fixtures/mkfixture.py tests/fixtures/dualsocket.topo DIR\n");
		exit(2);
	}
	p2pb_log_init(false, getenv("P2PB_FUZZ_LOG") ? LOG_DEBUG : LOG_CRIT);
	int r = p2pb_context_new(&opts, &h.ctx);
	FUZZ_CHECK(r == 0, "p2pb_context_new: %s", strerror(-r));
	r = p2pb_context_rescan(h.ctx, "fuzzer start");
	FUZZ_CHECK(r == 0, "cannot scan %s: %s", root, strerror(-r));
	connect_client();
	return 0;
}

/* --- one exchange over the socket -------------------------------------------- */

struct exchange {
	uint8_t *rx; /* bytes the daemon wrote */
	size_t rx_len, rx_cap;
	bool eof; /* the daemon closed the connection */
};

/* Length of the first complete frame in rx, or 0. */
static size_t
whole_frame(const struct exchange *x)
{
	if (x->rx_len < P2PB_FRAME_HEADER)
		return 0;
	const uint8_t *p = x->rx;
	size_t len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	FUZZ_CHECK(len <= P2PB_MAX_REPLY_BYTES, "reply frame of %zu bytes", len);
	return x->rx_len >= P2PB_FRAME_HEADER + len ? P2PB_FRAME_HEADER + len : 0;
}

static bool
receive(struct exchange *x)
{
	bool progress = false;

	for (;;) {
		if (x->rx_cap - x->rx_len < 65536) {
			x->rx_cap = x->rx_cap ? x->rx_cap * 2 : 131072;
			x->rx = realloc(x->rx, x->rx_cap);
			FUZZ_CHECK(x->rx, "out of memory");
		}
		ssize_t n = recv(h.peer, x->rx + x->rx_len, x->rx_cap - x->rx_len, 0);
		if (n > 0) {
			x->rx_len += (size_t)n;
			progress = true;
			continue;
		}
		/* A daemon that hangs up on a request it did not read resets
		 * the stream, after what it wrote has been read. */
		if (n == 0 || errno == ECONNRESET)
			x->eof = true;
		else
			FUZZ_CHECK(errno == EAGAIN || errno == EINTR, "recv: %s", strerror(errno));
		return progress || x->eof;
	}
}

/* Writes frame to the daemon while turning its event loop, until one whole
 * reply frame has come back (and, when the daemon must hang up, until it has). */
static void
run_exchange(const uint8_t *frame, size_t frame_len, bool expect_close, struct exchange *x)
{
	size_t sent = 0;
	uint64_t last_progress = p2pb_now_usec();

	for (;;) {
		bool progress = false;
		if (sent < frame_len) {
			ssize_t n = send(h.peer, frame + sent, frame_len - sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				sent += (size_t)n;
				progress = true;
			} else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
				/* Refused unread; the rest need not go. */
				FUZZ_CHECK(expect_close, "daemon hung up in mid-request");
				sent = frame_len;
			}
		}
		event_base_loop(h.ctx->base, EVLOOP_NONBLOCK);
		progress |= receive(x);
		if (whole_frame(x) && (!expect_close || x->eof))
			return;
		FUZZ_CHECK(!x->eof,
			   "daemon closed the connection after %zu reply bytes, %zu of %zu request "
			   "bytes sent",
			   x->rx_len, sent, frame_len);
		uint64_t now = p2pb_now_usec();
		if (progress) {
			last_progress = now;
			continue;
		}
		FUZZ_CHECK(now - last_progress < STUCK_USEC,
			   "no reply after %llu s without progress (%zu bytes in)",
			   STUCK_USEC / 1000000ull, x->rx_len);
		/* Waiting for the worker thread: let it run. */
		poll(NULL, 0, 1);
	}
}

/* --- what the reply must say ---------------------------------------------------- */

/* The device a request names, as the handlers must judge it: the status a
 * missing, out-of-range or unknown address earns, or OK with its index. */
static P2pbroker__V1__StatusCode
judge_bdf(const Bdf *b, int *ret_dev)
{
	if (!b || b->bus > 0xff || b->dev > 0x1f || b->fn > 7)
		return ST(INVALID_REQUEST);
	struct p2pb_bdf a = { b->domain, (uint8_t)b->bus, (uint8_t)b->dev, (uint8_t)b->fn };
	int d = p2pb_topology_find(h.ctx->topo, a);
	if (d < 0)
		return ST(NOT_FOUND);
	*ret_dev = d;
	return ST(OK);
}

static void
check_status(const Request *req, const Reply *rep)
{
	const P2pbroker__V1__StatusReply *s = rep->status_reply;
	const struct p2pb_topology *t = h.ctx->topo;

	FUZZ_CHECK(rep->status == ST(OK), "status refused: %s", rep->message);
	FUZZ_CHECK(s->protocol == P2PB_PROTOCOL_VERSION && s->generation == h.ctx->generation,
		   "status reply: protocol %u generation %llu", s->protocol,
		   (unsigned long long)s->generation);
	FUZZ_CHECK(s->n_devices == t->n_devs && s->n_switches == t->n_switches &&
			   s->n_warnings == t->n_warnings,
		   "status reply counts differ from the topology");
}

static void
check_topology(const Request *req, const Reply *rep)
{
	const P2pbroker__V1__TopologyReply *m = rep->topology;
	const struct p2pb_topology *t = h.ctx->topo;

	FUZZ_CHECK(rep->status == ST(OK), "topology refused: %s", rep->message);
	FUZZ_CHECK(m->n_devices == t->n_devs && m->n_hostbridges == t->n_hostbridges &&
			   m->n_switches == t->n_switches && m->n_warnings == t->n_warnings,
		   "topology reply counts differ from the model");
	for (size_t i = 0; i < m->n_devices; i++) {
		const struct p2pb_bdf b = t->devs[i].bdf;
		const Bdf *w = m->devices[i]->bdf;
		FUZZ_CHECK(w && w->domain == b.domain && w->bus == b.bus && w->dev == b.dev &&
				   w->fn == b.fn,
			   "device %zu out of order", i);
	}
}

static void
check_path(const Request *req, const Reply *rep)
{
	const P2pbroker__V1__PathRequest *p = req->path;
	int provider = -1, client = -1;
	P2pbroker__V1__StatusCode want = judge_bdf(p->provider, &provider);

	if (want == ST(OK))
		want = judge_bdf(p->client, &client);
	FUZZ_CHECK(rep->status == want, "path: status %d, expected %d (%s)", rep->status, want,
		   rep->message);
	if (want != ST(OK))
		return;
	struct p2pb_verdict v;
	p2pb_verdict(h.ctx->vctx, provider, client, &v);
	const P2pbroker__V1__PathReply *m = rep->path;
	FUZZ_CHECK((int)m->verdict == (int)v.map && m->distance == v.distance &&
			   m->raw_distance == v.raw_distance,
		   "path reply (%d, %d) differs from the engine (%d, %d)", m->verdict, m->distance,
		   v.map, v.distance);
	FUZZ_CHECK(m->n_acs_redirect == m->n_acs_ctrl && m->n_acs_redirect == v.n_acs,
		   "path reply lists %zu ACS devices, the engine %zu", m->n_acs_redirect, v.n_acs);
	FUZZ_CHECK(m->reason && *m->reason, "path reply without a reason");
}

static void
check_providers(const Request *req, const Reply *rep)
{
	const P2pbroker__V1__ProvidersRequest *p = req->providers;
	P2pbroker__V1__StatusCode want = p->n_clients ? ST(OK) : ST(INVALID_REQUEST);
	int *clients = calloc(p->n_clients + 1, sizeof(int));

	FUZZ_CHECK(clients, "out of memory");
	for (size_t i = 0; i < p->n_clients && want == ST(OK); i++)
		want = judge_bdf(p->clients[i], &clients[i]);
	FUZZ_CHECK(rep->status == want, "providers: status %d, expected %d (%s)", rep->status, want,
		   rep->message);
	if (want == ST(OK)) {
		const struct p2pb_topology *t = h.ctx->topo;
		struct p2pb_provider_choice *ch = calloc(t->n_devs + 1, sizeof(*ch));
		FUZZ_CHECK(ch, "out of memory");
		int n = p2pb_providers_rank(h.ctx->vctx, clients, p->n_clients, ch, t->n_devs);
		const P2pbroker__V1__ProvidersReply *m = rep->providers;
		FUZZ_CHECK(n >= 0 && m->n_providers == (size_t)n && m->n_clients == p->n_clients,
			   "providers reply: %zu providers for %zu clients, engine %d",
			   m->n_providers, m->n_clients, n);
		for (int i = 0; i < n; i++)
			FUZZ_CHECK(m->providers[i]->total_distance == ch[i].total_distance,
				   "provider %d: distance %d, engine %d", i,
				   m->providers[i]->total_distance, ch[i].total_distance);
		free(ch);
	}
	free(clients);
}

static void
check_matrix(const Request *req, const Reply *rep)
{
	const P2pbroker__V1__MatrixReply *m = rep->matrix;
	int *devs = NULL;
	int n = p2pb_matrix_devices(h.ctx->topo, &devs);

	FUZZ_CHECK(rep->status == ST(OK), "matrix refused: %s", rep->message);
	FUZZ_CHECK(n >= 0 && m->n_devices == (size_t)n && m->n_verdict == (size_t)n * (size_t)n &&
			   m->n_distance == m->n_verdict,
		   "matrix of %zu devices with %zu verdicts, engine %d devices", m->n_devices,
		   m->n_verdict, n);
	for (size_t i = 0; i < m->n_verdict; i++)
		FUZZ_CHECK((m->verdict[i] == P2PBROKER__V1__MAP_TYPE__MAP_NOT_SUPPORTED) ==
				   (m->distance[i] == -1),
			   "matrix cell %zu: verdict %d with distance %d", i, m->verdict[i],
			   m->distance[i]);
	free(devs);
}

static void
check_rescan(const Request *req, const Reply *rep)
{
	FUZZ_CHECK(rep->status == ST(OK), "rescan refused: %s", rep->message);
	FUZZ_CHECK(rep->rescan->generation == h.ctx->generation &&
			   rep->rescan->n_devices == h.ctx->topo->n_devs,
		   "rescan reply differs from the installed topology");
}

/* Per request type: the reply body it earns and what must hold of it. */
static const struct {
	P2pbroker__V1__Reply__BodyCase body;
	void (*check)(const Request *req, const Reply *rep);
} expect[] = {
	[P2PBROKER__V1__REQUEST__BODY_STATUS] = { REPLY(STATUS_REPLY), check_status },
	[P2PBROKER__V1__REQUEST__BODY_TOPOLOGY] = { REPLY(TOPOLOGY), check_topology },
	[P2PBROKER__V1__REQUEST__BODY_PATH] = { REPLY(PATH), check_path },
	[P2PBROKER__V1__REQUEST__BODY_PROVIDERS] = { REPLY(PROVIDERS), check_providers },
	[P2PBROKER__V1__REQUEST__BODY_MATRIX] = { REPLY(MATRIX), check_matrix },
	[P2PBROKER__V1__REQUEST__BODY_RESCAN] = { REPLY(RESCAN), check_rescan },
};

/* The ladder the server must have applied: which refusal, with which id. */
static void
check_refusal(const uint8_t *data, size_t size, const Request *req, const Reply *rep)
{
	P2pbroker__V1__StatusCode want = ST(INVALID_REQUEST);
	uint64_t id = 0;

	if (size > P2PB_MAX_REQUEST_BYTES) {
		want = ST(TOO_LARGE);
	} else if (size > 0 && req) {
		id = req->id;
		if (req->version != P2PB_PROTOCOL_VERSION)
			want = ST(UNSUPPORTED_VERSION);
	}
	FUZZ_CHECK(rep->status == want && rep->id == id,
		   "refusal: status %d id %llu, expected status %d id %llu (%s)", rep->status,
		   (unsigned long long)rep->id, want, (unsigned long long)id, rep->message);
}

static bool
is_dispatched(size_t size, const Request *req)
{
	return size > 0 && size <= P2PB_MAX_REQUEST_BYTES && req &&
	       req->version == P2PB_PROTOCOL_VERSION &&
	       req->body_case != P2PBROKER__V1__REQUEST__BODY__NOT_SET;
}

static void
check_reply(const uint8_t *data, size_t size, const uint8_t *body, size_t len)
{
	Reply *rep = p2pbroker__v1__reply__unpack(NULL, len, body);
	FUZZ_CHECK(rep, "the daemon's %zu-byte reply does not decode", len);

	/* What the daemon packed must be exactly what its decoded form packs. */
	size_t again = p2pbroker__v1__reply__get_packed_size(rep);
	uint8_t *buf = malloc(again ? again : 1);
	FUZZ_CHECK(buf, "out of memory");
	p2pbroker__v1__reply__pack(rep, buf);
	FUZZ_CHECK(again == len && memcmp(buf, body, len) == 0,
		   "reply re-packs to %zu bytes instead of %zu", again, len);
	free(buf);

	FUZZ_CHECK(protobuf_c_enum_descriptor_get_value(&p2pbroker__v1__status_code__descriptor,
							(int)rep->status),
		   "unknown status %d", rep->status);
	FUZZ_CHECK(rep->n_fds == 0, "reply announces %u fds", rep->n_fds);
	FUZZ_CHECK(rep->status == ST(OK) || (rep->message && *rep->message),
		   "status %d without a message", rep->status);

	Request *req = size && size <= P2PB_MAX_REQUEST_BYTES
			       ? p2pbroker__v1__request__unpack(NULL, size, data)
			       : NULL;
	if (!is_dispatched(size, req)) {
		check_refusal(data, size, req, rep);
	} else {
		size_t k = (size_t)req->body_case;
		FUZZ_CHECK(rep->id == req->id, "reply id %llu for request %llu",
			   (unsigned long long)rep->id, (unsigned long long)req->id);
		if (k < sizeof(expect) / sizeof(expect[0]) && expect[k].check) {
			FUZZ_CHECK(rep->body_case == (rep->status == ST(OK) ? expect[k].body
									    : REPLY(_NOT_SET)),
				   "status %d with reply body %d to request body %zu", rep->status,
				   rep->body_case, k);
			expect[k].check(req, rep);
		} else {
			/* A body this build's schema knows but no handler serves. */
			FUZZ_CHECK(rep->status == ST(INVALID_REQUEST),
				   "request body %zu: status %d", k, rep->status);
		}
	}
	if (req)
		p2pbroker__v1__request__free_unpacked(req, NULL);
	p2pbroker__v1__reply__free_unpacked(rep, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd_before = fuzz_lowest_free_fd();
	uint8_t *frame = malloc(P2PB_FRAME_HEADER + size);
	FUZZ_CHECK(frame, "out of memory");
	frame[0] = (uint8_t)(size >> 24);
	frame[1] = (uint8_t)(size >> 16);
	frame[2] = (uint8_t)(size >> 8);
	frame[3] = (uint8_t)size;
	if (size)
		memcpy(frame + P2PB_FRAME_HEADER, data, size);

	/* Over the limit the daemon refuses and hangs up, by design. */
	bool too_large = size > P2PB_MAX_REQUEST_BYTES;
	struct exchange x = { 0 };
	run_exchange(frame, P2PB_FRAME_HEADER + size, too_large, &x);
	size_t flen = whole_frame(&x);
	FUZZ_CHECK(flen == x.rx_len, "%zu bytes after the reply frame", x.rx_len - flen);
	check_reply(data, size, x.rx + P2PB_FRAME_HEADER, flen - P2PB_FRAME_HEADER);
	free(x.rx);
	free(frame);

	if (too_large) {
		close(h.peer);
		connect_client();
	}
	FUZZ_CHECK(p2pb_server_n_clients(h.ctx->server) == 1, "%zu clients connected",
		   p2pb_server_n_clients(h.ctx->server));
	fuzz_check_no_fd_leak(fd_before, "after a request");
	return 0;
}
