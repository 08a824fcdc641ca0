/* config — herald's settings from the command line and HERALD_* variables.
 *
 * config_defaults() fills the documented defaults; config_parse() applies the
 * environment first and then the flags (a flag wins over its variable). It
 * runs once on the main thread before anything starts; afterwards the struct
 * is read-only and shared by every thread. Errors are reported as a one-line
 * message in err (the caller prints it and exits 2). */
#ifndef HERALD_CORE_CONFIG_H
#define HERALD_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct config {
  char listen_host[64];
  int listen_port; /* 0 = pick a free port (tests) */
  char db_path[1024];
  int threads;               /* I/O loops; default = number of cores */
  int64_t retain_events;     /* events kept by count */
  int64_t retain_for_ms;     /* events kept by age */
  size_t max_body;           /* request body limit, bytes */
  size_t max_header;         /* request line + headers limit, bytes */
  int log_level;             /* log_level_t */
  int64_t header_timeout_ms; /* whole request head must arrive within this */
  int64_t idle_timeout_ms;   /* keep-alive connection idle limit */
  int64_t body_timeout_ms;   /* gap allowed between body reads */
  /* real-time (WebSocket, SSE) */
  size_t ws_max_message; /* bytes; over it closes 1009 */
  int max_subscriptions; /* per WebSocket connection */
  size_t max_outbound;   /* queued bytes per connection before 1013 / end */
  int64_t heartbeat_ms;  /* SSE comment heartbeat */
  int64_t ws_ping_ms;    /* WebSocket protocol ping interval */
  int64_t sse_retry_ms;  /* the retry: hint sent to EventSource */
  /* webhooks */
  int64_t hook_connect_timeout_ms;
  int64_t hook_timeout_ms;
  int64_t hook_retry_first_ms;
  int64_t hook_retry_max_ms;
  int64_t hook_retry_window_ms;
  bool hook_allow_private; /* reserved: address vetting policy */
} config_t;

void config_defaults(config_t *c);
/* Returns 0 on success; 1 if --help or --version was handled (printed to
 * stdout, exit 0); -1 on error with a one-line message in err. */
int config_parse(config_t *c, int argc, char **argv, char *err, size_t errlen);
void config_print_usage(void);

#endif
