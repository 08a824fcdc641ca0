/* server — listeners (one per loop, SO_REUSEPORT) and orderly shutdown.
 *
 * Every loop binds the same address with SO_REUSEPORT so the kernel spreads
 * new connections over the loops (libuv 1.44 has no UV_TCP_REUSEPORT, so
 * the option is set on the raw socket between init and bind). Port 0 is
 * resolved by the first bind and reused by the others. */
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "http/http_int.h"

http_server_t *http_server_new(const config_t *cfg, const http_route_t *routes, http_fallback_fn fallback,
                               void *app) {
  http_server_t *s = xcalloc(1, sizeof *s);
  s->cfg = cfg;
  s->routes = routes;
  s->fallback = fallback;
  s->app = app;
  s->port = cfg->listen_port;
  return s;
}

void http_server_free(http_server_t *s) { free(s); }

int http_server_port(http_server_t *s) { return s->port; }

static http_loop_t *hloop(loop_t *loop) {
  if (!loop->user[LOOP_SLOT_HTTP]) loop->user[LOOP_SLOT_HTTP] = xcalloc(1, sizeof(http_loop_t));
  return loop->user[LOOP_SLOT_HTTP];
}

static void on_connection(uv_stream_t *listener, int status) {
  http_server_t *s = listener->data;
  if (status < 0) {
    LOG_W("accept: %s", uv_strerror(status));
    return;
  }
  loop_t *loop = listener->loop->data;
  http__conn_accept(s, hloop(loop), listener);
}

/* SO_REUSEPORT would let a second herald (or anything else run by the same
 * user) join our port silently and take half the connections. Before the
 * first bind, a plain socket (SO_REUSEADDR only, which Linux refuses while
 * any socket listens there, but allows over TIME_WAIT leftovers) checks
 * that nobody listens on the address yet. */
static int probe_free(const struct sockaddr *sa, int af) {
  int fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = af == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  int rc = bind(fd, sa, len) == 0 ? 0 : -errno;
  close(fd);
  return rc;
}

int http_server_listen(http_server_t *s, loop_t *loop) {
  http_loop_t *hl = hloop(loop);
  struct sockaddr_storage ss;
  int af = AF_INET;
  if (uv_ip4_addr(s->cfg->listen_host, s->port, (struct sockaddr_in *)&ss) != 0) {
    if (uv_ip6_addr(s->cfg->listen_host, s->port, (struct sockaddr_in6 *)&ss) != 0) return UV_EINVAL;
    af = AF_INET6;
  }
  if (!s->bound_once && s->port != 0) {
    int rc = probe_free((struct sockaddr *)&ss, af);
    if (rc) return rc;
  }
  s->bound_once = true;
  int rc = uv_tcp_init_ex(&loop->uv, &hl->listener, (unsigned)af);
  if (rc) return rc;
  hl->listener.data = s;
  uv_os_fd_t fd;
  int one = 1;
  if (uv_fileno((uv_handle_t *)&hl->listener, &fd) == 0)
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  rc = uv_tcp_bind(&hl->listener, (struct sockaddr *)&ss, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&hl->listener, 4096, on_connection);
  if (rc) {
    uv_close((uv_handle_t *)&hl->listener, NULL);
    return rc;
  }
  hl->listening = true;
  if (s->port == 0) {
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&hl->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(af == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                  : ((struct sockaddr_in6 *)&bound)->sin6_port);
  }
  return 0;
}

void http_server_shutdown(http_server_t *s, loop_t *loop) {
  http_loop_t *hl = hloop(loop);
  hl->shutting_down = true;
  if (hl->listening) {
    uv_close((uv_handle_t *)&hl->listener, NULL);
    hl->listening = false;
  }
  http_conn_t *next;
  for (http_conn_t *c = hl->conns; c; c = next) {
    next = c->next;
    http__conn_shutdown(c);
  }
}

void http_server_close_all(http_server_t *s, loop_t *loop) {
  http_loop_t *hl = hloop(loop);
  while (hl->conns) http__conn_close(hl->conns);
}

size_t http_server_conn_count(http_server_t *s, loop_t *loop) { return hloop(loop)->count; }

/* Frees the per-loop state after the loop has finished. */
void http_server_loop_free(loop_t *loop) {
  free(loop->user[LOOP_SLOT_HTTP]);
  loop->user[LOOP_SLOT_HTTP] = NULL;
}
