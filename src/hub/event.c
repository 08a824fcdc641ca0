/* event — building and sharing the serialized event; see event.h.
 *
 * The JSON is assembled by string concatenation from parts the store already
 * holds as text (the document JSON comes straight from SQLite), so no JSON
 * library runs on the writer thread. */
#include "hub/event.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/timeutil.h"

hub_event_t *hub_event_new(uint64_t seq, const char *collection, const char *type, const char *id,
                           int64_t version, int64_t ts_ms, const char *data, size_t data_len) {
  hub_event_t *ev = xcalloc(1, sizeof *ev);
  atomic_init(&ev->refs, 1);
  ev->seq = seq;
  ev->version = version;
  ev->ts_ms = ts_ms;
  ev->collection = xstrdup(collection);
  ev->type = xstrdup(type);
  ev->id = xstrdup(id ? id : "");
  for (int i = 0; i < HUB_ENC_MAX; i++) atomic_init(&ev->enc[i], NULL);

  char ts[TIME_RFC3339_LEN + 1];
  time_format_rfc3339(ts_ms, ts);
  buf_t b = BUF_INIT;
  buf_reserve(&b, 128 + data_len);
  buf_puts(&b, "{\"seq\":");
  buf_put_u64(&b, seq);
  buf_puts(&b, ",\"collection\":");
  buf_put_json_str(&b, collection, strlen(collection));
  buf_puts(&b, ",\"type\":");
  buf_put_json_str(&b, type, strlen(type));
  if (id && *id) {
    buf_puts(&b, ",\"id\":");
    buf_put_json_str(&b, id, strlen(id));
    buf_puts(&b, ",\"version\":");
    buf_put_i64(&b, version);
  }
  buf_puts(&b, ",\"ts\":\"");
  buf_puts(&b, ts);
  buf_putc(&b, '"');
  size_t min_len = b.len;
  buf_puts(&b, ",\"data\":");
  if (data && data_len)
    buf_append(&b, data, data_len);
  else
    buf_puts(&b, "null");
  buf_putc(&b, '}');
  ev->json[HUB_PAYLOAD_FULL] = bytes_new(b.data, b.len);
  bytes_t *m = bytes_alloc(min_len + 1);
  memcpy(m->data, b.data, min_len);
  m->data[min_len] = '}';
  ev->json[HUB_PAYLOAD_MINIMAL] = m;
  buf_free(&b);
  return ev;
}

hub_event_t *hub_event_ref(hub_event_t *ev) {
  int old = atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
  assert(old > 0);
  (void)old;
  return ev;
}

void hub_event_unref(hub_event_t *ev) {
  if (!ev) return;
  int old = atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel);
  assert(old > 0);
  if (old != 1) return;
  bytes_unref(ev->json[0]);
  bytes_unref(ev->json[1]);
  for (int i = 0; i < HUB_ENC_MAX; i++) bytes_unref(atomic_load(&ev->enc[i]));
  free(ev->collection);
  free(ev->type);
  free(ev->id);
  free(ev);
}

bytes_t *hub_event_enc_get(hub_event_t *ev, int slot) {
  assert(slot >= 0 && slot < HUB_ENC_MAX);
  return atomic_load_explicit(&ev->enc[slot], memory_order_acquire);
}

bytes_t *hub_event_enc_set(hub_event_t *ev, int slot, bytes_t *b) {
  bytes_t *expected = NULL;
  if (atomic_compare_exchange_strong(&ev->enc[slot], &expected, b)) return b;
  bytes_unref(b);
  return expected;
}
