/* event — one change in the log, serialized once and shared by everyone.
 *
 * A hub_event_t is built by the store (on its writer thread after a commit,
 * or on a reader thread during replay) and then never mutated, except for the
 * lazily filled encoding cache below. It is refcounted: the publisher holds
 * one reference for the fan-out, each loop's delivery batch and each queued
 * write hold their own. Any thread may ref/unref.
 *
 * JSON shape (DESIGN.md, Event):
 *   {"seq":42,"collection":"orders","type":"created","id":"…","version":3,
 *    "ts":"2026-12-04T19:30:00.123Z","data":{…}}
 * json[HUB_PAYLOAD_MINIMAL] is the same without "data". For custom events
 * (POST /api/_events) id is "" and version 0; both are then left out.
 *
 * enc[] caches per-transport framings (the WebSocket frame bytes, the SSE
 * record bytes) so each is built once per event and payload mode, whichever
 * loop needs it first: hub_event_enc_get() / hub_event_enc_set() use an atomic
 * compare-and-swap, and a loser frees its copy. */
#ifndef HERALD_HUB_EVENT_H
#define HERALD_HUB_EVENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bytes.h"

typedef enum { HUB_PAYLOAD_FULL = 0, HUB_PAYLOAD_MINIMAL = 1 } hub_payload_t;

/* Slots of the encoding cache: transport x payload mode. */
enum { HUB_ENC_WS_FULL = 0, HUB_ENC_WS_MIN, HUB_ENC_SSE_FULL, HUB_ENC_SSE_MIN, HUB_ENC_MAX = 8 };

typedef struct hub_event {
  atomic_int refs;
  uint64_t seq;
  int64_t version;
  int64_t ts_ms;
  char *collection; /* owned, NUL-terminated */
  char *type;
  char *id;         /* "" for custom events */
  bytes_t *json[2]; /* indexed by hub_payload_t */
  _Atomic(bytes_t *) enc[HUB_ENC_MAX];
} hub_event_t;

/* Builds the event and both JSON forms. data is the JSON text of the
 * document (or the custom event's data), borrowed; NULL or "null" for a
 * deletion writes "data":null. Returns an event with one reference. */
hub_event_t *hub_event_new(uint64_t seq, const char *collection, const char *type, const char *id,
                           int64_t version, int64_t ts_ms, const char *data, size_t data_len);
hub_event_t *hub_event_ref(hub_event_t *ev);
void hub_event_unref(hub_event_t *ev);

/* Returns the cached encoding in slot (borrowed; valid while the event is
 * referenced) or NULL. */
bytes_t *hub_event_enc_get(hub_event_t *ev, int slot);
/* Installs b (transferred) in slot unless another thread got there first;
 * returns the winner (borrowed). */
bytes_t *hub_event_enc_set(hub_event_t *ev, int slot, bytes_t *b);

#endif
