/* Unit test for the SQLite store: a real database in a temporary directory,
 * a hub with no loops and a listener that records what is published, and
 * one real loop to check callbacks posted with loop_post. Most requests pass
 * loop = NULL, so their callbacks run on the store's threads; the test waits
 * for them with a mutex and condition variable. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/timeutil.h"
#include "hub/hub.h"
#include "store/store.h"
#include "testutil.h"

/* ---- waiting for callbacks ----------------------------------------------- */

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

/* ---- what the hub published ---------------------------------------------- */

typedef struct pub {
  uint64_t seq;
  char type[32];
  char collection[64];
  char id[130];
  int64_t version;
  char *json;
} pub_t;

static pthread_mutex_t g_pub_mu = PTHREAD_MUTEX_INITIALIZER;
static pub_t *g_pub;
static size_t g_npub, g_pub_cap;
static uint64_t g_max_pub;
static int g_pub_out_of_order;

static void on_publish(void *arg, hub_event_t *const *evs, size_t n) {
  (void)arg;
  pthread_mutex_lock(&g_pub_mu);
  for (size_t i = 0; i < n; i++) {
    const hub_event_t *ev = evs[i];
    if (ev->seq <= g_max_pub) g_pub_out_of_order++;
    g_max_pub = ev->seq;
    if (g_npub == g_pub_cap) {
      g_pub_cap = g_pub_cap ? 2 * g_pub_cap : 256;
      g_pub = xrealloc(g_pub, g_pub_cap * sizeof *g_pub);
    }
    pub_t *p = &g_pub[g_npub++];
    p->seq = ev->seq;
    snprintf(p->type, sizeof p->type, "%s", ev->type);
    snprintf(p->collection, sizeof p->collection, "%s", ev->collection);
    snprintf(p->id, sizeof p->id, "%s", ev->id);
    p->version = ev->version;
    p->json = xstrndup(ev->json[HUB_PAYLOAD_FULL]->data, ev->json[HUB_PAYLOAD_FULL]->len);
  }
  pthread_mutex_unlock(&g_pub_mu);
}

static uint64_t max_published(void) {
  pthread_mutex_lock(&g_pub_mu);
  uint64_t m = g_max_pub;
  pthread_mutex_unlock(&g_pub_mu);
  return m;
}

static const pub_t *find_pub(uint64_t seq) {
  for (size_t i = 0; i < g_npub; i++)
    if (g_pub[i].seq == seq) return &g_pub[i];
  return NULL;
}

/* ---- writes -------------------------------------------------------------- */

typedef struct wr {
  int done;
  int status;
  const char *detail;
  char *doc;
  char id[130];
  int64_t version;
  uint64_t seq;
  bool replayed;
  bool published_first; /* the event was published before this callback */
  bool on_loop;         /* the callback ran on the test loop's thread */
} wr_t;

static loop_t g_loop;

static void on_write(void *ud, store_write_result_t *res) {
  wr_t *w = ud;
  w->status = res->status;
  w->detail = res->detail;
  w->doc = res->doc; /* take it */
  res->doc = NULL;
  memcpy(w->id, res->id, sizeof w->id);
  w->version = res->version;
  w->seq = res->seq;
  w->replayed = res->replayed;
  w->published_first = res->seq && max_published() >= res->seq;
  w->on_loop = loop_current() == &g_loop;
  signal_done(&w->done);
}

typedef struct wopts {
  int64_t if_match;
  bool inm;
  const char *key, *fp, *type;
  loop_t *loop;
} wopts_t;

static int do_write_opts(store_t *s, wr_t *w, store_write_kind_t kind, const char *coll, const char *id,
                         const char *body, wopts_t o) {
  memset(w, 0, sizeof *w);
  store_write_t req = {
      .kind = kind,
      .collection = coll,
      .id = id,
      .type = o.type,
      .body = body,
      .body_len = body ? strlen(body) : 0,
      .if_match = o.if_match,
      .if_none_match_any = o.inm,
      .idem_key = o.key,
      .idem_fingerprint = o.fp,
  };
  store_write(s, o.loop, &req, on_write, w);
  wait_done(&w->done);
  return w->status;
}

#define NOOPTS ((wopts_t){.if_match = -1})
#define W(s, w, kind, coll, id, body) do_write_opts(s, w, kind, coll, id, body, NOOPTS)

static void wr_clear(wr_t *w) {
  free(w->doc);
  w->doc = NULL;
}

/* ---- reads --------------------------------------------------------------- */

typedef struct gr {
  int done;
  int status;
  char *doc;
  int64_t version;
} gr_t;

static void on_get(void *ud, store_doc_result_t *res) {
  gr_t *g = ud;
  g->status = res->status;
  g->doc = res->doc;
  res->doc = NULL;
  g->version = res->version;
  signal_done(&g->done);
}

static int do_get(store_t *s, gr_t *g, const char *coll, const char *id) {
  memset(g, 0, sizeof *g);
  store_get(s, NULL, coll, id, on_get, g);
  wait_done(&g->done);
  return g->status;
}

typedef struct lr {
  int done;
  int status;
  const char *detail;
  char *items;
  char *next;
  uint64_t head;
} lr_t;

static void on_list(void *ud, store_list_result_t *res) {
  lr_t *l = ud;
  l->status = res->status;
  l->detail = res->detail;
  l->items = res->items;
  res->items = NULL;
  l->next = res->next_cursor;
  res->next_cursor = NULL;
  l->head = res->head;
  signal_done(&l->done);
}

static int do_list(store_t *s, lr_t *l, const char *coll, int limit, const char *after, const char *sort,
                   bool desc, const store_field_eq_t *f, size_t nf) {
  memset(l, 0, sizeof *l);
  store_list_query_t q = {.collection = coll,
                          .limit = limit,
                          .after = after,
                          .sort_field = sort,
                          .sort_desc = desc,
                          .filters = f,
                          .nfilters = nf};
  store_list(s, NULL, &q, on_list, l);
  wait_done(&l->done);
  return l->status;
}

static void lr_clear(lr_t *l) {
  free(l->items);
  free(l->next);
  l->items = l->next = NULL;
}

/* Walks every page and returns the ids in order as a JSON array of strings
 * (NULL on an error); *pages counts the pages. */
static json_t *all_ids(store_t *s, const char *coll, int limit, const char *sort, bool desc,
                       const store_field_eq_t *f, size_t nf, int *pages) {
  json_t *ids = json_array();
  char *after = NULL;
  *pages = 0;
  for (;;) {
    lr_t l;
    if (do_list(s, &l, coll, limit, after, sort, desc, f, nf) != 200) {
      lr_clear(&l);
      free(after);
      json_decref(ids);
      return NULL;
    }
    (*pages)++;
    json_t *items = json_loads(l.items, 0, NULL);
    CHECK(json_is_array(items));
    CHECK(json_array_size(items) <= (size_t)limit);
    size_t i;
    json_t *doc;
    json_array_foreach(items, i, doc) json_array_append(ids, json_object_get(doc, "id"));
    json_decref(items);
    free(after);
    after = l.next;
    l.next = NULL;
    lr_clear(&l);
    if (!after || *pages > 1000) break;
  }
  free(after);
  return ids;
}

typedef struct cr {
  int done;
  int status;
  hub_event_t **evs;
  size_t n;
  uint64_t next, head, oldest;
  bool reset;
} cr_t;

static void on_changes(void *ud, store_changes_result_t *res) {
  cr_t *c = ud;
  c->status = res->status;
  c->n = res->nevents;
  c->evs = xcalloc(res->nevents + 1, sizeof *c->evs);
  for (size_t i = 0; i < res->nevents; i++) c->evs[i] = hub_event_ref(res->events[i]);
  c->next = res->next;
  c->head = res->head;
  c->oldest = res->oldest;
  c->reset = res->reset;
  signal_done(&c->done);
}

static int do_changes(store_t *s, cr_t *c, const filter_t *f, uint64_t since, int limit) {
  memset(c, 0, sizeof *c);
  store_changes(s, NULL, f, since, limit, on_changes, c);
  wait_done(&c->done);
  return c->status;
}

static void cr_clear(cr_t *c) {
  for (size_t i = 0; i < c->n; i++) hub_event_unref(c->evs[i]);
  free(c->evs);
  c->evs = NULL;
  c->n = 0;
}

typedef struct colr {
  int done;
  int status;
  char *json;
  uint64_t head;
} colr_t;

static void on_colls(void *ud, store_collections_result_t *res) {
  colr_t *c = ud;
  c->status = res->status;
  c->json = res->json;
  res->json = NULL;
  c->head = res->head;
  signal_done(&c->done);
}

/* ---- helpers ------------------------------------------------------------- */

static bool starts_with(const char *s, const char *p) { return s && strncmp(s, p, strlen(p)) == 0; }

static json_t *parse(const char *s) {
  json_t *j = json_loads(s ? s : "", JSON_REJECT_DUPLICATES, NULL);
  CHECK(j != NULL);
  return j;
}

/* Checks the stored shape: an object whose first four keys are the server
 * fields, each exactly once. */
static void check_server_fields(const char *doc, const char *id, int64_t version) {
  char prefix[200];
  snprintf(prefix, sizeof prefix, "{\"id\":\"%s\",\"version\":%lld,\"createdAt\":\"", id, (long long)version);
  CHECK(starts_with(doc, prefix));
  json_t *j = parse(doc);
  if (!j) return;
  CHECK_STR(json_string_value(json_object_get(j, "id")), id);
  CHECK_EQ_INT(json_integer_value(json_object_get(j, "version")), version);
  CHECK(json_is_string(json_object_get(j, "createdAt")));
  CHECK(json_is_string(json_object_get(j, "updatedAt")));
  CHECK_EQ_INT(strlen(json_string_value(json_object_get(j, "updatedAt"))), TIME_RFC3339_LEN);
  const char *after_created = strstr(doc, "\",\"updatedAt\":\"");
  CHECK(after_created && after_created - doc == (ptrdiff_t)(strlen(prefix) + TIME_RFC3339_LEN));
  json_decref(j);
}

static store_t *open_store(const char *path, hub_t *hub, int64_t retain_events, int64_t retain_for_ms) {
  store_config_t cfg = {.path = path,
                        .readers = 2,
                        .retain_events = retain_events,
                        .retain_for_ms = retain_for_ms,
                        .prune_interval_ms = 20};
  store_t *s = NULL;
  char err[256] = "";
  int rc = store_open(&cfg, hub, &s, err, sizeof err);
  if (rc) fprintf(stderr, "store_open: %s\n", err);
  CHECK_EQ_INT(rc, 0);
  return s;
}

/* ---- the tests ----------------------------------------------------------- */

static void test_crud(store_t *s) {
  wr_t w;
  gr_t g;
  CHECK_EQ_INT(store_head(s), 0);
  CHECK_EQ_INT(strlen(store_epoch(s)), 32);

  /* CREATE with a generated id. */
  CHECK_EQ_INT(W(s, &w, STORE_CREATE, "todos", "", "{\"title\":\"a\",\"n\":3,\"r\":1.50}"), 201);
  CHECK_EQ_INT(strlen(w.id), 36);
  CHECK_EQ_INT(w.version, 1);
  CHECK_EQ_INT(w.seq, 1);
  CHECK(w.published_first);
  check_server_fields(w.doc, w.id, 1);
  CHECK(strstr(w.doc, "\"updatedAt\":\"") && strstr(w.doc, ",\"title\":\"a\",\"n\":3,\"r\":1.50}"));
  char gen_id[130];
  memcpy(gen_id, w.id, sizeof gen_id);
  wr_clear(&w);

  /* CREATE with a given id and an empty body; the callback on a loop. */
  CHECK_EQ_INT(
      do_write_opts(s, &w, STORE_CREATE, "todos", "doc1", "{}", (wopts_t){.if_match = -1, .loop = &g_loop}),
      201);
  CHECK(w.on_loop);
  CHECK_EQ_INT(w.seq, 2);
  check_server_fields(w.doc, "doc1", 1);
  CHECK(w.doc && w.doc[strlen(w.doc) - 2] == '"' && w.doc[strlen(w.doc) - 1] == '}');
  char created1[32] = "";
  json_t *j = parse(w.doc);
  snprintf(created1, sizeof created1, "%s", json_string_value(json_object_get(j, "createdAt")));
  json_decref(j);
  wr_clear(&w);

  /* 409 on an existing id; nothing committed. */
  CHECK_EQ_INT(W(s, &w, STORE_CREATE, "todos", "doc1", "{\"x\":1}"), 409);
  CHECK(w.doc == NULL && w.seq == 0);
  CHECK_EQ_INT(store_head(s), 2);
  /* Bad bodies are 400, never stored. */
  CHECK_EQ_INT(W(s, &w, STORE_CREATE, "todos", "bad", "[1,2]"), 400);
  CHECK_EQ_INT(W(s, &w, STORE_CREATE, "todos", "bad", "{\"a\":"), 400);
  CHECK_EQ_INT(W(s, &w, STORE_CREATE, "todos", "bad", "nonsense"), 400);
  CHECK_EQ_INT(store_head(s), 2);

  /* Server fields in the body are dropped. */
  CHECK_EQ_INT(
      W(s, &w, STORE_CREATE, "todos", "sf", "{\"id\":\"zzz\",\"version\":99,\"a\":1,\"updatedAt\":0}"), 201);
  check_server_fields(w.doc, "sf", 1);
  CHECK(strstr(w.doc, "zzz") == NULL && strstr(w.doc, "99") == NULL);
  wr_clear(&w);

  CHECK_EQ_INT(do_get(s, &g, "todos", "doc1"), 200);
  CHECK_EQ_INT(g.version, 1);
  check_server_fields(g.doc, "doc1", 1);
  free(g.doc);
  CHECK_EQ_INT(do_get(s, &g, "todos", "nope"), 404);
  CHECK(g.doc == NULL);
  CHECK_EQ_INT(do_get(s, &g, "other", "doc1"), 404);

  /* PUT: replace keeps createdAt, bumps the version. */
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_PUT, "todos", "doc1", "{\"x\":1}", (wopts_t){.if_match = 1}), 200);
  CHECK_EQ_INT(w.version, 2);
  check_server_fields(w.doc, "doc1", 2);
  j = parse(w.doc);
  CHECK_STR(json_string_value(json_object_get(j, "createdAt")), created1);
  CHECK_EQ_INT(json_integer_value(json_object_get(j, "x")), 1);
  json_decref(j);
  uint64_t put_seq = w.seq;
  wr_clear(&w);
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_PUT, "todos", "doc1", "{}", (wopts_t){.if_match = 1}), 412);
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_PUT, "todos", "doc1", "{}", (wopts_t){.if_match = -1, .inm = true}),
               412);
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_PUT, "todos", "ghost", "{}", (wopts_t){.if_match = 3}), 412);
  CHECK_EQ_INT(
      do_write_opts(s, &w, STORE_PUT, "todos", "p1", "{\"k\":1}", (wopts_t){.if_match = -1, .inm = true}),
      201);
  CHECK_EQ_INT(w.version, 1);
  wr_clear(&w);
  CHECK_EQ_INT(W(s, &w, STORE_PUT, "todos", "p2", "{\"k\":2}"), 201);
  wr_clear(&w);

  /* PATCH: merge patch, server fields first and forced. */
  CHECK_EQ_INT(W(s, &w, STORE_PATCH, "todos", "doc1", "{\"y\":{\"z\":2},\"x\":null}"), 200);
  CHECK_EQ_INT(w.version, 3);
  check_server_fields(w.doc, "doc1", 3);
  j = parse(w.doc);
  CHECK(json_object_get(j, "x") == NULL);
  CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "y"), "z")), 2);
  CHECK_STR(json_string_value(json_object_get(j, "createdAt")), created1);
  json_decref(j);
  wr_clear(&w);
  CHECK_EQ_INT(W(s, &w, STORE_PATCH, "todos", "doc1", "{\"id\":\"evil\",\"version\":1,\"createdAt\":\"x\"}"),
               200);
  check_server_fields(w.doc, "doc1", 4);
  CHECK(strstr(w.doc, "evil") == NULL);
  wr_clear(&w);
  CHECK_EQ_INT(W(s, &w, STORE_PATCH, "todos", "ghost", "{}"), 404);
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_PATCH, "todos", "ghost", "{}", (wopts_t){.if_match = 1}), 412);
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_PATCH, "todos", "doc1", "{}", (wopts_t){.if_match = 1}), 412);
  CHECK_EQ_INT(W(s, &w, STORE_PATCH, "todos", "doc1", "3"), 400);
  CHECK_EQ_INT(W(s, &w, STORE_PATCH, "todos", "doc1", "{"), 400);
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_PATCH, "todos", "doc1", "{\"q\":true}", (wopts_t){.if_match = 4}),
               200);
  CHECK_EQ_INT(w.version, 5);
  wr_clear(&w);

  /* DELETE. */
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_DELETE, "todos", "doc1", NULL, (wopts_t){.if_match = 1}), 412);
  CHECK_EQ_INT(W(s, &w, STORE_DELETE, "todos", "doc1", NULL), 204);
  CHECK_EQ_INT(w.version, 6);
  CHECK(w.doc == NULL);
  uint64_t del_seq = w.seq;
  CHECK_EQ_INT(do_get(s, &g, "todos", "doc1"), 404);
  CHECK_EQ_INT(W(s, &w, STORE_DELETE, "todos", "doc1", NULL), 404);
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_DELETE, "todos", "doc1", NULL, (wopts_t){.if_match = 6}), 412);

  /* Custom event. */
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_EVENT, "chat", "", "{\"who\":\"ann\"}",
                             (wopts_t){.if_match = -1, .type = "typing"}),
               202);
  uint64_t ev_seq = w.seq;
  CHECK(ev_seq == del_seq + 1);
  CHECK(w.published_first);
  CHECK_EQ_INT(
      do_write_opts(s, &w, STORE_EVENT, "chat", "", "{oops", (wopts_t){.if_match = -1, .type = "typing"}),
      400);

  /* Idempotency: replay, then a different request under the same key. */
  wopts_t k1 = {.if_match = -1, .key = "key-1", .fp = "fp-a"};
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_CREATE, "todos", "", "{\"i\":1}", k1), 201);
  CHECK(!w.replayed);
  char first_id[130];
  memcpy(first_id, w.id, sizeof first_id);
  uint64_t first_seq = w.seq;
  char *first_doc = w.doc;
  w.doc = NULL;
  uint64_t head_before = store_head(s);
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_CREATE, "todos", "", "{\"i\":1}", k1), 201);
  CHECK(w.replayed);
  CHECK_STR(w.id, first_id);
  CHECK_EQ_INT(w.seq, first_seq);
  CHECK_STR(w.doc, first_doc);
  CHECK_EQ_INT(w.version, 1);
  CHECK_EQ_INT(store_head(s), head_before);
  wr_clear(&w);
  free(first_doc);
  wopts_t k1b = {.if_match = -1, .key = "key-1", .fp = "fp-b"};
  CHECK_EQ_INT(do_write_opts(s, &w, STORE_CREATE, "todos", "", "{\"i\":2}", k1b), 422);
  CHECK_STR(w.detail, "Idempotency-Key reused with a different request");
  CHECK_EQ_INT(store_head(s), head_before);

  /* What was published: every seq once, in order, with the right shapes. */
  pthread_mutex_lock(&g_pub_mu);
  CHECK_EQ_INT(g_pub_out_of_order, 0);
  CHECK_EQ_INT(g_npub, store_head(s));
  for (size_t i = 0; i < g_npub; i++) CHECK_EQ_INT(g_pub[i].seq, i + 1);
  const pub_t *p = find_pub(1);
  CHECK(p && strcmp(p->type, "created") == 0 && strcmp(p->id, gen_id) == 0 && p->version == 1);
  p = find_pub(put_seq);
  CHECK(p && strcmp(p->type, "updated") == 0 && p->version == 2);
  p = find_pub(del_seq);
  CHECK(p && strcmp(p->type, "deleted") == 0 && p->version == 6 && strstr(p->json, "\"data\":null}"));
  p = find_pub(ev_seq);
  CHECK(p && strcmp(p->type, "typing") == 0 && p->id[0] == '\0' && p->version == 0);
  CHECK(p && strstr(p->json, "\"data\":{\"who\":\"ann\"}}") && !strstr(p->json, "\"id\""));
  pthread_mutex_unlock(&g_pub_mu);
}

/* Expected order for a sort on n: NULL first (ascending), numbers, then
 * strings, ties by id — SQLite's order for json_extract values. Checked by
 * comparing every page size against one big page and against the sorted
 * sequence of values. */
static void test_list(store_t *s) {
  wr_t w;
  char id[32], body[128];
  for (int i = 0; i < 30; i++) {
    snprintf(id, sizeof id, "it%02d", i);
    if (i % 5 == 0)
      snprintf(body, sizeof body, "{\"s\":\"v%d\",\"done\":%s}", i % 3, i % 2 ? "true" : "false");
    else if (i == 7)
      snprintf(body, sizeof body, "{\"n\":2.5,\"s\":\"x\"}");
    else if (i == 11)
      snprintf(body, sizeof body, "{\"n\":\"3\",\"s\":\"x\"}");
    else if (i == 13)
      snprintf(body, sizeof body, "{\"n\":null,\"z\":null}");
    else
      snprintf(body, sizeof body, "{\"n\":%d,\"s\":\"v%d\",\"done\":%s}", i % 7, i % 3,
               i % 2 ? "true" : "false");
    CHECK_EQ_INT(W(s, &w, STORE_CREATE, "items", id, body), 201);
    wr_clear(&w);
  }

  /* Default order: by id, all pages, head = the store's head. */
  lr_t l;
  CHECK_EQ_INT(do_list(s, &l, "items", 10, NULL, NULL, false, NULL, 0), 200);
  CHECK_EQ_INT(l.head, store_head(s));
  CHECK(l.next != NULL);
  lr_clear(&l);
  int pages;
  json_t *ids = all_ids(s, "items", 10, NULL, false, NULL, 0, &pages);
  CHECK(ids && json_array_size(ids) == 30 && pages == 3);
  for (size_t i = 0; ids && i < json_array_size(ids); i++) {
    snprintf(id, sizeof id, "it%02zu", i);
    CHECK_STR(json_string_value(json_array_get(ids, i)), id);
  }
  json_decref(ids);
  ids = all_ids(s, "items", 7, NULL, true, NULL, 0, &pages);
  CHECK(ids && json_array_size(ids) == 30);
  CHECK_STR(json_string_value(json_array_get(ids, 0)), "it29");
  json_decref(ids);
  /* An exact multiple: the last full page says there is no more. */
  CHECK_EQ_INT(do_list(s, &l, "items", 30, NULL, NULL, false, NULL, 0), 200);
  CHECK(l.next == NULL);
  lr_clear(&l);
  CHECK_EQ_INT(do_list(s, &l, "never", 10, NULL, NULL, false, NULL, 0), 200);
  CHECK_STR(l.items, "[]");
  CHECK(l.next == NULL);
  lr_clear(&l);

  /* Sorted by a field with missing values, duplicates and mixed types. */
  for (int desc = 0; desc <= 1; desc++) {
    json_t *ref = all_ids(s, "items", 1000, "n", desc, NULL, 0, &pages);
    CHECK(ref && json_array_size(ref) == 30 && pages == 1);
    /* Check the reference order itself. */
    lr_t one;
    do_list(s, &one, "items", 1000, NULL, "n", desc, NULL, 0);
    json_t *docs = parse(one.items);
    lr_clear(&one);
    int prev_rank = desc ? 99 : -1;
    double prev_num = 0;
    const char *prev_id = "";
    for (size_t i = 0; i < json_array_size(docs); i++) {
      json_t *d = json_array_get(docs, i), *n = json_object_get(d, "n");
      int rank = !n || json_is_null(n) ? 0 : json_is_number(n) ? 1 : 2;
      double num = json_is_number(n) ? json_number_value(n) : 0;
      const char *did = json_string_value(json_object_get(d, "id"));
      bool ok;
      if (rank != prev_rank)
        ok = desc ? rank < prev_rank : rank > prev_rank;
      else if (rank == 1 && num != prev_num)
        ok = desc ? num < prev_num : num > prev_num;
      else
        ok = desc ? strcmp(did, prev_id) < 0 : strcmp(did, prev_id) > 0;
      if (!ok) fprintf(stderr, "sort %s: %s out of order after %s\n", desc ? "desc" : "asc", did, prev_id);
      CHECK(ok);
      prev_rank = rank, prev_num = num, prev_id = did;
    }
    for (int lim = 1; lim <= 8; lim++) {
      json_t *got = all_ids(s, "items", lim, "n", desc, NULL, 0, &pages);
      CHECK(got && json_equal(got, ref));
      CHECK_EQ_INT(pages, (30 + lim - 1) / lim);
      json_decref(got);
    }
    json_decref(docs);
    json_decref(ref);
  }

  /* Filters. */
  store_field_eq_t f_n3[] = {{"n", "3"}};
  ids = all_ids(s, "items", 100, NULL, false, f_n3, 1, &pages);
  /* n == 3 (integer) for i%7==3 and i%5!=0, not 7/11/13: 3, 17, 24; "3" (string) at 11. */
  CHECK(ids && json_array_size(ids) == 4);
  json_decref(ids);
  store_field_eq_t f_real[] = {{"n", "2.5"}};
  ids = all_ids(s, "items", 100, NULL, false, f_real, 1, &pages);
  CHECK(ids && json_array_size(ids) == 1 && strcmp(json_string_value(json_array_get(ids, 0)), "it07") == 0);
  json_decref(ids);
  store_field_eq_t f_true_v1[] = {{"done", "true"}, {"s", "v1"}};
  ids = all_ids(s, "items", 2, NULL, false, f_true_v1, 2, &pages);
  /* odd i with i%3==1, excluding 7, 11, 13: 1, 19, 25 (i%5==0 docs: 25 has s v1, done true). */
  CHECK(ids && json_array_size(ids) == 3);
  json_decref(ids);
  store_field_eq_t f_null[] = {{"z", "null"}};
  ids = all_ids(s, "items", 100, NULL, false, f_null, 1, &pages);
  CHECK(ids && json_array_size(ids) == 1);
  json_decref(ids);
  store_field_eq_t f_none[] = {{"n", "\"3\""}};
  ids = all_ids(s, "items", 100, NULL, false, f_none, 1, &pages);
  CHECK(ids && json_array_size(ids) == 0);
  json_decref(ids);
  /* Filter and sort together, across pages. */
  store_field_eq_t f_x[] = {{"s", "x"}};
  ids = all_ids(s, "items", 1, "n", true, f_x, 1, &pages);
  CHECK(ids && json_array_size(ids) == 2);
  CHECK_STR(json_string_value(json_array_get(ids, 0)), "it11"); /* text sorts above numbers */
  json_decref(ids);

  /* Sort values too long for a cursor are looked up by id instead. */
  char *big = xmalloc(3000);
  for (int i = 0; i < 6; i++) {
    snprintf(id, sizeof id, "long%d", i);
    memset(big, 'a', 3000);
    int k = 8 + 2000;
    memcpy(big, "{\"t\":\"", 6);
    big[k - 1] = (char)('a' + (i * 7) % 6); /* distinct tails: the order is not the id order */
    memcpy(big + k, "\"}", 3);
    CHECK_EQ_INT(W(s, &w, STORE_CREATE, "long", id, big), 201);
    wr_clear(&w);
  }
  free(big);
  for (int desc = 0; desc <= 1; desc++) {
    json_t *ref = all_ids(s, "long", 1000, "t", desc, NULL, 0, &pages);
    json_t *got = all_ids(s, "long", 2, "t", desc, NULL, 0, &pages);
    CHECK(ref && got && json_array_size(ref) == 6 && json_equal(ref, got));
    CHECK_EQ_INT(pages, 3);
    CHECK_STR(json_string_value(json_array_get(ref, desc ? 5 : 0)), "long0");
    json_decref(ref);
    json_decref(got);
  }
  CHECK_EQ_INT(do_list(s, &l, "long", 2, NULL, "t", false, NULL, 0), 200);
  CHECK(l.next && strlen(l.next) < 200);
  char *long_cursor = l.next;
  l.next = NULL;
  json_t *page = parse(l.items);
  const char *gone = json_string_value(json_object_get(json_array_get(page, 1), "id"));
  CHECK_EQ_INT(W(s, &w, STORE_DELETE, "long", gone, NULL), 204);
  json_decref(page);
  lr_clear(&l);
  CHECK_EQ_INT(do_list(s, &l, "long", 2, long_cursor, "t", false, NULL, 0), 400);
  free(long_cursor);

  /* Bad input. */
  CHECK_EQ_INT(do_list(s, &l, "items", 10, "!!!", NULL, false, NULL, 0), 400);
  CHECK_STR(l.detail, "invalid cursor");
  CHECK_EQ_INT(do_list(s, &l, "items", 10, "eyJ4Ijox", NULL, false, NULL, 0), 400); /* {"x":1 */
  CHECK_EQ_INT(do_list(s, &l, "items", 10, "e30", NULL, false, NULL, 0), 400);      /* {} */
  CHECK_EQ_INT(do_list(s, &l, "items", 3, NULL, "n", false, NULL, 0), 200);
  char *sorted_cursor = l.next;
  l.next = NULL;
  lr_clear(&l);
  CHECK_EQ_INT(do_list(s, &l, "items", 3, sorted_cursor, NULL, false, NULL, 0), 400);
  CHECK_EQ_INT(do_list(s, &l, "items", 3, sorted_cursor, "n", true, NULL, 0), 400);
  CHECK_EQ_INT(do_list(s, &l, "items", 3, sorted_cursor, "s", false, NULL, 0), 400);
  CHECK_EQ_INT(do_list(s, &l, "items", 3, sorted_cursor, "n", false, NULL, 0), 200);
  lr_clear(&l);
  free(sorted_cursor);
  CHECK_EQ_INT(do_list(s, &l, "items", 10, NULL, "a.b", false, NULL, 0), 400);
  CHECK_STR(l.detail, "invalid field name");
  CHECK_EQ_INT(do_list(s, &l, "items", 10, NULL, "x\"') OR 1=1 --", false, NULL, 0), 400);
  store_field_eq_t f_bad[] = {{"x y", "1"}};
  CHECK_EQ_INT(do_list(s, &l, "items", 10, NULL, NULL, false, f_bad, 1), 400);
  CHECK_STR(l.detail, "invalid field name");
  store_field_eq_t f_inject[] = {{"n", "3' OR '1'='1"}};
  CHECK_EQ_INT(do_list(s, &l, "items", 10, NULL, NULL, false, f_inject, 1), 200);
  CHECK_STR(l.items, "[]");
  lr_clear(&l);

  /* Collections. */
  colr_t c = {0};
  store_collections(s, NULL, on_colls, &c);
  wait_done(&c.done);
  CHECK_EQ_INT(c.status, 200);
  CHECK_EQ_INT(c.head, store_head(s));
  json_t *cj = parse(c.json);
  CHECK(json_is_array(cj) && json_array_size(cj) == 3);
  CHECK_STR(json_string_value(json_object_get(json_array_get(cj, 0), "name")), "items");
  CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(cj, 0), "count")), 30);
  CHECK_STR(json_string_value(json_object_get(json_array_get(cj, 1), "name")), "long");
  CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(cj, 1), "count")), 5);
  CHECK_STR(json_string_value(json_object_get(json_array_get(cj, 2), "name")), "todos");
  json_decref(cj);
  free(c.json);
}

static void test_changes(store_t *s) {
  cr_t c;
  uint64_t head = store_head(s);
  CHECK_EQ_INT(do_changes(s, &c, NULL, 0, 1000), 200);
  CHECK_EQ_INT(c.n, head);
  CHECK_EQ_INT(c.head, head);
  CHECK_EQ_INT(c.next, head);
  CHECK_EQ_INT(c.oldest, 1);
  CHECK(!c.reset);
  for (size_t i = 0; i < c.n; i++) {
    CHECK_EQ_INT(c.evs[i]->seq, i + 1);
    /* Replayed events are byte-identical to the published ones. */
    const pub_t *p = find_pub(c.evs[i]->seq);
    CHECK(p && strcmp(p->json, c.evs[i]->json[HUB_PAYLOAD_FULL]->data) == 0);
  }
  cr_clear(&c);

  CHECK_EQ_INT(do_changes(s, &c, NULL, 3, 5), 200);
  CHECK_EQ_INT(c.n, 5);
  CHECK_EQ_INT(c.evs[0]->seq, 4);
  CHECK_EQ_INT(c.next, 8);
  cr_clear(&c);

  filter_t f;
  memset(&f, 0, sizeof f);
  char chat[] = "chat", deleted[] = "deleted", todos[] = "todos", it05[] = "it05";
  char *colls[] = {chat}, *types[] = {deleted}, *colls2[] = {todos, chat};
  f.collections = colls;
  f.ncollections = 1;
  CHECK_EQ_INT(do_changes(s, &c, &f, 0, 100), 200);
  CHECK_EQ_INT(c.n, 1);
  CHECK(c.n == 1 && strcmp(c.evs[0]->type, "typing") == 0);
  CHECK_EQ_INT(c.next, head);
  cr_clear(&c);

  f.collections = colls2;
  f.ncollections = 2;
  f.types = types;
  f.ntypes = 1;
  CHECK_EQ_INT(do_changes(s, &c, &f, 0, 100), 200);
  CHECK_EQ_INT(c.n, 1);
  CHECK(c.n == 1 && strcmp(c.evs[0]->id, "doc1") == 0);
  cr_clear(&c);

  memset(&f, 0, sizeof f);
  f.id = it05;
  CHECK_EQ_INT(do_changes(s, &c, &f, 0, 100), 200);
  CHECK_EQ_INT(c.n, 1);
  CHECK(c.n == 1 && strcmp(c.evs[0]->collection, "items") == 0);
  cr_clear(&c);

  CHECK_EQ_INT(do_changes(s, &c, NULL, head, 100), 200);
  CHECK_EQ_INT(c.n, 0);
  CHECK(!c.reset);
  CHECK_EQ_INT(c.next, head);
  cr_clear(&c);
  CHECK_EQ_INT(do_changes(s, &c, NULL, head + 5, 100), 200);
  CHECK(c.reset);
  CHECK_EQ_INT(c.n, 0);
  cr_clear(&c);
}

/* 8 threads x 200 writes, half answered on the loop: 1600 distinct seqs
 * with no gaps, published in order. */
#define NTHREADS 8
#define PER_THREAD 200

typedef struct conc {
  store_t *s;
  int t;
  int pending;
  uint64_t seqs[PER_THREAD];
  int statuses[PER_THREAD];
  int answered;
} conc_t;

typedef struct conc_req {
  conc_t *c;
  int i;
} conc_req_t;

static void on_conc(void *ud, store_write_result_t *res) {
  conc_req_t *r = ud;
  pthread_mutex_lock(&g_mu);
  r->c->seqs[r->i] = res->seq;
  r->c->statuses[r->i] = res->status;
  r->c->answered++;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  free(r);
}

static void *conc_thread(void *arg) {
  conc_t *c = arg;
  char id[32];
  for (int i = 0; i < PER_THREAD; i++) {
    snprintf(id, sizeof id, "t%d-%03d", c->t, i);
    store_write_t w = {.kind = STORE_CREATE,
                       .collection = "conc",
                       .id = id,
                       .body = "{\"v\":1}",
                       .body_len = 7,
                       .if_match = -1};
    conc_req_t *r = xmalloc(sizeof *r);
    r->c = c;
    r->i = i;
    store_write(c->s, c->t % 2 ? &g_loop : NULL, &w, on_conc, r);
  }
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_concurrency(store_t *s) {
  uint64_t start = store_head(s);
  static conc_t cs[NTHREADS];
  pthread_t th[NTHREADS];
  for (int t = 0; t < NTHREADS; t++) {
    memset(&cs[t], 0, sizeof cs[t]);
    cs[t].s = s;
    cs[t].t = t;
    pthread_create(&th[t], NULL, conc_thread, &cs[t]);
  }
  for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
  pthread_mutex_lock(&g_mu);
  for (int t = 0; t < NTHREADS; t++)
    while (cs[t].answered < PER_THREAD) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  static uint64_t all[NTHREADS * PER_THREAD];
  int bad_status = 0;
  for (int t = 0; t < NTHREADS; t++)
    for (int i = 0; i < PER_THREAD; i++) {
      all[t * PER_THREAD + i] = cs[t].seqs[i];
      if (cs[t].statuses[i] != 201) bad_status++;
      /* One thread's writes are committed in the order it queued them. */
      if (i && cs[t].seqs[i] <= cs[t].seqs[i - 1]) bad_status++;
    }
  CHECK_EQ_INT(bad_status, 0);
  qsort(all, NTHREADS * PER_THREAD, sizeof all[0], cmp_u64);
  int gaps = 0;
  for (int i = 0; i < NTHREADS * PER_THREAD; i++)
    if (all[i] != start + 1 + (uint64_t)i) gaps++;
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(store_head(s), start + NTHREADS * PER_THREAD);
  pthread_mutex_lock(&g_pub_mu);
  CHECK_EQ_INT(g_pub_out_of_order, 0);
  CHECK_EQ_INT(g_max_pub, start + NTHREADS * PER_THREAD);
  pthread_mutex_unlock(&g_pub_mu);
}

/* Writes queued right before close are all committed and answered. */
static void test_close_drains(store_t *s, int n) {
  static conc_t c;
  memset(&c, 0, sizeof c);
  c.s = s;
  char id[32];
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "drain-%03d", i);
    store_write_t w = {
        .kind = STORE_CREATE, .collection = "drain", .id = id, .body = "{}", .body_len = 2, .if_match = -1};
    conc_req_t *r = xmalloc(sizeof *r);
    r->c = &c;
    r->i = i;
    store_write(s, NULL, &w, on_conc, r);
  }
  store_close(s);
  CHECK_EQ_INT(c.answered, n);
  int ok = 0;
  for (int i = 0; i < n; i++) ok += c.statuses[i] == 201;
  CHECK_EQ_INT(ok, n);
}

static void wait_for_oldest(store_t *s, uint64_t want) {
  cr_t c = {0};
  for (int i = 0; i < 500; i++) {
    do_changes(s, &c, NULL, 0, 1);
    cr_clear(&c);
    if (c.oldest >= want) return;
    usleep(10000);
  }
  fprintf(stderr, "oldest never reached %llu (is %llu)\n", (unsigned long long)want,
          (unsigned long long)c.oldest);
  CHECK(0);
}

static void test_retention(const char *path, hub_t *hub, const char *epoch, uint64_t head) {
  /* By count: keep the newest 10. */
  store_t *s = open_store(path, hub, 10, 0);
  if (!s) return;
  CHECK_EQ_INT(store_head(s), head);
  CHECK_STR(store_epoch(s), epoch);
  wait_for_oldest(s, head - 9);
  cr_t c;
  CHECK_EQ_INT(do_changes(s, &c, NULL, 0, 1000), 200);
  CHECK_EQ_INT(c.n, 10);
  CHECK_EQ_INT(c.oldest, head - 9);
  CHECK(!c.reset);
  CHECK(c.n && c.evs[0]->seq == head - 9);
  cr_clear(&c);
  CHECK_EQ_INT(do_changes(s, &c, NULL, 1, 1000), 200);
  CHECK(c.reset);
  CHECK_EQ_INT(c.n, 0);
  CHECK_EQ_INT(c.oldest, head - 9);
  CHECK_EQ_INT(c.head, head);
  cr_clear(&c);
  CHECK_EQ_INT(do_changes(s, &c, NULL, head - 10, 1000), 200); /* wants head-9: still there */
  CHECK(!c.reset);
  CHECK_EQ_INT(c.n, 10);
  cr_clear(&c);
  CHECK_EQ_INT(do_changes(s, &c, NULL, head - 11, 1000), 200); /* wants head-10: pruned */
  CHECK(c.reset);
  cr_clear(&c);
  CHECK_EQ_INT(do_changes(s, &c, NULL, head - 5, 1000), 200);
  CHECK(!c.reset);
  CHECK_EQ_INT(c.n, 5);
  cr_clear(&c);
  /* Seqs continue after a reopen. */
  wr_t w;
  CHECK_EQ_INT(W(s, &w, STORE_CREATE, "after", "", "{}"), 201);
  CHECK_EQ_INT(w.seq, head + 1);
  wr_clear(&w);
  store_close(s);

  /* By age: everything older than 1 ms goes. */
  s = open_store(path, hub, 0, 1);
  if (!s) return;
  head++;
  CHECK_EQ_INT(store_head(s), head);
  wait_for_oldest(s, head + 1);
  CHECK_EQ_INT(do_changes(s, &c, NULL, 0, 100), 200);
  CHECK_EQ_INT(c.n, 0);
  CHECK_EQ_INT(c.oldest, head + 1);
  CHECK(!c.reset);
  cr_clear(&c);
  CHECK_EQ_INT(do_changes(s, &c, NULL, head, 100), 200);
  CHECK(!c.reset);
  cr_clear(&c);
  CHECK_EQ_INT(do_changes(s, &c, NULL, head - 1, 100), 200);
  CHECK(c.reset);
  cr_clear(&c);
  store_close(s);
}

static void close_loop(void *arg) { loop_close_handles(arg); }

/* RFC 7396 Appendix A, the examples whose target and patch are objects (a
 * document is always an object): PUT the target, PATCH, compare the client
 * part of the result with the expected document. */
static void test_merge_patch_rfc7396(store_t *s) {
  static const char *const cases[][3] = {
      {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
      {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
      {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
      {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
      {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
      {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
      {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
      {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
      {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
      {"{\"a\":\"foo\"}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
      {"{}", "{}", "{}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char id[16];
    snprintf(id, sizeof id, "rfc%zu", i);
    wr_t w;
    CHECK_EQ_INT(W(s, &w, STORE_PUT, "rfc7396", id, cases[i][0]), 201);
    wr_clear(&w);
    CHECK_EQ_INT(W(s, &w, STORE_PATCH, "rfc7396", id, cases[i][1]), 200);
    check_server_fields(w.doc, id, 2);
    json_t *got = parse(w.doc);
    json_object_del(got, "id");
    json_object_del(got, "version");
    json_object_del(got, "createdAt");
    json_object_del(got, "updatedAt");
    json_t *want = parse(cases[i][2]);
    if (!json_equal(got, want))
      fprintf(stderr, "  RFC 7396 case %zu: got %s, want %s\n", i, w.doc, cases[i][2]);
    CHECK(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    wr_clear(&w);
  }
}

int main(void) {
  log_set_level(LOG_WARN);
  char dir[] = "/tmp/herald-store-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char path[256];
  snprintf(path, sizeof path, "%s/test.db", dir);

  CHECK_EQ_INT(loop_init(&g_loop, 0), 0);
  CHECK_EQ_INT(loop_start(&g_loop), 0);
  hub_t *hub = hub_new(NULL, 0);
  hub_listen(hub, on_publish, NULL);

  store_t *s = open_store(path, hub, 0, 0);
  if (!s) return TEST_SUMMARY();
  test_crud(s);
  test_list(s);
  test_changes(s);
  test_merge_patch_rfc7396(s);
  test_concurrency(s);
  char epoch[33];
  snprintf(epoch, sizeof epoch, "%s", store_epoch(s));
  uint64_t head = store_head(s);
  test_close_drains(s, 100);
  head += 100;
  CHECK_EQ_INT(hub_head(hub), head);
  test_retention(path, hub, epoch, head);

  hub_free(hub);
  loop_post(&g_loop, close_loop, &g_loop);
  loop_join(&g_loop);
  loop_free(&g_loop);
  for (size_t i = 0; i < g_npub; i++) free(g_pub[i].json);
  free(g_pub);

  const char *suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char f[300];
    snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
    unlink(f);
  }
  if (rmdir(dir)) perror("rmdir");
  return TEST_SUMMARY();
}
