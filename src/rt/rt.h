/* rt — the push transports: WebSocket (ws.c), Server-Sent Events (sse.c)
 * and polling (poll.c), on one subscription engine (feed.c).
 *
 * Every function runs on the loop thread of the request or connection it
 * is given. Per loop, rt keeps the list of open real-time connections and
 * one sweep timer that sends WebSocket pings and SSE heartbeats, closes
 * connections that stopped answering, and ends closes that did not flush
 * in time — one timer per loop rather than one per connection, to keep an
 * idle connection small. */
#ifndef HERALD_RT_RT_H
#define HERALD_RT_RT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/http.h"

/* GET /api/_ws: the WebSocket handshake and session. */
void rt_ws_handle(http_req_t *req);
/* GET /api/_stream and /api/{c}/_stream. */
void rt_sse_handle(http_req_t *req);

/* GET /api/_connections: {"connections":[…],"count":N,"head":seq}. */
void rt_connections_handle(http_req_t *req);
/* Appends a JSON array describing loop's open real-time connections
 * ({"transport","peer","since","lastSeq","lag","subscriptions","queued"})
 * to out, for GET /api/_connections. head is the current head. */
void rt_connections_json(loop_t *loop, uint64_t head, buf_t *out, int *count);
/* Stops the loop's sweep timer (last step of shutdown, on that loop). */
void rt_loop_close(loop_t *loop);

#endif
