/* main — process entry: flags, wiring, run, orderly shutdown.
 *
 * Wiring (STYLE: includes point one way): the store publishes to the hub,
 * the hub fans out to the loops, the http server routes to the api handlers
 * and the transports. Every loop runs on its own thread; the main thread
 * only waits for SIGINT/SIGTERM (blocked everywhere else, taken with
 * sigwait) and then runs the shutdown in order:
 *
 *   1. every loop: stop accepting, close idle connections, tell real-time
 *      clients to go (WebSocket 1001) and long-polls to answer now;
 *   2. wait (bounded) for in-flight requests to be answered;
 *   3. stop the webhook dispatcher (attempts in flight are abandoned and
 *      retried after a restart), then close the store: queued writes are
 *      committed and answered;
 *   4. every loop: close what is left and exit; join the threads. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "api/api.h"
#include "app.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "hooks/hooks.h"
#include "http/http.h"
#include "hub/hub.h"
#include "rt/poll.h"
#include "rt/rt.h"
#include "store/store.h"

static const http_route_t routes[] = {
    {HTTP_M_GET, "/healthz", api_healthz},
    {HTTP_M_GET, "/api", api_collections},
    {HTTP_M_POST, "/api/_events", api_event_post},
    {HTTP_M_GET, "/api/_changes", rt_poll_handle},
    {HTTP_M_GET, "/api/{c}/_changes", rt_poll_handle},
    {HTTP_M_GET, "/api/_ws", rt_ws_handle},
    {HTTP_M_GET, "/api/_stream", rt_sse_handle},
    {HTTP_M_GET, "/api/{c}/_stream", rt_sse_handle},
    {HTTP_M_GET, "/api/_connections", rt_connections_handle},
    {HTTP_M_GET, "/api/_webhooks", api_hook_list},
    {HTTP_M_POST, "/api/_webhooks", api_hook_create},
    {HTTP_M_GET, "/api/_webhooks/{id}", api_hook_get},
    {HTTP_M_PATCH, "/api/_webhooks/{id}", api_hook_patch},
    {HTTP_M_DELETE, "/api/_webhooks/{id}", api_hook_delete},
    {HTTP_M_GET, "/api/_webhooks/{id}/deliveries", api_hook_deliveries},
    {HTTP_M_GET, "/api/{c}", api_doc_list},
    {HTTP_M_POST, "/api/{c}", api_doc_create},
    {HTTP_M_GET, "/api/{c}/{id}", api_doc_get},
    {HTTP_M_PUT, "/api/{c}/{id}", api_doc_put},
    {HTTP_M_PATCH, "/api/{c}/{id}", api_doc_patch},
    {HTTP_M_DELETE, "/api/{c}/{id}", api_doc_delete},
    {0, NULL, NULL},
};

typedef struct drain {
  app_t *app;
  loop_t *loop;
  uv_timer_t timer;
  atomic_bool idle;
} drain_t;

static drain_t *drains;

static void drain_check(uv_timer_t *t) {
  drain_t *d = t->data;
  if (http_server_conn_count(d->app->http, d->loop) == 0) atomic_store(&d->idle, true);
}

static void shutdown_task(void *arg) {
  drain_t *d = arg;
  http_server_shutdown(d->app->http, d->loop);
  uv_timer_init(&d->loop->uv, &d->timer);
  d->timer.data = d;
  uv_timer_start(&d->timer, drain_check, 0, 20);
}

static void stop_task(void *arg) {
  drain_t *d = arg;
  uv_close((uv_handle_t *)&d->timer, NULL);
  http_server_close_all(d->app->http, d->loop);
  rt_loop_close(d->loop);
  loop_close_handles(d->loop);
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int main(int argc, char **argv) {
  config_t cfg;
  config_defaults(&cfg);
  char err[512];
  int rc = config_parse(&cfg, argc, argv, err, sizeof err);
  if (rc == 1) return 0;
  if (rc < 0) {
    fprintf(stderr, "herald: %s\n", err);
    return 2;
  }
  log_set_level((log_level_t)cfg.log_level);
  raise_nofile();
  signal(SIGPIPE, SIG_IGN);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);

  int n = cfg.threads;
  loop_t *loops = xcalloc((size_t)n, sizeof *loops);
  loop_t **loop_ptrs = xcalloc((size_t)n, sizeof *loop_ptrs);
  for (int i = 0; i < n; i++) {
    loop_init(&loops[i], i);
    loop_ptrs[i] = &loops[i];
  }
  hub_t *hub = hub_new(loop_ptrs, n);
  app_t app = {.cfg = &cfg, .hub = hub, .loops = loop_ptrs, .nloops = n};
  store_config_t scfg = {.path = cfg.db_path,
                         .readers = 2,
                         .retain_events = cfg.retain_events,
                         .retain_for_ms = cfg.retain_for_ms};
  /* Listen first: a port in use is reported before the database is touched.
   * Nothing is accepted until the loops run, after the store is open. */
  app.http = http_server_new(&cfg, routes, api_static, &app);
  for (int i = 0; i < n; i++) {
    rc = http_server_listen(app.http, &loops[i]);
    if (rc != 0) {
      fprintf(stderr, "herald: cannot listen on %s:%d: %s\n", cfg.listen_host, cfg.listen_port,
              uv_strerror(rc));
      return 1;
    }
  }
  /* One herald per database: SQLite would cope with two writers, but two
   * servers would each number events and publish only their own. */
  int lock_fd = open(cfg.db_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    fprintf(
        stderr, "herald: cannot open database %s: %s\n", cfg.db_path,
        lock_fd >= 0 && errno == EWOULDBLOCK ? "it is in use by another herald process" : strerror(errno));
    return 1;
  }
  rc = store_open(&scfg, hub, &app.store, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "herald: cannot open database %s: %s\n", cfg.db_path, err);
    return 1;
  }
  hooks_t *hooks = NULL;
  if (hooks_start(app.store, hub, &cfg, &hooks, err, sizeof err) != 0) {
    fprintf(stderr, "herald: cannot start the webhook dispatcher: %s\n", err);
    store_close(app.store);
    return 1;
  }
  app.hooks = hooks;
  printf("herald listening on http://%s%s%s:%d db=%s epoch=%s threads=%d\n",
         strchr(cfg.listen_host, ':') ? "[" : "", cfg.listen_host, strchr(cfg.listen_host, ':') ? "]" : "",
         http_server_port(app.http), cfg.db_path, store_epoch(app.store), n);
  fflush(stdout);
  LOG_I("herald %s: listening on %s:%d, database %s, head %llu, %d loop(s)", HERALD_VERSION, cfg.listen_host,
        http_server_port(app.http), cfg.db_path, (unsigned long long)store_head(app.store), n);

  for (int i = 0; i < n; i++) loop_start(&loops[i]);

  int sig = 0;
  sigwait(&sigs, &sig);
  LOG_I("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");

  drains = xcalloc((size_t)n, sizeof *drains);
  for (int i = 0; i < n; i++) {
    drains[i].app = &app;
    drains[i].loop = &loops[i];
    atomic_init(&drains[i].idle, false);
    loop_post(&loops[i], shutdown_task, &drains[i]);
  }
  /* In-flight requests get up to 5 s to be answered. */
  for (int waited = 0; waited < 5000; waited += 10) {
    bool all = true;
    for (int i = 0; i < n; i++) all = all && atomic_load(&drains[i].idle);
    if (all) break;
    sleep_ms(10);
  }
  hooks_stop(hooks);
  store_close(app.store);
  for (int i = 0; i < n; i++) loop_post(&loops[i], stop_task, &drains[i]);
  for (int i = 0; i < n; i++) loop_join(&loops[i]);
  for (int i = 0; i < n; i++) {
    loop_free(&loops[i]);
    http_server_loop_free(&loops[i]);
  }
  http_server_free(app.http);
  hooks_free(hooks);
  hub_free(hub);
  free(drains);
  free(loop_ptrs);
  free(loops);
  close(lock_fd); /* releases the database lock */
  LOG_I("stopped");
  return 0;
}
