/* poll — GET /api/_changes and /api/{c}/_changes: polling and long-polling.
 *
 * A poll reads the log from the store (events after since, filtered) and
 * answers at once when there is something to say or no wait was asked for.
 * A long-poll (wait=seconds) must be woken by the commit, not by a timer
 * re-reading the database, and must not miss an event that commits while
 * its first read is in flight. So, as DESIGN's "replay, then live" asks, the
 * waiter attaches to the hub *before* reading:
 *
 *   attach ─▶ READING ──read: events or reset──────────────▶ answer
 *                │    ──read: empty, nothing arrived────▶ WAITING
 *                │    ──read: empty, an event arrived ──▶ READING (read again)
 *             WAITING ──matching event(s), end of batch─▶ answer them
 *                     ──timer──────────────────────────▶ answer empty
 *                     ──shutdown───────────────────────▶ answer empty
 *                     ──client gone────────────────────▶ release
 *
 * An empty answer's next is the loop's delivered head: every event up to it
 * has passed this waiter's filter without matching, so skipping them is
 * safe. */
#include "rt/poll.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "core/buf.h"
#include "core/log.h"
#include "hub/filter.h"
#include "rt/rt_int.h"

typedef enum { W_READING, W_WAITING, W_DONE } wstate_t;

typedef struct waiter {
  rt_conn_t base; /* listed in GET /api/_connections while it waits */
  hub_sub_t sub;
  uv_timer_t timer;
  http_req_t *req;
  loop_t *loop;
  app_t *app;
  filter_t filter;
  uint64_t since;
  int limit;
  uint64_t wait_ms;
  wstate_t state;
  bool woken; /* a matching event arrived during a read */
  bool timer_open;
  bool read_pending; /* a store read is in flight (it holds the waiter) */
  bool closed;       /* the connection is gone: answer nothing */
  bool shutting;     /* the server is stopping: answer, don't wait */
  hub_event_t **evs; /* live events collected while WAITING */
  size_t nevs;
} waiter_t;

static void waiter_read(waiter_t *w);

static void on_timer_closed(uv_handle_t *h) {
  waiter_t *w = h->data;
  filter_free(&w->filter);
  free(w);
}

/* Frees the waiter once nothing (read, timer) refers to it any more. */
static void waiter_maybe_free(waiter_t *w) {
  if (w->state != W_DONE || w->read_pending) return;
  for (size_t i = 0; i < w->nevs; i++) hub_event_unref(w->evs[i]);
  free(w->evs);
  w->evs = NULL;
  w->nevs = 0;
  if (w->timer_open) {
    w->timer_open = false;
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
  } else {
    filter_free(&w->filter);
    free(w);
  }
}

static void waiter_finish(waiter_t *w) {
  w->state = W_DONE;
  if (w->base.conn) rt__remove(w->loop, &w->base);
  w->base.conn = NULL;
  hub_detach(w->app->hub, &w->sub);
  if (w->timer_open) uv_timer_stop(&w->timer);
  waiter_maybe_free(w);
}

static void answer(waiter_t *w, hub_event_t *const *evs, size_t n, uint64_t next, uint64_t head) {
  buf_t b = BUF_INIT;
  size_t est = 64;
  for (size_t i = 0; i < n; i++) est += evs[i]->json[w->filter.payload]->len + 1;
  buf_reserve(&b, est);
  buf_puts(&b, "{\"events\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) buf_putc(&b, ',');
    bytes_t *j = evs[i]->json[w->filter.payload];
    buf_append(&b, j->data, j->len);
  }
  buf_puts(&b, "],\"next\":");
  buf_put_u64(&b, next);
  buf_puts(&b, ",\"head\":");
  buf_put_u64(&b, head > next ? head : next);
  buf_puts(&b, ",\"reset\":false}");
  size_t len;
  char *body = buf_detach(&b, &len);
  if (!w->closed)
    http_respond_owned(w->req, 200, "application/json", "Cache-Control: no-store\r\n", body, len);
  else
    free(body);
  waiter_finish(w);
}

static void answer_reset(waiter_t *w, uint64_t oldest, uint64_t head) {
  char body[160];
  int n = snprintf(body, sizeof body,
                   "{\"events\":[],\"next\":%llu,\"head\":%llu,\"reset\":true,\"oldest\":%llu}",
                   (unsigned long long)head, (unsigned long long)head, (unsigned long long)oldest);
  if (!w->closed)
    http_respond(w->req, 200, "application/json", "Cache-Control: no-store\r\n", body, (size_t)n);
  waiter_finish(w);
}

static void answer_empty(waiter_t *w) {
  uint64_t head = hub_loop_head(w->app->hub, w->req->loop);
  answer(w, NULL, 0, head > w->since ? head : w->since, head);
}

static void on_timeout(uv_timer_t *t) {
  waiter_t *w = t->data;
  if (w->state == W_WAITING) answer_empty(w);
}

static void on_hub_event(hub_sub_t *sub, hub_event_t *ev) {
  waiter_t *w = sub->data;
  if (ev->seq <= w->since) return;
  if (w->state == W_READING) {
    w->woken = true;
    return;
  }
  if (w->state != W_WAITING || (int)w->nevs >= w->limit) return;
  w->evs = xrealloc(w->evs, (w->nevs + 1) * sizeof *w->evs);
  w->evs[w->nevs++] = hub_event_ref(ev);
}

static void on_hub_flush(hub_sub_t *sub) {
  waiter_t *w = sub->data;
  if (w->state != W_WAITING || w->nevs == 0) return;
  uint64_t loop_head = hub_loop_head(w->app->hub, w->req->loop);
  /* A full page ends at its last event; otherwise the whole batch was seen. */
  uint64_t next = (int)w->nevs >= w->limit ? w->evs[w->nevs - 1]->seq : loop_head;
  answer(w, w->evs, w->nevs, next, loop_head);
}

static void on_read(void *ud, store_changes_result_t *res) {
  waiter_t *w = ud;
  w->read_pending = false;
  if (w->state == W_DONE) {
    waiter_maybe_free(w);
    return;
  }
  if (res->status != 200) {
    if (!w->closed) http_problem(w->req, res->status, res->detail);
    waiter_finish(w);
    return;
  }
  if (res->reset) {
    answer_reset(w, res->oldest, res->head);
    return;
  }
  if (res->nevents > 0 || w->wait_ms == 0 || w->shutting) {
    answer(w, res->events, res->nevents, res->next, res->head);
    return;
  }
  if (res->next > w->since) w->since = res->next;
  if (w->woken) {
    w->woken = false;
    waiter_read(w);
    return;
  }
  w->state = W_WAITING;
  uv_timer_start(&w->timer, on_timeout, w->wait_ms, 0);
}

static void waiter_read(waiter_t *w) {
  w->state = W_READING;
  w->read_pending = true;
  store_changes(w->app->store, w->req->loop, &w->filter, w->since, w->limit, on_read, w);
}

static void sweep(rt_conn_t *c, uint64_t now) { /* the waiter's own timer ends it */
}

static void describe(rt_conn_t *c, uint64_t head, buf_t *out) {
  waiter_t *w = (waiter_t *)c;
  char peer[80];
  http_conn_peer(c->conn, peer, sizeof peer);
  buf_puts(out, "{\"transport\":\"poll\",\"peer\":");
  buf_put_json_str(out, peer, strlen(peer));
  buf_puts(out, ",\"subscriptions\":1,\"lastSeq\":");
  buf_put_u64(out, w->since);
  buf_puts(out, ",\"lag\":");
  buf_put_u64(out, head > w->since ? head - w->since : 0);
  buf_puts(out, ",\"queued\":0}");
}

static void on_abort(http_req_t *req, http_abort_t why) {
  waiter_t *w = req->data;
  if (why == HTTP_ABORT_SHUTDOWN) {
    w->shutting = true;
    if (w->state == W_WAITING)
      answer_empty(w);
    else
      req->on_abort = on_abort; /* a read is in flight: it will answer */
    return;
  }
  w->closed = true;
  http_req_release(req);
  if (w->state != W_DONE) waiter_finish(w);
}

void rt_poll_handle(http_req_t *req) {
  app_t *app = req->app;
  char pc[72];
  const char *path_coll = NULL;
  if (req->params[0].p) {
    /* filter_parse_query checks the name */
    size_t n = req->params[0].n < sizeof pc - 1 ? req->params[0].n : sizeof pc - 1;
    memcpy(pc, req->params[0].p, n);
    pc[n] = '\0';
    path_coll = pc;
  }
  waiter_t *w = xcalloc(1, sizeof *w);
  filter_init(&w->filter);
  char detail[256];
  if (filter_parse_query(&w->filter, req->query.p, req->query.n, path_coll, detail, sizeof detail) != 0) {
    http_problem(req, 400, detail);
    filter_free(&w->filter);
    free(w);
    return;
  }
  long limit = 100;
  if (http_query_int(req, "limit", 1, 1000, &limit) < 0) {
    http_problem(req, 400, "invalid 'limit': must be an integer from 1 to 1000");
    goto fail;
  }
  w->limit = (int)limit;
  char val[64];
  int rc = http_query_get(req, "wait", val, sizeof val);
  if (rc != 0) {
    char *end;
    errno = 0;
    double v = rc > 0 ? strtod(val, &end) : -1;
    if (rc < 0 || errno || end == val || *end || !isfinite(v) || v < 0 || v > 60) {
      http_problem(req, 400, "invalid 'wait': seconds from 0 to 60");
      goto fail;
    }
    w->wait_ms = (uint64_t)(v * 1000.0 + 0.5);
  }
  w->req = req;
  w->loop = req->loop;
  w->app = app;
  /* Without since, a poll starts from now (live only). */
  w->since = w->filter.has_since ? w->filter.since : store_head(app->store);
  w->sub.filter = &w->filter;
  w->sub.on_event = on_hub_event;
  w->sub.on_flush = on_hub_flush;
  w->sub.data = w;
  if (w->wait_ms > 0) {
    uv_timer_init(&req->loop->uv, &w->timer);
    w->timer.data = w;
    w->timer_open = true;
    hub_attach(app->hub, req->loop, &w->sub);
    req->data = w;
    req->on_abort = on_abort;
    w->base.transport = "poll";
    w->base.conn = req->conn;
    w->base.sweep = sweep;
    w->base.describe = describe;
    rt__add(req->loop, &w->base);
  }
  waiter_read(w);
  return;
fail:
  filter_free(&w->filter);
  free(w);
}
