/* loadgen — herald's real-time load generator (benchmark tool, not a test).
 *
 * One epoll loop per process, optionally forked into several processes
 * (--procs) whose results are merged by the parent. Two modes:
 *
 *   loadgen sub  --port P [--proto herald|nchan|uws] [--transport ws|sse]
 *                [--path /api/_ws] [--conns N] [--procs 2] [--srcs 8]
 *                [--expect EVENTS] [--timeout S] [--quiet S] [--hold S]
 *                [--ready-file F] [--sub-json '{"op":"subscribe",...}']
 *     Opens N WebSocket (or SSE) subscribers spread over the source
 *     addresses 127.0.0.2 .. 127.0.0.(1+srcs), subscribes (herald: sends
 *     the subscribe op after the welcome), writes F once every subscriber
 *     is ready, then records publish-to-receive latency for every message
 *     holding "t":<CLOCK_REALTIME µs>. Stops when each connection got
 *     EVENTS messages, or after --timeout s, or after --quiet s without a
 *     message, or (--hold) after S s or on SIGTERM/SIGINT.
 *
 *   loadgen pub  --port P [--proto herald|nchan|uws] [--path /api/bench]
 *                [--conns K] [--depth D] (--rate R --duration S | --count N)
 *     Publishes {"t":<µs>,"n":<i>} bodies by HTTP POST over K keep-alive
 *     connections (up to D requests in flight on each): at a fixed rate, or
 *     as a burst of N as fast as the server answers.
 *
 * Output: one JSON object on stdout. Every loop is bounded in time.
 * Build: cc -O2 -o loadgen loadgen.c (no dependencies). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* ---- options ---------------------------------------------------------------- */

enum { P_HERALD, P_NCHAN, P_UWS };
static struct {
  int mode; /* 0 sub, 1 pub */
  int proto;
  bool sse;
  const char *host;
  int port;
  const char *path;
  int conns, procs, srcs, src_base;
  long expect;
  double timeout, quiet, hold;
  const char *ready_file;
  const char *sub_json;
  double rate, duration;
  long count;
  int depth;
  int max_connecting;
} opt = {.host = "127.0.0.1",
         .conns = 1,
         .procs = 1,
         .srcs = 8,
         .src_base = 2,
         .timeout = 60,
         .quiet = 0,
         .depth = 1,
         .max_connecting = 256};

static volatile sig_atomic_t g_stop;
static void on_signal(int s) {
  (void)s;
  g_stop = 1;
}

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *m) {
  fprintf(stderr, "loadgen: %s\n", m);
  exit(2);
}

/* A whole-string number from the command line, or exit 2. */
static long num(const char *flag, const char *v) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end) {
    fprintf(stderr, "loadgen: %s: not an integer: %s\n", flag, v);
    exit(2);
  }
  return n;
}
static double fnum(const char *flag, const char *v) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end) {
    fprintf(stderr, "loadgen: %s: not a number: %s\n", flag, v);
    exit(2);
  }
  return d;
}

/* ---- latency histogram (log-linear, ~0.2% resolution, µs) -------------------- */

#define H_BUCKETS (1024 + 40 * 512)
typedef struct {
  uint64_t n[H_BUCKETS];
} hist_t;

static int hidx(uint64_t v) {
  if (v < 1024) return (int)v;
  int e = 63 - __builtin_clzll(v); /* >= 10 */
  int shift = e - 9;
  int i = 1024 + (e - 10) * 512 + (int)((v >> shift) - 512);
  return i < H_BUCKETS ? i : H_BUCKETS - 1;
}
static uint64_t hval(int i) {
  if (i < 1024) return (uint64_t)i;
  int e = (i - 1024) / 512 + 10;
  uint64_t m = (uint64_t)((i - 1024) % 512 + 512);
  return m << (e - 9);
}
static uint64_t hpct(const hist_t *h, uint64_t total, double p) {
  if (!total) return 0;
  uint64_t want = (uint64_t)(p * (double)total);
  if (want >= total) want = total - 1;
  uint64_t acc = 0;
  for (int i = 0; i < H_BUCKETS; i++) {
    acc += h->n[i];
    if (acc > want) return hval(i);
  }
  return 0;
}

/* Per-process result, sent to the parent through a pipe. */
typedef struct {
  uint64_t deliveries, connected, ready, errors, closed_by_peer, conn_fail;
  uint64_t min_t, last_recv_us, max_lat, sum_lat;
  /* publisher */
  uint64_t sent, ok, bad;
  double pub_elapsed;
  hist_t h;
} result_t;

static result_t R;

/* ---- connections ------------------------------------------------------------ */

enum { S_CONNECTING, S_HANDSHAKE, S_WELCOME, S_SUBSCRIBING, S_READY, S_DEAD };

typedef struct conn {
  int fd;
  uint8_t state;
  uint8_t *part; /* bytes of an incomplete frame / head / SSE tail */
  uint32_t plen, pcap;
  uint64_t got;
  /* publisher */
  uint32_t inflight;
  uint32_t wpending; /* unsent bytes of the request buffer */
  char *wbuf;
  uint32_t woff, wcap;
} conn_t;

static conn_t *C;
static int nconns, epfd;
static uint8_t rbuf[1 << 18];

static void part_keep(conn_t *c, const uint8_t *p, size_t n) {
  if (n == 0) {
    free(c->part);
    c->part = NULL;
    c->plen = c->pcap = 0;
    return;
  }
  if (n > c->pcap) {
    uint8_t *np = malloc(n);
    if (!np) die("out of memory");
    memcpy(np, p, n);
    free(c->part);
    c->part = np;
    c->pcap = (uint32_t)n;
  } else {
    memmove(c->part, p, n);
  }
  c->plen = (uint32_t)n;
}

static void conn_dead(conn_t *c, bool error) {
  if (c->state == S_DEAD) return;
  if (error) R.errors++;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->state = S_DEAD;
  free(c->part);
  c->part = NULL;
  c->plen = c->pcap = 0;
}

static int open_conn(int idx) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  struct sockaddr_in src = {.sin_family = AF_INET};
  char a[32];
  snprintf(a, sizeof a, "127.0.0.%d", opt.src_base + idx % opt.srcs);
  inet_pton(AF_INET, a, &src.sin_addr);
  if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
    close(fd);
    return -1;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
  inet_pton(AF_INET, opt.host, &dst.sin_addr);
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

static bool write_all(conn_t *c, const void *p, size_t n) {
  /* Small requests on a fresh socket: a short write means trouble. */
  ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
  return w == (ssize_t)n;
}

/* ---- WebSocket client ---------------------------------------------------------- */

static void ws_send_text(conn_t *c, const char *s) {
  size_t n = strlen(s);
  uint8_t f[512];
  if (n > 400) die("subscribe message too long");
  uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  f[0] = 0x81;
  f[1] = 0x80 | (uint8_t)n;
  if (n > 125) {
    f[1] = 0x80 | 126;
    f[2] = (uint8_t)(n >> 8);
    f[3] = (uint8_t)n;
  }
  size_t h = n > 125 ? 4 : 2;
  memcpy(f + h, mask, 4);
  for (size_t i = 0; i < n; i++) f[h + 4 + i] = (uint8_t)s[i] ^ mask[i & 3];
  if (!write_all(c, f, h + 4 + n)) conn_dead(c, true);
}

static void ws_send_control(conn_t *c, int op, const uint8_t *p, size_t n) {
  uint8_t f[2 + 4 + 125];
  if (n > 125) n = 125;
  f[0] = (uint8_t)(0x80 | op);
  f[1] = (uint8_t)(0x80 | n);
  memset(f + 2, 0, 4); /* zero mask */
  memcpy(f + 6, p, n);
  if (!write_all(c, f, 6 + n)) conn_dead(c, true);
}

/* Finds "t":<digits> in p[0..n); returns the value or 0. */
static uint64_t find_t(const uint8_t *p, size_t n) {
  const uint8_t *e = p + n;
  while (p + 4 < e) {
    const uint8_t *q = memmem(p, (size_t)(e - p), "\"t\":", 4);
    if (!q) return 0;
    q += 4;
    while (q < e && *q == ' ') q++;
    uint64_t v = 0;
    bool any = false;
    while (q < e && *q >= '0' && *q <= '9') {
      v = v * 10 + (uint64_t)(*q - '0');
      q++;
      any = true;
    }
    if (any) return v;
    p = q;
  }
  return 0;
}

static uint64_t g_recv_now;

static void record(uint64_t t) {
  uint64_t lat = g_recv_now > t ? g_recv_now - t : 0;
  R.h.n[hidx(lat)]++;
  R.deliveries++;
  R.sum_lat += lat;
  if (lat > R.max_lat) R.max_lat = lat;
  if (!R.min_t || t < R.min_t) R.min_t = t;
  R.last_recv_us = g_recv_now;
}

static void mark_ready(conn_t *c) {
  c->state = S_READY;
  R.ready++;
}

static void on_text(conn_t *c, const uint8_t *p, size_t n) {
  if (c->state == S_WELCOME) {
    /* herald: the welcome came, ask for the subscription. */
    c->state = S_SUBSCRIBING;
    ws_send_text(c, opt.sub_json ? opt.sub_json : "{\"op\":\"subscribe\",\"sub\":\"s1\"}");
    return;
  }
  if (c->state == S_SUBSCRIBING) {
    if (memmem(p, n, "\"subscribed\"", 12)) {
      mark_ready(c);
      return;
    }
    if (memmem(p, n, "\"error\"", 7)) {
      fprintf(stderr, "loadgen: subscribe error: %.*s\n", (int)(n > 200 ? 200 : n), p);
      conn_dead(c, true);
      return;
    }
  }
  uint64_t t = find_t(p, n);
  if (t) {
    c->got++;
    record(t);
  }
}

/* Parses frames in p[0..n); keeps an incomplete tail. */
static void ws_parse(conn_t *c, const uint8_t *p, size_t n) {
  size_t off = 0;
  while (c->state != S_DEAD) {
    size_t avail = n - off;
    if (avail < 2) break;
    const uint8_t *f = p + off;
    int op = f[0] & 0x0f;
    bool masked = f[1] & 0x80;
    uint64_t len = f[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = (uint64_t)f[2] << 8 | f[3];
      h = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | f[2 + i];
      h = 10;
    }
    if (masked) h += 4;
    if (len > (16u << 20)) {
      conn_dead(c, true);
      return;
    }
    if (avail < h + len) break;
    const uint8_t *pl = f + h;
    switch (op) {
      case 0x0: /* continuation: counted by its first frame */
      case 0x1:
      case 0x2:
        on_text(c, pl, (size_t)len);
        break;
      case 0x8:
        R.closed_by_peer++;
        ws_send_control(c, 0x8, pl, len >= 2 ? 2 : 0);
        conn_dead(c, true);
        return;
      case 0x9:
        ws_send_control(c, 0xA, pl, (size_t)len);
        break;
      default:
        break;
    }
    off += h + (size_t)len;
  }
  if (c->state == S_DEAD) return;
  part_keep(c, p + off, n - off);
}

/* SSE: count records carrying "t"; keep a tail that may hold a split match. */
static void sse_parse(conn_t *c, const uint8_t *p, size_t n) {
  const uint8_t *e = p + n, *q = p;
  for (;;) {
    const uint8_t *m = memmem(q, (size_t)(e - q), "\"t\":", 4);
    if (!m) break;
    const uint8_t *d = m + 4;
    uint64_t v = 0;
    while (d < e && *d >= '0' && *d <= '9') v = v * 10 + (uint64_t)(*d++ - '0');
    if (d == e) { /* the number may go on in the next read */
      part_keep(c, m, (size_t)(e - m));
      return;
    }
    if (v) {
      c->got++;
      record(v);
    }
    q = d;
  }
  size_t keep = (size_t)(e - q) < 3 ? (size_t)(e - q) : 3;
  part_keep(c, e - keep, keep);
}

static const char *proto_path(void) {
  if (opt.path) return opt.path;
  if (opt.sse) return opt.proto == P_HERALD ? "/api/_stream" : "/sub?id=bench";
  if (opt.proto == P_HERALD) return "/api/_ws";
  if (opt.proto == P_NCHAN) return "/sub?id=bench";
  return "/ws";
}

static void send_handshake(conn_t *c) {
  char req[1024];
  int n;
  if (opt.sse)
    n = snprintf(
        req, sizeof req,
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
        proto_path(), opt.host, opt.port);
  else
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 proto_path(), opt.host, opt.port);
  c->state = S_HANDSHAKE;
  if (!write_all(c, req, (size_t)n)) conn_dead(c, true);
}

static void on_head_done(conn_t *c, const uint8_t *head, size_t hl, const uint8_t *rest, size_t rn) {
  int status = 0;
  if (hl > 12) status = (int)strtol((const char *)head + 9, NULL, 10);
  if ((!opt.sse && status != 101) || (opt.sse && status != 200)) {
    fprintf(stderr, "loadgen: handshake got status %d\n", status);
    conn_dead(c, true);
    return;
  }
  R.connected++;
  if (!opt.sse && opt.proto == P_HERALD)
    c->state = S_WELCOME;
  else
    mark_ready(c);
  if (opt.sse)
    sse_parse(c, rest, rn);
  else
    ws_parse(c, rest, rn);
}

static void sub_on_readable(conn_t *c) {
  for (int rounds = 0; rounds < 8 && c->state != S_DEAD; rounds++) {
    ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      conn_dead(c, true);
      return;
    }
    if (r == 0) {
      R.closed_by_peer++;
      conn_dead(c, true);
      return;
    }
    g_recv_now = now_us();
    const uint8_t *p = rbuf;
    size_t n = (size_t)r;
    uint8_t *joined = NULL;
    if (c->plen) {
      joined = malloc(c->plen + n);
      if (!joined) die("out of memory");
      memcpy(joined, c->part, c->plen);
      memcpy(joined + c->plen, rbuf, n);
      p = joined;
      n += c->plen;
      c->plen = 0;
    }
    if (c->state == S_HANDSHAKE) {
      const uint8_t *e = memmem(p, n, "\r\n\r\n", 4);
      if (!e) {
        if (n > 16384)
          conn_dead(c, true);
        else
          part_keep(c, p, n);
      } else {
        size_t hl = (size_t)(e - p) + 4;
        on_head_done(c, p, hl, p + hl, n - hl);
      }
    } else if (opt.sse) {
      sse_parse(c, p, n);
    } else {
      ws_parse(c, p, n);
    }
    free(joined);
    if ((size_t)r < sizeof rbuf) return;
  }
}

/* ---- subscriber process --------------------------------------------------------- */

static void run_sub(int nc, int wfd) {
  nconns = nc;
  C = calloc((size_t)nc, sizeof *C);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event evs[1024];
  int next = 0, pending = 0; /* pending: connecting or handshaking */
  bool announced = false;
  double t0 = mono(), ready_at = 0, last_msg = 0;
  uint64_t last_deliv = 0;
  double connect_deadline = t0 + 120;
  for (;;) {
    /* Open more connections, a bounded number at a time. */
    while (next < nc && pending < opt.max_connecting && !g_stop) {
      conn_t *c = &C[next];
      c->fd = open_conn(next);
      next++;
      if (c->fd < 0) {
        c->state = S_DEAD;
        R.conn_fail++;
        R.errors++;
        continue;
      }
      c->state = S_CONNECTING;
      struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
      epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
      pending++;
    }
    int n = epoll_wait(epfd, evs, 1024, 50);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      int before = c->state;
      if (c->state == S_CONNECTING) {
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
          R.conn_fail++;
          conn_dead(c, true);
        } else if (evs[i].events & EPOLLOUT) {
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
          send_handshake(c);
        }
      } else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        sub_on_readable(c);
      }
      bool was_pending = before < S_READY, is_pending = c->state < S_READY;
      if (was_pending && !is_pending) pending--;
    }
    double now = mono();
    if (R.deliveries != last_deliv) {
      last_deliv = R.deliveries;
      last_msg = now;
    }
    if (!announced && ((next == nc && pending == 0) || now > connect_deadline || g_stop)) {
      announced = true;
      ready_at = now;
      last_msg = now;
      char m = 'R';
      if (write(wfd, &m, 1) != 1) die("pipe");
    }
    if (!announced) continue;
    if (g_stop) break;
    if (opt.hold > 0) {
      if (now - ready_at > opt.hold) break;
      continue;
    }
    if (opt.expect > 0 && R.deliveries >= (uint64_t)opt.expect * (R.ready ? R.ready : 1)) break;
    if (now - ready_at > opt.timeout) break;
    if (opt.quiet > 0 && R.deliveries > 0 && now - last_msg > opt.quiet) break;
  }
  for (int i = 0; i < nc; i++)
    if (C[i].state != S_DEAD) {
      close(C[i].fd);
      C[i].state = S_DEAD;
    }
}

/* ---- publisher ----------------------------------------------------------------- */

static int build_request(char *out, size_t cap, uint64_t i) {
  char body[128];
  int bl = snprintf(body, sizeof body, "{\"t\":%llu,\"n\":%llu}", (unsigned long long)now_us(),
                    (unsigned long long)i);
  const char *path = opt.path                ? opt.path
                     : opt.proto == P_HERALD ? "/api/bench"
                     : opt.proto == P_NCHAN  ? "/pub?id=bench"
                                             : "/publish";
  return snprintf(
      out, cap,
      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
      path, opt.host, opt.port, bl, body);
}

static hist_t *pub_h;
static double *pub_sent_at; /* per conn, a FIFO of send times (small depth) */

/* Parses complete responses; returns how many were consumed. */
static void pub_on_readable(conn_t *c) {
  for (;;) {
    ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      conn_dead(c, true);
      return;
    }
    if (r == 0) {
      R.closed_by_peer++;
      conn_dead(c, true);
      return;
    }
    size_t n = (size_t)r + c->plen;
    uint8_t *p = malloc(n);
    if (!p) die("out of memory");
    if (c->plen) memcpy(p, c->part, c->plen);
    memcpy(p + c->plen, rbuf, (size_t)r);
    size_t off = 0;
    while (off < n) {
      const uint8_t *e = memmem(p + off, n - off, "\r\n\r\n", 4);
      if (!e) break;
      size_t hl = (size_t)(e - (p + off)) + 4;
      long cl = 0;
      const uint8_t *h = p + off;
      for (size_t k = 0; k + 15 < hl; k++) {
        if ((h[k] == '\n') && strncasecmp((const char *)h + k + 1, "content-length:", 15) == 0) {
          cl = strtol((const char *)h + k + 16, NULL, 10);
          break;
        }
      }
      if (off + hl + (size_t)cl > n) break;
      int status = (int)strtol((const char *)h + 9, NULL, 10);
      if (status >= 200 && status < 300)
        R.ok++;
      else {
        R.bad++;
        if (R.bad < 5) fprintf(stderr, "loadgen: publish got %d: %.*s\n", status, (int)cl, h + hl);
      }
      if (c->inflight) c->inflight--;
      off += hl + (size_t)cl;
    }
    part_keep(c, p + off, n - off);
    free(p);
    if ((size_t)r < sizeof rbuf) return;
  }
}

static void run_pub(void) {
  nconns = opt.conns;
  C = calloc((size_t)nconns, sizeof *C);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  (void)pub_h;
  (void)pub_sent_at;
  int ready = 0;
  for (int i = 0; i < nconns; i++) {
    C[i].fd = open_conn(i);
    if (C[i].fd < 0) die("cannot open publisher connection");
    C[i].state = S_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = &C[i]};
    epoll_ctl(epfd, EPOLL_CTL_ADD, C[i].fd, &ev);
  }
  struct epoll_event evs[256];
  double dl = mono() + 10;
  while (ready < nconns && mono() < dl) {
    int n = epoll_wait(epfd, evs, 256, 50);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (evs[i].events & (EPOLLERR | EPOLLHUP)) die("publisher cannot connect");
      c->state = S_READY;
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
      epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
      ready++;
    }
  }
  if (ready < nconns) die("publisher connect timeout");
  uint64_t total = opt.count > 0 ? (uint64_t)opt.count : (uint64_t)(opt.rate * opt.duration + 0.5);
  double start = mono();
  double end_limit = start + (opt.count > 0 ? opt.timeout : opt.duration + opt.timeout);
  int rr = 0;
  char req[512];
  while (!g_stop) {
    double now = mono();
    if (now > end_limit) break;
    /* How many may have been sent by now. */
    uint64_t due = opt.count > 0 ? total : (uint64_t)((now - start) * opt.rate) + 1;
    if (due > total) due = total;
    int guard = 0;
    while (R.sent < due && guard < nconns) {
      conn_t *c = &C[rr];
      rr = (rr + 1) % nconns;
      if (c->state == S_DEAD || c->inflight >= (uint32_t)opt.depth) {
        guard++;
        continue;
      }
      guard = 0;
      int n = build_request(req, sizeof req, R.sent);
      if (!write_all(c, req, (size_t)n)) {
        conn_dead(c, true);
        continue;
      }
      c->inflight++;
      R.sent++;
    }
    if (R.sent >= total && R.ok + R.bad + R.errors >= total) break;
    int alive = 0;
    for (int i = 0; i < nconns; i++) alive += C[i].state != S_DEAD;
    if (!alive) break;
    int timeout_ms = 1;
    if (opt.count == 0 && R.sent < total) {
      double next_at = start + (double)R.sent / opt.rate;
      timeout_ms = (int)((next_at - mono()) * 1000);
      if (timeout_ms < 0) timeout_ms = 0;
      if (timeout_ms > 5) timeout_ms = 5;
    }
    int n = epoll_wait(epfd, evs, 256, timeout_ms);
    for (int i = 0; i < n; i++) pub_on_readable(evs[i].data.ptr);
  }
  R.pub_elapsed = mono() - start;
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr, "usage: loadgen sub|pub --port P [options] (see the comment at the top of loadgen.c)\n");
  exit(2);
}

static void print_sub(const result_t *r, double wall) {
  double window = r->min_t && r->last_recv_us > r->min_t ? (double)(r->last_recv_us - r->min_t) / 1e6 : 0;
  printf(
      "{\"mode\":\"sub\",\"conns\":%d,\"connected\":%llu,\"ready\":%llu,\"errors\":%llu,"
      "\"closed_by_peer\":%llu,\"conn_fail\":%llu,\"deliveries\":%llu,\"window_s\":%.3f,"
      "\"deliveries_per_s\":%.0f,\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,\"max_us\":%llu,"
      "\"mean_us\":%.0f,\"wall_s\":%.2f}\n",
      opt.conns, (unsigned long long)r->connected, (unsigned long long)r->ready,
      (unsigned long long)r->errors, (unsigned long long)r->closed_by_peer, (unsigned long long)r->conn_fail,
      (unsigned long long)r->deliveries, window, window > 0 ? (double)r->deliveries / window : 0,
      (unsigned long long)hpct(&r->h, r->deliveries, 0.50),
      (unsigned long long)hpct(&r->h, r->deliveries, 0.90),
      (unsigned long long)hpct(&r->h, r->deliveries, 0.99), (unsigned long long)r->max_lat,
      r->deliveries ? (double)r->sum_lat / (double)r->deliveries : 0, wall);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  if (strcmp(argv[1], "sub") == 0)
    opt.mode = 0;
  else if (strcmp(argv[1], "pub") == 0)
    opt.mode = 1;
  else
    usage();
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
    if (ARG("--proto")) {
      opt.proto = strcmp(v, "herald") == 0  ? P_HERALD
                  : strcmp(v, "nchan") == 0 ? P_NCHAN
                  : strcmp(v, "uws") == 0   ? P_UWS
                                            : -1;
      if (opt.proto < 0) usage();
    } else if (ARG("--transport"))
      opt.sse = strcmp(v, "sse") == 0;
    else if (ARG("--host"))
      opt.host = v;
    else if (ARG("--port"))
      opt.port = (int)num(a, v);
    else if (ARG("--path"))
      opt.path = v;
    else if (ARG("--conns"))
      opt.conns = (int)num(a, v);
    else if (ARG("--procs"))
      opt.procs = (int)num(a, v);
    else if (ARG("--srcs"))
      opt.srcs = (int)num(a, v);
    else if (ARG("--src-base"))
      opt.src_base = (int)num(a, v);
    else if (ARG("--expect"))
      opt.expect = num(a, v);
    else if (ARG("--timeout"))
      opt.timeout = fnum(a, v);
    else if (ARG("--quiet"))
      opt.quiet = fnum(a, v);
    else if (ARG("--hold"))
      opt.hold = fnum(a, v);
    else if (ARG("--ready-file"))
      opt.ready_file = v;
    else if (ARG("--sub-json"))
      opt.sub_json = v;
    else if (ARG("--rate"))
      opt.rate = fnum(a, v);
    else if (ARG("--duration"))
      opt.duration = fnum(a, v);
    else if (ARG("--count"))
      opt.count = num(a, v);
    else if (ARG("--depth"))
      opt.depth = (int)num(a, v);
    else if (ARG("--max-connecting"))
      opt.max_connecting = (int)num(a, v);
    else
      usage();
#undef ARG
  }
  if (!opt.port || opt.conns < 1 || opt.procs < 1 || opt.srcs < 1 || opt.srcs > 200) usage();
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  double t0 = mono();

  if (opt.mode == 1) {
    if (opt.count <= 0 && (opt.rate <= 0 || opt.duration <= 0)) usage();
    if (opt.timeout <= 0) opt.timeout = 60;
    run_pub();
    printf(
        "{\"mode\":\"pub\",\"sent\":%llu,\"ok\":%llu,\"bad\":%llu,\"errors\":%llu,\"elapsed_s\":%.3f,"
        "\"req_per_s\":%.0f}\n",
        (unsigned long long)R.sent, (unsigned long long)R.ok, (unsigned long long)R.bad,
        (unsigned long long)R.errors, R.pub_elapsed, R.pub_elapsed > 0 ? (double)R.ok / R.pub_elapsed : 0);
    return R.ok == R.sent ? 0 : 1;
  }

  /* Subscribers: fork one child per process, each with its share. */
  int np = opt.procs;
  int *rfd = calloc((size_t)np, sizeof *rfd);
  pid_t *pids = calloc((size_t)np, sizeof *pids);
  for (int p = 0; p < np; p++) {
    int fds[2];
    if (pipe(fds) != 0) die("pipe");
    int share = opt.conns / np + (p < opt.conns % np);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      close(fds[0]);
      opt.src_base += 0;
      /* Spread each child's connections over all source addresses. */
      run_sub(share, fds[1]);
      const uint8_t *b = (const uint8_t *)&R;
      size_t left = sizeof R;
      while (left) {
        ssize_t w = write(fds[1], b, left);
        if (w <= 0) _exit(1);
        b += w;
        left -= (size_t)w;
      }
      _exit(0);
    }
    close(fds[1]);
    rfd[p] = fds[0];
    pids[p] = pid;
  }
  /* Wait for every child's 'R', then announce readiness. */
  int nready = 0;
  double dl = mono() + 180;
  while (nready < np && mono() < dl) {
    struct pollfd pf[64];
    for (int p = 0; p < np; p++) pf[p] = (struct pollfd){.fd = rfd[p], .events = POLLIN};
    int n = poll(pf, (nfds_t)np, 200);
    if (g_stop)
      for (int p = 0; p < np; p++) kill(pids[p], SIGTERM);
    if (n <= 0) continue;
    for (int p = 0; p < np; p++)
      if (pf[p].revents & POLLIN) {
        char m;
        if (read(rfd[p], &m, 1) == 1 && m == 'R') nready++;
      }
  }
  if (opt.ready_file) {
    FILE *f = fopen(opt.ready_file, "w");
    if (f) {
      fprintf(f, "%d\n", nready);
      fclose(f);
    }
  }
  fprintf(stderr, "loadgen: %d connections ready in %.1f s\n", opt.conns, mono() - t0);
  /* Collect results; forward SIGTERM to the children. */
  result_t *tot = calloc(1, sizeof *tot);
  result_t *one = malloc(sizeof *one);
  for (int p = 0; p < np; p++) {
    size_t got = 0;
    uint8_t *b = (uint8_t *)one;
    while (got < sizeof *one) {
      struct pollfd pf = {.fd = rfd[p], .events = POLLIN};
      int n = poll(&pf, 1, 200);
      if (g_stop) {
        for (int q = 0; q < np; q++) kill(pids[q], SIGTERM);
        g_stop = 0;
      }
      if (n <= 0) continue;
      ssize_t r = read(rfd[p], b + got, sizeof *one - got);
      if (r <= 0) break;
      got += (size_t)r;
    }
    if (got < sizeof *one) {
      fprintf(stderr, "loadgen: child %d sent no result\n", p);
      continue;
    }
    tot->deliveries += one->deliveries;
    tot->connected += one->connected;
    tot->ready += one->ready;
    tot->errors += one->errors;
    tot->closed_by_peer += one->closed_by_peer;
    tot->conn_fail += one->conn_fail;
    tot->sum_lat += one->sum_lat;
    if (one->max_lat > tot->max_lat) tot->max_lat = one->max_lat;
    if (one->min_t && (!tot->min_t || one->min_t < tot->min_t)) tot->min_t = one->min_t;
    if (one->last_recv_us > tot->last_recv_us) tot->last_recv_us = one->last_recv_us;
    for (int i = 0; i < H_BUCKETS; i++) tot->h.n[i] += one->h.n[i];
  }
  for (int p = 0; p < np; p++) waitpid(pids[p], NULL, 0);
  print_sub(tot, mono() - t0);
  return 0;
}
