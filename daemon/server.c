/* server.c - the daemon's Unix socket server: accepts clients, frames and
 * validates requests, queues replies (with fds) and writes them without ever
 * blocking, so that one slow or stuck client cannot delay the others. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "server.h"

#define ARENA_CHUNK    (64u * 1024u)
#define LISTEN_BACKLOG 128
#define WRITE_IOVECS   16
/* After running out of fds, accepting is paused this long so that the
 * level-triggered listener does not spin. */
#define ACCEPT_PAUSE_SEC 1

struct p2pb_arena_chunk {
	struct p2pb_arena_chunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

/* A reply frame in the output stream, by byte offsets since connect. */
struct pending_reply {
	uint64_t start, end;
	int fds[P2PB_MAX_FDS_PER_REPLY];
	size_t n_fds; /* not yet sent */
};

struct p2pb_conn {
	struct p2pb_server *server;
	struct p2pb_conn *prev, *next;
	int fd;
	struct ucred cred;
	struct evbuffer *in, *out;
	struct event *rev, *wev;
	bool reading, writing;
	bool read_eof; /* peer shut its write side */
	bool closing;  /* close once the queued output is written */
	uint64_t sent, queued;
	struct pending_reply pending[P2PB_CONN_MAX_PIPELINE];
	size_t p_head, p_count;
	uint64_t n_requests;

	/* The request whose reply is deferred: nothing more is read out of
	 * the input buffer until it is answered, so replies keep their order. */
	struct p2pb_deferred *deferred;
	uint64_t n_deferred;
	bool in_request; /* inside ops.request for handling_id */
	uint64_t handling_id;
	int error; /* set when a deferred reply could not be queued */
};

struct p2pb_deferred {
	struct p2pb_conn *conn; /* NULL once the client has gone */
	uint64_t id;
	struct p2pb_reply reply;
};

struct listener {
	struct listener *next;
	struct p2pb_server *server;
	int fd;
	struct event *ev;
};

struct p2pb_server {
	struct event_base *base;
	struct p2pb_server_ops ops;
	struct listener *listeners;
	struct p2pb_conn *conns;
	size_t n_conns;
	struct event *accept_pause;
	char *bound_path; /* a socket file we created, removed on exit */
	dev_t bound_dev;
	ino_t bound_ino;
	/* Largest input ever buffered for one client: stays within one frame
	 * header plus P2PB_MAX_REQUEST_BYTES whatever clients send. */
	size_t max_input_buffered;
};

/* --- arena and reply construction ---------------------------------------- */

static void *
arena_alloc(struct p2pb_arena *a, size_t size)
{
	size_t align = alignof(max_align_t);
	size = (size + align - 1) & ~(align - 1);
	struct p2pb_arena_chunk *c = a->head;
	if (!c || c->cap - c->used < size) {
		size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

static void
arena_clear(struct p2pb_arena *a)
{
	while (a->head) {
		struct p2pb_arena_chunk *next = a->head->next;
		free(a->head);
		a->head = next;
	}
}

static void
reply_init(struct p2pb_reply *r)
{
	memset(r, 0, sizeof(*r));
	p2pbroker__v1__reply__init(&r->msg);
	r->msg.status = P2PBROKER__V1__STATUS_CODE__STATUS_OK;
}

static void
reply_close_fds(struct p2pb_reply *r)
{
	for (size_t i = 0; i < r->n_fds; i++)
		close(r->fds[i]);
	r->n_fds = 0;
}

static void
reply_done(struct p2pb_reply *r)
{
	reply_close_fds(r);
	arena_clear(&r->arena);
}

void *
p2pb_reply_alloc(struct p2pb_reply *r, size_t size)
{
	return arena_alloc(&r->arena, size);
}

static char *
reply_vprintf(struct p2pb_reply *r, const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return NULL;
	char *s = arena_alloc(&r->arena, (size_t)n + 1);
	if (s)
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

char *
p2pb_reply_printf(struct p2pb_reply *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = reply_vprintf(r, fmt, ap);
	va_end(ap);
	return s;
}

int
p2pb_reply_status(struct p2pb_reply *r, P2pbroker__V1__StatusCode status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = reply_vprintf(r, fmt, ap);
	va_end(ap);
	r->msg.status = status;
	/* A reply must always say something a person can act on. */
	r->msg.message = s ? s : (char *)"out of memory while formatting the reply";
	return s ? 0 : -ENOMEM;
}

int
p2pb_reply_attach_fd(struct p2pb_reply *r, int fd)
{
	if (r->n_fds >= P2PB_MAX_FDS_PER_REPLY)
		return -E2BIG;
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (d < 0)
		return -errno;
	r->fds[r->n_fds++] = d;
	return 0;
}

/* --- connections ---------------------------------------------------------- */

static void conn_service(struct p2pb_conn *c);

static void
conn_free(struct p2pb_conn *c)
{
	struct p2pb_server *s = c->server;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	if (c->deferred)
		c->deferred->conn = NULL; /* its holder finds out when it finishes */
	for (size_t i = 0; i < c->p_count; i++) {
		struct pending_reply *p = &c->pending[(c->p_head + i) % P2PB_CONN_MAX_PIPELINE];
		for (size_t j = 0; j < p->n_fds; j++)
			close(p->fds[j]);
	}
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->in)
		evbuffer_free(c->in);
	if (c->out)
		evbuffer_free(c->out);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static void
conn_drop(struct p2pb_conn *c, int err, const char *why)
{
	if (err)
		log_errno(LOG_DEBUG, err, "client pid %d uid %u: closing: %s", (int)c->cred.pid,
			  (unsigned)c->cred.uid, why);
	else
		log_debug("client pid %d uid %u: closing: %s", (int)c->cred.pid,
			  (unsigned)c->cred.uid, why);
	conn_free(c);
}

/* Appends one frame (length + packed reply) straight into the output buffer,
 * with no intermediate copy of the packed message. */
static int
conn_queue_reply(struct p2pb_conn *c, struct p2pb_reply *r, uint64_t id)
{
	r->msg.id = id;
	r->msg.n_fds = (uint32_t)r->n_fds;
	size_t size = protobuf_c_message_get_packed_size(&r->msg.base);
	if (size > P2PB_MAX_REPLY_BYTES) {
		log_warning("reply of %zu bytes to request %llu exceeds the %u-byte limit", size,
			    (unsigned long long)id, P2PB_MAX_REPLY_BYTES);
		struct p2pb_reply small;
		reply_init(&small);
		p2pb_reply_status(&small, P2PBROKER__V1__STATUS_CODE__STATUS_INTERNAL,
				  "reply of %zu bytes exceeds the protocol limit of %u bytes", size,
				  P2PB_MAX_REPLY_BYTES);
		int rr = conn_queue_reply(c, &small, id);
		reply_done(&small);
		return rr;
	}

	struct evbuffer_iovec v;
	size_t frame = P2PB_FRAME_HEADER + size;
	if (evbuffer_reserve_space(c->out, (ev_ssize_t)frame, &v, 1) != 1 || v.iov_len < frame)
		return -ENOMEM;
	unsigned char *p = v.iov_base;
	p[0] = (unsigned char)(size >> 24);
	p[1] = (unsigned char)(size >> 16);
	p[2] = (unsigned char)(size >> 8);
	p[3] = (unsigned char)size;
	protobuf_c_message_pack(&r->msg.base, p + P2PB_FRAME_HEADER);
	v.iov_len = frame;
	if (evbuffer_commit_space(c->out, &v, 1) < 0)
		return -ENOMEM;

	struct pending_reply *pr = &c->pending[(c->p_head + c->p_count) % P2PB_CONN_MAX_PIPELINE];
	pr->start = c->queued;
	pr->end = c->queued + frame;
	pr->n_fds = r->n_fds;
	memcpy(pr->fds, r->fds, r->n_fds * sizeof(int));
	r->n_fds = 0; /* now owned by the pending entry */
	c->p_count++;
	c->queued += frame;
	return 0;
}

static int conn_reply_error(struct p2pb_conn *c, uint64_t id, P2pbroker__V1__StatusCode status,
			    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
conn_reply_error(struct p2pb_conn *c, uint64_t id, P2pbroker__V1__StatusCode status,
		 const char *fmt, ...)
{
	struct p2pb_reply r;
	reply_init(&r);
	va_list ap;
	va_start(ap, fmt);
	char *s = reply_vprintf(&r, fmt, ap);
	va_end(ap);
	r.msg.status = status;
	r.msg.message = s ? s : (char *)"request refused";
	int rr = conn_queue_reply(c, &r, id);
	reply_done(&r);
	return rr;
}

/* The validation ladder after framing: decodable, version, body. */
static int
conn_handle_frame(struct p2pb_conn *c, const uint8_t *data, size_t len)
{
	const ProtobufCMessageDescriptor *d = &p2pbroker__v1__request__descriptor;
	P2pbroker__V1__Request *req =
		(P2pbroker__V1__Request *)protobuf_c_message_unpack(d, NULL, len, data);
	if (!req)
		return conn_reply_error(c, 0, P2PBROKER__V1__STATUS_CODE__STATUS_INVALID_REQUEST,
					"request of %zu bytes is not a valid p2pbroker.v1.Request",
					len);
	int r;
	if (req->version != P2PB_PROTOCOL_VERSION)
		r = conn_reply_error(c, req->id,
				     P2PBROKER__V1__STATUS_CODE__STATUS_UNSUPPORTED_VERSION,
				     "protocol version %u is not supported; this daemon speaks %u",
				     req->version, P2PB_PROTOCOL_VERSION);
	else if (req->body_case == P2PBROKER__V1__REQUEST__BODY__NOT_SET &&
		 req->base.n_unknown_fields > 0)
		/* A newer client's request type, sent with our version number. */
		r = conn_reply_error(c, req->id, P2PBROKER__V1__STATUS_CODE__STATUS_INVALID_REQUEST,
				     "request type not known to this daemon (p2pbrokerd %s)",
				     P2PB_VERSION);
	else if (req->body_case == P2PBROKER__V1__REQUEST__BODY__NOT_SET)
		r = conn_reply_error(
			c, req->id, P2PBROKER__V1__STATUS_CODE__STATUS_INVALID_REQUEST,
			"request has no body: say what is asked (status, topology, ...)");
	else {
		struct p2pb_reply reply;
		reply_init(&reply);
		c->n_requests++;
		uint64_t deferrals = c->n_deferred;
		c->in_request = true;
		c->handling_id = req->id;
		c->server->ops.request(c->server->ops.userdata, c, req, &reply);
		c->in_request = false;
		/* A deferred request is answered by p2pb_deferred_finish(). */
		r = c->n_deferred == deferrals ? conn_queue_reply(c, &reply, req->id) : 0;
		reply_done(&reply);
	}
	protobuf_c_message_free_unpacked(&req->base, NULL);
	return r;
}

/* Handles complete frames while the pipeline has room. Returns the number of
 * frames handled or -errno. */
static int
conn_process(struct p2pb_conn *c)
{
	int handled = 0;
	while (!c->closing && !c->deferred && c->p_count < P2PB_CONN_MAX_PIPELINE) {
		size_t have = evbuffer_get_length(c->in);
		unsigned char h[P2PB_FRAME_HEADER];
		if (have < P2PB_FRAME_HEADER)
			break;
		evbuffer_copyout(c->in, h, sizeof(h));
		uint32_t len =
			(uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
		int r;
		if (len > P2PB_MAX_REQUEST_BYTES) {
			/* The stream cannot be resynchronised without reading
			 * the body: refuse, then close. */
			c->closing = true;
			evbuffer_drain(c->in, have);
			r = conn_reply_error(c, 0, P2PBROKER__V1__STATUS_CODE__STATUS_TOO_LARGE,
					     "request of %u bytes exceeds the limit of %u bytes",
					     len, P2PB_MAX_REQUEST_BYTES);
		} else if (len == 0) {
			evbuffer_drain(c->in, P2PB_FRAME_HEADER);
			r = conn_reply_error(c, 0,
					     P2PBROKER__V1__STATUS_CODE__STATUS_INVALID_REQUEST,
					     "empty request frame");
		} else if (have < P2PB_FRAME_HEADER + (size_t)len) {
			break;
		} else {
			const uint8_t *data = evbuffer_pullup(c->in, P2PB_FRAME_HEADER + len);
			if (!data)
				return -ENOMEM;
			r = conn_handle_frame(c, data + P2PB_FRAME_HEADER, len);
			evbuffer_drain(c->in, P2PB_FRAME_HEADER + len);
		}
		if (r < 0)
			return r;
		handled++;
	}
	return handled;
}

/* Bytes that may go out in one sendmsg and the fds riding on its first byte:
 * fds travel with the first byte of their reply's frame, so a write stops
 * short of the next frame that carries fds. */
static size_t
conn_next_write(struct p2pb_conn *c, struct pending_reply **ret_fds)
{
	size_t limit = evbuffer_get_length(c->out);
	*ret_fds = NULL;
	for (size_t i = 0; i < c->p_count; i++) {
		struct pending_reply *p = &c->pending[(c->p_head + i) % P2PB_CONN_MAX_PIPELINE];
		if (p->n_fds == 0)
			continue;
		if (p->start == c->sent) {
			*ret_fds = p;
			continue;
		}
		if (p->start > c->sent) {
			if (p->start - c->sent < limit)
				limit = (size_t)(p->start - c->sent);
			break;
		}
	}
	return limit;
}

static int
conn_send(struct p2pb_conn *c, size_t limit, struct pending_reply *with_fds)
{
	struct evbuffer_iovec v[WRITE_IOVECS];
	int n = evbuffer_peek(c->out, (ev_ssize_t)limit, NULL, v, WRITE_IOVECS);
	if (n > WRITE_IOVECS)
		n = WRITE_IOVECS;
	struct iovec iov[WRITE_IOVECS];
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		size_t l = v[i].iov_len;
		if (l > limit - total)
			l = limit - total;
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = l;
		total += l;
	}
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * P2PB_MAX_FDS_PER_REPLY)];
	} cm;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	if (with_fds) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * with_fds->n_fds);
		struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int) * with_fds->n_fds);
		memcpy(CMSG_DATA(h), with_fds->fds, sizeof(int) * with_fds->n_fds);
	}
	ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0)
		return -errno;
	if (with_fds && w > 0) {
		/* The peer now holds its own references. */
		for (size_t i = 0; i < with_fds->n_fds; i++)
			close(with_fds->fds[i]);
		with_fds->n_fds = 0;
	}
	return (int)w;
}

/* Writes as much queued output as the socket takes. Returns 0 or -errno
 * (a fatal socket error). */
static int
conn_flush(struct p2pb_conn *c)
{
	while (evbuffer_get_length(c->out) > 0) {
		struct pending_reply *with_fds;
		size_t limit = conn_next_write(c, &with_fds);
		int w = conn_send(c, limit, with_fds);
		if (w == -EINTR)
			continue;
		if (w == -EAGAIN || w == -EWOULDBLOCK)
			return 0;
		if (w < 0)
			return w;
		evbuffer_drain(c->out, (size_t)w);
		c->sent += (uint64_t)w;
		while (c->p_count > 0 && c->pending[c->p_head].end <= c->sent) {
			c->p_head = (c->p_head + 1) % P2PB_CONN_MAX_PIPELINE;
			c->p_count--;
		}
	}
	return 0;
}

/* Reads at most what completes the buffered frames up to one maximal
 * request, so a client can never make the daemon buffer more than that. */
static int
conn_read(struct p2pb_conn *c)
{
	size_t have = evbuffer_get_length(c->in);
	size_t room = P2PB_FRAME_HEADER + P2PB_MAX_REQUEST_BYTES - have;
	if (room == 0)
		return 0;
	int n = evbuffer_read(c->in, c->fd, (int)room);
	if (n == 0) {
		c->read_eof = true;
		return 0;
	}
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -errno;
	have = evbuffer_get_length(c->in);
	if (have > c->server->max_input_buffered)
		c->server->max_input_buffered = have;
	return n;
}

static void
conn_update_events(struct p2pb_conn *c)
{
	bool want_read = !c->read_eof && !c->closing && c->p_count < P2PB_CONN_MAX_PIPELINE &&
			 evbuffer_get_length(c->in) < P2PB_FRAME_HEADER + P2PB_MAX_REQUEST_BYTES;
	bool want_write = evbuffer_get_length(c->out) > 0;
	if (want_read != c->reading) {
		if (want_read)
			event_add(c->rev, NULL);
		else
			event_del(c->rev);
		c->reading = want_read;
	}
	if (want_write != c->writing) {
		if (want_write)
			event_add(c->wev, NULL);
		else
			event_del(c->wev);
		c->writing = want_write;
	}
}

/* Everything a connection does after an I/O event: answer what is complete,
 * write what the socket takes, then decide what to wait for. */
static void
conn_service(struct p2pb_conn *c)
{
	if (c->error) {
		conn_drop(c, c->error, "cannot queue deferred reply");
		return;
	}
	for (;;) {
		int r = conn_process(c);
		if (r < 0) {
			conn_drop(c, r, "cannot queue reply");
			return;
		}
		int f = conn_flush(c);
		if (f < 0) {
			conn_drop(c, f, "write failed");
			return;
		}
		if (r == 0)
			break;
	}
	size_t q = evbuffer_get_length(c->out);
	if (q > P2PB_CONN_MAX_QUEUED_BYTES) {
		log_warning("client pid %d uid %u left %zu reply bytes unread (limit %u): "
			    "disconnecting it",
			    (int)c->cred.pid, (unsigned)c->cred.uid, q, P2PB_CONN_MAX_QUEUED_BYTES);
		conn_free(c);
	} else if (q == 0 && !c->deferred && (c->closing || c->read_eof)) {
		/* A client that shut its write side still gets its deferred
		 * reply; one that is gone makes the write of it fail. */
		conn_drop(c, 0, c->closing ? "refused request" : "end of input");
	} else {
		conn_update_events(c);
	}
}

static void
conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct p2pb_conn *c = arg;
	int r = conn_read(c);
	if (r < 0)
		conn_drop(c, r, "read failed");
	else
		conn_service(c);
}

static void
conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	conn_service(arg);
}

int
p2pb_server_add_conn(struct p2pb_server *s, int fd, struct p2pb_conn **ret)
{
	struct p2pb_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->server = s;
	c->fd = fd;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;

	socklen_t len = sizeof(c->cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
		int r = -errno;
		conn_free(c);
		return r;
	}
	int fl = fcntl(fd, F_GETFL);
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
	c->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || !c->in || !c->out || !c->rev ||
	    !c->wev) {
		conn_free(c);
		return -ENOMEM;
	}
	log_debug("client connected: pid %d uid %u gid %u", (int)c->cred.pid, (unsigned)c->cred.uid,
		  (unsigned)c->cred.gid);
	conn_update_events(c);
	if (ret)
		*ret = c;
	return 0;
}

pid_t
p2pb_conn_pid(const struct p2pb_conn *c)
{
	return c->cred.pid;
}

uid_t
p2pb_conn_uid(const struct p2pb_conn *c)
{
	return c->cred.uid;
}

gid_t
p2pb_conn_gid(const struct p2pb_conn *c)
{
	return c->cred.gid;
}

size_t
p2pb_conn_queued_bytes(const struct p2pb_conn *c)
{
	return evbuffer_get_length(c->out);
}

/* --- deferred replies ------------------------------------------------------ */

int
p2pb_conn_defer(struct p2pb_conn *c, struct p2pb_deferred **ret)
{
	if (!c->in_request || c->deferred)
		return -EINVAL;
	struct p2pb_deferred *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->conn = c;
	d->id = c->handling_id;
	reply_init(&d->reply);
	c->deferred = d;
	c->n_deferred++;
	*ret = d;
	return 0;
}

struct p2pb_reply *
p2pb_deferred_reply(struct p2pb_deferred *d)
{
	return &d->reply;
}

bool
p2pb_deferred_connected(const struct p2pb_deferred *d)
{
	return d->conn != NULL;
}

/* Detaches d from its connection and has the loop service the connection
 * again (never from here: the caller may be inside that connection's own
 * request callback, or iterating over other tokens). */
static struct p2pb_conn *
deferred_detach(struct p2pb_deferred *d)
{
	struct p2pb_conn *c = d->conn;
	if (c) {
		c->deferred = NULL;
		d->conn = NULL;
		event_active(c->wev, EV_WRITE, 1);
	}
	return c;
}

static void
deferred_release(struct p2pb_deferred *d)
{
	reply_done(&d->reply);
	free(d);
}

int
p2pb_deferred_finish(struct p2pb_deferred *d)
{
	struct p2pb_conn *c = deferred_detach(d);
	int r = -ENOTCONN;
	if (c) {
		r = conn_queue_reply(c, &d->reply, d->id);
		if (r < 0)
			c->error = r;
	}
	deferred_release(d);
	return r;
}

struct p2pb_deferred *
p2pb_deferred_free(struct p2pb_deferred *d)
{
	if (!d)
		return NULL;
	struct p2pb_conn *c = deferred_detach(d);
	if (c)
		c->closing = true; /* its later replies would answer the wrong requests */
	deferred_release(d);
	return NULL;
}

/* --- listeners ------------------------------------------------------------ */

static size_t
conns_of_uid(const struct p2pb_server *s, uid_t uid)
{
	size_t n = 0;
	for (const struct p2pb_conn *c = s->conns; c; c = c->next)
		n += c->cred.uid == uid;
	return n;
}

/* The connection limits for a new client of uid, before it costs anything. */
static bool
admit_uid(const struct p2pb_server *s, uid_t uid, pid_t pid)
{
	size_t limit = P2PB_MAX_CLIENTS + (uid == 0 ? P2PB_ROOT_RESERVED_CLIENTS : 0);
	if (s->n_conns >= limit) {
		log_warning("refusing a client (pid %d uid %u): %zu clients already connected",
			    (int)pid, (unsigned)uid, s->n_conns);
		return false;
	}
	if (uid != 0 && conns_of_uid(s, uid) >= P2PB_MAX_CLIENTS_PER_UID) {
		log_warning("refusing a client (pid %d uid %u): uid %u already has %d connections",
			    (int)pid, (unsigned)uid, (unsigned)uid, P2PB_MAX_CLIENTS_PER_UID);
		return false;
	}
	return true;
}

static bool
admit_client(const struct p2pb_server *s, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_errno(LOG_WARNING, errno, "refusing a client: cannot read its credentials");
		return false;
	}
	return admit_uid(s, cred.uid, cred.pid);
}

static void
listener_on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	struct p2pb_server *s = l->server;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_errno(LOG_WARNING, errno, "cannot accept clients, pausing %d s",
				  ACCEPT_PAUSE_SEC);
			for (struct listener *i = s->listeners; i; i = i->next)
				event_del(i->ev);
			struct timeval tv = { .tv_sec = ACCEPT_PAUSE_SEC };
			evtimer_add(s->accept_pause, &tv);
		}
		return;
	}
	if (!admit_client(s, cfd)) {
		close(cfd);
		return;
	}
	int r = p2pb_server_add_conn(s, cfd, NULL);
	if (r < 0)
		log_errno(LOG_WARNING, r, "cannot set up client connection");
}

static void
server_on_accept_pause(evutil_socket_t fd, short what, void *arg)
{
	struct p2pb_server *s = arg;
	for (struct listener *l = s->listeners; l; l = l->next)
		event_add(l->ev, NULL);
}

int
p2pb_server_listen_fd(struct p2pb_server *s, int fd)
{
	struct listener *l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	int fl = fcntl(fd, F_GETFL);
	l->server = s;
	l->fd = fd;
	l->ev = event_new(s->base, fd, EV_READ | EV_PERSIST, listener_on_accept, l);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || !l->ev ||
	    event_add(l->ev, NULL) < 0) {
		if (l->ev)
			event_free(l->ev);
		free(l);
		close(fd);
		return -ENOMEM;
	}
	l->next = s->listeners;
	s->listeners = l;
	return 0;
}

int
p2pb_server_listen_systemd(struct p2pb_server *s)
{
	int n = sd_listen_fds(1);
	if (n <= 0)
		return n;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			log_error("socket-activation fd %d is not a listening Unix stream socket; "
				  "check ListenStream= in p2pbrokerd.socket",
				  fd);
			return -EINVAL;
		}
		int r = p2pb_server_listen_fd(s, fd);
		if (r < 0)
			return r;
	}
	return n;
}

static int
mkdir_parents(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int r = 0;
	for (char *p = strchr(copy + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*p = '/';
	}
	free(copy);
	return r;
}

/* Decides whether an existing file at path may be replaced: a socket nobody
 * listens on is stale; a live one means another daemon owns the path. */
static int
check_stale_socket(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int e = errno;
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	if (e != ECONNREFUSED)
		return -e;
	log_info("removing stale socket %s", path);
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int
p2pb_server_listen_path(struct p2pb_server *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!path || !*path)
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	int r = mkdir_parents(path);
	if (r < 0)
		return r;
	r = check_stale_socket(path, &sa);
	if (r < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Created 0660 from the start: no window with a wider mode. */
	mode_t old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	struct stat st;
	if (r < 0 || listen(fd, LISTEN_BACKLOG) < 0 || stat(path, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	free(s->bound_path);
	s->bound_path = strdup(path);
	s->bound_dev = st.st_dev;
	s->bound_ino = st.st_ino;
	return p2pb_server_listen_fd(s, fd);
}

/* --- the server ------------------------------------------------------------ */

int
p2pb_server_new(struct event_base *base, const struct p2pb_server_ops *ops,
		struct p2pb_server **ret)
{
	if (!base || !ops || !ops->request)
		return -EINVAL;
	struct p2pb_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base = base;
	s->ops = *ops;
	s->accept_pause = evtimer_new(base, server_on_accept_pause, s);
	if (!s->accept_pause) {
		free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

struct p2pb_server *
p2pb_server_free(struct p2pb_server *s)
{
	if (!s)
		return NULL;
	while (s->conns)
		conn_free(s->conns);
	while (s->listeners) {
		struct listener *l = s->listeners;
		s->listeners = l->next;
		event_free(l->ev);
		close(l->fd);
		free(l);
	}
	if (s->bound_path) {
		/* Only our own socket: a successor may already have replaced it. */
		struct stat st;
		if (lstat(s->bound_path, &st) == 0 && st.st_dev == s->bound_dev &&
		    st.st_ino == s->bound_ino)
			unlink(s->bound_path);
		free(s->bound_path);
	}
	event_free(s->accept_pause);
	free(s);
	return NULL;
}

size_t
p2pb_server_n_clients(const struct p2pb_server *s)
{
	return s->n_conns;
}

size_t
p2pb_server_n_listeners(const struct p2pb_server *s)
{
	size_t n = 0;
	for (const struct listener *l = s->listeners; l; l = l->next)
		n++;
	return n;
}
