/* timeutil — see timeutil.h. */
#include "core/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t time_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t time_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char *put_num(char *p, int v, int digits) {
  for (int i = digits - 1; i >= 0; i--) {
    p[i] = (char)('0' + v % 10);
    v /= 10;
  }
  return p + digits;
}

void time_format_rfc3339(int64_t ms, char *out) {
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char *p = out;
  p = put_num(p, tm.tm_year + 1900, 4);
  *p++ = '-';
  p = put_num(p, tm.tm_mon + 1, 2);
  *p++ = '-';
  p = put_num(p, tm.tm_mday, 2);
  *p++ = 'T';
  p = put_num(p, tm.tm_hour, 2);
  *p++ = ':';
  p = put_num(p, tm.tm_min, 2);
  *p++ = ':';
  p = put_num(p, tm.tm_sec, 2);
  *p++ = '.';
  p = put_num(p, (int)(ms % 1000), 3);
  *p++ = 'Z';
  *p = '\0';
}

void time_format_http(int64_t ms, char *out) {
  static const char days[] = "SunMonTueWedThuFriSat";
  static const char mons[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char *p = out;
  memcpy(p, days + 3 * tm.tm_wday, 3);
  p += 3;
  *p++ = ',';
  *p++ = ' ';
  p = put_num(p, tm.tm_mday, 2);
  *p++ = ' ';
  memcpy(p, mons + 3 * tm.tm_mon, 3);
  p += 3;
  *p++ = ' ';
  p = put_num(p, tm.tm_year + 1900, 4);
  *p++ = ' ';
  p = put_num(p, tm.tm_hour, 2);
  *p++ = ':';
  p = put_num(p, tm.tm_min, 2);
  *p++ = ':';
  p = put_num(p, tm.tm_sec, 2);
  memcpy(p, " GMT", 5);
}

int time_parse_duration(const char *s, int64_t *out_ms) {
  /* strtoull would skip leading white space and accept a sign: only digits
   * may start a duration. */
  if (!s || *s < '0' || *s > '9') return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s) return -1;
  int64_t mult;
  if (*end == '\0' || strcmp(end, "s") == 0)
    mult = 1000;
  else if (strcmp(end, "ms") == 0)
    mult = 1;
  else if (strcmp(end, "m") == 0)
    mult = 60 * 1000;
  else if (strcmp(end, "h") == 0)
    mult = 3600 * 1000;
  else if (strcmp(end, "d") == 0)
    mult = 86400 * 1000;
  else
    return -1;
  if (v > (unsigned long long)(INT64_MAX / mult)) return -1;
  *out_ms = (int64_t)v * mult;
  return 0;
}
