/* rt_int — internals shared by the rt transports (not public). */
#ifndef HERALD_RT_INT_H
#define HERALD_RT_INT_H

#include "core/loop.h"
#include "rt/rt.h"

#define RT_SWEEP_MS 1000
/* A connection with this much gathered in one turn writes it out at once. */
#define RT_FLUSH_EARLY (64 * 1024)

typedef struct rt_conn rt_conn_t;

/* The part of every real-time connection the loop registry knows about;
 * embedded first in ws_conn_t and sse_conn_t. */
struct rt_conn {
  rt_conn_t *prev, *next;
  const char *transport; /* "websocket", "sse", "poll" */
  http_conn_t *conn;
  /* Called once per sweep with the loop's now (ms). */
  void (*sweep)(rt_conn_t *c, uint64_t now);
  /* Writes the connection's JSON object for the connections view. */
  void (*describe)(rt_conn_t *c, uint64_t head, buf_t *out);
};

void rt__add(loop_t *loop, rt_conn_t *c);
void rt__remove(loop_t *loop, rt_conn_t *c);

#endif
