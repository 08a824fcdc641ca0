/* sqlite_write — the writer thread: group commit, publish, answer.
 *
 * One thread owns the write connection. It sleeps on the write queue and
 * wakes for work or for the pruning timer:
 *
 *   take ≤ STORE__BATCH_MAX requests
 *   BEGIN IMMEDIATE
 *     per request: SAVEPOINT op; run it; on success insert its event row
 *                  with seq = head+1; RELEASE op (ROLLBACK TO op on error)
 *   UPDATE meta head; COMMIT
 *   head = new head; hub_publish(events in seq order); answer each request
 *
 * A request that fails (4xx or a SQLite error) leaves no trace thanks to its
 * savepoint; the others in the batch still commit. If COMMIT itself fails,
 * or SQLite rolled the whole transaction back, every request in the batch is
 * answered 500 and nothing is published.
 *
 * Documents are stored with the server fields first, spliced as text:
 *   {"id":…,"version":N,"createdAt":…,"updatedAt":…, <client fields>}
 * The client part is normalised by SQLite's json_remove(), which drops any
 * server field a caller let through and minifies, so the four server fields
 * appear exactly once and first. No JSON library runs on this thread.
 *
 * Between batches, at most every prune_interval_ms, a bounded pruning pass
 * deletes a prefix of the event log (by count and age) and expired
 * idempotency records, and records pruned_upto in meta. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/id.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "store/store_int.h"

static const char d_not_found[] = "document not found";
static const char d_exists[] = "a document with this id already exists";
static const char d_mismatch[] = "If-Match does not match the current version";
static const char d_match_missing[] = "If-Match given but the document does not exist";
static const char d_none_match[] = "If-None-Match: * given but the document exists";
static const char d_idem[] = "Idempotency-Key reused with a different request";
static const char d_not_object[] = "body must be a JSON object";
static const char d_malformed[] = "malformed JSON";
static const char d_patch_object[] = "the patched document is not a JSON object";
static const char d_commit[] = "database error: commit failed";

/* ---- statements ---------------------------------------------------------- */

typedef struct stmt_def {
  sqlite3_stmt **st;
  const char *sql;
} stmt_def_t;

#define NSTMTS 20
_Static_assert(sizeof(store__wstmts_t) == NSTMTS * sizeof(sqlite3_stmt *),
               "stmt_table must list every statement");

/* The writer's statements and their SQL, in one table for prepare and
 * finalize. */
static void stmt_table(store__wstmts_t *w, stmt_def_t list[NSTMTS]) {
  const stmt_def_t defs[NSTMTS] = {
      {&w->begin, "BEGIN IMMEDIATE"},
      {&w->commit, "COMMIT"},
      {&w->rollback, "ROLLBACK"},
      {&w->savepoint, "SAVEPOINT op"},
      {&w->release, "RELEASE op"},
      {&w->rollback_to, "ROLLBACK TO op"},
      {&w->doc_get, "SELECT version, created_at, body FROM documents WHERE collection = ?1 AND id = ?2"},
      {&w->doc_ins,
       "INSERT INTO documents (collection, id, version, created_at, updated_at, body) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
      {&w->doc_upd,
       "UPDATE documents SET version = ?3, updated_at = ?4, body = ?5 WHERE collection = ?1 AND id = ?2"},
      {&w->doc_del, "DELETE FROM documents WHERE collection = ?1 AND id = ?2"},
      {&w->ev_ins,
       "INSERT INTO events (seq, ts, collection, type, id, version, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
       "?7)"},
      {&w->meta_set, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)"},
      {&w->idem_get,
       "SELECT fingerprint, status, id, version, doc, seq FROM idempotency WHERE key = ?1 AND created_ms > "
       "?2"},
      {&w->idem_put,
       "INSERT OR REPLACE INTO idempotency (key, fingerprint, status, id, version, doc, seq, created_ms) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      {&w->idem_expire,
       "DELETE FROM idempotency WHERE key IN "
       "(SELECT key FROM idempotency WHERE created_ms <= ?1 ORDER BY created_ms LIMIT ?2)"},
      /* Type of a JSON text (NULL if malformed), and the object without the
       * server-owned fields, minified. */
      {&w->is_object,
       "SELECT CASE WHEN json_valid(?1) THEN json_type(?1) END, "
       "CASE WHEN json_valid(?1) AND json_type(?1) = 'object' "
       "THEN json_remove(?1, '$.id', '$.version', '$.createdAt', '$.updatedAt') END"},
      {&w->patch,
       "SELECT json_type(p), json_remove(p, '$.id', '$.version', '$.createdAt', '$.updatedAt') "
       "FROM (SELECT json_patch(?1, ?2) AS p)"},
      {&w->oldest, "SELECT min(seq) FROM events"},
      {&w->first_young,
       "SELECT seq FROM events WHERE seq > ?1 AND seq <= ?2 AND ts >= ?3 ORDER BY seq LIMIT 1"},
      {&w->prune, "DELETE FROM events WHERE seq <= ?1"},
  };
  memcpy(list, defs, sizeof defs);
}

int store__writer_prepare(store_t *s, char *err, size_t errlen) {
  stmt_def_t list[NSTMTS];
  stmt_table(&s->ws, list);
  for (size_t i = 0; i < NSTMTS; i++)
    if (store__prepare(s->wdb, list[i].sql, list[i].st, err, errlen)) return -1;
  return 0;
}

void store__writer_finalize(store_t *s) {
  stmt_def_t list[NSTMTS];
  stmt_table(&s->ws, list);
  for (size_t i = 0; i < NSTMTS; i++) {
    sqlite3_finalize(*list[i].st);
    *list[i].st = NULL;
  }
  store__hook_wfinalize(s);
}

/* ---- answering ----------------------------------------------------------- */

static void wreq_deliver(void *arg) {
  store__wreq_t *r = arg;
  if (r->hook)
    store__hook_wdeliver(r);
  else if (r->cb)
    r->cb(r->ud, &r->res);
  free(r->res.doc);
  free(r->collection);
  free(r->id);
  free(r->type);
  free(r->body);
  free(r->idem_key);
  free(r->idem_fp);
  free(r);
}

void store__wreq_finish(store__wreq_t *r) {
  if (r->loop)
    loop_post(r->loop, wreq_deliver, r);
  else
    wreq_deliver(r);
}

/* ---- small SQLite helpers ------------------------------------------------ */

/* Runs a statement that returns no rows and resets it. */
static int run(sqlite3 *db, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) store__log_db_error(db, what);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_str(sqlite3_stmt *st, int i, const char *s) {
  sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static char *column_dup(sqlite3_stmt *st, int i, size_t *len) {
  const char *p = (const char *)sqlite3_column_text(st, i);
  size_t n = (size_t)sqlite3_column_bytes(st, i);
  if (len) *len = n;
  return p ? xstrndup(p, n) : NULL;
}

/* ---- documents ----------------------------------------------------------- */

typedef struct cur_doc {
  bool found;
  int64_t version;
  char created[TIME_RFC3339_LEN + 8];
  char *body; /* only when asked for */
  size_t body_len;
} cur_doc_t;

static int doc_load(store_t *s, store__wreq_t *r, bool want_body, cur_doc_t *d) {
  sqlite3_stmt *st = s->ws.doc_get;
  memset(d, 0, sizeof *d);
  bind_str(st, 1, r->collection);
  bind_str(st, 2, r->res.id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    d->found = true;
    d->version = sqlite3_column_int64(st, 0);
    const char *c = (const char *)sqlite3_column_text(st, 1);
    snprintf(d->created, sizeof d->created, "%s", c ? c : "");
    if (want_body) d->body = column_dup(st, 2, &d->body_len);
  } else if (rc != SQLITE_DONE) {
    store__log_db_error(s->wdb, "read document");
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Splices the stored form: server fields, then the members of obj (a
 * minified JSON object text without server fields). */
static char *doc_build(const char *id, int64_t version, const char *created, const char *updated,
                       const char *obj, size_t obj_len, size_t *out_len) {
  buf_t b = BUF_INIT;
  buf_reserve(&b, obj_len + 128);
  buf_puts(&b, "{\"id\":");
  buf_put_json_str(&b, id, strlen(id));
  buf_puts(&b, ",\"version\":");
  buf_put_i64(&b, version);
  buf_puts(&b, ",\"createdAt\":\"");
  buf_puts(&b, created);
  buf_puts(&b, "\",\"updatedAt\":\"");
  buf_puts(&b, updated);
  buf_putc(&b, '"');
  /* obj is "{}" or "{member,...}" as json_remove renders it. */
  if (obj_len > 2) {
    buf_putc(&b, ',');
    buf_append(&b, obj + 1, obj_len - 1);
  } else {
    buf_putc(&b, '}');
  }
  return buf_detach(&b, out_len);
}

/* Checks that body is a JSON object and returns its client members
 * (minified, server fields removed) in *obj. Returns -1 on SQLite error; on
 * bad input sets the 400 result and returns 0 with *obj NULL. */
static int body_object(store_t *s, store__wreq_t *r, char **obj, size_t *obj_len) {
  sqlite3_stmt *st = s->ws.is_object;
  *obj = NULL;
  sqlite3_bind_text(st, 1, r->body, (int)r->body_len, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *type = (const char *)sqlite3_column_text(st, 0);
    if (!type) {
      r->res.status = 400, r->res.detail = d_malformed;
    } else if (strcmp(type, "object") != 0) {
      r->res.status = 400, r->res.detail = d_not_object;
    } else {
      *obj = column_dup(st, 1, obj_len);
    }
  } else {
    store__log_db_error(s->wdb, "check body");
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW ? 0 : -1;
}

static int doc_insert(store_t *s, store__wreq_t *r, const char *created, const char *ts) {
  sqlite3_stmt *st = s->ws.doc_ins;
  bind_str(st, 1, r->collection);
  bind_str(st, 2, r->res.id);
  sqlite3_bind_int64(st, 3, r->res.version);
  bind_str(st, 4, created);
  bind_str(st, 5, ts);
  sqlite3_bind_text(st, 6, r->res.doc, (int)r->res.doc_len, SQLITE_STATIC);
  return run(s->wdb, st, "insert document");
}

static int doc_update(store_t *s, store__wreq_t *r, const char *ts) {
  sqlite3_stmt *st = s->ws.doc_upd;
  bind_str(st, 1, r->collection);
  bind_str(st, 2, r->res.id);
  sqlite3_bind_int64(st, 3, r->res.version);
  bind_str(st, 4, ts);
  sqlite3_bind_text(st, 5, r->res.doc, (int)r->res.doc_len, SQLITE_STATIC);
  return run(s->wdb, st, "update document");
}

static void set_change(store__wreq_t *r, int status, const char *ev_type) {
  r->res.status = status;
  r->ev_type = ev_type;
  r->ev_data = r->res.doc;
  r->ev_data_len = r->res.doc_len;
}

/* ---- operations ---------------------------------------------------------- */
/* Each returns 0 with r->res.status set (and r->ev_type when the request
 * changed something), or -1 on a SQLite error. */

static int op_create(store_t *s, store__wreq_t *r, const char *ts) {
  char *obj = NULL;
  size_t obj_len = 0;
  cur_doc_t d;
  int rc = -1;
  if (!*r->id)
    id_uuidv7(r->res.id);
  else
    snprintf(r->res.id, sizeof r->res.id, "%s", r->id);
  if (body_object(s, r, &obj, &obj_len)) goto out;
  if (!obj) return 0;
  if (doc_load(s, r, false, &d)) goto out;
  if (d.found) {
    r->res.status = 409, r->res.detail = d_exists;
    rc = 0;
    goto out;
  }
  r->res.version = 1;
  r->res.doc = doc_build(r->res.id, 1, ts, ts, obj, obj_len, &r->res.doc_len);
  if (doc_insert(s, r, ts, ts)) goto out;
  set_change(r, 201, "created");
  rc = 0;
out:
  free(obj);
  return rc;
}

/* The shared tail of PUT over an existing document and PATCH: the next
 * version with the new client fields, createdAt kept; "updated". */
static int doc_replace(store_t *s, store__wreq_t *r, const cur_doc_t *d, const char *ts, const char *obj,
                       size_t obj_len) {
  r->res.version = d->version + 1;
  r->res.doc = doc_build(r->res.id, r->res.version, d->created, ts, obj, obj_len, &r->res.doc_len);
  if (doc_update(s, r, ts)) return -1;
  set_change(r, 200, "updated");
  return 0;
}

static int op_put(store_t *s, store__wreq_t *r, const char *ts) {
  char *obj = NULL;
  size_t obj_len = 0;
  cur_doc_t d;
  int rc = -1;
  snprintf(r->res.id, sizeof r->res.id, "%s", r->id);
  if (body_object(s, r, &obj, &obj_len)) goto out;
  if (!obj) return 0;
  if (doc_load(s, r, false, &d)) goto out;
  rc = 0;
  if (d.found && r->if_none_match_any) {
    r->res.status = 412, r->res.detail = d_none_match;
  } else if (!d.found && r->if_match != STORE_IF_MATCH_NONE) {
    r->res.status = 412, r->res.detail = d_match_missing;
  } else if (d.found && r->if_match >= 0 && r->if_match != d.version) {
    r->res.status = 412, r->res.detail = d_mismatch;
  } else if (!d.found) {
    r->res.version = 1;
    r->res.doc = doc_build(r->res.id, 1, ts, ts, obj, obj_len, &r->res.doc_len);
    if (doc_insert(s, r, ts, ts))
      rc = -1;
    else
      set_change(r, 201, "created");
  } else {
    rc = doc_replace(s, r, &d, ts, obj, obj_len);
  }
out:
  free(obj);
  return rc;
}

static int op_patch(store_t *s, store__wreq_t *r, const char *ts) {
  cur_doc_t d;
  char *obj = NULL;
  size_t obj_len = 0;
  int rc = -1;
  snprintf(r->res.id, sizeof r->res.id, "%s", r->id);
  if (doc_load(s, r, true, &d)) goto out;
  rc = 0;
  if (!d.found) {
    if (r->if_match != STORE_IF_MATCH_NONE)
      r->res.status = 412, r->res.detail = d_match_missing;
    else
      r->res.status = 404, r->res.detail = d_not_found;
    goto out;
  }
  if (r->if_match >= 0 && r->if_match != d.version) {
    r->res.status = 412, r->res.detail = d_mismatch;
    goto out;
  }
  /* Validate the patch first: json_patch raises an error on bad JSON. */
  sqlite3_stmt *st = s->ws.is_object;
  sqlite3_bind_text(st, 1, r->body, (int)r->body_len, SQLITE_STATIC);
  int src = sqlite3_step(st);
  bool valid = src == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
  if (src != SQLITE_ROW) store__log_db_error(s->wdb, "check patch");
  sqlite3_reset(st);
  if (src != SQLITE_ROW) {
    rc = -1;
    goto out;
  }
  if (!valid) {
    r->res.status = 400, r->res.detail = d_malformed;
    goto out;
  }
  st = s->ws.patch;
  sqlite3_bind_text(st, 1, d.body, (int)d.body_len, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, r->body, (int)r->body_len, SQLITE_STATIC);
  src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    const char *type = (const char *)sqlite3_column_text(st, 0);
    if (type && strcmp(type, "object") == 0) obj = column_dup(st, 1, &obj_len);
  } else {
    store__log_db_error(s->wdb, "json_patch");
  }
  sqlite3_reset(st);
  if (src != SQLITE_ROW) {
    rc = -1;
    goto out;
  }
  if (!obj) {
    r->res.status = 400, r->res.detail = d_patch_object;
    goto out;
  }
  rc = doc_replace(s, r, &d, ts, obj, obj_len);
out:
  free(d.body);
  free(obj);
  return rc;
}

static int op_delete(store_t *s, store__wreq_t *r) {
  cur_doc_t d;
  snprintf(r->res.id, sizeof r->res.id, "%s", r->id);
  if (doc_load(s, r, false, &d)) return -1;
  if (!d.found) {
    if (r->if_match != STORE_IF_MATCH_NONE)
      r->res.status = 412, r->res.detail = d_match_missing;
    else
      r->res.status = 404, r->res.detail = d_not_found;
    return 0;
  }
  if (r->if_match >= 0 && r->if_match != d.version) {
    r->res.status = 412, r->res.detail = d_mismatch;
    return 0;
  }
  sqlite3_stmt *st = s->ws.doc_del;
  bind_str(st, 1, r->collection);
  bind_str(st, 2, r->res.id);
  if (run(s->wdb, st, "delete document")) return -1;
  r->res.version = d.version + 1;
  set_change(r, 204, "deleted");
  r->ev_data = NULL;
  r->ev_data_len = 0;
  return 0;
}

static int op_event(store_t *s, store__wreq_t *r) {
  sqlite3_stmt *st = s->ws.is_object;
  sqlite3_bind_text(st, 1, r->body, (int)r->body_len, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  bool valid = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
  if (rc != SQLITE_ROW) store__log_db_error(s->wdb, "check event data");
  sqlite3_reset(st);
  if (rc != SQLITE_ROW) return -1;
  if (!valid) {
    r->res.status = 400, r->res.detail = d_malformed;
    return 0;
  }
  r->res.id[0] = '\0';
  r->res.version = 0;
  r->res.status = 202;
  r->ev_type = r->type;
  r->ev_data = r->body;
  r->ev_data_len = r->body_len;
  return 0;
}

/* ---- idempotency --------------------------------------------------------- */

/* Returns 1 when the request was answered from its record (replay or 422),
 * 0 when it must run, -1 on error. */
static int idem_check(store_t *s, store__wreq_t *r, int64_t now_ms) {
  sqlite3_stmt *st = s->ws.idem_get;
  bind_str(st, 1, r->idem_key);
  sqlite3_bind_int64(st, 2, now_ms - STORE__IDEM_TTL_MS);
  int rc = sqlite3_step(st);
  int out = 0;
  if (rc == SQLITE_ROW) {
    const char *fp = (const char *)sqlite3_column_text(st, 0);
    if (!fp || strcmp(fp, r->idem_fp) != 0) {
      r->res.status = 422, r->res.detail = d_idem;
    } else {
      r->res.status = sqlite3_column_int(st, 1);
      const char *id = (const char *)sqlite3_column_text(st, 2);
      snprintf(r->res.id, sizeof r->res.id, "%s", id ? id : "");
      r->res.version = sqlite3_column_int64(st, 3);
      r->res.doc = column_dup(st, 4, &r->res.doc_len);
      r->res.seq = (uint64_t)sqlite3_column_int64(st, 5);
      r->res.replayed = true;
    }
    out = 1;
  } else if (rc != SQLITE_DONE) {
    store__log_db_error(s->wdb, "read idempotency record");
    out = -1;
  }
  sqlite3_reset(st);
  return out;
}

static int idem_record(store_t *s, store__wreq_t *r, int64_t now_ms) {
  sqlite3_stmt *st = s->ws.idem_put;
  bind_str(st, 1, r->idem_key);
  bind_str(st, 2, r->idem_fp);
  sqlite3_bind_int(st, 3, r->res.status);
  bind_str(st, 4, r->res.id);
  sqlite3_bind_int64(st, 5, r->res.version);
  if (r->res.doc)
    sqlite3_bind_text(st, 6, r->res.doc, (int)r->res.doc_len, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 6);
  sqlite3_bind_int64(st, 7, (int64_t)r->res.seq);
  sqlite3_bind_int64(st, 8, now_ms);
  return run(s->wdb, st, "write idempotency record");
}

/* ---- one request, one batch ---------------------------------------------- */

static int insert_event(store_t *s, store__wreq_t *r, uint64_t seq, int64_t ts_ms) {
  sqlite3_stmt *st = s->ws.ev_ins;
  sqlite3_bind_int64(st, 1, (int64_t)seq);
  sqlite3_bind_int64(st, 2, ts_ms);
  bind_str(st, 3, r->collection);
  bind_str(st, 4, r->ev_type);
  bind_str(st, 5, r->res.id);
  sqlite3_bind_int64(st, 6, r->res.version);
  if (r->ev_data)
    sqlite3_bind_text(st, 7, r->ev_data, (int)r->ev_data_len, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 7);
  return run(s->wdb, st, "insert event");
}

static void fail_request(store__wreq_t *r, const char *detail) {
  free(r->res.doc);
  r->res.doc = NULL;
  r->res.doc_len = 0;
  r->res.status = 500;
  r->res.detail = detail;
  r->res.replayed = false;
  r->res.seq = 0;
  r->ev_type = NULL;
  r->ev_data = NULL;
}

/* Runs one request inside its savepoint. Returns -1 only when SQLite rolled
 * back the whole transaction (the batch is lost). */
static int process_one(store_t *s, store__wreq_t *r, int64_t ts_ms, const char *ts) {
  if (run(s->wdb, s->ws.savepoint, "savepoint")) {
    fail_request(r, store__detail_db);
    return sqlite3_get_autocommit(s->wdb) ? -1 : 0;
  }
  int rc = 0;
  if (r->idem_key) rc = idem_check(s, r, ts_ms);
  if (r->hook) {
    rc = store__hook_write(s, r);
  } else if (rc == 0) {
    switch (r->kind) {
      case STORE_CREATE:
        rc = op_create(s, r, ts);
        break;
      case STORE_PUT:
        rc = op_put(s, r, ts);
        break;
      case STORE_PATCH:
        rc = op_patch(s, r, ts);
        break;
      case STORE_DELETE:
        rc = op_delete(s, r);
        break;
      case STORE_EVENT:
        rc = op_event(s, r);
        break;
    }
    if (rc == 0 && r->ev_type) {
      r->res.seq = s->w_head + 1;
      rc = insert_event(s, r, r->res.seq, ts_ms);
      if (rc == 0 && r->idem_key) rc = idem_record(s, r, ts_ms);
      if (rc == 0) s->w_head = r->res.seq;
    }
  }
  if (rc < 0) {
    fail_request(r, store__detail_db);
    if (sqlite3_get_autocommit(s->wdb)) return -1;
    run(s->wdb, s->ws.rollback_to, "rollback to savepoint");
  }
  if (run(s->wdb, s->ws.release, "release savepoint")) return sqlite3_get_autocommit(s->wdb) ? -1 : 0;
  return 0;
}

static int meta_set_int(store_t *s, const char *key, int64_t v) {
  sqlite3_stmt *st = s->ws.meta_set;
  bind_str(st, 1, key);
  sqlite3_bind_int64(st, 2, v);
  return run(s->wdb, st, "write meta");
}

static void process_batch(store_t *s, store__wreq_t **batch, size_t n) {
  int64_t ts_ms = time_now_ms();
  char ts[TIME_RFC3339_LEN + 1];
  time_format_rfc3339(ts_ms, ts);
  uint64_t start_head = s->w_head;
  bool ok = run(s->wdb, s->ws.begin, "begin") == 0;
  for (size_t i = 0; ok && i < n; i++)
    if (process_one(s, batch[i], ts_ms, ts)) ok = false;
  if (ok && s->w_head != start_head && meta_set_int(s, "head", (int64_t)s->w_head)) ok = false;
  if (ok && run(s->wdb, s->ws.commit, "commit")) ok = false;
  if (!ok) {
    if (!sqlite3_get_autocommit(s->wdb)) run(s->wdb, s->ws.rollback, "rollback");
    s->w_head = start_head;
    for (size_t i = 0; i < n; i++) fail_request(batch[i], d_commit);
    LOG_E("store: write batch of %zu failed; answered 500", n);
  }
  atomic_store_explicit(&s->head, s->w_head, memory_order_release);

  /* Publish after the commit and before any answer: a client that hears
   * back can always find its own event in the hub. */
  hub_event_t *evs[STORE__BATCH_MAX];
  size_t nev = 0;
  for (size_t i = 0; i < n; i++) {
    store__wreq_t *r = batch[i];
    if (!r->ev_type || r->res.status >= 300) continue;
    evs[nev++] = hub_event_new(r->res.seq, r->collection, r->ev_type, r->res.id, r->res.version, ts_ms,
                               r->ev_data, r->ev_data_len);
  }
  if (nev && s->hub) hub_publish(s->hub, evs, nev);
  for (size_t i = 0; i < nev; i++) hub_event_unref(evs[i]);
  for (size_t i = 0; i < n; i++) store__wreq_finish(batch[i]);
}

/* ---- retention ----------------------------------------------------------- */

/* One bounded pruning pass. Deletes a prefix of the log: every event with
 * seq <= head - retain_events, and the leading events older than
 * retain_for_ms (the prefix stops at the first young one, so the retained
 * log stays contiguous and oldest = pruned_upto + 1). Returns true when more
 * is left to delete. */
static bool prune(store_t *s) {
  int64_t now_ms = time_now_ms();
  uint64_t head = s->w_head;
  bool more = false;
  uint64_t new_pruned = s->pruned_upto;
  if (run(s->wdb, s->ws.begin, "begin prune")) return false;

  sqlite3_stmt *st = s->ws.oldest;
  int rc = sqlite3_step(st);
  bool any = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
  uint64_t oldest = any ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
  if (rc != SQLITE_ROW) store__log_db_error(s->wdb, "prune: oldest");
  sqlite3_reset(st);
  if (rc != SQLITE_ROW) goto fail;

  if (any) {
    uint64_t window_end = oldest - 1 + STORE__PRUNE_ROWS;
    if (window_end > head) window_end = head;
    uint64_t upto = 0;
    if (s->retain_events > 0 && head > (uint64_t)s->retain_events) upto = head - (uint64_t)s->retain_events;
    if (s->retain_for_ms > 0) {
      st = s->ws.first_young;
      sqlite3_bind_int64(st, 1, (int64_t)oldest - 1);
      sqlite3_bind_int64(st, 2, (int64_t)window_end);
      sqlite3_bind_int64(st, 3, now_ms - s->retain_for_ms);
      rc = sqlite3_step(st);
      uint64_t age_upto = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) - 1 : window_end;
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) store__log_db_error(s->wdb, "prune: by age");
      sqlite3_reset(st);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) goto fail;
      if (age_upto > upto) upto = age_upto;
    }
    if (upto >= oldest) {
      if (upto > window_end) {
        upto = window_end;
        more = true;
      } else if (rc == SQLITE_DONE && s->retain_for_ms > 0 && window_end < head) {
        more = true; /* the whole window was old: look further next pass */
      }
      st = s->ws.prune;
      sqlite3_bind_int64(st, 1, (int64_t)upto);
      if (run(s->wdb, st, "prune: delete events")) goto fail;
      if (upto > new_pruned) {
        new_pruned = upto;
        if (meta_set_int(s, "pruned_upto", (int64_t)new_pruned)) goto fail;
      }
    }
  }

  st = s->ws.idem_expire;
  sqlite3_bind_int64(st, 1, now_ms - STORE__IDEM_TTL_MS);
  sqlite3_bind_int(st, 2, STORE__PRUNE_ROWS);
  if (run(s->wdb, st, "prune: idempotency")) goto fail;
  if (sqlite3_changes(s->wdb) >= STORE__PRUNE_ROWS) more = true;

  if (run(s->wdb, s->ws.commit, "commit prune")) goto fail;
  if (new_pruned != s->pruned_upto)
    LOG_D("store: pruned events up to seq %llu", (unsigned long long)new_pruned);
  s->pruned_upto = new_pruned;
  return more;
fail:
  if (!sqlite3_get_autocommit(s->wdb)) run(s->wdb, s->ws.rollback, "rollback prune");
  return false;
}

/* ---- the thread ---------------------------------------------------------- */

static void deadline(uint64_t mono_ms, struct timespec *ts) {
  ts->tv_sec = (time_t)(mono_ms / 1000);
  ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

void *store__writer_main(void *arg) {
  store_t *s = arg;
  store__wreq_t *batch[STORE__BATCH_MAX];
  uint64_t next_prune = time_mono_ms() + (uint64_t)s->prune_interval_ms;
  pthread_mutex_lock(&s->wmu);
  for (;;) {
    while (!s->wq_head && !s->wstop && time_mono_ms() < next_prune) {
      struct timespec ts;
      deadline(next_prune, &ts);
      pthread_cond_timedwait(&s->wcond, &s->wmu, &ts);
    }
    size_t n = 0;
    while (s->wq_head && n < STORE__BATCH_MAX) {
      store__wreq_t *r = s->wq_head;
      s->wq_head = r->next;
      if (!s->wq_head) s->wq_tail = NULL;
      s->wq_len--;
      r->next = NULL;
      batch[n++] = r;
    }
    if (n == 0 && s->wstop) break;
    pthread_mutex_unlock(&s->wmu);
    if (n) process_batch(s, batch, n);
    if (time_mono_ms() >= next_prune) {
      bool more = prune(s);
      next_prune = time_mono_ms() + (more ? 0 : (uint64_t)s->prune_interval_ms);
    }
    pthread_mutex_lock(&s->wmu);
  }
  pthread_mutex_unlock(&s->wmu);
  return NULL;
}
