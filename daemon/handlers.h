/* handlers.h - request handlers: one function per request body, dispatched
 * through a table indexed by the body case. */
#pragma once

#include "p2pbroker.pb-c.h"
#include "server.h"

/* The server's request callback; userdata is the struct p2pb_context. */
void p2pb_handle_request(void *userdata, struct p2pb_conn *conn, const P2pbroker__V1__Request *req,
			 struct p2pb_reply *reply);
