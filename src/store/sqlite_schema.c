/* sqlite_schema — connections, schema and ordered migrations of the store.
 *
 * The schema version lives in meta('schema_version'). Migrations are an
 * ordered array of SQL scripts; migration i takes version i to i+1 and runs
 * in its own transaction together with the version bump, so a crash leaves
 * the database at a whole version. Append new steps at the end; never edit
 * a released one. A database newer than this binary is refused.
 *
 * meta keys: schema_version (integer), epoch (32 hex chars, made once when
 * the database is created and never changed), head (highest committed seq),
 * pruned_upto (highest seq ever deleted by retention; 0 if none). */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "store/store_int.h"

static const char *const migrations[] = {
    /* 0 -> 1: documents, the event log, idempotency records. */
    "CREATE TABLE documents ("
    "  collection TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  PRIMARY KEY (collection, id)"
    ") WITHOUT ROWID;"
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY,"
    "  ts INTEGER NOT NULL," /* Unix milliseconds */
    "  collection TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  data TEXT"
    ");"
    "CREATE INDEX events_collection ON events (collection, seq);"
    "CREATE TABLE idempotency ("
    "  key TEXT PRIMARY KEY,"
    "  fingerprint TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  doc TEXT,"
    "  seq INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX idempotency_created ON idempotency (created_ms);",
    /* 1 -> 2: webhooks and their delivery log (sqlite_hooks.c). */
    "CREATE TABLE webhooks ("
    "  id TEXT PRIMARY KEY,"
    "  url TEXT NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  filter TEXT NOT NULL,"
    "  enabled INTEGER NOT NULL,"
    "  disabled_reason TEXT,"
    "  cursor_seq INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  failing_since_ms INTEGER NOT NULL DEFAULT 0,"
    "  reset_ms INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"
    "CREATE TABLE webhook_deliveries ("
    "  n INTEGER PRIMARY KEY,"
    "  webhook_id TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  result TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  error TEXT,"
    "  duration_ms INTEGER NOT NULL,"
    "  at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, n);",
};
#define NMIGRATIONS ((int64_t)(sizeof migrations / sizeof migrations[0]))

void store__log_db_error(sqlite3 *db, const char *what) {
  LOG_E("store: %s: %s (%d)", what, sqlite3_errmsg(db), sqlite3_extended_errcode(db));
}

int store__prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, char *err, size_t errlen) {
  int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
  if (rc == SQLITE_OK) return 0;
  store__log_db_error(db, "prepare");
  if (err) snprintf(err, errlen, "prepare: %s", sqlite3_errmsg(db));
  *out = NULL;
  return -1;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen) {
  char *msg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (rc == SQLITE_OK) return 0;
  snprintf(err, errlen, "%s", msg ? msg : sqlite3_errstr(rc));
  LOG_E("store: %s", err);
  sqlite3_free(msg);
  return -1;
}

int store__conn_open(const char *path, bool readonly, sqlite3 **out, char *err, size_t errlen) {
  int flags =
      SQLITE_OPEN_NOMUTEX | (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(path, &db, flags, NULL);
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, "open %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    goto fail;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, STORE__BUSY_TIMEOUT_MS);
  /* journal_mode is persistent in the file; a read-only connection cannot
   * set it and does not need to. Debian's SQLite defaults WAL connections
   * to synchronous=FULL; NORMAL is durable against process crashes and
   * loses at most the last commits on power loss (DESIGN, Storage). */
  if (!readonly && exec(db, "PRAGMA journal_mode=WAL", err, errlen)) goto fail;
  if (exec(db, "PRAGMA synchronous=NORMAL", err, errlen)) goto fail;
  *out = db;
  return 0;
fail:
  sqlite3_close(db);
  *out = NULL;
  return -1;
}

static int meta_get_int(sqlite3 *db, const char *key, int64_t *out, bool *found) {
  sqlite3_stmt *st = NULL;
  if (store__prepare(db, "SELECT value FROM meta WHERE key = ?1", &st, NULL, 0)) return -1;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *found = rc == SQLITE_ROW;
  if (*found) *out = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int meta_get_text(sqlite3 *db, const char *key, char *out, size_t outlen, bool *found) {
  sqlite3_stmt *st = NULL;
  if (store__prepare(db, "SELECT value FROM meta WHERE key = ?1", &st, NULL, 0)) return -1;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT;
  if (*found) snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int meta_put(sqlite3 *db, const char *key, const char *text, int64_t num) {
  sqlite3_stmt *st = NULL;
  if (store__prepare(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", &st, NULL, 0)) return -1;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  if (text)
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
  else
    sqlite3_bind_int64(st, 2, num);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) store__log_db_error(db, "meta write");
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

static void make_epoch(char out[33]) {
  unsigned char r[16];
  /* SQLite's generator is seeded from the OS; it only stands in if OpenSSL
   * cannot give random bytes. */
  if (RAND_bytes(r, sizeof r) != 1) sqlite3_randomness(sizeof r, r);
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    out[2 * i] = hex[r[i] >> 4];
    out[2 * i + 1] = hex[r[i] & 15];
  }
  out[32] = '\0';
}

int store__schema_init(sqlite3 *db, char epoch[33], uint64_t *head, uint64_t *pruned_upto, char *err,
                       size_t errlen) {
  if (errlen) err[0] = '\0';
  if (exec(db, "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID", err, errlen))
    return -1;
  int64_t version = 0;
  bool found = false;
  if (meta_get_int(db, "schema_version", &version, &found)) {
    snprintf(err, errlen, "read schema version: %s", sqlite3_errmsg(db));
    return -1;
  }
  if (!found) version = 0;
  if (version > NMIGRATIONS) {
    snprintf(err, errlen, "database schema version %lld is newer than this herald (%lld)", (long long)version,
             (long long)NMIGRATIONS);
    return -1;
  }
  for (int64_t v = version; v < NMIGRATIONS; v++) {
    if (exec(db, "BEGIN IMMEDIATE", err, errlen)) return -1;
    if (exec(db, migrations[v], err, errlen) || meta_put(db, "schema_version", NULL, v + 1)) {
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      if (!*err) snprintf(err, errlen, "migration %lld failed", (long long)v + 1);
      return -1;
    }
    if (exec(db, "COMMIT", err, errlen)) return -1;
    LOG_I("store: migrated schema to version %lld", (long long)v + 1);
  }

  /* Epoch, head and pruned_upto are created once, in one transaction. */
  if (exec(db, "BEGIN IMMEDIATE", err, errlen)) return -1;
  int64_t h = 0, p = 0;
  bool has_epoch = false, has_head = false, has_pruned = false;
  if (meta_get_text(db, "epoch", epoch, 33, &has_epoch) || meta_get_int(db, "head", &h, &has_head) ||
      meta_get_int(db, "pruned_upto", &p, &has_pruned))
    goto fail;
  if (!has_epoch) {
    make_epoch(epoch);
    if (meta_put(db, "epoch", epoch, 0)) goto fail;
  }
  if (!has_head && meta_put(db, "head", NULL, 0)) goto fail;
  if (!has_pruned && meta_put(db, "pruned_upto", NULL, 0)) goto fail;
  if (h < 0 || p < 0) {
    snprintf(err, errlen, "corrupt meta: negative head or pruned_upto");
    goto fail;
  }
  if (exec(db, "COMMIT", err, errlen)) return -1;
  *head = (uint64_t)h;
  *pruned_upto = (uint64_t)p;
  return 0;
fail:
  if (!*err) snprintf(err, errlen, "meta: %s", sqlite3_errmsg(db));
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}
