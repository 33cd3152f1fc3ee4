/* protocol.h - wire constants shared by p2pbrokerd and libp2pbroker.
 * Bump P2PB_PROTOCOL_VERSION if any message in proto/p2pbroker.proto changes
 * incompatibly. Framing: 4-byte big-endian length, then a protobuf message. */
#pragma once

#define P2PB_PROTOCOL_VERSION 1
#define P2PB_FRAME_HEADER     4
/* Requests above this are refused (STATUS_TOO_LARGE) without reading the body;
 * the connection is then closed, since the stream cannot be resynchronised. */
#define P2PB_MAX_REQUEST_BYTES (64u * 1024u)
/* Replies may be large (a 10,000-function topology is a few MiB). */
#define P2PB_MAX_REPLY_BYTES   (256u * 1024u * 1024u)
#define P2PB_MAX_FDS_PER_REPLY 16
#define P2PB_DEFAULT_SOCKET    "/run/p2pbroker/socket"
#define P2PB_SOCKET_ENV	       "P2PBROKER_SOCKET"
