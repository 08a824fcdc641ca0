/* meta — the small handlers: GET /api (collections), POST /api/_events
 * (custom events), GET /healthz, and the embedded assets. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "app.h"
#include "core/buf.h"
#include "http/assets.h"

static void on_collections(void *ud, store_collections_result_t *res) {
  http_req_t *req = ud;
  if (res->status != 200) {
    http_problem(req, res->status, res->detail);
    return;
  }
  buf_t b = BUF_INIT;
  buf_puts(&b, "{\"collections\":");
  buf_append(&b, res->json, res->json_len);
  buf_puts(&b, ",\"head\":");
  buf_put_u64(&b, res->head);
  buf_putc(&b, '}');
  size_t len;
  char *body = buf_detach(&b, &len);
  http_respond_owned(req, 200, "application/json", NULL, body, len);
}

void api_collections(http_req_t *req) {
  app_t *app = req->app;
  store_collections(app->store, req->loop, on_collections, req);
}

static bool valid_type(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == ':' || c == '-'))
      return false;
  }
  return true;
}

static void on_event_written(void *ud, store_write_result_t *res) {
  http_req_t *req = ud;
  if (res->status >= 300) {
    http_problem(req, res->status, res->detail);
    return;
  }
  char body[64];
  int n = snprintf(body, sizeof body, "{\"seq\":%llu}", (unsigned long long)res->seq);
  http_respond(req, 202, "application/json", NULL, body, (size_t)n);
}

void api_event_post(http_req_t *req) {
  json_t *obj = api__read_object(req, false);
  if (!obj) return;
  const char *key;
  json_t *val;
  json_object_foreach(obj, key, val) {
    if (strcmp(key, "collection") && strcmp(key, "type") && strcmp(key, "data")) {
      http_problemf(req, 400, "unknown field '%.64s': expected collection, type, data", key);
      json_decref(obj);
      return;
    }
  }
  const char *coll = json_string_value(json_object_get(obj, "collection"));
  const char *type = json_string_value(json_object_get(obj, "type"));
  if (!coll || !valid_collection(coll, strlen(coll))) {
    http_problem(req, 400, "'collection' must be a collection name matching ^[a-z][a-z0-9_-]{0,63}$");
  } else if (!type || !valid_type(type)) {
    http_problem(req, 400, "'type' must be a string of 1 to 64 characters [A-Za-z0-9_.:-]");
  } else if (!strcmp(type, "created") || !strcmp(type, "updated") || !strcmp(type, "deleted")) {
    http_problem(req, 400, "'type' must not be created, updated or deleted: those come from document writes");
  } else {
    json_t *data = json_object_get(obj, "data");
    size_t dlen = 4;
    char *dtext = data ? json_compact(data, &dlen) : NULL;
    store_write_t w = {.kind = STORE_EVENT,
                       .collection = coll,
                       .id = "",
                       .type = type,
                       .body = dtext ? dtext : "null",
                       .body_len = dtext ? dlen : 4,
                       .if_match = STORE_IF_MATCH_NONE};
    app_t *app = req->app;
    store_write(app->store, req->loop, &w, on_event_written, req);
    free(dtext);
  }
  json_decref(obj);
}

void api_healthz(http_req_t *req) {
  app_t *app = req->app;
  buf_t b = BUF_INIT;
  buf_puts(&b, "{\"status\":\"ok\",\"head\":");
  buf_put_u64(&b, store_head(app->store));
  buf_puts(&b, ",\"epoch\":");
  const char *epoch = store_epoch(app->store);
  buf_put_json_str(&b, epoch, strlen(epoch));
  buf_putc(&b, '}');
  size_t len;
  char *body = buf_detach(&b, &len);
  http_respond_owned(req, 200, "application/json", "Cache-Control: no-store\r\n", body, len);
}

bool api_static(http_req_t *req) {
  const char *path = req->path.p;
  size_t n = req->path.n;
  if (n == 1 && path[0] == '/') {
    path = "/index.html";
    n = 11;
  }
  for (const asset_t *a = assets; a->path; a++) {
    if (strlen(a->path) == n && memcmp(a->path, path, n) == 0) {
      http_respond(req, 200, a->content_type, "Cache-Control: no-cache\r\n", (const char *)a->data, a->len);
      return true;
    }
  }
  return false;
}
