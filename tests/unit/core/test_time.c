/* Unit tests for core/timeutil: RFC 3339 and HTTP date formatting, clocks,
 * and duration parsing including malformed input. */
#include <stdint.h>
#include <string.h>

#include "core/timeutil.h"
#include "testutil.h"

static void rfc(int64_t ms, const char *want) {
  char out[TIME_RFC3339_LEN + 8];
  memset(out, 'X', sizeof out);
  time_format_rfc3339(ms, out);
  CHECK_STR(out, want);
  CHECK_EQ_INT(strlen(out), TIME_RFC3339_LEN);
}

static void http(int64_t ms, const char *want) {
  char out[40];
  memset(out, 'X', sizeof out);
  time_format_http(ms, out);
  CHECK_STR(out, want);
  CHECK_EQ_INT(strlen(out), 29);
}

static void test_format(void) {
  rfc(0, "1970-01-01T00:00:00.000Z");
  rfc(1, "1970-01-01T00:00:00.001Z");
  rfc(999, "1970-01-01T00:00:00.999Z");
  rfc(1000, "1970-01-01T00:00:01.000Z");
  rfc(1796412600123LL, "2026-12-04T19:30:00.123Z");
  rfc(951782400000LL, "2000-02-29T00:00:00.000Z"); /* leap day */
  rfc(1709251199999LL, "2024-02-29T23:59:59.999Z");
  rfc(253402300799999LL, "9999-12-31T23:59:59.999Z");

  http(0, "Thu, 01 Jan 1970 00:00:00 GMT");
  http(784111777000LL, "Sun, 06 Nov 1994 08:49:37 GMT");
  http(784111777999LL, "Sun, 06 Nov 1994 08:49:37 GMT");
  http(1796412600123LL, "Fri, 04 Dec 2026 19:30:00 GMT");
  http(951782400000LL, "Tue, 29 Feb 2000 00:00:00 GMT");
}

static void test_clocks(void) {
  int64_t now = time_now_ms();
  CHECK(now > 1700000000000LL); /* after 2023 */
  uint64_t a = time_mono_ms(), b = time_mono_ms();
  CHECK(b >= a);
}

static void dur_ok(const char *s, int64_t want) {
  int64_t ms = -42;
  int rc = time_parse_duration(s, &ms);
  if (rc) fprintf(stderr, "  duration '%s' rejected\n", s);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(ms, want);
}

static void dur_bad(const char *s) {
  int64_t ms = -42;
  int rc = time_parse_duration(s, &ms);
  if (rc == 0) fprintf(stderr, "  duration '%s' accepted as %lld\n", s ? s : "(null)", (long long)ms);
  CHECK_EQ_INT(rc, -1);
  CHECK_EQ_INT(ms, -42); /* untouched on error */
}

static void test_durations(void) {
  dur_ok("7d", 7LL * 86400 * 1000);
  dur_ok("12h", 12LL * 3600 * 1000);
  dur_ok("30m", 30LL * 60 * 1000);
  dur_ok("45s", 45000);
  dur_ok("500ms", 500);
  dur_ok("10", 10000); /* bare number: seconds */
  dur_ok("0", 0);
  dur_ok("0ms", 0);
  dur_ok("007s", 7000);
  dur_ok("9223372036854775807ms", INT64_MAX);
  dur_ok("106751991167d", 106751991167LL * 86400000);

  dur_bad(NULL);
  dur_bad("");
  dur_bad("-1");
  dur_bad("-5s");
  dur_bad("+5s");
  dur_bad(" 5s");
  dur_bad("\t5s");
  dur_bad("5 s");
  dur_bad("5s ");
  dur_bad("1.5h");
  dur_bad("5x");
  dur_bad("5S");
  dur_bad("5sec");
  dur_bad("5hh");
  dur_bad("s");
  dur_bad("ms");
  dur_bad("h5");
  dur_bad("0x10");
  dur_bad("9223372036854775808ms");
  dur_bad("99999999999999999999");
  dur_bad("106751991168d");
  dur_bad("9223372036854776s");
}

int main(void) {
  test_format();
  test_clocks();
  test_durations();
  return TEST_SUMMARY();
}
