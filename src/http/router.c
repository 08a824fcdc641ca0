/* router — maps method + path to a handler; answers 404 and 405 itself.
 *
 * Patterns are "/"-separated; a "{name}" segment matches any one non-empty
 * segment and is captured into req->params in order. When several patterns
 * match a path, the one with the most literal segments wins (so
 * "/api/_changes" beats "/api/{c}"); a method that the winning patterns do
 * not accept gets 405 with an Allow header listing the ones they do. */
#include <string.h>

#include "core/buf.h"
#include "http/http_int.h"

static int match(const char *pat, http_slice_t path, http_slice_t *params, int *literal) {
  const char *p = path.p, *end = path.p + path.n;
  int np = 0;
  *literal = 0;
  while (*pat) {
    if (*pat != '/' || p >= end || *p != '/') return 0;
    pat++;
    p++;
    const char *seg = p;
    while (p < end && *p != '/') p++;
    size_t seglen = (size_t)(p - seg);
    const char *pend = strchr(pat, '/');
    size_t plen = pend ? (size_t)(pend - pat) : strlen(pat);
    if (plen >= 2 && pat[0] == '{') {
      if (seglen == 0 || np >= HTTP_MAX_PARAMS) return 0;
      params[np].p = seg;
      params[np].n = seglen;
      np++;
    } else {
      if (plen != seglen || memcmp(pat, seg, plen) != 0) return 0;
      (*literal)++;
    }
    pat += plen;
  }
  return p == end ? 1 : 0;
}

static void allow_list(buf_t *b, unsigned methods) {
  static const struct {
    unsigned m;
    const char *name;
  } names[] = {{HTTP_M_GET, "GET, HEAD"}, {HTTP_M_POST, "POST"},     {HTTP_M_PUT, "PUT"},
               {HTTP_M_PATCH, "PATCH"},   {HTTP_M_DELETE, "DELETE"}, {HTTP_M_OPTIONS, "OPTIONS"}};
  bool first = true;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!(methods & names[i].m)) continue;
    if (!first) buf_puts(b, ", ");
    buf_puts(b, names[i].name);
    first = false;
  }
}

void http__route(http_server_t *s, http_req_t *req) {
  int best = -1;
  unsigned allowed = 0;
  const http_route_t *chosen = NULL;
  http_slice_t params[HTTP_MAX_PARAMS];
  for (const http_route_t *r = s->routes; r && r->pattern; r++) {
    int literal;
    http_slice_t tmp[HTTP_MAX_PARAMS] = {{0}};
    if (!match(r->pattern, req->path, tmp, &literal)) continue;
    if (literal < best) continue;
    if (literal > best) {
      best = literal;
      allowed = 0;
      chosen = NULL;
    }
    allowed |= r->methods;
    if (!chosen && (r->methods & req->method)) {
      chosen = r;
      memcpy(params, tmp, sizeof params);
    }
  }
  if (chosen) {
    memcpy(req->params, params, sizeof params);
    chosen->handler(req);
    return;
  }
  if (best >= 0) {
    if (req->method == HTTP_M_OPTIONS) {
      buf_t h = BUF_INIT;
      buf_puts(&h, "Allow: ");
      allow_list(&h, allowed | HTTP_M_OPTIONS);
      buf_puts(&h, "\r\n");
      http_respond(req, 204, NULL, buf_cstr(&h), NULL, 0);
      buf_free(&h);
      return;
    }
    buf_t h = BUF_INIT;
    buf_puts(&h, "Allow: ");
    allow_list(&h, allowed);
    buf_puts(&h, "\r\n");
    char detail[160];
    snprintf(detail, sizeof detail, "method not allowed here; allowed: %.*s", (int)(h.len - 9), h.data + 7);
    http__send_problem_with(req, 405, detail, buf_cstr(&h));
    buf_free(&h);
    return;
  }
  if (req->method == HTTP_M_GET && s->fallback && s->fallback(req)) return;
  http_problem(req, 404, "no such resource");
}
