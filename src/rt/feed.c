/* feed — replay then live, for one subscription; see feed.h. */
#include "rt/feed.h"

#include <assert.h>
#include <stdlib.h>

#include "core/buf.h"
#include "store/store.h"

static void feed_read(feed_t *f);

static void drop_buffer(feed_t *f) {
  for (uint32_t i = 0; i < f->nbuf; i++) hub_event_unref(f->buf[i]);
  f->nbuf = 0;
}

static void feed_free(feed_t *f) {
  drop_buffer(f);
  free(f->buf);
  filter_free(&f->filter);
  free(f);
}

static void on_hub_event(hub_sub_t *sub, hub_event_t *ev) {
  feed_t *f = sub->data;
  if (ev->seq <= f->last_seq) return;
  if (f->state == FEED_LIVE) {
    f->last_seq = ev->seq;
    f->ops->on_event(f, ev);
    return;
  }
  if (f->state != FEED_REPLAYING && f->state != FEED_HELD) return;
  if (f->overflow) return;
  if (f->nbuf >= FEED_MAX_BUFFERED) {
    drop_buffer(f);
    f->overflow = true; /* re-read from the store after this replay */
    return;
  }
  if (f->nbuf == f->capbuf) {
    f->capbuf = f->capbuf ? f->capbuf * 2 : 16;
    f->buf = xrealloc(f->buf, f->capbuf * sizeof *f->buf);
  }
  f->buf[f->nbuf++] = hub_event_ref(ev);
}

static void on_hub_flush(hub_sub_t *sub) {
  feed_t *f = sub->data;
  if (f->state == FEED_LIVE) f->ops->on_flush(f);
}

feed_t *feed_new(app_t *app, loop_t *loop, const feed_ops_t *ops, void *owner) {
  feed_t *f = xcalloc(1, sizeof *f);
  filter_init(&f->filter);
  f->app = app;
  f->loop = loop;
  f->ops = ops;
  f->owner = owner;
  f->sub.filter = &f->filter;
  f->sub.on_event = on_hub_event;
  f->sub.on_flush = on_hub_flush;
  f->sub.data = f;
  return f;
}

static void go_live(feed_t *f) {
  f->state = FEED_LIVE;
  for (uint32_t i = 0; i < f->nbuf; i++) {
    hub_event_t *ev = f->buf[i];
    if (ev->seq > f->last_seq) {
      f->last_seq = ev->seq;
      f->ops->on_event(f, ev);
    }
  }
  drop_buffer(f);
  if (f->capbuf > 64) {
    free(f->buf);
    f->buf = NULL;
    f->capbuf = 0;
  }
  f->ops->on_flush(f);
}

static void on_read(void *ud, store_changes_result_t *res) {
  feed_t *f = ud;
  f->read_pending = false;
  if (f->state == FEED_CLOSED) {
    feed_free(f);
    return;
  }
  if (res->status != 200) {
    hub_detach(f->app->hub, &f->sub);
    f->state = FEED_IDLE;
    f->ops->on_error(f, res->status, res->detail);
    return;
  }
  if (res->reset) {
    /* Too far behind: say so, then continue live from the head. */
    f->ops->on_reset(f, res->oldest, res->head);
    f->last_seq = res->head; /* also when since was ahead of the head */
    go_live(f);
    return;
  }
  /* Send the page, but stop as soon as the connection has enough queued:
   * a page can be larger than the connection's outbound cap, and a replay
   * must never push a client over it (it would be cut off again on every
   * retry). The rest is read again from last_seq once the socket drains. */
  bool partial = false;
  for (size_t i = 0; i < res->nevents; i++) {
    hub_event_t *ev = res->events[i];
    if (ev->seq <= f->last_seq) continue;
    f->last_seq = ev->seq;
    f->ops->on_event(f, ev);
    if (f->ops->can_send && !f->ops->can_send(f)) {
      partial = i + 1 < res->nevents;
      break;
    }
  }
  bool full = res->nevents >= FEED_PAGE;
  if (!full && !partial && !f->overflow) {
    go_live(f);
    return;
  }
  /* More to read, or the buffer overflowed during this replay: read again
   * from the last seq sent (that read covers what the buffer dropped). */
  f->overflow = false;
  f->ops->on_flush(f);
  if (f->ops->can_send && !f->ops->can_send(f)) {
    f->state = FEED_HELD; /* feed_resume() continues on drain */
    return;
  }
  feed_read(f);
}

static void feed_read(feed_t *f) {
  f->state = FEED_REPLAYING;
  f->read_pending = true;
  store_changes(f->app->store, f->loop, &f->filter, f->last_seq, FEED_PAGE, on_read, f);
}

void feed_start(feed_t *f) {
  assert(f->state == FEED_IDLE);
  hub_attach(f->app->hub, f->loop, &f->sub);
  if (f->filter.has_since) {
    f->last_seq = f->filter.since;
    f->state = FEED_REPLAYING;
    /* since=0 means "from the oldest retained": the store never resets it. */
    f->read_pending = true;
    store_changes(f->app->store, f->loop, &f->filter, f->filter.since, FEED_PAGE, on_read, f);
  } else {
    f->last_seq = hub_loop_head(f->app->hub, f->loop);
    f->state = FEED_LIVE;
  }
}

void feed_resume(feed_t *f) {
  if (f->state == FEED_HELD) feed_read(f);
}

void feed_close(feed_t *f) {
  if (!f) return;
  hub_detach(f->app->hub, &f->sub);
  f->state = FEED_CLOSED;
  if (!f->read_pending) feed_free(f);
}
