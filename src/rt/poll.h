/* poll — the polling transport: GET /api/_changes, GET /api/{c}/_changes,
 * with long-poll (wait=seconds) woken by the hub. Runs on the request's loop
 * thread. See poll.c for the state machine. */
#ifndef HERALD_RT_POLL_H
#define HERALD_RT_POLL_H

#include "http/http.h"

void rt_poll_handle(http_req_t *req);

#endif
