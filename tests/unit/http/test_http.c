/* Unit tests for src/http: the connection state machine, llhttp glue and
 * router, driven over a real loopback socket with raw bytes, without the
 * store or the API. A loop thread runs an http_server with a small route
 * table; the test thread is a blocking client with receive timeouts. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/loop.h"
#include "http/http.h"
#include "testutil.h"

static config_t cfg;
static loop_t loop;
static http_server_t *srv;
static int port;

/* ---- handlers ------------------------------------------------------------ */

static void h_hello(http_req_t *req) { http_respond(req, 200, "text/plain", NULL, "hi", 2); }

static void h_echo(http_req_t *req) {
  http_respond(req, 200, "application/octet-stream", NULL, req->body.data ? req->body.data : "",
               req->body.len);
}

static void h_params(http_req_t *req) {
  char out[256];
  int n = snprintf(out, sizeof out, "%.*s|%.*s", (int)req->params[0].n, req->params[0].p,
                   (int)req->params[1].n, req->params[1].p);
  http_respond(req, 200, "text/plain", NULL, out, (size_t)n);
}

static void h_query(http_req_t *req) {
  char v[64];
  int rc = http_query_get(req, "q", v, sizeof v);
  char out[128];
  int n = snprintf(out, sizeof out, "%d:%s", rc, rc > 0 ? v : "");
  http_respond(req, 200, "text/plain", NULL, out, (size_t)n);
}

typedef struct later {
  uv_timer_t t;
  http_req_t *req;
} later_t;

static void later_close(uv_handle_t *h) { free(h->data); }

static void later_fire(uv_timer_t *t) {
  later_t *l = t->data;
  http_respond(l->req, 200, "text/plain", NULL, "late", 4);
  uv_close((uv_handle_t *)t, later_close);
}

/* Answers 50 ms later, from a timer: the asynchronous path. */
static void h_slow(http_req_t *req) {
  later_t *l = calloc(1, sizeof *l);
  l->req = req;
  uv_timer_init(&req->loop->uv, &l->t);
  l->t.data = l;
  uv_timer_start(&l->t, later_fire, 50, 0);
}

static const http_route_t routes[] = {
    {HTTP_M_GET, "/hello", h_hello},
    {HTTP_M_POST | HTTP_M_PUT, "/echo", h_echo},
    {HTTP_M_GET, "/a/{x}/{y}", h_params},
    {HTTP_M_GET, "/a/lit/{y}", h_hello},
    {HTTP_M_GET, "/q", h_query},
    {HTTP_M_GET, "/slow", h_slow},
    {0, NULL, NULL},
};

/* ---- client --------------------------------------------------------------- */

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  struct timeval tv = {3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    perror("connect");
    exit(1);
  }
  return fd;
}

static void send_all(int fd, const char *s, size_t n) {
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* Reads until the peer closes, the timeout hits, or want responses (counted
 * as "HTTP/1.1 " prefixes with complete bodies) have arrived. */
static size_t read_until(int fd, char *out, size_t cap, int want) {
  size_t len = 0;
  for (;;) {
    if (want > 0) {
      int seen = 0;
      const char *p = out;
      out[len] = '\0';
      while ((p = strstr(p, "HTTP/1.1 ")) != NULL) {
        const char *hend = strstr(p, "\r\n\r\n");
        if (!hend) break;
        const char *cl = strstr(p, "Content-Length: ");
        size_t body = (cl && cl < hend) ? strtoul(cl + 16, NULL, 10) : 0;
        if (strncmp(p, "HTTP/1.1 100", 12) == 0 || strncmp(p, "HTTP/1.1 304", 12) == 0 ||
            strncmp(p, "HTTP/1.1 204", 12) == 0)
          body = 0;
        if ((size_t)(out + len - (hend + 4)) < body) break;
        if (strncmp(p, "HTTP/1.1 100", 12) != 0) seen++;
        p = hend + 4 + body;
      }
      if (seen >= want) break;
    }
    if (len + 1 >= cap) break;
    ssize_t r = read(fd, out + len, cap - len - 1);
    if (r <= 0) break;
    len += (size_t)r;
  }
  out[len] = '\0';
  return len;
}

static char resp[65536];

static const char *roundtrip(const char *req, int want) {
  int fd = dial();
  send_all(fd, req, strlen(req));
  read_until(fd, resp, sizeof resp, want);
  close(fd);
  return resp;
}

static bool peer_closed(int fd) {
  char c;
  ssize_t r = read(fd, &c, 1);
  return r == 0;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_basic(void) {
  const char *r = roundtrip("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  CHECK(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(strstr(r, "\r\nDate: ") != NULL);
  CHECK(strstr(r, "\r\nServer: herald/") != NULL);
  CHECK(strstr(r, "Content-Length: 2\r\n") != NULL);
  CHECK(strstr(r, "\r\n\r\nhi") != NULL);
  r = roundtrip("HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 0);
  CHECK(strstr(r, "Content-Length: 2\r\n") != NULL);
  CHECK(strstr(r, "\r\n\r\nhi") == NULL);
}

static void test_keepalive_and_pipelining(void) {
  int fd = dial();
  send_all(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32);
  read_until(fd, resp, sizeof resp, 1);
  CHECK(strstr(resp, "200 OK") != NULL);
  send_all(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32);
  read_until(fd, resp, sizeof resp, 1);
  CHECK(strstr(resp, "200 OK") != NULL);
  close(fd);
  /* Three requests in one write, one of them answered asynchronously:
   * answers must come back in request order. */
  const char *three =
      "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  const char *r = roundtrip(three, 3);
  const char *a = strstr(r, "late"), *b = strstr(r, "hello"), *c = strstr(r, "\r\n\r\nhi");
  CHECK(a && b && c);
  CHECK(a && b && a < b);
  CHECK(b && c && b < c);
}

static void test_bodies(void) {
  const char *r = roundtrip(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
      "world\r\n0\r\n\r\n",
      1);
  CHECK(strstr(r, "\r\n\r\nhello world") != NULL);
  /* Expect: 100-continue gets an interim response before the body is sent. */
  int fd = dial();
  const char *head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
  send_all(fd, head, strlen(head));
  ssize_t n = read(fd, resp, sizeof resp - 1);
  resp[n > 0 ? n : 0] = '\0';
  CHECK(strncmp(resp, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
  send_all(fd, "abc", 3);
  read_until(fd, resp, sizeof resp, 1);
  CHECK(strstr(resp, "\r\n\r\nabc") != NULL);
  close(fd);
}

static void test_limits(void) {
  char big[8192];
  memset(big, 'a', sizeof big);
  big[sizeof big - 1] = '\0';
  char req[9000];
  snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", big);
  const char *r = roundtrip(req, 1);
  CHECK(strncmp(r, "HTTP/1.1 431 ", 13) == 0);
  CHECK(strstr(r, "application/problem+json") != NULL);
  r = roundtrip("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", 1);
  CHECK(strncmp(r, "HTTP/1.1 413 ", 13) == 0);
  /* A chunked body that grows past the limit. */
  char chunked[4096];
  int n = snprintf(chunked, sizeof chunked,
                   "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 3; i++) {
    n += snprintf(chunked + n, sizeof chunked - (size_t)n, "400\r\n");
    memset(chunked + n, 'b', 1024);
    n += 1024;
    n += snprintf(chunked + n, sizeof chunked - (size_t)n, "\r\n");
  }
  r = roundtrip(chunked, 1);
  CHECK(strncmp(r, "HTTP/1.1 413 ", 13) == 0);
}

static void test_bad_requests(void) {
  const char *r = roundtrip("GARBAGE\r\n\r\n", 1);
  CHECK(strncmp(r, "HTTP/1.1 400 ", 13) == 0);
  r = roundtrip("GET /hello HTTP/1.1\r\nHost : x\r\n\r\n", 1);
  CHECK(strncmp(r, "HTTP/1.1 400 ", 13) == 0);
  r = roundtrip("GET /hello HTTP/1.1\nHost: x\n\n", 1);
  CHECK(strncmp(r, "HTTP/1.1 400 ", 13) == 0);
  r = roundtrip("GET /hello HTTP/1.1\r\n\r\n", 1);
  CHECK(strncmp(r, "HTTP/1.1 400 ", 13) == 0); /* no Host */
  r = roundtrip("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                1);
  CHECK(strncmp(r, "HTTP/1.1 400 ", 13) == 0); /* CL + TE: smuggling */
  /* After a 400 the connection is closed. */
  int fd = dial();
  send_all(fd, "BAD\r\n\r\n", 7);
  read_until(fd, resp, sizeof resp, 1);
  CHECK(strstr(resp, "Connection: close") != NULL);
  CHECK(peer_closed(fd));
  close(fd);
}

static void test_routing(void) {
  const char *r = roundtrip("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  CHECK(strncmp(r, "HTTP/1.1 404 ", 13) == 0);
  CHECK(strstr(r, "\"status\":404") != NULL);
  r = roundtrip("DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  CHECK(strncmp(r, "HTTP/1.1 405 ", 13) == 0);
  CHECK(strstr(r, "Allow: POST, PUT\r\n") != NULL);
  r = roundtrip("GET /a/one/two HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  CHECK(strstr(r, "\r\n\r\none|two") != NULL);
  r = roundtrip("GET /a/lit/two HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  CHECK(strstr(r, "\r\n\r\nhi") != NULL); /* the more literal pattern wins */
  r = roundtrip("GET /a/one HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  CHECK(strncmp(r, "HTTP/1.1 404 ", 13) == 0);
  r = roundtrip("OPTIONS /echo HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  CHECK(strncmp(r, "HTTP/1.1 204 ", 13) == 0);
  r = roundtrip("GET /q?a=1&q=x%20y%2Cz&q=last HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  CHECK(strstr(r, "\r\n\r\n1:last") != NULL);
  r = roundtrip("GET /q?q=%zz HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  CHECK(strstr(r, "\r\n\r\n-1:") != NULL);
  r = roundtrip("GET /q?q=a+b%2C HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  CHECK(strstr(r, "\r\n\r\n1:a b,") != NULL);
}

static void test_header_timeout(void) {
  /* One byte, then silence: 408 after the header timeout, then close. */
  int fd = dial();
  send_all(fd, "G", 1);
  read_until(fd, resp, sizeof resp, 1);
  CHECK(strncmp(resp, "HTTP/1.1 408 ", 13) == 0);
  CHECK(peer_closed(fd));
  close(fd);
}

static void test_percent_decode(void) {
  char out[16];
  CHECK_EQ_INT(http_percent_decode("a%41b", 5, out, sizeof out), 3);
  CHECK_STR(out, "aAb");
  CHECK_EQ_INT(http_percent_decode("%4", 2, out, sizeof out), -1);
  CHECK_EQ_INT(http_percent_decode("%00", 3, out, sizeof out), -1);
  CHECK_EQ_INT(http_percent_decode("0123456789abcdefg", 17, out, sizeof out), -1);
}

static void listen_task(void *arg) { (void)arg; }

static void stop_task(void *arg) {
  http_server_shutdown(srv, &loop);
  http_server_close_all(srv, &loop);
  loop_close_handles(&loop);
}

int main(void) {
  config_defaults(&cfg);
  cfg.listen_port = 0;
  cfg.max_body = 1024;
  cfg.max_header = 4096;
  cfg.header_timeout_ms = 300;
  loop_init(&loop, 0);
  srv = http_server_new(&cfg, routes, NULL, NULL);
  if (http_server_listen(srv, &loop) != 0) {
    fprintf(stderr, "listen failed\n");
    return 1;
  }
  port = http_server_port(srv);
  loop_start(&loop);
  loop_post(&loop, listen_task, NULL);

  test_basic();
  test_keepalive_and_pipelining();
  test_bodies();
  test_limits();
  test_bad_requests();
  test_routing();
  test_header_timeout();
  test_percent_decode();

  loop_post(&loop, stop_task, NULL);
  loop_join(&loop);
  loop_free(&loop);
  http_server_loop_free(&loop);
  http_server_free(srv);
  return TEST_SUMMARY();
}
