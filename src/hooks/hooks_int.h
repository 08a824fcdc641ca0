/* hooks_int — internals shared by the dispatcher's files.
 *
 *   hooks.c     the dispatcher: its thread and loop, the registry in memory,
 *               event intake (hub batches, store pages), each webhook's
 *               state machine, retries, records for the store
 *   delivery.c  libcurl multi on the dispatcher's libuv loop; one HTTP
 *               attempt per webhook at a time; URL checks
 *   sign.c      secrets and Standard Webhooks signatures
 *
 * Everything here is touched only on the dispatcher's loop thread, except
 * the listener shim (hooks_t.listen_*), which the store's writer thread
 * reads under its mutex. */
#ifndef HERALD_HOOKS_HOOKS_INT_H
#define HERALD_HOOKS_HOOKS_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <uv.h>

#include "core/loop.h"
#include "hooks/hooks.h"

#define HOOKS__QUEUE_MAX 256            /* events queued per webhook; also the store page size */
#define HOOKS__RESPONSE_MAX (64 * 1024) /* response body bytes read (and discarded) */
#define HOOKS__TICK_MS 1000             /* idle cursors are written at most this often */
#define HOOKS__FETCH_RETRY_MS 1000      /* after a store read fails */
#define HOOKS__FLUSH_MS 20              /* records wait at most this long for the store */
#define HOOKS__ERROR_MAX 256

typedef enum {
  HOOK_IDLE,     /* nothing in flight: either caught up or about to act */
  HOOK_FETCHING, /* a store_changes page is on its way */
  HOOK_SENDING,  /* an HTTP attempt is in flight */
  HOOK_BACKOFF,  /* waiting on the timer for the next attempt (or fetch) */
  HOOK_DISABLED, /* disabled (410, retry window, PATCH): no work until re-enabled */
} hook_state_t;

typedef struct hook hook_t;

struct hook {
  hook_t *prev, *next; /* hooks_t.hooks */
  hooks_t *d;
  char id[130];
  char *url;
  unsigned char key[HOOKS_KEY_MAX];
  size_t keylen;
  filter_t filter;
  hook_state_t state;
  bool removed;       /* deleted: freed once nothing refers to it */
  bool fetch_pending; /* a store_changes callback will still come */
  bool from_oldest;   /* next fetch: since = 0 (after a reset) */
  bool live;          /* every matching event up to d->known_head is queued or delivered */
  unsigned gen;       /* bumped by halt(): a page asked for before it is dropped */
  unsigned fetch_gen; /* gen when the page on its way was asked for */

  uint64_t acked;   /* cursor: every matching event with seq <= acked was delivered */
  uint64_t stored;  /* highest cursor handed to the store */
  uint64_t fetched; /* every matching event with seq <= fetched is queued or delivered */

  hub_event_t *q[HOOKS__QUEUE_MAX]; /* ring of events to deliver, each with a reference */
  size_t qhead, qlen;
  /* While a page is on its way, matching events from hub batches wait here
   * (replay, then live: DESIGN "The hard parts"), so the page and the live
   * stream meet without a gap and the hook goes live with that page. */
  hub_event_t *pend[HOOKS__QUEUE_MAX];
  size_t npend;
  bool pend_over;     /* more arrived than pend holds: page on */
  uint64_t pend_upto; /* the last seq of the batches seen while fetching */

  int attempt;              /* attempts made for q[qhead] */
  int64_t failing_since_ms; /* 0 when the last attempt succeeded */
  int64_t updated_ms;

  uv_timer_t timer; /* backoff */
  bool timer_closed;

  /* the attempt in flight (delivery.c) */
  CURL *easy;
  struct curl_slist *headers;
  hub_event_t *inflight;
  size_t resp_bytes;
  bool resp_over;
  char errbuf[CURL_ERROR_SIZE];
  char msg_id[64];
};

/* What an attempt came to, for hooks__attempt_done. */
typedef struct hooks__outcome {
  int status; /* HTTP status, 0 if none was received */
  bool ok;    /* 2xx */
  int64_t duration_ms;
  char error[HOOKS__ERROR_MAX]; /* "" on success */
} hooks__outcome_t;

struct hooks {
  store_t *store;
  hub_t *hub;
  int64_t connect_timeout_ms, timeout_ms, retry_first_ms, retry_max_ms, retry_window_ms;
  char user_agent[64];
  char epoch[33];

  loop_t loop;
  bool loop_started;
  hook_t *hooks;
  size_t nhooks;
  uint64_t known_head; /* highest seq the dispatcher has seen published */
  bool stopping;
  bool closed;       /* every handle closing: the loop is about to end */
  int store_pending; /* store requests whose callbacks are still to come */
  uint64_t rng;      /* xorshift state for jitter */

  /* reloads run one at a time, in order */
  struct reload **reloads;
  size_t nreloads, reloads_cap;
  bool reload_busy;
  bool loaded; /* the initial list has been applied */

  /* records for the store, flushed HOOKS__FLUSH_MS after the first */
  store_hook_record_t *recs;
  char **rec_strs; /* strings the records point to, freed after the flush */
  size_t nrecs, recs_cap, nrec_strs, rec_strs_cap;
  uv_timer_t flush;
  uv_timer_t tick;

  /* curl multi on this loop (delivery.c) */
  CURLM *multi;
  uv_timer_t curl_timer;
  int running;

  /* the hub listener shim: the writer thread posts batches while open */
  pthread_mutex_t listen_mu;
  bool listen_open;
};

/* ---- hooks.c ------------------------------------------------------------- */

/* An attempt finished (delivery.c calls this after taking the handle out of
 * the multi). The event reference is still in h->inflight. */
void hooks__attempt_done(hook_t *h, const hooks__outcome_t *o);

/* ---- delivery.c ---------------------------------------------------------- */

int hooks__curl_init(hooks_t *d);
/* Sizes curl's connection cache for d->nhooks webhooks. */
void hooks__curl_resize(hooks_t *d);
/* Removes every transfer and closes the multi and its handles (stop). */
void hooks__curl_close(hooks_t *d);
/* Makes h's easy handle (once). Returns 0 or -1. */
int hooks__easy_init(hook_t *h);
void hooks__easy_free(hook_t *h);
/* Starts one POST of ev (a reference is taken into h->inflight). */
void hooks__send(hook_t *h, hub_event_t *ev, int64_t timestamp);
/* Abandons the attempt in flight, if any (no hooks__attempt_done). */
void hooks__abort(hook_t *h);

#endif
