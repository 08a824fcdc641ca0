/* sqlite_read — reader threads: get, list, collections, changes.
 *
 * N threads share one queue; each owns a read-only connection. A request
 * that returns a head (list, collections, changes) runs in one read
 * transaction, so the head it reports is exactly the snapshot its rows came
 * from: a client that subscribes with since=head misses nothing and sees
 * nothing twice.
 *
 * List queries are built from a fixed set of SQL shapes (sort or not,
 * direction, cursor or not, number of filters); user-supplied field names
 * and values are always bound, never spliced, and each distinct shape is
 * prepared once per reader and kept in a small cache.
 *
 * Cursors are opaque to clients: base64url (no padding) of a small JSON
 * object naming the sort (field and direction) and the last row's id and
 * sort value with its SQL type, so keyset pagination is exact even across
 * mixed types and rows where the field is missing (NULL sorts first when
 * ascending, last when descending). A text sort value longer than
 * STORE__CURSOR_KEY_MAX is not copied into the cursor (it would not fit in a
 * URL); the cursor then says 'd' and the next page looks the value up from
 * the row named by id, in its own snapshot. A cursor from another sort, one
 * that does not decode, or a 'd' cursor whose row is gone, is a 400
 * "invalid cursor". */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "store/store_int.h"

static const char d_not_found[] = "document not found";
static const char d_cursor[] = "invalid cursor";
static const char d_field[] = "invalid field name";

/* ---- connection and statements ------------------------------------------- */

int store__reader_open(store_t *s, store__reader_t *rd, char *err, size_t errlen) {
  rd->s = s;
  if (store__conn_open(s->path, true, &rd->db, err, errlen)) return -1;
  const struct {
    sqlite3_stmt **st;
    const char *sql;
  } list[] = {
      {&rd->begin, "BEGIN"},
      {&rd->commit, "COMMIT"},
      {&rd->rollback, "ROLLBACK"},
      {&rd->meta_get, "SELECT value FROM meta WHERE key = ?1"},
      {&rd->doc_get, "SELECT version, body FROM documents WHERE collection = ?1 AND id = ?2"},
      {&rd->colls, "SELECT collection, count(*) FROM documents GROUP BY collection ORDER BY collection"},
      {&rd->oldest, "SELECT min(seq) FROM events"},
  };
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
    if (store__prepare(rd->db, list[i].sql, list[i].st, err, errlen)) return -1;
  return 0;
}

void store__reader_close(store__reader_t *rd) {
  sqlite3_stmt *fixed[] = {rd->begin,   rd->commit, rd->rollback, rd->meta_get,
                           rd->doc_get, rd->colls,  rd->oldest};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) sqlite3_finalize(fixed[i]);
  for (int i = 0; i < STORE__STMT_CACHE; i++) {
    sqlite3_finalize(rd->cache[i].st);
    free(rd->cache[i].sql);
  }
  if (rd->db && sqlite3_close(rd->db) != SQLITE_OK) store__log_db_error(rd->db, "close reader");
  memset(rd, 0, sizeof *rd);
}

/* Returns a prepared statement for sql from the reader's cache (preparing
 * and caching it on a miss, evicting round-robin), or NULL on error. */
static sqlite3_stmt *cached(store__reader_t *rd, const char *sql) {
  for (int i = 0; i < STORE__STMT_CACHE; i++)
    if (rd->cache[i].sql && strcmp(rd->cache[i].sql, sql) == 0) return rd->cache[i].st;
  sqlite3_stmt *st = NULL;
  if (store__prepare(rd->db, sql, &st, NULL, 0)) return NULL;
  store__cached_stmt_t *slot = &rd->cache[rd->cache_next++ % STORE__STMT_CACHE];
  sqlite3_finalize(slot->st);
  free(slot->sql);
  slot->sql = xstrdup(sql);
  slot->st = st;
  return st;
}

static void done_with(sqlite3_stmt *st) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

static int tx_begin(store__reader_t *rd) {
  int rc = sqlite3_step(rd->begin);
  sqlite3_reset(rd->begin);
  if (rc == SQLITE_DONE) return 0;
  store__log_db_error(rd->db, "begin read");
  return -1;
}

/* Ends the read transaction; a read-only transaction cannot fail to commit
 * in a way that matters, but a failed request still rolls back. */
static void tx_end(store__reader_t *rd, bool ok) {
  if (sqlite3_get_autocommit(rd->db)) return;
  sqlite3_stmt *st = ok ? rd->commit : rd->rollback;
  if (sqlite3_step(st) != SQLITE_DONE) store__log_db_error(rd->db, ok ? "commit read" : "rollback read");
  sqlite3_reset(st);
  if (!sqlite3_get_autocommit(rd->db)) {
    sqlite3_step(rd->rollback);
    sqlite3_reset(rd->rollback);
  }
}

static int meta_u64(store__reader_t *rd, const char *key, uint64_t *out) {
  sqlite3_stmt *st = rd->meta_get;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *out = 0;
  if (rc == SQLITE_ROW) {
    int64_t v = sqlite3_column_int64(st, 0);
    *out = v > 0 ? (uint64_t)v : 0;
  } else if (rc != SQLITE_DONE) {
    store__log_db_error(rd->db, "read meta");
  }
  sqlite3_reset(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* ---- answering ----------------------------------------------------------- */

static void free_list(char **v, size_t n) {
  if (!v) return;
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static void rreq_deliver(void *arg) {
  store__rreq_t *r = arg;
  switch (r->kind) {
    case STORE__GET:
      if (r->cb.doc) r->cb.doc(r->ud, &r->res.doc);
      free(r->res.doc.doc);
      break;
    case STORE__LIST:
      if (r->cb.list) r->cb.list(r->ud, &r->res.list);
      free(r->res.list.items);
      free(r->res.list.next_cursor);
      break;
    case STORE__COLLECTIONS:
      if (r->cb.colls) r->cb.colls(r->ud, &r->res.colls);
      free(r->res.colls.json);
      break;
    case STORE__CHANGES:
      if (r->cb.changes) r->cb.changes(r->ud, &r->res.changes);
      for (size_t i = 0; i < r->res.changes.nevents; i++) hub_event_unref(r->res.changes.events[i]);
      free(r->res.changes.events);
      break;
    case STORE__HOOK_GET:
    case STORE__HOOK_LIST:
    case STORE__HOOK_DELIVERIES:
      store__hook_rdeliver(r);
      break;
  }
  free(r->collection);
  free(r->id);
  free(r->after);
  free(r->sort_field);
  for (size_t i = 0; i < r->nfilters; i++) {
    free((char *)r->filters[i].field);
    free((char *)r->filters[i].value);
  }
  free(r->filters);
  free_list(r->collections, r->ncollections);
  free_list(r->types, r->ntypes);
  free(r);
}

void store__rreq_finish(store__rreq_t *r) {
  if (r->loop)
    loop_post(r->loop, rreq_deliver, r);
  else
    rreq_deliver(r);
}

/* ---- get ----------------------------------------------------------------- */

static void do_get(store__reader_t *rd, store__rreq_t *r) {
  store_doc_result_t *res = &r->res.doc;
  sqlite3_stmt *st = rd->doc_get;
  sqlite3_bind_text(st, 1, r->collection, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, r->id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    res->status = 200;
    res->version = sqlite3_column_int64(st, 0);
    const char *body = (const char *)sqlite3_column_text(st, 1);
    res->doc_len = (size_t)sqlite3_column_bytes(st, 1);
    res->doc = xstrndup(body ? body : "", res->doc_len);
  } else if (rc == SQLITE_DONE) {
    res->status = 404;
    res->detail = d_not_found;
  } else {
    store__log_db_error(rd->db, "get");
    res->status = 500;
    res->detail = store__detail_db;
  }
  done_with(st);
}

/* ---- cursors ------------------------------------------------------------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url_encode(const unsigned char *p, size_t n) {
  buf_t b = BUF_INIT;
  buf_reserve(&b, (n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    buf_putc(&b, b64url[(v >> 18) & 63]);
    buf_putc(&b, b64url[(v >> 12) & 63]);
    if (i + 1 < n) buf_putc(&b, b64url[(v >> 6) & 63]);
    if (i + 2 < n) buf_putc(&b, b64url[v & 63]);
  }
  return buf_detach(&b, NULL);
}

static int b64url_val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* Decodes unpadded base64url; returns a malloc'd buffer or NULL. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len) {
  if (n % 4 == 1) return NULL;
  unsigned char *out = xmalloc(n / 4 * 3 + 3);
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64url_val(s[i]);
    if (v < 0) {
      free(out);
      return NULL;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  *out_len = o;
  return out;
}

typedef struct sort_key {
  char type; /* 'n' null, 'i' integer, 'r' real, 't' text, 'd' look up by id */
  int64_t i;
  double r;
  char *text; /* owned, for 't' */
} sort_key_t;

typedef struct cursor {
  char *id;
  sort_key_t key;
} cursor_t;

static void cursor_free(cursor_t *c) {
  free(c->id);
  free(c->key.text);
}

static char *cursor_encode(const char *sort_field, bool desc, const char *id, const sort_key_t *k) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(id));
  json_object_set_new(o, "s", sort_field ? json_string(sort_field) : json_null());
  json_object_set_new(o, "d", json_boolean(desc));
  if (sort_field) {
    char num[40];
    const char *text = num;
    switch (k->type) {
      case 'i':
        snprintf(num, sizeof num, "%lld", (long long)k->i);
        break;
      case 'r':
        snprintf(num, sizeof num, "%.17g", k->r);
        break;
      case 't':
        text = k->text;
        break;
      default:
        text = NULL;
        break;
    }
    char t[2] = {k->type, '\0'};
    if (k->type == 't' && strlen(k->text) > STORE__CURSOR_KEY_MAX) t[0] = 'd', text = NULL;
    json_object_set_new(o, "t", json_string(t));
    json_object_set_new(o, "k", text ? json_string(text) : json_null());
  }
  char *js = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!js) return NULL;
  char *out = b64url_encode((const unsigned char *)js, strlen(js));
  free(js);
  return out;
}

/* Returns 0 and fills c, or -1 when the cursor is malformed or belongs to
 * another sort. */
static int cursor_decode(const char *text, const char *sort_field, bool desc, cursor_t *c) {
  memset(c, 0, sizeof *c);
  size_t n = strlen(text);
  if (n == 0 || n > STORE__CURSOR_MAX) return -1;
  size_t raw_len = 0;
  unsigned char *raw = b64url_decode(text, n, &raw_len);
  if (!raw) return -1;
  json_t *o = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
  free(raw);
  int rc = -1;
  if (!json_is_object(o)) goto out;
  json_t *id = json_object_get(o, "id"), *s = json_object_get(o, "s"), *d = json_object_get(o, "d");
  if (!json_is_string(id) || !json_is_boolean(d) || json_is_true(d) != desc) goto out;
  if (sort_field ? !json_is_string(s) || strcmp(json_string_value(s), sort_field) != 0 : !json_is_null(s))
    goto out;
  c->id = xstrdup(json_string_value(id));
  if (!sort_field) {
    rc = 0;
    goto out;
  }
  json_t *t = json_object_get(o, "t"), *k = json_object_get(o, "k");
  if (!json_is_string(t) || strlen(json_string_value(t)) != 1) goto out;
  c->key.type = json_string_value(t)[0];
  if (c->key.type == 'n' || c->key.type == 'd') {
    rc = json_is_null(k) ? 0 : -1;
    goto out;
  }
  if (!json_is_string(k)) goto out;
  const char *kv = json_string_value(k);
  char *end = NULL;
  switch (c->key.type) {
    case 'i':
      errno = 0;
      c->key.i = strtoll(kv, &end, 10);
      if (*kv && !*end && errno == 0) rc = 0;
      break;
    case 'r':
      c->key.r = strtod(kv, &end);
      if (*kv && !*end && isfinite(c->key.r)) rc = 0;
      break;
    case 't':
      c->key.text = xstrdup(kv);
      rc = 0;
      break;
    default:
      break;
  }
out:
  json_decref(o);
  if (rc) cursor_free(c);
  return rc;
}

/* ---- list ---------------------------------------------------------------- */

static bool valid_field(const char *f) {
  size_t n = 0;
  for (; f[n]; n++) {
    char ch = f[n];
    bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-';
    if (!ok || n >= 64) return false;
  }
  return n >= 1;
}

static void read_key(sqlite3_stmt *st, int col, sort_key_t *k) {
  free(k->text);
  memset(k, 0, sizeof *k);
  switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
      k->type = 'i';
      k->i = sqlite3_column_int64(st, col);
      break;
    case SQLITE_FLOAT:
      k->type = 'r';
      k->r = sqlite3_column_double(st, col);
      break;
    case SQLITE_NULL:
      k->type = 'n';
      break;
    default:
      k->type = 't';
      k->text = xstrndup((const char *)sqlite3_column_text(st, col), (size_t)sqlite3_column_bytes(st, col));
      break;
  }
}

/* Parameter numbers shared by every list shape. */
enum { P_COLL = 1, P_FIELD = 2, P_KEY = 3, P_ID = 4, P_LIMIT = 5, P_FILTERS = 6 };

#define KEY_EXPR "json_extract(body, '$.\"' || ?2 || '\"')"

static void list_sql(buf_t *sql, const store__rreq_t *r, bool has_cursor) {
  bool sort = r->sort_field != NULL;
  buf_puts(sql, "SELECT id, body, ");
  buf_puts(sql, sort ? KEY_EXPR : "NULL");
  buf_puts(sql, " FROM documents WHERE collection = ?1");
  for (size_t i = 0; i < r->nfilters; i++) {
    int f = P_FILTERS + 2 * (int)i, v = f + 1;
    /* A string equal to the value, or a number/true/false/null whose JSON
     * text (as stored, via ->) equals it. */
    buf_printf(sql,
               " AND CASE json_type(body, '$.\"' || ?%d || '\"')"
               " WHEN 'text' THEN json_extract(body, '$.\"' || ?%d || '\"') = ?%d"
               " WHEN 'object' THEN 0 WHEN 'array' THEN 0"
               " ELSE (body -> ('$.\"' || ?%d || '\"')) = ?%d END",
               f, f, v, f, v);
  }
  if (has_cursor) {
    if (!sort)
      buf_puts(sql, r->sort_desc ? " AND id < ?4" : " AND id > ?4");
    else if (!r->sort_desc)
      buf_puts(sql, " AND (" KEY_EXPR " > ?3 OR (" KEY_EXPR
                    " IS ?3 AND id > ?4)"
                    " OR (?3 IS NULL AND " KEY_EXPR " IS NOT NULL))");
    else
      buf_puts(sql, " AND (" KEY_EXPR " < ?3 OR (" KEY_EXPR
                    " IS ?3 AND id < ?4)"
                    " OR (?3 IS NOT NULL AND " KEY_EXPR " IS NULL))");
  }
  const char *dir = r->sort_desc ? " DESC" : " ASC";
  buf_puts(sql, " ORDER BY ");
  if (sort) {
    buf_puts(sql, KEY_EXPR);
    buf_puts(sql, dir);
    buf_puts(sql, ", ");
  }
  buf_puts(sql, "id");
  buf_puts(sql, dir);
  buf_puts(sql, " LIMIT ?5");
}

static void do_list(store__reader_t *rd, store__rreq_t *r) {
  store_list_result_t *res = &r->res.list;
  cursor_t cur = {0};
  sort_key_t last_key = {0};
  char *last_id = NULL;
  buf_t sql = BUF_INIT, items = BUF_INIT;
  bool in_tx = false;
  sqlite3_stmt *st = NULL;
  int limit = r->limit <= 0 ? 100 : r->limit > STORE__LIST_MAX ? STORE__LIST_MAX : r->limit;

  if (r->sort_field && !valid_field(r->sort_field)) {
    res->status = 400, res->detail = d_field;
    goto out;
  }
  for (size_t i = 0; i < r->nfilters; i++)
    if (!valid_field(r->filters[i].field)) {
      res->status = 400, res->detail = d_field;
      goto out;
    }
  bool has_cursor = r->after && *r->after;
  if (has_cursor && cursor_decode(r->after, r->sort_field, r->sort_desc, &cur)) {
    res->status = 400, res->detail = d_cursor;
    goto out;
  }

  if (tx_begin(rd)) goto fail;
  in_tx = true;
  if (meta_u64(rd, "head", &res->head)) goto fail;
  if (has_cursor && cur.key.type == 'd') {
    /* Before the list statement is taken from the cache: preparing this one
     * may evict another. */
    st = cached(rd, "SELECT " KEY_EXPR " FROM documents WHERE collection = ?1 AND id = ?4");
    if (!st) goto fail;
    sqlite3_bind_text(st, P_COLL, r->collection, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, P_FIELD, r->sort_field, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, P_ID, cur.id, -1, SQLITE_STATIC);
    int lrc = sqlite3_step(st);
    if (lrc == SQLITE_ROW)
      read_key(st, 0, &cur.key);
    else if (lrc != SQLITE_DONE)
      store__log_db_error(rd->db, "list: cursor row");
    done_with(st);
    st = NULL;
    if (lrc == SQLITE_DONE) {
      res->status = 400, res->detail = d_cursor;
      goto out;
    }
    if (lrc != SQLITE_ROW) goto fail;
  }

  list_sql(&sql, r, has_cursor);
  st = cached(rd, buf_cstr(&sql));
  if (!st) goto fail;
  sqlite3_bind_text(st, P_COLL, r->collection, -1, SQLITE_STATIC);
  if (r->sort_field) sqlite3_bind_text(st, P_FIELD, r->sort_field, -1, SQLITE_STATIC);
  if (has_cursor) {
    switch (cur.key.type) {
      case 'i':
        sqlite3_bind_int64(st, P_KEY, cur.key.i);
        break;
      case 'r':
        sqlite3_bind_double(st, P_KEY, cur.key.r);
        break;
      case 't':
        sqlite3_bind_text(st, P_KEY, cur.key.text, -1, SQLITE_STATIC);
        break;
      default:
        sqlite3_bind_null(st, P_KEY);
        break;
    }
    sqlite3_bind_text(st, P_ID, cur.id, -1, SQLITE_STATIC);
  }
  sqlite3_bind_int(st, P_LIMIT, limit + 1);
  for (size_t i = 0; i < r->nfilters; i++) {
    sqlite3_bind_text(st, P_FILTERS + 2 * (int)i, r->filters[i].field, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, P_FILTERS + 2 * (int)i + 1, r->filters[i].value, -1, SQLITE_STATIC);
  }

  buf_putc(&items, '[');
  int n = 0, rc;
  bool more = false;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == limit) {
      more = true;
      break;
    }
    if (n++) buf_putc(&items, ',');
    buf_append(&items, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    free(last_id);
    last_id = xstrndup((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    if (r->sort_field) read_key(st, 2, &last_key);
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    store__log_db_error(rd->db, "list");
    goto fail;
  }
  done_with(st);
  st = NULL;
  tx_end(rd, true);
  in_tx = false;
  buf_putc(&items, ']');
  if (more) {
    res->next_cursor = cursor_encode(r->sort_field, r->sort_desc, last_id, &last_key);
    if (!res->next_cursor) goto fail;
  }
  res->items = buf_detach(&items, &res->items_len);
  res->status = 200;
  goto out;
fail:
  res->status = 500, res->detail = store__detail_db;
  free(res->next_cursor);
  res->next_cursor = NULL;
out:
  if (st) done_with(st);
  if (in_tx) tx_end(rd, false);
  cursor_free(&cur);
  free(last_key.text);
  free(last_id);
  buf_free(&sql);
  buf_free(&items);
}

/* ---- collections --------------------------------------------------------- */

static void do_collections(store__reader_t *rd, store__rreq_t *r) {
  store_collections_result_t *res = &r->res.colls;
  buf_t b = BUF_INIT;
  if (tx_begin(rd)) goto fail;
  if (meta_u64(rd, "head", &res->head)) goto fail;
  sqlite3_stmt *st = rd->colls;
  buf_putc(&b, '[');
  int rc, n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n++) buf_putc(&b, ',');
    buf_puts(&b, "{\"name\":");
    buf_put_json_str(&b, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    buf_puts(&b, ",\"count\":");
    buf_put_i64(&b, sqlite3_column_int64(st, 1));
    buf_putc(&b, '}');
  }
  if (rc != SQLITE_DONE) store__log_db_error(rd->db, "collections");
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) goto fail;
  tx_end(rd, true);
  buf_putc(&b, ']');
  res->json = buf_detach(&b, &res->json_len);
  res->status = 200;
  return;
fail:
  tx_end(rd, false);
  buf_free(&b);
  res->status = 500, res->detail = store__detail_db;
}

/* ---- changes ------------------------------------------------------------- */

static void in_list(buf_t *sql, const char *col, size_t n, int *param) {
  buf_printf(sql, " AND %s IN (", col);
  for (size_t i = 0; i < n; i++) buf_printf(sql, "%s?%d", i ? "," : "", (*param)++);
  buf_putc(sql, ')');
}

static void do_changes(store__reader_t *rd, store__rreq_t *r) {
  store_changes_result_t *res = &r->res.changes;
  int limit = r->limit <= 0 ? 100 : r->limit > STORE__CHANGES_MAX ? STORE__CHANGES_MAX : r->limit;
  buf_t sql = BUF_INIT;
  sqlite3_stmt *st = NULL;
  uint64_t pruned = 0;

  if (tx_begin(rd)) goto fail;
  if (meta_u64(rd, "head", &res->head) || meta_u64(rd, "pruned_upto", &pruned)) goto fail;
  st = rd->oldest;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    res->oldest =
        sqlite3_column_type(st, 0) == SQLITE_NULL ? res->head + 1 : (uint64_t)sqlite3_column_int64(st, 0);
  else
    store__log_db_error(rd->db, "oldest event");
  sqlite3_reset(st);
  st = NULL;
  if (rc != SQLITE_ROW) goto fail;

  res->next = res->head;
  res->reset = r->since != 0 && (r->since < pruned || r->since > res->head);
  if (res->reset) goto done;

  /* ?1 since, ?2 limit, then the lists and the id. */
  int param = 3;
  buf_puts(&sql, "SELECT seq, ts, collection, type, id, version, data FROM events WHERE seq > ?1");
  if (r->collections) in_list(&sql, "collection", r->ncollections, &param);
  if (r->types) in_list(&sql, "type", r->ntypes, &param);
  if (r->id) buf_printf(&sql, " AND id = ?%d", param++);
  buf_puts(&sql, " ORDER BY seq LIMIT ?2");
  st = cached(rd, buf_cstr(&sql));
  if (!st) goto fail;
  sqlite3_bind_int64(st, 1, (int64_t)r->since);
  sqlite3_bind_int(st, 2, limit);
  param = 3;
  for (size_t i = 0; r->collections && i < r->ncollections; i++)
    sqlite3_bind_text(st, param++, r->collections[i], -1, SQLITE_STATIC);
  for (size_t i = 0; r->types && i < r->ntypes; i++)
    sqlite3_bind_text(st, param++, r->types[i], -1, SQLITE_STATIC);
  if (r->id) sqlite3_bind_text(st, param++, r->id, -1, SQLITE_STATIC);

  res->events = xmalloc((size_t)limit * sizeof *res->events);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *data = (const char *)sqlite3_column_text(st, 6);
    res->events[res->nevents++] =
        hub_event_new((uint64_t)sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 2),
                      (const char *)sqlite3_column_text(st, 3), (const char *)sqlite3_column_text(st, 4),
                      sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 1), data,
                      data ? (size_t)sqlite3_column_bytes(st, 6) : 0);
  }
  if (rc != SQLITE_DONE) {
    store__log_db_error(rd->db, "changes");
    goto fail;
  }
  done_with(st);
  st = NULL;
  if (res->nevents == (size_t)limit) res->next = res->events[res->nevents - 1]->seq;
done:
  tx_end(rd, true);
  res->status = 200;
  buf_free(&sql);
  return;
fail:
  if (st) done_with(st);
  tx_end(rd, false);
  for (size_t i = 0; i < res->nevents; i++) hub_event_unref(res->events[i]);
  free(res->events);
  res->events = NULL;
  res->nevents = 0;
  res->status = 500, res->detail = store__detail_db;
  buf_free(&sql);
}

/* ---- the thread ---------------------------------------------------------- */

void *store__reader_main(void *arg) {
  store__reader_t *rd = arg;
  store_t *s = rd->s;
  pthread_mutex_lock(&s->rmu);
  for (;;) {
    while (!s->rq_head && !s->rstop) pthread_cond_wait(&s->rcond, &s->rmu);
    store__rreq_t *r = s->rq_head;
    if (!r) break;
    s->rq_head = r->next;
    if (!s->rq_head) s->rq_tail = NULL;
    s->rq_len--;
    pthread_mutex_unlock(&s->rmu);
    r->next = NULL;
    switch (r->kind) {
      case STORE__GET:
        do_get(rd, r);
        break;
      case STORE__LIST:
        do_list(rd, r);
        break;
      case STORE__COLLECTIONS:
        do_collections(rd, r);
        break;
      case STORE__CHANGES:
        do_changes(rd, r);
        break;
      case STORE__HOOK_GET:
      case STORE__HOOK_LIST:
      case STORE__HOOK_DELIVERIES:
        store__hook_read(rd, r);
        break;
    }
    store__rreq_finish(r);
    pthread_mutex_lock(&s->rmu);
  }
  pthread_mutex_unlock(&s->rmu);
  return NULL;
}
