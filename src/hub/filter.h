/* filter — which events a subscriber wants: one filter for every transport.
 *
 * DESIGN.md "Subscribing": collections (default all), types, id (one
 * document), payload=full|minimal, since=seq. Query strings carry lists
 * comma-separated; JSON bodies (WebSocket subscribe, webhooks) carry arrays.
 * A filter_t owns its strings; filter_free() releases them. Matching is a
 * pure function, callable from any thread.
 *
 * Parsers return 0, or -1 with a one-line reason in *detail (a static
 * string or one written into the caller's buffer) suitable for a problem+json
 * "detail" or a WebSocket error op. */
#ifndef HERALD_HUB_FILTER_H
#define HERALD_HUB_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub/event.h"

#define FILTER_MAX_ITEMS 64

typedef struct filter {
  char **collections; /* NULL = all */
  size_t ncollections;
  char **types; /* NULL = all */
  size_t ntypes;
  char *id; /* NULL = any */
  hub_payload_t payload;
  bool has_since;
  uint64_t since;
} filter_t;

void filter_init(filter_t *f);
void filter_free(filter_t *f);
/* Deep copy: dst must be initialised or freed. */
void filter_copy(filter_t *dst, const filter_t *src);
bool filter_match(const filter_t *f, const hub_event_t *ev);

/* Reads collections, types, id, payload and since from a raw (still
 * percent-encoded) query string; other parameters are ignored. If
 * path_collection is not NULL (the /api/{c}/_changes form) it is the only
 * collection and a "collections" parameter is ignored. */
int filter_parse_query(filter_t *f, const char *query, size_t len, const char *path_collection, char *detail,
                       size_t detail_len);

/* Reads the filter fields from a JSON object. Keys named in allowed_extra
 * (NULL-terminated list, e.g. {"op","sub",NULL}) are skipped; any other
 * unknown key is an error. */
int filter_from_json(filter_t *f, const json_t *obj, const char *const *allowed_extra, char *detail,
                     size_t detail_len);

/* Writes the filter as JSON object members (no braces), e.g.
 * "collections":["a"],"types":null,... — used by webhooks' GET. */
json_t *filter_to_json(const filter_t *f);

#endif
