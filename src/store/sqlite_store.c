/* sqlite_store — the SQLite store's lifecycle and its two request queues.
 *
 *   any thread                 store threads
 *   store_write() ──wq──▶ writer (one): BEGIN IMMEDIATE … COMMIT, publish
 *   store_get()/list()/
 *   collections()/changes() ──rq──▶ readers (N): one read transaction each
 *        ◀── loop_post(callback) ──┘
 *
 * This file opens the database (sqlite_schema.c migrates it), starts and
 * joins the threads, and turns each public request into an owned copy on a
 * queue. Both queues are bounded (STORE__QUEUE_MAX): past the bound, and
 * after store_close() has begun, a request is answered 503 at once through
 * its callback, never dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "store/store_int.h"

const char store__detail_closing[] = "the store is shutting down";
const char store__detail_db[] = "database error";
const char store__detail_busy[] = "the store is overloaded, retry later";

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

/* ---- lifecycle ----------------------------------------------------------- */

static void destroy(store_t *s) {
  if (s->readers) {
    for (int i = 0; i < s->nreaders; i++) store__reader_close(&s->readers[i]);
    free(s->readers);
  }
  store__writer_finalize(s);
  if (s->wdb && sqlite3_close(s->wdb) != SQLITE_OK) store__log_db_error(s->wdb, "close");
  pthread_mutex_destroy(&s->wmu);
  pthread_cond_destroy(&s->wcond);
  pthread_mutex_destroy(&s->rmu);
  pthread_cond_destroy(&s->rcond);
  free(s->path);
  free(s);
}

/* Stops and joins whichever threads were started. Queued work is finished
 * first: the writer drains its queue, the readers answer theirs. */
static void stop_threads(store_t *s) {
  pthread_mutex_lock(&s->wmu);
  s->wstop = true;
  pthread_cond_signal(&s->wcond);
  pthread_mutex_unlock(&s->wmu);
  pthread_mutex_lock(&s->rmu);
  s->rstop = true;
  pthread_cond_broadcast(&s->rcond);
  pthread_mutex_unlock(&s->rmu);
  if (s->writer_started) pthread_join(s->writer, NULL);
  s->writer_started = false;
  for (int i = 0; s->readers && i < s->nreaders; i++) {
    if (s->readers[i].started) pthread_join(s->readers[i].thread, NULL);
    s->readers[i].started = false;
  }
}

int store_open(const store_config_t *cfg, hub_t *hub, store_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (errlen) err[0] = '\0';
  if (!cfg || !cfg->path || !*cfg->path) {
    snprintf(err, errlen, "no database path");
    return -1;
  }
  store_t *s = xcalloc(1, sizeof *s);
  s->path = xstrdup(cfg->path);
  s->nreaders = cfg->readers > 0 ? cfg->readers : 2;
  if (s->nreaders > 64) s->nreaders = 64;
  s->retain_events = cfg->retain_events > 0 ? cfg->retain_events : 0;
  s->retain_for_ms = cfg->retain_for_ms > 0 ? cfg->retain_for_ms : 0;
  s->prune_interval_ms = cfg->prune_interval_ms > 0 ? cfg->prune_interval_ms : 1000;
  s->hub = hub;
  pthread_mutex_init(&s->wmu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->wcond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&s->rmu, NULL);
  pthread_cond_init(&s->rcond, NULL);

  int rc = -1;
  uint64_t head = 0;
  if (store__conn_open(s->path, false, &s->wdb, err, errlen)) goto out;
  if (store__schema_init(s->wdb, s->epoch, &head, &s->pruned_upto, err, errlen)) goto out;
  s->w_head = head;
  atomic_store(&s->head, head);
  if (hub) hub_set_head(hub, head);
  if (store__writer_prepare(s, err, errlen)) goto out;
  s->readers = xcalloc((size_t)s->nreaders, sizeof *s->readers);
  for (int i = 0; i < s->nreaders; i++)
    if (store__reader_open(s, &s->readers[i], err, errlen)) goto out;

  int e = pthread_create(&s->writer, NULL, store__writer_main, s);
  if (e) {
    snprintf(err, errlen, "start writer thread: %s", strerror(e));
    goto out;
  }
  s->writer_started = true;
  for (int i = 0; i < s->nreaders; i++) {
    e = pthread_create(&s->readers[i].thread, NULL, store__reader_main, &s->readers[i]);
    if (e) {
      snprintf(err, errlen, "start reader thread: %s", strerror(e));
      goto out;
    }
    s->readers[i].started = true;
  }
  LOG_I("store: opened %s (epoch %s, head %llu, %d readers)", s->path, s->epoch, (unsigned long long)head,
        s->nreaders);
  *out = s;
  rc = 0;
out:
  if (rc) {
    stop_threads(s);
    destroy(s);
  }
  return rc;
}

void store_close(store_t *s) {
  if (!s) return;
  stop_threads(s);
  LOG_I("store: closed %s at head %llu", s->path, (unsigned long long)atomic_load(&s->head));
  destroy(s);
}

uint64_t store_head(store_t *s) { return atomic_load_explicit(&s->head, memory_order_acquire); }

const char *store_epoch(store_t *s) { return s->epoch; }

/* ---- writes -------------------------------------------------------------- */

static const char *check_write(const store_write_t *w) {
  if (!w->collection || !*w->collection) return "missing collection";
  if (w->id && strlen(w->id) > 128) return "id too long";
  switch (w->kind) {
    case STORE_CREATE:
    case STORE_PUT:
    case STORE_PATCH:
      if (!w->body || !w->body_len) return "missing body";
      if (w->kind != STORE_CREATE && (!w->id || !*w->id)) return "missing id";
      break;
    case STORE_DELETE:
      if (!w->id || !*w->id) return "missing id";
      break;
    case STORE_EVENT:
      if (!w->body || !w->body_len) return "missing data";
      if (!w->type || !*w->type) return "missing type";
      break;
    default:
      return "unknown write kind";
  }
  return NULL;
}

void store_write(store_t *s, loop_t *loop, const store_write_t *w, store_write_cb cb, void *ud) {
  store__wreq_t *r = xcalloc(1, sizeof *r);
  r->kind = w->kind;
  r->loop = loop;
  r->cb = cb;
  r->ud = ud;
  r->if_match = w->if_match;
  r->if_none_match_any = w->if_none_match_any;
  const char *bad = check_write(w);
  if (bad) {
    r->res.status = 400;
    r->res.detail = bad;
    store__wreq_finish(r);
    return;
  }
  r->collection = xstrdup(w->collection);
  r->id = xstrdup(w->id ? w->id : "");
  r->type = dup_or_null(w->type);
  if (w->body) {
    r->body = xstrndup(w->body, w->body_len);
    r->body_len = w->body_len;
  }
  if (w->idem_key && *w->idem_key) {
    r->idem_key = xstrdup(w->idem_key);
    r->idem_fp = xstrdup(w->idem_fingerprint ? w->idem_fingerprint : "");
  }
  store__wreq_enqueue(s, r);
}

void store__wreq_enqueue(store_t *s, store__wreq_t *r) {
  /* Once queued, r belongs to the writer and may already be freed when the
   * lock is released: only the local verdict is looked at afterwards. */
  const char *refused = NULL;
  pthread_mutex_lock(&s->wmu);
  if (s->wstop) {
    refused = store__detail_closing;
  } else if (s->wq_len >= STORE__QUEUE_MAX) {
    refused = store__detail_busy;
  } else {
    if (s->wq_tail)
      s->wq_tail->next = r;
    else
      s->wq_head = r;
    s->wq_tail = r;
    s->wq_len++;
    pthread_cond_signal(&s->wcond);
  }
  pthread_mutex_unlock(&s->wmu);
  if (refused) {
    r->res.status = 503;
    r->res.detail = refused;
    store__wreq_finish(r);
  }
}

/* ---- reads --------------------------------------------------------------- */

void store__rreq_enqueue(store_t *s, store__rreq_t *r) {
  int status = 0;
  const char *detail = NULL;
  pthread_mutex_lock(&s->rmu);
  if (s->rstop) {
    status = 503;
    detail = store__detail_closing;
  } else if (s->rq_len >= STORE__QUEUE_MAX) {
    status = 503;
    detail = store__detail_busy;
  } else {
    if (s->rq_tail)
      s->rq_tail->next = r;
    else
      s->rq_head = r;
    s->rq_tail = r;
    s->rq_len++;
    pthread_cond_signal(&s->rcond);
  }
  pthread_mutex_unlock(&s->rmu);
  if (!status) return;
  /* status and detail sit at the same place in every result type, but
   * setting them through the right member keeps that an implementation
   * detail. */
  switch (r->kind) {
    case STORE__GET:
      r->res.doc.status = status, r->res.doc.detail = detail;
      break;
    case STORE__LIST:
      r->res.list.status = status, r->res.list.detail = detail;
      break;
    case STORE__COLLECTIONS:
      r->res.colls.status = status, r->res.colls.detail = detail;
      break;
    case STORE__CHANGES:
      r->res.changes.status = status, r->res.changes.detail = detail;
      break;
    case STORE__HOOK_GET:
    case STORE__HOOK_LIST:
    case STORE__HOOK_DELIVERIES:
      store__hook_rfail(r, status, detail);
      break;
  }
  store__rreq_finish(r);
}

static store__rreq_t *rreq_new(store__rkind_t kind, loop_t *loop, void *ud) {
  store__rreq_t *r = xcalloc(1, sizeof *r);
  r->kind = kind;
  r->loop = loop;
  r->ud = ud;
  return r;
}

void store_get(store_t *s, loop_t *loop, const char *collection, const char *id, store_doc_cb cb, void *ud) {
  store__rreq_t *r = rreq_new(STORE__GET, loop, ud);
  r->cb.doc = cb;
  r->collection = xstrdup(collection ? collection : "");
  r->id = xstrdup(id ? id : "");
  store__rreq_enqueue(s, r);
}

void store_list(store_t *s, loop_t *loop, const store_list_query_t *q, store_list_cb cb, void *ud) {
  store__rreq_t *r = rreq_new(STORE__LIST, loop, ud);
  r->cb.list = cb;
  r->collection = xstrdup(q->collection ? q->collection : "");
  r->limit = q->limit;
  r->after = dup_or_null(q->after);
  r->sort_field = dup_or_null(q->sort_field);
  r->sort_desc = q->sort_desc;
  if (q->nfilters) {
    r->filters = xcalloc(q->nfilters, sizeof *r->filters);
    r->nfilters = q->nfilters;
    for (size_t i = 0; i < q->nfilters; i++) {
      r->filters[i].field = xstrdup(q->filters[i].field ? q->filters[i].field : "");
      r->filters[i].value = xstrdup(q->filters[i].value ? q->filters[i].value : "");
    }
  }
  store__rreq_enqueue(s, r);
}

void store_collections(store_t *s, loop_t *loop, store_collections_cb cb, void *ud) {
  store__rreq_t *r = rreq_new(STORE__COLLECTIONS, loop, ud);
  r->cb.colls = cb;
  store__rreq_enqueue(s, r);
}

static char **dup_list(char *const *src, size_t n) {
  if (!src) return NULL;
  char **dst = xcalloc(n ? n : 1, sizeof *dst);
  for (size_t i = 0; i < n; i++) dst[i] = xstrdup(src[i] ? src[i] : "");
  return dst;
}

void store_changes(store_t *s, loop_t *loop, const filter_t *filter, uint64_t since, int limit,
                   store_changes_cb cb, void *ud) {
  store__rreq_t *r = rreq_new(STORE__CHANGES, loop, ud);
  r->cb.changes = cb;
  r->since = since;
  r->limit = limit;
  if (filter) {
    r->collections = dup_list(filter->collections, filter->ncollections);
    r->ncollections = filter->collections ? filter->ncollections : 0;
    r->types = dup_list(filter->types, filter->ntypes);
    r->ntypes = filter->types ? filter->ntypes : 0;
    r->id = dup_or_null(filter->id);
  }
  store__rreq_enqueue(s, r);
}
