/* http — HTTP/1.1 server: connections, requests, responses, routing.
 *
 * One server, N loops: http_server_new() sets up the shared state and
 * http_server_listen() binds a listener on every loop with SO_REUSEPORT, so
 * the kernel spreads connections over the loops; each connection lives and
 * dies on the loop that accepted it. All functions taking an http_req_t or
 * http_conn_t run on that connection's loop thread.
 *
 * A request is parsed by llhttp into the connection's receive state (request
 * line, headers and body bounded by --max-header and --max-body), routed, and
 * handed to its handler. A handler answers exactly once, now or later (after
 * a store callback or a long-poll wake-up), with http_respond*() or
 * http_problem(). Until then the request and its connection stay valid even
 * if the peer goes away: the handler learns of it through on_abort, and its
 * late answer is dropped. Pipelined requests wait their turn, so responses
 * leave in request order.
 *
 * Upgrades. A handler may take the connection over (WebSocket, SSE stream)
 * with http_upgrade(): HTTP parsing state is freed, later bytes go to the
 * new owner's ops, and the owner writes with http_conn_write(). The
 * connection is then the owner's until http_conn_close().
 *
 * Errors go out as RFC 9457 problem+json (http_problem). */
#ifndef HERALD_HTTP_HTTP_H
#define HERALD_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/bytes.h"
#include "core/config.h"
#include "core/loop.h"

typedef struct http_server http_server_t;
typedef struct http_conn http_conn_t;
typedef struct http_req http_req_t;

typedef enum {
  HTTP_M_GET = 1 << 0,
  HTTP_M_HEAD = 1 << 1,
  HTTP_M_POST = 1 << 2,
  HTTP_M_PUT = 1 << 3,
  HTTP_M_PATCH = 1 << 4,
  HTTP_M_DELETE = 1 << 5,
  HTTP_M_OPTIONS = 1 << 6,
  HTTP_M_OTHER = 1 << 7,
} http_method_t;

typedef struct http_slice {
  const char *p;
  size_t n;
} http_slice_t;

#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_PARAMS 3

typedef enum { HTTP_ABORT_CLOSED, HTTP_ABORT_SHUTDOWN } http_abort_t;
/* Called when a request still awaiting its answer loses its connection
 * (CLOSED: the answer will be dropped; release resources and still call
 * http_respond or http_req_release) or the server is shutting down
 * (SHUTDOWN: answer now). */
typedef void (*http_abort_cb)(http_req_t *req, http_abort_t why);

typedef void (*http_handler_fn)(http_req_t *req);

struct http_req {
  http_conn_t *conn;
  loop_t *loop;
  void *app; /* the application context given to the server */
  const config_t *cfg;
  http_method_t method; /* HEAD is routed as GET; head_only is set */
  bool head_only;
  bool keep_alive;
  bool upgrade;                         /* the client asked for an Upgrade */
  http_slice_t target;                  /* raw request target */
  http_slice_t path;                    /* target up to '?' (not decoded) */
  http_slice_t query;                   /* after '?' (not decoded), may be empty */
  http_slice_t params[HTTP_MAX_PARAMS]; /* {placeholders} of the route, in order */
  struct {
    http_slice_t name, value;
  } headers[HTTP_MAX_HEADERS];
  int nheaders;
  buf_t body;
  /* handler state */
  void *data;
  http_abort_cb on_abort;
  bool answered;
};

typedef struct http_route {
  unsigned methods;    /* HTTP_M_GET | ... */
  const char *pattern; /* "/api/{c}/{id}"; "{...}" matches one segment */
  http_handler_fn handler;
} http_route_t;

/* routes is borrowed for the server's lifetime; terminated by pattern NULL.
 * fallback (may be NULL) handles GET paths no route matches (static assets)
 * and returns false to let the server answer 404. */
typedef bool (*http_fallback_fn)(http_req_t *req);
http_server_t *http_server_new(const config_t *cfg, const http_route_t *routes, http_fallback_fn fallback,
                               void *app);
/* Binds and listens on loop (its thread, or before it runs). The first call
 * resolves port 0 to a real port; later calls bind that same port. */
int http_server_listen(http_server_t *s, loop_t *loop);
int http_server_port(http_server_t *s);
/* Graceful stop, on loop's thread: close the listener, close idle
 * connections, let in-flight requests answer (with Connection: close),
 * tell upgraded connections and waiting handlers to finish. */
void http_server_shutdown(http_server_t *s, loop_t *loop);
/* Close everything left on loop, on its thread (the last shutdown step). */
void http_server_close_all(http_server_t *s, loop_t *loop);
/* Open connections on loop, including upgraded ones (loop's thread). */
size_t http_server_conn_count(http_server_t *s, loop_t *loop);
void http_server_free(http_server_t *s);
/* Frees loop's per-loop server state, after the loop has stopped running. */
void http_server_loop_free(loop_t *loop);

/* ---- requests ---------------------------------------------------------- */

/* Case-insensitive header lookup; returns NULL if absent. Joined values of
 * repeated headers are not merged: the first is returned. */
const http_slice_t *http_header(const http_req_t *req, const char *name);
bool http_header_has_token(const http_req_t *req, const char *name, const char *token);
/* Finds a query parameter and percent-decodes it into out (NUL-terminated).
 * Returns 1 if found, 0 if absent, -1 if too long or badly encoded. */
int http_query_get(const http_req_t *req, const char *name, char *out, size_t outlen);
int http_percent_decode(const char *in, size_t n, char *out, size_t outlen);
/* Reads a decimal integer parameter (digits only, no sign or spaces) in
 * [min, max]: 1 with *out set, 0 if absent, -1 if malformed or out of range. */
int http_query_int(const http_req_t *req, const char *name, long min, long max, long *out);

/* Answers the request. extra_headers is preformatted "Name: value\r\n"
 * lines (borrowed) or NULL. body is copied (http_respond) or transferred
 * (http_respond_owned: a malloc'd block, freed after the write). */
void http_respond(http_req_t *req, int status, const char *content_type, const char *extra_headers,
                  const char *body, size_t len);
void http_respond_owned(http_req_t *req, int status, const char *content_type, const char *extra_headers,
                        char *body, size_t len);
/* problem+json: {"type":"about:blank","title":<reason>,"status":N,"detail":…} */
void http_problem(http_req_t *req, int status, const char *detail);
/* The same with extra preformatted header lines (e.g. "Allow: GET\r\n"). */
void http_problem_with(http_req_t *req, int status, const char *detail, const char *extra_headers);
void http_problemf(http_req_t *req, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* For a request whose connection was aborted: drop it without answering. */
void http_req_release(http_req_t *req);
const char *http_reason(int status);

/* ---- upgrades and raw writes ------------------------------------------- */

typedef struct http_upgrade_ops {
  /* bytes received (borrowed, writable in place; the loop's read buffer) */
  void (*on_data)(void *owner, char *data, size_t len);
  /* server shutting down: finish (e.g. close 1001) */
  void (*on_shutdown)(void *owner);
  /* the connection is gone (peer closed, error, or http_conn_close
   * finished): the owner frees its state; no more calls follow */
  void (*on_close)(void *owner);
  /* a write queued with http_conn_write completed (optional) */
  void (*on_drain)(void *owner);
} http_upgrade_ops_t;

/* Takes req's connection over. head (borrowed) is written first (the 101
 * response or the stream's headers). Bytes already received after the
 * request are passed to ops->on_data before this returns. Returns the
 * connection. */
http_conn_t *http_upgrade(http_req_t *req, const char *head, size_t head_len, const http_upgrade_ops_t *ops,
                          void *owner);
/* Queues a write of n buffers; each bytes_t is retained until written
 * (shared frames: no copy). Returns 0 or a negative uv error. */
int http_conn_write(http_conn_t *c, bytes_t *const *bufs, size_t n);
int http_conn_write_copy(http_conn_t *c, const void *p, size_t n);
/* Writes what the socket takes right now, if nothing is queued before it.
 * Returns the bytes written (0 when something is queued or the socket is
 * full), or a negative uv error (the connection is then being closed).
 * Nothing is retained: the caller queues any rest with http_conn_writev. */
int http_conn_try_write(http_conn_t *c, const uv_buf_t *iov, size_t n);
/* Queues iov[0..n) after its first `written` bytes (already sent by
 * http_conn_try_write), behind anything queued. refs (a malloc'd array of
 * nrefs references) and owned (a malloc'd block the iovecs may point into)
 * are transferred: released after the write, or at once on failure. Either
 * may be NULL. */
int http_conn_writev(http_conn_t *c, const uv_buf_t *iov, size_t n, size_t written, bytes_t **refs,
                     size_t nrefs, char *owned);
/* Bytes queued and not yet written to the socket. */
size_t http_conn_queued(const http_conn_t *c);
/* Flushes what is queued, then closes (graceful) — or at once when
 * abortive (slow consumer, protocol violation after the close frame). */
void http_conn_close(http_conn_t *c, bool abortive);
loop_t *http_conn_loop(const http_conn_t *c);
/* Remote address as text, for logs and the connections view. */
const char *http_conn_peer(http_conn_t *c, char *out, size_t outlen);

#endif
