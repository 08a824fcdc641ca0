/* store_int — internals shared by the SQLite store's files.
 *
 *   sqlite_store.c   open/close, the two request queues, head and epoch
 *   sqlite_schema.c  connection pragmas, schema, ordered migrations, meta
 *   sqlite_write.c   the writer thread: group commit, publish, answer
 *   sqlite_read.c    reader threads: get, list, collections, changes
 *   sqlite_hooks.c   the webhook registry and delivery log (both threads)
 *
 * Threads and ownership. Callers build a request (every string copied) and
 * append it to a queue under that queue's mutex; exactly one store thread
 * then owns it, fills its result, and hands it to store__*_finish(), which
 * runs the callback on the request's loop (or right there when the loop is
 * NULL) and frees the request and whatever the callback did not take.
 * The writer thread alone touches the write connection and its statements;
 * each reader thread alone touches its own connection and statements.
 * s->head is written only by the writer (after each commit) and read by
 * anyone. */
#ifndef HERALD_STORE_STORE_INT_H
#define HERALD_STORE_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "store/store.h"

#define STORE__BATCH_MAX 512    /* writes per transaction */
#define STORE__QUEUE_MAX 65536  /* queued requests per queue before 503 */
#define STORE__PRUNE_ROWS 10000 /* events deleted per pruning pass at most */
#define STORE__IDEM_TTL_MS (24LL * 3600 * 1000)
#define STORE__BUSY_TIMEOUT_MS 5000
#define STORE__STMT_CACHE 16 /* dynamic statements cached per reader */
#define STORE__LIST_MAX 1000
#define STORE__CHANGES_MAX 1000
#define STORE__CURSOR_MAX 4096     /* bytes of an encoded cursor we accept */
#define STORE__CURSOR_KEY_MAX 1024 /* longest text sort value kept in a cursor */

/* Static details shared by the files. */
extern const char store__detail_closing[];
extern const char store__detail_db[];
extern const char store__detail_busy[];

/* ---- requests ---------------------------------------------------------- */

typedef struct store__wreq {
  struct store__wreq *next;
  store_write_kind_t kind;
  char *collection;
  char *id;
  char *type;
  char *body;
  size_t body_len;
  int64_t if_match;
  bool if_none_match_any;
  char *idem_key;
  char *idem_fp;
  loop_t *loop;
  store_write_cb cb;
  void *ud;
  store_write_result_t res;
  /* filled by the writer when the request produced an event */
  const char *ev_type; /* "created", "updated", "deleted" or type */
  const char *ev_data; /* res.doc, body or NULL; borrowed from this request */
  size_t ev_data_len;
  struct store__hookw *hook; /* a webhook write (sqlite_hooks.c) instead of a document write */
} store__wreq_t;

typedef enum {
  STORE__GET,
  STORE__LIST,
  STORE__COLLECTIONS,
  STORE__CHANGES,
  STORE__HOOK_GET, /* id */
  STORE__HOOK_LIST,
  STORE__HOOK_DELIVERIES, /* id, limit */
} store__rkind_t;

typedef struct store__rreq {
  struct store__rreq *next;
  store__rkind_t kind;
  loop_t *loop;
  void *ud;
  union {
    store_doc_cb doc;
    store_list_cb list;
    store_collections_cb colls;
    store_changes_cb changes;
    store_hook_cb hook;
    store_hook_list_cb hooks;
    store_hook_deliveries_cb deliveries;
  } cb;
  /* parameters, all owned */
  char *collection; /* GET, LIST */
  char *id;         /* GET; CHANGES: the filter's id or NULL */
  int limit;        /* LIST, CHANGES */
  char *after;
  char *sort_field;
  bool sort_desc;
  store_field_eq_t *filters; /* field and value strings owned */
  size_t nfilters;
  char **collections; /* CHANGES: NULL = all */
  size_t ncollections;
  char **types;
  size_t ntypes;
  uint64_t since;
  union {
    store_doc_result_t doc;
    store_list_result_t list;
    store_collections_result_t colls;
    store_changes_result_t changes;
    store_hook_result_t hook;
    store_hook_list_result_t hooks;
    store_hook_deliveries_result_t deliveries;
  } res;
} store__rreq_t;

/* ---- threads' state ---------------------------------------------------- */

typedef struct store__cached_stmt {
  char *sql;
  sqlite3_stmt *st;
} store__cached_stmt_t;

typedef struct store__reader {
  store_t *s;
  pthread_t thread;
  bool started;
  sqlite3 *db;
  sqlite3_stmt *begin, *commit, *rollback;
  sqlite3_stmt *meta_get, *doc_get, *colls, *oldest;
  store__cached_stmt_t cache[STORE__STMT_CACHE];
  unsigned cache_next;
} store__reader_t;

typedef struct store__wstmts {
  sqlite3_stmt *begin, *commit, *rollback;
  sqlite3_stmt *savepoint, *release, *rollback_to;
  sqlite3_stmt *doc_get, *doc_ins, *doc_upd, *doc_del;
  sqlite3_stmt *ev_ins, *meta_set;
  sqlite3_stmt *idem_get, *idem_put, *idem_expire;
  sqlite3_stmt *is_object, *patch;
  sqlite3_stmt *first_young, *oldest, *prune;
} store__wstmts_t;

struct store {
  char *path;
  int nreaders;
  int64_t retain_events;
  int64_t retain_for_ms;
  int64_t prune_interval_ms;
  hub_t *hub;
  char epoch[33];
  _Atomic uint64_t head;

  /* write queue and writer thread */
  pthread_mutex_t wmu;
  pthread_cond_t wcond; /* CLOCK_MONOTONIC, for the pruning timer */
  store__wreq_t *wq_head, *wq_tail;
  size_t wq_len;
  bool wstop;
  pthread_t writer;
  bool writer_started;
  sqlite3 *wdb;
  store__wstmts_t ws;
  uint64_t w_head;                    /* writer-owned copy of head, inside transactions */
  uint64_t pruned_upto;               /* writer-owned: highest seq deleted by retention */
  struct store__hook_wstmts *hook_ws; /* writer-owned, prepared on first use */

  /* read queue and reader threads */
  pthread_mutex_t rmu;
  pthread_cond_t rcond;
  store__rreq_t *rq_head, *rq_tail;
  size_t rq_len;
  bool rstop;
  store__reader_t *readers;
};

/* ---- sqlite_schema.c --------------------------------------------------- */

/* Opens a connection with herald's pragmas (WAL, synchronous=NORMAL,
 * busy_timeout). Returns 0, or -1 with a reason in err. */
int store__conn_open(const char *path, bool readonly, sqlite3 **out, char *err, size_t errlen);
/* On the write connection: creates or migrates the schema, makes the epoch
 * on a new database, and reads epoch, head and pruned_upto. */
int store__schema_init(sqlite3 *db, char epoch[33], uint64_t *head, uint64_t *pruned_upto, char *err,
                       size_t errlen);
/* Prepares sql on db; logs and returns -1 on failure. */
int store__prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, char *err, size_t errlen);
/* Logs a SQLite failure as "store: what: message" at error level. */
void store__log_db_error(sqlite3 *db, const char *what);

/* ---- sqlite_write.c ---------------------------------------------------- */

int store__writer_prepare(store_t *s, char *err, size_t errlen);
void store__writer_finalize(store_t *s);
void *store__writer_main(void *arg);
/* Answers r (callback on its loop, or inline) and frees it afterwards. */
void store__wreq_finish(store__wreq_t *r);

/* Queues r for the writer, or answers it 503 at once (closing, or full). */
void store__wreq_enqueue(store_t *s, store__wreq_t *r);
/* Queues r for the readers, or answers it 503 at once. */
void store__rreq_enqueue(store_t *s, store__rreq_t *r);

/* ---- sqlite_hooks.c ---------------------------------------------------- */

/* Writer thread, inside the batch transaction: runs r->hook. Returns -1 on
 * a SQLite error (the caller rolls back to the request's savepoint). */
int store__hook_write(store_t *s, store__wreq_t *r);
/* Answers a webhook write (from store__wreq_finish) and frees r->hook. */
void store__hook_wdeliver(store__wreq_t *r);
void store__hook_wfinalize(store_t *s);
/* Reader thread: runs a STORE__HOOK_* read. */
void store__hook_read(store__reader_t *rd, store__rreq_t *r);
/* Sets the status of a STORE__HOOK_* read answered without running it. */
void store__hook_rfail(store__rreq_t *r, int status, const char *detail);
/* Answers a STORE__HOOK_* read and frees its result. */
void store__hook_rdeliver(store__rreq_t *r);

/* ---- sqlite_read.c ----------------------------------------------------- */

int store__reader_open(store_t *s, store__reader_t *rd, char *err, size_t errlen);
void store__reader_close(store__reader_t *rd);
void *store__reader_main(void *arg);
void store__rreq_finish(store__rreq_t *r);

#endif
