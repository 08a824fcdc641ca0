/* config — flags and environment variables; see config.h.
 *
 * One table lists every option once: its flag, its variable, its kind and
 * where it lands in config_t, so --help, the parser and the docs agree. */
#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"

typedef enum { OPT_LISTEN, OPT_STR, OPT_INT, OPT_SIZE, OPT_DUR, OPT_LEVEL, OPT_BOOL } opt_kind_t;

typedef struct opt {
  const char *flag;
  const char *env;
  opt_kind_t kind;
  size_t off;
  size_t size; /* for OPT_STR: buffer size; for OPT_INT: min value */
  const char *help;
} opt_t;

#define OFF(f) offsetof(config_t, f)

static const opt_t opts[] = {
    {"--listen", "HERALD_LISTEN", OPT_LISTEN, 0, 0, "address:port to listen on (default 127.0.0.1:8080)"},
    {"--db", "HERALD_DB", OPT_STR, OFF(db_path), sizeof(((config_t *)0)->db_path),
     "SQLite database file (default ./herald.db)"},
    {"--threads", "HERALD_THREADS", OPT_INT, OFF(threads), 1, "I/O loops (default: number of cores)"},
    {"--retain-events", "HERALD_RETAIN_EVENTS", OPT_INT, OFF(retain_events), 1,
     "events kept by count (default 1000000)"},
    {"--retain-for", "HERALD_RETAIN_FOR", OPT_DUR, OFF(retain_for_ms), 0,
     "events kept by age, e.g. 7d, 12h (default 7d)"},
    {"--max-body", "HERALD_MAX_BODY", OPT_SIZE, OFF(max_body), 0,
     "request body limit in bytes (default 1048576)"},
    {"--max-header", "HERALD_MAX_HEADER", OPT_SIZE, OFF(max_header), 0,
     "request head limit in bytes (default 16384)"},
    {"--log-level", "HERALD_LOG_LEVEL", OPT_LEVEL, OFF(log_level), 0,
     "debug, info, warn, error or off (default info)"},
    {"--header-timeout", "HERALD_HEADER_TIMEOUT", OPT_DUR, OFF(header_timeout_ms), 0,
     "time allowed to send a request head (default 10s)"},
    {"--idle-timeout", "HERALD_IDLE_TIMEOUT", OPT_DUR, OFF(idle_timeout_ms), 0,
     "keep-alive idle limit (default 60s)"},
    {"--body-timeout", "HERALD_BODY_TIMEOUT", OPT_DUR, OFF(body_timeout_ms), 0,
     "longest pause inside a request body (default 30s)"},
    {"--ws-max-message", "HERALD_WS_MAX_MESSAGE", OPT_SIZE, OFF(ws_max_message), 0,
     "largest WebSocket message in bytes (default 65536)"},
    {"--max-subscriptions", "HERALD_MAX_SUBSCRIPTIONS", OPT_INT, OFF(max_subscriptions), 1,
     "subscriptions per WebSocket (default 64)"},
    {"--max-outbound", "HERALD_MAX_OUTBOUND", OPT_SIZE, OFF(max_outbound), 0,
     "queued bytes per connection (default 1048576)"},
    {"--heartbeat", "HERALD_HEARTBEAT", OPT_DUR, OFF(heartbeat_ms), 0,
     "SSE heartbeat interval (default 15s)"},
    {"--ws-ping", "HERALD_WS_PING", OPT_DUR, OFF(ws_ping_ms), 0, "WebSocket ping interval (default 30s)"},
    {"--sse-retry", "HERALD_SSE_RETRY", OPT_DUR, OFF(sse_retry_ms), 0,
     "reconnect delay advertised to SSE clients (default 2s)"},
    {"--hook-connect-timeout", "HERALD_HOOK_CONNECT_TIMEOUT", OPT_DUR, OFF(hook_connect_timeout_ms), 0,
     "webhook connect timeout (default 5s)"},
    {"--hook-timeout", "HERALD_HOOK_TIMEOUT", OPT_DUR, OFF(hook_timeout_ms), 0,
     "webhook request timeout (default 15s)"},
    {"--hook-retry-first", "HERALD_HOOK_RETRY_FIRST", OPT_DUR, OFF(hook_retry_first_ms), 0,
     "first webhook retry delay (default 1s)"},
    {"--hook-retry-max", "HERALD_HOOK_RETRY_MAX", OPT_DUR, OFF(hook_retry_max_ms), 0,
     "longest webhook retry delay (default 10m)"},
    {"--hook-retry-window", "HERALD_HOOK_RETRY_WINDOW", OPT_DUR, OFF(hook_retry_window_ms), 0,
     "failing this long disables a webhook (default 24h)"},
};

void config_defaults(config_t *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
  c->listen_port = 8080;
  snprintf(c->db_path, sizeof c->db_path, "./herald.db");
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  c->threads = n > 0 ? (int)n : 1;
  c->retain_events = 1000000;
  c->retain_for_ms = 7LL * 86400 * 1000;
  c->max_body = 1 << 20;
  c->max_header = 16 * 1024;
  c->log_level = LOG_INFO;
  c->header_timeout_ms = 10 * 1000;
  c->idle_timeout_ms = 60 * 1000;
  c->body_timeout_ms = 30 * 1000;
  c->ws_max_message = 64 * 1024;
  c->max_subscriptions = 64;
  c->max_outbound = 1 << 20;
  c->heartbeat_ms = 15 * 1000;
  c->ws_ping_ms = 30 * 1000;
  c->sse_retry_ms = 2000;
  c->hook_connect_timeout_ms = 5000;
  c->hook_timeout_ms = 15000;
  c->hook_retry_first_ms = 1000;
  c->hook_retry_max_ms = 10 * 60 * 1000;
  c->hook_retry_window_ms = 24LL * 3600 * 1000;
}

void config_print_usage(void) {
  printf(
      "usage: herald [options]\n\nherald %s: a JSON REST API over collections with every change pushed\n"
      "live over WebSocket, Server-Sent Events, long-polling and webhooks.\n\noptions (each also as the "
      "environment variable shown):\n",
      HERALD_VERSION);
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
    printf("  %-24s %-30s %s\n", opts[i].flag, opts[i].env, opts[i].help);
  printf("  %-24s %-30s %s\n  %-24s %-30s %s\n", "--help", "", "print this help and exit", "--version", "",
         "print the version and exit");
}

static int parse_u64(const char *s, unsigned long long *out) {
  if (*s < '0' || *s > '9') return -1; /* strtoull skips white space, takes a sign */
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

static int apply(config_t *c, const opt_t *o, const char *v, char *err, size_t errlen) {
  char *base = (char *)c;
  unsigned long long u;
  int64_t ms;
  switch (o->kind) {
    case OPT_LISTEN: {
      const char *colon = strrchr(v, ':');
      if (!colon || colon == v || (size_t)(colon - v) >= sizeof c->listen_host || parse_u64(colon + 1, &u) ||
          u > 65535)
        goto bad;
      const char *h = v;
      size_t hl = (size_t)(colon - v);
      if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
      }
      if (hl == 0) goto bad;
      for (size_t i = 0; i < hl; i++)
        if ((unsigned char)h[i] <= ' ' || h[i] == 0x7f) goto bad;
      memcpy(c->listen_host, h, hl);
      c->listen_host[hl] = '\0';
      c->listen_port = (int)u;
      return 0;
    }
    case OPT_STR:
      if (!*v || strlen(v) >= o->size) goto bad;
      memcpy(base + o->off, v, strlen(v) + 1);
      return 0;
    case OPT_INT:
      if (parse_u64(v, &u) || u < o->size || u > (unsigned long long)INT32_MAX * 1000ULL) goto bad;
      if (o->off == OFF(threads) || o->off == OFF(max_subscriptions)) {
        if (u > 1024) goto bad;
        *(int *)(base + o->off) = (int)u;
      } else {
        *(int64_t *)(base + o->off) = (int64_t)u;
      }
      return 0;
    case OPT_SIZE:
      if (parse_u64(v, &u) || u == 0 || u > (1ULL << 40)) goto bad;
      *(size_t *)(base + o->off) = (size_t)u;
      return 0;
    case OPT_DUR:
      if (time_parse_duration(v, &ms) || ms <= 0) goto bad;
      *(int64_t *)(base + o->off) = ms;
      return 0;
    case OPT_LEVEL: {
      log_level_t l;
      if (log_parse_level(v, &l)) goto bad;
      *(int *)(base + o->off) = (int)l;
      return 0;
    }
    case OPT_BOOL:
      if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *(bool *)(base + o->off) = true;
      else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *(bool *)(base + o->off) = false;
      else
        goto bad;
      return 0;
  }
bad : {
  /* The value is echoed, cut short and with control characters shown as
   * '?', so the message stays one line whatever was passed. */
  char shown[64];
  size_t n = 0;
  for (; v[n] && n < sizeof shown - 1; n++)
    shown[n] = (unsigned char)v[n] < 0x20 || v[n] == 0x7f ? '?' : v[n];
  shown[n] = '\0';
  snprintf(err, errlen, "invalid value for %s: '%s%s' (%s)", o->flag, shown, v[n] ? "..." : "", o->help);
  return -1;
}
}

int config_parse(config_t *c, int argc, char **argv, char *err, size_t errlen) {
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
    const char *v = getenv(opts[i].env);
    if (v && apply(c, &opts[i], v, err, errlen)) {
      size_t n = strlen(err);
      snprintf(err + n, errlen - n, " from %s", opts[i].env);
      return -1;
    }
  }
  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      config_print_usage();
      return 1;
    }
    if (strcmp(arg, "--version") == 0) {
      printf("herald %s\n", HERALD_VERSION);
      return 1;
    }
    const char *eq = strchr(arg, '=');
    size_t flen = eq ? (size_t)(eq - arg) : strlen(arg);
    const opt_t *o = NULL;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
      if (strlen(opts[i].flag) == flen && strncmp(opts[i].flag, arg, flen) == 0) o = &opts[i];
    }
    if (!o) {
      snprintf(err, errlen, "unknown option '%s' (see --help)", arg);
      return -1;
    }
    const char *v;
    if (eq) {
      v = eq + 1;
    } else {
      if (a + 1 >= argc) {
        snprintf(err, errlen, "option %s needs a value (see --help)", o->flag);
        return -1;
      }
      v = argv[++a];
    }
    if (apply(c, o, v, err, errlen)) return -1;
  }
  return 0;
}
