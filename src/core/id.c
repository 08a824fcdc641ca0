/* id — UUIDv7 with a monotonic counter; see id.h.
 *
 * Bit layout (RFC 9562 §5.7, counter per §6.2 method 1):
 *
 *   0                   1                   2                   3
 *   unix_ts_ms (48) ......................... | ver=7 (4) | counter hi (12)
 *   var=10 (2) | counter lo (30) ............ | random (32)
 *
 * State (last timestamp, counter) lives behind one mutex. The counter is
 * reseeded with 41 random bits at each new millisecond, leaving at least 2^41
 * increments before it could overflow; on overflow the timestamp is advanced
 * by one millisecond, which the RFC allows to keep monotonicity. */
#include "core/id.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>

#include "core/timeutil.h"

#define COUNTER_BITS 42
#define COUNTER_MAX ((UINT64_C(1) << COUNTER_BITS) - 1)

static pthread_mutex_t id_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms;
static uint64_t counter;
static uint64_t fallback_state;

/* Random bits; RAND_bytes practically never fails, but if it does, ids must
 * still be unique within the process (which the counter guarantees), so a
 * splitmix64 stream seeded from the clock is an acceptable stand-in. */
static uint64_t random_u64(void) {
  uint64_t v;
  if (RAND_bytes((unsigned char *)&v, sizeof v) == 1) return v;
  pthread_mutex_lock(&id_mu);
  if (fallback_state == 0) fallback_state = (uint64_t)time_now_ms() ^ (uint64_t)(uintptr_t)&v;
  uint64_t z = (fallback_state += UINT64_C(0x9e3779b97f4a7c15));
  pthread_mutex_unlock(&id_mu);
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

void id_uuidv7(char out[37]) {
  uint64_t seed = random_u64() & (COUNTER_MAX >> 1);
  uint64_t tail = random_u64();
  uint64_t now = (uint64_t)time_now_ms();

  pthread_mutex_lock(&id_mu);
  uint64_t ms, ctr;
  if (now > last_ms) {
    last_ms = now;
    counter = seed;
  } else if (counter < COUNTER_MAX) {
    counter++; /* same millisecond, or the clock stepped back: keep last_ms */
  } else {
    last_ms++;
    counter = seed;
  }
  ms = last_ms;
  ctr = counter;
  pthread_mutex_unlock(&id_mu);

  unsigned char b[16];
  for (int i = 0; i < 6; i++) b[i] = (unsigned char)(ms >> (40 - 8 * i));
  b[6] = (unsigned char)(0x70 | ((ctr >> 38) & 0x0f));
  b[7] = (unsigned char)(ctr >> 30);
  b[8] = (unsigned char)(0x80 | ((ctr >> 24) & 0x3f));
  b[9] = (unsigned char)(ctr >> 16);
  b[10] = (unsigned char)(ctr >> 8);
  b[11] = (unsigned char)ctr;
  for (int i = 0; i < 4; i++) b[12 + i] = (unsigned char)(tail >> (8 * i));

  static const char hex[] = "0123456789abcdef";
  char *p = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = hex[b[i] >> 4];
    *p++ = hex[b[i] & 0x0f];
  }
  *p = '\0';
}
