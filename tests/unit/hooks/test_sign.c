/* Unit test for the webhook helpers: the Standard Webhooks signature against
 * the published test vector, secrets (generate, decode), URL checks, and
 * the backoff schedule with an injected random number. */
#include <stdlib.h>
#include <string.h>

#include "hooks/hooks.h"
#include "testutil.h"

/* The vector published with the Standard Webhooks reference libraries
 * (and Svix's): secret, id, timestamp and body give this signature. */
static void test_vector(void) {
  unsigned char key[HOOKS_KEY_MAX];
  size_t keylen = 0;
  CHECK_EQ_INT(hooks_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &keylen), 0);
  CHECK_EQ_INT(keylen, 24);
  const char *body = "{\"test\": 2432232314}";
  char sig[HOOKS_SIG_MAX];
  CHECK_EQ_INT(hooks_sign(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body), sig),
               0);
  CHECK_STR(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");

  /* The prefix is optional; a different timestamp or body signs differently. */
  size_t keylen2 = 0;
  unsigned char key2[HOOKS_KEY_MAX];
  CHECK_EQ_INT(hooks_secret_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key2, &keylen2), 0);
  CHECK(keylen2 == keylen && memcmp(key, key2, keylen) == 0);
  char sig2[HOOKS_SIG_MAX];
  CHECK_EQ_INT(hooks_sign(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body, strlen(body), sig2),
               0);
  CHECK(strcmp(sig, sig2) != 0);
  CHECK_EQ_INT(hooks_sign(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, "{}", 2, sig2), 0);
  CHECK(strcmp(sig, sig2) != 0);
  /* An empty body is signed as "id.timestamp." */
  CHECK_EQ_INT(hooks_sign(key, keylen, "m", 1, "", 0, sig2), 0);
  CHECK_EQ_INT(strlen(sig2), 47);
}

static void test_secrets(void) {
  char a[HOOKS_SECRET_MAX], b[HOOKS_SECRET_MAX];
  CHECK_EQ_INT(hooks_secret_new(a), 0);
  CHECK_EQ_INT(hooks_secret_new(b), 0);
  CHECK(strncmp(a, "whsec_", 6) == 0);
  CHECK_EQ_INT(strlen(a), 6 + 32); /* 24 bytes in base64 */
  CHECK(strcmp(a, b) != 0);
  unsigned char key[HOOKS_KEY_MAX];
  size_t keylen = 0;
  CHECK_EQ_INT(hooks_secret_decode(a, key, &keylen), 0);
  CHECK_EQ_INT(keylen, HOOKS_SECRET_BYTES);

  /* Padding given or left out decodes the same; junk does not decode. */
  CHECK_EQ_INT(hooks_secret_decode("whsec_YWJj", key, &keylen), 0); /* "abc" */
  CHECK(keylen == 3 && memcmp(key, "abc", 3) == 0);
  CHECK_EQ_INT(hooks_secret_decode("whsec_YWI=", key, &keylen), 0); /* "ab" */
  CHECK(keylen == 2 && memcmp(key, "ab", 2) == 0);
  CHECK_EQ_INT(hooks_secret_decode("whsec_YWI", key, &keylen), 0);
  CHECK(keylen == 2 && memcmp(key, "ab", 2) == 0);
  CHECK_EQ_INT(hooks_secret_decode("whsec_", key, &keylen), -1);
  CHECK_EQ_INT(hooks_secret_decode("whsec_YW!j", key, &keylen), -1);
  CHECK_EQ_INT(hooks_secret_decode("whsec_Y", key, &keylen), -1);
  char big[300];
  memset(big, 'A', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  CHECK_EQ_INT(hooks_secret_decode(big, key, &keylen), -1);
}

static void test_urls(void) {
  char d[256];
  CHECK_EQ_INT(hooks_url_check("http://127.0.0.1:8080/hook", d, sizeof d), 0);
  CHECK_EQ_INT(hooks_url_check("https://example.com/a?b=c", d, sizeof d), 0);
  CHECK_EQ_INT(hooks_url_check("HTTPS://example.com", d, sizeof d), 0);
  CHECK_EQ_INT(hooks_url_check("http://[::1]:9/x", d, sizeof d), 0);
  const char *bad[] = {"",
                       "example.com/hook",
                       "ftp://example.com/x",
                       "file:///etc/passwd",
                       "http://user:pw@example.com/",
                       "http://user@example.com/",
                       "http:///path",
                       "http://exa mple.com/",
                       "http://example.com/\n",
                       "javascript:alert(1)",
                       NULL};
  for (int i = 0; bad[i]; i++) {
    d[0] = '\0';
    int rc = hooks_url_check(bad[i], d, sizeof d);
    CHECK_EQ_INT(rc, -1);
    if (rc != -1) fprintf(stderr, "  accepted: %s\n", bad[i]);
    CHECK(d[0] != '\0');
  }
  char *longurl = malloc(HOOKS_URL_MAX + 16);
  memcpy(longurl, "http://a.example/", 17);
  memset(longurl + 17, 'x', HOOKS_URL_MAX - 16); /* bytes 17..HOOKS_URL_MAX */
  longurl[HOOKS_URL_MAX + 1] = '\0';             /* one byte over */
  CHECK_EQ_INT(hooks_url_check(longurl, d, sizeof d), -1);
  longurl[HOOKS_URL_MAX] = '\0'; /* exactly at the limit */
  CHECK_EQ_INT(hooks_url_check(longurl, d, sizeof d), 0);
  free(longurl);
}

static void test_backoff(void) {
  const int64_t first = 1000, max = 600000;
  /* With r -> 1 the delay is the cap: 1 s, 2 s, 4 s, ... up to 10 min. */
  double r = 0.999999;
  CHECK_EQ_INT(hooks_backoff_ms(1, first, max, r), 999);
  CHECK_EQ_INT(hooks_backoff_ms(2, first, max, r), 1999);
  CHECK_EQ_INT(hooks_backoff_ms(3, first, max, r), 3999);
  CHECK_EQ_INT(hooks_backoff_ms(10, first, max, r), 511999);
  CHECK_EQ_INT(hooks_backoff_ms(11, first, max, r), 599999);
  CHECK_EQ_INT(hooks_backoff_ms(1000, first, max, r), 599999); /* no overflow */
  /* Full jitter: r = 0 retries at once, r = 0.5 waits half the cap. */
  CHECK_EQ_INT(hooks_backoff_ms(5, first, max, 0.0), 0);
  CHECK_EQ_INT(hooks_backoff_ms(5, first, max, 0.5), 8000);
  /* Out-of-range inputs are clamped. */
  CHECK_EQ_INT(hooks_backoff_ms(0, first, max, 0.5), 500);
  CHECK(hooks_backoff_ms(3, first, max, 1.5) < 4000);
  CHECK_EQ_INT(hooks_backoff_ms(3, first, max, -1), 0);
  CHECK_EQ_INT(hooks_backoff_ms(3, 100, 50, 0.5), 50); /* max below first: first */
  /* Monotone caps across the whole schedule. */
  int64_t prev = -1;
  for (int k = 1; k < 40; k++) {
    int64_t v = hooks_backoff_ms(k, first, max, 0.75);
    CHECK(v >= prev);
    CHECK(v <= max);
    prev = v;
  }
}

int main(void) {
  test_vector();
  test_secrets();
  test_urls();
  test_backoff();
  return TEST_SUMMARY();
}
