/* ws_codec — RFC 6455 framing for herald's WebSocket transport: server frame
 * builders, the client-frame parser, UTF-8 and close-code checks and the
 * handshake key. It sits under rt/ws.c, which feeds it the loop's read buffer
 * and writes what it builds; see ws_codec.h for the contract.
 *
 * The parser's states (p->state, changed only by the code in
 * ws_parser_feed and the helpers it calls, all in this file):
 *
 *              +-----------------------------------------+
 *              v                                         |
 *   init --> HEADER --(header whole, payload whole in    |
 *              |        this read, and it is a control   |
 *              |        frame or an unfragmented data    |
 *              |        frame: unmask in place, deliver)-+
 *              |
 *              +--(otherwise)--> PAYLOAD --(last byte: deliver the control
 *              |                    |       frame, or the message if FIN)--> HEADER
 *              |                    |
 *   any header or payload check fails --------------------------> FAILED (sticky)
 *   a Close frame was delivered ---------------------------------> CLOSED (input ignored)
 *   a callback returned non-zero --------------------------------> HALTED
 *
 * A header split across reads waits in p->hdr (at most 14 bytes). Payload
 * that cannot be delivered straight from the caller's buffer — fragments of
 * a message, or a frame cut by the end of a read — is unmasked, checked and
 * appended to p->buf; a control frame arriving between fragments is
 * appended after the message bytes and cut off again once delivered. The
 * buffer is freed whenever no message is in progress, so an idle connection
 * holds no heap memory. Limits are checked on the header, before any payload
 * is kept: 125 bytes for control frames, max_message for a message. */
#include "rt/ws_codec.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

enum { S_HEADER, S_PAYLOAD, S_CLOSED, S_FAILED, S_HALTED };

/* Why a parser failed; indexes errors[] below. */
enum {
  E_NONE,
  E_RSV,
  E_OPCODE,
  E_UNMASKED,
  E_CTL_FRAGMENTED,
  E_CTL_TOO_LONG,
  E_CLOSE_1BYTE,
  E_CLOSE_CODE,
  E_CLOSE_UTF8,
  E_CONT_NO_MESSAGE,
  E_DATA_IN_MESSAGE,
  E_BINARY,
  E_LEN_MSB,
  E_TOO_BIG,
  E_UTF8,
};

static const struct {
  uint16_t code;
  const char *text;
} errors[] = {
    [E_NONE] = {0, ""},
    [E_RSV] = {WS_CLOSE_PROTOCOL, "reserved bits set"},
    [E_OPCODE] = {WS_CLOSE_PROTOCOL, "reserved opcode"},
    [E_UNMASKED] = {WS_CLOSE_PROTOCOL, "client frame not masked"},
    [E_CTL_FRAGMENTED] = {WS_CLOSE_PROTOCOL, "fragmented control frame"},
    [E_CTL_TOO_LONG] = {WS_CLOSE_PROTOCOL, "control frame over 125 bytes"},
    [E_CLOSE_1BYTE] = {WS_CLOSE_PROTOCOL, "close payload of 1 byte"},
    [E_CLOSE_CODE] = {WS_CLOSE_PROTOCOL, "invalid close code"},
    [E_CLOSE_UTF8] = {WS_CLOSE_INVALID_DATA, "invalid UTF-8 in close reason"},
    [E_CONT_NO_MESSAGE] = {WS_CLOSE_PROTOCOL, "continuation without a message"},
    [E_DATA_IN_MESSAGE] = {WS_CLOSE_PROTOCOL, "new message inside a fragmented one"},
    [E_BINARY] = {WS_CLOSE_UNSUPPORTED, "binary messages not supported"},
    [E_LEN_MSB] = {WS_CLOSE_PROTOCOL, "64-bit length with top bit set"},
    [E_TOO_BIG] = {WS_CLOSE_TOO_BIG, "message too big"},
    [E_UTF8] = {WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message"},
};

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool is_control(unsigned op) { return (op & 0x8) != 0; }

/* ---- UTF-8 --------------------------------------------------------------
 * A table-driven DFA of our own: bytes fall into 12 classes, and 9 states
 * (accept, reject, and the seven "inside a character" states that RFC 3629's
 * well-formed byte sequences table implies) step on the class. The narrow
 * second-byte ranges after E0, ED, F0 and F4 are what exclude overlongs,
 * surrogates and code points above U+10FFFF. */

enum { U_ACC = WS_UTF8_ACCEPT, U_REJ = WS_UTF8_REJECT, U_N1, U_N2, U_N3, U_E0, U_ED, U_F0, U_F4 };

/* Classes: 0 ASCII, 1 80-8F, 2 90-9F, 3 A0-BF, 4 never valid (C0 C1 F5-FF),
 * 5 C2-DF, 6 E0, 7 E1-EC EE-EF, 8 ED, 9 F0, 10 F1-F3, 11 F4. */
/* clang-format off */
static const uint8_t utf8_class[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 10 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 20 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 30 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 40 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 50 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 60 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 70 */
    1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  /* 80 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 90 */
    3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  /* A0 */
    3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  /* B0 */
    4,  4,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  /* C0 */
    5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,  /* D0 */
    6,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  7,  /* E0 */
    9,  10, 10, 10, 11, 4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  /* F0 */
};

/* Rows are states, columns byte classes. After E0 only A0-BF may follow (no
 * overlong), after ED only 80-9F (no surrogate), after F0 only 90-BF (no
 * overlong), after F4 only 80-8F (nothing above U+10FFFF). */
#define A U_ACC
#define R U_REJ
#define N1 U_N1
#define N2 U_N2
#define N3 U_N3
#define E0 U_E0
#define ED U_ED
#define F0 U_F0
#define F4 U_F4
static const uint8_t utf8_next[9][12] = {
    /*         asc 80  90  A0  bad C2  E0  E1  ED  F0  F1  F4 */
    [U_ACC] = {A,  R,  R,  R,  R,  N1, E0, N2, ED, F0, N3, F4},
    [U_REJ] = {R,  R,  R,  R,  R,  R,  R,  R,  R,  R,  R,  R},
    [U_N1 ] = {R,  A,  A,  A,  R,  R,  R,  R,  R,  R,  R,  R},
    [U_N2 ] = {R,  N1, N1, N1, R,  R,  R,  R,  R,  R,  R,  R},
    [U_N3 ] = {R,  N2, N2, N2, R,  R,  R,  R,  R,  R,  R,  R},
    [U_E0 ] = {R,  R,  R,  N1, R,  R,  R,  R,  R,  R,  R,  R},
    [U_ED ] = {R,  N1, N1, R,  R,  R,  R,  R,  R,  R,  R,  R},
    [U_F0 ] = {R,  R,  N2, N2, R,  R,  R,  R,  R,  R,  R,  R},
    [U_F4 ] = {R,  N2, R,  R,  R,  R,  R,  R,  R,  R,  R,  R},
};
#undef A
#undef R
#undef N1
#undef N2
#undef N3
#undef E0
#undef ED
#undef F0
#undef F4
/* clang-format on */

unsigned ws_utf8_feed(unsigned state, const uint8_t *s, size_t n) {
  assert(state < 9);
  size_t i = 0;
  while (i < n) {
    if (state == U_ACC) {
      /* JSON is mostly ASCII: skip it eight bytes at a time. */
      while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & UINT64_C(0x8080808080808080)) break;
        i += 8;
      }
      while (i < n && s[i] < 0x80) i++;
      if (i == n) break;
    }
    state = utf8_next[state][utf8_class[s[i++]]];
    if (state == U_REJ) break;
  }
  return state;
}

bool ws_utf8_valid(const void *s, size_t n) { return ws_utf8_feed(U_ACC, s, n) == U_ACC; }

/* ---- Close codes -------------------------------------------------------- */

bool ws_close_code_valid(unsigned code) {
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

uint16_t ws_close_payload_code(const uint8_t *payload, size_t len) {
  if (len < 2) return WS_CLOSE_NO_STATUS;
  return (uint16_t)(payload[0] << 8 | payload[1]);
}

/* ---- Building frames ---------------------------------------------------- */

static size_t put_header(uint8_t *out, int opcode, bool fin, uint64_t len, uint8_t maskbit) {
  assert(opcode >= 0 && opcode <= 0xF);
  assert(len >> 63 == 0);
  out[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
  if (len < 126) {
    out[1] = (uint8_t)(maskbit | len);
    return 2;
  }
  if (len <= 0xFFFF) {
    out[1] = (uint8_t)(maskbit | 126);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    return 4;
  }
  out[1] = (uint8_t)(maskbit | 127);
  for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
  return 10;
}

size_t ws_frame_header(uint8_t out[WS_HEADER_MAX], int opcode, bool fin, uint64_t payload_len) {
  assert(!is_control((unsigned)opcode) || (fin && payload_len <= WS_CONTROL_MAX));
  return put_header(out, opcode, fin, payload_len, 0);
}

size_t ws_frame_header_masked(uint8_t out[WS_CLIENT_HEADER_MAX], int opcode, bool fin, uint64_t payload_len,
                              const uint8_t key[4]) {
  size_t n = put_header(out, opcode, fin, payload_len, 0x80);
  memcpy(out + n, key, 4);
  return n + 4;
}

bytes_t *ws_frame_textv(const ws_slice_t *parts, size_t nparts) {
  size_t len = 0;
  for (size_t i = 0; i < nparts; i++) len += parts[i].len;
  uint8_t hdr[WS_HEADER_MAX];
  size_t hn = ws_frame_header(hdr, WS_OP_TEXT, true, len);
  bytes_t *b = bytes_alloc(hn + len);
  memcpy(b->data, hdr, hn);
  size_t off = hn;
  for (size_t i = 0; i < nparts; i++) {
    if (parts[i].len) memcpy(b->data + off, parts[i].ptr, parts[i].len);
    off += parts[i].len;
  }
  return b;
}

bytes_t *ws_frame_text(const char *payload, size_t len) {
  ws_slice_t s = {payload, len};
  return ws_frame_textv(&s, 1);
}

static size_t control_frame(uint8_t *out, int opcode, const void *payload, size_t len) {
  size_t n = ws_frame_header(out, opcode, true, len);
  if (len) memcpy(out + n, payload, len);
  return n + len;
}

size_t ws_frame_ping(uint8_t out[WS_CONTROL_FRAME_MAX], const void *payload, size_t len) {
  return control_frame(out, WS_OP_PING, payload, len);
}

size_t ws_frame_pong(uint8_t out[WS_CONTROL_FRAME_MAX], const void *payload, size_t len) {
  return control_frame(out, WS_OP_PONG, payload, len);
}

size_t ws_frame_close(uint8_t out[WS_CONTROL_FRAME_MAX], uint16_t code, const char *reason,
                      size_t reason_len) {
  if (code == 0) return control_frame(out, WS_OP_CLOSE, NULL, 0);
  assert(ws_close_code_valid(code));
  size_t n = reason_len;
  if (n > WS_CONTROL_MAX - 2) {
    /* Cut before a continuation byte would split a character. */
    n = WS_CONTROL_MAX - 2;
    while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80) n--;
  }
  size_t h = ws_frame_header(out, WS_OP_CLOSE, true, 2 + n);
  out[h] = (uint8_t)(code >> 8);
  out[h + 1] = (uint8_t)code;
  if (n) memcpy(out + h + 2, reason, n);
  return h + 2 + n;
}

void ws_mask(uint8_t *p, size_t n, const uint8_t key[4], size_t offset) {
  uint8_t k[8];
  for (int i = 0; i < 8; i++) k[i] = key[(offset + (size_t)i) & 3];
  uint64_t kw;
  memcpy(&kw, k, 8);
  size_t i = 0;
  for (; n - i >= 8; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    w ^= kw;
    memcpy(p + i, &w, 8);
  }
  /* i is a multiple of 8 here, so k[i & 7] continues the key's phase. */
  for (; i < n; i++) p[i] ^= k[i & 7];
}

/* ---- Handshake ---------------------------------------------------------- */

static bool is_b64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool ws_key_valid(const char *key, size_t len) {
  /* 16 bytes encode to 22 characters and two '=' of padding. The unused low
   * bits of the 22nd character are not checked, as common decoders don't. */
  if (len != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; i++)
    if (!is_b64(key[i])) return false;
  return true;
}

int ws_accept_key(const char *client_key, size_t len, char out[WS_ACCEPT_LEN + 1]) {
  enum { KEY_MAX = 64 };
  unsigned char in[KEY_MAX + sizeof GUID];
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (len > KEY_MAX) return -EINVAL;
  memcpy(in, client_key, len);
  memcpy(in + len, GUID, sizeof GUID - 1);
  if (!EVP_Digest(in, len + sizeof GUID - 1, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20) return -EIO;
  /* EVP_EncodeBlock writes 28 characters and a NUL for 20 bytes. */
  if (EVP_EncodeBlock((unsigned char *)out, md, 20) != WS_ACCEPT_LEN) return -EIO;
  return 0;
}

/* ---- Parsing ------------------------------------------------------------ */

void ws_parser_init(ws_parser_t *p, uint32_t max_message, unsigned flags) {
  memset(p, 0, sizeof *p);
  p->max_message = max_message ? max_message : WS_DEFAULT_MAX_MESSAGE;
  p->flags = (uint8_t)flags;
  p->state = S_HEADER;
  p->utf8 = U_ACC;
}

void ws_parser_free(ws_parser_t *p) { buf_free(&p->buf); }

const char *ws_parser_error(const ws_parser_t *p) { return errors[p->err].text; }

bool ws_parser_idle(const ws_parser_t *p) {
  return p->state == S_HEADER && p->hdr_len == 0 && p->msg_opcode == 0;
}

bool ws_parser_closed(const ws_parser_t *p) { return p->state == S_CLOSED; }

static int fail(ws_parser_t *p, int err) {
  p->state = S_FAILED;
  p->err = (uint8_t)err;
  p->close_code = errors[err].code;
  buf_free(&p->buf);
  return -EPROTO;
}

/* A callback asked to stop: keep its value, drop what is buffered. */
static int halt(ws_parser_t *p, int rc) {
  p->state = S_HALTED;
  buf_free(&p->buf);
  return rc;
}

/* Checks the first two header bytes, which hold every rule except the
 * extended length: fail as soon as they arrive, before waiting for more. */
static int header_start(ws_parser_t *p, uint8_t b0, uint8_t b1) {
  unsigned op = b0 & 0x0F, fin = b0 >> 7, len7 = b1 & 0x7F;
  if (b0 & 0x70) return fail(p, E_RSV); /* no extension is ever negotiated */
  switch (op) {
    case WS_OP_CONT:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
      break;
    default:
      return fail(p, E_OPCODE);
  }
  if (!(b1 & 0x80)) return fail(p, E_UNMASKED);
  if (is_control(op)) {
    if (!fin) return fail(p, E_CTL_FRAGMENTED);
    if (len7 > WS_CONTROL_MAX) return fail(p, E_CTL_TOO_LONG);
    if (op == WS_OP_CLOSE && len7 == 1) return fail(p, E_CLOSE_1BYTE);
  } else if (op == WS_OP_CONT) {
    if (!p->msg_opcode) return fail(p, E_CONT_NO_MESSAGE);
  } else {
    if (p->msg_opcode) return fail(p, E_DATA_IN_MESSAGE);
    if (op == WS_OP_BINARY && !(p->flags & WS_PARSER_ALLOW_BINARY)) return fail(p, E_BINARY);
  }
  p->opcode = (uint8_t)op;
  p->fin = (uint8_t)fin;
  return 0;
}

/* Header size implied by the second byte; client frames always carry a key. */
static size_t header_size(uint8_t b1) {
  unsigned len7 = b1 & 0x7F;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
}

/* Reads the length and key of a whole header that header_start accepted.
 * Non-minimal length encodings are accepted: they are unambiguous and no
 * interoperability test demands their rejection. */
static int header_done(ws_parser_t *p, const uint8_t *h) {
  unsigned len7 = h[1] & 0x7F;
  uint64_t len = len7;
  size_t off = 2;
  if (len7 == 126) {
    len = (uint64_t)h[2] << 8 | h[3];
    off = 4;
  } else if (len7 == 127) {
    len = 0;
    for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i];
    off = 10;
    if (len >> 63) return fail(p, E_LEN_MSB);
  }
  memcpy(p->mask, h + off, 4);
  if (!is_control(p->opcode)) {
    if ((uint64_t)p->msg_len + len > p->max_message) return fail(p, E_TOO_BIG);
    if (p->opcode != WS_OP_CONT) {
      assert(p->msg_len == 0 && p->buf.len == 0);
      p->msg_opcode = p->opcode;
      p->utf8 = U_ACC;
    }
  }
  p->remaining = (uint32_t)len; /* <= max_message or 125: fits */
  return 0;
}

static int check_close(ws_parser_t *p, const uint8_t *pl, size_t n) {
  if (n == 0) return 0;
  assert(n >= 2);
  if (!ws_close_code_valid(ws_close_payload_code(pl, n))) return fail(p, E_CLOSE_CODE);
  if (!ws_utf8_valid(pl + 2, n - 2)) return fail(p, E_CLOSE_UTF8);
  return 0;
}

/* Delivers a whole control frame from pl (in the caller's buffer or after
 * the message bytes in p->buf). */
static int deliver_control(ws_parser_t *p, const uint8_t *pl, size_t n, const ws_parser_cb_t *cbs, void *ud) {
  int op = p->opcode;
  if (op == WS_OP_CLOSE) {
    int rc = check_close(p, pl, n);
    if (rc) return rc;
  }
  if (n == 0) pl = (const uint8_t *)"";
  int rc = cbs->on_control ? cbs->on_control(ud, op, pl, n) : 0;
  if (rc) return halt(p, rc);
  if (op == WS_OP_CLOSE) {
    /* Nothing may follow a Close (§5.5.1): drop any partial message. */
    p->state = S_CLOSED;
    p->msg_opcode = 0;
    p->msg_len = 0;
    buf_free(&p->buf);
  } else if (p->msg_opcode == 0) {
    buf_free(&p->buf);
  } else {
    p->buf.len = p->msg_len;
  }
  return 0;
}

/* Delivers the message that just ended (pl is the caller's buffer for an
 * unfragmented frame, else p->buf) and returns the parser to idle. */
static int deliver_message(ws_parser_t *p, const uint8_t *pl, size_t n, const ws_parser_cb_t *cbs, void *ud) {
  int op = p->msg_opcode;
  if (op == WS_OP_TEXT && p->utf8 != U_ACC) return fail(p, E_UTF8);
  if (n == 0) pl = (const uint8_t *)"";
  p->msg_opcode = 0;
  p->msg_len = 0;
  int rc = cbs->on_message ? cbs->on_message(ud, op, pl, n) : 0;
  buf_free(&p->buf);
  if (rc) return halt(p, rc);
  return 0;
}

/* Unmasks a chunk of the current frame in place and advances the key. */
static void unmask(ws_parser_t *p, uint8_t *d, size_t n) {
  ws_mask(d, n, p->mask, 0);
  unsigned r = (unsigned)(n & 3);
  if (r) {
    uint8_t k[4];
    for (unsigned i = 0; i < 4; i++) k[i] = p->mask[(i + r) & 3];
    memcpy(p->mask, k, 4);
  }
}

/* Completes the header from data, first through p->hdr if a previous read
 * left part of it there. Returns 1 with the header parsed, 0 if the input
 * ran out (all of it kept), or -EPROTO. */
static int read_header(ws_parser_t *p, uint8_t *data, size_t len, size_t *pos) {
  size_t avail = len - *pos;
  uint8_t *d = data + *pos;
  int rc;
  if (p->hdr_len == 0 && avail >= 2) {
    if ((rc = header_start(p, d[0], d[1]))) return rc;
    size_t need = header_size(d[1]);
    if (avail >= need) {
      *pos += need;
      if ((rc = header_done(p, d))) return rc;
      return 1;
    }
    memcpy(p->hdr, d, avail);
    p->hdr_len = (uint8_t)avail;
    *pos = len;
    return 0;
  }
  /* Slow path: accumulate in p->hdr. */
  size_t i = 0;
  while (p->hdr_len < 2 && i < avail) {
    p->hdr[p->hdr_len++] = d[i++];
    if (p->hdr_len == 2 && (rc = header_start(p, p->hdr[0], p->hdr[1]))) return rc;
  }
  if (p->hdr_len >= 2) {
    size_t need = header_size(p->hdr[1]);
    size_t take = need - p->hdr_len;
    if (take > avail - i) take = avail - i;
    memcpy(p->hdr + p->hdr_len, d + i, take);
    p->hdr_len = (uint8_t)(p->hdr_len + take);
    i += take;
    if (p->hdr_len == need) {
      *pos += i;
      p->hdr_len = 0;
      if ((rc = header_done(p, p->hdr))) return rc;
      return 1;
    }
  }
  *pos = len;
  return 0;
}

/* Consumes the current frame's payload from data (unmasking, checking and
 * buffering it) and delivers the frame once its last byte is in. */
static int read_payload(ws_parser_t *p, uint8_t *data, size_t len, size_t *pos, const ws_parser_cb_t *cbs,
                        void *ud) {
  size_t n = len - *pos;
  if (n > p->remaining) n = p->remaining;
  if (n) {
    uint8_t *chunk = data + *pos;
    unmask(p, chunk, n);
    if (!is_control(p->opcode)) {
      assert(p->buf.len == p->msg_len);
      if (p->msg_opcode == WS_OP_TEXT) {
        p->utf8 = (uint8_t)ws_utf8_feed(p->utf8, chunk, n);
        if (p->utf8 == U_REJ) return fail(p, E_UTF8); /* fail fast */
      }
      p->msg_len += (uint32_t)n;
    }
    buf_append(&p->buf, chunk, n);
    *pos += n;
    p->remaining -= (uint32_t)n;
  }
  if (p->remaining) return 0; /* the input ran out mid-frame */
  p->state = S_HEADER;
  const uint8_t *base = p->buf.data ? (const uint8_t *)p->buf.data : (const uint8_t *)"";
  if (is_control(p->opcode)) return deliver_control(p, base + p->msg_len, p->buf.len - p->msg_len, cbs, ud);
  if (p->fin) return deliver_message(p, base, p->msg_len, cbs, ud);
  return 0;
}

int ws_parser_feed(ws_parser_t *p, uint8_t *data, size_t len, const ws_parser_cb_t *cbs, void *ud) {
  size_t pos = 0;
  int rc;
  for (;;) {
    if (p->state == S_FAILED) return -EPROTO;
    if (p->state == S_HALTED) return -ECANCELED;
    if (p->state == S_CLOSED) return 0;
    if (p->state == S_HEADER) {
      if (pos == len) return 0;
      rc = read_header(p, data, len, &pos);
      if (rc <= 0) return rc;
      /* Zero-copy: the whole payload is here and needs no reassembly. */
      if (p->remaining <= len - pos && (is_control(p->opcode) || (p->fin && p->opcode != WS_OP_CONT))) {
        uint8_t *pl = data + pos;
        size_t n = p->remaining;
        unmask(p, pl, n);
        pos += n;
        p->remaining = 0;
        if (is_control(p->opcode)) {
          rc = deliver_control(p, pl, n, cbs, ud);
        } else {
          if (p->opcode == WS_OP_TEXT) p->utf8 = (uint8_t)ws_utf8_feed(U_ACC, pl, n);
          rc = deliver_message(p, pl, n, cbs, ud);
        }
        if (rc) return rc;
        continue;
      }
      p->state = S_PAYLOAD;
    }
    rc = read_payload(p, data, len, &pos, cbs, ud);
    if (rc) return rc;
    if (p->state == S_PAYLOAD) return 0;
  }
}
