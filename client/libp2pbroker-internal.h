/* libp2pbroker-internal.h - what the library's files share and do not export:
 * the client struct, the request/reply exchange and error recording. */
#pragma once

#include <stdarg.h>

#include "p2pbroker.h"
#include "p2pbroker.pb-c.h"
#include "protocol.h"

/* Names here start with p2pbc_ so the version script (p2pb_*) keeps them local. */

#define P2PBC_DEFAULT_TIMEOUT_MS 30000
#define P2PBC_ERROR_LEN		 512

struct p2pb_client {
	int fd; /* -1 once the stream is lost (it cannot be resynchronised) */
	int timeout_ms;
	uint64_t next_id;
	int fds[P2PB_MAX_FDS_PER_REPLY]; /* received with the last reply, not yet taken */
	size_t n_fds;
	char error[P2PBC_ERROR_LEN];
};

/* Records the text p2pb_last_error() returns; returns err so callers can
 * `return p2pbc_fail(c, -EPROTO, "...")`. */
int p2pbc_fail(struct p2pb_client *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One exchange: sets req's id and version, sends it, waits for the reply
 * within the client's timeout and checks it: matching id, status OK (else the
 * status as -errno with the daemon's message), the fds it announced, and the
 * body case want. On success *ret owns the unpacked reply (free it with
 * p2pbroker__v1__reply__free_unpacked(r, NULL)). */
int p2pbc_call(struct p2pb_client *c, P2pbroker__V1__Request *req,
	       P2pbroker__V1__Reply__BodyCase want, P2pbroker__V1__Reply **ret);

/* Wire Bdf -> address; -EPROTO (recorded on c) when absent or out of range. */
int p2pbc_address_from_wire(struct p2pb_client *c, const P2pbroker__V1__Bdf *b, const char *what,
			    struct p2pb_address *ret);
void p2pbc_address_to_wire(struct p2pb_address a, P2pbroker__V1__Bdf *ret);
