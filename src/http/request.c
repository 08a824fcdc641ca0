/* request — reading a parsed request: headers, query parameters. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "http/http_int.h"

const http_slice_t *http_header(const http_req_t *req, const char *name) {
  size_t n = strlen(name);
  for (int i = 0; i < req->nheaders; i++) {
    if (req->headers[i].name.n == n && strncasecmp(req->headers[i].name.p, name, n) == 0)
      return &req->headers[i].value;
  }
  return NULL;
}

bool http_header_has_token(const http_req_t *req, const char *name, const char *token) {
  size_t tn = strlen(token);
  size_t n = strlen(name);
  for (int i = 0; i < req->nheaders; i++) {
    if (req->headers[i].name.n != n || strncasecmp(req->headers[i].name.p, name, n) != 0) continue;
    const char *p = req->headers[i].value.p, *end = p + req->headers[i].value.n;
    while (p < end) {
      while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
      const char *s = p;
      while (p < end && *p != ',') p++;
      const char *e = p;
      while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
      if ((size_t)(e - s) == tn && strncasecmp(s, token, tn) == 0) return true;
    }
  }
  return false;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int http_percent_decode(const char *in, size_t n, char *out, size_t outlen) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = in[i];
    if (ch == '%') {
      if (i + 2 >= n) return -1;
      int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      ch = (char)(hi * 16 + lo);
      if (ch == '\0') return -1;
      i += 2;
    } else if (ch == '+') {
      ch = ' ';
    }
    if (o + 1 >= outlen) return -1;
    out[o++] = ch;
  }
  if (outlen == 0) return -1;
  out[o] = '\0';
  return (int)o;
}

int http_query_get(const http_req_t *req, const char *name, char *out, size_t outlen) {
  size_t nl = strlen(name);
  const char *p = req->query.p, *end = p + req->query.n;
  int found = 0;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pe = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(pe - p));
    const char *ke = eq ? eq : pe;
    if ((size_t)(ke - p) == nl && memcmp(p, name, nl) == 0) {
      const char *v = eq ? eq + 1 : pe;
      if (http_percent_decode(v, (size_t)(pe - v), out, outlen) < 0) return -1;
      found = 1; /* keep going: the last occurrence wins */
    }
    p = amp ? amp + 1 : end;
  }
  return found;
}

int http_query_int(const http_req_t *req, const char *name, long min, long max, long *out) {
  char val[32];
  int rc = http_query_get(req, name, val, sizeof val);
  if (rc <= 0) return rc;
  if (val[0] < '0' || val[0] > '9') return -1;
  long v = 0;
  for (const char *p = val; *p; p++) {
    if (*p < '0' || *p > '9' || v > (max - (*p - '0')) / 10) return -1;
    v = v * 10 + (*p - '0');
  }
  if (v < min) return -1;
  *out = v;
  return 1;
}
