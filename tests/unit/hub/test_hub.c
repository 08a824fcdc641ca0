/* Unit tests for hub: fan-out to two real loop threads, per-subscriber
 * filtering, seq order, one on_flush per inbox pass with matches (so several
 * batches that reach a busy loop together are flushed once), detaching from
 * inside callbacks, listeners, head tracking, and a clean shutdown (the
 * sanitizer build checks nothing leaks). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "hub/event.h"
#include "hub/filter.h"
#include "hub/hub.h"
#include "testutil.h"

#define NLOOPS 2
#define MAX_SEEN 8192

static hub_t *hub;
static loop_t loops[NLOOPS];

/* ---- running a function on a loop and waiting for it -------------------- */

typedef struct {
  void (*fn)(void *);
  void *arg;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
} call_t;

static void call_task(void *p) {
  call_t *c = p;
  if (c->fn) c->fn(c->arg);
  pthread_mutex_lock(&c->mu);
  c->done = true;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

/* Runs fn(arg) on l and waits. Tasks posted earlier by this thread (such as
 * hub_publish's deliveries) run first: the inbox is FIFO per poster. */
static void run_on(loop_t *l, void (*fn)(void *), void *arg) {
  call_t c = {.fn = fn, .arg = arg, .done = false};
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  loop_post(l, call_task, &c);
  pthread_mutex_lock(&c.mu);
  while (!c.done) pthread_cond_wait(&c.cv, &c.mu);
  pthread_mutex_unlock(&c.mu);
  pthread_mutex_destroy(&c.mu);
  pthread_cond_destroy(&c.cv);
}

/* Returns once l has finished the inbox pass that ran a task posted now,
 * turn-end hooks (the hub's flush) included: the second task is posted
 * after the first ran, so it lands in a later pass. */
static void barrier(loop_t *l) {
  run_on(l, NULL, NULL);
  run_on(l, NULL, NULL);
}

/* ---- a recording subscriber -------------------------------------------- */

typedef struct rec {
  hub_sub_t sub;
  filter_t filter;
  bool use_filter; /* false: sub.filter = NULL (match all) */
  const char *name;
  loop_t *loop;
  uint64_t seen[MAX_SEEN];
  size_t n;
  size_t total;  /* every event, also past MAX_SEEN */
  uint64_t last; /* the last seq seen */
  int flushes;
  int events_since_flush;
  int empty_flushes; /* on_flush with no event since the last one */
  int wrong_thread;
  int out_of_order;
  size_t detach_after; /* detach itself after this many events; 0 = never */
  bool detach_on_flush;
  struct rec *victim; /* detached by this one on its first event */
  bool keep_refs;
  hub_event_t **kept;
} rec_t;

static void on_event(hub_sub_t *sub, hub_event_t *ev) {
  rec_t *r = sub->data;
  if (loop_current() != r->loop) r->wrong_thread++;
  if (r->total && ev->seq <= r->last) r->out_of_order++;
  r->total++;
  r->last = ev->seq;
  if (r->keep_refs) r->kept[r->n] = hub_event_ref(ev);
  if (r->n < MAX_SEEN) r->seen[r->n++] = ev->seq;
  r->events_since_flush++;
  if (r->detach_after && r->n == r->detach_after) hub_detach(hub, sub);
  if (r->victim) {
    hub_detach(hub, &r->victim->sub);
    r->victim = NULL;
  }
}

static void on_flush(hub_sub_t *sub) {
  rec_t *r = sub->data;
  if (loop_current() != r->loop) r->wrong_thread++;
  if (r->events_since_flush == 0) r->empty_flushes++;
  r->events_since_flush = 0;
  r->flushes++;
  if (r->detach_on_flush) hub_detach(hub, sub);
}

static void rec_init(rec_t *r, const char *name, const char *query) {
  memset(r, 0, sizeof *r);
  r->name = name;
  filter_init(&r->filter);
  if (query) {
    char detail[128];
    int rc = filter_parse_query(&r->filter, query, strlen(query), NULL, detail, sizeof detail);
    CHECK_EQ_INT(rc, 0);
    r->use_filter = true;
  }
  r->sub.filter = r->use_filter ? &r->filter : NULL;
  r->sub.on_event = on_event;
  r->sub.on_flush = on_flush;
  r->sub.data = r;
}

static void attach_task(void *p) {
  rec_t *r = p;
  r->loop = loop_current();
  hub_attach(hub, r->loop, &r->sub);
  CHECK(r->sub.attached);
}

static void detach_task(void *p) {
  rec_t *r = p;
  hub_detach(hub, &r->sub);
  hub_detach(hub, &r->sub); /* twice is harmless */
}

static size_t counted;
static void count_task(void *p) {
  (void)p;
  counted = hub_count(hub, loop_current());
}

static void close_task(void *p) {
  (void)p;
  loop_close_handles(loop_current());
}

/* ---- listener ---------------------------------------------------------- */

static pthread_t main_thread;
static int listen_calls;
static size_t listen_events;
static uint64_t listen_last;
static int listen_wrong;

static void listener(void *arg, hub_event_t *const *evs, size_t n) {
  CHECK(arg == &listen_calls);
  if (!pthread_equal(pthread_self(), main_thread)) listen_wrong++;
  listen_calls++;
  for (size_t i = 0; i < n; i++) {
    if (evs[i]->seq <= listen_last) listen_wrong++;
    listen_last = evs[i]->seq;
  }
  listen_events += n;
}

/* ---- the test ---------------------------------------------------------- */

typedef struct {
  const char *coll, *type, *id;
} spec_t;

static hub_event_t *mk(uint64_t seq, const spec_t *s) {
  const char *data = strcmp(s->type, "deleted") == 0 ? NULL : "{\"x\":1}";
  return hub_event_new(seq, s->coll, s->type, s->id, 1, 0, data, data ? strlen(data) : 0);
}

enum {
  R_ALL,
  R_ORDERS,
  R_USERS_CREATED,
  R_ID_O1,
  R_PING,
  R_NONE,
  R_SELF,
  R_VICTIM,
  R_KILLER,
  R_FLUSHDET,
  R_MINIMAL,
  NREC
};

static rec_t recs[NLOOPS][NREC];

static void test_fanout(void) {
  static const spec_t b1[] = {
      {"orders", "created", "o1"}, {"users", "created", "u1"}, {"orders", "updated", "o1"}};
  static const spec_t b2[] = {{"chat", "ping", NULL}, {"orders", "deleted", "o1"}};
  static const spec_t b3[] = {
      {"users", "updated", "u1"}, {"users", "deleted", "u1"}, {"orders", "created", "o2"}};
  const spec_t *batches[] = {b1, b2, b3};
  size_t sizes[] = {3, 2, 3};

  for (int l = 0; l < NLOOPS; l++) {
    rec_t *r = recs[l];
    rec_init(&r[R_ALL], "all", NULL);
    r[R_ALL].keep_refs = true;
    r[R_ALL].kept = calloc(MAX_SEEN, sizeof(hub_event_t *));
    rec_init(&r[R_ORDERS], "orders", "collections=orders");
    rec_init(&r[R_USERS_CREATED], "users-created", "collections=users&types=created");
    rec_init(&r[R_ID_O1], "id-o1", "id=o1");
    rec_init(&r[R_PING], "ping", "types=ping");
    rec_init(&r[R_NONE], "none", "collections=nothing");
    rec_init(&r[R_SELF], "self-detach", NULL);
    r[R_SELF].detach_after = 2;
    rec_init(&r[R_VICTIM], "victim", NULL);
    rec_init(&r[R_KILLER], "killer", NULL);
    r[R_KILLER].victim = &r[R_VICTIM];
    rec_init(&r[R_FLUSHDET], "flush-detach", "collections=orders");
    r[R_FLUSHDET].detach_on_flush = true;
    rec_init(&r[R_MINIMAL], "minimal", "payload=minimal&since=5");
    /* Attach in index order: the hub walks newest first, so the killer is
     * visited just before its victim (detaching the next one in the walk). */
    for (int i = 0; i < NREC; i++) run_on(&loops[l], attach_task, &r[i]);
    run_on(&loops[l], count_task, NULL);
    CHECK_EQ_INT(counted, NREC);
  }

  uint64_t seq = 0;
  hub_event_t *all[16];
  size_t nall = 0;
  for (int b = 0; b < 3; b++) {
    hub_event_t *evs[4];
    for (size_t i = 0; i < sizes[b]; i++) {
      evs[i] = mk(++seq, &batches[b][i]);
      all[nall++] = hub_event_ref(evs[i]);
    }
    hub_publish(hub, evs, sizes[b]);
    for (size_t i = 0; i < sizes[b]; i++) hub_event_unref(evs[i]); /* the hub holds its own */
    /* Let each batch be delivered and flushed in a pass of its own, so the
     * flush counts below are one per batch (test_coalesce covers several
     * batches in one pass). */
    for (int l = 0; l < NLOOPS; l++) barrier(&loops[l]);
  }
  CHECK_EQ_INT(hub_head(hub), 8);
  CHECK_EQ_INT(listen_calls, 3);
  CHECK_EQ_INT(listen_events, 8);
  CHECK_EQ_INT(listen_wrong, 0);
  for (int l = 0; l < NLOOPS; l++) barrier(&loops[l]); /* deliveries and flushes done */

  for (int l = 0; l < NLOOPS; l++) {
    rec_t *r = recs[l];
    /* Expected deliveries for the filtered subscribers come from
     * filter_match over the published events; flushes = batches with one. */
    int filtered[] = {R_ALL, R_ORDERS, R_USERS_CREATED, R_ID_O1, R_PING, R_NONE, R_KILLER, R_MINIMAL};
    for (size_t k = 0; k < sizeof filtered / sizeof filtered[0]; k++) {
      rec_t *x = &r[filtered[k]];
      size_t want = 0;
      int want_flushes = 0, ev = 0;
      bool ok = true;
      for (int b = 0; b < 3; b++) {
        bool any = false;
        for (size_t i = 0; i < sizes[b]; i++, ev++) {
          if (x->use_filter && !filter_match(&x->filter, all[ev])) continue;
          any = true;
          if (want >= x->n || x->seen[want] != all[ev]->seq) ok = false;
          want++;
        }
        want_flushes += any;
      }
      if (!ok || want != x->n || want_flushes != x->flushes)
        fprintf(stderr, "  loop %d sub %s: got %zu events %d flushes, want %zu and %d\n", l, x->name, x->n,
                x->flushes, want, want_flushes);
      CHECK(ok);
      CHECK_EQ_INT(x->n, want);
      CHECK_EQ_INT(x->flushes, want_flushes);
    }
    CHECK_EQ_INT(r[R_ORDERS].n, 4);
    CHECK_EQ_INT(r[R_USERS_CREATED].n, 1);
    CHECK_EQ_INT(r[R_USERS_CREATED].seen[0], 2);
    CHECK_EQ_INT(r[R_ID_O1].n, 3);
    CHECK_EQ_INT(r[R_PING].n, 1);
    CHECK_EQ_INT(r[R_PING].seen[0], 4);
    CHECK_EQ_INT(r[R_NONE].n, 0);
    CHECK_EQ_INT(r[R_NONE].flushes, 0);
    CHECK_EQ_INT(r[R_ALL].n, 8);
    CHECK_EQ_INT(r[R_MINIMAL].n, 8); /* payload and since do not affect matching */
    /* Detached from its own on_event after 2 events: nothing more, and no
     * flush for the batch it left in the middle of. */
    CHECK_EQ_INT(r[R_SELF].n, 2);
    CHECK_EQ_INT(r[R_SELF].flushes, 0);
    CHECK(!r[R_SELF].sub.attached);
    /* Detached by the subscriber walked just before it, on the first event. */
    CHECK_EQ_INT(r[R_VICTIM].n, 0);
    CHECK_EQ_INT(r[R_VICTIM].flushes, 0);
    CHECK(!r[R_VICTIM].sub.attached);
    CHECK_EQ_INT(r[R_KILLER].n, 8);
    /* Detached from its own on_flush after batch 1. */
    CHECK_EQ_INT(r[R_FLUSHDET].n, 2);
    CHECK_EQ_INT(r[R_FLUSHDET].flushes, 1);
    for (int i = 0; i < NREC; i++) {
      CHECK_EQ_INT(r[i].wrong_thread, 0);
      CHECK_EQ_INT(r[i].out_of_order, 0);
      CHECK_EQ_INT(r[i].empty_flushes, 0);
    }
    /* The events a subscriber kept references to are intact. */
    for (size_t i = 0; i < r[R_ALL].n; i++) {
      CHECK(r[R_ALL].kept[i] == all[i]);
      CHECK(strstr(r[R_ALL].kept[i]->json[0]->data, "\"seq\":") != NULL);
    }
    run_on(&loops[l], count_task, NULL);
    CHECK_EQ_INT(counted, NREC - 3);
  }
  /* Events are freed once every holder lets go: main (all[]) plus the two
   * "all" subscribers' kept references; the hub's own are gone. */
  for (size_t i = 0; i < nall; i++) CHECK_EQ_INT(atomic_load(&all[i]->refs), 1 + NLOOPS);
  for (int l = 0; l < NLOOPS; l++) {
    for (size_t i = 0; i < recs[l][R_ALL].n; i++) hub_event_unref(recs[l][R_ALL].kept[i]);
    recs[l][R_ALL].n = 0;
    recs[l][R_ALL].keep_refs = false;
  }
  for (size_t i = 0; i < nall; i++) hub_event_unref(all[i]);
}

/* Many small batches from the publisher while both loops deliver: every
 * subscriber on every loop sees strictly increasing seqs, nothing missing. */
static void test_stress(void) {
  static const spec_t kinds[] = {
      {"orders", "created", "a"}, {"users", "updated", "b"}, {"chat", "msg", NULL}};
  for (int l = 0; l < NLOOPS; l++) {
    recs[l][R_ALL].n = 0;
    recs[l][R_ORDERS].n = 0;
  }
  uint64_t seq = 8;
  size_t orders = 0, total = 0;
  unsigned x = 7;
  for (int b = 0; b < 1500; b++) {
    hub_event_t *evs[4];
    x = x * 1103515245u + 12345u;
    size_t n = 1 + (x >> 16) % 4;
    for (size_t i = 0; i < n; i++) {
      const spec_t *k = &kinds[(x >> (8 + i * 2)) % 3];
      if (k == &kinds[0]) orders++;
      evs[i] = mk(++seq, k);
    }
    total += n;
    hub_publish(hub, evs, n);
    for (size_t i = 0; i < n; i++) hub_event_unref(evs[i]);
  }
  CHECK_EQ_INT(hub_head(hub), seq);
  for (int l = 0; l < NLOOPS; l++) barrier(&loops[l]);
  for (int l = 0; l < NLOOPS; l++) {
    CHECK_EQ_INT(recs[l][R_ALL].n, total);
    CHECK_EQ_INT(recs[l][R_ORDERS].n, orders);
    CHECK_EQ_INT(recs[l][R_ALL].seen[total - 1], seq);
    for (int i = 0; i < NREC; i++) CHECK_EQ_INT(recs[l][i].out_of_order, 0);
  }
}

/* Batches that reach a busy loop together are flushed once: the loop is
 * held by a gate task while three batches are published, then released. */
typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool open, entered;
} gate_t;

static void gate_task(void *p) {
  gate_t *g = p;
  pthread_mutex_lock(&g->mu);
  g->entered = true;
  pthread_cond_broadcast(&g->cv);
  while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

/* Holds loop l inside a task until gate_open(). */
static void gate_hold(gate_t *g, loop_t *l) {
  g->open = g->entered = false;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  loop_post(l, gate_task, g);
  pthread_mutex_lock(&g->mu);
  while (!g->entered) pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

/* Lets the held loop go on. */
static void gate_open(gate_t *g) {
  pthread_mutex_lock(&g->mu);
  g->open = true;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

/* After a barrier on the loop: the gate task is over. */
static void gate_free(gate_t *g) {
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
}

static void test_coalesce(void) {
  rec_t *r = &recs[0][R_ORDERS];
  r->n = 0;
  r->flushes = 0;
  r->events_since_flush = 0;
  gate_t g;
  gate_hold(&g, &loops[0]);
  uint64_t seq = hub_head(hub);
  static const spec_t o = {"orders", "created", "c"};
  for (int b = 0; b < 3; b++) {
    hub_event_t *ev = mk(++seq, &o);
    hub_publish(hub, &ev, 1);
    hub_event_unref(ev);
  }
  gate_open(&g);
  for (int l = 0; l < NLOOPS; l++) barrier(&loops[l]);
  gate_free(&g);
  CHECK_EQ_INT(r->n, 3);
  CHECK_EQ_INT(r->flushes, 1);
  CHECK_EQ_INT(r->empty_flushes, 0);
  CHECK_EQ_INT(r->out_of_order, 0);
}

/* Backpressure: while loop 0 is held, a publisher pushing more than the
 * hub's high mark (65,536 events) must stop and wait, and finish once the
 * loop runs again, with every event delivered in order. */
#define BP_BATCHES 800
#define BP_PER_BATCH 100
static atomic_int bp_done;

static void *bp_publisher(void *arg) {
  uint64_t seq = *(uint64_t *)arg;
  static const spec_t o = {"orders", "created", "bp"};
  for (int b = 0; b < BP_BATCHES; b++) {
    hub_event_t *evs[BP_PER_BATCH];
    for (int i = 0; i < BP_PER_BATCH; i++) evs[i] = mk(++seq, &o);
    hub_publish(hub, evs, BP_PER_BATCH);
    for (int i = 0; i < BP_PER_BATCH; i++) hub_event_unref(evs[i]);
    atomic_fetch_add(&bp_done, 1);
  }
  return NULL;
}

static void test_backpressure(void) {
  rec_t *r = &recs[0][R_ORDERS];
  r->total = 0;
  r->out_of_order = 0;
  gate_t g;
  gate_hold(&g, &loops[0]);
  uint64_t start = hub_head(hub);
  atomic_init(&bp_done, 0);
  pthread_t t;
  pthread_create(&t, NULL, bp_publisher, &start);
  /* Give it time to run into the high mark. */
  for (int i = 0; i < 50 && atomic_load(&bp_done) < BP_BATCHES; i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  int done = atomic_load(&bp_done);
  CHECK(done < BP_BATCHES);                           /* it is waiting... */
  CHECK(done * BP_PER_BATCH >= 65536 - BP_PER_BATCH); /* ...at the high mark */
  gate_open(&g);
  pthread_join(t, NULL);
  CHECK_EQ_INT(atomic_load(&bp_done), BP_BATCHES);
  for (int l = 0; l < NLOOPS; l++) barrier(&loops[l]);
  gate_free(&g);
  size_t want = (size_t)BP_BATCHES * BP_PER_BATCH;
  CHECK_EQ_INT(r->total, want);
  CHECK_EQ_INT(r->last, start + want);
  CHECK_EQ_INT(r->out_of_order, 0);
  CHECK_EQ_INT(hub_head(hub), start + want);
}

/* A hub with no loops (a store test, say) still calls its listeners and
 * must not keep the events alive. */
static int noloop_calls;
static void noloop_listener(void *arg, hub_event_t *const *evs, size_t n) {
  (void)arg;
  (void)evs;
  noloop_calls += (int)n;
}

static void test_no_loops(void) {
  hub_t *h = hub_new(NULL, 0);
  hub_listen(h, noloop_listener, NULL);
  hub_set_head(h, 100);
  CHECK_EQ_INT(hub_head(h), 100);
  hub_event_t *ev = hub_event_new(101, "c", "created", "a", 1, 0, "{}", 2);
  hub_publish(h, &ev, 1);
  hub_publish(h, &ev, 0); /* an empty publish does nothing */
  CHECK_EQ_INT(noloop_calls, 1);
  CHECK_EQ_INT(hub_head(h), 101);
  CHECK_EQ_INT(atomic_load(&ev->refs), 1);
  hub_event_unref(ev);
  hub_free(h);
}

int main(void) {
  main_thread = pthread_self();
  loop_t *lp[NLOOPS];
  for (int l = 0; l < NLOOPS; l++) {
    CHECK_EQ_INT(loop_init(&loops[l], l), 0);
    lp[l] = &loops[l];
  }
  hub = hub_new(lp, NLOOPS);
  hub_listen(hub, listener, &listen_calls);
  CHECK_EQ_INT(hub_head(hub), 0);
  for (int l = 0; l < NLOOPS; l++) CHECK_EQ_INT(loop_start(&loops[l]), 0);

  test_fanout();
  test_stress();
  test_coalesce();
  test_backpressure();

  for (int l = 0; l < NLOOPS; l++) {
    for (int i = 0; i < NREC; i++) run_on(&loops[l], detach_task, &recs[l][i]);
    run_on(&loops[l], count_task, NULL);
    CHECK_EQ_INT(counted, 0);
    run_on(&loops[l], close_task, NULL);
  }
  for (int l = 0; l < NLOOPS; l++) {
    CHECK_EQ_INT(loop_join(&loops[l]), 0);
    loop_free(&loops[l]);
  }
  hub_free(hub);
  for (int l = 0; l < NLOOPS; l++) {
    for (int i = 0; i < NREC; i++) filter_free(&recs[l][i].filter);
    free(recs[l][R_ALL].kept);
  }
  test_no_loops();
  return TEST_SUMMARY();
}
