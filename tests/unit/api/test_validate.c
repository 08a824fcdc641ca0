/* Unit tests for api/validate: collection names, document ids, every JSON
 * body error class, the depth limit, strip_server_fields and json_compact's
 * number formatting. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "testutil.h"

static char detail[256];

static int parse(const char *body, size_t len, int want, json_t **out) {
  detail[0] = '\0';
  return json_body_parse(body, len, want, out, detail, sizeof detail);
}

static int parse_s(const char *body, int want, json_t **out) { return parse(body, strlen(body), want, out); }

/* Parses body (must fail) and checks detail starts with prefix. */
static void bad(const char *body, size_t len, int want, const char *prefix) {
  json_t *v = (json_t *)1;
  CHECK_EQ_INT(parse(body, len, want, &v), -1);
  CHECK(v == NULL);
  if (strncmp(detail, prefix, strlen(prefix)) != 0) {
    fprintf(stderr, "  body %.40s: detail \"%s\", want prefix \"%s\"\n", body ? body : "(null)", detail,
            prefix);
    CHECK(!"detail prefix");
  }
  CHECK(strchr(detail, '\n') == NULL);
}

static void bad_s(const char *body, int want, const char *prefix) { bad(body, strlen(body), want, prefix); }

static void test_names(void) {
  CHECK(valid_collection("orders", 6));
  CHECK(valid_collection("a", 1));
  CHECK(valid_collection("a-b_c9", 6));
  CHECK(valid_collection("ordersXX", 6)); /* only n bytes count */
  CHECK(!valid_collection("", 0));
  CHECK(!valid_collection(NULL, 0));
  CHECK(!valid_collection("_ws", 3));
  CHECK(!valid_collection("_events", 7));
  CHECK(!valid_collection("Orders", 6));
  CHECK(!valid_collection("9lives", 6));
  CHECK(!valid_collection("-a", 2));
  CHECK(!valid_collection("a.b", 3));
  CHECK(!valid_collection("a b", 3));
  CHECK(!valid_collection("a\0b", 3));
  CHECK(!valid_collection("caf\xc3\xa9", 5));
  char s[200];
  memset(s, 'x', sizeof s);
  CHECK(valid_collection(s, 64));
  CHECK(!valid_collection(s, 65));

  CHECK(valid_doc_id("a", 1));
  CHECK(valid_doc_id("0", 1));
  CHECK(valid_doc_id("01J9Z7-abc_def.ghi", 18));
  CHECK(valid_doc_id("A.b-c_d", 7));
  CHECK(!valid_doc_id("", 0));
  CHECK(!valid_doc_id(NULL, 0));
  CHECK(!valid_doc_id(".a", 2));
  CHECK(!valid_doc_id("_a", 2));
  CHECK(!valid_doc_id("-a", 2));
  CHECK(!valid_doc_id("a/b", 3));
  CHECK(!valid_doc_id("a:b", 3));
  CHECK(!valid_doc_id("a b", 3));
  CHECK(!valid_doc_id("a\0", 2));
  CHECK(!valid_doc_id("\xc3\xa9", 2));
  CHECK(valid_doc_id(s, 128));
  CHECK(!valid_doc_id(s, 129));
}

static char *nested(int depth, char open, char close) {
  char *s = malloc((size_t)depth * 2 + 1);
  memset(s, open, (size_t)depth);
  memset(s + depth, close, (size_t)depth);
  s[depth * 2] = '\0';
  return s;
}

static void test_parse_ok(void) {
  json_t *v = NULL;
  CHECK_EQ_INT(parse_s("{\"a\":1,\"b\":[true,null,\"x\"]}", JSON_BODY_OBJECT, &v), 0);
  CHECK(json_is_object(v));
  CHECK_EQ_INT(json_integer_value(json_object_get(v, "a")), 1);
  json_decref(v);
  CHECK_EQ_INT(parse_s("  {}\r\n", JSON_BODY_OBJECT, &v), 0);
  json_decref(v);
  CHECK_EQ_INT(parse_s("{\"k\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}", JSON_BODY_OBJECT, &v), 0);
  CHECK_STR(json_string_value(json_object_get(v, "k")), "caf\xc3\xa9 \xf0\x9f\x98\x80");
  json_decref(v);
  /* Only the given length is parsed. */
  CHECK_EQ_INT(parse("{\"a\":1}garbage", 7, JSON_BODY_OBJECT, &v), 0);
  json_decref(v);

  /* ANY accepts every kind of value. */
  const char *any[] = {"[1,2]", "\"s\"", "42", "-1.5", "true", "null", "{}"};
  for (size_t i = 0; i < sizeof any / sizeof any[0]; i++) {
    CHECK_EQ_INT(parse_s(any[i], JSON_BODY_ANY, &v), 0);
    json_decref(v);
  }

  /* Depth: 64 levels are fine, 65 are not, for objects, arrays and a mix. */
  char *s = nested(64, '[', ']');
  CHECK_EQ_INT(parse_s(s, JSON_BODY_ANY, &v), 0);
  json_decref(v);
  free(s);
  s = nested(65, '[', ']');
  bad_s(s, JSON_BODY_ANY, "nesting deeper than 64");
  free(s);
  /* {"a":{"a":...{}}} with 64 objects. */
  char obj[1024];
  size_t o = 0;
  for (int i = 0; i < 63; i++) o += (size_t)snprintf(obj + o, sizeof obj - o, "{\"a\":");
  o += (size_t)snprintf(obj + o, sizeof obj - o, "{}");
  for (int i = 0; i < 63; i++) obj[o++] = '}';
  obj[o] = '\0';
  CHECK_EQ_INT(parse_s(obj, JSON_BODY_OBJECT, &v), 0);
  json_decref(v);
  /* One more level, inside an array at the bottom. */
  memmove(obj + 63 * 5 + 1, obj + 63 * 5, strlen(obj + 63 * 5) + 1);
  obj[63 * 5] = '[';
  memmove(obj + 63 * 5 + 4, obj + 63 * 5 + 3, strlen(obj + 63 * 5 + 3) + 1);
  obj[63 * 5 + 3] = ']';
  CHECK_EQ_INT(parse_s(obj, JSON_BODY_OBJECT, &v), -1);
  CHECK_STR(detail, "nesting deeper than 64");
  /* Depth is counted on every branch, not only the first. */
  CHECK_EQ_INT(parse(obj, 0, JSON_BODY_OBJECT, &v), -1);
  s = nested(64, '[', ']');
  char two[512];
  snprintf(two, sizeof two, "{\"ok\":1,\"deep\":%s}", s);
  bad_s(two, JSON_BODY_OBJECT, "nesting deeper than 64");
  snprintf(two, sizeof two, "[1,2,%s]", s);
  bad_s(two, JSON_BODY_ANY, "nesting deeper than 64");
  free(s);
  /* Past jansson's own 2048 limit the same reason is given. */
  s = nested(3000, '[', ']');
  bad_s(s, JSON_BODY_ANY, "nesting deeper than 64");
  free(s);
}

static void test_parse_errors(void) {
  bad_s("{\"a\":}", JSON_BODY_OBJECT, "malformed JSON: ");
  json_t *v;
  CHECK_EQ_INT(parse_s("{\"a\":\n  tru}", JSON_BODY_OBJECT, &v), -1);
  CHECK_STR(detail, "malformed JSON: invalid token near 'tru' at line 2 column 5");
  bad_s("{\"a\":1", JSON_BODY_OBJECT, "malformed JSON: ");
  bad_s("{\"a\":1} x", JSON_BODY_OBJECT, "malformed JSON: end of file expected");
  bad_s("{'a':1}", JSON_BODY_OBJECT, "malformed JSON: ");
  bad_s("{\"a\":1,}", JSON_BODY_OBJECT, "malformed JSON: ");
  bad_s("{\"a\":NaN}", JSON_BODY_OBJECT, "malformed JSON: ");
  bad_s("{\"a\":1e400}", JSON_BODY_OBJECT, "malformed JSON: real number overflow");
  bad_s("{\"a\":9223372036854775808}", JSON_BODY_OBJECT, "malformed JSON: too big integer");
  bad_s("{\"a\":\"\\ud800\"}", JSON_BODY_OBJECT, "malformed JSON: invalid Unicode");
  bad_s("   ", JSON_BODY_OBJECT, "malformed JSON: ");
  bad("", 0, JSON_BODY_OBJECT, "malformed JSON: empty body");
  bad(NULL, 0, JSON_BODY_ANY, "malformed JSON: empty body");
  bad_s("{\"a\":\"x\ty\"}", JSON_BODY_OBJECT, "malformed JSON: control character");

  /* NUL bytes, raw or escaped. */
  bad("{\"a\":\"x\0y\"}", 11, JSON_BODY_OBJECT, "malformed JSON: NUL byte at offset 7");
  bad("{\"a\":1}\0", 8, JSON_BODY_OBJECT, "malformed JSON: NUL byte at offset 7");
  bad_s("{\"a\":\"\\u0000\"}", JSON_BODY_OBJECT, "malformed JSON: ");
  bad_s("{\"a\\u0000b\":1}", JSON_BODY_OBJECT, "malformed JSON: ");

  /* Duplicate keys, including one spelled with an escape. */
  CHECK_EQ_INT(parse_s("{\"a\":1,\"b\":2,\"a\":3}", JSON_BODY_OBJECT, &v), -1);
  CHECK_STR(detail, "duplicate key 'a'");
  CHECK_EQ_INT(parse_s("{\"x\":{\"name\":1,\"name\":2}}", JSON_BODY_OBJECT, &v), -1);
  CHECK_STR(detail, "duplicate key 'name'");
  CHECK_EQ_INT(parse_s("{\"ab\":1,\"a\\u0062\":2}", JSON_BODY_OBJECT, &v), -1);
  CHECK_STR(detail, "duplicate key 'a\\u0062'");
  char longdup[700];
  char key[300];
  memset(key, 'k', 299);
  key[299] = '\0';
  snprintf(longdup, sizeof longdup, "{\"%s\":1,\"%s\":2}", key, key);
  bad_s(longdup, JSON_BODY_OBJECT, "duplicate key at line 1 column ");
  CHECK(strlen(detail) < 80);

  /* Invalid UTF-8: a lone continuation byte, an overlong form, a surrogate
   * encoded directly, a truncated sequence, a byte outside a string. */
  bad_s("{\"a\":\"\x80\"}", JSON_BODY_OBJECT, "invalid UTF-8");
  bad_s("{\"a\":\"\xc0\xaf\"}", JSON_BODY_OBJECT, "invalid UTF-8");
  bad_s("{\"a\":\"\xed\xa0\x80\"}", JSON_BODY_OBJECT, "invalid UTF-8");
  bad_s("{\"a\":\"\xe2\x82\"}", JSON_BODY_OBJECT, "invalid UTF-8");
  bad_s("{\"\xff\":1}", JSON_BODY_OBJECT, "invalid UTF-8");
  bad_s("\xc3\x28", JSON_BODY_ANY, "invalid UTF-8");
  bad_s("\"\xff\"", JSON_BODY_OBJECT, "invalid UTF-8");
  CHECK_EQ_INT(parse_s("{\"a\":\"\xff\"}", JSON_BODY_OBJECT, &v), -1);
  CHECK_STR(detail, "invalid UTF-8 at line 1 column 6");

  /* Not an object. */
  bad_s("[1,2]", JSON_BODY_OBJECT, "body must be a JSON object");
  bad_s("[]", JSON_BODY_OBJECT, "body must be a JSON object");
  bad_s("\"str\"", JSON_BODY_OBJECT, "body must be a JSON object");
  bad_s("42", JSON_BODY_OBJECT, "body must be a JSON object");
  bad_s("null", JSON_BODY_OBJECT, "body must be a JSON object");
  bad_s(" true ", JSON_BODY_OBJECT, "body must be a JSON object");
  /* A malformed scalar is malformed, not "not an object". */
  bad_s("tru", JSON_BODY_OBJECT, "malformed JSON: ");
  bad_s("42 43", JSON_BODY_OBJECT, "malformed JSON: ");

  /* NULL detail buffer is allowed. */
  CHECK_EQ_INT(json_body_parse("x", 1, JSON_BODY_ANY, &v, NULL, 0), -1);
}

static void test_strip(void) {
  json_t *v;
  CHECK_EQ_INT(parse_s("{\"id\":\"x\",\"a\":1,\"version\":9,\"createdAt\":\"t\",\"updatedAt\":\"t\","
                       "\"nested\":{\"id\":1}}",
                       JSON_BODY_OBJECT, &v),
               0);
  strip_server_fields(v);
  char *s = json_compact(v, NULL);
  CHECK_STR(s, "{\"a\":1,\"nested\":{\"id\":1}}");
  free(s);
  json_decref(v);
  json_t *a = json_array();
  strip_server_fields(a); /* no-op */
  strip_server_fields(NULL);
  json_decref(a);
}

/* Parses text, compacts it, compares with want. */
static void round_trip(const char *text, const char *want) {
  json_t *v;
  CHECK_EQ_INT(parse_s(text, JSON_BODY_ANY, &v), 0);
  size_t len = 0;
  char *s = json_compact(v, &len);
  CHECK_STR(s, want);
  CHECK_EQ_INT(len, strlen(want));
  /* The output parses back to an equal value. */
  json_t *back;
  CHECK_EQ_INT(parse(s, len, JSON_BODY_ANY, &back), 0);
  CHECK(json_equal(v, back));
  json_decref(back);
  free(s);
  json_decref(v);
}

static void test_compact(void) {
  round_trip("{ \"b\" : 1 , \"a\" : [ 1 , 2 ] , \"c\" : { } }", "{\"b\":1,\"a\":[1,2],\"c\":{}}");
  round_trip("{\"z\":1,\"y\":2,\"x\":3,\"w\":4,\"v\":5}", "{\"z\":1,\"y\":2,\"x\":3,\"w\":4,\"v\":5}");
  round_trip("0.1", "0.1");
  round_trip("[0.1,0.2,0.30000000000000004]", "[0.1,0.2,0.30000000000000004]");
  round_trip("1e300", "1e300");
  round_trip("1E-7", "1e-7");
  round_trip("1.5e-300", "1.5e-300");
  round_trip("-0.0", "-0.0");
  round_trip("-0", "0"); /* jansson reads -0 as the integer 0 */
  round_trip("2.0", "2.0");
  round_trip("100.0", "100.0");
  round_trip("123.456", "123.456");
  round_trip("3.141592653589793", "3.141592653589793");
  round_trip("2.2250738585072014e-308", "2.2250738585072014e-308");
  round_trip("4.9e-324", "5e-324");
  round_trip("1.7976931348623157e308", "1.7976931348623157e308");
  round_trip("1e21", "1e21");
  round_trip("123456789012345678.0", "1.2345678901234568e17");
  round_trip("9223372036854775807", "9223372036854775807");
  round_trip("-9223372036854775808", "-9223372036854775808");
  round_trip("[0,-1,42]", "[0,-1,42]");
  round_trip("[true,false,null]", "[true,false,null]");
  /* Strings: UTF-8 passes through, control characters are escaped, an
   * escaped slash comes back bare. */
  round_trip("\"caf\xc3\xa9 \xf0\x9f\x98\x80 \\u00e9\"", "\"caf\xc3\xa9 \xf0\x9f\x98\x80 \xc3\xa9\"");
  round_trip("\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f\"",
             "\"a\\\"b\\\\c/d\\n\\t\\r\\b\\f\\u0001\\u001f\x7f\"");
  round_trip("{\"k\\n\\\"\":1}", "{\"k\\n\\\"\":1}");

  /* Reals built in code, not parsed. */
  json_t *a = json_array();
  json_array_append_new(a, json_real(0.1 + 0.2));
  json_array_append_new(a, json_real(1.0 / 3.0));
  json_array_append_new(a, json_real(-1e-10));
  json_array_append_new(a, json_real(5e-324));
  json_array_append_new(a, json_real(1e16));
  json_array_append_new(a, json_real(-2.5e-320));
  char *s = json_compact(a, NULL);
  CHECK_STR(s, "[0.30000000000000004,0.3333333333333333,-1e-10,5e-324,1e16,-2.5e-320]");
  free(s);
  json_decref(a);
  /* Every real prints in a form that reads back as the same double. */
  unsigned x = 12345;
  for (int i = 0; i < 20000; i++) {
    x = x * 1103515245u + 12345u;
    double d = ldexp((double)(x >> 4) / (double)(1u << 28), (int)(x % 200) - 100);
    json_t *r = json_real(i & 1 ? -d : d);
    s = json_compact(r, NULL);
    if (strtod(s, NULL) != json_real_value(r)) {
      fprintf(stderr, "  real %.17g printed as %s\n", json_real_value(r), s);
      CHECK(!"real round trip");
    }
    free(s);
    json_decref(r);
  }
  s = json_compact(NULL, NULL);
  CHECK_STR(s, "null");
  free(s);
}

int main(void) {
  test_names();
  test_parse_ok();
  test_parse_errors();
  test_strip();
  test_compact();
  return TEST_SUMMARY();
}
