/* libFuzzer target for rt/ws_codec's client-frame parser.
 *
 * The first two input bytes choose the parser options, the mode and the
 * seed for cutting the input into reads; the rest is either raw wire bytes
 * or, in structured mode, a list of frame descriptors (first byte, length
 * byte, payload) that are masked and framed properly, which lets the
 * fuzzer reach fragmentation, control frames and UTF-8 deep inside
 * messages instead of dying on the mask bit.
 *
 * Every input is parsed three ways — in one read, one byte per read, and in
 * random reads (empty ones included) — and the three transcripts of
 * callbacks and results must be identical. In structured mode the
 * transcript must also equal what an independent model of RFC 6455's rules
 * (below, written without the codec's tables) predicts. Callbacks check
 * that text is valid UTF-8 and within limits; after every read an idle
 * parser must hold no buffer and a busy one no more than its limits imply.
 *
 * Build (clang only), instrumenting the library too so coverage reaches
 * ws_codec.c:
 *   CC=clang cmake -S . -B /tmp/build-fuzz -DHERALD_FUZZ=ON \
 *     -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link,address,undefined
 *   cmake --build /tmp/build-fuzz --target fuzz_ws_codec
 *   /tmp/build-fuzz/fuzz_ws_codec -max_total_time=60 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "rt/ws_codec.h"

#define ASSERT(c)                                                                    \
  do {                                                                               \
    if (!(c)) {                                                                      \
      fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #c); \
      abort();                                                                       \
    }                                                                                \
  } while (0)

/* RFC 3629 decoding, independent of the codec's DFA. */
static bool ref_utf8(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    uint32_t cp, min;
    size_t k;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      k = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      k = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      k = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i <= k) return false;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (s[i + j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += k + 1;
  }
  return true;
}

/* Whether s could still become valid UTF-8: it is, or some completion of
 * its last character makes it so. The second byte of a character is the
 * only constrained one, and 80, 90 or A0 satisfy every constraint. */
static bool ref_utf8_viable(const uint8_t *s, size_t n) {
  static const uint8_t first[] = {0x80, 0x90, 0xA0};
  uint8_t *t = malloc(n + 3);
  if (n) memcpy(t, s, n);
  bool ok = ref_utf8(t, n);
  for (size_t k = 1; k <= 3 && !ok; k++)
    for (size_t f = 0; f < 3 && !ok; f++) {
      t[n] = first[f];
      for (size_t j = 1; j < k; j++) t[n + j] = 0x80;
      ok = ref_utf8(t, n + k);
    }
  free(t);
  return ok;
}

static bool ref_close_code_ok(unsigned c) {
  static const unsigned ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (c == ok[i]) return true;
  return c >= 3000 && c < 5000;
}

typedef struct ctx {
  buf_t t;
  uint32_t max;
} ctx_t;

static void note(ctx_t *c, char kind, int op, const uint8_t *pl, size_t len) {
  buf_printf(&c->t, "%c%d:%zu:", kind, op, len);
  buf_append(&c->t, pl, len);
  buf_putc(&c->t, '\n');
}

static int on_msg(void *ud, int op, const uint8_t *pl, size_t len) {
  ctx_t *c = ud;
  ASSERT(pl != NULL);
  ASSERT(len <= c->max);
  ASSERT(op == WS_OP_TEXT || op == WS_OP_BINARY);
  if (op == WS_OP_TEXT) ASSERT(ref_utf8(pl, len));
  note(c, 'M', op, pl, len);
  return 0;
}

static int on_ctl(void *ud, int op, const uint8_t *pl, size_t len) {
  ctx_t *c = ud;
  ASSERT(pl != NULL);
  ASSERT(len <= WS_CONTROL_MAX);
  ASSERT(op == WS_OP_CLOSE || op == WS_OP_PING || op == WS_OP_PONG);
  if (op == WS_OP_CLOSE && len) {
    ASSERT(len >= 2 && ref_close_code_ok(ws_close_payload_code(pl, len)));
    ASSERT(ref_utf8(pl + 2, len - 2));
  }
  note(c, 'C', op, pl, len);
  return 0;
}

static const ws_parser_cb_t cbs = {on_msg, on_ctl};

static uint64_t rng;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}

/* mode 0: one read; 1: a byte per read; 2: random reads. */
static char *parse(const uint8_t *wire, size_t n, uint32_t max, unsigned flags, int mode) {
  ctx_t c = {BUF_INIT, max};
  ws_parser_t p;
  ws_parser_init(&p, max, flags);
  size_t at = 0;
  int rc = 0;
  while (rc == 0 && (at < n || (mode == 2 && rnd() % 4 == 0))) {
    size_t len = n - at;
    if (mode == 1 && len > 1) len = 1;
    if (mode == 2 && len) len = rnd() % 3 == 0 ? rnd() % (len + 1) : rnd() % 17 % (len + 1);
    uint8_t *chunk = malloc(len ? len : 1);
    if (len) memcpy(chunk, wire + at, len);
    rc = ws_parser_feed(&p, chunk, len, &cbs, &c);
    memset(chunk, 0xEE, len);
    free(chunk);
    at += len;
    if (ws_parser_idle(&p)) ASSERT(p.buf.data == NULL);
    ASSERT(ws_parser_heap(&p) <= 2 * ((size_t)max + WS_CONTROL_MAX) + 64);
  }
  if (rc) {
    ASSERT(rc == -71); /* -EPROTO: no callback here ever stops */
    ASSERT(p.buf.data == NULL);
  }
  buf_printf(&c.t, "R%d:%u", rc, (unsigned)ws_parser_close_code(&p));
  ws_parser_free(&p);
  return buf_detach(&c.t, NULL);
}

/* The model: applies RFC 6455's rules to a list of whole, masked frames in
 * the order the codec documents (header rules, size, payload, FIN). */
typedef struct mframe {
  uint8_t b0;
  const uint8_t *pl;
  size_t len;
} mframe_t;

static char *model(const mframe_t *f, size_t nf, uint32_t max, unsigned flags) {
  buf_t t = BUF_INIT, msg = BUF_INIT;
  int msg_op = 0;
  unsigned code = 0;
  for (size_t i = 0; i < nf && !code; i++) {
    unsigned b0 = f[i].b0, op = b0 & 0xF, fin = b0 >> 7;
    size_t len = f[i].len;
    bool ctl = op >= 8;
    if (b0 & 0x70)
      code = 1002;
    else if (!(op <= 2 || (op >= 8 && op <= 10)))
      code = 1002;
    else if (ctl && (!fin || len > 125 || (op == 8 && len == 1)))
      code = 1002;
    else if (op == 0 && !msg_op)
      code = 1002;
    else if ((op == 1 || op == 2) && msg_op)
      code = 1002;
    else if (op == 2 && !(flags & WS_PARSER_ALLOW_BINARY))
      code = 1003;
    else if (!ctl && msg.len + len > max)
      code = 1009;
    if (code) break;
    if (ctl) {
      if (op == 8 && len >= 2) {
        if (!ref_close_code_ok((unsigned)f[i].pl[0] << 8 | f[i].pl[1]))
          code = 1002;
        else if (!ref_utf8(f[i].pl + 2, len - 2))
          code = 1007;
        if (code) break;
      }
      buf_printf(&t, "C%u:%zu:", op, len);
      buf_append(&t, f[i].pl, len);
      buf_putc(&t, '\n');
      if (op == 8) break; /* the rest is ignored */
      continue;
    }
    if (op) msg_op = (int)op;
    buf_append(&msg, f[i].pl, len);
    if (msg_op == 1 && !ref_utf8_viable((uint8_t *)msg.data, msg.len))
      code = 1007;
    else if (fin && msg_op == 1 && !ref_utf8((uint8_t *)msg.data, msg.len))
      code = 1007;
    if (code) break;
    if (fin) {
      buf_printf(&t, "M%d:%zu:", msg_op, msg.len);
      buf_append(&t, msg.data, msg.len);
      buf_putc(&t, '\n');
      msg.len = 0;
      msg_op = 0;
    }
  }
  buf_printf(&t, "R%d:%u", code ? -71 : 0, code);
  buf_free(&msg);
  return buf_detach(&t, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  static const uint32_t maxes[] = {WS_DEFAULT_MAX_MESSAGE, 16, 100, 1000};
  unsigned cfg = data[0];
  unsigned flags = cfg & 1 ? WS_PARSER_ALLOW_BINARY : 0;
  uint32_t max = maxes[cfg >> 1 & 3];
  bool structured = cfg & 8;
  rng = 0x9E3779B97F4A7C15u ^ ((uint64_t)data[1] << 8 | cfg) ^ size;
  data += 2;
  size -= 2;

  buf_t wire = BUF_INIT;
  mframe_t frames[64];
  size_t nf = 0;
  if (structured) {
    /* Descriptors: the first byte as sent (FIN, RSV, opcode), a length
     * byte, then that many payload bytes (fewer if the input ends). Lengths
     * under 256 still cross the 7-bit/16-bit boundary at 126. */
    size_t i = 0;
    while (i + 2 <= size && nf < 64) {
      uint8_t b0 = data[i], lb = data[i + 1];
      i += 2;
      size_t len = lb;
      if (len > size - i) len = size - i;
      frames[nf++] = (mframe_t){b0, data + i, len};
      uint8_t key[4] = {(uint8_t)(b0 * 31 + 7), lb, (uint8_t)nf, (uint8_t)(len * 13)};
      uint8_t h[WS_CLIENT_HEADER_MAX];
      size_t hn = ws_frame_header_masked(h, b0 & 0xF, b0 >> 7, len, key);
      h[0] = b0;
      buf_append(&wire, h, hn);
      size_t off = wire.len;
      buf_append(&wire, data + i, len);
      if (len) ws_mask((uint8_t *)wire.data + off, len, key, 0);
      i += len;
    }
  } else {
    buf_append(&wire, data, size);
  }

  const uint8_t *w = (const uint8_t *)(wire.data ? wire.data : "");
  char *whole = parse(w, wire.len, max, flags, 0);
  char *bytes = parse(w, wire.len, max, flags, 1);
  char *rand1 = parse(w, wire.len, max, flags, 2);
  char *rand2 = parse(w, wire.len, max, flags, 2);
  ASSERT(strcmp(whole, bytes) == 0);
  ASSERT(strcmp(whole, rand1) == 0);
  ASSERT(strcmp(whole, rand2) == 0);
  if (structured) {
    char *want = model(frames, nf, max, flags);
    if (strcmp(whole, want) != 0) fprintf(stderr, "codec:\n%s\nmodel:\n%s\n", whole, want);
    ASSERT(strcmp(whole, want) == 0);
    free(want);
  }
  free(whole);
  free(bytes);
  free(rand1);
  free(rand2);
  buf_free(&wire);
  return 0;
}
