/* out — per-connection write coalescing; see out.h. */
#include "rt/out.h"

#include <stdlib.h>
#include <string.h>

static out_piece_t *push(out_t *o) {
  if (o->npieces == o->cap) {
    o->cap = o->cap ? o->cap * 2 : 8;
    o->pieces = xrealloc(o->pieces, o->cap * sizeof *o->pieces);
  }
  return &o->pieces[o->npieces++];
}

void out_add_ref(out_t *o, bytes_t *b) {
  out_piece_t *p = push(o);
  p->ref = bytes_ref(b);
  p->off = 0;
  p->len = (uint32_t)b->len;
  o->nrefs++;
  o->bytes += b->len;
}

void out_add_copy(out_t *o, const void *data, size_t n) {
  if (n == 0) return;
  size_t off = o->scratch.len;
  buf_append(&o->scratch, data, n);
  o->bytes += n;
  /* Adjacent copies become one piece. */
  if (o->npieces) {
    out_piece_t *last = &o->pieces[o->npieces - 1];
    if (!last->ref && last->off + last->len == off) {
      last->len += (uint32_t)n;
      return;
    }
  }
  out_piece_t *p = push(o);
  p->ref = NULL;
  p->off = (uint32_t)off;
  p->len = (uint32_t)n;
}

void out_reset(out_t *o) {
  for (uint32_t i = 0; i < o->npieces; i++) bytes_unref(o->pieces[i].ref);
  free(o->pieces);
  buf_free(&o->scratch);
  memset(o, 0, sizeof *o);
}

int out_flush(out_t *o, http_conn_t *c) {
  if (o->npieces == 0) return 0;
  uv_buf_t small[64];
  uv_buf_t *iov = o->npieces <= 64 ? small : xmalloc(o->npieces * sizeof *iov);
  for (uint32_t i = 0; i < o->npieces; i++) {
    out_piece_t *p = &o->pieces[i];
    iov[i] = p->ref ? uv_buf_init(p->ref->data, p->len) : uv_buf_init(o->scratch.data + p->off, p->len);
  }
  size_t n = o->npieces;
  /* Usually the socket takes it all: then nothing moves to a write request. */
  int rc = http_conn_try_write(c, iov, n);
  if (rc < 0 || (size_t)rc == o->bytes) {
    out_reset(o);
    if (iov != small) free(iov);
    return rc < 0 ? rc : 0;
  }
  size_t written = (size_t)rc;
  bytes_t **refs = o->nrefs ? xmalloc(o->nrefs * sizeof *refs) : NULL;
  size_t nr = 0;
  for (uint32_t i = 0; i < o->npieces; i++)
    if (o->pieces[i].ref) refs[nr++] = o->pieces[i].ref;
  char *owned = o->scratch.data;
  free(o->pieces);
  memset(o, 0, sizeof *o);
  rc = http_conn_writev(c, iov, n, written, refs, nr, owned);
  if (iov != small) free(iov);
  return rc;
}
