/* server.h - the daemon's Unix socket server: listeners, client connections,
 * request framing (daemon/protocol.h), reply queues and fd passing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2pbroker.pb-c.h"
#include "protocol.h"

struct event_base;
struct p2pb_server;
struct p2pb_conn;
struct p2pb_deferred;

/* Per-connection limits; see docs/protocol.md. */
#define P2PB_MAX_CLIENTS 256
/* One user cannot take every slot; root has a few beyond P2PB_MAX_CLIENTS so
 * that an administrator can always connect. */
#define P2PB_MAX_CLIENTS_PER_UID   64
#define P2PB_ROOT_RESERVED_CLIENTS 8
/* A client that leaves more than this many reply bytes unread is dropped. */
#define P2PB_CONN_MAX_QUEUED_BYTES (64u * 1024u * 1024u)
/* Requests whose replies are not yet fully written: beyond this the server
 * stops reading from the client until it reads its replies. */
#define P2PB_CONN_MAX_PIPELINE 32

/* Memory that lives as long as one reply: handlers build the protobuf
 * message out of it and the server frees it all once the reply is packed. */
struct p2pb_arena_chunk;
struct p2pb_arena {
	struct p2pb_arena_chunk *head;
};

/* A reply under construction. The handler sets msg.status, msg.message and a
 * body; the server fills msg.id and msg.n_fds. */
struct p2pb_reply {
	P2pbroker__V1__Reply msg;
	struct p2pb_arena arena;
	int fds[P2PB_MAX_FDS_PER_REPLY];
	size_t n_fds;
};

/* Zeroed memory owned by the reply; NULL when out of memory. */
void *p2pb_reply_alloc(struct p2pb_reply *r, size_t size);
/* printf into reply-owned memory; NULL when out of memory. */
char *p2pb_reply_printf(struct p2pb_reply *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Set status and human message. Returns 0, or -ENOMEM (the status is still set
 * and the message falls back to a fixed text). */
int p2pb_reply_status(struct p2pb_reply *r, P2pbroker__V1__StatusCode status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Pass fd with this reply (SCM_RIGHTS on the first byte of its frame). The fd
 * is duplicated (close-on-exec); the caller keeps its own. Returns 0, -E2BIG
 * beyond P2PB_MAX_FDS_PER_REPLY, -EBADF, or -EMFILE. */
int p2pb_reply_attach_fd(struct p2pb_reply *r, int fd);

/* Called for each request that passed framing, decoding, version and body
 * checks. It fills reply (status OK by default, message empty). */
typedef void (*p2pb_request_fn)(void *userdata, struct p2pb_conn *conn,
				const P2pbroker__V1__Request *req, struct p2pb_reply *reply);

struct p2pb_server_ops {
	p2pb_request_fn request;
	void *userdata;
};

/* A server on base with no listeners yet. Returns 0 or -errno. */
int p2pb_server_new(struct event_base *base, const struct p2pb_server_ops *ops,
		    struct p2pb_server **ret);
/* Closes every connection and listener, removes a socket file it created. */
struct p2pb_server *p2pb_server_free(struct p2pb_server *s);

/* Take over the sockets systemd passed (sd_listen_fds). Returns the number
 * adopted (0 when not socket-activated) or -errno. */
int p2pb_server_listen_systemd(struct p2pb_server *s);
/* Bind path (mode 0660), creating its directory; removes a stale socket but
 * refuses with -EADDRINUSE when another process is listening there. */
int p2pb_server_listen_path(struct p2pb_server *s, const char *path);
/* Listen on an already bound and listening socket (taken over). */
int p2pb_server_listen_fd(struct p2pb_server *s, int fd);
/* Serve one already connected stream socket as a client (taken over). */
int p2pb_server_add_conn(struct p2pb_server *s, int fd, struct p2pb_conn **ret);

size_t p2pb_server_n_clients(const struct p2pb_server *s);
size_t p2pb_server_n_listeners(const struct p2pb_server *s);

/* The peer's credentials (SO_PEERCRED at connect time). */
pid_t p2pb_conn_pid(const struct p2pb_conn *c);
uid_t p2pb_conn_uid(const struct p2pb_conn *c);
gid_t p2pb_conn_gid(const struct p2pb_conn *c);
/* Reply bytes queued and not yet written to the peer. */
size_t p2pb_conn_queued_bytes(const struct p2pb_conn *c);

/* Deferred replies, for requests answered after work done off the event loop
 * (a rescan). Called from inside the request callback, p2pb_conn_defer()
 * turns the request being handled into a token: the reply the callback was
 * given is then discarded and the answer goes out with p2pb_deferred_finish().
 * Until then the server takes no further requests from that client (they wait
 * in its input buffer), so its replies stay in request order; other clients
 * are served as usual. Returns 0 or -errno: -EINVAL outside the request
 * callback or when this request is already deferred, -ENOMEM; *ret untouched
 * on failure. */
int p2pb_conn_defer(struct p2pb_conn *c, struct p2pb_deferred **ret);
/* The reply to fill before finishing (status OK, no body, no message). */
struct p2pb_reply *p2pb_deferred_reply(struct p2pb_deferred *d);
/* Whether the client that asked is still connected. A token outlives its
 * connection: a client may hang up while its reply is deferred. */
bool p2pb_deferred_connected(const struct p2pb_deferred *d);
/* Queues the reply (when the client is still connected), lets the client's
 * next requests be handled from the event loop and frees d. May be called
 * from inside the request callback that deferred. Returns 0, -ENOTCONN when
 * the client has gone (the reply is dropped), or -errno when the reply could
 * not be queued (the client is then disconnected). */
int p2pb_deferred_finish(struct p2pb_deferred *d);
/* Gives up on d without replying (shutdown). Replies being in order, the
 * client's connection then closes once its queued replies are written.
 * Accepts NULL; returns NULL. */
struct p2pb_deferred *p2pb_deferred_free(struct p2pb_deferred *d);
