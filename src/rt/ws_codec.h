/* ws_codec — the WebSocket wire format (RFC 6455): frame building for the
 * server side, an incremental parser for client frames, UTF-8 validation,
 * close-code rules and the opening-handshake key. No I/O, no libuv: the
 * transport (rt/ws.c) owns the socket and calls in here.
 *
 * This is the product's hot path, so the shapes follow two goals from
 * DESIGN.md: serialize once, send many; and ~1 KiB per idle connection.
 *
 *   Sending. A server frame is unmasked, so its bytes are the same for every
 *   receiver. ws_frame_text() builds a whole frame once into a refcounted
 *   bytes_t that every subscriber's write shares. ws_frame_header() writes
 *   just the 2–10 header bytes, for a transport that sends header and
 *   payload as two uv_buf_t without copying the payload at all. Control
 *   frames are small and built into caller buffers (WS_CONTROL_FRAME_MAX).
 *
 *   Receiving. ws_parser_t is a small value (64 bytes on LP64) embedded in
 *   the connection, not a handle. ws_parser_feed() parses straight out of
 *   the loop's shared read buffer: it unmasks client payloads *in place*
 *   (the read buffer must be writable) and hands a complete unfragmented
 *   frame to the callback as a pointer into that buffer, without copying.
 *   Only what cannot be finished in this read is kept: up to 14 header bytes
 *   inside the struct, and payload bytes of an incomplete frame or
 *   fragmented message in a buf_t that is allocated on demand and freed as
 *   soon as the message (or control frame) is delivered. An idle parser
 *   owns no heap memory (p->buf.data == NULL); a busy one at most about
 *   twice max_message + 125 bytes (the buffer grows geometrically).
 *
 * Threads. Every function is reentrant and keeps no global state. A parser
 * belongs to one thread (its connection's loop) at a time. Frame builders
 * may run on any thread; their bytes_t results may be shared across threads
 * (see core/bytes.h).
 *
 * Ownership. Pointer arguments are borrowed (valid for the call) unless
 * said otherwise. Payload pointers passed to parser callbacks are borrowed
 * too: they point into the caller's read buffer or the parser's buffer and
 * are valid only until the callback returns — copy what must outlive it
 * (for example a ping payload to echo in a pong). ws_frame_text*() return a
 * new bytes_t with one reference, transferred to the caller.
 *
 * Errors. Builders cannot fail (allocation failure aborts, as everywhere in
 * herald). ws_parser_feed() returns 0, or -EPROTO on a protocol violation,
 * after which ws_parser_close_code() says which close code to send (1002,
 * 1003, 1007 or 1009) and ws_parser_error() gives a short reason for the
 * log and the close frame; a failed parser stays failed. A callback that
 * returns non-zero stops parsing: feed returns that value unchanged, with
 * close code 0, and the parser is done (further feeds return -ECANCELED).
 *
 * Lifecycle. ws_parser_init() → ws_parser_feed() per read → (after the peer's
 * Close frame is delivered, the parser ignores further input) →
 * ws_parser_free(). Callbacks must not call back into the same parser. */
#ifndef HERALD_RT_WS_CODEC_H
#define HERALD_RT_WS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/bytes.h"

/* Opcodes (RFC 6455 §5.2). */
enum {
  WS_OP_CONT = 0x0,
  WS_OP_TEXT = 0x1,
  WS_OP_BINARY = 0x2,
  WS_OP_CLOSE = 0x8,
  WS_OP_PING = 0x9,
  WS_OP_PONG = 0xA,
};

/* Close codes herald sends or checks (RFC 6455 §7.4.1, IANA registry). */
enum {
  WS_CLOSE_NORMAL = 1000,
  WS_CLOSE_GOING_AWAY = 1001,
  WS_CLOSE_PROTOCOL = 1002,
  WS_CLOSE_UNSUPPORTED = 1003,
  WS_CLOSE_NO_STATUS = 1005, /* never on the wire: "the Close had no code" */
  WS_CLOSE_ABNORMAL = 1006,  /* never on the wire: "no Close frame at all" */
  WS_CLOSE_INVALID_DATA = 1007,
  WS_CLOSE_POLICY = 1008,
  WS_CLOSE_TOO_BIG = 1009,
  WS_CLOSE_INTERNAL = 1011,
  WS_CLOSE_TRY_AGAIN = 1013, /* herald: slow consumer, resume later */
};

#define WS_HEADER_MAX 10        /* server header: 2 + 8-byte length */
#define WS_CLIENT_HEADER_MAX 14 /* client header adds the 4-byte mask key */
#define WS_CONTROL_MAX 125      /* control frame payload limit (§5.5) */
#define WS_CONTROL_FRAME_MAX (2 + WS_CONTROL_MAX)
#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */
#define WS_DEFAULT_MAX_MESSAGE (64u * 1024u)

/* ---- Sending (server frames, unmasked) ---------------------------------- */

/* Writes the header of a server frame carrying payload_len bytes into out,
 * choosing the 7-bit, 16-bit or 64-bit length form, and returns its size
 * (2, 4 or 10). payload_len must be below 2^63; a control opcode requires
 * fin and payload_len <= WS_CONTROL_MAX (asserted). */
size_t ws_frame_header(uint8_t out[WS_HEADER_MAX], int opcode, bool fin, uint64_t payload_len);

/* Returns a complete unfragmented text frame (header + payload) in a new
 * bytes_t with one reference, to be written to every subscriber unchanged.
 * payload must be valid UTF-8 (the caller's JSON is). */
bytes_t *ws_frame_text(const char *payload, size_t len);

/* The same from several pieces laid end to end (for example a per-
 * subscription prefix, the shared event JSON and a suffix), copied once. */
typedef struct ws_slice {
  const void *ptr;
  size_t len;
} ws_slice_t;
bytes_t *ws_frame_textv(const ws_slice_t *parts, size_t nparts);

/* Builds a Close frame into out and returns its size. code 0 sends no
 * status (an empty payload); otherwise code must be valid on the wire
 * (asserted) and reason, which must be UTF-8, is cut to the 123 bytes that
 * fit, at a character boundary. reason may be NULL when reason_len is 0. */
size_t ws_frame_close(uint8_t out[WS_CONTROL_FRAME_MAX], uint16_t code, const char *reason,
                      size_t reason_len);

/* Build a Ping or Pong frame into out and return its size. len must be at
 * most WS_CONTROL_MAX (asserted). A Pong answering a Ping must carry that
 * Ping's payload (§5.5.3). */
size_t ws_frame_ping(uint8_t out[WS_CONTROL_FRAME_MAX], const void *payload, size_t len);
size_t ws_frame_pong(uint8_t out[WS_CONTROL_FRAME_MAX], const void *payload, size_t len);

/* ---- Client-side helpers (tests, benchmarks, peers) --------------------- */

/* XORs p[0..n) with key, as if p started offset bytes into a payload. The
 * operation is its own inverse. */
void ws_mask(uint8_t *p, size_t n, const uint8_t key[4], size_t offset);

/* Writes a masked (client) frame header, key included, returns its size
 * (6, 8 or 14). The caller masks the payload with ws_mask(). Unlike
 * ws_frame_header() it checks no control-frame rule, so tests and peers can
 * build the malformed frames a server must reject. */
size_t ws_frame_header_masked(uint8_t out[WS_CLIENT_HEADER_MAX], int opcode, bool fin, uint64_t payload_len,
                              const uint8_t key[4]);

/* ---- Receiving (client frames) ------------------------------------------ */

/* Callbacks. Return 0 to go on, non-zero to stop parsing (see Errors).
 * on_message: a complete data message, reassembled if it was fragmented;
 *   opcode is WS_OP_TEXT (payload verified UTF-8) or, only with
 *   WS_PARSER_ALLOW_BINARY, WS_OP_BINARY. payload is never NULL, even
 *   when len is 0; it is not NUL-terminated.
 * on_control: a Ping, Pong or Close frame, possibly arriving between the
 *   fragments of a message. A Close payload has been checked (empty, or a
 *   valid code and a UTF-8 reason): read it with ws_close_payload_code().
 *   After a Close the parser ignores the rest of the input.
 * Either may be NULL to ignore those frames. The table is passed to every
 * feed rather than stored, so it costs the connection nothing. */
typedef struct ws_parser_cb {
  int (*on_message)(void *ud, int opcode, const uint8_t *payload, size_t len);
  int (*on_control)(void *ud, int opcode, const uint8_t *payload, size_t len);
} ws_parser_cb_t;

/* Parser flags. */
#define WS_PARSER_ALLOW_BINARY 0x1u /* deliver binary messages, not 1003 */

/* Embedded in the connection; the fields are private to ws_codec.c. */
typedef struct ws_parser {
  buf_t buf;                         /* fragments and split frames; empty when idle */
  uint32_t max_message;              /* payload bytes one message may reach */
  uint32_t msg_len;                  /* bytes of the fragmented message in buf */
  uint32_t remaining;                /* payload bytes still due in the current frame */
  uint8_t mask[4];                   /* current frame's key, rotated to the next byte */
  uint8_t hdr[WS_CLIENT_HEADER_MAX]; /* a header split across reads */
  uint8_t hdr_len;
  uint8_t state;
  uint8_t opcode;     /* of the frame being read */
  uint8_t fin;        /* of the frame being read */
  uint8_t msg_opcode; /* of the data message in progress, 0 if none */
  uint8_t utf8;       /* validator state across the text message */
  uint8_t flags;
  uint8_t err; /* index of the reason when failed */
  uint16_t close_code;
} ws_parser_t;

/* max_message 0 means WS_DEFAULT_MAX_MESSAGE. flags: WS_PARSER_*. */
void ws_parser_init(ws_parser_t *p, uint32_t max_message, unsigned flags);

/* Releases the parser's buffer; the struct may then be dropped or re-inited. */
void ws_parser_free(ws_parser_t *p);

/* Consumes data[0..len), which it may modify (unmasking in place), calling
 * cbs for every complete message and control frame. Whatever is left of an
 * incomplete frame is kept for the next call. Returns 0, -EPROTO (see
 * ws_parser_close_code) or a callback's non-zero value. */
int ws_parser_feed(ws_parser_t *p, uint8_t *data, size_t len, const ws_parser_cb_t *cbs, void *ud);

/* The close code to send after -EPROTO (1002, 1003, 1007 or 1009), else 0. */
static inline uint16_t ws_parser_close_code(const ws_parser_t *p) { return p->close_code; }

/* A short static English reason for the failure ("" if none), fit for a
 * Close frame's reason and the log. */
const char *ws_parser_error(const ws_parser_t *p);

/* True between frames with no message in progress: nothing is buffered. */
bool ws_parser_idle(const ws_parser_t *p);

/* True once the peer's Close frame has been delivered. */
bool ws_parser_closed(const ws_parser_t *p);

/* Bytes this parser holds on the heap right now (its buffer's capacity). */
static inline size_t ws_parser_heap(const ws_parser_t *p) { return p->buf.cap; }

/* ---- Close codes -------------------------------------------------------- */

/* Whether a Close frame may carry code (§7.4): 1000–1003, 1007–1014 (the
 * RFC's and the IANA registry's codes, 1012–1014 included because herald
 * itself sends 1013 and peers echo it) and 3000–4999 (libraries,
 * applications). 1004–1006 and 1015 are reserved, never sent; other codes
 * below 3000 are unassigned; 5000+ do not exist. This matches the current
 * Autobahn test suite (cases 7.7 and 7.9) and the `ws` package. */
bool ws_close_code_valid(unsigned code);

/* The status of a (validated) Close payload: its first two bytes, or
 * WS_CLOSE_NO_STATUS when it is empty. */
uint16_t ws_close_payload_code(const uint8_t *payload, size_t len);

/* ---- UTF-8 -------------------------------------------------------------- */

/* An incremental validator: start at WS_UTF8_ACCEPT, feed any number of
 * chunks split anywhere (even inside a character); the text is valid iff
 * the final state is WS_UTF8_ACCEPT. WS_UTF8_REJECT is sticky and may be
 * checked after each chunk to fail fast. Other states mean "inside a
 * character". Rejects overlong forms, surrogates (U+D800–DFFF) and code
 * points above U+10FFFF, as RFC 3629 requires. */
enum { WS_UTF8_ACCEPT = 0, WS_UTF8_REJECT = 1 };
unsigned ws_utf8_feed(unsigned state, const uint8_t *s, size_t n);
bool ws_utf8_valid(const void *s, size_t n);

/* ---- Opening handshake -------------------------------------------------- */

/* Whether a Sec-WebSocket-Key is well formed: base64 of 16 bytes, that is
 * 22 base64 characters followed by "==" (§4.2.1). */
bool ws_key_valid(const char *key, size_t len);

/* Computes Sec-WebSocket-Accept for a client key: base64(SHA-1(key + GUID))
 * into out as 28 characters and a NUL. Returns 0, or -EINVAL if the key is
 * longer than any valid key could be, or -EIO if OpenSSL fails. */
int ws_accept_key(const char *client_key, size_t len, char out[WS_ACCEPT_LEN + 1]);

#endif
