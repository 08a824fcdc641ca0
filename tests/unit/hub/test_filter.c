/* Unit tests for hub/filter: query and JSON parsing (good and bad input),
 * percent-decoding, the path collection override, copy, to_json and the
 * match truth table. */
#include <stdlib.h>
#include <string.h>

#include "hub/event.h"
#include "hub/filter.h"
#include "testutil.h"

static char detail[256];

static int q(filter_t *f, const char *query, const char *path) {
  detail[0] = '\0';
  return filter_parse_query(f, query, query ? strlen(query) : 0, path, detail, sizeof detail);
}

/* Parses a query that must be rejected; checks the detail names param. */
static void q_bad(const char *query, const char *param, const char *want_detail) {
  filter_t f;
  filter_init(&f);
  int rc = q(&f, query, NULL);
  CHECK_EQ_INT(rc, -1);
  if (rc == 0) fprintf(stderr, "  query accepted: %s\n", query);
  CHECK(strstr(detail, param) != NULL);
  if (want_detail) CHECK_STR(detail, want_detail);
  CHECK(strchr(detail, '\n') == NULL);
  /* On failure the filter is left empty and safe to free. */
  CHECK(f.collections == NULL && f.types == NULL && f.id == NULL && !f.has_since);
  filter_free(&f);
}

static int j(filter_t *f, const char *text, const char *const *extra) {
  json_error_t e;
  json_t *o = json_loads(text, JSON_DECODE_ANY, &e);
  if (!o) {
    fprintf(stderr, "test bug: bad JSON %s: %s\n", text, e.text);
    return -2;
  }
  detail[0] = '\0';
  int rc = filter_from_json(f, o, extra, detail, sizeof detail);
  json_decref(o);
  return rc;
}

static void j_bad(const char *text, const char *want_detail) {
  filter_t f;
  filter_init(&f);
  static const char *const extra[] = {"op", "sub", NULL};
  int rc = j(&f, text, extra);
  CHECK_EQ_INT(rc, -1);
  if (rc == 0) fprintf(stderr, "  JSON accepted: %s\n", text);
  if (want_detail) CHECK_STR(detail, want_detail);
  CHECK(f.collections == NULL && f.types == NULL && f.id == NULL && !f.has_since);
  filter_free(&f);
}

static void test_query_defaults(void) {
  filter_t f;
  filter_init(&f);
  CHECK_EQ_INT(q(&f, "", NULL), 0);
  CHECK(f.collections == NULL && f.types == NULL && f.id == NULL);
  CHECK_EQ_INT(f.payload, HUB_PAYLOAD_FULL);
  CHECK(!f.has_since);
  filter_free(&f);
  CHECK_EQ_INT(q(&f, NULL, NULL), 0);
  filter_free(&f);
  CHECK_EQ_INT(q(&f, "limit=5&wait=10&foo&&bar=%zz&x=", NULL), 0); /* unknown ones ignored */
  CHECK(f.collections == NULL && !f.has_since);
  filter_free(&f);
}

static void test_query_full(void) {
  filter_t f;
  filter_init(&f);
  CHECK_EQ_INT(
      q(&f, "collections=orders,users&types=created,deleted&id=abc-1.2_3&payload=minimal&since=42", NULL), 0);
  CHECK_EQ_INT(f.ncollections, 2);
  CHECK_STR(f.collections[0], "orders");
  CHECK_STR(f.collections[1], "users");
  CHECK_EQ_INT(f.ntypes, 2);
  CHECK_STR(f.types[0], "created");
  CHECK_STR(f.types[1], "deleted");
  CHECK_STR(f.id, "abc-1.2_3");
  CHECK_EQ_INT(f.payload, HUB_PAYLOAD_MINIMAL);
  CHECK(f.has_since);
  CHECK_EQ_INT(f.since, 42);
  filter_free(&f);

  /* since=0 means "from the oldest retained": present, zero. */
  CHECK_EQ_INT(q(&f, "since=0", NULL), 0);
  CHECK(f.has_since);
  CHECK_EQ_INT(f.since, 0);
  filter_free(&f);
  CHECK_EQ_INT(q(&f, "since=9223372036854775807&payload=full", NULL), 0);
  CHECK(f.since == (uint64_t)INT64_MAX);
  CHECK_EQ_INT(f.payload, HUB_PAYLOAD_FULL);
  filter_free(&f);
  /* A leading '?' is tolerated. */
  CHECK_EQ_INT(q(&f, "?since=7", NULL), 0);
  CHECK_EQ_INT(f.since, 7);
  filter_free(&f);
  /* Custom types with ':' and '.' are allowed. */
  CHECK_EQ_INT(q(&f, "types=chat.message:v2,Ping_1", NULL), 0);
  CHECK_EQ_INT(f.ntypes, 2);
  CHECK_STR(f.types[0], "chat.message:v2");
  filter_free(&f);
  /* Duplicate items are kept once. */
  CHECK_EQ_INT(q(&f, "collections=a,b,a", NULL), 0);
  CHECK_EQ_INT(f.ncollections, 2);
  filter_free(&f);
}

static void test_query_percent(void) {
  filter_t f;
  filter_init(&f);
  CHECK_EQ_INT(q(&f, "collections=orders%2Cusers&types=created%2cupdated", NULL), 0);
  CHECK_EQ_INT(f.ncollections, 2);
  CHECK_STR(f.collections[1], "users");
  CHECK_EQ_INT(f.ntypes, 2);
  CHECK_STR(f.types[1], "updated");
  filter_free(&f);
  /* Encoded keys and values. */
  CHECK_EQ_INT(q(&f, "%73ince=%31%32&i%64=a%2Db", NULL), 0);
  CHECK_EQ_INT(f.since, 12);
  CHECK_STR(f.id, "a-b");
  filter_free(&f);
  CHECK_EQ_INT(q(&f, "types=chat%3Amsg", NULL), 0);
  CHECK_STR(f.types[0], "chat:msg");
  filter_free(&f);
  q_bad("collections=a%2", "collections", "invalid 'collections': malformed percent-encoding");
  q_bad("collections=a%", "collections", NULL);
  q_bad("id=%zz", "'id'", NULL);
  q_bad("types=a+b", "types", NULL);   /* '+' is a space, which no type allows */
  q_bad("types=a%00b", "types", NULL); /* a decoded NUL is just another bad byte */
  q_bad("collections=%2C", "collections", "invalid 'collections': empty item");
}

static void test_query_last_wins(void) {
  filter_t f;
  filter_init(&f);
  CHECK_EQ_INT(q(&f, "since=1&since=5&collections=a&collections=b,c&payload=minimal&payload=full", NULL), 0);
  CHECK_EQ_INT(f.since, 5);
  CHECK_EQ_INT(f.ncollections, 2);
  CHECK_STR(f.collections[0], "b");
  CHECK_EQ_INT(f.payload, HUB_PAYLOAD_FULL);
  filter_free(&f);
  /* An earlier bad value is overridden by a later good one, and vice versa. */
  CHECK_EQ_INT(q(&f, "since=abc&since=3", NULL), 0);
  CHECK_EQ_INT(f.since, 3);
  filter_free(&f);
  q_bad("since=3&since=abc", "since", NULL);
}

static void test_query_path_collection(void) {
  filter_t f;
  filter_init(&f);
  CHECK_EQ_INT(q(&f, "collections=x,y&types=created", "orders"), 0);
  CHECK_EQ_INT(f.ncollections, 1);
  CHECK_STR(f.collections[0], "orders");
  CHECK_EQ_INT(f.ntypes, 1);
  filter_free(&f);
  /* A bad collections parameter is ignored too, since it is not used. */
  CHECK_EQ_INT(q(&f, "collections=BAD,,", "orders"), 0);
  CHECK_STR(f.collections[0], "orders");
  filter_free(&f);
  CHECK_EQ_INT(q(&f, "", "_ws"), -1);
  CHECK(strstr(detail, "collection") != NULL);
  filter_free(&f);
}

static void test_query_bad(void) {
  q_bad("since=abc", "since", "invalid 'since': must be a non-negative integer");
  q_bad("since=-1", "since", "invalid 'since': must be a non-negative integer");
  q_bad("since=", "since", "invalid 'since': empty value");
  q_bad("since", "since", NULL);
  q_bad("since=+1", "since", NULL);
  q_bad("since=1.5", "since", NULL);
  q_bad("since=%201", "since", NULL);
  q_bad("since=0x10", "since", NULL);
  q_bad("since=9223372036854775808", "since", NULL);
  q_bad("since=18446744073709551616", "since", NULL);
  q_bad("since=99999999999999999999999999", "since", NULL);
  q_bad("payload=", "payload", NULL);
  q_bad("payload=FULL", "payload", "invalid 'payload': must be full or minimal");
  q_bad("payload=min", "payload", NULL);
  q_bad("collections=", "collections", NULL);
  q_bad("collections=a,,b", "collections", "invalid 'collections': empty item");
  q_bad("collections=a,", "collections", NULL);
  q_bad("collections=,a", "collections", NULL);
  q_bad("collections=Orders", "collections",
        "invalid 'collections': 'Orders' must match ^[a-z][a-z0-9_-]{0,63}$");
  q_bad("collections=_ws", "collections", NULL);
  q_bad("collections=1abc", "collections", NULL);
  q_bad("collections=a.b", "collections", NULL);
  q_bad("types=", "types", NULL);
  q_bad("types=a,,b", "types", NULL);
  q_bad("types=a/b", "types", NULL);
  q_bad("types=%C3%A9", "types", NULL);
  q_bad("id=", "'id'", NULL);
  q_bad("id=-abc", "'id'", NULL);
  q_bad("id=a:b", "'id'", NULL);
  q_bad("id=a,b", "'id'", NULL);

  /* Length limits: 64-char collection and type ok, 65 not; 128-char id ok, 129 not. */
  char qs[512];
  char name[200];
  filter_t f;
  filter_init(&f);
  memset(name, 'a', 64);
  name[64] = '\0';
  snprintf(qs, sizeof qs, "collections=%s&types=%s", name, name);
  CHECK_EQ_INT(q(&f, qs, NULL), 0);
  filter_free(&f);
  snprintf(qs, sizeof qs, "collections=%sa", name);
  q_bad(qs, "collections", NULL);
  snprintf(qs, sizeof qs, "types=%sa", name);
  q_bad(qs, "types", NULL);
  memset(name, 'Z', 128);
  name[128] = '\0';
  snprintf(qs, sizeof qs, "id=%s", name);
  CHECK_EQ_INT(q(&f, qs, NULL), 0);
  filter_free(&f);
  snprintf(qs, sizeof qs, "id=%sZ", name);
  q_bad(qs, "'id'", NULL);

  /* Item count: FILTER_MAX_ITEMS distinct items ok, one more not. */
  char big[2048];
  size_t o = (size_t)snprintf(big, sizeof big, "types=");
  for (int i = 0; i < FILTER_MAX_ITEMS; i++) o += (size_t)snprintf(big + o, sizeof big - o, "t%d,", i);
  big[--o] = '\0';
  CHECK_EQ_INT(q(&f, big, NULL), 0);
  CHECK_EQ_INT(f.ntypes, FILTER_MAX_ITEMS);
  filter_free(&f);
  snprintf(big + o, sizeof big - o, ",extra");
  q_bad(big, "types", "invalid 'types': more than 64 items");
}

static void test_json(void) {
  static const char *const extra[] = {"op", "sub", NULL};
  filter_t f;
  filter_init(&f);
  CHECK_EQ_INT(j(&f,
                 "{\"op\":\"subscribe\",\"sub\":\"s1\",\"collections\":[\"a\",\"b\"],\"types\":[\"created\"],"
                 "\"id\":\"x1\",\"payload\":\"minimal\",\"since\":10}",
                 extra),
               0);
  CHECK_EQ_INT(f.ncollections, 2);
  CHECK_STR(f.collections[1], "b");
  CHECK_EQ_INT(f.ntypes, 1);
  CHECK_STR(f.id, "x1");
  CHECK_EQ_INT(f.payload, HUB_PAYLOAD_MINIMAL);
  CHECK(f.has_since);
  CHECK_EQ_INT(f.since, 10);
  filter_free(&f);

  CHECK_EQ_INT(j(&f, "{}", NULL), 0);
  CHECK(f.collections == NULL && f.types == NULL && f.id == NULL && !f.has_since);
  filter_free(&f);
  /* null means the default. */
  CHECK_EQ_INT(
      j(&f, "{\"collections\":null,\"types\":null,\"id\":null,\"payload\":null,\"since\":null}", NULL), 0);
  CHECK(f.collections == NULL && f.types == NULL && f.id == NULL && !f.has_since);
  CHECK_EQ_INT(f.payload, HUB_PAYLOAD_FULL);
  filter_free(&f);
  CHECK_EQ_INT(j(&f, "{\"since\":0}", NULL), 0);
  CHECK(f.has_since && f.since == 0);
  filter_free(&f);
  CHECK_EQ_INT(j(&f, "{\"since\":9223372036854775807}", NULL), 0);
  CHECK(f.since == (uint64_t)INT64_MAX);
  filter_free(&f);

  j_bad("{\"collections\":\"a\"}", "invalid 'collections': must be an array of strings");
  j_bad("{\"collections\":[1]}", "invalid 'collections': must be an array of strings");
  j_bad("{\"collections\":[\"a\",null]}", NULL);
  j_bad("{\"collections\":[]}", "invalid 'collections': must not be empty");
  j_bad("{\"collections\":[\"\"]}", "invalid 'collections': empty item");
  j_bad("{\"collections\":[\"A\"]}", NULL);
  j_bad("{\"collections\":[\"a,b\"]}", NULL); /* no comma splitting inside JSON */
  j_bad("{\"types\":{}}", NULL);
  j_bad("{\"types\":[\"a b\"]}", NULL);
  j_bad("{\"id\":5}", "invalid 'id': must be a string");
  j_bad("{\"id\":\"\"}", NULL);
  j_bad("{\"id\":[\"a\"]}", NULL);
  j_bad("{\"payload\":\"MINIMAL\"}", "invalid 'payload': must be full or minimal");
  j_bad("{\"payload\":1}", "invalid 'payload': must be full or minimal");
  j_bad("{\"since\":\"3\"}", "invalid 'since': must be a non-negative integer");
  j_bad("{\"since\":1.5}", "invalid 'since': must be a non-negative integer");
  j_bad("{\"since\":3.0}", NULL);
  j_bad("{\"since\":-1}", NULL);
  j_bad("{\"since\":true}", NULL);
  j_bad("{\"foo\":1}", "unknown field 'foo'");
  j_bad("{\"collections\":[\"a\"],\"Since\":1}", "unknown field 'Since'");
  j_bad("[]", "filter must be a JSON object");
  j_bad("\"x\"", NULL);

  /* Without allowed_extra, op/sub are unknown. */
  CHECK_EQ_INT(j(&f, "{\"op\":\"subscribe\"}", NULL), -1);
  CHECK_STR(detail, "unknown field 'op'");
  filter_free(&f);

  /* Too many items. */
  json_t *o = json_object(), *a = json_array();
  char name[16];
  for (int i = 0; i <= FILTER_MAX_ITEMS; i++) {
    snprintf(name, sizeof name, "c%d", i);
    json_array_append_new(a, json_string(name));
  }
  json_object_set_new(o, "collections", a);
  CHECK_EQ_INT(filter_from_json(&f, o, NULL, detail, sizeof detail), -1);
  CHECK_STR(detail, "invalid 'collections': more than 64 items");
  json_array_remove(a, 0);
  CHECK_EQ_INT(filter_from_json(&f, o, NULL, detail, sizeof detail), 0);
  CHECK_EQ_INT(f.ncollections, FILTER_MAX_ITEMS);
  filter_free(&f);
  json_decref(o);

  /* A string with an embedded NUL must not pass as its prefix. */
  o = json_object();
  json_object_set_new(o, "id", json_stringn("ab\0cd", 5));
  CHECK_EQ_INT(filter_from_json(&f, o, NULL, detail, sizeof detail), -1);
  filter_free(&f);
  json_decref(o);

  /* A NULL detail buffer is allowed. */
  o = json_pack("{s:s}", "since", "x");
  CHECK_EQ_INT(filter_from_json(&f, o, NULL, NULL, 0), -1);
  json_decref(o);
}

static void test_to_json_and_copy(void) {
  filter_t f, g;
  filter_init(&f);
  filter_init(&g);
  json_t *o = filter_to_json(&f);
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  CHECK_STR(s, "{\"collections\":null,\"types\":null,\"id\":null,\"payload\":\"full\"}");
  free(s);
  json_decref(o);

  CHECK_EQ_INT(q(&f, "collections=a,b&types=created&id=d1&payload=minimal&since=5", NULL), 0);
  o = filter_to_json(&f);
  s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  CHECK_STR(s,
            "{\"collections\":[\"a\",\"b\"],\"types\":[\"created\"],\"id\":\"d1\",\"payload\":\"minimal\"}");
  free(s);
  /* to_json output parses back to the same filter. */
  CHECK_EQ_INT(filter_from_json(&g, o, NULL, detail, sizeof detail), 0);
  CHECK_EQ_INT(g.ncollections, 2);
  CHECK_STR(g.id, "d1");
  CHECK_EQ_INT(g.payload, HUB_PAYLOAD_MINIMAL);
  json_decref(o);

  filter_copy(&g, &f); /* g held strings: copy frees them first */
  filter_free(&f);     /* the copy is deep */
  CHECK_EQ_INT(g.ncollections, 2);
  CHECK_STR(g.collections[0], "a");
  CHECK_STR(g.collections[1], "b");
  CHECK_EQ_INT(g.ntypes, 1);
  CHECK_STR(g.types[0], "created");
  CHECK_STR(g.id, "d1");
  CHECK(g.has_since && g.since == 5);
  CHECK_EQ_INT(g.payload, HUB_PAYLOAD_MINIMAL);
  filter_copy(&g, &g);
  CHECK_STR(g.id, "d1");
  filter_copy(&g, &f); /* copying an empty filter empties */
  CHECK(g.collections == NULL && g.types == NULL && g.id == NULL && !g.has_since);
  filter_free(&g);
}

static void test_match(void) {
  hub_event_t *ev_oc = hub_event_new(1, "orders", "created", "o1", 1, 0, "{}", 2);
  hub_event_t *ev_od = hub_event_new(2, "orders", "deleted", "o2", 2, 0, NULL, 0);
  hub_event_t *ev_uc = hub_event_new(3, "users", "created", "o1", 1, 0, "{}", 2);
  hub_event_t *ev_custom = hub_event_new(4, "orders", "ping", NULL, 0, 0, "1", 1);
  hub_event_t *evs[] = {ev_oc, ev_od, ev_uc, ev_custom};
  struct {
    const char *query;
    const char *path;
    int want[4];
  } rows[] = {
      {"", NULL, {1, 1, 1, 1}},
      {"collections=orders", NULL, {1, 1, 0, 1}},
      {"collections=users,orders", NULL, {1, 1, 1, 1}},
      {"collections=order", NULL, {0, 0, 0, 0}},
      {"collections=orderss", NULL, {0, 0, 0, 0}},
      {"types=created", NULL, {1, 0, 1, 0}},
      {"types=deleted,ping", NULL, {0, 1, 0, 1}},
      {"id=o1", NULL, {1, 0, 1, 0}},
      {"id=o1&collections=users", NULL, {0, 0, 1, 0}},
      {"id=o", NULL, {0, 0, 0, 0}},
      {"types=created&collections=orders", NULL, {1, 0, 0, 0}},
      {"", "users", {0, 0, 1, 0}},
      {"collections=orders", "users", {0, 0, 1, 0}},
      {"payload=minimal&since=100", NULL, {1, 1, 1, 1}}, /* neither affects matching */
  };
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    filter_t f;
    filter_init(&f);
    CHECK_EQ_INT(q(&f, rows[r].query, rows[r].path), 0);
    for (int e = 0; e < 4; e++) {
      bool got = filter_match(&f, evs[e]);
      if (got != (bool)rows[r].want[e]) {
        fprintf(stderr, "match row %zu (%s) event %d: got %d\n", r, rows[r].query, e, got);
      }
      CHECK_EQ_INT(got, rows[r].want[e]);
    }
    filter_free(&f);
  }
  for (int e = 0; e < 4; e++) hub_event_unref(evs[e]);
}

int main(void) {
  test_query_defaults();
  test_query_full();
  test_query_percent();
  test_query_last_wins();
  test_query_path_collection();
  test_query_bad();
  test_json();
  test_to_json_and_copy();
  test_match();
  return TEST_SUMMARY();
}
