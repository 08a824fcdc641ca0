/* validate — names, ids and JSON request bodies; see validate.h.
 *
 * Bodies are parsed by jansson and then checked for what jansson does not
 * bound itself (nesting: its own limit is 2048). jansson's error texts are
 * mapped to a few stable reasons so clients and tests can rely on them.
 * json_compact() is our own small serializer rather than json_dumps(): jansson
 * prints reals with one fixed precision, so 0.1 comes back either as
 * 0.10000000000000001 (precision 17) or, for some values, not as the same
 * double (lower precisions); we print each real in the shortest form that
 * round-trips. */
#include "api/validate.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

static bool is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(unsigned char c) { return is_lower(c) || is_digit(c) || (c >= 'A' && c <= 'Z'); }

bool valid_collection(const char *s, size_t n) {
  if (!s || n < 1 || n > 64 || !is_lower((unsigned char)s[0])) return false;
  for (size_t i = 1; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!is_lower(c) && !is_digit(c) && c != '_' && c != '-') return false;
  }
  return true;
}

bool valid_doc_id(const char *s, size_t n) {
  if (!s || n < 1 || n > 128 || !is_alnum((unsigned char)s[0])) return false;
  for (size_t i = 1; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

/* True if v nests containers deeper than max levels below depth. The
 * recursion stops at max + 1, so it is bounded whatever the tree. */
static bool too_deep(const json_t *v, int depth, int max) {
  if (!json_is_object(v) && !json_is_array(v)) return false;
  if (++depth > max) return true;
  if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++)
      if (too_deep(json_array_get(v, i), depth, max)) return true;
    return false;
  }
  const char *k;
  json_t *m;
  json_object_foreach((json_t *)v, k, m) {
    if (too_deep(m, depth, max)) return true;
  }
  return false;
}

/* Copies jansson's raw key token out of "duplicate object key near '"k"'",
 * keeping printable ASCII only (the token is JSON text, escapes undecoded). */
static void dup_key(const char *text, char *out, size_t outlen) {
  const char *p = strstr(text, "near '\"");
  size_t o = 0;
  if (p) {
    p += 7;
    const char *end = strrchr(p, '\'');
    if (end && end > p && end[-1] == '"') end--;
    if (!end) end = p + strlen(p); /* jansson cut the text short */
    for (; p < end && o + 1 < outlen && o < 40; p++) {
      unsigned char c = (unsigned char)*p;
      out[o++] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
    }
  }
  out[o] = '\0';
}

int json_body_parse(const char *body, size_t len, int want, json_t **out, char *detail, size_t detail_len) {
  char tmp[1];
  if (!detail || !detail_len) {
    detail = tmp;
    detail_len = sizeof tmp;
  }
  *out = NULL;
  if (!body || len == 0) {
    snprintf(detail, detail_len, "malformed JSON: empty body");
    return -1;
  }
  const char *nul = memchr(body, '\0', len);
  if (nul) {
    snprintf(detail, detail_len, "malformed JSON: NUL byte at offset %zu", (size_t)(nul - body));
    return -1;
  }
  json_error_t err;
  size_t flags = JSON_REJECT_DUPLICATES | (want == JSON_BODY_ANY ? JSON_DECODE_ANY : 0);
  json_t *v = json_loadb(body, len, flags, &err);
  if (!v) {
    switch (json_error_code(&err)) {
      case json_error_duplicate_key: {
        char key[48];
        dup_key(err.text, key, sizeof key);
        /* jansson leaves the key out of its text when the key is long. */
        if (key[0])
          snprintf(detail, detail_len, "duplicate key '%s'", key);
        else
          snprintf(detail, detail_len, "duplicate key at line %d column %d", err.line, err.column);
        break;
      }
      case json_error_invalid_utf8:
        snprintf(detail, detail_len, "invalid UTF-8 at line %d column %d", err.line, err.column);
        break;
      case json_error_stack_overflow:
        snprintf(detail, detail_len, "nesting deeper than %d", JSON_BODY_MAX_DEPTH);
        break;
      default:
        /* Without DECODE_ANY a top-level scalar is a syntax error to
         * jansson; for us it is the "not an object" class. */
        if (want == JSON_BODY_OBJECT && strncmp(err.text, "'[' or '{' expected", 19) == 0 &&
            json_error_code(&err) != json_error_premature_end_of_input) {
          json_t *any = json_loadb(body, len, flags | JSON_DECODE_ANY, &err);
          if (any) {
            json_decref(any);
            snprintf(detail, detail_len, "body must be a JSON object");
            return -1;
          }
          if (json_error_code(&err) == json_error_invalid_utf8) {
            snprintf(detail, detail_len, "invalid UTF-8 at line %d column %d", err.line, err.column);
            return -1;
          }
        }
        snprintf(detail, detail_len, "malformed JSON: %s at line %d column %d", err.text, err.line,
                 err.column);
    }
    return -1;
  }
  if (too_deep(v, 0, JSON_BODY_MAX_DEPTH)) {
    json_decref(v);
    snprintf(detail, detail_len, "nesting deeper than %d", JSON_BODY_MAX_DEPTH);
    return -1;
  }
  if (want == JSON_BODY_OBJECT && !json_is_object(v)) {
    json_decref(v);
    snprintf(detail, detail_len, "body must be a JSON object");
    return -1;
  }
  *out = v;
  return 0;
}

void strip_server_fields(json_t *obj) {
  if (!json_is_object(obj)) return;
  static const char *const owned[] = {"id", "version", "createdAt", "updatedAt"};
  for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) json_object_del(obj, owned[i]);
}

/* Appends d in the shortest %.{15,16,17}g form that strtod reads back as d,
 * in jansson's style: exponent without '+' or leading zeros, and ".0" added
 * when the text would otherwise read as an integer. */
static void put_real(buf_t *b, double d) {
  char s[40];
  /* From 15 digits, %g with its trailing zeros stripped is already the
   * shortest form for a normal double; subnormals carry fewer significant
   * digits (5e-324), so they search from 1. */
  int first = (d != 0 && fabs(d) < DBL_MIN) ? 1 : 15;
  for (int prec = first; prec <= 17; prec++) {
    snprintf(s, sizeof s, "%.*g", prec, d);
    if (prec == 17 || strtod(s, NULL) == d) break;
  }
  char out[48];
  size_t o = 0;
  bool frac_or_exp = false;
  for (const char *p = s; *p; p++) {
    if (*p == '.') frac_or_exp = true;
    if (*p == 'e') {
      frac_or_exp = true;
      out[o++] = 'e';
      p++;
      if (*p == '+')
        p++;
      else if (*p == '-')
        out[o++] = *p++;
      while (*p == '0' && p[1]) p++;
      while (*p) out[o++] = *p++;
      break;
    }
    out[o++] = *p;
  }
  if (!frac_or_exp) {
    out[o++] = '.';
    out[o++] = '0';
  }
  buf_append(b, out, o);
}

static void put_value(buf_t *b, const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: {
      buf_putc(b, '{');
      bool first = true;
      for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
        if (!first) buf_putc(b, ',');
        first = false;
        buf_put_json_str(b, json_object_iter_key(it), json_object_iter_key_len(it));
        buf_putc(b, ':');
        put_value(b, json_object_iter_value(it));
      }
      buf_putc(b, '}');
      break;
    }
    case JSON_ARRAY:
      buf_putc(b, '[');
      for (size_t i = 0; i < json_array_size(v); i++) {
        if (i) buf_putc(b, ',');
        put_value(b, json_array_get(v, i));
      }
      buf_putc(b, ']');
      break;
    case JSON_STRING:
      buf_put_json_str(b, json_string_value(v), json_string_length(v));
      break;
    case JSON_INTEGER:
      buf_put_i64(b, (int64_t)json_integer_value(v));
      break;
    case JSON_REAL:
      put_real(b, json_real_value(v));
      break;
    case JSON_TRUE:
      buf_puts(b, "true");
      break;
    case JSON_FALSE:
      buf_puts(b, "false");
      break;
    case JSON_NULL:
      buf_puts(b, "null");
      break;
  }
}

char *json_compact(const json_t *v, size_t *len) {
  buf_t b = BUF_INIT;
  if (v)
    put_value(&b, v);
  else
    buf_puts(&b, "null");
  return buf_detach(&b, len);
}
