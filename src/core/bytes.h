/* bytes — immutable, reference-counted byte strings shared across threads.
 *
 * An event's JSON and its per-transport framings are built once and then
 * shared by every subscriber on every loop (DESIGN: serialize once, send
 * many). Any thread may ref/unref; the count is atomic. Contents never change
 * after bytes_new*() returns. The last unref frees. data is NUL-terminated
 * (the NUL is not counted in len) so it can be logged or parsed as text. */
#ifndef HERALD_CORE_BYTES_H
#define HERALD_CORE_BYTES_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct bytes {
  atomic_int refs;
  size_t len;
  char data[];
} bytes_t;

/* Returns a new bytes_t holding a copy of p[0..n) with one reference. */
bytes_t *bytes_new(const void *p, size_t n);
/* Returns an uninitialised bytes_t of n bytes with one reference; the caller
 * fills data before sharing it. */
bytes_t *bytes_alloc(size_t n);
bytes_t *bytes_ref(bytes_t *b);
void bytes_unref(bytes_t *b);

#endif
