/* feed — one subscription's delivery: replay from the store, then live from
 * the hub, with no gap and no duplicate. Shared by the WebSocket and SSE
 * transports (and usable by any other push transport).
 *
 * DESIGN "Replay, then live": the feed attaches to the hub first and
 * buffers what arrives; then it reads the events after `since` from the
 * store, page by page; sends them; then sends the buffered events whose seq
 * is above the last one sent, and goes live. seq makes the seam exact.
 *
 *   start ─(no since)──────────────────────────────────────────▶ LIVE
 *     └──(since)─▶ REPLAYING ─page full─▶ REPLAYING (next page)
 *                      │ ─last page─▶ drain buffer ─▶ LIVE
 *                      │ ─reset─▶ ops->on_reset, skip to head ─▶ LIVE
 *                      └ transport full (can_send false): hold until
 *                        feed_resume()
 *
 * The buffer is bounded (FEED_MAX_BUFFERED events); past it the feed drops
 * the buffer and reads the store again from the last seq it sent, so a long
 * replay under heavy writes converges instead of growing memory.
 *
 * Threads: everything runs on the feed's loop thread. Ownership: the feed
 * is heap-allocated by feed_new(); feed_close() detaches it and frees it now,
 * or when its in-flight store read returns. ops are borrowed for the life of
 * the feed; events passed to on_event are borrowed (ref to keep). An op must
 * not call feed_close() itself: a transport that decides to drop its
 * connection closes it, and frees the feed from its close callback (libuv
 * runs those later, never inside the op). */
#ifndef HERALD_RT_FEED_H
#define HERALD_RT_FEED_H

#include <stdbool.h>
#include <stdint.h>

#include "app.h"
#include "hub/filter.h"
#include "hub/hub.h"

#define FEED_MAX_BUFFERED 4096
#define FEED_PAGE 500

typedef struct feed feed_t;

typedef struct feed_ops {
  /* An event to send, in seq order, never twice. */
  void (*on_event)(feed_t *f, hub_event_t *ev);
  /* End of a batch: write what on_event queued. */
  void (*on_flush)(feed_t *f);
  /* The resume point fell out of retention (or is from the future). */
  void (*on_reset)(feed_t *f, uint64_t oldest, uint64_t head);
  /* The store failed to replay (status, detail); the feed stays stopped. */
  void (*on_error)(feed_t *f, int status, const char *detail);
  /* May the replay read another page now? (optional; NULL = yes) */
  bool (*can_send)(feed_t *f);
} feed_ops_t;

typedef enum { FEED_IDLE, FEED_REPLAYING, FEED_HELD, FEED_LIVE, FEED_CLOSED } feed_state_t;

struct feed {
  hub_sub_t sub;
  filter_t filter; /* owned; fill it before feed_start */
  const feed_ops_t *ops;
  void *owner;
  app_t *app;
  loop_t *loop;
  feed_state_t state;
  uint64_t last_seq; /* the last seq handed to on_event (or skipped to) */
  hub_event_t **buf; /* live events that arrived during the replay */
  uint32_t nbuf, capbuf;
  bool overflow;
  bool read_pending;
};

feed_t *feed_new(app_t *app, loop_t *loop, const feed_ops_t *ops, void *owner);
/* Attaches to the hub and starts replay (filter.has_since) or live. */
void feed_start(feed_t *f);
/* The transport drained: continue a replay held by can_send. */
void feed_resume(feed_t *f);
void feed_close(feed_t *f);

#endif
