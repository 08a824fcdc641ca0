/* buf — a growable byte buffer for building responses and SQL results.
 *
 * Any thread may use a buf_t it owns; there is no locking. Memory comes from
 * malloc and is released by buf_free(). Appends grow the buffer
 * geometrically; on allocation failure the process aborts (herald treats
 * out-of-memory as fatal, as Redis does), so appends return nothing.
 * buf_detach() hands the bytes to the caller, who frees them with free(). */
#ifndef HERALD_CORE_BUF_H
#define HERALD_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
  char *data;
  size_t len;
  size_t cap;
} buf_t;

#define BUF_INIT \
  { NULL, 0, 0 }

void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *p, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap);
void buf_put_u64(buf_t *b, uint64_t v);
void buf_put_i64(buf_t *b, int64_t v);
/* Appends s as a JSON string literal (with quotes), escaping as RFC 8259
 * requires. s must be valid UTF-8; bytes >= 0x80 are copied through. */
void buf_put_json_str(buf_t *b, const char *s, size_t n);
/* Keeps the allocation, forgets the contents. */
static inline void buf_clear(buf_t *b) { b->len = 0; }
/* Makes data NUL-terminated without counting the NUL in len. */
const char *buf_cstr(buf_t *b);
char *buf_detach(buf_t *b, size_t *len);
void buf_free(buf_t *b);

/* Aborts with a message on allocation failure; never returns NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
