/* hub — the in-process event bus: commit order in, per-loop fan-out out.
 *
 * DESIGN principle 2 and "Order across loops": the store's writer thread
 * calls hub_publish() with each committed batch, in seq order. The hub gives
 * every I/O loop its own reference to the batch through loop_post(); each
 * loop then walks its own subscribers (no locks on the delivery path) and
 * calls on_event for each event that matches the subscriber's filter, in seq
 * order; after each pass over the loop's inbox (several batches when the
 * loop is busy) it calls on_flush once for each subscriber that got at least
 * one event (the coalescing point: collect in on_event, write in on_flush).
 *
 * Subscribers are plain structs embedded in a transport's connection (the
 * hub never names a transport): hub_attach()/hub_detach() run on the loop the
 * subscriber lives on. Detaching inside on_event/on_flush is allowed.
 * Off-loop consumers (the webhook dispatcher) use hub_listen(), a callback
 * called on the publisher's thread with each batch; it must only queue work.
 *
 * hub_head() is the highest published seq (atomic; any thread). */
#ifndef HERALD_HUB_HUB_H
#define HERALD_HUB_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "hub/event.h"
#include "hub/filter.h"

typedef struct hub hub_t;
typedef struct hub_sub hub_sub_t;

typedef void (*hub_event_cb)(hub_sub_t *sub, hub_event_t *ev); /* ev borrowed; ref to keep */
typedef void (*hub_flush_cb)(hub_sub_t *sub);

struct hub_sub {
  /* set by the owner before hub_attach */
  const filter_t *filter; /* borrowed; NULL matches everything */
  hub_event_cb on_event;
  hub_flush_cb on_flush; /* may be NULL */
  void *data;
  /* hub-private */
  hub_sub_t *prev, *next;
  loop_t *loop;
  uint64_t flush_gen;
  bool attached;
};

/* Called on the publisher's thread; evs borrowed for the call. */
typedef void (*hub_listen_cb)(void *arg, hub_event_t *const *evs, size_t n);

hub_t *hub_new(loop_t **loops, int nloops);
void hub_free(hub_t *h);

/* Publishes n events (borrowed; the hub takes its own references) to every
 * loop and listener. Must be called from one thread at a time, in seq order.
 * It may wait (never on a loop thread: it is the store's writer that calls
 * it) while a loop is far behind on delivery: backpressure from fan-out to
 * the writers, so no inbox grows without bound. */
void hub_publish(hub_t *h, hub_event_t *const *evs, size_t n);
uint64_t hub_head(const hub_t *h);
void hub_set_head(hub_t *h, uint64_t head); /* at startup, from the store */
/* The highest seq already delivered on loop (that loop's thread only): every
 * event up to it has been offered to every subscriber attached there. */
uint64_t hub_loop_head(hub_t *h, loop_t *loop);

void hub_attach(hub_t *h, loop_t *loop, hub_sub_t *sub);
void hub_detach(hub_t *h, hub_sub_t *sub);
/* Number of subscribers attached on loop (that loop's thread only). */
size_t hub_count(hub_t *h, loop_t *loop);

void hub_listen(hub_t *h, hub_listen_cb cb, void *arg);

#endif
