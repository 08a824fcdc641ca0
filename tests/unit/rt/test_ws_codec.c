/* Tests for rt/ws_codec: frame building in every length form, the RFC 6455
 * §5.7 examples, masking, fragmentation with control frames between
 * fragments, every protocol error with its close code, UTF-8 validation
 * (exhaustive against a reference decoder, and split at every byte), the
 * §1.3 accept key, and the memory rule: no buffer once a message is out.
 *
 * Most parser cases go through expect(): it feeds the same wire bytes
 * whole, one byte at a time, cut at every point and (for short inputs) at
 * every pair of points, each chunk in its own exactly-sized heap copy that
 * is scribbled over after the call, and demands the same transcript of
 * callbacks and final result every time. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/bytes.h"
#include "rt/ws_codec.h"
#include "testutil.h"

/* ---- Recording callbacks ----------------------------------------------- */

typedef struct rec {
  buf_t t;     /* transcript */
  int stop_on; /* return stop_rc from the stop_on-th callback (1-based) */
  int stop_rc;
  int calls;
  const uint8_t *lo, *hi; /* the chunk being fed, to prove zero-copy */
  int in_place;           /* messages delivered from inside [lo, hi) */
} rec_t;

static int record(rec_t *r, char kind, int op, const uint8_t *pl, size_t len) {
  CHECK(pl != NULL);
  buf_printf(&r->t, "%c%d:%zu:", kind, op, len);
  buf_append(&r->t, pl, len);
  buf_putc(&r->t, '\n');
  if (r->lo && pl >= r->lo && pl + len <= r->hi) r->in_place++;
  r->calls++;
  return r->stop_on && r->calls == r->stop_on ? r->stop_rc : 0;
}

static int on_msg(void *ud, int op, const uint8_t *pl, size_t len) {
  if (op == WS_OP_TEXT) CHECK(ws_utf8_valid(pl, len));
  return record(ud, 'M', op, pl, len);
}

static int on_ctl(void *ud, int op, const uint8_t *pl, size_t len) { return record(ud, 'C', op, pl, len); }

static const ws_parser_cb_t cbs = {on_msg, on_ctl};

/* ---- Building client frames ------------------------------------------- */

static unsigned key_seq;

/* Appends a masked frame with first byte b0 (FIN, RSV, opcode). */
static void frame_b0(buf_t *w, uint8_t b0, const void *pl, size_t n) {
  uint8_t key[4] = {0x37, 0xfa, 0x21, (uint8_t)(0x3d + key_seq++)};
  uint8_t h[WS_CLIENT_HEADER_MAX];
  size_t hn = ws_frame_header_masked(h, b0 & 0x0F, (b0 & 0x80) != 0, n, key);
  h[0] = b0;
  buf_append(w, h, hn);
  size_t off = w->len;
  buf_append(w, pl, n);
  ws_mask((uint8_t *)w->data + off, n, key, 0);
}

static void frame(buf_t *w, int op, bool fin, const void *pl, size_t n) {
  frame_b0(w, (uint8_t)((fin ? 0x80 : 0) | op), pl, n);
}

static void frame_s(buf_t *w, int op, bool fin, const char *s) { frame(w, op, fin, s, strlen(s)); }

/* ---- Feeding ----------------------------------------------------------- */

typedef struct opts {
  uint32_t max;
  unsigned flags;
} opts_t;

static const opts_t DEF = {0, 0};

/* Feeds wire cut at cuts[0..ncuts) (ascending, may repeat) and returns the
 * transcript, ending "R<rc>:<close code>". Checks the memory rule at every
 * stop: an idle parser owns no buffer, a failed one neither. */
static char *run_cuts(const uint8_t *wire, size_t n, const size_t *cuts, size_t ncuts, opts_t o, rec_t *r) {
  ws_parser_t p;
  ws_parser_init(&p, o.max, o.flags);
  int rc = 0;
  size_t at = 0;
  for (size_t c = 0; c <= ncuts; c++) {
    size_t end = c < ncuts ? cuts[c] : n;
    size_t len = end - at;
    uint8_t *chunk = malloc(len ? len : 1);
    if (len) memcpy(chunk, wire + at, len);
    r->lo = chunk;
    r->hi = chunk + len;
    rc = ws_parser_feed(&p, chunk, len, &cbs, r);
    memset(chunk, 0xEE, len); /* the loop reuses its read buffer */
    free(chunk);
    r->lo = r->hi = NULL;
    at = end;
    if (ws_parser_idle(&p)) CHECK(p.buf.data == NULL && ws_parser_heap(&p) == 0);
    if (rc) break;
  }
  if (rc == -EPROTO) {
    CHECK(p.buf.data == NULL);
    CHECK(ws_parser_close_code(&p) != 0);
    CHECK(ws_parser_error(&p)[0] != '\0');
    uint8_t more[2] = {0x81, 0x80};
    CHECK_EQ_INT(ws_parser_feed(&p, more, 2, &cbs, r), -EPROTO); /* failure is sticky */
  } else {
    CHECK_EQ_INT(ws_parser_close_code(&p), 0);
  }
  buf_printf(&r->t, "R%d:%u", rc, (unsigned)ws_parser_close_code(&p));
  ws_parser_free(&p);
  return buf_detach(&r->t, NULL);
}

static char *run(const uint8_t *wire, size_t n, const size_t *cuts, size_t ncuts, opts_t o) {
  rec_t r = {0};
  return run_cuts(wire, n, cuts, ncuts, o, &r);
}

static bool same(const char *got, const char *want, const char *how, size_t a, size_t b) {
  if (strcmp(got, want) == 0) return true;
  fprintf(stderr, "  fed %s (%zu, %zu):\n", how, a, b);
  CHECK_STR(got, want);
  return false;
}

/* Feeds wire every way described above; every way must give want. */
static void expect_o(const buf_t *w, opts_t o, const char *want) {
  const uint8_t *wire = (const uint8_t *)w->data;
  size_t n = w->len;
  char *got = run(wire, n, NULL, 0, o);
  bool ok = same(got, want, "whole", 0, 0);
  test_checks++;
  free(got);
  if (!ok) return;

  size_t *cuts = malloc((n + 1) * sizeof *cuts);
  for (size_t i = 0; i < n; i++) cuts[i] = i + 1;
  got = run(wire, n, cuts, n ? n - 1 : 0, o);
  ok = same(got, want, "byte by byte", 0, 0);
  free(got);
  if (!ok) goto out;

  bool all = n <= 4096;
  for (size_t i = 0; i <= n; i++) {
    if (!all && i > 32 && i + 32 < n && i % 997) continue;
    got = run(wire, n, &i, 1, o);
    ok = same(got, want, "cut at", i, 0);
    free(got);
    if (!ok) goto out;
  }
  if (n <= 80) {
    for (size_t i = 0; i <= n; i++)
      for (size_t j = i; j <= n; j++) {
        size_t two[2] = {i, j};
        got = run(wire, n, two, 2, o);
        ok = same(got, want, "cut at", i, j);
        free(got);
        if (!ok) goto out;
      }
  }
out:
  free(cuts);
}

static void expect(const buf_t *w, const char *want) { expect_o(w, DEF, want); }

/* The transcript for one message followed by a clean end. */
static char *msg_transcript(int op, const void *pl, size_t n, const char *tail) {
  buf_t t = BUF_INIT;
  buf_printf(&t, "M%d:%zu:", op, n);
  buf_append(&t, pl, n);
  buf_putc(&t, '\n');
  buf_puts(&t, tail);
  return buf_detach(&t, NULL);
}

#define ERR(code) "R-71:" #code /* -EPROTO is -71 on Linux */

/* ---- Server frames: header forms and §5.7 examples --------------------- */

static void test_header_forms(void) {
  static const struct {
    uint64_t len;
    size_t size;
    uint8_t bytes[10];
  } cases[] = {
      {0, 2, {0x81, 0x00}},
      {1, 2, {0x81, 0x01}},
      {125, 2, {0x81, 125}},
      {126, 4, {0x81, 126, 0x00, 0x7E}},
      {127, 4, {0x81, 126, 0x00, 0x7F}},
      {65535, 4, {0x81, 126, 0xFF, 0xFF}},
      {65536, 10, {0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
      {UINT64_C(0x100000000), 10, {0x81, 127, 0, 0, 0, 1, 0, 0, 0, 0}},
      {UINT64_C(0x7FFFFFFFFFFFFFFF), 10, {0x81, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t out[WS_HEADER_MAX];
    size_t n = ws_frame_header(out, WS_OP_TEXT, true, cases[i].len);
    CHECK_EQ_INT(n, cases[i].size);
    CHECK(memcmp(out, cases[i].bytes, n) == 0);
  }
  uint8_t out[WS_HEADER_MAX];
  CHECK_EQ_INT(ws_frame_header(out, WS_OP_CONT, false, 3), 2);
  CHECK(out[0] == 0x00 && out[1] == 0x03);

  /* Whole text frames at the length-form boundaries. */
  static const size_t lens[] = {0, 1, 125, 126, 65535, 65536, 70000};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    size_t n = lens[i];
    char *pl = malloc(n + 1);
    for (size_t k = 0; k < n; k++) pl[k] = (char)('a' + k % 26);
    bytes_t *b = ws_frame_text(pl, n);
    size_t hn = n < 126 ? 2 : n <= 65535 ? 4 : 10;
    CHECK_EQ_INT(b->len, hn + n);
    CHECK_EQ_INT((uint8_t)b->data[0], 0x81);
    uint8_t h[WS_HEADER_MAX];
    CHECK_EQ_INT(ws_frame_header(h, WS_OP_TEXT, true, n), hn);
    CHECK(memcmp(b->data, h, hn) == 0);
    CHECK(n == 0 || memcmp(b->data + hn, pl, n) == 0);
    bytes_unref(b);
    free(pl);
  }

  /* Several parts, copied once, framed as one. */
  ws_slice_t parts[3] = {{"{\"op\":\"event\",\"event\":", 22}, {"{\"seq\":1}", 9}, {"}", 1}};
  bytes_t *b = ws_frame_textv(parts, 3);
  CHECK_EQ_INT(b->len, 2 + 32);
  CHECK_MEM(b->data + 2, 32, "{\"op\":\"event\",\"event\":{\"seq\":1}}");
  bytes_unref(b);
}

static void test_rfc_examples(void) {
  /* §5.7: a single-frame unmasked text message. */
  static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  bytes_t *b = ws_frame_text("Hello", 5);
  CHECK_EQ_INT(b->len, sizeof hello);
  CHECK(memcmp(b->data, hello, sizeof hello) == 0);
  bytes_unref(b);

  /* §5.7: a single-frame masked text message, built and parsed. */
  static const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  uint8_t out[32];
  size_t hn = ws_frame_header_masked(out, WS_OP_TEXT, true, 5, key);
  memcpy(out + hn, "Hello", 5);
  ws_mask(out + hn, 5, key, 0);
  CHECK_EQ_INT(hn + 5, sizeof masked);
  CHECK(memcmp(out, masked, sizeof masked) == 0);
  buf_t w = BUF_INIT;
  buf_append(&w, masked, sizeof masked);
  expect(&w, "M1:5:Hello\nR0:0");

  /* The unmasked one is what a client must never send. */
  buf_clear(&w);
  buf_append(&w, hello, sizeof hello);
  expect(&w, ERR(1002));

  /* §5.7: a fragmented unmasked text message, as the server would build it,
   * and its masked twin parsed. */
  uint8_t h[WS_HEADER_MAX];
  CHECK_EQ_INT(ws_frame_header(h, WS_OP_TEXT, false, 3), 2);
  CHECK(h[0] == 0x01 && h[1] == 0x03);
  CHECK_EQ_INT(ws_frame_header(h, WS_OP_CONT, true, 2), 2);
  CHECK(h[0] == 0x80 && h[1] == 0x02);
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, false, "Hel");
  frame_s(&w, WS_OP_CONT, true, "lo");
  expect(&w, "M1:5:Hello\nR0:0");

  /* §5.7: unmasked Ping, and a masked Pong answering it. */
  static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  uint8_t cf[WS_CONTROL_FRAME_MAX];
  size_t cn = ws_frame_ping(cf, "Hello", 5);
  CHECK_EQ_INT(cn, sizeof ping);
  CHECK(memcmp(cf, ping, sizeof ping) == 0);
  cn = ws_frame_pong(cf, "Hello", 5);
  CHECK(cn == 7 && cf[0] == 0x8a && cf[1] == 0x05);
  static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  buf_clear(&w);
  buf_append(&w, pong, sizeof pong);
  expect(&w, "C10:5:Hello\nR0:0");

  /* §5.7: 256 bytes and 64 KiB binary messages in one unmasked frame. */
  CHECK_EQ_INT(ws_frame_header(h, WS_OP_BINARY, true, 256), 4);
  CHECK(h[0] == 0x82 && h[1] == 0x7E && h[2] == 0x01 && h[3] == 0x00);
  CHECK_EQ_INT(ws_frame_header(h, WS_OP_BINARY, true, 65536), 10);
  static const uint8_t big[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0};
  CHECK(memcmp(h, big, 10) == 0);
  buf_free(&w);
}

/* ---- Client frames: every length form, masking ------------------------- */

static void test_client_lengths(void) {
  static const size_t lens[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 125, 126, 127, 65535, 65536, 100000};
  opts_t o = {1u << 20, 0};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    size_t n = lens[i];
    char *pl = malloc(n + 1);
    for (size_t k = 0; k < n; k++) pl[k] = (char)(' ' + (k * 7) % 95);
    buf_t w = BUF_INIT;
    frame(&w, WS_OP_TEXT, true, pl, n);
    size_t hn = n < 126 ? 6 : n <= 65535 ? 8 : 14;
    CHECK_EQ_INT(w.len, hn + n);
    char *want = msg_transcript(WS_OP_TEXT, pl, n, "R0:0");
    expect_o(&w, o, want);
    free(want);

    /* Binary, allowed by flag, uses the same paths. */
    buf_clear(&w);
    frame(&w, WS_OP_BINARY, true, pl, n);
    want = msg_transcript(WS_OP_BINARY, pl, n, "R0:0");
    opts_t ob = {1u << 20, WS_PARSER_ALLOW_BINARY};
    char *got = run((uint8_t *)w.data, w.len, NULL, 0, ob);
    CHECK_STR(got, want);
    free(got);
    free(want);
    buf_free(&w);
    free(pl);
  }

  /* Non-minimal length encodings are accepted (see header_done). */
  buf_t w = BUF_INIT;
  uint8_t raw[] = {0x81, 0xFE, 0x00, 0x02, 0, 0, 0, 0, 'h', 'i'};
  buf_append(&w, raw, sizeof raw);
  expect(&w, "M1:2:hi\nR0:0");
  buf_free(&w);

  /* ws_mask over pieces at any offset equals masking the whole. */
  uint8_t a[37], b[37];
  const uint8_t key[4] = {1, 2, 3, 4};
  for (size_t k = 0; k < sizeof a; k++) a[k] = b[k] = (uint8_t)(k * 31);
  ws_mask(a, sizeof a, key, 0);
  for (size_t cut = 0; cut <= sizeof b; cut++) {
    uint8_t c[37];
    memcpy(c, b, sizeof c);
    ws_mask(c, cut, key, 0);
    ws_mask(c + cut, sizeof c - cut, key, cut);
    CHECK(memcmp(a, c, sizeof a) == 0);
  }
}

/* ---- Zero-copy and the memory rule ------------------------------------- */

static void test_zero_copy_and_memory(void) {
  /* A whole frame in one read is delivered from the caller's buffer and
   * allocates nothing. */
  buf_t w = BUF_INIT;
  frame_s(&w, WS_OP_TEXT, true, "{\"op\":\"ping\",\"ref\":1}");
  frame_s(&w, WS_OP_PING, true, "abc");
  frame_s(&w, WS_OP_TEXT, true, "");
  rec_t r = {0};
  char *got = run_cuts((uint8_t *)w.data, w.len, NULL, 0, DEF, &r);
  CHECK_STR(got, "M1:21:{\"op\":\"ping\",\"ref\":1}\nC9:3:abc\nM1:0:\nR0:0");
  CHECK_EQ_INT(r.in_place, 2); /* the empty one points at a static "" */
  free(got);

  ws_parser_t p;
  ws_parser_init(&p, 0, 0);
  rec_t r2 = {0};
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data, w.len, &cbs, &r2), 0);
  CHECK(p.buf.data == NULL && ws_parser_heap(&p) == 0 && ws_parser_idle(&p));
  buf_free(&r2.t);

  /* Split frames and fragments are buffered, and released once delivered. */
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, false, "frag-one ");
  frame_s(&w, WS_OP_PING, true, "p");
  frame_s(&w, WS_OP_CONT, true, "frag-two");
  size_t first = 6 + 9;
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data, first, &cbs, &r2), 0);
  CHECK(p.buf.data != NULL && !ws_parser_idle(&p));
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data + first, 7, &cbs, &r2), 0);
  CHECK(p.buf.data != NULL && p.buf.len == 9); /* ping delivered in place */
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data + first + 7, w.len - first - 7, &cbs, &r2), 0);
  CHECK(p.buf.data == NULL && ws_parser_heap(&p) == 0 && ws_parser_idle(&p));
  got = buf_detach(&r2.t, NULL);
  CHECK_STR(got, "C9:1:p\nM1:17:frag-one frag-two\n");
  free(got);

  /* An unfragmented frame cut by the end of a read. */
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, true, "split me");
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data, 9, &cbs, &r2), 0);
  CHECK(p.buf.data != NULL);
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data + 9, w.len - 9, &cbs, &r2), 0);
  CHECK(p.buf.data == NULL && ws_parser_heap(&p) == 0);
  /* A header cut short keeps nothing on the heap either. */
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, true, "x");
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data, 3, &cbs, &r2), 0);
  CHECK(p.buf.data == NULL && !ws_parser_idle(&p));
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data + 3, w.len - 3, &cbs, &r2), 0);
  CHECK(p.buf.data == NULL && ws_parser_idle(&p));
  got = buf_detach(&r2.t, NULL);
  CHECK_STR(got, "M1:8:split me\nM1:1:x\n");
  free(got);
  ws_parser_free(&p);
  buf_free(&w);

  printf("sizeof(ws_parser_t) = %zu, idle heap = 0\n", sizeof(ws_parser_t));
  CHECK(sizeof(ws_parser_t) <= 64);
}

/* ---- Fragments and control frames between them ------------------------- */

static void test_fragments(void) {
  buf_t w = BUF_INIT;
  frame_s(&w, WS_OP_TEXT, false, "Hel");
  frame_s(&w, WS_OP_PING, true, "p1");
  frame_s(&w, WS_OP_CONT, false, "");
  frame_s(&w, WS_OP_CONT, false, "lo");
  frame_s(&w, WS_OP_PONG, true, "");
  frame_s(&w, WS_OP_PING, true, "a longer ping payload");
  frame_s(&w, WS_OP_CONT, true, ", world");
  frame_s(&w, WS_OP_TEXT, true, "next");
  expect(&w,
         "C9:2:p1\nC10:0:\nC9:21:a longer ping payload\nM1:12:Hello, world\nM1:4:next\n"
         "R0:0");

  /* All fragments empty. */
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, false, "");
  frame_s(&w, WS_OP_CONT, false, "");
  frame_s(&w, WS_OP_CONT, true, "");
  expect(&w, "M1:0:\nR0:0");

  /* A 125-byte control frame (the maximum) between fragments. */
  char c125[125];
  memset(c125, 'c', sizeof c125);
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, false, "ab");
  frame(&w, WS_OP_PING, true, c125, sizeof c125);
  frame_s(&w, WS_OP_CONT, true, "cd");
  buf_t t = BUF_INIT;
  buf_puts(&t, "C9:125:");
  buf_append(&t, c125, sizeof c125);
  buf_puts(&t, "\nM1:4:abcd\nR0:0");
  expect(&w, buf_cstr(&t));
  buf_free(&t);

  /* Binary fragments, when allowed. */
  buf_clear(&w);
  frame(&w, WS_OP_BINARY, false, "\x00\xff", 2);
  frame(&w, WS_OP_CONT, true, "\x80", 1);
  opts_t ob = {0, WS_PARSER_ALLOW_BINARY};
  expect_o(&w, ob, "M2:3:\x00\xff\x80\nR0:0");

  /* A big message in uneven fragments, fed in uneven reads. */
  size_t total = 300000, off = 0;
  char *pl = malloc(total);
  for (size_t k = 0; k < total; k++) pl[k] = (char)('A' + k % 23);
  buf_clear(&w);
  for (size_t f = 0; off < total; f++) {
    size_t n = (f * 7919 + 13) % 70001;
    if (n > total - off) n = total - off;
    frame(&w, f == 0 ? WS_OP_TEXT : WS_OP_CONT, off + n == total, pl + off, n);
    if (f % 3 == 0) frame_s(&w, WS_OP_PING, true, "hb");
    off += n;
  }
  size_t cuts[64];
  for (size_t k = 0; k < 64; k++) cuts[k] = (w.len / 64) * k + (k * k) % 17;
  opts_t big = {1u << 20, 0};
  char *got = run((uint8_t *)w.data, w.len, cuts, 64, big);
  CHECK(strncmp(got, "C9:2:hb\n", 8) == 0);
  char *m = strstr(got, "M1:300000:");
  CHECK(m != NULL && memcmp(m + 10, pl, total) == 0);
  CHECK(strcmp(got + strlen(got) - 5, "\nR0:0") == 0);
  free(got);
  free(pl);
  buf_free(&w);
}

/* ---- Close frames ------------------------------------------------------ */

static void test_close(void) {
  uint8_t out[WS_CONTROL_FRAME_MAX];
  size_t n = ws_frame_close(out, 1000, "bye", 3);
  CHECK_EQ_INT(n, 7);
  CHECK(memcmp(out,
               "\x88\x05\x03\xe8"
               "bye",
               7) == 0);
  n = ws_frame_close(out, 0, NULL, 0);
  CHECK(n == 2 && out[0] == 0x88 && out[1] == 0);
  n = ws_frame_close(out, WS_CLOSE_TRY_AGAIN, NULL, 0);
  CHECK(n == 4 && out[2] == 0x03 && out[3] == 0xF5);

  /* A long reason is cut to fit, never inside a character. */
  char reason[300];
  for (size_t k = 0; k < 150; k++) memcpy(reason + 2 * k, "\xc3\xa9", 2); /* é */
  n = ws_frame_close(out, 1001, reason, 300);
  CHECK_EQ_INT(n, 2 + 2 + 122); /* 123 would end inside the 62nd é */
  CHECK_EQ_INT(out[1], 124);
  CHECK(ws_utf8_valid(out + 4, n - 4));
  char odd[300];
  odd[0] = 'x';
  memcpy(odd + 1, reason, 299); /* 'x' + 61 é is exactly 123 bytes */
  n = ws_frame_close(out, 1001, odd, 299);
  CHECK_EQ_INT(n, 2 + 2 + 123);
  CHECK_EQ_INT(out[1], 125);
  CHECK(ws_utf8_valid(out + 4, n - 4));

  /* Close codes (§7.4, Autobahn 7.7 and 7.9). */
  static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                   1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
  static const unsigned invalid[] = {0,    1,    999,  1004, 1005, 1006, 1015, 1016,
                                     1100, 2000, 2999, 5000, 6000, 9999, 65535};
  buf_t w = BUF_INIT;
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
    CHECK(ws_close_code_valid(valid[i]));
    uint8_t pl[2] = {(uint8_t)(valid[i] >> 8), (uint8_t)valid[i]};
    CHECK_EQ_INT(ws_close_payload_code(pl, 2), valid[i]);
    buf_clear(&w);
    frame(&w, WS_OP_CLOSE, true, pl, 2);
    frame_s(&w, WS_OP_TEXT, true, "ignored after close");
    rec_t r = {0};
    char *got = run_cuts((uint8_t *)w.data, w.len, NULL, 0, DEF, &r);
    char want[32];
    snprintf(want, sizeof want, "C8:2:%c%c\nR0:0", (char)pl[0], (char)pl[1]);
    CHECK(memcmp(got, want, strlen(want) + 1) == 0);
    free(got);
  }
  for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
    CHECK(!ws_close_code_valid(invalid[i]));
    uint8_t pl[2] = {(uint8_t)(invalid[i] >> 8), (uint8_t)invalid[i]};
    buf_clear(&w);
    frame(&w, WS_OP_CLOSE, true, pl, 2);
    expect(&w, ERR(1002));
  }
  for (unsigned c = 0; c < 70000; c++) {
    bool v = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
    if (ws_close_code_valid(c) != v) CHECK_EQ_INT(c, -1);
  }
  CHECK_EQ_INT(ws_close_payload_code(NULL, 0), WS_CLOSE_NO_STATUS);

  /* Empty close, close with a reason, then the parser ignores the rest. */
  buf_clear(&w);
  frame_s(&w, WS_OP_CLOSE, true, "");
  frame_s(&w, WS_OP_TEXT, true, "late");
  expect(&w, "C8:0:\nR0:0");
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, false, "partial");
  frame_s(&w, WS_OP_CLOSE, true, "\x03\xe8going \xce\xba");
  frame(&w, 0x3, true, "bad opcode ignored", 18);
  expect(&w, "C8:10:\x03\xe8going \xce\xba\nR0:0");

  ws_parser_t p;
  ws_parser_init(&p, 0, 0);
  rec_t r = {0};
  buf_clear(&w);
  frame_s(&w, WS_OP_CLOSE, true, "\x03\xe8");
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data, w.len, &cbs, &r), 0);
  CHECK(ws_parser_closed(&p) && p.buf.data == NULL);
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data, w.len, &cbs, &r), 0);
  CHECK_EQ_INT(r.calls, 1);
  ws_parser_free(&p);
  buf_free(&r.t);

  /* A round trip through the builder: the peer's parser accepts our close. */
  n = ws_frame_close(out, 1013, reason, 300);
  buf_clear(&w);
  frame(&w, WS_OP_CLOSE, true, out + 2, n - 2);
  ws_parser_init(&p, 0, 0);
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data, w.len, &cbs, &r), 0);
  CHECK(ws_parser_closed(&p));
  ws_parser_free(&p);
  buf_free(&r.t);
  buf_free(&w);
}

/* ---- Protocol errors --------------------------------------------------- */

static void test_errors(void) {
  buf_t w = BUF_INIT;

  /* Unmasked client frame: header built without the mask bit. */
  uint8_t h[WS_HEADER_MAX];
  size_t hn = ws_frame_header(h, WS_OP_TEXT, true, 2);
  buf_append(&w, h, hn);
  buf_append(&w, "hi", 2);
  expect(&w, ERR(1002));

  /* RSV1, RSV2, RSV3, on data and control frames. */
  for (unsigned bit = 0x10; bit <= 0x40; bit <<= 1) {
    buf_clear(&w);
    frame_b0(&w, (uint8_t)(0x80 | bit | WS_OP_TEXT), "x", 1);
    expect(&w, ERR(1002));
    buf_clear(&w);
    frame_b0(&w, (uint8_t)(0x80 | bit | WS_OP_PING), "", 0);
    expect(&w, ERR(1002));
  }

  /* Reserved opcodes 3–7 and B–F. */
  for (int op = 3; op <= 0xF; op++) {
    if (op >= 8 && op <= 0xA) continue;
    buf_clear(&w);
    frame(&w, op, true, "", 0);
    expect(&w, ERR(1002));
  }

  /* Control frame over 125 bytes, in the 16-bit form and the 7-bit 126. */
  char c126[126];
  memset(c126, 'x', sizeof c126);
  buf_clear(&w);
  uint8_t key[4] = {9, 8, 7, 6};
  uint8_t ch[WS_CLIENT_HEADER_MAX];
  hn = ws_frame_header_masked(ch, WS_OP_TEXT, true, 126, key);
  ch[0] = 0x89; /* a Ping with the 16-bit length form */
  buf_append(&w, ch, hn);
  buf_append(&w, c126, sizeof c126);
  expect(&w, ERR(1002));
  buf_clear(&w);
  uint8_t ctl_long[] = {0x88, 0x80 | 126, 0, 126};
  buf_append(&w, ctl_long, 2); /* detected from two bytes */
  expect(&w, ERR(1002));

  /* Fragmented control frames. */
  static const int ctls[] = {WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE};
  for (size_t i = 0; i < 3; i++) {
    buf_clear(&w);
    frame(&w, ctls[i], false, "", 0);
    expect(&w, ERR(1002));
  }

  /* Continuation without a message: at the start, and after a message. */
  buf_clear(&w);
  frame_s(&w, WS_OP_CONT, true, "x");
  expect(&w, ERR(1002));
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, true, "done");
  frame_s(&w, WS_OP_CONT, false, "x");
  expect(&w, "M1:4:done\n" ERR(1002));

  /* A new data frame while a fragmented message is in progress. */
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, false, "first");
  frame_s(&w, WS_OP_TEXT, true, "second");
  expect(&w, ERR(1002));
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, false, "first");
  frame_s(&w, WS_OP_PING, true, "");
  frame(&w, WS_OP_BINARY, true, "b", 1);
  opts_t ob = {0, WS_PARSER_ALLOW_BINARY};
  expect_o(&w, ob, "C9:0:\n" ERR(1002));

  /* Close payload of one byte. */
  buf_clear(&w);
  frame_s(&w, WS_OP_CLOSE, true, "\x03");
  expect(&w, ERR(1002));

  /* Close reason not UTF-8 (a surrogate, as in Autobahn 7.5.1). */
  buf_clear(&w);
  frame(&w, WS_OP_CLOSE, true,
        "\x03\xe8\xce\xba\xed\xa0\x80"
        "edited",
        13);
  expect(&w, ERR(1007));
  buf_clear(&w);
  frame(&w, WS_OP_CLOSE, true, "\x03\xe8\xce", 3); /* truncated character */
  expect(&w, ERR(1007));

  /* Binary messages are unsupported data unless allowed. */
  buf_clear(&w);
  frame(&w, WS_OP_BINARY, true, "\x01\x02", 2);
  expect(&w, ERR(1003));
  buf_clear(&w);
  frame(&w, WS_OP_BINARY, false, "\x01", 1);
  expect(&w, ERR(1003));

  /* Invalid UTF-8 in text: whole frame, in fragments, cut at the end. */
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, true, "ok \xc0\xaf overlong");
  expect(&w, ERR(1007));
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, true, "fine");
  frame_s(&w, WS_OP_TEXT, false, "\xce\xba\xe1\xbd\xb9");
  frame_s(&w, WS_OP_CONT, false, "\xcf\x83\xce\xbc\xce\xb5");
  frame_s(&w, WS_OP_CONT, true, "\xf4\x90\x80\x80"); /* > U+10FFFF */
  expect(&w, "M1:4:fine\n" ERR(1007));
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, false, "abc\xe2\x82");
  frame_s(&w, WS_OP_CONT, true, ""); /* ends inside a character */
  expect(&w, ERR(1007));
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, true, "\xe2\x82");
  expect(&w, ERR(1007));
  /* Fail fast: the bad byte is caught before the frame (or message) ends. */
  {
    ws_parser_t p;
    ws_parser_init(&p, 0, 0);
    rec_t r = {0};
    buf_clear(&w);
    frame_s(&w, WS_OP_TEXT, false,
            "ab\xff"
            "cdefgh");
    CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data, 6 + 3, &cbs, &r), -EPROTO);
    CHECK_EQ_INT(ws_parser_close_code(&p), 1007);
    ws_parser_free(&p);
    buf_free(&r.t);
  }

  /* Too big: detected from the header alone, before any payload. */
  opts_t small = {10, 0};
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, true, "0123456789");
  expect_o(&w, small, "M1:10:0123456789\nR0:0");
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, true, "0123456789A");
  w.len = 6; /* the header only */
  expect_o(&w, small, ERR(1009));
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, false, "01234");
  frame_s(&w, WS_OP_PING, true, "ping payloads do not count");
  frame_s(&w, WS_OP_CONT, false, "56789");
  frame_s(&w, WS_OP_CONT, true, "A");
  expect_o(&w, small, "C9:26:ping payloads do not count\n" ERR(1009));
  {
    ws_parser_t p;
    ws_parser_init(&p, 1u << 20, 0);
    uint8_t hdr[WS_CLIENT_HEADER_MAX];
    size_t n = ws_frame_header_masked(hdr, WS_OP_TEXT, true, UINT64_C(1) << 40, key);
    rec_t r = {0};
    CHECK_EQ_INT(ws_parser_feed(&p, hdr, n, &cbs, &r), -EPROTO);
    CHECK_EQ_INT(ws_parser_close_code(&p), 1009);
    CHECK(p.buf.data == NULL);
    ws_parser_free(&p);
  }

  /* 64-bit length with the top bit set. */
  buf_clear(&w);
  uint8_t msb[] = {0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
  buf_append(&w, msb, sizeof msb);
  expect(&w, ERR(1002));

  /* Errors after good traffic keep what came before. */
  buf_clear(&w);
  frame_s(&w, WS_OP_TEXT, true, "one");
  frame_s(&w, WS_OP_PING, true, "x");
  frame_b0(&w, 0xC1, "rsv1", 4);
  frame_s(&w, WS_OP_TEXT, true, "never");
  expect(&w, "M1:3:one\nC9:1:x\n" ERR(1002));

  buf_free(&w);
}

/* ---- Callbacks that stop ----------------------------------------------- */

static void stop_wire(buf_t *w) {
  buf_clear(w);
  frame_s(w, WS_OP_TEXT, true, "a");
  frame_s(w, WS_OP_TEXT, false, "b");
  frame_s(w, WS_OP_CONT, true, "c");
  frame_s(w, WS_OP_TEXT, true, "d");
}

static void test_stop(void) {
  buf_t w = BUF_INIT;
  for (int stop = 1; stop <= 2; stop++) {
    ws_parser_t p;
    ws_parser_init(&p, 0, 0);
    rec_t r = {.stop_on = stop, .stop_rc = 7};
    stop_wire(&w);
    CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data, w.len, &cbs, &r), 7);
    CHECK_EQ_INT(r.calls, stop);
    CHECK_EQ_INT(ws_parser_close_code(&p), 0);
    CHECK(p.buf.data == NULL);
    stop_wire(&w);
    CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data, w.len, &cbs, &r), -ECANCELED);
    ws_parser_free(&p);
    buf_free(&r.t);
  }
  /* NULL callbacks ignore those frames. */
  ws_parser_t p;
  ws_parser_init(&p, 0, 0);
  ws_parser_cb_t none = {NULL, NULL};
  stop_wire(&w);
  frame_s(&w, WS_OP_PING, true, "x");
  CHECK_EQ_INT(ws_parser_feed(&p, (uint8_t *)w.data, w.len, &none, NULL), 0);
  CHECK(ws_parser_idle(&p) && p.buf.data == NULL);
  ws_parser_free(&p);
  buf_free(&w);
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* A plain decoder written from RFC 3629 §3–4, to check the DFA against. */
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

static size_t encode(uint32_t cp, uint8_t *o) {
  if (cp < 0x80) return o[0] = (uint8_t)cp, 1;
  if (cp < 0x800) return o[0] = (uint8_t)(0xC0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000) {
    o[0] = (uint8_t)(0xE0 | cp >> 12);
    o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (uint8_t)(0xF0 | cp >> 18);
  o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
  o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
  o[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}

static void test_utf8(void) {
  int bad = 0;
  /* Every code point, alone and inside ASCII (to cross the word fast path). */
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
    uint8_t b[16] = "abcdefgh";
    size_t n = encode(cp, b + 8);
    bool want = !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ws_utf8_valid(b + 8, n) != want || ws_utf8_valid(b, 8 + n) != want) bad++;
  }
  /* Every sequence of 1–3 bytes; 4 bytes from F0 on with a sample of last bytes. */
  for (uint32_t v = 0; v < (1u << 24); v++) {
    uint8_t b[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    if (ws_utf8_valid(b, 3) != ref_utf8(b, 3)) bad++;
    if ((v & 0xFFFF) == 0 || v < 0x10000) {
      if (ws_utf8_valid(b + 1, 2) != ref_utf8(b + 1, 2)) bad++;
      if (ws_utf8_valid(b + 2, 1) != ref_utf8(b + 2, 1)) bad++;
    }
  }
  static const uint8_t last[] = {0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xFF};
  for (uint32_t v = 0; v < (1u << 20); v++)
    for (size_t k = 0; k < sizeof last; k++) {
      uint8_t b[4] = {(uint8_t)(0xF0 | v >> 16), (uint8_t)(v >> 8), (uint8_t)v, last[k]};
      if (ws_utf8_valid(b, 4) != ref_utf8(b, 4)) bad++;
    }
  CHECK_EQ_INT(bad, 0);

  /* Known cases: overlongs, surrogates, limits, stray bytes. */
  CHECK(ws_utf8_valid("", 0));
  CHECK(ws_utf8_valid("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
  CHECK(!ws_utf8_valid("\xf4\x90\x80\x80", 4)); /* U+110000 */
  CHECK(!ws_utf8_valid("\xc0\x80", 2));         /* overlong NUL */
  CHECK(!ws_utf8_valid("\xe0\x9f\xbf", 3));     /* overlong U+07FF */
  CHECK(!ws_utf8_valid("\xf0\x8f\xbf\xbf", 4)); /* overlong U+FFFF */
  CHECK(!ws_utf8_valid("\xed\xa0\x80", 3));     /* U+D800 */
  CHECK(!ws_utf8_valid("\xed\xbf\xbf", 3));     /* U+DFFF */
  CHECK(ws_utf8_valid("\xed\x9f\xbf", 3));      /* U+D7FF */
  CHECK(ws_utf8_valid("\xee\x80\x80", 3));      /* U+E000 */
  CHECK(!ws_utf8_valid("\x80", 1));
  CHECK(!ws_utf8_valid("\xfe", 1));
  CHECK(!ws_utf8_valid("\xf8\x88\x80\x80\x80", 5));
  CHECK(!ws_utf8_valid("\xce", 1));
  CHECK_EQ_INT(ws_utf8_feed(WS_UTF8_REJECT, (const uint8_t *)"a", 1), WS_UTF8_REJECT);

  /* Random strings: the DFA agrees with the reference whole, and split at
   * every point gives the same verdict. */
  static const uint8_t pool[] = {'a',  ' ',  0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                                 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
  bad = 0;
  for (int it = 0; it < 300000; it++) {
    uint8_t s[24];
    size_t n = rnd() % sizeof s;
    for (size_t k = 0; k < n; k++) s[k] = rnd() % 3 ? pool[rnd() % sizeof pool] : (uint8_t)rnd();
    bool want = ref_utf8(s, n);
    if (ws_utf8_valid(s, n) != want) bad++;
    for (size_t cut = 0; cut <= n; cut++) {
      unsigned st = ws_utf8_feed(WS_UTF8_ACCEPT, s, cut);
      st = ws_utf8_feed(st, s + cut, n - cut);
      if ((st == WS_UTF8_ACCEPT) != want) bad++;
    }
  }
  CHECK_EQ_INT(bad, 0);
}

/* A text with 1-, 2-, 3- and 4-byte characters, fragmented at every byte:
 * two fragments at every cut, three at every pair, and fed every way. */
static void test_utf8_fragments(void) {
  static const char text[] =
      "a\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xe2\x82\xac "
      "\xf0\x9d\x84\x9e z";
  size_t n = sizeof text - 1;
  char *want = msg_transcript(WS_OP_TEXT, text, n, "R0:0");
  buf_t with_ping = BUF_INIT;
  buf_puts(&with_ping, "C9:0:\n");
  buf_puts(&with_ping, want);
  buf_t w = BUF_INIT;
  for (size_t i = 0; i <= n; i++) {
    buf_clear(&w);
    frame(&w, WS_OP_TEXT, false, text, i);
    frame_s(&w, WS_OP_PING, true, "");
    frame(&w, WS_OP_CONT, true, text + i, n - i);
    expect(&w, buf_cstr(&with_ping));
    for (size_t j = i; j <= n; j++) {
      buf_clear(&w);
      frame(&w, WS_OP_TEXT, false, text, i);
      frame(&w, WS_OP_CONT, false, text + i, j - i);
      frame(&w, WS_OP_CONT, true, text + j, n - j);
      char *got = run((uint8_t *)w.data, w.len, NULL, 0, DEF);
      CHECK_STR(got, want);
      free(got);
      size_t cuts[3] = {i, j, w.len > 5 ? w.len - 5 : 0};
      if (cuts[2] < j) cuts[2] = j;
      got = run((uint8_t *)w.data, w.len, cuts, 3, DEF);
      CHECK_STR(got, want);
      free(got);
    }
  }
  free(want);
  buf_free(&with_ping);

  /* The same with a bad byte placed anywhere: always 1007, nothing out. */
  char bad[sizeof text];
  for (size_t at = 0; at < n; at++) {
    memcpy(bad, text, sizeof text);
    bad[at] = (char)0xFF;
    for (size_t i = 0; i <= n; i += 3) {
      buf_clear(&w);
      frame(&w, WS_OP_TEXT, false, bad, i);
      frame(&w, WS_OP_CONT, true, bad + i, n - i);
      char *got = run((uint8_t *)w.data, w.len, NULL, 0, DEF);
      CHECK_STR(got, ERR(1007));
      free(got);
    }
  }
  buf_free(&w);
}

/* ---- Handshake --------------------------------------------------------- */

static void test_handshake(void) {
  char out[WS_ACCEPT_LEN + 1];
  CHECK_EQ_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
  CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
  CHECK(ws_key_valid("AAAAAAAAAAAAAAAAAAAAAA==", 24));
  CHECK(ws_key_valid("+/+/+/+/+/+/+/+/+/+/+w==", 24));
  CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
  CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ===", 25));
  CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQQ=", 24)); /* 17 bytes */
  CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZ-==", 24)); /* base64url */
  CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25j ZQ==", 24));
  CHECK(!ws_key_valid("", 0));
  char longkey[100];
  memset(longkey, 'A', sizeof longkey);
  CHECK_EQ_INT(ws_accept_key(longkey, sizeof longkey, out), -EINVAL);
}

int main(void) {
  test_header_forms();
  test_rfc_examples();
  test_client_lengths();
  test_zero_copy_and_memory();
  test_fragments();
  test_close();
  test_errors();
  test_stop();
  test_utf8();
  test_utf8_fragments();
  test_handshake();
  return TEST_SUMMARY();
}
