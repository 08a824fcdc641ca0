/* bytes — refcounted immutable byte strings; see bytes.h. */
#include "core/bytes.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

bytes_t *bytes_alloc(size_t n) {
  bytes_t *b = xmalloc(sizeof *b + n + 1);
  atomic_init(&b->refs, 1);
  b->len = n;
  b->data[n] = '\0';
  return b;
}

bytes_t *bytes_new(const void *p, size_t n) {
  bytes_t *b = bytes_alloc(n);
  if (n) memcpy(b->data, p, n);
  return b;
}

bytes_t *bytes_ref(bytes_t *b) {
  int old = atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  assert(old > 0);
  (void)old;
  return b;
}

void bytes_unref(bytes_t *b) {
  if (!b) return;
  int old = atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel);
  assert(old > 0);
  if (old == 1) free(b);
}
