/* registry — each loop's list of open real-time connections and its one
 * sweep timer (pings, heartbeats, stuck closes); see rt.h. */
#include <stdatomic.h>
#include <stdlib.h>

#include "app.h"
#include "core/buf.h"
#include "http/http.h"
#include "rt/rt_int.h"

typedef struct rt_loop {
  rt_conn_t *conns;
  size_t count;
  uv_timer_t timer;
  bool timer_on;
  rt_conn_t *cursor; /* next conn in the sweep, kept valid across removal */
} rt_loop_t;

static rt_loop_t *rloop(loop_t *loop) {
  if (!loop->user[LOOP_SLOT_RT]) loop->user[LOOP_SLOT_RT] = xcalloc(1, sizeof(rt_loop_t));
  return loop->user[LOOP_SLOT_RT];
}

static void on_sweep(uv_timer_t *t) {
  rt_loop_t *rl = t->data;
  uint64_t now = uv_now(t->loop);
  for (rt_conn_t *c = rl->conns; c; c = rl->cursor) {
    rl->cursor = c->next;
    c->sweep(c, now);
  }
  rl->cursor = NULL;
}

void rt__add(loop_t *loop, rt_conn_t *c) {
  rt_loop_t *rl = rloop(loop);
  if (!rl->timer_on) {
    uv_timer_init(&loop->uv, &rl->timer);
    rl->timer.data = rl;
    uv_timer_start(&rl->timer, on_sweep, RT_SWEEP_MS, RT_SWEEP_MS);
    uv_unref((uv_handle_t *)&rl->timer);
    rl->timer_on = true;
  }
  c->prev = NULL;
  c->next = rl->conns;
  if (rl->conns) rl->conns->prev = c;
  rl->conns = c;
  rl->count++;
}

void rt__remove(loop_t *loop, rt_conn_t *c) {
  rt_loop_t *rl = loop->user[LOOP_SLOT_RT];
  if (!rl) return; /* the registry is already gone (end of shutdown) */
  if (rl->cursor == c) rl->cursor = c->next;
  if (c->prev)
    c->prev->next = c->next;
  else if (rl->conns == c)
    rl->conns = c->next;
  else
    return; /* not in the list */
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  rl->count--;
}

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

void rt_loop_close(loop_t *loop) {
  rt_loop_t *rl = loop->user[LOOP_SLOT_RT];
  if (!rl) return;
  loop->user[LOOP_SLOT_RT] = NULL;
  if (rl->timer_on)
    uv_close((uv_handle_t *)&rl->timer, on_timer_closed);
  else
    free(rl);
}

void rt_connections_json(loop_t *loop, uint64_t head, buf_t *out, int *count) {
  rt_loop_t *rl = rloop(loop);
  for (rt_conn_t *c = rl->conns; c; c = c->next) {
    if (*count) buf_putc(out, ',');
    c->describe(c, head, out);
    (*count)++;
  }
}

/* GET /api/_connections: every loop describes its own connections on its
 * own thread; the last one to finish posts the answer back to the
 * request's loop. */
typedef struct conns_req {
  http_req_t *req;
  loop_t *origin;
  app_t *app;
  atomic_int pending;
  uint64_t head;
  buf_t *parts;
  int *counts;
} conns_req_t;

static void conns_answer(void *arg) {
  conns_req_t *cr = arg;
  buf_t b = BUF_INIT;
  int total = 0;
  buf_puts(&b, "{\"connections\":[");
  for (int i = 0; i < cr->app->nloops; i++) {
    if (cr->counts[i] == 0) continue;
    if (total) buf_putc(&b, ',');
    buf_append(&b, cr->parts[i].data, cr->parts[i].len);
    total += cr->counts[i];
    buf_free(&cr->parts[i]);
  }
  buf_puts(&b, "],\"count\":");
  buf_put_u64(&b, (uint64_t)total);
  buf_puts(&b, ",\"head\":");
  buf_put_u64(&b, cr->head);
  buf_putc(&b, '}');
  size_t len;
  char *body = buf_detach(&b, &len);
  http_respond_owned(cr->req, 200, "application/json", "Cache-Control: no-store\r\n", body, len);
  free(cr->parts);
  free(cr->counts);
  free(cr);
}

static void conns_collect(void *arg) {
  conns_req_t *cr = arg;
  loop_t *loop = loop_current();
  rt_connections_json(loop, cr->head, &cr->parts[loop->index], &cr->counts[loop->index]);
  if (atomic_fetch_sub(&cr->pending, 1) == 1) loop_post(cr->origin, conns_answer, cr);
}

void rt_connections_handle(http_req_t *req) {
  app_t *app = req->app;
  conns_req_t *cr = xcalloc(1, sizeof *cr);
  cr->req = req;
  cr->origin = req->loop;
  cr->app = app;
  cr->head = hub_head(app->hub);
  cr->parts = xcalloc((size_t)app->nloops, sizeof *cr->parts);
  cr->counts = xcalloc((size_t)app->nloops, sizeof *cr->counts);
  atomic_init(&cr->pending, app->nloops);
  for (int i = 0; i < app->nloops; i++) loop_post(app->loops[i], conns_collect, cr);
}
