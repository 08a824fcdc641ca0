/* api — the REST handlers: documents, collections, custom events, health.
 *
 * Each handler runs on the request's loop thread, validates its input,
 * calls the store and answers from the store's callback (on the same loop).
 * Handlers write through the store only; they never name a transport: the
 * store publishes to the hub after commit and the transports take it from
 * there (DESIGN principle 1). */
#ifndef HERALD_API_API_H
#define HERALD_API_API_H

#include <jansson.h>

#include "http/http.h"

void api_doc_create(http_req_t *req);      /* POST   /api/{c} */
void api_doc_list(http_req_t *req);        /* GET    /api/{c} */
void api_doc_get(http_req_t *req);         /* GET    /api/{c}/{id} */
void api_doc_put(http_req_t *req);         /* PUT    /api/{c}/{id} */
void api_doc_patch(http_req_t *req);       /* PATCH  /api/{c}/{id} */
void api_doc_delete(http_req_t *req);      /* DELETE /api/{c}/{id} */
void api_collections(http_req_t *req);     /* GET    /api */
void api_event_post(http_req_t *req);      /* POST   /api/_events */
void api_healthz(http_req_t *req);         /* GET    /healthz */
void api_hook_create(http_req_t *req);     /* POST   /api/_webhooks (webhooks.c) */
void api_hook_list(http_req_t *req);       /* GET    /api/_webhooks */
void api_hook_get(http_req_t *req);        /* GET    /api/_webhooks/{id} */
void api_hook_patch(http_req_t *req);      /* PATCH  /api/_webhooks/{id} */
void api_hook_delete(http_req_t *req);     /* DELETE /api/_webhooks/{id} */
void api_hook_deliveries(http_req_t *req); /* GET    /api/_webhooks/{id}/deliveries */
/* GET of an embedded asset ("/" is "/index.html"); false if none. */
bool api_static(http_req_t *req);

/* Shared by api files: the checks every body-carrying handler makes. */
bool api__json_content_type(const http_req_t *req, bool allow_merge_patch);
/* Reads the body as a JSON object (new reference) within herald's limits;
 * answers 415 (content type) or 400 (the parse error) itself and returns
 * NULL. merge_patch also accepts application/merge-patch+json. */
json_t *api__read_object(http_req_t *req, bool merge_patch);
/* Parses an If-Match / If-None-Match entity tag list; returns the version
 * in the first tag ("3" or W/"3"), -2 for "*", -3 if unparseable. */
int64_t api__etag_version(const http_slice_t *v);

#endif
