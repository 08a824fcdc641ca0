/* store — documents and the ordered event log, behind one interface.
 *
 * DESIGN "Storage": the store owns the database. Today it is SQLite
 * (store_sqlite.c); a PostgreSQL store can later implement this same header
 * without touching handlers or transports. It knows nothing of HTTP.
 *
 * Threads. store_open() starts one writer thread (owns the write connection,
 * batches queued writes into one transaction: group commit) and a few reader
 * threads (each with its own read connection). Every request function below
 * may be called from any thread, never blocks on disk, and answers later by
 * posting its callback to the loop it was given (loop_post), so the callback
 * runs on that loop's thread. A NULL loop runs the callback on the store's
 * own thread (for the webhook dispatcher, which is not a loop): such a
 * callback must only queue work.
 *
 * Commit, then publish, then answer. For each write batch the writer
 * commits, then calls hub_publish() with the batch's events in seq order,
 * then posts the callbacks. A write is acknowledged only after its event is
 * durable, and every subscriber can see the event before the writer's client
 * hears back.
 *
 * Ownership. Request structs are borrowed: the store copies what it needs
 * before the call returns. Results are owned by the store and valid only
 * during the callback; a callback may take a malloc'd field (doc, items,
 * next_cursor) by setting it to NULL, and may take an event reference with
 * hub_event_ref(). Errors come back in the result's status as an HTTP status
 * code with a static one-line detail; the store never answers HTTP itself.
 *
 * Shutdown. store_close() stops taking requests (later ones are answered
 * with status 503), finishes and commits every queued write, answers every
 * queued read, joins its threads and closes the database. Loops must still
 * be running while it does, since callbacks are posted to them. */
#ifndef HERALD_STORE_STORE_H
#define HERALD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "hub/event.h"
#include "hub/filter.h"
#include "hub/hub.h"

typedef struct store store_t;

typedef struct store_config {
  const char *path;          /* SQLite file */
  int readers;               /* reader threads (default 2 when 0) */
  int64_t retain_events;     /* keep at least the newest N events... */
  int64_t retain_for_ms;     /* ...and drop events older than this */
  int64_t prune_interval_ms; /* how often pruning runs (default 1000 when 0) */
} store_config_t;

/* Opens (creating and migrating if needed) the database, reads head and
 * epoch, tells the hub the head, and starts the threads. hub is retained
 * by pointer: it must outlive the store. Returns 0 or a negative code with a
 * one-line reason in err. */
int store_open(const store_config_t *cfg, hub_t *hub, store_t **out, char *err, size_t errlen);
void store_close(store_t *s);

/* Highest committed seq; the database's epoch (random, made at creation). */
uint64_t store_head(store_t *s);
const char *store_epoch(store_t *s);

/* ---- writes (group-committed by the writer thread) ---------------------- */

typedef enum {
  STORE_CREATE, /* POST /api/{c}: body = object without server fields; id may be "" (generate) */
  STORE_PUT,    /* PUT: replace or create */
  STORE_PATCH,  /* PATCH: body = RFC 7396 merge patch (server fields already removed) */
  STORE_DELETE, /* DELETE */
  STORE_EVENT,  /* POST /api/_events: custom type, body = data JSON (any value) */
} store_write_kind_t;

#define STORE_IF_MATCH_NONE (-1)
#define STORE_IF_MATCH_ANY (-2)

typedef struct store_write {
  store_write_kind_t kind;
  const char *collection; /* validated name */
  const char *id;         /* validated id, or "" on CREATE to generate one */
  const char *type;       /* STORE_EVENT only */
  const char *body;       /* compact JSON text, see kinds; NULL for DELETE */
  size_t body_len;
  int64_t if_match;             /* STORE_IF_MATCH_NONE, STORE_IF_MATCH_ANY
                                   (If-Match: *, the document must exist), or
                                   the required version */
  bool if_none_match_any;       /* If-None-Match: * (PUT: create only) */
  const char *idem_key;         /* Idempotency-Key header (CREATE), or NULL */
  const char *idem_fingerprint; /* hex digest of method, path and body */
} store_write_t;

typedef struct store_write_result {
  int status;         /* 201 created, 200 replaced/patched, 204 deleted,
                         202 event accepted; 404, 409, 412, 422, 503, 500 */
  const char *detail; /* static text for errors */
  char *doc;          /* the document JSON as stored (with id, version,
                         createdAt, updatedAt first), malloc'd; NULL on error,
                         DELETE and EVENT */
  size_t doc_len;
  char id[130];
  int64_t version;
  uint64_t seq;  /* the event's seq */
  bool replayed; /* answered from the idempotency record */
} store_write_result_t;

typedef void (*store_write_cb)(void *ud, store_write_result_t *res);
void store_write(store_t *s, loop_t *loop, const store_write_t *w, store_write_cb cb, void *ud);

/* ---- reads (reader threads) -------------------------------------------- */

typedef struct store_doc_result {
  int status; /* 200 or 404 (or 503/500) */
  const char *detail;
  char *doc;
  size_t doc_len;
  int64_t version;
} store_doc_result_t;
typedef void (*store_doc_cb)(void *ud, store_doc_result_t *res);
void store_get(store_t *s, loop_t *loop, const char *collection, const char *id, store_doc_cb cb, void *ud);

typedef struct store_field_eq {
  const char *field; /* top-level field name */
  const char *value; /* the query string value, as text; matches a string
                        equal to it, or a number/true/false/null whose JSON
                        text equals it */
} store_field_eq_t;

typedef struct store_list_query {
  const char *collection;
  int limit;              /* 1..1000 */
  const char *after;      /* opaque cursor from a previous next, or NULL */
  const char *sort_field; /* NULL = by id (creation order, ids are time-ordered) */
  bool sort_desc;
  const store_field_eq_t *filters;
  size_t nfilters;
} store_list_query_t;

typedef struct store_list_result {
  int status; /* 200, 400 (bad cursor), 503, 500 */
  const char *detail;
  char *items; /* JSON array text "[doc,doc,...]" */
  size_t items_len;
  char *next_cursor; /* NULL when this was the last page */
  uint64_t head;     /* seq the snapshot was read at */
} store_list_result_t;
typedef void (*store_list_cb)(void *ud, store_list_result_t *res);
void store_list(store_t *s, loop_t *loop, const store_list_query_t *q, store_list_cb cb, void *ud);

typedef struct store_collections_result {
  int status;
  const char *detail;
  char *json; /* JSON array text [{"name":"a","count":3},...] sorted by name */
  size_t json_len;
  uint64_t head;
} store_collections_result_t;
typedef void (*store_collections_cb)(void *ud, store_collections_result_t *res);
void store_collections(store_t *s, loop_t *loop, store_collections_cb cb, void *ud);

typedef struct store_changes_result {
  int status; /* 200, 503, 500 */
  const char *detail;
  hub_event_t **events; /* in seq order; each holds a reference the store
                           drops after the callback (ref to keep) */
  size_t nevents;
  uint64_t next;   /* pass as since next time: the last returned seq if
                      the page was full, else head */
  uint64_t head;   /* head at read time */
  uint64_t oldest; /* oldest retained seq (head+1 when the log is empty) */
  bool reset;      /* since fell out of retention or is ahead of head */
} store_changes_result_t;
typedef void (*store_changes_cb)(void *ud, store_changes_result_t *res);
/* Events with seq > since matching filter (collections, types, id; the
 * filter's since field is ignored), at most limit. since = 0 means from the
 * oldest retained and never resets. Events are built in the filter's
 * payload mode (both JSON forms are present either way). */
void store_changes(store_t *s, loop_t *loop, const filter_t *filter, uint64_t since, int limit,
                   store_changes_cb cb, void *ud);

/* ---- webhooks (DESIGN "Webhooks"; sqlite_hooks.c) ------------------------
 *
 * The registry and the delivery log of the webhook dispatcher (src/hooks).
 * Management writes (create, update, delete) and the dispatcher's records go
 * through the writer thread like document writes (group commit; no event is
 * published for them); reads go through the reader threads. Results follow
 * the rules above: owned by the store, valid during the callback; a callback
 * may take a malloc'd string field by setting it to NULL. */

#define STORE_HOOK_DELIVERIES_KEPT 100 /* newest delivery records kept per webhook */

typedef struct store_hook {
  char id[130];
  char *url;
  char *secret; /* "whsec_" + base64 */
  char *filter; /* JSON object text as filter_to_json() writes it */
  bool enabled;
  char *disabled_reason; /* NULL while enabled */
  uint64_t cursor;       /* every matching event with seq <= cursor is delivered */
  int64_t created_ms, updated_ms;
  int64_t failing_since_ms; /* first failure of the current failing streak; 0 if none */
  int64_t reset_ms;         /* when the cursor last fell out of retention; 0 if never */
} store_hook_t;

typedef struct store_hook_result {
  int status; /* 201 created, 200, 204 deleted; 404, 409, 503, 500 */
  const char *detail;
  store_hook_t hook; /* filled for 200 and 201 */
} store_hook_result_t;
typedef void (*store_hook_cb)(void *ud, store_hook_result_t *res);

/* Creates a webhook from h's id, url, secret and filter (borrowed). It is
 * enabled, and its cursor is the head at its commit: it gets the events
 * committed after it. 409 if the id is taken. */
void store_hook_create(store_t *s, loop_t *loop, const store_hook_t *h, store_hook_cb cb, void *ud);

typedef struct store_hook_update {
  const char *id;
  const char *url;    /* NULL: unchanged */
  const char *filter; /* NULL: unchanged; else an RFC 7396 merge patch
                         applied to the stored filter object */
  int enabled;        /* -1 unchanged; 1 enable (clears the reason and the
                         failing streak; the cursor stays); 0 disable */
  const char *reason; /* with enabled = 0 */
} store_hook_update_t;
/* 200 with the updated webhook, or 404. */
void store_hook_update(store_t *s, loop_t *loop, const store_hook_update_t *u, store_hook_cb cb, void *ud);
/* 204, or 404. The webhook's delivery records go with it. */
void store_hook_delete(store_t *s, loop_t *loop, const char *id, store_hook_cb cb, void *ud);
/* 200, or 404. */
void store_hook_get(store_t *s, loop_t *loop, const char *id, store_hook_cb cb, void *ud);

typedef struct store_hook_list_result {
  int status; /* 200, 503, 500 */
  const char *detail;
  store_hook_t *hooks; /* by creation time; the array and its strings owned by the store */
  size_t nhooks;
} store_hook_list_result_t;
typedef void (*store_hook_list_cb)(void *ud, store_hook_list_result_t *res);
void store_hook_list(store_t *s, loop_t *loop, store_hook_list_cb cb, void *ud);

/* What the dispatcher writes after an attempt (or to move an idle cursor).
 * A batch of records is one write request, applied in order. */
typedef struct store_hook_record {
  const char *id;
  const char *result; /* "delivered", "failed", "reset", or NULL: no log row */
  uint64_t seq;       /* the event attempted */
  int attempt;        /* 1 for the first try of seq */
  int status;         /* HTTP status, 0 if none */
  const char *error;  /* NULL on success */
  int64_t duration_ms;
  int64_t at_ms;
  uint64_t cursor;          /* > 0: raise the cursor to this (never lowers it) */
  int64_t failing_since_ms; /* -1 unchanged, 0 clear, > 0 set */
  const char *disable;      /* non-NULL: disable with this reason */
  bool reset;               /* the cursor fell out of retention: set reset_ms */
} store_hook_record_t;
/* Fire and forget: failures are logged, not answered. A record for a
 * webhook deleted meanwhile is dropped. */
void store_hook_record(store_t *s, const store_hook_record_t *recs, size_t n);

typedef struct store_hook_delivery {
  uint64_t seq;
  int attempt;
  char result[16];
  int status;
  char *error; /* NULL if none */
  int64_t duration_ms;
  int64_t at_ms;
} store_hook_delivery_t;

typedef struct store_hook_deliveries_result {
  int status; /* 200, 404, 503, 500 */
  const char *detail;
  store_hook_delivery_t *items; /* newest first */
  size_t nitems;
} store_hook_deliveries_result_t;
typedef void (*store_hook_deliveries_cb)(void *ud, store_hook_deliveries_result_t *res);
/* The newest records of a webhook, at most limit (1..STORE_HOOK_DELIVERIES_KEPT). */
void store_hook_deliveries(store_t *s, loop_t *loop, const char *id, int limit, store_hook_deliveries_cb cb,
                           void *ud);

#endif
