/* handlers.h - request handlers: one function per request body, dispatched
 * through a table indexed by the body case. */
#pragma once

#include "p2pbroker.pb-c.h"
#include "server.h"

/* The server's request callback; userdata is the struct p2pb_context. */
void p2pb_handle_request(void *userdata, struct p2pb_conn *conn, const P2pbroker__V1__Request *req,
			 struct p2pb_reply *reply);

struct p2pb_context;
struct p2pb_deferred;

/* Answers a deferred rescan request once its scan has ended: the installed
 * generation, or failure (why the scan failed) with the generation still
 * served. Frees d. */
void p2pb_handle_rescan_done(struct p2pb_context *ctx, struct p2pb_deferred *d,
			     const char *failure);
