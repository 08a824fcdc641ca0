/* hub — fan-out of committed events to loops and listeners; see hub.h.
 *
 *   writer thread                      loop k (each of N)
 *   hub_publish(evs) ──loop_post──▶    deliver(batch): for each sub on k,
 *        │                              for each ev: filter → on_event
 *        └─▶ listeners (webhooks)       then on_flush for subs that got any
 *
 * One batch object per publish is shared by all loops; its refcount is the
 * number of loops that have yet to deliver it. Subscribers live in an
 * intrusive doubly linked list per loop, touched only by that loop's thread. */
#include "hub/hub.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

typedef struct hub_loop {
  hub_sub_t *subs;
  size_t count;
  uint64_t gen;
  hub_sub_t *cursor;      /* next sub in the walk, kept valid across detach */
  uint64_t delivered;     /* highest seq delivered on this loop */
  bool flush_pending;     /* subscribers got events since the last flush */
  _Atomic size_t backlog; /* events posted to this loop and not yet delivered */
} hub_loop_t;

/* Backpressure: a loop that falls this many events behind makes
 * hub_publish (the store's writer thread) wait until it is back under the
 * low mark, so fan-out that cannot keep up slows the writers down instead
 * of growing an inbox without bound. */
#define HUB_BACKLOG_HIGH 65536
#define HUB_BACKLOG_LOW 16384

typedef struct listener {
  hub_listen_cb cb;
  void *arg;
} listener_t;

struct hub {
  loop_t **loops;
  int nloops;
  hub_loop_t *per_loop;
  _Atomic uint64_t head;
  uint64_t start_head;
  listener_t listeners[8];
  int nlisteners;
  pthread_mutex_t mu; /* guards cv; the publisher waits here */
  pthread_cond_t cv;
  atomic_bool waiting;
};

static void turn_end(loop_t *loop, void *arg);

typedef struct batch {
  hub_t *hub;
  atomic_int pending;
  size_t n;
  hub_event_t *evs[];
} batch_t;

hub_t *hub_new(loop_t **loops, int nloops) {
  hub_t *h = xcalloc(1, sizeof *h);
  h->loops = loops;
  h->nloops = nloops;
  h->per_loop = xcalloc((size_t)nloops, sizeof *h->per_loop);
  atomic_init(&h->head, 0);
  atomic_init(&h->waiting, false);
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  for (int i = 0; i < nloops; i++) {
    atomic_init(&h->per_loop[i].backlog, 0);
    loop_on_turn_end(loops[i], turn_end, h);
  }
  return h;
}

void hub_free(hub_t *h) {
  if (!h) return;
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  free(h->per_loop);
  free(h);
}

uint64_t hub_head(const hub_t *h) { return atomic_load_explicit(&h->head, memory_order_acquire); }

void hub_set_head(hub_t *h, uint64_t head) {
  atomic_store(&h->head, head);
  h->start_head = head;
}

static void batch_release(batch_t *b) {
  if (atomic_fetch_sub_explicit(&b->pending, 1, memory_order_acq_rel) != 1) return;
  for (size_t i = 0; i < b->n; i++) hub_event_unref(b->evs[i]);
  free(b);
}

static void deliver(void *arg) {
  batch_t *b = arg;
  loop_t *loop = loop_current();
  assert(loop);
  hub_loop_t *hl = &b->hub->per_loop[loop->index];
  /* Every batch delivered in one inbox pass shares a generation, so a
   * subscriber is flushed once for all of them (turn_end below). */
  if (!hl->flush_pending) hl->gen++;
  hl->flush_pending = true;
  uint64_t gen = hl->gen;
  /* First pass: events in seq order to every matching subscriber. The
   * cursor lets a callback detach itself (or the next subscriber). */
  for (size_t i = 0; i < b->n; i++) {
    hub_event_t *ev = b->evs[i];
    for (hub_sub_t *s = hl->subs; s; s = hl->cursor) {
      hl->cursor = s->next;
      if (s->filter && !filter_match(s->filter, ev)) continue;
      s->flush_gen = gen;
      s->on_event(s, ev);
    }
  }
  hl->cursor = NULL;
  if (b->n && b->evs[b->n - 1]->seq > hl->delivered) hl->delivered = b->evs[b->n - 1]->seq;
  size_t left = atomic_fetch_sub(&hl->backlog, b->n) - b->n;
  hub_t *h = b->hub;
  batch_release(b);
  if (left <= HUB_BACKLOG_LOW && atomic_load(&h->waiting)) {
    pthread_mutex_lock(&h->mu);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
  }
}

static bool any_over(hub_t *h, size_t mark) {
  for (int i = 0; i < h->nloops; i++)
    if (atomic_load(&h->per_loop[i].backlog) > mark) return true;
  return false;
}

/* Waits while a loop is over the high mark, until all are under the low
 * one. Timed waits make a missed wake-up cost 50 ms, never a hang. */
static void wait_for_loops(hub_t *h) {
  if (!any_over(h, HUB_BACKLOG_HIGH)) return;
  pthread_mutex_lock(&h->mu);
  atomic_store(&h->waiting, true);
  while (any_over(h, HUB_BACKLOG_LOW)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&h->cv, &h->mu, &ts);
  }
  atomic_store(&h->waiting, false);
  pthread_mutex_unlock(&h->mu);
}

/* After an inbox pass: flush each subscriber that received something, once
 * for all the batches of the pass (the coalescing point). */
static void turn_end(loop_t *loop, void *arg) {
  hub_t *h = arg;
  hub_loop_t *hl = &h->per_loop[loop->index];
  if (!hl->flush_pending) return;
  hl->flush_pending = false;
  uint64_t gen = hl->gen;
  for (hub_sub_t *s = hl->subs; s; s = hl->cursor) {
    hl->cursor = s->next;
    if (s->flush_gen == gen && s->on_flush) s->on_flush(s);
  }
  hl->cursor = NULL;
}

void hub_publish(hub_t *h, hub_event_t *const *evs, size_t n) {
  if (n == 0) return;
  for (size_t i = 0; i < n; i++) {
    uint64_t cur = atomic_load(&h->head);
    if (evs[i]->seq > cur) atomic_store_explicit(&h->head, evs[i]->seq, memory_order_release);
  }
  for (int i = 0; i < h->nlisteners; i++) h->listeners[i].cb(h->listeners[i].arg, evs, n);
  /* With no loops no delivery would ever release the batch. */
  if (h->nloops == 0) return;
  wait_for_loops(h);
  batch_t *b = xmalloc(sizeof *b + n * sizeof(hub_event_t *));
  b->hub = h;
  b->n = n;
  atomic_init(&b->pending, h->nloops);
  for (size_t i = 0; i < n; i++) b->evs[i] = hub_event_ref(evs[i]);
  for (int i = 0; i < h->nloops; i++) {
    atomic_fetch_add(&h->per_loop[i].backlog, n);
    loop_post(h->loops[i], deliver, b);
  }
}

void hub_attach(hub_t *h, loop_t *loop, hub_sub_t *sub) {
  assert(!sub->attached);
  hub_loop_t *hl = &h->per_loop[loop->index];
  sub->loop = loop;
  sub->prev = NULL;
  sub->next = hl->subs;
  if (hl->subs) hl->subs->prev = sub;
  hl->subs = sub;
  sub->flush_gen = 0;
  sub->attached = true;
  hl->count++;
}

void hub_detach(hub_t *h, hub_sub_t *sub) {
  if (!sub->attached) return;
  hub_loop_t *hl = &h->per_loop[sub->loop->index];
  if (hl->cursor == sub) hl->cursor = sub->next;
  if (sub->prev)
    sub->prev->next = sub->next;
  else
    hl->subs = sub->next;
  if (sub->next) sub->next->prev = sub->prev;
  sub->prev = sub->next = NULL;
  sub->attached = false;
  hl->count--;
}

uint64_t hub_loop_head(hub_t *h, loop_t *loop) {
  hub_loop_t *hl = &h->per_loop[loop->index];
  /* Before the first delivery on this loop, the head at startup holds. */
  return hl->delivered ? hl->delivered : h->start_head;
}

size_t hub_count(hub_t *h, loop_t *loop) { return h->per_loop[loop->index].count; }

void hub_listen(hub_t *h, hub_listen_cb cb, void *arg) {
  assert(h->nlisteners < (int)(sizeof h->listeners / sizeof h->listeners[0]));
  h->listeners[h->nlisteners].cb = cb;
  h->listeners[h->nlisteners].arg = arg;
  h->nlisteners++;
}
