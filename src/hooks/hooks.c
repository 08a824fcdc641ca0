/* hooks — the webhook dispatcher; see hooks.h for the contract.
 *
 * One thread, one loop_t. Everything below runs on that loop except
 * on_publish (the hub listener, on the store's writer thread) and the
 * public start/changed/stop/free calls, which only post to it.
 *
 * Each webhook is a hook_t with a small state machine (h->state, changed in
 * set_state() only) and three seqs:
 *
 *   acked   <=   fetched   <=   the dispatcher's known_head
 *   delivered    queued or delivered
 *
 *                    events queued
 *        ┌─────────▶ IDLE ──────────────────▶ SENDING ──2xx──┐
 *        │          │  ▲ ▲                       │           │
 *        │ not live │  │ └─────────(next)────────┼───────────┘
 *        │  (behind)▼  │ page                    │ other status, 3xx,
 *        │      FETCHING                         │ timeout, connection error
 *        │             ▲                         ▼
 *        │             └──(store error)──── BACKOFF ◀─┐ timer: retry
 *        │                                     │ └────┘
 *        │  PATCH enabled:true                 │ 410 Gone, or failing
 *        └──────────────── DISABLED ◀──────────┘ past the retry window
 *
 * Intake. A hook is "live" when its queue holds every matching event up to
 * known_head: hub batches then append to it directly. A hook that is behind
 * (just loaded, resumed, re-filtered, or whose queue hit HOOKS__QUEUE_MAX)
 * reads pages with store_changes() from `fetched`. While a page is on its
 * way, matching events from hub batches wait in h->pend (replay, then live:
 * DESIGN "The hard parts"); a page that reaches the head of its snapshot is
 * queued, then the waiting events above it, and the hook is live. Every
 * event above the page's snapshot was published after the fetch began, so
 * it waited in pend; events at or below `fetched` are skipped: nothing is
 * lost or doubled at the seam. Should pend overflow, the hook pages on.
 *
 * Persistence. After each attempt a record goes to the store (a row in the
 * delivery log; on a 2xx the new cursor). Records collect for up to
 * HOOKS__FLUSH_MS and go as one write request: one transaction for many
 * deliveries instead of one each (a crash can repeat what the lost records
 * covered, which at-least-once allows). A hook that is caught up
 * has acked = fetched; a 1 s tick writes such idle cursors, so a webhook
 * whose filter rarely matches does not fall out of retention on restart. */
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "hooks/hooks_int.h"

/* ---- backoff ------------------------------------------------------------- */

int64_t hooks_backoff_ms(int failures, int64_t first_ms, int64_t max_ms, double r01) {
  if (failures < 1) failures = 1;
  if (first_ms < 1) first_ms = 1;
  if (max_ms < first_ms) max_ms = first_ms;
  int64_t cap = first_ms;
  for (int i = 1; i < failures && cap < max_ms; i++) cap = cap > max_ms / 2 ? max_ms : cap * 2;
  if (cap > max_ms) cap = max_ms;
  if (r01 < 0) r01 = 0;
  if (r01 >= 1) r01 = 0.999999999;
  return (int64_t)(r01 * (double)cap);
}

static double rand01(hooks_t *d) {
  /* xorshift64*: jitter needs spread, not secrecy. */
  uint64_t x = d->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  d->rng = x;
  return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
}

/* ---- records for the store ----------------------------------------------- */

static const char *rec_str(hooks_t *d, const char *s) {
  if (!s) return NULL;
  if (d->nrec_strs == d->rec_strs_cap) {
    d->rec_strs_cap = d->rec_strs_cap ? 2 * d->rec_strs_cap : 64;
    d->rec_strs = xrealloc(d->rec_strs, d->rec_strs_cap * sizeof *d->rec_strs);
  }
  char *c = xstrdup(s);
  d->rec_strs[d->nrec_strs++] = c;
  return c;
}

static void on_flush(uv_timer_t *t);

static store_hook_record_t *rec_new(hooks_t *d, hook_t *h) {
  if (d->nrecs == 0 && !d->closed) uv_timer_start(&d->flush, on_flush, HOOKS__FLUSH_MS, 0);
  if (d->nrecs == d->recs_cap) {
    d->recs_cap = d->recs_cap ? 2 * d->recs_cap : 64;
    d->recs = xrealloc(d->recs, d->recs_cap * sizeof *d->recs);
  }
  store_hook_record_t *r = &d->recs[d->nrecs++];
  memset(r, 0, sizeof *r);
  r->id = rec_str(d, h->id);
  r->failing_since_ms = -1;
  return r;
}

static void flush_records(hooks_t *d) {
  if (d->nrecs) store_hook_record(d->store, d->recs, d->nrecs);
  for (size_t i = 0; i < d->nrec_strs; i++) free(d->rec_strs[i]);
  d->nrecs = d->nrec_strs = 0;
}

static void on_flush(uv_timer_t *t) { flush_records(t->data); }

/* Writes the cursor of every hook whose acked moved past what the store has. */
static void save_cursors(hooks_t *d) {
  for (hook_t *h = d->hooks; h; h = h->next) {
    if (h->removed || h->acked <= h->stored) continue;
    store_hook_record_t *r = rec_new(d, h);
    r->cursor = h->acked;
    h->stored = h->acked;
  }
}

/* ---- queue ----------------------------------------------------------------- */

static void q_push(hook_t *h, hub_event_t *ev) {
  h->q[(h->qhead + h->qlen) % HOOKS__QUEUE_MAX] = hub_event_ref(ev);
  h->qlen++;
}

static hub_event_t *q_front(hook_t *h) { return h->qlen ? h->q[h->qhead] : NULL; }

static void q_pop(hook_t *h) {
  hub_event_unref(h->q[h->qhead]);
  h->q[h->qhead] = NULL;
  h->qhead = (h->qhead + 1) % HOOKS__QUEUE_MAX;
  h->qlen--;
}

static void q_clear(hook_t *h) {
  while (h->qlen) q_pop(h);
  h->qhead = 0;
}

static void pend_clear(hook_t *h) {
  for (size_t i = 0; i < h->npend; i++) hub_event_unref(h->pend[i]);
  h->npend = 0;
  h->pend_over = false;
  h->pend_upto = 0;
}

/* ---- the state machine ----------------------------------------------------- */

static void kick(hook_t *h);
static void maybe_finish_stop(hooks_t *d);
static void hook_release(hook_t *h);

static void set_state(hook_t *h, hook_state_t s) { h->state = s; }

/* Stops whatever h is doing (attempt, timer, queue) and makes it re-read
 * from its cursor; a page on its way is dropped when it comes (gen). */
static void halt(hook_t *h, hook_state_t next) {
  hooks__abort(h);
  uv_timer_stop(&h->timer);
  q_clear(h);
  pend_clear(h);
  h->live = false;
  h->fetched = h->acked;
  h->attempt = 0;
  h->gen++;
  set_state(h, next);
}

static void on_backoff(uv_timer_t *t) {
  hook_t *h = t->data;
  if (h->state != HOOK_BACKOFF) return;
  set_state(h, HOOK_IDLE);
  kick(h);
}

static void backoff(hook_t *h, int64_t delay_ms) {
  set_state(h, HOOK_BACKOFF);
  uv_timer_start(&h->timer, on_backoff, (uint64_t)(delay_ms > 0 ? delay_ms : 0), 0);
}

static void on_fetched(void *ud, store_changes_result_t *res);

static void fetch(hook_t *h) {
  hooks_t *d = h->d;
  set_state(h, HOOK_FETCHING);
  pend_clear(h);
  h->fetch_pending = true;
  h->fetch_gen = h->gen;
  d->store_pending++;
  store_changes(d->store, &d->loop, &h->filter, h->fetched, HOOKS__QUEUE_MAX, on_fetched, h);
}

/* Decides h's next step when it has nothing in flight. */
static void kick(hook_t *h) {
  hooks_t *d = h->d;
  if (d->stopping || h->removed || h->state != HOOK_IDLE || h->fetch_pending) return;
  hub_event_t *ev = q_front(h);
  if (ev) {
    h->attempt++;
    set_state(h, HOOK_SENDING);
    hooks__send(h, ev, time_now_ms() / 1000);
    return;
  }
  if (!h->live) {
    fetch(h);
    return;
  }
  /* Caught up: every matching event up to fetched is delivered. */
  if (h->acked < h->fetched) h->acked = h->fetched;
}

/* Records a reset: h's cursor fell out of retention (or is ahead of the
 * log, as after restoring an older database). Delivery resumes from the
 * oldest retained event. */
static void reset_to(hook_t *h, const store_changes_result_t *res) {
  hooks_t *d = h->d;
  uint64_t from = h->fetched;
  uint64_t to = from > res->head ? res->head : res->oldest - 1;
  char err[HOOKS__ERROR_MAX];
  if (from > res->head)
    snprintf(err, sizeof err, "cursor %llu is ahead of the log (head %llu): resumed from the head",
             (unsigned long long)from, (unsigned long long)res->head);
  else
    snprintf(err, sizeof err,
             "cursor %llu fell out of retention (oldest retained seq %llu): events %llu..%llu were not "
             "delivered",
             (unsigned long long)from, (unsigned long long)res->oldest, (unsigned long long)from + 1,
             (unsigned long long)res->oldest - 1);
  LOG_W("hooks: webhook %s: %s", h->id, err);
  store_hook_record_t *r = rec_new(d, h);
  r->result = "reset";
  r->seq = to + 1;
  r->error = rec_str(d, err);
  r->at_ms = time_now_ms();
  r->cursor = to;
  r->reset = true;
  h->acked = h->fetched = to;
  if (to > h->stored) h->stored = to;
}

static void on_fetched(void *ud, store_changes_result_t *res) {
  hook_t *h = ud;
  hooks_t *d = h->d;
  d->store_pending--;
  h->fetch_pending = false;
  if (d->stopping) {
    maybe_finish_stop(d);
    return;
  }
  if (h->removed) {
    hook_release(h); /* hook_remove left it for this callback to free */
    return;
  }
  if (h->fetch_gen != h->gen || h->state != HOOK_FETCHING) {
    kick(h);
    return;
  }
  if (res->status != 200) {
    LOG_W("hooks: webhook %s: reading events failed (%d %s); retrying", h->id, res->status,
          res->detail ? res->detail : "");
    backoff(h, HOOKS__FETCH_RETRY_MS);
    return;
  }
  if (res->reset) {
    pend_clear(h);
    reset_to(h, res);
    set_state(h, HOOK_IDLE);
    kick(h);
    return;
  }
  for (size_t i = 0; i < res->nevents && h->qlen < HOOKS__QUEUE_MAX; i++)
    if (res->events[i]->seq > h->fetched) q_push(h, res->events[i]);
  if (res->next > h->fetched) h->fetched = res->next;
  /* The page reached the head of its snapshot and every batch since the
   * fetch began waited in pend: append it and go live. Every event above
   * that snapshot was published after the fetch began, so pend has them. */
  if (res->next >= res->head && !h->pend_over) {
    h->live = true;
    for (size_t i = 0; i < h->npend; i++) {
      hub_event_t *ev = h->pend[i];
      if (ev->seq <= h->fetched) continue;
      if (h->qlen == HOOKS__QUEUE_MAX) {
        h->live = false;
        h->fetched = ev->seq - 1;
        break;
      }
      q_push(h, ev);
    }
    if (h->live && h->pend_upto > h->fetched) h->fetched = h->pend_upto;
    if (h->fetched < d->known_head) h->live = false; /* cannot happen; be safe */
  } else {
    h->live = false;
  }
  pend_clear(h);
  set_state(h, HOOK_IDLE);
  kick(h);
}

static void disable(hook_t *h, store_hook_record_t *r, const char *reason) {
  LOG_W("hooks: webhook %s disabled: %s", h->id, reason);
  r->disable = rec_str(h->d, reason);
  halt(h, HOOK_DISABLED);
}

void hooks__attempt_done(hook_t *h, const hooks__outcome_t *o) {
  hooks_t *d = h->d;
  hub_event_t *ev = h->inflight;
  h->inflight = NULL;
  int64_t now = time_now_ms();
  store_hook_record_t *r = rec_new(d, h);
  r->result = o->ok ? "delivered" : "failed";
  r->seq = ev->seq;
  r->attempt = h->attempt;
  r->status = o->status;
  r->error = o->ok ? NULL : rec_str(d, o->error);
  r->duration_ms = o->duration_ms;
  r->at_ms = now;
  if (o->ok) {
    if (q_front(h) == ev) q_pop(h);
    h->acked = ev->seq;
    h->stored = ev->seq;
    r->cursor = ev->seq;
    if (h->failing_since_ms) r->failing_since_ms = 0;
    h->failing_since_ms = 0;
    h->attempt = 0;
    set_state(h, HOOK_IDLE);
    kick(h);
  } else {
    if (!h->failing_since_ms) {
      h->failing_since_ms = now;
      r->failing_since_ms = now;
    }
    char reason[HOOKS__ERROR_MAX + 128];
    if (o->status == 410) {
      disable(h, r, "the receiver answered 410 Gone");
    } else if (now - h->failing_since_ms >= d->retry_window_ms) {
      char since[TIME_RFC3339_LEN + 1];
      time_format_rfc3339(h->failing_since_ms, since);
      snprintf(reason, sizeof reason, "failing since %s, longer than the retry window; last error: %s", since,
               o->error);
      disable(h, r, reason);
    } else {
      backoff(h, hooks_backoff_ms(h->attempt, d->retry_first_ms, d->retry_max_ms, rand01(d)));
    }
  }
  hub_event_unref(ev);
}

/* ---- event intake from the hub --------------------------------------------- */

typedef struct hbatch {
  hooks_t *d;
  size_t n;
  hub_event_t *evs[];
} hbatch_t;

static void intake(hook_t *h, hbatch_t *b) {
  uint64_t last = b->evs[b->n - 1]->seq;
  for (size_t i = 0; i < b->n; i++) {
    hub_event_t *ev = b->evs[i];
    if (ev->seq <= h->fetched || !filter_match(&h->filter, ev)) continue;
    if (h->qlen == HOOKS__QUEUE_MAX) {
      /* Over the bound: fall back to paging from the store. */
      h->live = false;
      h->fetched = ev->seq - 1;
      return;
    }
    q_push(h, ev);
  }
  if (last > h->fetched) h->fetched = last;
}

/* A page is on its way: keep what matches for when it comes. */
static void hold(hook_t *h, hbatch_t *b) {
  if (h->pend_over) return;
  for (size_t i = 0; i < b->n; i++) {
    hub_event_t *ev = b->evs[i];
    if (!filter_match(&h->filter, ev)) continue;
    if (h->npend == HOOKS__QUEUE_MAX) {
      for (size_t k = 0; k < h->npend; k++) hub_event_unref(h->pend[k]);
      h->npend = 0;
      h->pend_over = true;
      return;
    }
    h->pend[h->npend++] = hub_event_ref(ev);
  }
  h->pend_upto = b->evs[b->n - 1]->seq;
}

static void on_batch(void *arg) {
  hbatch_t *b = arg;
  hooks_t *d = b->d;
  if (!d->stopping) {
    for (hook_t *h = d->hooks; h; h = h->next) {
      if (h->removed || h->state == HOOK_DISABLED) continue;
      if (h->live) {
        intake(h, b);
        kick(h);
      } else if (h->fetch_pending && h->fetch_gen == h->gen) {
        hold(h, b);
      }
    }
    uint64_t last = b->evs[b->n - 1]->seq;
    if (last > d->known_head) d->known_head = last;
  }
  for (size_t i = 0; i < b->n; i++) hub_event_unref(b->evs[i]);
  free(b);
}

/* The writer thread, after each commit: take references and post. */
static void on_publish(void *arg, hub_event_t *const *evs, size_t n) {
  hooks_t *d = arg;
  if (n == 0) return;
  pthread_mutex_lock(&d->listen_mu);
  if (d->listen_open) {
    hbatch_t *b = xmalloc(sizeof *b + n * sizeof b->evs[0]);
    b->d = d;
    b->n = n;
    for (size_t i = 0; i < n; i++) b->evs[i] = hub_event_ref(evs[i]);
    loop_post(&d->loop, on_batch, b);
  }
  pthread_mutex_unlock(&d->listen_mu);
}

/* ---- the registry in memory ------------------------------------------------ */

static hook_t *hook_find(hooks_t *d, const char *id) {
  for (hook_t *h = d->hooks; h; h = h->next)
    if (!h->removed && strcmp(h->id, id) == 0) return h;
  return NULL;
}

/* Parses a stored filter; on failure h keeps matching nothing it should not:
 * the caller disables the hook. */
static int parse_filter(filter_t *f, const char *text, char *detail, size_t detail_len) {
  json_error_t jerr;
  json_t *obj = json_loads(text ? text : "{}", JSON_REJECT_DUPLICATES, &jerr);
  int rc = -1;
  if (!obj || !json_is_object(obj))
    snprintf(detail, detail_len, "stored filter is not a JSON object");
  else
    rc = filter_from_json(f, obj, NULL, detail, detail_len);
  json_decref(obj);
  return rc;
}

static void on_hook_closed(uv_handle_t *handle) {
  hook_t *h = handle->data;
  hooks__easy_free(h);
  filter_free(&h->filter);
  free(h->url);
  free(h);
}

/* Unlinks and frees h (its timer closes first). Nothing may refer to it. */
static void hook_release(hook_t *h) {
  hooks_t *d = h->d;
  if (h->prev)
    h->prev->next = h->next;
  else
    d->hooks = h->next;
  if (h->next) h->next->prev = h->prev;
  d->nhooks--;
  hooks__abort(h);
  q_clear(h);
  pend_clear(h);
  uv_close((uv_handle_t *)&h->timer, on_hook_closed);
}

static void hook_remove(hook_t *h) {
  halt(h, HOOK_DISABLED);
  h->removed = true;
  if (!h->fetch_pending) hook_release(h);
}

static hook_t *hook_new(hooks_t *d, const store_hook_t *row) {
  hook_t *h = xcalloc(1, sizeof *h);
  h->d = d;
  snprintf(h->id, sizeof h->id, "%s", row->id);
  h->url = xstrdup(row->url ? row->url : "");
  filter_init(&h->filter);
  h->acked = h->stored = h->fetched = row->cursor;
  h->failing_since_ms = row->failing_since_ms;
  h->updated_ms = row->updated_ms;
  uv_timer_init(&d->loop.uv, &h->timer);
  h->timer.data = h;
  h->next = d->hooks;
  if (d->hooks) d->hooks->prev = h;
  d->hooks = h;
  d->nhooks++;
  hooks__curl_resize(d);
  char detail[256];
  if (hooks_secret_decode(row->secret ? row->secret : "", h->key, &h->keylen)) {
    LOG_E("hooks: webhook %s: unusable secret; not delivering", h->id);
    set_state(h, HOOK_DISABLED);
  } else if (parse_filter(&h->filter, row->filter, detail, sizeof detail)) {
    LOG_E("hooks: webhook %s: %s; not delivering", h->id, detail);
    set_state(h, HOOK_DISABLED);
  } else if (hooks__easy_init(h)) {
    LOG_E("hooks: webhook %s: cannot make a curl handle", h->id);
    set_state(h, HOOK_DISABLED);
  } else {
    set_state(h, row->enabled ? HOOK_IDLE : HOOK_DISABLED);
  }
  return h;
}

/* Applies a fresh copy of h's row from the store. */
static void hook_apply(hook_t *h, const store_hook_t *row) {
  h->updated_ms = row->updated_ms;
  if (row->url && strcmp(row->url, h->url) != 0) {
    free(h->url);
    h->url = xstrdup(row->url);
  }
  filter_t f;
  filter_init(&f);
  char detail[256];
  bool filter_ok = parse_filter(&f, row->filter, detail, sizeof detail) == 0;
  if (!filter_ok) LOG_E("hooks: webhook %s: %s", h->id, detail);
  json_t *a = filter_to_json(&h->filter), *b = filter_to_json(&f);
  bool filter_changed = filter_ok && !json_equal(a, b);
  json_decref(a);
  json_decref(b);

  if (!row->enabled || !filter_ok) {
    if (h->state != HOOK_DISABLED) halt(h, HOOK_DISABLED);
  } else if (h->state == HOOK_DISABLED) {
    /* Resumed: from the stored cursor, or ours if it is further on (our
     * last records may not be committed yet). */
    if (row->cursor > h->acked) h->acked = row->cursor;
    if (h->acked > h->stored) h->stored = h->acked;
    h->failing_since_ms = row->failing_since_ms;
    if (filter_changed) {
      filter_free(&h->filter);
      h->filter = f;
      filter_init(&f);
    }
    halt(h, HOOK_IDLE);
  } else if (filter_changed) {
    halt(h, HOOK_IDLE);
    filter_free(&h->filter);
    h->filter = f;
    filter_init(&f);
  }
  filter_free(&f);
  kick(h);
}

/* ---- reloads ----------------------------------------------------------------- */

/* A change to apply: re-read id, then tell whoever asked (done on loop). */
typedef struct reload {
  hooks_t *d;
  char *id;
  loop_t *loop;
  hooks_done_cb done;
  void *ud;
} reload_t;

static void reload_finish(reload_t *rl) {
  if (rl->done) {
    if (rl->loop)
      loop_post(rl->loop, rl->done, rl->ud);
    else
      rl->done(rl->ud);
  }
  free(rl->id);
  free(rl);
}

static void pump_reloads(hooks_t *d);

static void on_reload(void *ud, store_hook_result_t *res) {
  reload_t *rl = ud;
  hooks_t *d = rl->d;
  d->store_pending--;
  d->reload_busy = false;
  if (d->stopping) {
    reload_finish(rl);
    maybe_finish_stop(d);
    return;
  }
  hook_t *h = hook_find(d, rl->id);
  if (res->status == 404) {
    if (h) {
      LOG_I("hooks: webhook %s deleted", rl->id);
      hook_remove(h);
    }
  } else if (res->status == 200) {
    if (h)
      hook_apply(h, &res->hook);
    else if (res->hook.enabled)
      kick(hook_new(d, &res->hook));
  } else {
    LOG_W("hooks: webhook %s: reading it failed (%d %s); change not applied until restart", rl->id,
          res->status, res->detail ? res->detail : "");
  }
  reload_finish(rl);
  pump_reloads(d);
}

static void pump_reloads(hooks_t *d) {
  if (d->reload_busy || !d->loaded || d->stopping || d->nreloads == 0) return;
  reload_t *rl = d->reloads[0];
  d->nreloads--;
  memmove(d->reloads, d->reloads + 1, d->nreloads * sizeof *d->reloads);
  d->reload_busy = true;
  d->store_pending++;
  store_hook_get(d->store, &d->loop, rl->id, on_reload, rl);
}

/* Answers every reload still queued (stop). */
static void drop_reloads(hooks_t *d) {
  for (size_t i = 0; i < d->nreloads; i++) reload_finish(d->reloads[i]);
  d->nreloads = 0;
}

static void on_changed(void *arg) {
  reload_t *rl = arg;
  hooks_t *d = rl->d;
  if (d->stopping) {
    reload_finish(rl);
    return;
  }
  if (d->nreloads == d->reloads_cap) {
    d->reloads_cap = d->reloads_cap ? 2 * d->reloads_cap : 16;
    d->reloads = xrealloc(d->reloads, d->reloads_cap * sizeof *d->reloads);
  }
  d->reloads[d->nreloads++] = rl;
  pump_reloads(d);
}

void hooks_changed(hooks_t *d, const char *id, loop_t *loop, hooks_done_cb done, void *ud) {
  reload_t *rl = xcalloc(1, sizeof *rl);
  rl->d = d;
  rl->id = xstrdup(id ? id : "");
  rl->loop = loop;
  rl->done = done;
  rl->ud = ud;
  bool posted = false;
  if (d) {
    /* Posted under the lock that hooks_stop takes to close: a reload is
     * either in the inbox before the stop task, or not posted at all. */
    pthread_mutex_lock(&d->listen_mu);
    if (d->listen_open) {
      loop_post(&d->loop, on_changed, rl);
      posted = true;
    }
    pthread_mutex_unlock(&d->listen_mu);
  }
  if (!posted) {
    /* No dispatcher (or it is stopping): the store has the change for the
     * next start. Answer on the caller's thread. */
    if (done) done(ud);
    free(rl->id);
    free(rl);
  }
}

/* ---- start --------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t) { save_cursors(t->data); }

static void on_loaded(void *ud, store_hook_list_result_t *res) {
  hooks_t *d = ud;
  d->store_pending--;
  if (d->stopping) {
    maybe_finish_stop(d);
    return;
  }
  if (res->status != 200) {
    LOG_E("hooks: cannot read the webhooks (%d %s); no webhook will be delivered until restart", res->status,
          res->detail ? res->detail : "");
  }
  size_t enabled = 0;
  for (size_t i = 0; i < res->nhooks; i++) {
    if (!res->hooks[i].enabled || hook_find(d, res->hooks[i].id)) continue;
    hook_new(d, &res->hooks[i]);
    enabled++;
  }
  LOG_I("hooks: %zu enabled webhook(s) of %zu", enabled, res->nhooks);
  d->loaded = true;
  for (hook_t *h = d->hooks; h; h = h->next) kick(h);
  pump_reloads(d);
}

static void on_start(void *arg) {
  hooks_t *d = arg;
  uv_timer_init(&d->loop.uv, &d->flush);
  d->flush.data = d;
  uv_timer_init(&d->loop.uv, &d->tick);
  d->tick.data = d;
  uv_timer_start(&d->tick, on_tick, HOOKS__TICK_MS, HOOKS__TICK_MS);
  d->store_pending++;
  store_hook_list(d->store, &d->loop, on_loaded, d);
}

int hooks_start(store_t *store, hub_t *hub, const config_t *cfg, hooks_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(err, errlen, "curl_global_init failed");
    return -1;
  }
  hooks_t *d = xcalloc(1, sizeof *d);
  d->store = store;
  d->hub = hub;
  d->connect_timeout_ms = cfg->hook_connect_timeout_ms > 0 ? cfg->hook_connect_timeout_ms : 5000;
  d->timeout_ms = cfg->hook_timeout_ms > 0 ? cfg->hook_timeout_ms : 15000;
  d->retry_first_ms = cfg->hook_retry_first_ms > 0 ? cfg->hook_retry_first_ms : 1000;
  d->retry_max_ms = cfg->hook_retry_max_ms > 0 ? cfg->hook_retry_max_ms : 600000;
  d->retry_window_ms = cfg->hook_retry_window_ms > 0 ? cfg->hook_retry_window_ms : 24LL * 3600 * 1000;
  snprintf(d->user_agent, sizeof d->user_agent, "herald/%s", HERALD_VERSION);
  snprintf(d->epoch, sizeof d->epoch, "%s", store_epoch(store));
  if (RAND_bytes((unsigned char *)&d->rng, sizeof d->rng) != 1 || d->rng == 0)
    d->rng = (uint64_t)time_now_ms() | 1;
  pthread_mutex_init(&d->listen_mu, NULL);
  int rc = loop_init(&d->loop, -1);
  if (rc) {
    snprintf(err, errlen, "loop: %s", uv_strerror(rc));
    pthread_mutex_destroy(&d->listen_mu);
    free(d);
    curl_global_cleanup();
    return -1;
  }
  if (hooks__curl_init(d)) {
    snprintf(err, errlen, "curl_multi_init failed");
    loop_close_handles(&d->loop);
    uv_run(&d->loop.uv, UV_RUN_DEFAULT);
    loop_free(&d->loop);
    pthread_mutex_destroy(&d->listen_mu);
    free(d);
    curl_global_cleanup();
    return -1;
  }
  /* Listen first, then read the head: every batch after it reaches us. */
  d->listen_open = true;
  hub_listen(hub, on_publish, d);
  d->known_head = store_head(store);
  loop_post(&d->loop, on_start, d);
  rc = loop_start(&d->loop);
  if (rc) {
    snprintf(err, errlen, "start dispatcher thread: %s", strerror(-rc));
    /* The listener stays registered; it posts nothing once closed. The
     * handles are released by hooks_free. */
    pthread_mutex_lock(&d->listen_mu);
    d->listen_open = false;
    pthread_mutex_unlock(&d->listen_mu);
    return -1;
  }
  d->loop_started = true;
  *out = d;
  return 0;
}

/* ---- stop ---------------------------------------------------------------------- */

static void close_all(hooks_t *d) {
  d->closed = true;
  for (hook_t *h = d->hooks; h; h = h->next) hooks__abort(h);
  hooks__curl_close(d);
  while (d->hooks) hook_release(d->hooks);
  uv_close((uv_handle_t *)&d->flush, NULL);
  uv_close((uv_handle_t *)&d->tick, NULL);
  loop_close_handles(&d->loop);
}

/* The loop ends once no store callback is still to come: they are posted to
 * this loop, and must find it running. */
static void maybe_finish_stop(hooks_t *d) {
  if (!d->stopping || d->closed || d->store_pending > 0) return;
  flush_records(d);
  close_all(d);
}

static void on_stop(void *arg) {
  hooks_t *d = arg;
  d->stopping = true;
  size_t abandoned = 0;
  for (hook_t *h = d->hooks; h; h = h->next) {
    if (h->inflight) abandoned++;
    hooks__abort(h);
    uv_timer_stop(&h->timer);
  }
  if (abandoned) LOG_I("hooks: %zu attempt(s) abandoned; they are retried after a restart", abandoned);
  drop_reloads(d);
  save_cursors(d);
  flush_records(d);
  maybe_finish_stop(d);
}

void hooks_stop(hooks_t *d) {
  if (!d || !d->loop_started) return;
  pthread_mutex_lock(&d->listen_mu);
  d->listen_open = false;
  pthread_mutex_unlock(&d->listen_mu);
  loop_post(&d->loop, on_stop, d);
  loop_join(&d->loop);
  d->loop_started = false;
}

void hooks_free(hooks_t *d) {
  if (!d) return;
  loop_free(&d->loop);
  free(d->reloads);
  free(d->recs);
  free(d->rec_strs);
  pthread_mutex_destroy(&d->listen_mu);
  free(d);
  curl_global_cleanup();
}
