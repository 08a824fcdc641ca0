/* timeutil — wall-clock and monotonic time, and the text forms herald uses.
 *
 * Pure functions, any thread. Timestamps in events and documents are RFC 3339
 * UTC with milliseconds ("2026-12-04T19:30:00.123Z", 24 chars). */
#ifndef HERALD_CORE_TIMEUTIL_H
#define HERALD_CORE_TIMEUTIL_H

#include <stdint.h>

#define TIME_RFC3339_LEN 24

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t time_now_ms(void);
/* Monotonic milliseconds, for timeouts and intervals. */
uint64_t time_mono_ms(void);
/* Writes 24 chars plus NUL into out (at least 25 bytes). */
void time_format_rfc3339(int64_t ms, char *out);
/* Writes an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", 29 chars + NUL). */
void time_format_http(int64_t ms, char *out);
/* Parses a duration such as "7d", "12h", "30m", "45s", "500ms" or a bare
 * number of seconds into milliseconds. Returns 0, or -1 if malformed. */
int time_parse_duration(const char *s, int64_t *out_ms);

#endif
