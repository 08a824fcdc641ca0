/* Unit tests for hub/event: the two JSON forms for created, deleted and
 * custom events (checked by parsing them back), the exact key order, escaping
 * of odd strings, refcounting, and the encoding cache under a race. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "hub/event.h"
#include "testutil.h"

/* 2026-12-04T19:30:00.123Z */
#define TS 1796412600123LL

static json_t *load(const bytes_t *b) {
  json_error_t e;
  json_t *v = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &e);
  if (!v) fprintf(stderr, "  bad event JSON: %s (%s)\n", b->data, e.text);
  CHECK(v != NULL);
  CHECK_EQ_INT(b->data[b->len], '\0');
  return v;
}

/* Checks the object's keys are exactly keys (comma-separated), in order. */
static void check_keys(const json_t *o, const char *keys) {
  char got[256];
  size_t n = 0;
  got[0] = '\0';
  for (void *it = json_object_iter((json_t *)o); it; it = json_object_iter_next((json_t *)o, it))
    n += (size_t)snprintf(got + n, sizeof got - n, "%s%s", n ? "," : "", json_object_iter_key(it));
  CHECK_STR(got, keys);
}

static void test_created(void) {
  const char *doc = "{\"id\":\"o1\",\"total\":12.5,\"tags\":[\"a\"]}";
  hub_event_t *ev = hub_event_new(42, "orders", "created", "o1", 3, TS, doc, strlen(doc));
  CHECK_EQ_INT(atomic_load(&ev->refs), 1);
  CHECK_EQ_INT(ev->seq, 42);
  CHECK_STR(ev->collection, "orders");
  CHECK_STR(ev->type, "created");
  CHECK_STR(ev->id, "o1");

  CHECK_MEM(ev->json[HUB_PAYLOAD_FULL]->data, ev->json[HUB_PAYLOAD_FULL]->len,
            "{\"seq\":42,\"collection\":\"orders\",\"type\":\"created\",\"id\":\"o1\",\"version\":3,"
            "\"ts\":\"2026-12-04T19:30:00.123Z\",\"data\":{\"id\":\"o1\",\"total\":12.5,\"tags\":[\"a\"]}}");
  CHECK_MEM(ev->json[HUB_PAYLOAD_MINIMAL]->data, ev->json[HUB_PAYLOAD_MINIMAL]->len,
            "{\"seq\":42,\"collection\":\"orders\",\"type\":\"created\",\"id\":\"o1\",\"version\":3,"
            "\"ts\":\"2026-12-04T19:30:00.123Z\"}");

  json_t *full = load(ev->json[HUB_PAYLOAD_FULL]);
  check_keys(full, "seq,collection,type,id,version,ts,data");
  CHECK_EQ_INT(json_integer_value(json_object_get(full, "seq")), 42);
  CHECK_EQ_INT(json_integer_value(json_object_get(full, "version")), 3);
  CHECK_STR(json_string_value(json_object_get(full, "ts")), "2026-12-04T19:30:00.123Z");
  CHECK(json_real_value(json_object_get(json_object_get(full, "data"), "total")) == 12.5);
  json_decref(full);
  json_t *min = load(ev->json[HUB_PAYLOAD_MINIMAL]);
  check_keys(min, "seq,collection,type,id,version,ts");
  json_decref(min);

  CHECK(hub_event_ref(ev) == ev);
  CHECK_EQ_INT(atomic_load(&ev->refs), 2);
  hub_event_unref(ev);
  hub_event_unref(ev);
  hub_event_unref(NULL);
}

static void test_deleted(void) {
  /* Deletion: data NULL, empty, or the text "null" all write "data":null. */
  const char *datas[] = {NULL, "", "null"};
  for (int i = 0; i < 3; i++) {
    hub_event_t *ev =
        hub_event_new(7, "orders", "deleted", "o1", 4, 0, datas[i], datas[i] ? strlen(datas[i]) : 0);
    CHECK_MEM(ev->json[HUB_PAYLOAD_FULL]->data, ev->json[HUB_PAYLOAD_FULL]->len,
              "{\"seq\":7,\"collection\":\"orders\",\"type\":\"deleted\",\"id\":\"o1\",\"version\":4,"
              "\"ts\":\"1970-01-01T00:00:00.000Z\",\"data\":null}");
    json_t *full = load(ev->json[HUB_PAYLOAD_FULL]);
    check_keys(full, "seq,collection,type,id,version,ts,data");
    CHECK(json_is_null(json_object_get(full, "data")));
    json_decref(full);
    json_t *min = load(ev->json[HUB_PAYLOAD_MINIMAL]);
    check_keys(min, "seq,collection,type,id,version,ts");
    json_decref(min);
    hub_event_unref(ev);
  }
}

static void test_custom(void) {
  /* Custom events have no id and no version. */
  const char *ids[] = {NULL, ""};
  for (int i = 0; i < 2; i++) {
    hub_event_t *ev =
        hub_event_new(UINT64_C(18446744073709551615), "chat", "message:sent", ids[i], 0, TS, "[1,\"x\"]", 7);
    CHECK_STR(ev->id, "");
    CHECK_MEM(ev->json[HUB_PAYLOAD_FULL]->data, ev->json[HUB_PAYLOAD_FULL]->len,
              "{\"seq\":18446744073709551615,\"collection\":\"chat\",\"type\":\"message:sent\","
              "\"ts\":\"2026-12-04T19:30:00.123Z\",\"data\":[1,\"x\"]}");
    CHECK_MEM(ev->json[HUB_PAYLOAD_MINIMAL]->data, ev->json[HUB_PAYLOAD_MINIMAL]->len,
              "{\"seq\":18446744073709551615,\"collection\":\"chat\",\"type\":\"message:sent\","
              "\"ts\":\"2026-12-04T19:30:00.123Z\"}");
    hub_event_unref(ev);
  }
  /* Scalar data, as POST /api/_events allows any JSON value. */
  hub_event_t *ev = hub_event_new(1, "c", "t", NULL, 0, TS, "\"hi\"", 4);
  json_t *full = load(ev->json[HUB_PAYLOAD_FULL]);
  check_keys(full, "seq,collection,type,ts,data");
  CHECK_STR(json_string_value(json_object_get(full, "data")), "hi");
  json_decref(full);
  hub_event_unref(ev);
}

static void test_escaping(void) {
  /* The hub does not validate names; whatever it is given must still come out
   * as valid JSON that reads back as the same strings. */
  const char *coll = "we\"ird\\coll\n\x01\x1f/caf\xc3\xa9";
  const char *type = "t\t\"\x7f\xf0\x9f\x98\x80";
  const char *id = "i\"d\\";
  hub_event_t *ev = hub_event_new(5, coll, type, id, 1, TS, "{}", 2);
  for (int p = 0; p < 2; p++) {
    json_t *o = load(ev->json[p]);
    CHECK_STR(json_string_value(json_object_get(o, "collection")), coll);
    CHECK_STR(json_string_value(json_object_get(o, "type")), type);
    CHECK_STR(json_string_value(json_object_get(o, "id")), id);
    json_decref(o);
  }
  CHECK(strstr(ev->json[0]->data, "\\u0001\\u001f") != NULL);
  CHECK(strstr(ev->json[0]->data, "caf\xc3\xa9") != NULL); /* UTF-8 passes through */
  hub_event_unref(ev);
}

static void test_big_data(void) {
  size_t n = 200000;
  char *doc = malloc(n + 16);
  size_t o = (size_t)snprintf(doc, 16, "{\"s\":\"");
  memset(doc + o, 'x', n);
  memcpy(doc + o + n, "\"}", 3);
  hub_event_t *ev = hub_event_new(9, "big", "updated", "b", 2, TS, doc, strlen(doc));
  json_t *v = load(ev->json[HUB_PAYLOAD_FULL]);
  CHECK_EQ_INT(json_string_length(json_object_get(json_object_get(v, "data"), "s")), n);
  json_decref(v);
  CHECK(ev->json[HUB_PAYLOAD_MINIMAL]->len < 200);
  hub_event_unref(ev);
  free(doc);
}

/* ---- encoding cache ---------------------------------------------------- */

#define RACERS 8
#define ROUNDS 200

typedef struct {
  hub_event_t *ev;
  pthread_barrier_t *start;
  int round;
  bytes_t *won[ROUNDS];
  bytes_t *mine[ROUNDS];
} racer_t;

static hub_event_t *race_evs[ROUNDS];

static void *racer(void *arg) {
  racer_t *r = arg;
  for (int i = 0; i < ROUNDS; i++) {
    pthread_barrier_wait(r->start);
    hub_event_t *ev = race_evs[i];
    bytes_t *got = hub_event_enc_get(ev, HUB_ENC_WS_FULL);
    if (!got) {
      bytes_t *b = bytes_new("frame", 5);
      r->mine[i] = b; /* only compared by address, never dereferenced after set */
      got = hub_event_enc_set(ev, HUB_ENC_WS_FULL, b);
    }
    r->won[i] = got;
  }
  return NULL;
}

static void test_enc_cache(void) {
  hub_event_t *ev = hub_event_new(1, "c", "created", "a", 1, TS, "{}", 2);
  for (int s = 0; s < HUB_ENC_MAX; s++) CHECK(hub_event_enc_get(ev, s) == NULL);
  bytes_t *a = bytes_new("A", 1), *b = bytes_new("B", 1);
  CHECK(hub_event_enc_set(ev, HUB_ENC_SSE_MIN, a) == a);
  CHECK(hub_event_enc_get(ev, HUB_ENC_SSE_MIN) == a);
  /* A second set loses: b is freed (ASan would see a leak otherwise), the
   * first stays. */
  CHECK(hub_event_enc_set(ev, HUB_ENC_SSE_MIN, b) == a);
  CHECK(hub_event_enc_get(ev, HUB_ENC_SSE_MIN) == a);
  CHECK(hub_event_enc_get(ev, HUB_ENC_SSE_FULL) == NULL);
  /* A caller keeping the encoding past the event takes its own reference. */
  bytes_t *kept = bytes_ref(hub_event_enc_get(ev, HUB_ENC_SSE_MIN));
  CHECK(hub_event_enc_set(ev, HUB_ENC_WS_MIN, bytes_new("W", 1)) != NULL);
  hub_event_unref(ev); /* frees both cached encodings except our reference */
  CHECK_MEM(kept->data, kept->len, "A");
  CHECK_EQ_INT(atomic_load(&kept->refs), 1);
  bytes_unref(kept);

  /* Many threads race to fill the same slot: all see one winner. */
  for (int i = 0; i < ROUNDS; i++)
    race_evs[i] = hub_event_new((uint64_t)i + 1, "c", "t", "x", 1, TS, "{}", 2);
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, RACERS);
  pthread_t th[RACERS];
  static racer_t rs[RACERS];
  for (int t = 0; t < RACERS; t++) {
    memset(&rs[t], 0, sizeof rs[t]);
    rs[t].start = &start;
    pthread_create(&th[t], NULL, racer, &rs[t]);
  }
  for (int t = 0; t < RACERS; t++) pthread_join(th[t], NULL);
  pthread_barrier_destroy(&start);
  for (int i = 0; i < ROUNDS; i++) {
    bytes_t *w = hub_event_enc_get(race_evs[i], HUB_ENC_WS_FULL);
    CHECK(w != NULL);
    int winners = 0;
    for (int t = 0; t < RACERS; t++) {
      CHECK(rs[t].won[i] == w);
      if (rs[t].mine[i] == w) winners++;
    }
    CHECK_EQ_INT(winners, 1);
    CHECK_EQ_INT(atomic_load(&w->refs), 1);
    hub_event_unref(race_evs[i]);
  }
}

int main(void) {
  test_created();
  test_deleted();
  test_custom();
  test_escaping();
  test_big_data();
  test_enc_cache();
  return TEST_SUMMARY();
}
