/* http_int — internals shared by the files of the http module (not public). */
#ifndef HERALD_HTTP_INT_H
#define HERALD_HTTP_INT_H

#include <llhttp.h>

#include "http/http.h"

/* Connection states; changed only by conn_set_state() in conn.c.
 *
 *            accept
 *              │
 *              ▼        first byte          head done            message done
 *   ┌──────▶ IDLE ───────────────▶ HEAD ─────────────▶ BODY ─────────────────┐
 *   │  (idle timeout:            (header timeout:    (body timeout:         │
 *   │   close quietly)            408 + close)        408 + close)          ▼
 *   │                                                                 HANDLING
 *   │   answer queued, keep-alive                                          │
 *   └──────────────────────────────────────────────────────────────────────┤
 *                                answer queued, Connection: close          │
 *                    CLOSING ◀─────────────────────────────────────────────┤
 *                       ▲                      handler took it over        ▼
 *                       └───────────── http_conn_close ─────────────── UPGRADED
 */
typedef enum { CONN_IDLE, CONN_HEAD, CONN_BODY, CONN_HANDLING, CONN_UPGRADED, CONN_CLOSING } conn_state_t;

typedef struct http_loop http_loop_t;

/* Receive state: the parser and the request being read. Allocated when a
 * connection is accepted, reused across keep-alive requests, freed when the
 * connection is upgraded or closed. */
typedef struct rx {
  llhttp_t parser;
  http_req_t req;
  buf_t head;    /* request target and header bytes */
  buf_t pending; /* bytes received but not yet parsed */
  size_t pending_off;
  uint32_t url_len;
  uint32_t name_off[HTTP_MAX_HEADERS], name_len[HTTP_MAX_HEADERS];
  uint32_t value_off[HTTP_MAX_HEADERS], value_len[HTTP_MAX_HEADERS];
  int hdr_state;  /* 0 none, 1 in a name, 2 in a value */
  int err_status; /* set by a callback that rejected the request */
  const char *err_detail;
  bool message_done;
} rx_t;

struct http_conn {
  uv_tcp_t tcp;
  uv_timer_t *timer; /* HTTP timeouts; closed and freed on upgrade (the rt
                        layer's per-loop sweep takes over), so an idle
                        upgraded connection does not carry it */
  http_server_t *srv;
  http_loop_t *hl;
  loop_t *loop;
  http_conn_t *prev, *next;
  conn_state_t state;
  int refs; /* 1 for the handles + 1 while a request awaits its answer */
  int open_handles;
  rx_t *rx;
  const http_upgrade_ops_t *up_ops;
  void *owner;
  bool close_after_response;
  bool reading;
  bool in_process; /* conn_process is on the stack */
  uint32_t served; /* requests answered on this connection */
  bool linger;     /* close after an error: drain input first */
  bool lingering;  /* answer sent, write side shut, draining */
};

struct http_loop {
  uv_tcp_t listener;
  bool listening;
  bool shutting_down;
  http_conn_t *conns;
  size_t count;
};

struct http_server {
  const config_t *cfg;
  const http_route_t *routes;
  http_fallback_fn fallback;
  void *app;
  int port;
  bool bound_once;
};

void http__conn_accept(http_server_t *s, http_loop_t *hl, uv_stream_t *listener);
void http__conn_shutdown(http_conn_t *c);
void http__conn_close(http_conn_t *c);
/* Routes req: calls the handler, or answers 404/405 itself. */
void http__route(http_server_t *s, http_req_t *req);
/* Queues a complete response; see http_respond. */
void http__send_problem_with(http_req_t *req, int status, const char *detail, const char *extra);
void http__send(http_req_t *req, int status, const char *ctype, const char *extra, char *body, size_t len,
                bool owned);

#endif
