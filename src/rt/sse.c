/* sse — the Server-Sent Events transport: GET /api/_stream and
 * GET /api/{c}/_stream (WHATWG HTML, "Server-sent events").
 *
 * The response head goes out at once (text/event-stream, no-cache,
 * X-Accel-Buffering: no), then "retry:", then one record per event:
 *   id: <seq>\nevent: <collection>.<type>\ndata: <event JSON>\n\n
 * The record bytes are built once per event and payload mode and cached on
 * the event (hub_event_enc_*), so every stream on every loop writes the same
 * refcounted bytes. Resume comes from Last-Event-ID (which wins) or since;
 * too far behind gets "event: reset" and then live events. A comment line
 * is the heartbeat. A stream over the outbound cap is ended: the browser
 * reconnects with Last-Event-ID and loses nothing.
 *
 * The stream has no Content-Length and says Connection: close: it ends when
 * either side closes the connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/buf.h"
#include "core/log.h"
#include "rt/feed.h"
#include "rt/out.h"
#include "rt/rt_int.h"

typedef struct sse_conn {
  rt_conn_t base;
  app_t *app;
  loop_t *loop;
  feed_t *feed;
  out_t out;
  uint64_t last_write; /* loop time of the last bytes queued */
  uint64_t close_at;
  bool closed;
} sse_conn_t;

static void flush(sse_conn_t *sc) {
  if (sc->closed || out_len(&sc->out) == 0) return;
  out_flush(&sc->out, sc->base.conn);
  sc->last_write = uv_now(&sc->loop->uv);
}

static void end_stream(sse_conn_t *sc, bool abortive) {
  if (sc->closed) return;
  sc->closed = true;
  sc->close_at = uv_now(&sc->loop->uv) + 5000;
  out_reset(&sc->out);
  http_conn_close(sc->base.conn, abortive);
}

static bytes_t *record_for(hub_event_t *ev, hub_payload_t mode) {
  int slot = mode == HUB_PAYLOAD_FULL ? HUB_ENC_SSE_FULL : HUB_ENC_SSE_MIN;
  bytes_t *b = hub_event_enc_get(ev, slot);
  if (b) return b;
  bytes_t *json = ev->json[mode];
  buf_t r = BUF_INIT;
  buf_reserve(&r, json->len + 96);
  buf_puts(&r, "id: ");
  buf_put_u64(&r, ev->seq);
  buf_puts(&r, "\nevent: ");
  buf_puts(&r, ev->collection);
  buf_putc(&r, '.');
  buf_puts(&r, ev->type);
  buf_puts(&r, "\ndata: ");
  buf_append(&r, json->data, json->len); /* compact JSON: no newlines */
  buf_puts(&r, "\n\n");
  b = bytes_new(r.data, r.len);
  buf_free(&r);
  return hub_event_enc_set(ev, slot, b);
}

static void on_feed_event(feed_t *f, hub_event_t *ev) {
  sse_conn_t *sc = f->owner;
  if (sc->closed) return;
  out_add_ref(&sc->out, record_for(ev, f->filter.payload));
  /* As for WebSocket: what the socket has not taken from earlier turns. */
  if (http_conn_queued(sc->base.conn) > sc->app->cfg->max_outbound) {
    LOG_D("sse: slow consumer, ending the stream");
    end_stream(sc, false);
    return;
  }
  if (out_len(&sc->out) >= RT_FLUSH_EARLY) flush(sc);
}

static void on_feed_flush(feed_t *f) { flush(f->owner); }

static void on_feed_reset(feed_t *f, uint64_t oldest, uint64_t head) {
  sse_conn_t *sc = f->owner;
  char rec[160];
  int n = snprintf(rec, sizeof rec, "event: reset\ndata: {\"oldest\":%llu,\"head\":%llu}\n\n",
                   (unsigned long long)oldest, (unsigned long long)head);
  out_add_copy(&sc->out, rec, (size_t)n);
}

static void on_feed_error(feed_t *f, int status, const char *detail) {
  sse_conn_t *sc = f->owner;
  LOG_W("sse: replay failed (%d %s), ending the stream", status, detail ? detail : "");
  end_stream(sc, false);
}

static bool can_send(feed_t *f) {
  sse_conn_t *sc = f->owner;
  return http_conn_queued(sc->base.conn) + out_len(&sc->out) < sc->app->cfg->max_outbound / 2;
}

static const feed_ops_t feed_ops = {on_feed_event, on_feed_flush, on_feed_reset, on_feed_error, can_send};

static void on_data(void *owner, char *data, size_t len) { /* a stream takes no input */
}

static void on_shutdown(void *owner) { end_stream(owner, false); }

static void on_close(void *owner) {
  sse_conn_t *sc = owner;
  rt__remove(sc->loop, &sc->base);
  feed_close(sc->feed);
  out_reset(&sc->out);
  free(sc);
}

static void on_drain(void *owner) {
  sse_conn_t *sc = owner;
  if (!sc->closed && sc->feed->state == FEED_HELD && can_send(sc->feed)) feed_resume(sc->feed);
}

static const http_upgrade_ops_t upgrade_ops = {on_data, on_shutdown, on_close, on_drain};

static void sweep(rt_conn_t *c, uint64_t now) {
  sse_conn_t *sc = (sse_conn_t *)c;
  if (sc->closed) {
    if (now >= sc->close_at) http_conn_close(c->conn, true);
    return;
  }
  if (now - sc->last_write >= (uint64_t)sc->app->cfg->heartbeat_ms) {
    out_add_copy(&sc->out, ": heartbeat\n\n", 13);
    flush(sc);
  }
}

static void describe(rt_conn_t *c, uint64_t head, buf_t *out) {
  sse_conn_t *sc = (sse_conn_t *)c;
  char peer[80];
  http_conn_peer(c->conn, peer, sizeof peer);
  buf_puts(out, "{\"transport\":\"sse\",\"peer\":");
  buf_put_json_str(out, peer, strlen(peer));
  buf_puts(out, ",\"subscriptions\":1,\"lastSeq\":");
  buf_put_u64(out, sc->feed->last_seq);
  buf_puts(out, ",\"lag\":");
  buf_put_u64(out, head > sc->feed->last_seq ? head - sc->feed->last_seq : 0);
  buf_puts(out, ",\"queued\":");
  buf_put_u64(out, http_conn_queued(c->conn));
  buf_putc(out, '}');
}

void rt_sse_handle(http_req_t *req) {
  app_t *app = req->app;
  char pc[72];
  const char *path_coll = NULL;
  if (req->params[0].p) {
    if (req->params[0].n >= sizeof pc) {
      http_problem(req, 400, "invalid collection name in the path");
      return;
    }
    memcpy(pc, req->params[0].p, req->params[0].n);
    pc[req->params[0].n] = '\0';
    path_coll = pc;
  }
  feed_t *f = feed_new(app, req->loop, &feed_ops, NULL);
  char detail[256];
  if (filter_parse_query(&f->filter, req->query.p, req->query.n, path_coll, detail, sizeof detail) != 0) {
    http_problem(req, 400, detail);
    feed_close(f);
    return;
  }
  const http_slice_t *lei = http_header(req, "last-event-id");
  if (lei && lei->n > 0) {
    char tmp[32];
    bool ok = lei->n < sizeof tmp;
    for (size_t i = 0; ok && i < lei->n; i++) ok = lei->p[i] >= '0' && lei->p[i] <= '9';
    if (!ok) {
      http_problem(req, 400, "invalid Last-Event-ID: must be an event seq (a non-negative integer)");
      feed_close(f);
      return;
    }
    memcpy(tmp, lei->p, lei->n);
    tmp[lei->n] = '\0';
    errno = 0;
    unsigned long long v = strtoull(tmp, NULL, 10);
    if (errno) {
      http_problem(req, 400, "invalid Last-Event-ID: out of range");
      feed_close(f);
      return;
    }
    f->filter.has_since = true;
    f->filter.since = v;
  }
  sse_conn_t *sc = xcalloc(1, sizeof *sc);
  sc->app = app;
  sc->loop = req->loop;
  sc->feed = f;
  f->owner = sc;
  sc->base.transport = "sse";
  sc->base.sweep = sweep;
  sc->base.describe = describe;
  buf_t h = BUF_INIT;
  buf_puts(&h, "HTTP/1.1 200 OK\r\nServer: herald/" HERALD_VERSION "\r\nDate: ");
  buf_puts(&h, req->loop->http_date);
  buf_puts(&h,
           "\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
           "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n");
  buf_puts(&h, "retry: ");
  buf_put_u64(&h, (uint64_t)app->cfg->sse_retry_ms);
  buf_puts(&h, "\n\n");
  sc->base.conn = http_upgrade(req, h.data, h.len, &upgrade_ops, sc);
  buf_free(&h);
  sc->last_write = uv_now(&sc->loop->uv);
  rt__add(sc->loop, &sc->base);
  feed_start(f);
}
