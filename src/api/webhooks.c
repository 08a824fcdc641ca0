/* webhooks — REST handlers for /api/_webhooks (DESIGN "Webhooks").
 *
 *   POST   /api/_webhooks                    create: 201 with the secret
 *   GET    /api/_webhooks                    list
 *   GET    /api/_webhooks/{id}               one
 *   PATCH  /api/_webhooks/{id}               url, filter fields, enabled
 *   DELETE /api/_webhooks/{id}               204
 *   GET    /api/_webhooks/{id}/deliveries    newest delivery records first
 *
 * Bodies are validated here (the URL with curl's parser through
 * hooks_url_check, the filter with filter_from_json); the store keeps the
 * registry, and after each committed change the dispatcher is told to
 * re-read that webhook (hooks_changed); the answer waits until it has, so
 * once a client hears back, its next write meets the new settings. The API
 * never touches delivery state directly.
 *
 * Representation. The request's filter fields are the subscription ones
 * (collections, types, id, payload). In a webhook's representation "id" is
 * the webhook's own id, so the filter's document id is shown as
 * "documentId". The secret is shown once, in the 201 answer to POST, and
 * never again: it is a credential, and a lost one is replaced by creating a
 * new webhook. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "app.h"
#include "core/buf.h"
#include "core/id.h"
#include "core/timeutil.h"
#include "hooks/hooks.h"

static const char *const create_fields[] = {"url", "collections", "types", "id", "payload", NULL};
static const char *const patch_fields[] = {"url", "collections", "types", "id", "payload", "enabled", NULL};
static const char *const filter_fields[] = {"collections", "types", "id", "payload", NULL};

static app_t *app_of(http_req_t *req) { return req->app; }

static bool in(const char *const *list, const char *key) {
  for (; *list; list++)
    if (strcmp(*list, key) == 0) return true;
  return false;
}

/* ---- representation -------------------------------------------------------- */

static json_t *time_or_null(int64_t ms) {
  if (ms <= 0) return json_null();
  char t[TIME_RFC3339_LEN + 1];
  time_format_rfc3339(ms, t);
  return json_string(t);
}

static json_t *member_or_null(json_t *obj, const char *key) {
  json_t *v = obj ? json_object_get(obj, key) : NULL;
  return v ? json_incref(v) : json_null();
}

static json_t *hook_json(const store_hook_t *h, bool with_secret) {
  json_t *o = json_object();
  json_t *f = json_loads(h->filter ? h->filter : "{}", 0, NULL);
  json_object_set_new(o, "id", json_string(h->id));
  json_object_set_new(o, "url", json_string(h->url ? h->url : ""));
  json_object_set_new(o, "collections", member_or_null(f, "collections"));
  json_object_set_new(o, "types", member_or_null(f, "types"));
  json_object_set_new(o, "documentId", member_or_null(f, "id"));
  json_t *payload = f ? json_object_get(f, "payload") : NULL;
  json_object_set_new(o, "payload", json_is_string(payload) ? json_incref(payload) : json_string("full"));
  json_object_set_new(o, "enabled", json_boolean(h->enabled));
  json_object_set_new(o, "status",
                      json_string(!h->enabled               ? "disabled"
                                  : h->failing_since_ms > 0 ? "failing"
                                                            : "active"));
  json_object_set_new(o, "disabledReason",
                      h->disabled_reason ? json_string(h->disabled_reason) : json_null());
  json_object_set_new(o, "cursor", json_integer((json_int_t)h->cursor));
  json_object_set_new(o, "failingSince", time_or_null(h->failing_since_ms));
  json_object_set_new(o, "lastReset", time_or_null(h->reset_ms));
  json_object_set_new(o, "createdAt", time_or_null(h->created_ms));
  json_object_set_new(o, "updatedAt", time_or_null(h->updated_ms));
  if (with_secret) json_object_set_new(o, "secret", json_string(h->secret ? h->secret : ""));
  json_decref(f);
  return o;
}

static void respond_json(http_req_t *req, int status, json_t *v, const char *extra_headers) {
  size_t len;
  char *body = json_compact(v, &len);
  json_decref(v);
  http_respond_owned(req, status, "application/json", extra_headers, body, len);
}

/* An answer held until the dispatcher has applied the change it reports. */
typedef struct reply {
  http_req_t *req;
  int status;
  char *body; /* NULL for 204 */
  size_t len;
  char *headers;
} reply_t;

static void send_reply(void *arg) {
  reply_t *r = arg;
  if (r->body)
    http_respond_owned(r->req, r->status, "application/json", r->headers, r->body, r->len);
  else
    http_respond(r->req, r->status, NULL, r->headers, NULL, 0);
  free(r->headers);
  free(r);
}

/* Tells the dispatcher webhook id changed and answers once it has applied
 * it: after a 2xx, the client's next write meets the new settings. v is
 * transferred (NULL: no body). */
static void respond_after_apply(http_req_t *req, const char *id, int status, json_t *v,
                                const char *extra_headers) {
  reply_t *r = xcalloc(1, sizeof *r);
  r->req = req;
  r->status = status;
  if (v) {
    r->body = json_compact(v, &r->len);
    json_decref(v);
  }
  r->headers = extra_headers ? xstrdup(extra_headers) : NULL;
  hooks_changed(app_of(req)->hooks, id, req->loop, send_reply, r);
}

/* ---- shared checks ---------------------------------------------------------- */

/* Parses the body as a JSON object whose keys are all in allowed; answers
 * 415/400 itself and returns NULL on failure. */
static json_t *parse_body(http_req_t *req, const char *const *allowed, const char *expected) {
  json_t *obj = api__read_object(req, false);
  if (!obj) return NULL;
  const char *key;
  json_t *val;
  json_object_foreach(obj, key, val) {
    if (!in(allowed, key)) {
      http_problemf(req, 400, "unknown field '%.64s': expected %s", key, expected);
      json_decref(obj);
      return NULL;
    }
  }
  return obj;
}

static bool check_url(http_req_t *req, json_t *v) {
  if (!json_is_string(v)) {
    http_problem(req, 400, "'url' must be a string");
    return false;
  }
  char detail[256];
  if (hooks_url_check(json_string_value(v), detail, sizeof detail)) {
    http_problem(req, 400, detail);
    return false;
  }
  return true;
}

/* The webhook id from the path, or a 404 answered. */
static bool path_id(http_req_t *req, char out[130]) {
  http_slice_t id = req->params[0];
  if (!valid_doc_id(id.p, id.n)) {
    http_problem(req, 404, "no such webhook");
    return false;
  }
  memcpy(out, id.p, id.n);
  out[id.n] = '\0';
  return true;
}

/* ---- POST /api/_webhooks ------------------------------------------------------ */

static void on_created(void *ud, store_hook_result_t *res) {
  http_req_t *req = ud;
  if (res->status != 201) {
    http_problem(req, res->status, res->detail);
    return;
  }
  buf_t h = BUF_INIT;
  buf_printf(&h, "Location: /api/_webhooks/%s\r\n", res->hook.id);
  respond_after_apply(req, res->hook.id, 201, hook_json(&res->hook, true), buf_cstr(&h));
  buf_free(&h);
}

void api_hook_create(http_req_t *req) {
  json_t *obj = parse_body(req, create_fields, "url, collections, types, id, payload");
  if (!obj) return;
  filter_t f;
  filter_init(&f);
  char detail[256];
  char *filter_text = NULL;
  json_t *url = json_object_get(obj, "url");
  if (!url) {
    http_problem(req, 400, "'url' is required");
  } else if (!check_url(req, url)) {
    /* answered */
  } else if (filter_from_json(&f, obj, (const char *const[]){"url", NULL}, detail, sizeof detail)) {
    http_problem(req, 400, detail);
  } else {
    char secret[HOOKS_SECRET_MAX];
    if (hooks_secret_new(secret)) {
      http_problem(req, 500, "no randomness available for the secret");
    } else {
      json_t *fj = filter_to_json(&f);
      filter_text = json_compact(fj, NULL);
      json_decref(fj);
      store_hook_t h = {.url = (char *)json_string_value(url), .secret = secret, .filter = filter_text};
      id_uuidv7(h.id);
      store_hook_create(app_of(req)->store, req->loop, &h, on_created, req);
    }
  }
  free(filter_text);
  filter_free(&f);
  json_decref(obj);
}

/* ---- GET /api/_webhooks -------------------------------------------------------- */

static void on_listed(void *ud, store_hook_list_result_t *res) {
  http_req_t *req = ud;
  if (res->status != 200) {
    http_problem(req, res->status, res->detail);
    return;
  }
  json_t *items = json_array();
  for (size_t i = 0; i < res->nhooks; i++) json_array_append_new(items, hook_json(&res->hooks[i], false));
  json_t *o = json_object();
  json_object_set_new(o, "items", items);
  respond_json(req, 200, o, NULL);
}

void api_hook_list(http_req_t *req) { store_hook_list(app_of(req)->store, req->loop, on_listed, req); }

/* ---- GET /api/_webhooks/{id} --------------------------------------------------- */

static void on_one(void *ud, store_hook_result_t *res) {
  http_req_t *req = ud;
  if (res->status != 200) {
    http_problem(req, res->status, res->detail);
    return;
  }
  respond_json(req, 200, hook_json(&res->hook, false), NULL);
}

void api_hook_get(http_req_t *req) {
  char id[130];
  if (!path_id(req, id)) return;
  store_hook_get(app_of(req)->store, req->loop, id, on_one, req);
}

/* ---- PATCH /api/_webhooks/{id} ------------------------------------------------- */

static void on_updated(void *ud, store_hook_result_t *res) {
  http_req_t *req = ud;
  if (res->status != 200) {
    http_problem(req, res->status, res->detail);
    return;
  }
  respond_after_apply(req, res->hook.id, 200, hook_json(&res->hook, false), NULL);
}

/* Builds the merge patch for the stored filter from the filter fields the
 * body names (validated as a filter); NULL when it names none. */
static int filter_patch(json_t *obj, char **out, char *detail, size_t detail_len) {
  *out = NULL;
  json_t *sub = json_object();
  const char *key;
  json_t *val;
  json_object_foreach(obj, key, val) {
    if (in(filter_fields, key)) json_object_set(sub, key, val);
  }
  if (json_object_size(sub) == 0) {
    json_decref(sub);
    return 0;
  }
  filter_t f;
  filter_init(&f);
  int rc = filter_from_json(&f, sub, NULL, detail, detail_len);
  if (rc == 0) {
    /* Normalised values for the named fields only; null removes a field
     * from the stored filter (RFC 7396), which then means its default. */
    json_t *norm = filter_to_json(&f), *patch = json_object();
    json_object_foreach(sub, key, val) { json_object_set(patch, key, json_object_get(norm, key)); }
    *out = json_compact(patch, NULL);
    json_decref(patch);
    json_decref(norm);
  }
  filter_free(&f);
  json_decref(sub);
  return rc;
}

void api_hook_patch(http_req_t *req) {
  char id[130];
  if (!path_id(req, id)) return;
  json_t *obj = parse_body(req, patch_fields, "url, collections, types, id, payload, enabled");
  if (!obj) return;
  json_t *url = json_object_get(obj, "url");
  json_t *enabled = json_object_get(obj, "enabled");
  char *patch = NULL;
  char detail[256];
  if (url && !check_url(req, url)) {
    /* answered */
  } else if (enabled && !json_is_boolean(enabled)) {
    http_problem(req, 400, "'enabled' must be true or false");
  } else if (filter_patch(obj, &patch, detail, sizeof detail)) {
    http_problem(req, 400, detail);
  } else {
    store_hook_update_t u = {.id = id,
                             .url = url ? json_string_value(url) : NULL,
                             .filter = patch,
                             .enabled = enabled ? json_is_true(enabled) : -1,
                             .reason = "disabled by PATCH"};
    store_hook_update(app_of(req)->store, req->loop, &u, on_updated, req);
  }
  free(patch);
  json_decref(obj);
}

/* ---- DELETE /api/_webhooks/{id} ------------------------------------------------ */

typedef struct del_ctx {
  http_req_t *req;
  char id[130];
} del_ctx_t;

static void on_deleted(void *ud, store_hook_result_t *res) {
  del_ctx_t *c = ud;
  http_req_t *req = c->req;
  if (res->status != 204) {
    http_problem(req, res->status, res->detail);
  } else {
    respond_after_apply(req, c->id, 204, NULL, NULL);
  }
  free(c);
}

void api_hook_delete(http_req_t *req) {
  del_ctx_t *c = xmalloc(sizeof *c);
  c->req = req;
  if (!path_id(req, c->id)) {
    free(c);
    return;
  }
  store_hook_delete(app_of(req)->store, req->loop, c->id, on_deleted, c);
}

/* ---- GET /api/_webhooks/{id}/deliveries ---------------------------------------- */

static void on_deliveries(void *ud, store_hook_deliveries_result_t *res) {
  http_req_t *req = ud;
  if (res->status != 200) {
    http_problem(req, res->status, res->detail);
    return;
  }
  const char *epoch = store_epoch(app_of(req)->store);
  json_t *items = json_array();
  for (size_t i = 0; i < res->nitems; i++) {
    const store_hook_delivery_t *d = &res->items[i];
    json_t *o = json_object();
    char msg_id[64];
    snprintf(msg_id, sizeof msg_id, "%s-%llu", epoch, (unsigned long long)d->seq);
    json_object_set_new(o, "seq", json_integer((json_int_t)d->seq));
    json_object_set_new(o, "messageId", json_string(msg_id));
    json_object_set_new(o, "attempt", json_integer(d->attempt));
    json_object_set_new(o, "result", json_string(d->result));
    json_object_set_new(o, "status", d->status ? json_integer(d->status) : json_null());
    json_object_set_new(o, "error", d->error ? json_string(d->error) : json_null());
    json_object_set_new(o, "durationMs", json_integer(d->duration_ms));
    json_object_set_new(o, "at", time_or_null(d->at_ms));
    json_array_append_new(items, o);
  }
  json_t *o = json_object();
  json_object_set_new(o, "items", items);
  respond_json(req, 200, o, NULL);
}

void api_hook_deliveries(http_req_t *req) {
  char id[130];
  if (!path_id(req, id)) return;
  long limit = STORE_HOOK_DELIVERIES_KEPT;
  if (http_query_int(req, "limit", 1, STORE_HOOK_DELIVERIES_KEPT, &limit) < 0) {
    http_problemf(req, 400, "invalid 'limit': must be an integer from 1 to %d", STORE_HOOK_DELIVERIES_KEPT);
    return;
  }
  store_hook_deliveries(app_of(req)->store, req->loop, id, (int)limit, on_deliveries, req);
}
