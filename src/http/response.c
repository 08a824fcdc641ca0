/* response — answer helpers: reason phrases, problem+json, body ownership. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "http/http_int.h"

const char *http_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

void http_respond(http_req_t *req, int status, const char *content_type, const char *extra_headers,
                  const char *body, size_t len) {
  http__send(req, status, content_type, extra_headers, (char *)body, len, false);
}

void http_respond_owned(http_req_t *req, int status, const char *content_type, const char *extra_headers,
                        char *body, size_t len) {
  http__send(req, status, content_type, extra_headers, body, len, true);
}

void http__send_problem_with(http_req_t *req, int status, const char *detail, const char *extra) {
  buf_t b = BUF_INIT;
  buf_puts(&b, "{\"type\":\"about:blank\",\"title\":");
  const char *title = http_reason(status);
  buf_put_json_str(&b, title, strlen(title));
  buf_puts(&b, ",\"status\":");
  buf_put_u64(&b, (uint64_t)status);
  buf_puts(&b, ",\"detail\":");
  if (!detail) detail = title;
  buf_put_json_str(&b, detail, strlen(detail));
  buf_puts(&b, "}");
  size_t len;
  char *body = buf_detach(&b, &len);
  http__send(req, status, "application/problem+json", extra, body, len, true);
}

void http_problem_with(http_req_t *req, int status, const char *detail, const char *extra_headers) {
  http__send_problem_with(req, status, detail, extra_headers);
}

void http_problem(http_req_t *req, int status, const char *detail) {
  http__send_problem_with(req, status, detail, NULL);
}

void http_problemf(http_req_t *req, int status, const char *fmt, ...) {
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  http_problem(req, status, detail);
}
