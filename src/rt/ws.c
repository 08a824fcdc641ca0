/* ws — the WebSocket transport: GET /api/_ws (RFC 6455, herald.v1).
 *
 * The handshake is checked here, then the connection is taken over from
 * the HTTP layer (http_upgrade) and client frames are parsed by our codec
 * straight out of the loop's read buffer. Client messages are small JSON
 * requests (subscribe, unsubscribe, ping); each subscription is a feed
 * (replay then live). Events go out as
 *   {"op":"event","sub":"<sub>","event":<event JSON>}
 * where the event JSON is the shared, serialize-once bytes. The whole frame
 * is cached on the event for the first sub id that asks, so subscriptions
 * with that id (the common case) all send one shared buffer; others add a
 * small copied header + envelope and reference the shared JSON. Everything
 * queued during one loop pass leaves in one writev.
 *
 * Close handshake:
 *
 *   OPEN ──peer Close──────────▶ echo Close, flush, close TCP
 *     │──protocol error────────▶ send Close(1002/1003/1007/1009), flush, close
 *     │──slow consumer─────────▶ send Close(1013), flush (bounded), close
 *     │──shutdown──────────────▶ send Close(1001) ─▶ CLOSING
 *     └──no pong for 2 pings───▶ close TCP
 *   CLOSING ──peer Close or 5 s──▶ close TCP
 *
 * A connection that has sent its Close stops delivering events. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/buf.h"
#include "core/log.h"
#include "rt/feed.h"
#include "rt/out.h"
#include "rt/rt_int.h"
#include "rt/ws_codec.h"

#define WS_SUB_ID_MAX 64
#define WS_CLOSE_GRACE_MS 5000

typedef struct ws_conn ws_conn_t;

typedef struct ws_sub {
  struct ws_sub *next;
  ws_conn_t *wc;
  feed_t *feed;
  uint32_t prefix_len;
  uint32_t id_len;
  /* The envelope prefix of every event frame, then the sub id (NUL-ended):
   * {"op":"event","sub":"<id>","event":<id>\0 — sized to fit, no more. */
  char prefix[];
} ws_sub_t;

#define SUB_ID(s) ((s)->prefix + (s)->prefix_len)

struct ws_conn {
  rt_conn_t base;
  app_t *app;
  loop_t *loop;
  ws_parser_t parser;
  ws_sub_t *subs;
  int nsubs;
  out_t out;
  uint64_t close_at;  /* loop time when a pending close gives up */
  uint64_t last_ping; /* loop time of the last ping sent */
  bool awaiting_pong;
  bool close_sent;
  bool closed; /* the HTTP connection is closed or closing */
  bool flush_scheduled;
};

static const feed_ops_t feed_ops;

/* ---- sending -------------------------------------------------------------- */

static void send_text_copy(ws_conn_t *wc, const char *json, size_t len) {
  uint8_t hdr[WS_HEADER_MAX];
  size_t hl = ws_frame_header(hdr, WS_OP_TEXT, true, len);
  out_add_copy(&wc->out, hdr, hl);
  out_add_copy(&wc->out, json, len);
}

static void flush(ws_conn_t *wc) {
  if (wc->closed || out_len(&wc->out) == 0) return;
  out_flush(&wc->out, wc->base.conn);
}

static void send_close(ws_conn_t *wc, uint16_t code, const char *reason, bool then_close) {
  if (wc->closed) return;
  if (!wc->close_sent) {
    uint8_t frame[WS_CONTROL_FRAME_MAX];
    size_t n = ws_frame_close(frame, code, reason, reason ? strlen(reason) : 0);
    if (code == WS_CLOSE_TRY_AGAIN) out_reset(&wc->out); /* the backlog is what we are shedding */
    out_add_copy(&wc->out, frame, n);
    flush(wc);
    wc->close_sent = true;
    wc->close_at = uv_now(&wc->loop->uv) + WS_CLOSE_GRACE_MS;
  }
  if (then_close) {
    wc->closed = true;
    if (!wc->close_at) wc->close_at = uv_now(&wc->loop->uv) + WS_CLOSE_GRACE_MS;
    http_conn_close(wc->base.conn, false);
  }
}

static void send_error(ws_conn_t *wc, const char *sub, const char *code, const char *detail) {
  buf_t b = BUF_INIT;
  buf_puts(&b, "{\"op\":\"error\"");
  if (sub) {
    buf_puts(&b, ",\"sub\":");
    buf_put_json_str(&b, sub, strlen(sub));
  }
  buf_puts(&b, ",\"code\":");
  buf_put_json_str(&b, code, strlen(code));
  buf_puts(&b, ",\"detail\":");
  buf_put_json_str(&b, detail, strlen(detail));
  buf_putc(&b, '}');
  send_text_copy(wc, b.data, b.len);
  buf_free(&b);
}

/* Over the outbound cap: the client is too slow. Close with 1013; it
 * resumes from its last seq, so nothing is lost. What counts is what the
 * socket has not taken from earlier turns: this turn's batch is not yet
 * written (and holds shared event bytes by reference), so a client that
 * keeps up is not cut off by one large commit batch. */
static bool over_cap(ws_conn_t *wc) {
  size_t queued = http_conn_queued(wc->base.conn);
  if (queued <= wc->app->cfg->max_outbound) return false;
  LOG_D("websocket: slow consumer (%zu bytes queued), closing 1013", queued);
  send_close(wc, WS_CLOSE_TRY_AGAIN, "slow consumer: reconnect and resume", true);
  return true;
}

/* ---- feed callbacks -------------------------------------------------------- */

/* The whole frame of ev for subscription s, if the event already carries
 * one built for the same envelope. Each event caches one frame per payload
 * mode, made for the first sub id that asks; every subscription with that
 * id (clients mostly use one, such as "s1") then sends the very same bytes,
 * on every loop. NULL when the cached frame is for another id. */
static bytes_t *shared_frame(ws_sub_t *s, hub_event_t *ev, hub_payload_t mode, size_t hl) {
  int slot = mode == HUB_PAYLOAD_FULL ? HUB_ENC_WS_FULL : HUB_ENC_WS_MIN;
  bytes_t *json = ev->json[mode];
  size_t len = hl + s->prefix_len + json->len + 1;
  bytes_t *b = hub_event_enc_get(ev, slot);
  if (!b) {
    ws_slice_t parts[3] = {{s->prefix, s->prefix_len}, {json->data, json->len}, {"}", 1}};
    b = hub_event_enc_set(ev, slot, ws_frame_textv(parts, 3));
  }
  if (b->len == len && memcmp(b->data + hl, s->prefix, s->prefix_len) == 0) return b;
  return NULL;
}

static void on_feed_event(feed_t *f, hub_event_t *ev) {
  ws_sub_t *s = f->owner;
  ws_conn_t *wc = s->wc;
  if (wc->close_sent || wc->closed) return;
  bytes_t *json = ev->json[f->filter.payload];
  uint8_t hdr[WS_HEADER_MAX];
  size_t hl = ws_frame_header(hdr, WS_OP_TEXT, true, s->prefix_len + json->len + 1);
  bytes_t *frame = shared_frame(s, ev, f->filter.payload, hl);
  if (frame) {
    out_add_ref(&wc->out, frame);
  } else {
    out_add_copy(&wc->out, hdr, hl);
    out_add_copy(&wc->out, s->prefix, s->prefix_len);
    out_add_ref(&wc->out, json);
    out_add_copy(&wc->out, "}", 1);
  }
  if (over_cap(wc)) return;
  /* A long backlog goes out in pieces rather than as one huge write. */
  if (out_len(&wc->out) >= RT_FLUSH_EARLY) flush(wc);
}

static void on_feed_flush(feed_t *f) {
  ws_sub_t *s = f->owner;
  flush(s->wc);
}

static void on_feed_reset(feed_t *f, uint64_t oldest, uint64_t head) {
  ws_sub_t *s = f->owner;
  char msg[256];
  int n = snprintf(msg, sizeof msg, "{\"op\":\"reset\",\"sub\":\"%s\",\"oldest\":%llu,\"head\":%llu}",
                   SUB_ID(s), (unsigned long long)oldest, (unsigned long long)head);
  send_text_copy(s->wc, msg, (size_t)n);
}

static void on_feed_error(feed_t *f, int status, const char *detail) {
  ws_sub_t *s = f->owner;
  send_error(s->wc, SUB_ID(s), "unavailable", detail ? detail : "the store could not replay events");
  flush(s->wc);
}

static bool can_send(feed_t *f) {
  ws_sub_t *s = f->owner;
  ws_conn_t *wc = s->wc;
  return http_conn_queued(wc->base.conn) + out_len(&wc->out) < wc->app->cfg->max_outbound / 2;
}

static const feed_ops_t feed_ops = {
    .on_event = on_feed_event,
    .on_flush = on_feed_flush,
    .on_reset = on_feed_reset,
    .on_error = on_feed_error,
    .can_send = can_send,
};

/* ---- client requests ------------------------------------------------------- */

static ws_sub_t *find_sub(ws_conn_t *wc, const char *id) {
  for (ws_sub_t *s = wc->subs; s; s = s->next)
    if (strcmp(SUB_ID(s), id) == 0) return s;
  return NULL;
}

static bool valid_sub_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > WS_SUB_ID_MAX) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-' || c == '.' || c == ':'))
      return false;
  }
  return true;
}

static void do_subscribe(ws_conn_t *wc, json_t *msg) {
  const char *sub = json_string_value(json_object_get(msg, "sub"));
  if (!sub || !valid_sub_id(sub)) {
    send_error(wc, NULL, "bad_request", "'sub' must be a string of 1 to 64 characters [A-Za-z0-9_.:-]");
    return;
  }
  if (find_sub(wc, sub)) {
    send_error(wc, sub, "duplicate_sub", "a subscription with this 'sub' id is already active");
    return;
  }
  if (wc->nsubs >= wc->app->cfg->max_subscriptions) {
    send_error(wc, sub, "too_many_subscriptions", "this connection has reached its subscription limit");
    return;
  }
  /* sub ids need no JSON escaping: valid_sub_id allows [A-Za-z0-9_.:-] */
  size_t idlen = strlen(sub);
  size_t plen = sizeof "{\"op\":\"event\",\"sub\":\"\",\"event\":" - 1 + idlen;
  ws_sub_t *s = xcalloc(1, sizeof *s + plen + idlen + 1);
  s->wc = wc;
  s->prefix_len = (uint32_t)plen;
  s->id_len = (uint32_t)idlen;
  snprintf(s->prefix, plen + 1, "{\"op\":\"event\",\"sub\":\"%s\",\"event\":", sub);
  memcpy(s->prefix + plen, sub, idlen + 1);
  s->feed = feed_new(wc->app, wc->loop, &feed_ops, s);
  static const char *const extra[] = {"op", "sub", NULL};
  char detail[256];
  if (filter_from_json(&s->feed->filter, msg, extra, detail, sizeof detail) != 0) {
    send_error(wc, sub, "bad_filter", detail);
    feed_close(s->feed);
    free(s);
    return;
  }
  s->next = wc->subs;
  wc->subs = s;
  wc->nsubs++;
  char ack[160];
  int n = snprintf(ack, sizeof ack, "{\"op\":\"subscribed\",\"sub\":\"%s\",\"head\":%llu}", SUB_ID(s),
                   (unsigned long long)hub_loop_head(wc->app->hub, wc->loop));
  send_text_copy(wc, ack, (size_t)n);
  feed_start(s->feed);
}

static void remove_sub(ws_conn_t *wc, ws_sub_t *s) {
  for (ws_sub_t **pp = &wc->subs; *pp; pp = &(*pp)->next) {
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  }
  wc->nsubs--;
  feed_close(s->feed);
  free(s);
}

static void do_unsubscribe(ws_conn_t *wc, json_t *msg) {
  const char *sub = json_string_value(json_object_get(msg, "sub"));
  if (!sub) {
    send_error(wc, NULL, "bad_request", "'sub' must be a string");
    return;
  }
  ws_sub_t *s = find_sub(wc, sub);
  if (!s) {
    send_error(wc, sub, "unknown_sub", "no active subscription with this 'sub' id");
    return;
  }
  char id[WS_SUB_ID_MAX + 1];
  memcpy(id, SUB_ID(s), s->id_len + 1);
  remove_sub(wc, s);
  char ack[128];
  int n = snprintf(ack, sizeof ack, "{\"op\":\"unsubscribed\",\"sub\":\"%s\"}", id);
  send_text_copy(wc, ack, (size_t)n);
}

static void do_ping(ws_conn_t *wc, json_t *msg) {
  buf_t b = BUF_INIT;
  buf_puts(&b, "{\"op\":\"pong\"");
  json_t *ref = json_object_get(msg, "ref");
  if (ref) {
    char *r = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
    if (r) {
      buf_puts(&b, ",\"ref\":");
      buf_puts(&b, r);
      free(r);
    }
  }
  buf_putc(&b, '}');
  send_text_copy(wc, b.data, b.len);
  buf_free(&b);
}

static void handle_message(ws_conn_t *wc, const uint8_t *payload, size_t len) {
  json_error_t jerr;
  json_t *msg = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!msg || !json_is_object(msg)) {
    send_error(wc, NULL, "bad_request",
               msg ? "a message must be a JSON object" : "a message must be valid JSON");
    json_decref(msg);
    return;
  }
  json_t *jop = json_object_get(msg, "op");
  const char *op = json_string_value(jop);
  const char *sub = json_string_value(json_object_get(msg, "sub"));
  if (!op) {
    send_error(wc, sub, "bad_request", "missing 'op': expected subscribe, unsubscribe or ping");
  } else if (strcmp(op, "subscribe") == 0) {
    do_subscribe(wc, msg);
  } else if (strcmp(op, "unsubscribe") == 0) {
    do_unsubscribe(wc, msg);
  } else if (strcmp(op, "ping") == 0) {
    do_ping(wc, msg);
  } else {
    char detail[128];
    snprintf(detail, sizeof detail, "unknown op '%.40s': expected subscribe, unsubscribe or ping", op);
    send_error(wc, sub, "unknown_op", detail);
  }
  json_decref(msg);
}

/* ---- codec callbacks ------------------------------------------------------- */

static int on_message(void *ud, int opcode, const uint8_t *payload, size_t len) {
  ws_conn_t *wc = ud;
  if (wc->close_sent) return 0;
  handle_message(wc, payload, len);
  return 0;
}

static int on_control(void *ud, int opcode, const uint8_t *payload, size_t len) {
  ws_conn_t *wc = ud;
  uint8_t frame[WS_CONTROL_FRAME_MAX];
  switch (opcode) {
    case WS_OP_PING:
      if (!wc->close_sent) out_add_copy(&wc->out, frame, ws_frame_pong(frame, payload, len));
      break;
    case WS_OP_PONG:
      wc->awaiting_pong = false;
      break;
    case WS_OP_CLOSE: {
      if (wc->close_sent) {
        wc->closed = true; /* close_at was set when our Close went out */
        http_conn_close(wc->base.conn, false);
        return 1;
      }
      uint16_t code = ws_close_payload_code(payload, len);
      /* Echo the peer's status (RFC 6455 §5.5.1); none if it sent none. */
      send_close(wc, code == WS_CLOSE_NO_STATUS ? 0 : code, NULL, true);
      return 1;
    }
  }
  return 0;
}

static const ws_parser_cb_t parser_cbs = {on_message, on_control};

/* ---- connection ops (from the HTTP layer) --------------------------------- */

static void on_data(void *owner, char *data, size_t len) {
  ws_conn_t *wc = owner;
  if (wc->closed) return;
  wc->awaiting_pong = false; /* any traffic shows the peer is alive */
  int rc = ws_parser_feed(&wc->parser, (uint8_t *)data, len, &parser_cbs, wc);
  if (rc < 0 && ws_parser_close_code(&wc->parser)) {
    send_close(wc, ws_parser_close_code(&wc->parser), ws_parser_error(&wc->parser), true);
    return;
  }
  flush(wc);
}

static void on_shutdown(void *owner) {
  ws_conn_t *wc = owner;
  send_close(wc, WS_CLOSE_GOING_AWAY, "server shutting down", false);
}

static void on_close(void *owner) {
  ws_conn_t *wc = owner;
  rt__remove(wc->loop, &wc->base);
  ws_sub_t *s = wc->subs;
  while (s) {
    ws_sub_t *next = s->next;
    feed_close(s->feed);
    free(s);
    s = next;
  }
  out_reset(&wc->out);
  ws_parser_free(&wc->parser);
  free(wc);
}

static void on_drain(void *owner) {
  ws_conn_t *wc = owner;
  if (wc->closed || wc->close_sent) return;
  for (ws_sub_t *s = wc->subs; s; s = s->next) {
    if (s->feed->state == FEED_HELD && can_send(s->feed)) feed_resume(s->feed);
  }
}

static const http_upgrade_ops_t upgrade_ops = {on_data, on_shutdown, on_close, on_drain};

static void sweep(rt_conn_t *c, uint64_t now) {
  ws_conn_t *wc = (ws_conn_t *)c;
  if (wc->close_sent || wc->closed) {
    /* A close that has not flushed in time (a peer that stopped reading)
     * is finished abortively, so its queued bytes are freed. */
    if (now >= wc->close_at) http_conn_close(c->conn, true);
    return;
  }
  uint64_t every = (uint64_t)wc->app->cfg->ws_ping_ms;
  if (now - wc->last_ping < every) return;
  if (wc->awaiting_pong) {
    LOG_D("websocket: no pong within %llu ms, closing", (unsigned long long)every);
    wc->closed = true;
    wc->close_at = now;
    http_conn_close(c->conn, true);
    return;
  }
  uint8_t frame[WS_CONTROL_FRAME_MAX];
  out_add_copy(&wc->out, frame, ws_frame_ping(frame, "hb", 2));
  flush(wc);
  wc->awaiting_pong = true;
  wc->last_ping = now;
}

static void describe(rt_conn_t *c, uint64_t head, buf_t *out) {
  ws_conn_t *wc = (ws_conn_t *)c;
  char peer[80];
  http_conn_peer(c->conn, peer, sizeof peer);
  buf_puts(out, "{\"transport\":\"websocket\",\"peer\":");
  buf_put_json_str(out, peer, strlen(peer));
  buf_puts(out, ",\"subscriptions\":");
  buf_put_u64(out, (uint64_t)wc->nsubs);
  /* The slowest subscription speaks for the connection. */
  uint64_t last = head;
  for (ws_sub_t *s = wc->subs; s; s = s->next)
    if (s->feed->last_seq < last) last = s->feed->last_seq;
  buf_puts(out, ",\"lastSeq\":");
  buf_put_u64(out, wc->nsubs ? last : 0);
  buf_puts(out, ",\"lag\":");
  buf_put_u64(out, wc->nsubs ? head - last : 0);
  buf_puts(out, ",\"queued\":");
  buf_put_u64(out, http_conn_queued(c->conn));
  buf_putc(out, '}');
}

/* ---- handshake --------------------------------------------------------------- */

void rt_ws_handle(http_req_t *req) {
  app_t *app = req->app;
  if (!http_header_has_token(req, "upgrade", "websocket") ||
      !http_header_has_token(req, "connection", "upgrade")) {
    http_problem_with(req, 426, "this endpoint speaks WebSocket only: send Upgrade: websocket",
                      "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    return;
  }
  const http_slice_t *ver = http_header(req, "sec-websocket-version");
  if (!ver || ver->n != 2 || memcmp(ver->p, "13", 2) != 0) {
    http_problem_with(req, 426, "unsupported Sec-WebSocket-Version: this server speaks version 13",
                      "Sec-WebSocket-Version: 13\r\n");
    return;
  }
  const http_slice_t *key = http_header(req, "sec-websocket-key");
  char accept[WS_ACCEPT_LEN + 1];
  if (!key || !ws_key_valid(key->p, key->n) || ws_accept_key(key->p, key->n, accept) != 0) {
    http_problem(req, 400, "missing or malformed Sec-WebSocket-Key");
    return;
  }
  bool proto = http_header_has_token(req, "sec-websocket-protocol", "herald.v1");
  char head[256];
  int hn = snprintf(head, sizeof head,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: %s\r\n%s\r\n",
                    accept, proto ? "Sec-WebSocket-Protocol: herald.v1\r\n" : "");
  ws_conn_t *wc = xcalloc(1, sizeof *wc);
  wc->app = app;
  wc->loop = req->loop;
  wc->base.transport = "websocket";
  wc->base.sweep = sweep;
  wc->base.describe = describe;
  wc->last_ping = uv_now(&req->loop->uv);
  ws_parser_init(&wc->parser, (uint32_t)app->cfg->ws_max_message, 0);
  wc->base.conn = http_upgrade(req, head, (size_t)hn, &upgrade_ops, wc);
  rt__add(wc->loop, &wc->base);
  char welcome[160];
  int n = snprintf(welcome, sizeof welcome, "{\"op\":\"welcome\",\"head\":%llu,\"epoch\":\"%s\"}",
                   (unsigned long long)hub_loop_head(app->hub, wc->loop), store_epoch(app->store));
  send_text_copy(wc, welcome, (size_t)n);
  flush(wc);
}
