/* sqlite_hooks — the webhook registry and delivery log in SQLite.
 *
 * Tables (migration 1 -> 2 in sqlite_schema.c):
 *   webhooks(id, url, secret, filter, enabled, disabled_reason, cursor_seq,
 *            created_ms, updated_ms, failing_since_ms, reset_ms)
 *   webhook_deliveries(n, webhook_id, seq, attempt, result, status, error,
 *                      duration_ms, at_ms)  -- newest STORE_HOOK_DELIVERIES_KEPT
 *                                              per webhook, give or take
 *
 * Writes ride the writer's queue and batch transaction like document writes
 * (store__wreq_t with its hook member set): process_one() runs
 * store__hook_write() inside the request's savepoint, and the answer goes
 * out through store__hook_wdeliver(). They publish no event. The writer's
 * statements for them are prepared on first use and kept in s->hook_ws.
 *
 * A create takes the writer's head as the new webhook's cursor, inside the
 * same transaction as the insert: the webhook is owed exactly the events
 * committed after it, whatever the dispatcher was doing meanwhile.
 *
 * Reads (get, list, deliveries) run on the reader threads; they are rare
 * (management API, dispatcher start and reloads), so their statements are
 * prepared per call rather than cached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "store/store_int.h"

static const char d_not_found[] = "no such webhook";
static const char d_exists[] = "a webhook with this id already exists";

typedef enum { HOOKW_CREATE, HOOKW_UPDATE, HOOKW_DELETE, HOOKW_RECORD } hookw_kind_t;

typedef struct store__hookw {
  hookw_kind_t kind;
  store_hook_cb cb;
  char *id, *url, *secret, *filter, *reason;
  int enabled;
  store_hook_record_t *recs; /* RECORD: every string owned */
  size_t nrecs;
  store_hook_t row; /* the answer for CREATE and UPDATE */
} store__hookw_t;

typedef struct store__hook_wstmts {
  sqlite3_stmt *get, *ins, *upd, *del, *del_log, *log_ins, *log_prune, *rec;
} store__hook_wstmts_t;

#define HOOK_COLUMNS                                                                        \
  "id, url, secret, filter, enabled, disabled_reason, cursor_seq, created_ms, updated_ms, " \
  "failing_since_ms, "                                                                      \
  "reset_ms"

/* ---- rows ---------------------------------------------------------------- */

static char *col_dup(sqlite3_stmt *st, int i) {
  const char *p = (const char *)sqlite3_column_text(st, i);
  return p ? xstrndup(p, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

static void row_read(sqlite3_stmt *st, store_hook_t *h) {
  const char *id = (const char *)sqlite3_column_text(st, 0);
  snprintf(h->id, sizeof h->id, "%s", id ? id : "");
  h->url = col_dup(st, 1);
  h->secret = col_dup(st, 2);
  h->filter = col_dup(st, 3);
  h->enabled = sqlite3_column_int(st, 4) != 0;
  h->disabled_reason = col_dup(st, 5);
  int64_t c = sqlite3_column_int64(st, 6);
  h->cursor = c > 0 ? (uint64_t)c : 0;
  h->created_ms = sqlite3_column_int64(st, 7);
  h->updated_ms = sqlite3_column_int64(st, 8);
  h->failing_since_ms = sqlite3_column_int64(st, 9);
  h->reset_ms = sqlite3_column_int64(st, 10);
}

static void row_free(store_hook_t *h) {
  free(h->url);
  free(h->secret);
  free(h->filter);
  free(h->disabled_reason);
  memset(h, 0, sizeof *h);
}

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

/* ---- writer side --------------------------------------------------------- */

static int wprepare(store_t *s) {
  if (s->hook_ws) return 0;
  store__hook_wstmts_t *w = xcalloc(1, sizeof *w);
  const struct {
    sqlite3_stmt **st;
    const char *sql;
  } list[] = {
      {&w->get, "SELECT " HOOK_COLUMNS " FROM webhooks WHERE id = ?1"},
      {&w->ins,
       "INSERT INTO webhooks (id, url, secret, filter, enabled, disabled_reason, cursor_seq, created_ms, "
       "updated_ms) VALUES (?1, ?2, ?3, ?4, 1, NULL, ?5, ?6, ?6)"},
      /* ?4: -1 keep, 1 enable, 0 disable. Enabling a disabled webhook ends
       * its failing streak; the right-hand sides see the old row. */
      {&w->upd,
       "UPDATE webhooks SET url = coalesce(?2, url), "
       "filter = CASE WHEN ?3 IS NULL THEN filter ELSE json_patch(filter, ?3) END, "
       "failing_since_ms = CASE WHEN ?4 = 1 AND enabled = 0 THEN 0 ELSE failing_since_ms END, "
       "disabled_reason = CASE ?4 WHEN 1 THEN NULL WHEN 0 THEN ?5 ELSE disabled_reason END, "
       "enabled = CASE ?4 WHEN 1 THEN 1 WHEN 0 THEN 0 ELSE enabled END, updated_ms = ?6 WHERE id = ?1"},
      {&w->del, "DELETE FROM webhooks WHERE id = ?1"},
      {&w->del_log, "DELETE FROM webhook_deliveries WHERE webhook_id = ?1"},
      {&w->log_ins,
       "INSERT INTO webhook_deliveries (webhook_id, seq, attempt, result, status, error, duration_ms, at_ms) "
       "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?1)"},
      {&w->log_prune,
       "DELETE FROM webhook_deliveries WHERE webhook_id = ?1 AND n <= (SELECT n FROM webhook_deliveries "
       "WHERE webhook_id = ?1 ORDER BY n DESC LIMIT 1 OFFSET ?2)"},
      {&w->rec,
       "UPDATE webhooks SET cursor_seq = max(cursor_seq, ?2), "
       "failing_since_ms = CASE WHEN ?3 < 0 THEN failing_since_ms ELSE ?3 END, "
       "enabled = CASE WHEN ?4 IS NULL THEN enabled ELSE 0 END, "
       "disabled_reason = CASE WHEN ?4 IS NULL THEN disabled_reason ELSE ?4 END, "
       "reset_ms = CASE WHEN ?5 > 0 THEN ?5 ELSE reset_ms END WHERE id = ?1"},
  };
  s->hook_ws = w;
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
    if (store__prepare(s->wdb, list[i].sql, list[i].st, NULL, 0)) return -1;
  return 0;
}

void store__hook_wfinalize(store_t *s) {
  store__hook_wstmts_t *w = s->hook_ws;
  if (!w) return;
  sqlite3_stmt *all[] = {w->get, w->ins, w->upd, w->del, w->del_log, w->log_ins, w->log_prune, w->rec};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sqlite3_finalize(all[i]);
  free(w);
  s->hook_ws = NULL;
}

/* Steps a statement that returns no rows, then resets it and its bindings. */
static int run(store_t *s, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) store__log_db_error(s->wdb, what);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
  if (v)
    sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, i);
}

/* Loads the row into h (found) or leaves it zeroed. Returns -1 on error. */
static int wget(store_t *s, const char *id, store_hook_t *h, bool *found) {
  sqlite3_stmt *st = s->hook_ws->get;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *found = rc == SQLITE_ROW;
  if (*found) row_read(st, h);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) store__log_db_error(s->wdb, "read webhook");
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int op_create(store_t *s, store__wreq_t *r) {
  store__hookw_t *h = r->hook;
  bool found;
  if (wget(s, h->id, &h->row, &found)) return -1;
  if (found) {
    row_free(&h->row);
    r->res.status = 409, r->res.detail = d_exists;
    return 0;
  }
  sqlite3_stmt *st = s->hook_ws->ins;
  sqlite3_bind_text(st, 1, h->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, h->url, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, h->secret, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, h->filter, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, (int64_t)s->w_head);
  sqlite3_bind_int64(st, 6, time_now_ms());
  if (run(s, st, "insert webhook")) return -1;
  if (wget(s, h->id, &h->row, &found) || !found) return -1;
  r->res.status = 201;
  return 0;
}

static int op_update(store_t *s, store__wreq_t *r) {
  store__hookw_t *h = r->hook;
  sqlite3_stmt *st = s->hook_ws->upd;
  sqlite3_bind_text(st, 1, h->id, -1, SQLITE_STATIC);
  bind_text(st, 2, h->url);
  bind_text(st, 3, h->filter);
  sqlite3_bind_int(st, 4, h->enabled);
  bind_text(st, 5, h->reason);
  sqlite3_bind_int64(st, 6, time_now_ms());
  if (run(s, st, "update webhook")) return -1;
  bool found;
  if (wget(s, h->id, &h->row, &found)) return -1;
  if (!found) {
    r->res.status = 404, r->res.detail = d_not_found;
    return 0;
  }
  r->res.status = 200;
  return 0;
}

static int op_delete(store_t *s, store__wreq_t *r) {
  store__hookw_t *h = r->hook;
  sqlite3_stmt *st = s->hook_ws->del;
  sqlite3_bind_text(st, 1, h->id, -1, SQLITE_STATIC);
  if (run(s, st, "delete webhook")) return -1;
  if (sqlite3_changes(s->wdb) == 0) {
    r->res.status = 404, r->res.detail = d_not_found;
    return 0;
  }
  st = s->hook_ws->del_log;
  sqlite3_bind_text(st, 1, h->id, -1, SQLITE_STATIC);
  if (run(s, st, "delete webhook deliveries")) return -1;
  r->res.status = 204;
  return 0;
}

static int op_record(store_t *s, store__wreq_t *r) {
  store__hookw_t *h = r->hook;
  store__hook_wstmts_t *w = s->hook_ws;
  for (size_t i = 0; i < h->nrecs; i++) {
    const store_hook_record_t *rec = &h->recs[i];
    if (rec->result) {
      sqlite3_stmt *st = w->log_ins;
      sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 2, (int64_t)rec->seq);
      sqlite3_bind_int(st, 3, rec->attempt);
      sqlite3_bind_text(st, 4, rec->result, -1, SQLITE_STATIC);
      sqlite3_bind_int(st, 5, rec->status);
      bind_text(st, 6, rec->error);
      sqlite3_bind_int64(st, 7, rec->duration_ms);
      sqlite3_bind_int64(st, 8, rec->at_ms);
      if (run(s, st, "insert webhook delivery")) return -1;
      /* Trim now and then rather than on every insert: the log holds
       * between KEPT and KEPT + 16 rows per webhook, and reads ask for at
       * most KEPT. */
      if (sqlite3_changes(s->wdb) && sqlite3_last_insert_rowid(s->wdb) % 16 == 0) {
        st = w->log_prune;
        sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, STORE_HOOK_DELIVERIES_KEPT);
        if (run(s, st, "trim webhook deliveries")) return -1;
      }
    }
    if (rec->cursor || rec->failing_since_ms >= 0 || rec->disable || rec->reset) {
      sqlite3_stmt *st = w->rec;
      sqlite3_bind_text(st, 1, rec->id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 2, (int64_t)rec->cursor);
      sqlite3_bind_int64(st, 3, rec->failing_since_ms);
      bind_text(st, 4, rec->disable);
      sqlite3_bind_int64(st, 5, rec->reset ? rec->at_ms : 0);
      if (run(s, st, "update webhook state")) return -1;
    }
  }
  r->res.status = 200;
  return 0;
}

int store__hook_write(store_t *s, store__wreq_t *r) {
  if (wprepare(s)) return -1;
  switch (r->hook->kind) {
    case HOOKW_CREATE:
      return op_create(s, r);
    case HOOKW_UPDATE:
      return op_update(s, r);
    case HOOKW_DELETE:
      return op_delete(s, r);
    case HOOKW_RECORD:
      return op_record(s, r);
  }
  return -1;
}

void store__hook_wdeliver(store__wreq_t *r) {
  store__hookw_t *h = r->hook;
  if (h->cb) {
    store_hook_result_t res = {.status = r->res.status, .detail = r->res.detail};
    if (res.status == 200 || res.status == 201) res.hook = h->row;
    h->cb(r->ud, &res);
    if (res.status == 200 || res.status == 201) h->row = res.hook; /* fields the callback took are NULL */
  }
  row_free(&h->row);
  for (size_t i = 0; i < h->nrecs; i++) {
    free((char *)h->recs[i].id);
    free((char *)h->recs[i].result);
    free((char *)h->recs[i].error);
    free((char *)h->recs[i].disable);
  }
  free(h->recs);
  free(h->id);
  free(h->url);
  free(h->secret);
  free(h->filter);
  free(h->reason);
  free(h);
  r->hook = NULL;
}

static void wsubmit(store_t *s, loop_t *loop, store__hookw_t *h, void *ud) {
  store__wreq_t *r = xcalloc(1, sizeof *r);
  r->loop = loop;
  r->ud = ud;
  r->if_match = STORE_IF_MATCH_NONE;
  r->hook = h;
  store__wreq_enqueue(s, r);
}

void store_hook_create(store_t *s, loop_t *loop, const store_hook_t *h, store_hook_cb cb, void *ud) {
  store__hookw_t *w = xcalloc(1, sizeof *w);
  w->kind = HOOKW_CREATE;
  w->cb = cb;
  w->id = xstrdup(h->id);
  w->url = xstrdup(h->url ? h->url : "");
  w->secret = xstrdup(h->secret ? h->secret : "");
  w->filter = xstrdup(h->filter ? h->filter : "{}");
  wsubmit(s, loop, w, ud);
}

void store_hook_update(store_t *s, loop_t *loop, const store_hook_update_t *u, store_hook_cb cb, void *ud) {
  store__hookw_t *w = xcalloc(1, sizeof *w);
  w->kind = HOOKW_UPDATE;
  w->cb = cb;
  w->id = xstrdup(u->id ? u->id : "");
  w->url = dup_or_null(u->url);
  w->filter = dup_or_null(u->filter);
  w->enabled = u->enabled;
  w->reason = dup_or_null(u->enabled == 0 ? (u->reason ? u->reason : "disabled") : NULL);
  wsubmit(s, loop, w, ud);
}

void store_hook_delete(store_t *s, loop_t *loop, const char *id, store_hook_cb cb, void *ud) {
  store__hookw_t *w = xcalloc(1, sizeof *w);
  w->kind = HOOKW_DELETE;
  w->cb = cb;
  w->id = xstrdup(id ? id : "");
  wsubmit(s, loop, w, ud);
}

void store_hook_record(store_t *s, const store_hook_record_t *recs, size_t n) {
  if (n == 0) return;
  store__hookw_t *w = xcalloc(1, sizeof *w);
  w->kind = HOOKW_RECORD;
  w->recs = xcalloc(n, sizeof *w->recs);
  w->nrecs = n;
  for (size_t i = 0; i < n; i++) {
    w->recs[i] = recs[i];
    w->recs[i].id = xstrdup(recs[i].id ? recs[i].id : "");
    w->recs[i].result = dup_or_null(recs[i].result);
    w->recs[i].error = dup_or_null(recs[i].error);
    w->recs[i].disable = dup_or_null(recs[i].disable);
  }
  wsubmit(s, NULL, w, NULL);
}

/* ---- reader side --------------------------------------------------------- */

static void read_get(store__reader_t *rd, store__rreq_t *r) {
  store_hook_result_t *res = &r->res.hook;
  sqlite3_stmt *st = NULL;
  if (store__prepare(rd->db, "SELECT " HOOK_COLUMNS " FROM webhooks WHERE id = ?1", &st, NULL, 0)) goto fail;
  sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    row_read(st, &res->hook);
    res->status = 200;
  } else if (rc == SQLITE_DONE) {
    res->status = 404, res->detail = d_not_found;
  } else {
    store__log_db_error(rd->db, "get webhook");
    goto fail;
  }
  sqlite3_finalize(st);
  return;
fail:
  sqlite3_finalize(st);
  res->status = 500, res->detail = store__detail_db;
}

static void read_list(store__reader_t *rd, store__rreq_t *r) {
  store_hook_list_result_t *res = &r->res.hooks;
  sqlite3_stmt *st = NULL;
  size_t cap = 0;
  if (store__prepare(rd->db, "SELECT " HOOK_COLUMNS " FROM webhooks ORDER BY created_ms, id", &st, NULL, 0))
    goto fail;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (res->nhooks == cap) {
      cap = cap ? 2 * cap : 16;
      res->hooks = xrealloc(res->hooks, cap * sizeof *res->hooks);
    }
    store_hook_t *h = &res->hooks[res->nhooks++];
    memset(h, 0, sizeof *h);
    row_read(st, h);
  }
  if (rc != SQLITE_DONE) {
    store__log_db_error(rd->db, "list webhooks");
    goto fail;
  }
  sqlite3_finalize(st);
  res->status = 200;
  return;
fail:
  sqlite3_finalize(st);
  for (size_t i = 0; i < res->nhooks; i++) row_free(&res->hooks[i]);
  free(res->hooks);
  res->hooks = NULL;
  res->nhooks = 0;
  res->status = 500, res->detail = store__detail_db;
}

static void read_deliveries(store__reader_t *rd, store__rreq_t *r) {
  store_hook_deliveries_result_t *res = &r->res.deliveries;
  sqlite3_stmt *st = NULL;
  int limit = r->limit < 1 || r->limit > STORE_HOOK_DELIVERIES_KEPT ? STORE_HOOK_DELIVERIES_KEPT : r->limit;
  if (store__prepare(rd->db, "SELECT 1 FROM webhooks WHERE id = ?1", &st, NULL, 0)) goto fail;
  sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  st = NULL;
  if (rc == SQLITE_DONE) {
    res->status = 404, res->detail = d_not_found;
    return;
  }
  if (rc != SQLITE_ROW) goto fail;
  if (store__prepare(rd->db,
                     "SELECT seq, attempt, result, status, error, duration_ms, at_ms FROM webhook_deliveries "
                     "WHERE webhook_id = ?1 ORDER BY n DESC LIMIT ?2",
                     &st, NULL, 0))
    goto fail;
  sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, limit);
  res->items = xcalloc((size_t)limit, sizeof *res->items);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    store_hook_delivery_t *d = &res->items[res->nitems++];
    int64_t seq = sqlite3_column_int64(st, 0);
    d->seq = seq > 0 ? (uint64_t)seq : 0;
    d->attempt = sqlite3_column_int(st, 1);
    const char *result = (const char *)sqlite3_column_text(st, 2);
    snprintf(d->result, sizeof d->result, "%s", result ? result : "");
    d->status = sqlite3_column_int(st, 3);
    d->error = col_dup(st, 4);
    d->duration_ms = sqlite3_column_int64(st, 5);
    d->at_ms = sqlite3_column_int64(st, 6);
  }
  if (rc != SQLITE_DONE) {
    store__log_db_error(rd->db, "webhook deliveries");
    goto fail;
  }
  sqlite3_finalize(st);
  res->status = 200;
  return;
fail:
  sqlite3_finalize(st);
  for (size_t i = 0; i < res->nitems; i++) free(res->items[i].error);
  free(res->items);
  res->items = NULL;
  res->nitems = 0;
  res->status = 500, res->detail = store__detail_db;
}

void store__hook_read(store__reader_t *rd, store__rreq_t *r) {
  switch (r->kind) {
    case STORE__HOOK_GET:
      read_get(rd, r);
      break;
    case STORE__HOOK_LIST:
      read_list(rd, r);
      break;
    case STORE__HOOK_DELIVERIES:
      read_deliveries(rd, r);
      break;
    default:
      break;
  }
}

void store__hook_rfail(store__rreq_t *r, int status, const char *detail) {
  switch (r->kind) {
    case STORE__HOOK_GET:
      r->res.hook.status = status, r->res.hook.detail = detail;
      break;
    case STORE__HOOK_LIST:
      r->res.hooks.status = status, r->res.hooks.detail = detail;
      break;
    case STORE__HOOK_DELIVERIES:
      r->res.deliveries.status = status, r->res.deliveries.detail = detail;
      break;
    default:
      break;
  }
}

void store__hook_rdeliver(store__rreq_t *r) {
  switch (r->kind) {
    case STORE__HOOK_GET:
      if (r->cb.hook) r->cb.hook(r->ud, &r->res.hook);
      row_free(&r->res.hook.hook);
      break;
    case STORE__HOOK_LIST:
      if (r->cb.hooks) r->cb.hooks(r->ud, &r->res.hooks);
      for (size_t i = 0; i < r->res.hooks.nhooks; i++) row_free(&r->res.hooks.hooks[i]);
      free(r->res.hooks.hooks);
      break;
    case STORE__HOOK_DELIVERIES:
      if (r->cb.deliveries) r->cb.deliveries(r->ud, &r->res.deliveries);
      for (size_t i = 0; i < r->res.deliveries.nitems; i++) free(r->res.deliveries.items[i].error);
      free(r->res.deliveries.items);
      break;
    default:
      break;
  }
}

static store__rreq_t *rreq_new(store__rkind_t kind, loop_t *loop, void *ud) {
  store__rreq_t *r = xcalloc(1, sizeof *r);
  r->kind = kind;
  r->loop = loop;
  r->ud = ud;
  return r;
}

void store_hook_get(store_t *s, loop_t *loop, const char *id, store_hook_cb cb, void *ud) {
  store__rreq_t *r = rreq_new(STORE__HOOK_GET, loop, ud);
  r->cb.hook = cb;
  r->id = xstrdup(id ? id : "");
  store__rreq_enqueue(s, r);
}

void store_hook_list(store_t *s, loop_t *loop, store_hook_list_cb cb, void *ud) {
  store__rreq_t *r = rreq_new(STORE__HOOK_LIST, loop, ud);
  r->cb.hooks = cb;
  store__rreq_enqueue(s, r);
}

void store_hook_deliveries(store_t *s, loop_t *loop, const char *id, int limit, store_hook_deliveries_cb cb,
                           void *ud) {
  store__rreq_t *r = rreq_new(STORE__HOOK_DELIVERIES, loop, ud);
  r->cb.deliveries = cb;
  r->id = xstrdup(id ? id : "");
  r->limit = limit;
  store__rreq_enqueue(s, r);
}
