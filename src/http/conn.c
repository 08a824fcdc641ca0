/* conn — one HTTP/1.1 connection: read, parse, dispatch, answer, repeat.
 *
 * The state machine is drawn in http_int.h. Bytes are read into the loop's
 * shared buffer and fed to llhttp; only what a request needs (target,
 * headers, body) and bytes that arrive while a request is being handled
 * (pipelining) are copied into the connection's receive state. A finished
 * message pauses the parser, so exactly one request is handled at a time and
 * answers leave in request order.
 *
 * Lifetime: refs counts the libuv handles (as one) and the request awaiting
 * its answer. Closing is a protocol: mark CLOSING, tell the handler or the
 * upgrade owner, close both handles, and free when the last reference goes. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "http/http_int.h"

static void conn_process(http_conn_t *c);
static void conn_unref(http_conn_t *c);
static void conn_start_reading(http_conn_t *c);

/* How long a connection closed after an error keeps draining input. */
#define HTTP_LINGER_MS 2000

static int64_t state_timeout(http_conn_t *c) {
  const config_t *cfg = c->srv->cfg;
  switch (c->state) {
    case CONN_IDLE:
      return c->served ? cfg->idle_timeout_ms : cfg->header_timeout_ms;
    case CONN_HEAD:
      return cfg->header_timeout_ms;
    case CONN_BODY:
      return cfg->body_timeout_ms;
    default:
      return 0;
  }
}

static void on_timeout(uv_timer_t *t);

/* The one place the state changes; (re)arms the timer for the new state. */
static void conn_set_state(http_conn_t *c, conn_state_t st) {
  c->state = st;
  if (c->open_handles == 0) return;
  int64_t ms = state_timeout(c);
  if (!c->timer || uv_is_closing((uv_handle_t *)c->timer)) return;
  if (ms > 0)
    uv_timer_start(c->timer, on_timeout, (uint64_t)ms, 0);
  else
    uv_timer_stop(c->timer);
}

/* ---- llhttp callbacks --------------------------------------------------- */

static rx_t *rx_of(llhttp_t *p) { return (rx_t *)p; }

static int reject(rx_t *rx, int status, const char *detail) {
  rx->err_status = status;
  rx->err_detail = detail;
  return -1;
}

static int head_append(llhttp_t *p, const char *at, size_t len) {
  rx_t *rx = rx_of(p);
  http_conn_t *c = rx->req.conn;
  if (rx->head.len + len > c->srv->cfg->max_header)
    return reject(rx, rx->hdr_state == 0 ? 414 : 431,
                  rx->hdr_state == 0 ? "request target too long" : "request header fields too large");
  buf_append(&rx->head, at, len);
  return 0;
}

static int on_message_begin(llhttp_t *p) {
  rx_t *rx = rx_of(p);
  if (rx->req.conn->state == CONN_IDLE) conn_set_state(rx->req.conn, CONN_HEAD);
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  rx_t *rx = rx_of(p);
  int rc = head_append(p, at, len);
  if (rc == 0) rx->url_len += (uint32_t)len;
  return rc;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  rx_t *rx = rx_of(p);
  if (rx->hdr_state != 1) {
    if (rx->req.nheaders >= HTTP_MAX_HEADERS) return reject(rx, 431, "too many header fields");
    rx->name_off[rx->req.nheaders] = (uint32_t)rx->head.len;
    rx->name_len[rx->req.nheaders] = 0;
    rx->hdr_state = 1;
  }
  int rc = head_append(p, at, len);
  if (rc == 0) rx->name_len[rx->req.nheaders] += (uint32_t)len;
  return rc;
}

static int on_header_field_complete(llhttp_t *p) {
  rx_t *rx = rx_of(p);
  if (rx->hdr_state != 1) {
    /* An empty field name: llhttp rejects these itself, but be safe. */
    return reject(rx, 400, "empty header name");
  }
  const char *name = rx->head.data + rx->name_off[rx->req.nheaders];
  for (uint32_t i = 0; i < rx->name_len[rx->req.nheaders]; i++) {
    if (name[i] == ' ' || name[i] == '\t') return reject(rx, 400, "whitespace in a header field name");
  }
  rx->value_off[rx->req.nheaders] = (uint32_t)rx->head.len;
  rx->value_len[rx->req.nheaders] = 0;
  rx->hdr_state = 2;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  rx_t *rx = rx_of(p);
  int rc = head_append(p, at, len);
  if (rc == 0) rx->value_len[rx->req.nheaders] += (uint32_t)len;
  return rc;
}

static int on_header_value_complete(llhttp_t *p) {
  rx_t *rx = rx_of(p);
  if (rx->hdr_state == 2) rx->req.nheaders++;
  rx->hdr_state = 3;
  return 0;
}

static http_method_t method_of(uint8_t m) {
  switch ((llhttp_method_t)m) {
    case HTTP_GET:
      return HTTP_M_GET;
    case HTTP_HEAD:
      return HTTP_M_HEAD;
    case HTTP_POST:
      return HTTP_M_POST;
    case HTTP_PUT:
      return HTTP_M_PUT;
    case HTTP_PATCH:
      return HTTP_M_PATCH;
    case HTTP_DELETE:
      return HTTP_M_DELETE;
    case HTTP_OPTIONS:
      return HTTP_M_OPTIONS;
    default:
      return HTTP_M_OTHER;
  }
}

static int on_headers_complete(llhttp_t *p) {
  rx_t *rx = rx_of(p);
  http_req_t *req = &rx->req;
  http_conn_t *c = req->conn;
  /* The head buffer no longer grows: turn offsets into pointers. */
  req->target.p = rx->head.data;
  req->target.n = rx->url_len;
  for (int i = 0; i < req->nheaders; i++) {
    req->headers[i].name.p = rx->head.data + rx->name_off[i];
    req->headers[i].name.n = rx->name_len[i];
    const char *v = rx->head.data + rx->value_off[i];
    size_t vn = rx->value_len[i];
    while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) vn--;
    while (vn && (v[0] == ' ' || v[0] == '\t')) v++, vn--;
    req->headers[i].value.p = v;
    req->headers[i].value.n = vn;
  }
  const char *q = memchr(req->target.p, '?', req->target.n);
  req->path.p = req->target.p;
  req->path.n = q ? (size_t)(q - req->target.p) : req->target.n;
  req->query.p = q ? q + 1 : req->target.p + req->target.n;
  req->query.n = q ? req->target.n - req->path.n - 1 : 0;
  req->method = method_of(llhttp_get_method(p));
  if (req->method == HTTP_M_HEAD) {
    req->method = HTTP_M_GET;
    req->head_only = true;
  }
  req->keep_alive = llhttp_should_keep_alive(p);
  req->upgrade = llhttp_get_upgrade(p);
  if (req->target.n == 0 || req->target.p[0] != '/')
    return reject(rx, 400, "request target must be an absolute path");
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->srv->cfg->max_body)
    return reject(rx, 413, "request body exceeds the limit");
  if (!http_header(req, "host") && llhttp_get_http_minor(p) >= 1)
    return reject(rx, 400, "missing Host header");
  if (http_header_has_token(req, "expect", "100-continue")) {
    if (p->flags & (F_CONTENT_LENGTH | F_CHUNKED))
      http_conn_write_copy(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  }
  conn_set_state(c, CONN_BODY);
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  rx_t *rx = rx_of(p);
  if (rx->req.body.len + len > rx->req.conn->srv->cfg->max_body)
    return reject(rx, 413, "request body exceeds the limit");
  buf_append(&rx->req.body, at, len);
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  rx_of(p)->message_done = true;
  return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- receive state ------------------------------------------------------ */

static void rx_reset_request(rx_t *rx, http_conn_t *c) {
  http_req_t *req = &rx->req;
  buf_t body = req->body;
  buf_clear(&body);
  memset(req, 0, sizeof *req);
  req->body = body;
  req->conn = c;
  req->loop = c->loop;
  req->app = c->srv->app;
  req->cfg = c->srv->cfg;
  req->keep_alive = true;
  buf_clear(&rx->head);
  rx->url_len = 0;
  rx->hdr_state = 0;
  rx->err_status = 0;
  rx->err_detail = NULL;
  rx->message_done = false;
  /* Large bodies should not pin memory on an idle keep-alive connection. */
  if (req->body.cap > 64 * 1024) buf_free(&req->body);
  if (rx->head.cap > 16 * 1024) buf_free(&rx->head);
}

static rx_t *rx_new(http_conn_t *c) {
  rx_t *rx = xcalloc(1, sizeof *rx);
  llhttp_init(&rx->parser, HTTP_REQUEST, &settings);
  rx_reset_request(rx, c);
  return rx;
}

static void rx_free(rx_t *rx) {
  if (!rx) return;
  buf_free(&rx->head);
  buf_free(&rx->pending);
  buf_free(&rx->req.body);
  free(rx);
}

/* ---- lifetime ----------------------------------------------------------- */

static void conn_unref(http_conn_t *c) {
  assert(c->refs > 0);
  if (--c->refs > 0) return;
  rx_free(c->rx);
  free(c);
}

static void on_handle_closed(uv_handle_t *h) {
  http_conn_t *c = h->data;
  if (h == (uv_handle_t *)c->timer) {
    free(c->timer);
    c->timer = NULL;
  }
  if (--c->open_handles > 0) return;
  if (c->up_ops && c->up_ops->on_close) c->up_ops->on_close(c->owner);
  c->up_ops = NULL;
  conn_unref(c);
}

void http__conn_close(http_conn_t *c) {
  if (c->open_handles == 0 || uv_is_closing((uv_handle_t *)&c->tcp)) return;
  conn_state_t was = c->state;
  c->state = CONN_CLOSING;
  http_loop_t *hl = c->hl;
  if (c->prev)
    c->prev->next = c->next;
  else
    hl->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  hl->count--;
  if (c->timer && !uv_is_closing((uv_handle_t *)c->timer)) {
    uv_timer_stop(c->timer);
    uv_close((uv_handle_t *)c->timer, on_handle_closed);
  }
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  if (was == CONN_HANDLING && c->rx && !c->rx->req.answered && c->rx->req.on_abort) {
    http_abort_cb cb = c->rx->req.on_abort;
    c->rx->req.on_abort = NULL;
    cb(&c->rx->req, HTTP_ABORT_CLOSED);
  }
}

static void on_linger_timeout(uv_timer_t *t) { http__conn_close(t->data); }

static void on_shutdown_done(uv_shutdown_t *sr, int status) {
  http_conn_t *c = sr->data;
  free(sr);
  if (c->lingering && c->timer && status == 0 && !uv_is_closing((uv_handle_t *)&c->tcp)) {
    /* Our answer is out and our side is shut: keep reading (and dropping)
     * what the client still sends, so closing with unread bytes does not
     * reset the connection and destroy the answer before it is read. */
    uv_timer_start(c->timer, on_linger_timeout, HTTP_LINGER_MS, 0);
  } else {
    http__conn_close(c);
  }
  conn_unref(c);
}

/* Flush queued writes, then close. */
static void conn_close_graceful(http_conn_t *c) {
  if (c->open_handles == 0 || uv_is_closing((uv_handle_t *)&c->tcp)) return;
  if (c->linger) {
    c->lingering = true;
    conn_start_reading(c);
  } else if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
  }
  uv_shutdown_t *sr = xmalloc(sizeof *sr);
  sr->data = c;
  c->refs++;
  if (c->timer && !uv_is_closing((uv_handle_t *)c->timer)) uv_timer_stop(c->timer);
  if (uv_shutdown(sr, (uv_stream_t *)&c->tcp, on_shutdown_done) != 0) {
    free(sr);
    c->refs--;
    http__conn_close(c);
  }
}

void http_conn_close(http_conn_t *c, bool abortive) {
  if (abortive)
    http__conn_close(c);
  else
    conn_close_graceful(c);
}

/* ---- errors from the parser --------------------------------------------- */

static void conn_fail(http_conn_t *c, int status, const char *detail) {
  rx_t *rx = c->rx;
  rx->req.keep_alive = false;
  c->close_after_response = true;
  c->linger = true;
  if (!rx->req.target.p) {
    rx->req.target.p = rx->req.path.p = rx->req.query.p = "";
  }
  conn_set_state(c, CONN_HANDLING);
  c->refs++;
  http_problem(&rx->req, status, detail);
}

static void on_timeout(uv_timer_t *t) {
  http_conn_t *c = t->data;
  switch (c->state) {
    case CONN_IDLE:
      http__conn_close(c);
      break; /* nothing sent: close quietly */
    case CONN_HEAD:
      conn_fail(c, 408, "request head not received within the header timeout");
      break;
    case CONN_BODY:
      conn_fail(c, 408, "request body stalled past the body timeout");
      break;
    default:
      break;
  }
}

/* ---- reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  http_conn_t *c = h->data;
  loop_t *l = c->loop;
  if (l->read_buf_busy) {
    b->base = NULL;
    b->len = 0;
    return;
  }
  l->read_buf_busy = true;
  b->base = l->read_buf;
  b->len = LOOP_READ_BUF_SIZE;
}

static void feed(http_conn_t *c, const char *data, size_t len) {
  rx_t *rx = c->rx;
  buf_append(&rx->pending, data, len);
  conn_process(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  http_conn_t *c = s->data;
  loop_t *l = c->loop;
  if (b->base == l->read_buf) l->read_buf_busy = false;
  if (nread == 0) return;
  if (c->lingering) {
    if (nread < 0) http__conn_close(c); /* the client is done too */
    return;                             /* drop what it still sends */
  }
  if (nread < 0) {
    if (c->state == CONN_UPGRADED || c->state != CONN_HANDLING || (c->rx && c->rx->req.on_abort)) {
      http__conn_close(c);
    } else {
      /* The client half-closed while its request is being handled: answer,
       * then close. */
      c->close_after_response = true;
      uv_read_stop(s);
      c->reading = false;
    }
    return;
  }
  if (c->state == CONN_UPGRADED) {
    c->up_ops->on_data(c->owner, b->base, (size_t)nread);
    return;
  }
  if (c->state == CONN_CLOSING) return;
  if (c->state == CONN_HANDLING) {
    /* Pipelined bytes wait their turn; stop reading if a client floods. */
    buf_append(&c->rx->pending, b->base, (size_t)nread);
    if (c->rx->pending.len - c->rx->pending_off > c->srv->cfg->max_body + c->srv->cfg->max_header) {
      uv_read_stop(s);
      c->reading = false;
    }
    return;
  }
  feed(c, b->base, (size_t)nread);
}

static void conn_start_reading(http_conn_t *c) {
  if (c->reading || c->state == CONN_CLOSING) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = true;
}

/* After an upgrade: free the HTTP receive state and give the new owner the
 * bytes that arrived after the request. */
static void conn_handover(http_conn_t *c) {
  rx_t *old = c->rx;
  c->rx = NULL;
  size_t left = old->pending.len - old->pending_off;
  if (left && c->state == CONN_UPGRADED)
    c->up_ops->on_data(c->owner, old->pending.data + old->pending_off, left);
  rx_free(old);
}

/* Parses pending bytes and handles complete requests, one at a time, until
 * the bytes run out or a request is left awaiting its answer. */
static void conn_process(http_conn_t *c) {
  if (c->in_process) return;
  c->in_process = true;
  c->refs++;
  while (c->state != CONN_CLOSING && c->state != CONN_UPGRADED && c->state != CONN_HANDLING) {
    rx_t *rx = c->rx;
    size_t avail = rx->pending.len - rx->pending_off;
    if (avail == 0) break;
    const char *data = rx->pending.data + rx->pending_off;
    llhttp_errno_t err = llhttp_execute(&rx->parser, data, avail);
    size_t used = avail;
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
      used = (size_t)(llhttp_get_error_pos(&rx->parser) - data);
    }
    rx->pending_off += used;
    if (rx->pending_off == rx->pending.len) {
      rx->pending_off = 0;
      buf_clear(&rx->pending);
      if (rx->pending.cap > 64 * 1024) buf_free(&rx->pending);
    }
    if (err == HPE_OK) break;
    if (err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
      if (rx->err_status)
        conn_fail(c, rx->err_status, rx->err_detail);
      else
        conn_fail(c, 400, llhttp_get_error_reason(&rx->parser));
      break;
    }
    assert(rx->message_done);
    conn_set_state(c, CONN_HANDLING);
    c->refs++;                                           /* held by the request until it is answered */
    if (rx->req.upgrade) c->close_after_response = true; /* unless a handler takes it over */
    http__route(c->srv, &rx->req);
    if (c->state == CONN_UPGRADED) {
      conn_handover(c);
      break;
    }
  }
  c->in_process = false;
  conn_unref(c);
}

/* Called once the answer to the current request is queued. */
static void conn_next_request(http_conn_t *c, bool keep_alive) {
  if (c->state == CONN_CLOSING) return;
  if (!keep_alive) {
    conn_close_graceful(c);
    return;
  }
  rx_t *rx = c->rx;
  rx_reset_request(rx, c);
  llhttp_resume(&rx->parser);
  c->served++;
  conn_set_state(c, CONN_IDLE);
  conn_start_reading(c);
  if (!c->in_process) conn_process(c);
}

void http__conn_accept(http_server_t *s, http_loop_t *hl, uv_stream_t *listener) {
  loop_t *loop = listener->loop->data;
  http_conn_t *c = xcalloc(1, sizeof *c);
  c->srv = s;
  c->hl = hl;
  c->loop = loop;
  uv_tcp_init(&loop->uv, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    c->refs = 1;
    c->open_handles = 1;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    return;
  }
  c->timer = xmalloc(sizeof *c->timer);
  uv_timer_init(&loop->uv, c->timer);
  c->timer->data = c;
  c->open_handles = 2;
  c->refs = 1;
  uv_tcp_nodelay(&c->tcp, 1);
  c->next = hl->conns;
  if (hl->conns) hl->conns->prev = c;
  hl->conns = c;
  hl->count++;
  c->rx = rx_new(c);
  conn_set_state(c, CONN_IDLE);
  conn_start_reading(c);
}

void http__conn_shutdown(http_conn_t *c) {
  switch (c->state) {
    case CONN_UPGRADED:
      if (c->up_ops->on_shutdown)
        c->up_ops->on_shutdown(c->owner);
      else
        http__conn_close(c);
      break;
    case CONN_HANDLING:
      c->close_after_response = true;
      if (c->rx && !c->rx->req.answered && c->rx->req.on_abort) {
        http_abort_cb cb = c->rx->req.on_abort;
        c->rx->req.on_abort = NULL;
        cb(&c->rx->req, HTTP_ABORT_SHUTDOWN);
      }
      break;
    case CONN_CLOSING:
      break;
    default:
      http__conn_close(c);
      break;
  }
}

/* ---- writing ------------------------------------------------------------ */

typedef struct wreq {
  uv_write_t w;
  http_conn_t *c;
  char *owned;    /* malloc'd block, freed after the write */
  bytes_t **refs; /* references released after the write */
  size_t nrefs;
  bool refs_owned; /* refs is a separate malloc'd array */
  bytes_t *inline_refs[];
} wreq_t;

static void wreq_free(wreq_t *wr) {
  free(wr->owned);
  for (size_t i = 0; i < wr->nrefs; i++) bytes_unref(wr->refs[i]);
  if (wr->refs_owned) free(wr->refs);
  free(wr);
}

static void on_written(uv_write_t *w, int status) {
  wreq_t *wr = (wreq_t *)w;
  http_conn_t *c = wr->c;
  wreq_free(wr);
  if (status == 0 && c->state == CONN_UPGRADED && c->up_ops && c->up_ops->on_drain)
    c->up_ops->on_drain(c->owner);
  if (status < 0 && status != UV_ECANCELED) http__conn_close(c);
  conn_unref(c);
}

/* With nothing queued, hand the bytes to the kernel right here: when it
 * takes them all (the common case) there is no write request to allocate or
 * track, no callback to wait for and no epoll re-arm. */
int http_conn_try_write(http_conn_t *c, const uv_buf_t *bufs, size_t n) {
  if (c->state == CONN_CLOSING || uv_is_closing((uv_handle_t *)&c->tcp)) return UV_ECANCELED;
  if (n > 1024 || uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) != 0) return 0;
  int w = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)n);
  if (w == UV_EAGAIN) return 0;
  if (w < 0) http__conn_close(c);
  return w;
}

/* Queues bufs after their first skip bytes (already written) with uv_write,
 * which keeps the order behind anything queued; wr is released after the
 * write (or now, on failure). */
static int conn_queue(http_conn_t *c, const uv_buf_t *bufs, unsigned n, wreq_t *wr, size_t skip) {
  if (c->state == CONN_CLOSING || uv_is_closing((uv_handle_t *)&c->tcp)) {
    wreq_free(wr);
    return UV_ECANCELED;
  }
  uv_buf_t rest_small[16];
  uv_buf_t *rest = NULL;
  if (skip) {
    unsigned k = 0, m = 0;
    while (k < n && skip >= bufs[k].len) skip -= bufs[k++].len;
    rest = n - k <= 16 ? rest_small : xmalloc((n - k) * sizeof *rest);
    for (; k < n; k++, m++) {
      rest[m] = bufs[k];
      if (skip) {
        rest[m].base += skip;
        rest[m].len -= skip;
        skip = 0;
      }
    }
    bufs = rest;
    n = m;
  }
  wr->c = c;
  c->refs++;
  int rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, n, on_written); /* copies bufs */
  if (rest && rest != rest_small) free(rest);
  if (rc != 0) {
    c->refs--;
    wreq_free(wr);
    http__conn_close(c);
  }
  return rc;
}

static int conn_writev(http_conn_t *c, const uv_buf_t *bufs, unsigned n, wreq_t *wr) {
  int w = http_conn_try_write(c, bufs, n);
  size_t total = 0;
  for (unsigned i = 0; i < n; i++) total += bufs[i].len;
  if (w < 0 || (size_t)w == total) {
    wreq_free(wr);
    return w < 0 ? w : 0;
  }
  return conn_queue(c, bufs, n, wr, (size_t)w);
}

static wreq_t *wreq_new(size_t ninline, size_t extra) {
  wreq_t *wr = xmalloc(sizeof *wr + ninline * sizeof(bytes_t *) + extra);
  wr->owned = NULL;
  wr->refs = wr->inline_refs;
  wr->nrefs = 0;
  wr->refs_owned = false;
  return wr;
}

int http_conn_write(http_conn_t *c, bytes_t *const *bufs, size_t n) {
  wreq_t *wr = wreq_new(n, 0);
  uv_buf_t small[16];
  uv_buf_t *ub = n <= 16 ? small : xmalloc(n * sizeof *ub);
  for (size_t i = 0; i < n; i++) {
    wr->refs[wr->nrefs++] = bytes_ref(bufs[i]);
    ub[i] = uv_buf_init(bufs[i]->data, (unsigned)bufs[i]->len);
  }
  int rc = conn_writev(c, ub, (unsigned)n, wr);
  if (ub != small) free(ub);
  return rc;
}

int http_conn_writev(http_conn_t *c, const uv_buf_t *iov, size_t n, size_t written, bytes_t **refs,
                     size_t nrefs, char *owned) {
  wreq_t *wr = wreq_new(0, 0);
  wr->owned = owned;
  wr->refs = refs;
  wr->nrefs = nrefs;
  wr->refs_owned = refs != NULL;
  if (!refs) wr->refs = wr->inline_refs;
  return conn_queue(c, iov, (unsigned)n, wr, written);
}

int http_conn_write_copy(http_conn_t *c, const void *p, size_t n) {
  wreq_t *wr = wreq_new(0, 0);
  wr->owned = xmalloc(n);
  memcpy(wr->owned, p, n);
  uv_buf_t b = uv_buf_init(wr->owned, (unsigned)n);
  return conn_writev(c, &b, 1, wr);
}

size_t http_conn_queued(const http_conn_t *c) {
  return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

loop_t *http_conn_loop(const http_conn_t *c) { return c->loop; }

const char *http_conn_peer(http_conn_t *c, char *out, size_t outlen) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  out[0] = '\0';
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    char ip[64];
    int port = 0;
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    snprintf(out, outlen, "%s:%d", ip, port);
  }
  return out;
}

/* ---- answering ---------------------------------------------------------- */

void http__send(http_req_t *req, int status, const char *ctype, const char *extra, char *body, size_t len,
                bool owned) {
  http_conn_t *c = req->conn;
  assert(!req->answered);
  req->answered = true;
  req->on_abort = NULL;
  if (c->state == CONN_CLOSING || c->state == CONN_UPGRADED) {
    if (owned) free(body);
    conn_unref(c);
    return;
  }
  bool keep_alive = req->keep_alive && !c->close_after_response && !c->hl->shutting_down;
  bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
  buf_t h = BUF_INIT;
  buf_reserve(&h, 256 + (extra ? strlen(extra) : 0));
  buf_puts(&h, "HTTP/1.1 ");
  buf_put_u64(&h, (uint64_t)status);
  buf_putc(&h, ' ');
  buf_puts(&h, http_reason(status));
  buf_puts(&h, "\r\nServer: herald/" HERALD_VERSION "\r\nDate: ");
  buf_puts(&h, c->loop->http_date);
  buf_puts(&h, "\r\n");
  if (!no_body) {
    if (ctype) {
      buf_puts(&h, "Content-Type: ");
      buf_puts(&h, ctype);
      buf_puts(&h, "\r\n");
    }
    buf_puts(&h, "Content-Length: ");
    buf_put_u64(&h, len);
    buf_puts(&h, "\r\n");
  }
  if (extra) buf_puts(&h, extra);
  if (!keep_alive) buf_puts(&h, "Connection: close\r\n");
  buf_puts(&h, "\r\n");
  bool send_body = !no_body && !req->head_only && len > 0;
  /* One allocation holds the write request and the header bytes. */
  wreq_t *wr = wreq_new(0, h.len);
  char *hdr = (char *)(wr + 1);
  memcpy(hdr, h.data, h.len);
  uv_buf_t bufs[2] = {uv_buf_init(hdr, (unsigned)h.len), uv_buf_init(body, (unsigned)len)};
  if (send_body && !owned) {
    wr->owned = xmalloc(len);
    memcpy(wr->owned, body, len);
    bufs[1].base = wr->owned;
  } else {
    wr->owned = owned ? body : NULL;
  }
  buf_free(&h);
  conn_writev(c, bufs, send_body ? 2 : 1, wr);
  conn_unref(c); /* the request's reference */
  conn_next_request(c, keep_alive);
}

void http_req_release(http_req_t *req) {
  http_conn_t *c = req->conn;
  if (req->answered) return;
  req->answered = true;
  req->on_abort = NULL;
  if (c->state != CONN_CLOSING) {
    c->close_after_response = true;
    conn_close_graceful(c);
  }
  conn_unref(c);
}

http_conn_t *http_upgrade(http_req_t *req, const char *head, size_t head_len, const http_upgrade_ops_t *ops,
                          void *owner) {
  http_conn_t *c = req->conn;
  assert(!req->answered && c->state == CONN_HANDLING);
  req->answered = true;
  req->on_abort = NULL;
  c->up_ops = ops;
  c->owner = owner;
  c->close_after_response = false;
  conn_set_state(c, CONN_UPGRADED);
  uv_timer_stop(c->timer);
  uv_close((uv_handle_t *)c->timer, on_handle_closed);
  if (head_len) http_conn_write_copy(c, head, head_len);
  conn_start_reading(c);
  conn_unref(c);                        /* the request's reference; the handles' one remains */
  if (!c->in_process) conn_handover(c); /* else conn_process does it */
  return c;
}
