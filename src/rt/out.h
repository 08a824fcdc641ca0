/* out — what one real-time connection will write at the end of this loop
 * turn (DESIGN "Coalescing"): shared event bytes by reference, small
 * per-connection bytes (frame headers, envelopes) copied into one scratch
 * block, all written with a single uv_write of several buffers.
 *
 * Loop thread only. An empty out_t holds no heap memory: the arrays move
 * into the write request at out_flush() and the struct is reset. */
#ifndef HERALD_RT_OUT_H
#define HERALD_RT_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/bytes.h"
#include "http/http.h"

typedef struct out_piece {
  bytes_t *ref; /* NULL: scratch[off..off+len) */
  uint32_t off, len;
} out_piece_t;

typedef struct out {
  out_piece_t *pieces;
  uint32_t npieces, cap;
  uint32_t nrefs;
  buf_t scratch;
  size_t bytes; /* total bytes queued here */
} out_t;

/* Queues a shared buffer (retained until written). */
void out_add_ref(out_t *o, bytes_t *b);
/* Queues a copy of p[0..n). */
void out_add_copy(out_t *o, const void *p, size_t n);
static inline size_t out_len(const out_t *o) { return o->bytes; }
/* Writes everything queued to c with one uv_write and empties o.
 * Returns 0 or a negative uv error (o is emptied either way). */
int out_flush(out_t *o, http_conn_t *c);
void out_reset(out_t *o);

#endif
