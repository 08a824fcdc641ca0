/* validate — the input checks every REST handler shares: names, ids, and
 * request bodies parsed as JSON within herald's limits.
 *
 * Pure functions, callable from any thread. Parse errors are reported as a
 * one-line reason written into the caller's buffer, ready for a
 * problem+json "detail" (the caller answers 400). Returned JSON trees and
 * strings belong to the caller (json_decref / free).
 *
 * Limits enforced by json_body_parse (DESIGN principle 7, STYLE "Bounded
 * everything"): no duplicate keys, no NUL bytes (raw or \u0000), valid UTF-8,
 * nesting depth at most JSON_BODY_MAX_DEPTH (an object or array is one level;
 * "{}" is depth 1), integers within int64. The body size limit is the HTTP
 * layer's (--max-body). */
#ifndef HERALD_API_VALIDATE_H
#define HERALD_API_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JSON_BODY_MAX_DEPTH 64

enum { JSON_BODY_OBJECT = 0, JSON_BODY_ANY = 1 };

/* A collection name a client may write to: ^[a-z][a-z0-9_-]{0,63}$. Names
 * starting with '_' (the server's own: _ws, _stream, _changes, _events,
 * _webhooks) never match. s need not be NUL-terminated. */
bool valid_collection(const char *s, size_t n);

/* A document id: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$. */
bool valid_doc_id(const char *s, size_t n);

/* Parses body[0..len) into *out (a new reference). want is JSON_BODY_OBJECT
 * (the top level must be an object) or JSON_BODY_ANY (any JSON value,
 * including a bare scalar). Returns 0, or -1 with *out NULL and one of these
 * reasons in detail:
 *   "malformed JSON: <jansson's text> at line L column C"
 *   "malformed JSON: NUL byte at offset N" / "malformed JSON: empty body"
 *   "duplicate key 'k'"
 *   "nesting deeper than 64"
 *   "body must be a JSON object"
 *   "invalid UTF-8 at line L column C" */
int json_body_parse(const char *body, size_t len, int want, json_t **out, char *detail, size_t detail_len);

/* Removes the server-owned members id, version, createdAt and updatedAt from
 * a top-level object (borrowed; modified in place). No-op for non-objects. */
void strip_server_fields(json_t *obj);

/* Serializes v (borrowed) compactly: no whitespace, members in insertion
 * order, strings UTF-8 (not \u-escaped) with control characters escaped,
 * integers exactly, reals in the shortest form that reads back as the same
 * double (0.1 -> "0.1"; a real with an integral value keeps ".0", e.g.
 * "2.0", "-0.0", so it parses back as a real). Returns a NUL-terminated
 * malloc'd string (free() it) and its length in *len (may be NULL). */
char *json_compact(const json_t *v, size_t *len);

#endif
