/* app — what main wires together and hands to every handler.
 *
 * Built once on the main thread before the loops start, then read-only.
 * http handlers reach it through req->app. */
#ifndef HERALD_APP_H
#define HERALD_APP_H

#include "core/config.h"
#include "core/loop.h"
#include "http/http.h"
#include "hub/hub.h"
#include "store/store.h"

typedef struct app {
  const config_t *cfg;
  store_t *store;
  hub_t *hub;
  http_server_t *http;
  loop_t **loops;
  int nloops;
  void *hooks; /* webhook dispatcher, when present */
} app_t;

#endif
