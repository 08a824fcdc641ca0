/* log — see log.h. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/timeutil.h"

static log_level_t level = LOG_INFO;

void log_set_level(log_level_t lvl) { level = lvl; }
log_level_t log_get_level(void) { return level; }

int log_parse_level(const char *s, log_level_t *out) {
  static const char *names[] = {"debug", "info", "warn", "error", "off"};
  for (int i = 0; i < 5; i++) {
    if (strcmp(s, names[i]) == 0) {
      *out = (log_level_t)i;
      return 0;
    }
  }
  return -1;
}

void log_msg(log_level_t lvl, const char *fmt, ...) {
  if (lvl < level) return;
  static const char *tags[] = {"debug", "info", "warn", "error"};
  char line[1024];
  char ts[32];
  time_format_rfc3339(time_now_ms(), ts);
  int n = snprintf(line, sizeof line, "%s %s ", ts, tags[lvl]);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) m = 0;
  size_t len = (size_t)n + (size_t)m;
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t w = write(2, line, len);
  (void)w;
}
