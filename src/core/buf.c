/* buf — growable byte buffers and the allocation wrappers every module uses.
 * See buf.h for the contract. */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fputs("herald: out of memory\n", stderr);
    abort();
  }
  return p;
}

void *xcalloc(size_t n, size_t m) {
  void *p = calloc(n ? n : 1, m ? m : 1);
  if (!p) {
    fputs("herald: out of memory\n", stderr);
    abort();
  }
  return p;
}

void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fputs("herald: out of memory\n", stderr);
    abort();
  }
  return q;
}

char *xstrndup(const char *s, size_t n) {
  char *p = xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

void buf_reserve(buf_t *b, size_t extra) {
  size_t need = b->len + extra + 1; /* room for a NUL from buf_cstr */
  if (need <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  b->data = xrealloc(b->data, cap);
  b->cap = cap;
}

void buf_append(buf_t *b, const void *p, size_t n) {
  if (n == 0) return;
  buf_reserve(b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void buf_puts(buf_t *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_putc(buf_t *b, char c) {
  buf_reserve(b, 1);
  b->data[b->len++] = c;
}

void buf_vprintf(buf_t *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n <= 0) return;
  buf_reserve(b, (size_t)n);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
}

void buf_printf(buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(b, fmt, ap);
  va_end(ap);
}

void buf_put_u64(buf_t *b, uint64_t v) {
  char tmp[24];
  int i = (int)sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  buf_append(b, tmp + i, sizeof tmp - (size_t)i);
}

void buf_put_i64(buf_t *b, int64_t v) {
  if (v < 0) {
    buf_putc(b, '-');
    buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
  } else {
    buf_put_u64(b, (uint64_t)v);
  }
}

void buf_put_json_str(buf_t *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  buf_reserve(b, n + 2);
  buf_putc(b, '"');
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    buf_append(b, s + start, i - start);
    start = i + 1;
    switch (c) {
      case '"':
        buf_append(b, "\\\"", 2);
        break;
      case '\\':
        buf_append(b, "\\\\", 2);
        break;
      case '\n':
        buf_append(b, "\\n", 2);
        break;
      case '\r':
        buf_append(b, "\\r", 2);
        break;
      case '\t':
        buf_append(b, "\\t", 2);
        break;
      case '\b':
        buf_append(b, "\\b", 2);
        break;
      case '\f':
        buf_append(b, "\\f", 2);
        break;
      default: {
        char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        buf_append(b, e, 6);
      }
    }
  }
  buf_append(b, s + start, n - start);
  buf_putc(b, '"');
}

const char *buf_cstr(buf_t *b) {
  buf_reserve(b, 0);
  b->data[b->len] = '\0';
  return b->data;
}

char *buf_detach(buf_t *b, size_t *len) {
  buf_cstr(b);
  char *p = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

void buf_free(buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
