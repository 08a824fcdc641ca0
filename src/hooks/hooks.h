/* hooks — the webhook dispatcher: signed, ordered, at-least-once delivery.
 *
 * DESIGN "Webhooks". The registry (webhooks, their cursors and a delivery
 * log) lives in the store (store_hook_*); this module delivers. It runs on
 * its own thread with its own loop_t — not one of the HTTP loops and not in
 * the hub's list — and drives libcurl's multi interface from that loop with
 * uv_poll and uv_timer, so nothing ever blocks: many webhooks are in flight
 * at once, each with at most one event in flight (so every endpoint sees
 * seq order), and a slow or failing endpoint delays no other.
 *
 * Where events come from. hub_listen() hands the dispatcher every committed
 * batch (on the store's writer thread; the callback only takes references
 * and posts them to the dispatcher loop). A webhook that is caught up queues
 * the matching events straight from those batches; one that is behind (after
 * a restart, a resume, a burst over its queue bound) pages through
 * store_changes() from its cursor until it meets the live stream. The seq
 * makes the seam exact, as for the real-time transports.
 *
 * Delivery semantics. Each event is POSTed as its JSON (full or minimal,
 * per the webhook's payload) with Standard Webhooks headers: webhook-id
 * "<epoch>-<seq>" (unique per event and database, the same on every retry),
 * webhook-timestamp (this attempt), webhook-signature "v1,<base64 HMAC-SHA256
 * of id.timestamp.body>". A 2xx advances the webhook's cursor in the store;
 * anything else (another status, a 3xx — redirects are not followed — a
 * timeout, a refused or dropped connection) is retried after an exponential
 * backoff with full jitter. A webhook failing for longer than the retry
 * window, or answered 410 Gone, is disabled with the reason. A cursor that
 * fell out of the event log's retention resumes from the oldest retained
 * event and leaves a "reset" record in the delivery log.
 *
 * Threads and lifecycle (all from the main thread unless said otherwise):
 *   hooks_start()   after store_open(), before the HTTP loops start
 *   hooks_changed() any thread: a webhook was created, updated or deleted
 *   hooks_stop()    before store_close(): abandons in-flight attempts (they
 *                   are retried after a restart: at-least-once), writes the
 *                   cursors it holds, closes every curl and uv handle and
 *                   joins the thread
 *   hooks_free()    after store_close()
 * Errors are returned as negative codes with a one-line reason. */
#ifndef HERALD_HOOKS_HOOKS_H
#define HERALD_HOOKS_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "hub/hub.h"
#include "store/store.h"

typedef struct hooks hooks_t;

/* store and hub are retained by pointer and must outlive the dispatcher;
 * cfg is read for the hook_* settings. */
int hooks_start(store_t *store, hub_t *hub, const config_t *cfg, hooks_t **out, char *err, size_t errlen);
/* Re-reads webhook id from the store and applies what changed: a new one
 * starts from its cursor, a disabled one stops, a re-enabled one resumes
 * from its cursor, a changed filter re-reads from the cursor, a deleted one
 * is dropped (an attempt in flight is abandoned). Then done(ud) runs on
 * loop (on the calling thread when loop is NULL, or at once when d is NULL
 * or stopping): an API handler answers from it, so its client's next write
 * already meets the new settings. Thread-safe; never blocks. done may be
 * NULL. */
typedef void (*hooks_done_cb)(void *ud);
void hooks_changed(hooks_t *d, const char *id, loop_t *loop, hooks_done_cb done, void *ud);
void hooks_stop(hooks_t *d);
void hooks_free(hooks_t *d);

/* ---- helpers shared with the API and the tests (pure, any thread) ------- */

#define HOOKS_SECRET_BYTES 24 /* random bytes in a generated secret */
#define HOOKS_SECRET_MAX 128  /* longest secret text, with its NUL */
#define HOOKS_KEY_MAX 96      /* longest decoded secret */
#define HOOKS_SIG_MAX 64      /* "v1," + 44 base64 characters + NUL */
#define HOOKS_URL_MAX 2048

/* Writes "whsec_" + base64 of HOOKS_SECRET_BYTES random bytes. Returns 0, or
 * -1 if no randomness was available. */
int hooks_secret_new(char out[HOOKS_SECRET_MAX]);
/* Decodes a secret ("whsec_" prefix optional) into key. Returns 0, or -1 if
 * it is not base64 or is empty or longer than HOOKS_KEY_MAX. */
int hooks_secret_decode(const char *secret, unsigned char key[HOOKS_KEY_MAX], size_t *keylen);
/* Writes the webhook-signature value "v1,<base64 HMAC-SHA256(key,
 * msg_id.timestamp.body)>". Returns 0, or -1 on a crypto failure. */
int hooks_sign(const unsigned char *key, size_t keylen, const char *msg_id, int64_t timestamp,
               const void *body, size_t body_len, char out[HOOKS_SIG_MAX]);
/* Checks a webhook URL: at most HOOKS_URL_MAX bytes, http or https, a host,
 * no user name or password, no spaces or control characters. Returns 0, or
 * -1 with a one-line reason in detail. */
int hooks_url_check(const char *url, char *detail, size_t detail_len);
/* The delay before retry number `failures` (1 after the first failure):
 * full jitter, r01 * min(max_ms, first_ms * 2^(failures-1)), with r01 a
 * uniform random number in [0, 1). */
int64_t hooks_backoff_ms(int failures, int64_t first_ms, int64_t max_ms, double r01);

#endif
