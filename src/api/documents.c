/* documents — REST handlers for documents: create, list, get, put, patch,
 * delete (DESIGN.md "HTTP API", the documents table).
 *
 * Request bodies are parsed and checked here, on the loop thread (jansson,
 * with herald's limits from validate.c); the store receives compact JSON
 * without the server-owned fields and builds the stored document by string
 * splicing, so the writer thread runs no JSON parser. Answers are sent from
 * the store's callback, which runs on this same loop. */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/validate.h"
#include "app.h"
#include "core/buf.h"

static app_t *app_of(http_req_t *req) { return req->app; }

/* ---- shared checks ------------------------------------------------------ */

bool api__json_content_type(const http_req_t *req, bool allow_merge_patch) {
  const http_slice_t *ct = http_header(req, "content-type");
  if (!ct) return false;
  size_t n = ct->n;
  const char *semi = memchr(ct->p, ';', n);
  if (semi) n = (size_t)(semi - ct->p);
  while (n && (ct->p[n - 1] == ' ' || ct->p[n - 1] == '\t')) n--;
  if (n == 16 && strncasecmp(ct->p, "application/json", 16) == 0) return true;
  if (allow_merge_patch && n == 28 && strncasecmp(ct->p, "application/merge-patch+json", 28) == 0)
    return true;
  return false;
}

int64_t api__etag_version(const http_slice_t *v) {
  const char *p = v->p, *end = p + v->n;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  if (p < end && *p == '*') return -2;
  if (end - p >= 2 && p[0] == 'W' && p[1] == '/') p += 2;
  if (p >= end || *p != '"') return -3;
  p++;
  int64_t ver = 0;
  const char *d = p;
  while (p < end && *p >= '0' && *p <= '9') {
    if (ver > (INT64_MAX - 9) / 10) return -3;
    ver = ver * 10 + (*p - '0');
    p++;
  }
  if (p == d || p >= end || *p != '"') return -3;
  return ver;
}

/* Does any tag in an If-None-Match list name this version? */
static bool etag_list_matches(const http_slice_t *v, int64_t version) {
  const char *p = v->p, *end = p + v->n;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
    const char *s = p;
    while (p < end && *p != ',') p++;
    http_slice_t one = {s, (size_t)(p - s)};
    int64_t got = api__etag_version(&one);
    if (got == -2 || got == version) return true;
  }
  return false;
}

static bool check_collection(http_req_t *req, http_slice_t c) {
  if (valid_collection(c.p, c.n)) return true;
  if (c.n && c.p[0] == '_')
    http_problem(req, 404, "no such resource");
  else
    http_problemf(req, 400, "invalid collection name '%.*s': must match ^[a-z][a-z0-9_-]{0,63}$",
                  (int)(c.n > 80 ? 80 : c.n), c.p);
  return false;
}

static bool check_id(http_req_t *req, http_slice_t id) {
  if (valid_doc_id(id.p, id.n)) return true;
  http_problemf(req, 400, "invalid document id '%.*s': must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
                (int)(id.n > 140 ? 140 : id.n), id.p);
  return false;
}

json_t *api__read_object(http_req_t *req, bool merge_patch) {
  if (!api__json_content_type(req, merge_patch)) {
    http_problem(req, 415,
                 merge_patch ? "Content-Type must be application/merge-patch+json or application/json"
                             : "Content-Type must be application/json");
    return NULL;
  }
  json_t *obj;
  char detail[256];
  if (json_body_parse(req->body.data ? req->body.data : "", req->body.len, JSON_BODY_OBJECT, &obj, detail,
                      sizeof detail) != 0) {
    http_problem(req, 400, detail);
    return NULL;
  }
  return obj;
}

/* Reads If-Match into *version (STORE_IF_MATCH_NONE when absent,
 * STORE_IF_MATCH_ANY for "*", which needs the document to exist); answers
 * 412 itself for an unparseable tag, which can never match. */
static bool read_if_match(http_req_t *req, int64_t *version) {
  *version = STORE_IF_MATCH_NONE;
  const http_slice_t *h = http_header(req, "if-match");
  if (!h) return true;
  int64_t v = api__etag_version(h);
  if (v == -2) {
    *version = STORE_IF_MATCH_ANY;
    return true;
  }
  if (v < 0) {
    http_problem(req, 412, "If-Match does not match the current version");
    return false;
  }
  *version = v;
  return true;
}

static void put_location_etag(buf_t *h, const char *collection, const char *id, int64_t version) {
  buf_puts(h, "Location: /api/");
  buf_puts(h, collection);
  buf_putc(h, '/');
  buf_puts(h, id);
  buf_puts(h, "\r\nETag: \"");
  buf_put_i64(h, version);
  buf_puts(h, "\"\r\n");
}

/* ---- write completion --------------------------------------------------- */

typedef struct wctx {
  http_req_t *req;
  char collection[72];
} wctx_t;

static void on_written(void *ud, store_write_result_t *res) {
  wctx_t *w = ud;
  http_req_t *req = w->req;
  if (res->status >= 300) {
    http_problem(req, res->status, res->detail);
    free(w);
    return;
  }
  buf_t h = BUF_INIT;
  if (res->status == 204) {
    buf_puts(&h, "ETag: \"");
    buf_put_i64(&h, res->version);
    buf_puts(&h, "\"\r\n");
    http_respond(req, 204, NULL, buf_cstr(&h), NULL, 0);
  } else {
    if (res->status == 201) {
      put_location_etag(&h, w->collection, res->id, res->version);
    } else {
      buf_puts(&h, "ETag: \"");
      buf_put_i64(&h, res->version);
      buf_puts(&h, "\"\r\n");
    }
    if (res->replayed) buf_puts(&h, "Idempotent-Replayed: true\r\n");
    char *doc = res->doc;
    size_t len = res->doc_len;
    res->doc = NULL;
    http_respond_owned(req, res->status, "application/json", buf_cstr(&h), doc, len);
  }
  buf_free(&h);
  free(w);
}

static wctx_t *wctx_new(http_req_t *req, http_slice_t c) {
  wctx_t *w = xcalloc(1, sizeof *w);
  w->req = req;
  memcpy(w->collection, c.p, c.n);
  return w;
}

/* ---- handlers ----------------------------------------------------------- */

void api_doc_create(http_req_t *req) {
  http_slice_t c = req->params[0];
  if (!check_collection(req, c)) return;
  json_t *obj = api__read_object(req, false);
  if (!obj) return;
  char id[130] = "";
  json_t *jid = json_object_get(obj, "id");
  if (jid) {
    const char *s = json_string_value(jid);
    if (!s || !valid_doc_id(s, strlen(s))) {
      json_decref(obj);
      http_problem(req, 400, "invalid 'id': must be a string matching ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$");
      return;
    }
    memcpy(id, s, strlen(s) + 1);
  }
  strip_server_fields(obj);
  size_t blen;
  char *body = json_compact(obj, &blen);
  json_decref(obj);

  char coll[72];
  memcpy(coll, c.p, c.n);
  coll[c.n] = '\0';
  store_write_t w = {.kind = STORE_CREATE,
                     .collection = coll,
                     .id = id,
                     .body = body,
                     .body_len = blen,
                     .if_match = STORE_IF_MATCH_NONE};
  char key[256];
  char fp[2 * EVP_MAX_MD_SIZE + 1];
  const http_slice_t *ik = http_header(req, "idempotency-key");
  if (ik) {
    if (ik->n == 0 || ik->n >= sizeof key) {
      free(body);
      http_problem(req, 400, "invalid Idempotency-Key: 1 to 255 characters");
      return;
    }
    memcpy(key, ik->p, ik->n);
    key[ik->n] = '\0';
    /* The fingerprint covers the target and the exact body bytes. */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, "POST ", 5);
    EVP_DigestUpdate(ctx, coll, c.n);
    EVP_DigestUpdate(ctx, "\n", 1);
    EVP_DigestUpdate(ctx, req->body.data ? req->body.data : "", req->body.len);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < mdlen; i++) {
      fp[2 * i] = hex[md[i] >> 4];
      fp[2 * i + 1] = hex[md[i] & 15];
    }
    fp[2 * mdlen] = '\0';
    w.idem_key = key;
    w.idem_fingerprint = fp;
  }
  app_t *app = app_of(req);
  store_write(app->store, req->loop, &w, on_written, wctx_new(req, c));
  free(body);
}

static void write_doc(http_req_t *req, store_write_kind_t kind) {
  http_slice_t c = req->params[0], id = req->params[1];
  if (!check_collection(req, c) || !check_id(req, id)) return;
  int64_t if_match;
  if (!read_if_match(req, &if_match)) return;
  char coll[72], sid[130];
  memcpy(coll, c.p, c.n);
  coll[c.n] = '\0';
  memcpy(sid, id.p, id.n);
  sid[id.n] = '\0';
  store_write_t w = {.kind = kind, .collection = coll, .id = sid, .if_match = if_match};
  char *body = NULL;
  if (kind == STORE_PUT || kind == STORE_PATCH) {
    json_t *obj = api__read_object(req, kind == STORE_PATCH);
    if (!obj) return;
    json_t *jid = json_object_get(obj, "id");
    if (kind == STORE_PUT && jid && !(json_is_string(jid) && strcmp(json_string_value(jid), sid) == 0)) {
      json_decref(obj);
      http_problem(req, 400, "'id' in the body does not match the id in the URL");
      return;
    }
    strip_server_fields(obj);
    body = json_compact(obj, &w.body_len);
    json_decref(obj);
    w.body = body;
    const http_slice_t *inm = http_header(req, "if-none-match");
    if (kind == STORE_PUT && inm) {
      if (api__etag_version(inm) != -2) {
        free(body);
        http_problem(req, 400, "only If-None-Match: * is supported on PUT");
        return;
      }
      w.if_none_match_any = true;
    }
  }
  app_t *app = app_of(req);
  store_write(app->store, req->loop, &w, on_written, wctx_new(req, c));
  free(body);
}

void api_doc_put(http_req_t *req) { write_doc(req, STORE_PUT); }
void api_doc_patch(http_req_t *req) { write_doc(req, STORE_PATCH); }
void api_doc_delete(http_req_t *req) { write_doc(req, STORE_DELETE); }

static void on_got(void *ud, store_doc_result_t *res) {
  http_req_t *req = ud;
  if (res->status != 200) {
    http_problem(req, res->status, res->status == 404 ? "no such document" : res->detail);
    return;
  }
  char etag[48];
  snprintf(etag, sizeof etag, "ETag: \"%lld\"\r\n", (long long)res->version);
  const http_slice_t *inm = http_header(req, "if-none-match");
  if (inm && etag_list_matches(inm, res->version)) {
    http_respond(req, 304, NULL, etag, NULL, 0);
    return;
  }
  char *doc = res->doc;
  res->doc = NULL;
  http_respond_owned(req, 200, "application/json", etag, doc, res->doc_len);
}

void api_doc_get(http_req_t *req) {
  http_slice_t c = req->params[0], id = req->params[1];
  if (!check_collection(req, c) || !check_id(req, id)) return;
  char coll[72], sid[130];
  memcpy(coll, c.p, c.n);
  coll[c.n] = '\0';
  memcpy(sid, id.p, id.n);
  sid[id.n] = '\0';
  store_get(app_of(req)->store, req->loop, coll, sid, on_got, req);
}

/* ---- list --------------------------------------------------------------- */

static void on_listed(void *ud, store_list_result_t *res) {
  http_req_t *req = ud;
  if (res->status != 200) {
    http_problem(req, res->status, res->detail);
    return;
  }
  buf_t b = BUF_INIT;
  buf_reserve(&b, res->items_len + 128);
  buf_puts(&b, "{\"items\":");
  buf_append(&b, res->items, res->items_len);
  buf_puts(&b, ",\"next\":");
  if (res->next_cursor)
    buf_put_json_str(&b, res->next_cursor, strlen(res->next_cursor));
  else
    buf_puts(&b, "null");
  buf_puts(&b, ",\"head\":");
  buf_put_u64(&b, res->head);
  buf_putc(&b, '}');
  size_t len;
  char *body = buf_detach(&b, &len);
  http_respond_owned(req, 200, "application/json", NULL, body, len);
}

#define LIST_MAX_FILTERS 16

void api_doc_list(http_req_t *req) {
  http_slice_t c = req->params[0];
  if (!check_collection(req, c)) return;
  char coll[72];
  memcpy(coll, c.p, c.n);
  coll[c.n] = '\0';
  store_list_query_t q = {.collection = coll, .limit = 100};
  long limit = 100;
  if (http_query_int(req, "limit", 1, 1000, &limit) < 0) {
    http_problem(req, 400, "invalid 'limit': must be an integer from 1 to 1000");
    return;
  }
  q.limit = (int)limit;
  char after[1024];
  int rc = http_query_get(req, "after", after, sizeof after);
  if (rc < 0 || (rc > 0 && after[0] == '\0')) {
    http_problem(req, 400, "invalid 'after': not a cursor from a previous page");
    return;
  }
  if (rc > 0) q.after = after;
  char sort[80];
  rc = http_query_get(req, "sort", sort, sizeof sort);
  if (rc != 0) {
    const char *f = sort;
    if (rc > 0 && *f == '-') {
      q.sort_desc = true;
      f++;
    } else if (rc > 0 && *f == '+') {
      f++;
    }
    size_t fl = rc > 0 ? strlen(f) : 0;
    bool ok = fl > 0 && fl <= 64;
    for (size_t i = 0; ok && i < fl; i++) ok = isalnum((unsigned char)f[i]) || f[i] == '_' || f[i] == '-';
    if (!ok) {
      http_problem(req, 400, "invalid 'sort': a top-level field name, optionally prefixed with '-'");
      return;
    }
    q.sort_field = f;
  }
  /* filter[field]=value, equality on top-level fields */
  store_field_eq_t filters[LIST_MAX_FILTERS];
  char fbuf[LIST_MAX_FILTERS][2][256];
  size_t nf = 0;
  const char *p = req->query.p, *end = p + req->query.n;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pe = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(pe - p));
    const char *ke = eq ? eq : pe;
    char key[300];
    int kl = http_percent_decode(p, (size_t)(ke - p), key, sizeof key);
    if (kl > 8 && strncmp(key, "filter[", 7) == 0 && key[kl - 1] == ']') {
      if (nf >= LIST_MAX_FILTERS) {
        http_problem(req, 400, "too many filter parameters (at most 16)");
        return;
      }
      size_t fl = (size_t)kl - 8;
      bool ok = fl > 0 && fl < 65;
      for (size_t i = 0; ok && i < fl; i++)
        ok = isalnum((unsigned char)key[7 + i]) || key[7 + i] == '_' || key[7 + i] == '-';
      const char *v = eq ? eq + 1 : pe;
      if (!ok || http_percent_decode(v, (size_t)(pe - v), fbuf[nf][1], sizeof fbuf[nf][1]) < 0) {
        http_problem(req, 400, "invalid filter: use filter[field]=value with a top-level field name");
        return;
      }
      memcpy(fbuf[nf][0], key + 7, fl);
      fbuf[nf][0][fl] = '\0';
      filters[nf].field = fbuf[nf][0];
      filters[nf].value = fbuf[nf][1];
      nf++;
    }
    p = amp ? amp + 1 : end;
  }
  q.filters = filters;
  q.nfilters = nf;
  store_list(app_of(req)->store, req->loop, &q, on_listed, req);
}
