/* log — leveled logging to stderr, safe from any thread.
 *
 * Each line is written with one write(2) so lines from different threads do
 * not interleave. The level is set once at startup, before threads start. */
#ifndef HERALD_CORE_LOG_H
#define HERALD_CORE_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level_t;

void log_set_level(log_level_t lvl);
log_level_t log_get_level(void);
/* Returns 0 and sets *out for "debug", "info", "warn", "error", "off". */
int log_parse_level(const char *s, log_level_t *out);
void log_msg(log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_D(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define LOG_I(...) log_msg(LOG_INFO, __VA_ARGS__)
#define LOG_W(...) log_msg(LOG_WARN, __VA_ARGS__)
#define LOG_E(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
