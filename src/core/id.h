/* id — time-ordered unique identifiers (UUIDv7, RFC 9562).
 *
 * Documents created without a client id get a UUIDv7: 48 bits of Unix
 * milliseconds, then a 42-bit counter (the 12 bits of rand_a and the top 30
 * bits of rand_b; RFC 9562 §6.2 method 1, "fixed bit-length dedicated
 * counter"), then 32 random bits. The counter starts at a random value with
 * its top bit clear each new millisecond and counts up within one, so ids are
 * strictly increasing (as strings, too) across all threads of the process,
 * even within one millisecond or when the wall clock steps back.
 *
 * Any thread may call id_uuidv7(); a process-wide mutex orders the calls.
 * Random bits come from OpenSSL's RAND_bytes. */
#ifndef HERALD_CORE_ID_H
#define HERALD_CORE_ID_H

#define ID_UUID_LEN 36

/* Writes 36 lowercase characters ("0190f5e4-7c1a-7b3e-9a4f-...") plus NUL. */
void id_uuidv7(char out[37]);

#endif
