/* Unit tests for core/buf and core/bytes: growth, numbers, JSON string
 * escaping (control characters, quotes, UTF-8 passthrough), detach, and
 * refcounted byte strings. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/bytes.h"
#include "testutil.h"

static void test_basic(void) {
  buf_t b = BUF_INIT;
  CHECK_STR(buf_cstr(&b), "");
  CHECK_EQ_INT(b.len, 0);
  buf_puts(&b, "hello");
  buf_putc(&b, ' ');
  buf_append(&b, "world!!", 5);
  buf_append(&b, NULL, 0);
  CHECK_MEM(b.data, b.len, "hello world");
  CHECK_STR(buf_cstr(&b), "hello world");
  CHECK_EQ_INT(b.len, 11); /* the NUL is not counted */
  buf_printf(&b, " %d-%s", 42, "x");
  CHECK_STR(buf_cstr(&b), "hello world 42-x");
  buf_printf(&b, "%s", ""); /* empty output appends nothing */
  CHECK_EQ_INT(b.len, 16);
  buf_clear(&b);
  CHECK_EQ_INT(b.len, 0);
  CHECK(b.cap > 0);
  CHECK_STR(buf_cstr(&b), "");

  /* Growth across many sizes keeps every byte. */
  for (int i = 0; i < 100000; i++) buf_putc(&b, (char)('a' + i % 26));
  CHECK_EQ_INT(b.len, 100000);
  CHECK(b.cap > b.len);
  bool ok = true;
  for (int i = 0; i < 100000; i++) ok &= b.data[i] == (char)('a' + i % 26);
  CHECK(ok);
  buf_clear(&b);
  /* printf output longer than the current capacity. */
  char big[5000];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  buf_free(&b);
  buf_printf(&b, "<%s>", big);
  CHECK_EQ_INT(b.len, 5001);
  CHECK_EQ_INT(b.data[0], '<');
  CHECK_EQ_INT(b.data[5000], '>');
  buf_free(&b);
  CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
  buf_free(&b); /* twice is harmless */

  buf_reserve(&b, 1000);
  CHECK(b.cap >= 1001);
  CHECK_EQ_INT(b.len, 0);
  buf_append(&b, "a\0b", 3); /* binary-safe */
  size_t len = 0;
  char *p = buf_detach(&b, &len);
  CHECK_EQ_INT(len, 3);
  CHECK(memcmp(p, "a\0b", 4) == 0);
  CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
  free(p);
  p = buf_detach(&b, NULL); /* detaching an empty buffer gives "" */
  CHECK_STR(p, "");
  free(p);

  char *d = xstrndup("abcdef", 3);
  CHECK_STR(d, "abc");
  free(d);
  d = xstrdup("");
  CHECK_STR(d, "");
  free(d);
  free(xmalloc(0));
  free(xcalloc(0, 0));
  free(xrealloc(NULL, 0));
}

static void test_numbers(void) {
  buf_t b = BUF_INIT;
  buf_put_u64(&b, 0);
  buf_putc(&b, ' ');
  buf_put_u64(&b, 7);
  buf_putc(&b, ' ');
  buf_put_u64(&b, 1234567890);
  buf_putc(&b, ' ');
  buf_put_u64(&b, UINT64_MAX);
  buf_putc(&b, ' ');
  buf_put_i64(&b, 0);
  buf_putc(&b, ' ');
  buf_put_i64(&b, -1);
  buf_putc(&b, ' ');
  buf_put_i64(&b, INT64_MAX);
  buf_putc(&b, ' ');
  buf_put_i64(&b, INT64_MIN);
  CHECK_STR(buf_cstr(&b),
            "0 7 1234567890 18446744073709551615 0 -1 9223372036854775807 -9223372036854775808");
  buf_free(&b);
}

static const char *json_str(buf_t *b, const char *s, size_t n) {
  buf_clear(b);
  buf_put_json_str(b, s, n);
  return buf_cstr(b);
}

static void test_json_str(void) {
  buf_t b = BUF_INIT;
  CHECK_STR(json_str(&b, "", 0), "\"\"");
  CHECK_STR(json_str(&b, "plain", 5), "\"plain\"");
  CHECK_STR(json_str(&b, "a\"b\\c", 5), "\"a\\\"b\\\\c\"");
  CHECK_STR(json_str(&b, "\n\r\t\b\f", 5), "\"\\n\\r\\t\\b\\f\"");
  CHECK_STR(json_str(&b, "\x01\x1f\x7f/", 4), "\"\\u0001\\u001f\x7f/\"");
  CHECK_STR(json_str(&b, "a\0b", 3), "\"a\\u0000b\"");
  CHECK_STR(json_str(&b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  /* U+2028 passes through (valid JSON; JS consumers parse it with JSON.parse). */
  CHECK_STR(json_str(&b, "\xe2\x80\xa8", 3), "\"\xe2\x80\xa8\"");
  /* Only n bytes are read. */
  CHECK_STR(json_str(&b, "abcdef", 2), "\"ab\"");

  /* Every byte 0x00..0x7f escapes to JSON that reads back as itself. */
  char all[128];
  for (int i = 0; i < 128; i++) all[i] = (char)i;
  json_str(&b, all, sizeof all);
  json_error_t e;
  json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
  CHECK(v != NULL);
  if (v) {
    CHECK_EQ_INT(json_string_length(v), 128);
    CHECK(memcmp(json_string_value(v), all, 128) == 0);
    json_decref(v);
  }
  /* No raw control character is left in the output. */
  bool raw = false;
  for (size_t i = 0; i < b.len; i++) raw |= (unsigned char)b.data[i] < 0x20;
  CHECK(!raw);
  /* Appending to existing contents. */
  buf_clear(&b);
  buf_puts(&b, "{\"k\":");
  buf_put_json_str(&b, "v\n", 2);
  buf_putc(&b, '}');
  CHECK_STR(buf_cstr(&b), "{\"k\":\"v\\n\"}");
  buf_free(&b);
}

static void test_bytes(void) {
  bytes_t *b = bytes_new("hello", 5);
  CHECK_EQ_INT(b->len, 5);
  CHECK_STR(b->data, "hello"); /* NUL-terminated */
  CHECK_EQ_INT(atomic_load(&b->refs), 1);
  CHECK(bytes_ref(b) == b);
  CHECK_EQ_INT(atomic_load(&b->refs), 2);
  bytes_unref(b);
  CHECK_EQ_INT(atomic_load(&b->refs), 1);
  bytes_unref(b);
  bytes_unref(NULL);
  bytes_t *e = bytes_new(NULL, 0);
  CHECK_EQ_INT(e->len, 0);
  CHECK_STR(e->data, "");
  bytes_unref(e);
  bytes_t *a = bytes_alloc(3);
  memcpy(a->data, "xyz", 3);
  CHECK_EQ_INT(a->data[3], '\0');
  CHECK_MEM(a->data, a->len, "xyz");
  bytes_unref(a);
}

int main(void) {
  test_basic();
  test_numbers();
  test_json_str();
  test_bytes();
  return TEST_SUMMARY();
}
