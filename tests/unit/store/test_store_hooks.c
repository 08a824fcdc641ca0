/* Unit test for the store's webhook registry and delivery log
 * (sqlite_hooks.c): create takes the head as the cursor, update merges the
 * filter and toggles enabled, records move the cursor (never back), log
 * attempts and are trimmed, delete takes the log along, and everything
 * survives reopening. Callbacks run on the store's threads (loop NULL). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "hub/hub.h"
#include "store/store.h"
#include "testutil.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

static void signal_done(int *done) {
  pthread_mutex_lock(&g_mu);
  *done = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

static void wait_done(int *done) {
  pthread_mutex_lock(&g_mu);
  while (!*done) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
}

typedef struct hr {
  int done;
  int status;
  store_hook_t hook; /* strings taken from the result */
} hr_t;

static void hr_clear(hr_t *r) {
  free(r->hook.url);
  free(r->hook.secret);
  free(r->hook.filter);
  free(r->hook.disabled_reason);
  memset(r, 0, sizeof *r);
}

static void on_hook(void *ud, store_hook_result_t *res) {
  hr_t *r = ud;
  r->status = res->status;
  r->hook = res->hook;
  res->hook.url = res->hook.secret = res->hook.filter = res->hook.disabled_reason = NULL;
  signal_done(&r->done);
}

static int create(store_t *s, hr_t *r, const char *id, const char *filter) {
  memset(r, 0, sizeof *r);
  store_hook_t h = {.url = "http://127.0.0.1:9/x", .secret = "whsec_YWJj", .filter = (char *)filter};
  snprintf(h.id, sizeof h.id, "%s", id);
  store_hook_create(s, NULL, &h, on_hook, r);
  wait_done(&r->done);
  return r->status;
}

static int get(store_t *s, hr_t *r, const char *id) {
  memset(r, 0, sizeof *r);
  store_hook_get(s, NULL, id, on_hook, r);
  wait_done(&r->done);
  return r->status;
}

static int update(store_t *s, hr_t *r, store_hook_update_t u) {
  memset(r, 0, sizeof *r);
  store_hook_update(s, NULL, &u, on_hook, r);
  wait_done(&r->done);
  return r->status;
}

static int del(store_t *s, const char *id) {
  hr_t r = {0};
  store_hook_delete(s, NULL, id, on_hook, &r);
  wait_done(&r.done);
  return r.status;
}

typedef struct lr {
  int done;
  int status;
  size_t n;
  char ids[8][130];
} lr_t;

static void on_list(void *ud, store_hook_list_result_t *res) {
  lr_t *l = ud;
  l->status = res->status;
  l->n = res->nhooks;
  for (size_t i = 0; i < res->nhooks && i < 8; i++)
    snprintf(l->ids[i], sizeof l->ids[i], "%s", res->hooks[i].id);
  signal_done(&l->done);
}

typedef struct dr {
  int done;
  int status;
  size_t n;
  store_hook_delivery_t first, last;
  char first_error[64];
} dr_t;

static void on_deliveries(void *ud, store_hook_deliveries_result_t *res) {
  dr_t *d = ud;
  d->status = res->status;
  d->n = res->nitems;
  if (res->nitems) {
    d->first = res->items[0];
    d->last = res->items[res->nitems - 1];
    snprintf(d->first_error, sizeof d->first_error, "%s", res->items[0].error ? res->items[0].error : "");
    d->first.error = d->last.error = NULL;
  }
  signal_done(&d->done);
}

static int deliveries(store_t *s, dr_t *d, const char *id, int limit) {
  memset(d, 0, sizeof *d);
  store_hook_deliveries(s, NULL, id, limit, on_deliveries, d);
  wait_done(&d->done);
  return d->status;
}

/* Records go without an answer: a write after them is committed after
 * them, so waiting for one (a no-op update) waits for the records. */
static void barrier(store_t *s, const char *id) {
  hr_t r;
  update(s, &r, (store_hook_update_t){.id = id, .enabled = -1});
  hr_clear(&r);
}

static int ev_done;
static void on_event(void *ud, store_write_result_t *res) {
  (void)ud;
  (void)res;
  signal_done(&ev_done);
}

static void write_event(store_t *s) {
  ev_done = 0;
  store_write_t w = {.kind = STORE_EVENT,
                     .collection = "c",
                     .id = "",
                     .type = "ping",
                     .body = "1",
                     .body_len = 1,
                     .if_match = -1};
  store_write(s, NULL, &w, on_event, NULL);
  wait_done(&ev_done);
}

static store_t *open_store(const char *path, hub_t *hub) {
  store_config_t cfg = {.path = path, .readers = 2};
  store_t *s = NULL;
  char err[256] = "";
  int rc = store_open(&cfg, hub, &s, err, sizeof err);
  if (rc) fprintf(stderr, "store_open: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  return s;
}

int main(void) {
  log_set_level(LOG_WARN);
  char dir[] = "/tmp/herald-store-hooks-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char path[256];
  snprintf(path, sizeof path, "%s/test.db", dir);
  hub_t *hub = hub_new(NULL, 0);
  store_t *s = open_store(path, hub);
  if (!s) return TEST_SUMMARY();

  /* create: the cursor is the head at creation; ids are unique */
  for (int i = 0; i < 3; i++) write_event(s);
  hr_t r;
  CHECK_EQ_INT(
      create(s, &r, "h1", "{\"collections\":[\"a\"],\"types\":null,\"id\":null,\"payload\":\"full\"}"), 201);
  CHECK_STR(r.hook.id, "h1");
  CHECK_EQ_INT(r.hook.cursor, 3);
  CHECK(r.hook.enabled);
  CHECK(r.hook.disabled_reason == NULL);
  CHECK_STR(r.hook.secret, "whsec_YWJj");
  CHECK(r.hook.created_ms > 0 && r.hook.created_ms == r.hook.updated_ms);
  hr_clear(&r);
  CHECK_EQ_INT(create(s, &r, "h1", "{}"), 409);
  hr_clear(&r);
  write_event(s);
  CHECK_EQ_INT(create(s, &r, "h2", "{}"), 201);
  CHECK_EQ_INT(r.hook.cursor, 4);
  hr_clear(&r);

  lr_t l = {0};
  store_hook_list(s, NULL, on_list, &l);
  wait_done(&l.done);
  CHECK_EQ_INT(l.status, 200);
  CHECK_EQ_INT(l.n, 2);
  CHECK_STR(l.ids[0], "h1");
  CHECK_STR(l.ids[1], "h2");

  /* update: the filter is merged (RFC 7396), enabled toggles with a reason */
  CHECK_EQ_INT(
      update(s, &r, (store_hook_update_t){.id = "h1", .filter = "{\"types\":[\"created\"]}", .enabled = -1}),
      200);
  CHECK(r.hook.filter && strstr(r.hook.filter, "\"collections\":[\"a\"]") &&
        strstr(r.hook.filter, "\"created\""));
  hr_clear(&r);
  CHECK_EQ_INT(
      update(s, &r, (store_hook_update_t){.id = "h1", .filter = "{\"collections\":null}", .enabled = -1}),
      200);
  CHECK(r.hook.filter && !strstr(r.hook.filter, "collections"));
  hr_clear(&r);
  CHECK_EQ_INT(update(s, &r,
                      (store_hook_update_t){
                          .id = "h1", .url = "https://x.example/", .enabled = 0, .reason = "paused"}),
               200);
  CHECK(!r.hook.enabled);
  CHECK_STR(r.hook.disabled_reason, "paused");
  CHECK_STR(r.hook.url, "https://x.example/");
  hr_clear(&r);
  CHECK_EQ_INT(update(s, &r, (store_hook_update_t){.id = "nope", .enabled = 1}), 404);
  hr_clear(&r);

  /* records: log rows, the cursor only moves forward, failing streaks */
  store_hook_record_t recs[3] = {
      {.id = "h2",
       .result = "failed",
       .seq = 5,
       .attempt = 1,
       .status = 500,
       .error = "HTTP 500",
       .duration_ms = 3,
       .at_ms = 1000,
       .failing_since_ms = 1000},
      {.id = "h2",
       .result = "delivered",
       .seq = 5,
       .attempt = 2,
       .status = 200,
       .duration_ms = 2,
       .at_ms = 2000,
       .cursor = 5,
       .failing_since_ms = 0},
      {.id = "h2", .cursor = 2, .failing_since_ms = -1}, /* never lowers the cursor */
  };
  store_hook_record(s, recs, 3);
  barrier(s, "h2");
  CHECK_EQ_INT(get(s, &r, "h2"), 200);
  CHECK_EQ_INT(r.hook.cursor, 5);
  CHECK_EQ_INT(r.hook.failing_since_ms, 0);
  hr_clear(&r);
  dr_t d;
  CHECK_EQ_INT(deliveries(s, &d, "h2", 100), 200);
  CHECK_EQ_INT(d.n, 2);
  CHECK_STR(d.first.result, "delivered");
  CHECK_EQ_INT(d.first.attempt, 2);
  CHECK_STR(d.last.result, "failed");
  CHECK_EQ_INT(d.last.status, 500);
  CHECK_EQ_INT(deliveries(s, &d, "nope", 100), 404);

  /* a disabling record, a reset record */
  store_hook_record_t dis = {.id = "h2",
                             .result = "failed",
                             .seq = 6,
                             .attempt = 1,
                             .status = 410,
                             .error = "HTTP 410",
                             .at_ms = 3000,
                             .failing_since_ms = 3000,
                             .disable = "the receiver answered 410 Gone"};
  store_hook_record(s, &dis, 1);
  store_hook_record_t rst = {.id = "h2",
                             .result = "reset",
                             .seq = 9,
                             .error = "fell out",
                             .at_ms = 4000,
                             .cursor = 8,
                             .failing_since_ms = -1,
                             .reset = true};
  store_hook_record(s, &rst, 1);
  barrier(s, "h2");
  CHECK_EQ_INT(get(s, &r, "h2"), 200);
  CHECK(!r.hook.enabled);
  CHECK_STR(r.hook.disabled_reason, "the receiver answered 410 Gone");
  CHECK_EQ_INT(r.hook.failing_since_ms, 3000);
  CHECK_EQ_INT(r.hook.reset_ms, 4000);
  CHECK_EQ_INT(r.hook.cursor, 8);
  hr_clear(&r);
  CHECK_EQ_INT(deliveries(s, &d, "h2", 1), 200);
  CHECK_EQ_INT(d.n, 1);
  CHECK_STR(d.first.result, "reset");
  CHECK_STR(d.first_error, "fell out");
  /* enabling clears the reason and the streak; the cursor stays */
  CHECK_EQ_INT(update(s, &r, (store_hook_update_t){.id = "h2", .enabled = 1}), 200);
  CHECK(r.hook.enabled);
  CHECK(r.hook.disabled_reason == NULL);
  CHECK_EQ_INT(r.hook.failing_since_ms, 0);
  CHECK_EQ_INT(r.hook.cursor, 8);
  hr_clear(&r);

  /* the log is trimmed to about STORE_HOOK_DELIVERIES_KEPT per webhook */
  for (int i = 0; i < 300; i++) {
    store_hook_record_t one = {.id = "h2",
                               .result = "delivered",
                               .seq = (uint64_t)(100 + i),
                               .attempt = 1,
                               .status = 200,
                               .at_ms = 5000 + i,
                               .cursor = (uint64_t)(100 + i),
                               .failing_since_ms = -1};
    store_hook_record(s, &one, 1);
  }
  barrier(s, "h2");
  CHECK_EQ_INT(deliveries(s, &d, "h2", 100), 200);
  CHECK_EQ_INT(d.n, 100);
  CHECK_EQ_INT(d.first.seq, 399);
  CHECK_EQ_INT(d.last.seq, 300);
  /* records for a webhook that does not exist are dropped */
  store_hook_record_t ghost = {
      .id = "ghost", .result = "delivered", .seq = 1, .cursor = 1, .failing_since_ms = -1};
  store_hook_record(s, &ghost, 1);
  barrier(s, "h2");
  CHECK_EQ_INT(deliveries(s, &d, "ghost", 10), 404);

  /* everything survives reopening */
  store_close(s);
  s = open_store(path, hub);
  CHECK_EQ_INT(get(s, &r, "h2"), 200);
  CHECK_EQ_INT(r.hook.cursor, 399);
  CHECK(r.hook.enabled);
  hr_clear(&r);
  CHECK_EQ_INT(get(s, &r, "h1"), 200);
  CHECK(!r.hook.enabled);
  hr_clear(&r);

  /* delete takes the log along */
  CHECK_EQ_INT(del(s, "h2"), 204);
  CHECK_EQ_INT(del(s, "h2"), 404);
  CHECK_EQ_INT(get(s, &r, "h2"), 404);
  hr_clear(&r);
  CHECK_EQ_INT(deliveries(s, &d, "h2", 10), 404);
  CHECK_EQ_INT(create(s, &r, "h2", "{}"), 201);
  hr_clear(&r);
  CHECK_EQ_INT(deliveries(s, &d, "h2", 10), 200);
  CHECK_EQ_INT(d.n, 0);

  store_close(s);
  hub_free(hub);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return TEST_SUMMARY();
}
