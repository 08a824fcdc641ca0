/* sign — Standard Webhooks secrets and signatures.
 *
 * A secret is "whsec_" + base64 of random bytes; the HMAC key is the decoded
 * bytes (not the text). A signature is "v1," + base64 (with padding) of
 * HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"), which is what
 * every Standard Webhooks verifier (the npm standardwebhooks package, Svix's
 * libraries) recomputes. The three parts are fed to the MAC in turn, so the
 * body is never copied. The HMAC implementation is fetched from OpenSSL
 * once per process; each signature uses its own context, so any thread may
 * sign. */
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "hooks/hooks.h"

#define SECRET_PREFIX "whsec_"
#define SECRET_PREFIX_LEN 6

int hooks_secret_new(char out[HOOKS_SECRET_MAX]) {
  unsigned char raw[HOOKS_SECRET_BYTES];
  if (RAND_bytes(raw, sizeof raw) != 1) return -1;
  memcpy(out, SECRET_PREFIX, SECRET_PREFIX_LEN);
  /* 24 bytes -> 32 characters, no padding; EVP_EncodeBlock adds the NUL. */
  EVP_EncodeBlock((unsigned char *)out + SECRET_PREFIX_LEN, raw, sizeof raw);
  OPENSSL_cleanse(raw, sizeof raw);
  return 0;
}

static bool is_b64(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int hooks_secret_decode(const char *secret, unsigned char key[HOOKS_KEY_MAX], size_t *keylen) {
  if (strncmp(secret, SECRET_PREFIX, SECRET_PREFIX_LEN) == 0) secret += SECRET_PREFIX_LEN;
  size_t n = strlen(secret), pad = 0;
  while (n > 0 && secret[n - 1] == '=' && pad < 2) n--, pad++;
  if (n == 0 || n % 4 == 1) return -1;
  for (size_t i = 0; i < n; i++)
    if (!is_b64((unsigned char)secret[i])) return -1;
  /* Re-pad to a multiple of four, which EVP_DecodeBlock needs. */
  size_t padded = (n + 3) / 4 * 4;
  if (padded / 4 * 3 > HOOKS_KEY_MAX) return -1;
  unsigned char in[HOOKS_KEY_MAX / 3 * 4 + 4];
  memcpy(in, secret, n);
  memset(in + n, '=', padded - n);
  unsigned char out[HOOKS_KEY_MAX + 3];
  int got = EVP_DecodeBlock(out, in, (int)padded);
  if (got < 0) return -1;
  /* EVP_DecodeBlock counts the bytes that '=' padding stands for. */
  size_t len = (size_t)got - (padded - n);
  if (len == 0 || len > HOOKS_KEY_MAX) return -1;
  memcpy(key, out, len);
  *keylen = len;
  OPENSSL_cleanse(out, sizeof out);
  return 0;
}

static EVP_MAC *hmac;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void) { hmac = EVP_MAC_fetch(NULL, "HMAC", NULL); }

int hooks_sign(const unsigned char *key, size_t keylen, const char *msg_id, int64_t timestamp,
               const void *body, size_t body_len, char out[HOOKS_SIG_MAX]) {
  pthread_once(&hmac_once, hmac_fetch);
  if (!hmac) return -1;
  char ts[24];
  int tslen = snprintf(ts, sizeof ts, ".%lld.", (long long)timestamp);
  unsigned char md[EVP_MAX_MD_SIZE];
  size_t mdlen = 0;
  int rc = -1;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                         OSSL_PARAM_construct_end()};
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
  if (!ctx) goto out;
  if (EVP_MAC_init(ctx, key, keylen, params) != 1) goto out;
  if (EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) != 1) goto out;
  if (EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)tslen) != 1) goto out;
  if (body_len && EVP_MAC_update(ctx, body, body_len) != 1) goto out;
  if (EVP_MAC_final(ctx, md, &mdlen, sizeof md) != 1 || mdlen != 32) goto out;
  memcpy(out, "v1,", 3);
  EVP_EncodeBlock((unsigned char *)out + 3, md, (int)mdlen); /* 44 chars + NUL */
  rc = 0;
out:
  EVP_MAC_CTX_free(ctx);
  return rc;
}
