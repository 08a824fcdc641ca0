/* filter — parsing subscriber filters from query strings and JSON, and
 * matching events against them; see filter.h.
 *
 * Parsing runs once per subscription and may allocate; matching runs once
 * per event per subscriber on the loop threads and does not: it compares the
 * event's collection, type and id against the (at most FILTER_MAX_ITEMS)
 * strings the filter owns.
 *
 * Output contract shared by both parsers: *f is overwritten (it must not hold
 * strings the caller still needs freed — initialise it or free it first). On
 * success it holds the parsed filter; on failure it is left initialised and
 * empty, so filter_free() is always safe. Query semantics: values are
 * percent-decoded ('+' becomes a space, which no field accepts), the last
 * occurrence of a parameter wins, unknown parameters are ignored, and an
 * empty value is an error for every known parameter. JSON semantics: lists
 * are arrays of strings, since is a non-negative integer (not a real, not a
 * string), id a string; null means "the default" for every field; a key
 * that is neither a filter field nor in allowed_extra is an error. since is
 * capped at INT64_MAX, the largest seq the store can hold. */
#include "hub/filter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define COLLECTION_RULE "^[a-z][a-z0-9_-]{0,63}$"
#define TYPE_RULE "^[A-Za-z0-9_.:-]{1,64}$"
#define ID_RULE "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"

/* ---- value syntax ------------------------------------------------------ */

static bool is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(unsigned char c) { return is_lower(c) || is_digit(c) || (c >= 'A' && c <= 'Z'); }

static bool valid_collection_name(const char *s, size_t n) {
  if (n < 1 || n > 64 || !is_lower((unsigned char)s[0])) return false;
  for (size_t i = 1; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!is_lower(c) && !is_digit(c) && c != '_' && c != '-') return false;
  }
  return true;
}

static bool valid_type_name(const char *s, size_t n) {
  if (n < 1 || n > 64) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!is_alnum(c) && c != '_' && c != '.' && c != ':' && c != '-') return false;
  }
  return true;
}

static bool valid_id(const char *s, size_t n) {
  if (n < 1 || n > 128 || !is_alnum((unsigned char)s[0])) return false;
  for (size_t i = 1; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

/* Parses a canonical non-negative decimal integer no larger than INT64_MAX. */
static bool parse_seq(const char *s, size_t n, uint64_t *out) {
  if (n == 0) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit((unsigned char)s[i])) return false;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > ((uint64_t)INT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* Writes a short printable rendering of a rejected value for a detail line:
 * at most 32 bytes, anything outside printable ASCII (and the quote) as '?'. */
static void show(char *out, size_t outlen, const char *s, size_t n) {
  size_t max = n > 32 ? 32 : n, o = 0;
  for (size_t i = 0; i < max && o + 1 < outlen; i++) {
    unsigned char c = (unsigned char)s[i];
    out[o++] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
  }
  if (n > max && o + 4 < outlen) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o < outlen ? o : outlen - 1] = '\0';
}

/* Writes a one-line reason into detail and returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(char *detail, size_t detail_len, const char *fmt, ...) {
  if (detail && detail_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, detail_len, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* ---- lists ------------------------------------------------------------- */

typedef bool (*item_check_fn)(const char *s, size_t n);

static const char *rule_of(item_check_fn check) {
  return check == valid_collection_name ? COLLECTION_RULE : TYPE_RULE;
}

static void list_free(char **items, size_t n) {
  for (size_t i = 0; i < n; i++) free(items[i]);
  free(items);
}

/* Appends one validated item to a list, dropping exact duplicates. */
static int list_add(char ***items, size_t *n, const char *s, size_t len, item_check_fn check,
                    const char *name, char *detail, size_t detail_len) {
  char shown[40];
  if (len == 0) return fail(detail, detail_len, "invalid '%s': empty item", name);
  if (!check(s, len)) {
    show(shown, sizeof shown, s, len);
    if (detail && detail_len)
      snprintf(detail, detail_len, "invalid '%s': '%s' must match %s", name, shown, rule_of(check));
    return -1;
  }
  for (size_t i = 0; i < *n; i++) {
    if (strlen((*items)[i]) == len && memcmp((*items)[i], s, len) == 0) return 0;
  }
  if (*n >= FILTER_MAX_ITEMS) {
    return fail(detail, detail_len, "invalid '%s': more than %d items", name, FILTER_MAX_ITEMS);
  }
  if (*items == NULL) *items = xcalloc(FILTER_MAX_ITEMS, sizeof **items);
  (*items)[(*n)++] = xstrndup(s, len);
  return 0;
}

/* ---- init, free, copy, match ------------------------------------------- */

void filter_init(filter_t *f) {
  memset(f, 0, sizeof *f);
  f->payload = HUB_PAYLOAD_FULL;
}

void filter_free(filter_t *f) {
  list_free(f->collections, f->ncollections);
  list_free(f->types, f->ntypes);
  free(f->id);
  filter_init(f);
}

static char **list_copy(char *const *src, size_t n) {
  if (!src) return NULL;
  char **dst = xcalloc(n ? n : 1, sizeof *dst);
  for (size_t i = 0; i < n; i++) dst[i] = xstrdup(src[i]);
  return dst;
}

void filter_copy(filter_t *dst, const filter_t *src) {
  if (dst == src) return;
  filter_free(dst);
  dst->collections = list_copy(src->collections, src->ncollections);
  dst->ncollections = src->ncollections;
  dst->types = list_copy(src->types, src->ntypes);
  dst->ntypes = src->ntypes;
  dst->id = src->id ? xstrdup(src->id) : NULL;
  dst->payload = src->payload;
  dst->has_since = src->has_since;
  dst->since = src->since;
}

static bool in_list(char *const *items, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++) {
    /* The first-byte test skips most strcmp calls on a miss. */
    if (items[i][0] == s[0] && strcmp(items[i], s) == 0) return true;
  }
  return false;
}

bool filter_match(const filter_t *f, const hub_event_t *ev) {
  if (f->collections && !in_list(f->collections, f->ncollections, ev->collection)) return false;
  if (f->types && !in_list(f->types, f->ntypes, ev->type)) return false;
  if (f->id && strcmp(f->id, ev->id) != 0) return false;
  return true;
}

/* ---- query strings ----------------------------------------------------- */

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into out (at least n bytes); returns the decoded
 * length, or -1 on a malformed escape. */
static long pct_decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      if (i + 2 >= n) return -1;
      int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else if (s[i] == '+') {
      out[o++] = ' ';
    } else {
      out[o++] = s[i];
    }
  }
  return (long)o;
}

enum { P_COLLECTIONS, P_TYPES, P_ID, P_PAYLOAD, P_SINCE, P_COUNT };
static const char *const param_names[P_COUNT] = {"collections", "types", "id", "payload", "since"};

static int parse_list_value(char ***items, size_t *n, const char *v, size_t len, item_check_fn check,
                            const char *name, char *detail, size_t detail_len) {
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && v[i] != ',') continue;
    if (list_add(items, n, v + start, i - start, check, name, detail, detail_len)) return -1;
    start = i + 1;
  }
  return 0;
}

/* Applies one decoded value of a known parameter to t. */
static int apply_param(filter_t *t, int p, const char *v, size_t len, char *detail, size_t detail_len) {
  const char *name = param_names[p];
  char shown[40];
  switch (p) {
    case P_COLLECTIONS:
      return parse_list_value(&t->collections, &t->ncollections, v, len, valid_collection_name, name, detail,
                              detail_len);
    case P_TYPES:
      return parse_list_value(&t->types, &t->ntypes, v, len, valid_type_name, name, detail, detail_len);
    case P_ID:
      if (!valid_id(v, len)) {
        show(shown, sizeof shown, v, len);
        if (detail && detail_len)
          snprintf(detail, detail_len, "invalid 'id': '%s' must match %s", shown, ID_RULE);
        return -1;
      }
      t->id = xstrndup(v, len);
      return 0;
    case P_PAYLOAD:
      if (len == 4 && memcmp(v, "full", 4) == 0)
        t->payload = HUB_PAYLOAD_FULL;
      else if (len == 7 && memcmp(v, "minimal", 7) == 0)
        t->payload = HUB_PAYLOAD_MINIMAL;
      else
        return fail(detail, detail_len, "invalid '%s': must be full or minimal", name);
      return 0;
    case P_SINCE:
      if (!parse_seq(v, len, &t->since))
        return fail(detail, detail_len, "invalid '%s': must be a non-negative integer", name);
      t->has_since = true;
      return 0;
  }
  return 0;
}

int filter_parse_query(filter_t *f, const char *query, size_t len, const char *path_collection, char *detail,
                       size_t detail_len) {
  filter_t t;
  filter_init(&t);
  filter_init(f);
  const char *val[P_COUNT] = {NULL};
  size_t vlen[P_COUNT] = {0};
  char key[16];
  char *dec = NULL;
  int rc = -1;

  if (!query) len = 0;
  if (len && query[0] == '?') {
    query++;
    len--;
  }
  /* Pass 1: remember the last occurrence of each known parameter. */
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && query[i] != '&') continue;
    const char *pair = query + start;
    size_t plen = i - start;
    start = i + 1;
    if (plen == 0) continue;
    const char *eq = memchr(pair, '=', plen);
    size_t klen = eq ? (size_t)(eq - pair) : plen;
    if (klen >= sizeof key) continue; /* longer than any known name: unknown */
    long kd = pct_decode(pair, klen, key);
    if (kd < 0) continue;
    for (int p = 0; p < P_COUNT; p++) {
      if ((size_t)kd == strlen(param_names[p]) && memcmp(key, param_names[p], (size_t)kd) == 0) {
        val[p] = eq ? eq + 1 : pair + plen;
        vlen[p] = eq ? plen - klen - 1 : 0;
      }
    }
  }
  if (path_collection) {
    val[P_COLLECTIONS] = NULL;
    size_t n = strlen(path_collection);
    if (!valid_collection_name(path_collection, n)) {
      char shown[40];
      show(shown, sizeof shown, path_collection, n);
      if (detail && detail_len)
        snprintf(detail, detail_len, "invalid collection '%s': must match %s", shown, COLLECTION_RULE);
      goto out;
    }
    t.collections = xcalloc(1, sizeof *t.collections);
    t.collections[0] = xstrndup(path_collection, n);
    t.ncollections = 1;
  }
  /* Pass 2: decode and apply each. */
  for (int p = 0; p < P_COUNT; p++) {
    if (!val[p]) continue;
    dec = xmalloc(vlen[p] + 1);
    long dl = pct_decode(val[p], vlen[p], dec);
    if (dl < 0) {
      fail(detail, detail_len, "invalid '%s': malformed percent-encoding", param_names[p]);
      goto out;
    }
    if (dl == 0) {
      fail(detail, detail_len, "invalid '%s': empty value", param_names[p]);
      goto out;
    }
    if (apply_param(&t, p, dec, (size_t)dl, detail, detail_len)) goto out;
    free(dec);
    dec = NULL;
  }
  *f = t;
  filter_init(&t);
  rc = 0;
out:
  free(dec);
  filter_free(&t);
  return rc;
}

/* ---- JSON -------------------------------------------------------------- */

static int json_list(char ***items, size_t *n, const json_t *v, item_check_fn check, const char *name,
                     char *detail, size_t detail_len) {
  if (json_is_null(v)) return 0;
  if (!json_is_array(v)) return fail(detail, detail_len, "invalid '%s': must be an array of strings", name);
  size_t count = json_array_size(v);
  if (count == 0) return fail(detail, detail_len, "invalid '%s': must not be empty", name);
  for (size_t i = 0; i < count; i++) {
    const json_t *s = json_array_get(v, i);
    if (!json_is_string(s))
      return fail(detail, detail_len, "invalid '%s': must be an array of strings", name);
    if (list_add(items, n, json_string_value(s), json_string_length(s), check, name, detail, detail_len))
      return -1;
  }
  return 0;
}

static bool is_allowed(const char *key, const char *const *allowed_extra) {
  if (!allowed_extra) return false;
  for (size_t i = 0; allowed_extra[i]; i++)
    if (strcmp(allowed_extra[i], key) == 0) return true;
  return false;
}

int filter_from_json(filter_t *f, const json_t *obj, const char *const *allowed_extra, char *detail,
                     size_t detail_len) {
  filter_t t;
  filter_init(&t);
  filter_init(f);
  int rc = -1;
  if (!json_is_object(obj)) {
    fail(detail, detail_len, "filter must be a JSON object");
    goto out;
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    char shown[40];
    if (strcmp(key, "collections") == 0) {
      if (json_list(&t.collections, &t.ncollections, v, valid_collection_name, key, detail, detail_len))
        goto out;
    } else if (strcmp(key, "types") == 0) {
      if (json_list(&t.types, &t.ntypes, v, valid_type_name, key, detail, detail_len)) goto out;
    } else if (strcmp(key, "id") == 0) {
      if (json_is_null(v)) continue;
      if (!json_is_string(v)) {
        fail(detail, detail_len, "invalid '%s': must be a string", key);
        goto out;
      }
      if (apply_param(&t, P_ID, json_string_value(v), json_string_length(v), detail, detail_len)) goto out;
    } else if (strcmp(key, "payload") == 0) {
      if (json_is_null(v)) continue;
      if (!json_is_string(v) ||
          apply_param(&t, P_PAYLOAD, json_string_value(v), json_string_length(v), detail, detail_len)) {
        fail(detail, detail_len, "invalid '%s': must be full or minimal", key);
        goto out;
      }
    } else if (strcmp(key, "since") == 0) {
      if (json_is_null(v)) continue;
      if (!json_is_integer(v) || json_integer_value(v) < 0) {
        fail(detail, detail_len, "invalid '%s': must be a non-negative integer", key);
        goto out;
      }
      t.has_since = true;
      t.since = (uint64_t)json_integer_value(v);
    } else if (!is_allowed(key, allowed_extra)) {
      show(shown, sizeof shown, key, strlen(key));
      fail(detail, detail_len, "unknown field '%s'", shown);
      goto out;
    }
  }
  *f = t;
  filter_init(&t);
  rc = 0;
out:
  filter_free(&t);
  return rc;
}

static json_t *list_to_json(char *const *items, size_t n) {
  if (!items) return json_null();
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(items[i]));
  return a;
}

json_t *filter_to_json(const filter_t *f) {
  json_t *o = json_object();
  json_object_set_new(o, "collections", list_to_json(f->collections, f->ncollections));
  json_object_set_new(o, "types", list_to_json(f->types, f->ntypes));
  json_object_set_new(o, "id", f->id ? json_string(f->id) : json_null());
  json_object_set_new(o, "payload", json_string(f->payload == HUB_PAYLOAD_MINIMAL ? "minimal" : "full"));
  return o;
}
