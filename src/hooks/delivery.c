/* delivery — one webhook POST at a time per webhook, many at once, on
 * libcurl's multi interface driven by the dispatcher's libuv loop.
 *
 * The shape is curl's docs/examples/multi-uv.c: curl tells us which sockets
 * to watch (CURLMOPT_SOCKETFUNCTION → a uv_poll per socket) and when to call
 * it back (CURLMOPT_TIMERFUNCTION → one uv_timer); libuv tells curl what
 * happened with curl_multi_socket_action(), and finished transfers are
 * collected with curl_multi_info_read() and handed to the dispatcher
 * (hooks__attempt_done). Name resolution runs on curl's threaded resolver;
 * nothing here blocks the loop.
 *
 * Every webhook owns one easy handle, set up once and reused, so its
 * keep-alive connection (kept in the multi's shared connection cache) serves
 * its next event. Per attempt only the URL, the body and the header list
 * change. The body is the event's JSON, lent to curl without a copy: the
 * attempt holds a reference to the event until it finishes.
 *
 * Policy per request: http and https only, no redirects (a 3xx is a
 * failure), connect and total timeouts from the config, no signals, the
 * response body counted and discarded up to HOOKS__RESPONSE_MAX (past it
 * the transfer is cut off and the status line decides). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/log.h"
#include "hooks/hooks_int.h"

/* ---- curl multi on uv ---------------------------------------------------- */

typedef struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  hooks_t *d;
} sock_ctx_t;

static void collect(hooks_t *d);

static void on_poll_closed(uv_handle_t *h) { free(h->data); }

static void on_poll(uv_poll_t *p, int status, int events) {
  sock_ctx_t *c = p->data;
  hooks_t *d = c->d;
  int flags = 0;
  if (status < 0) flags |= CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(d->multi, c->fd, flags, &d->running);
  collect(d);
}

static int on_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp) {
  (void)easy;
  hooks_t *d = userp;
  sock_ctx_t *c = socketp;
  if (action == CURL_POLL_REMOVE) {
    if (c) {
      uv_poll_stop(&c->poll);
      uv_close((uv_handle_t *)&c->poll, on_poll_closed);
      curl_multi_assign(d->multi, fd, NULL);
    }
    return 0;
  }
  if (!c) {
    c = xcalloc(1, sizeof *c);
    c->fd = fd;
    c->d = d;
    int rc = uv_poll_init_socket(&d->loop.uv, &c->poll, fd);
    if (rc) {
      LOG_E("hooks: uv_poll_init_socket: %s", uv_strerror(rc));
      free(c);
      return -1;
    }
    c->poll.data = c;
    curl_multi_assign(d->multi, fd, c);
  }
  int events = 0;
  if (action & CURL_POLL_IN) events |= UV_READABLE;
  if (action & CURL_POLL_OUT) events |= UV_WRITABLE;
  uv_poll_start(&c->poll, events, on_poll);
  return 0;
}

static void on_curl_timeout(uv_timer_t *t) {
  hooks_t *d = t->data;
  curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &d->running);
  collect(d);
}

/* curl asks to be called back after timeout_ms (-1: never). A zero timeout
 * still goes through the timer so curl is never re-entered from here. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  hooks_t *d = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&d->curl_timer);
  else
    uv_timer_start(&d->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
  return 0;
}

int hooks__curl_init(hooks_t *d) {
  d->multi = curl_multi_init();
  if (!d->multi) return -1;
  uv_timer_init(&d->loop.uv, &d->curl_timer);
  d->curl_timer.data = d;
  curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
  curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
  hooks__curl_resize(d);
  return 0;
}

/* curl's connection cache holds 4 x the transfers in flight by default,
 * far fewer than the webhooks that each keep a connection alive between
 * events: past it, every delivery would connect anew. */
void hooks__curl_resize(hooks_t *d) {
  long want = (long)(2 * d->nhooks + 64);
  if (d->multi) curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, want);
}

void hooks__curl_close(hooks_t *d) {
  /* Every easy handle was removed already (hooks__abort); cleaning up the
   * multi closes the cached connections, and curl tells on_socket to drop
   * their polls, which close on this loop. */
  if (d->multi) curl_multi_cleanup(d->multi);
  d->multi = NULL;
  if (!uv_is_closing((uv_handle_t *)&d->curl_timer)) uv_close((uv_handle_t *)&d->curl_timer, NULL);
}

/* ---- one attempt --------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  hook_t *h = ud;
  h->resp_bytes += size * n;
  if (h->resp_bytes > HOOKS__RESPONSE_MAX) {
    h->resp_over = true;
    return 0; /* cut off: CURLE_WRITE_ERROR, decided by the status line */
  }
  return size * n;
}

int hooks__easy_init(hook_t *h) {
  if (h->easy) return 0;
  hooks_t *d = h->d;
  CURL *e = curl_easy_init();
  if (!e) return -1;
  curl_easy_setopt(e, CURLOPT_PRIVATE, h);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)d->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms);
  curl_easy_setopt(e, CURLOPT_USERAGENT, d->user_agent);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  h->easy = e;
  return 0;
}

void hooks__easy_free(hook_t *h) {
  hooks__abort(h);
  if (h->easy) curl_easy_cleanup(h->easy);
  h->easy = NULL;
}

static void finish(hook_t *h) {
  curl_slist_free_all(h->headers);
  h->headers = NULL;
}

static void fail_now(hook_t *h, const char *why) {
  hooks__outcome_t o = {0};
  snprintf(o.error, sizeof o.error, "%s", why);
  finish(h);
  hooks__attempt_done(h, &o);
}

static bool add_header(struct curl_slist **list, const char *line) {
  struct curl_slist *n = curl_slist_append(*list, line);
  if (!n) return false;
  *list = n;
  return true;
}

void hooks__send(hook_t *h, hub_event_t *ev, int64_t timestamp) {
  hooks_t *d = h->d;
  h->inflight = hub_event_ref(ev);
  const bytes_t *body = ev->json[h->filter.payload];
  snprintf(h->msg_id, sizeof h->msg_id, "%s-%llu", d->epoch, (unsigned long long)ev->seq);
  char sig[HOOKS_SIG_MAX];
  if (hooks_sign(h->key, h->keylen, h->msg_id, timestamp, body->data, body->len, sig)) {
    fail_now(h, "internal error: could not sign");
    return;
  }
  char line[160];
  bool ok = add_header(&h->headers, "Content-Type: application/json");
  snprintf(line, sizeof line, "webhook-id: %s", h->msg_id);
  ok = ok && add_header(&h->headers, line);
  snprintf(line, sizeof line, "webhook-timestamp: %lld", (long long)timestamp);
  ok = ok && add_header(&h->headers, line);
  snprintf(line, sizeof line, "webhook-signature: %s", sig);
  ok = ok && add_header(&h->headers, line);
  /* No 100-continue round trip for large bodies. */
  ok = ok && add_header(&h->headers, "Expect:");
  if (!ok || hooks__easy_init(h)) {
    fail_now(h, "internal error: out of memory");
    return;
  }
  CURL *e = h->easy;
  h->resp_bytes = 0;
  h->resp_over = false;
  h->errbuf[0] = '\0';
  curl_easy_setopt(e, CURLOPT_URL, h->url);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)body->data);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
  CURLMcode mc = curl_multi_add_handle(d->multi, e);
  if (mc != CURLM_OK) {
    char why[128];
    snprintf(why, sizeof why, "internal error: %s", curl_multi_strerror(mc));
    fail_now(h, why);
  }
}

void hooks__abort(hook_t *h) {
  if (!h->inflight) return;
  if (h->easy && h->d->multi) curl_multi_remove_handle(h->d->multi, h->easy);
  finish(h);
  hub_event_unref(h->inflight);
  h->inflight = NULL;
}

/* Hands every finished transfer to the dispatcher. */
static void collect(hooks_t *d) {
  CURLMsg *m;
  int left;
  while (d->multi && (m = curl_multi_info_read(d->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL *e = m->easy_handle;
    CURLcode res = m->data.result;
    hook_t *h = NULL;
    long code = 0;
    curl_off_t us = 0;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&h);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &us);
    hooks__outcome_t o = {.status = (int)code, .duration_ms = (int64_t)(us / 1000)};
    bool answered = res == CURLE_OK || (res == CURLE_WRITE_ERROR && h->resp_over);
    if (answered && code >= 200 && code < 300) {
      o.ok = true;
    } else if (answered && code >= 300 && code < 400) {
      char *loc = NULL;
      curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc);
      snprintf(o.error, sizeof o.error, "HTTP %ld: redirect%s%.200s not followed", code, loc ? " to " : "",
               loc ? loc : "");
    } else if (answered) {
      snprintf(o.error, sizeof o.error, "HTTP %ld", code);
    } else {
      snprintf(o.error, sizeof o.error, "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(res));
    }
    curl_multi_remove_handle(d->multi, e); /* m is invalid from here on */
    finish(h);
    hooks__attempt_done(h, &o);
  }
}

/* ---- URLs ---------------------------------------------------------------- */

int hooks_url_check(const char *url, char *detail, size_t detail_len) {
  size_t n = strlen(url);
  int rc = -1;
  CURLU *u = NULL;
  char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
  if (n == 0) {
    snprintf(detail, detail_len, "'url' must not be empty");
    goto out;
  }
  if (n > HOOKS_URL_MAX) {
    snprintf(detail, detail_len, "'url' is longer than %d bytes", HOOKS_URL_MAX);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c <= 0x20 || c == 0x7f) {
      snprintf(detail, detail_len, "'url' must not contain spaces or control characters");
      goto out;
    }
  }
  /* curl's parser forgives "http:/host" and "http:///host"; a webhook URL
   * must spell its authority out. */
  size_t sl = strncasecmp(url, "http://", 7) == 0 ? 7 : strncasecmp(url, "https://", 8) == 0 ? 8 : 0;
  if (sl == 0) {
    snprintf(detail, detail_len, "'url' must be an absolute http:// or https:// URL");
    goto out;
  }
  if (url[sl] == '/' || url[sl] == '\0') {
    snprintf(detail, detail_len, "'url' must name a host");
    goto out;
  }
  u = curl_url();
  if (!u) {
    snprintf(detail, detail_len, "out of memory");
    goto out;
  }
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
  if (uc != CURLUE_OK) {
    snprintf(detail, detail_len, "'url' is not a valid absolute http(s) URL: %s", curl_url_strerror(uc));
    goto out;
  }
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
    snprintf(detail, detail_len, "'url' must use http or https");
    goto out;
  }
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
    snprintf(detail, detail_len, "'url' must name a host");
    goto out;
  }
  if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
      curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
    snprintf(detail, detail_len, "'url' must not contain credentials (user or password)");
    goto out;
  }
  rc = 0;
out:
  curl_free(scheme);
  curl_free(host);
  curl_free(user);
  curl_free(pass);
  curl_url_cleanup(u);
  return rc;
}
