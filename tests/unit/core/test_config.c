/* Unit tests for core/config: defaults, flags in both spellings (--x v and
 * --x=v), HERALD_* variables, a flag beating its variable, --listen forms,
 * and a one-line error naming the flag for every bad value. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "testutil.h"

static char err[512];

static const char *const env_names[] = {"HERALD_LISTEN",
                                        "HERALD_DB",
                                        "HERALD_THREADS",
                                        "HERALD_RETAIN_EVENTS",
                                        "HERALD_RETAIN_FOR",
                                        "HERALD_MAX_BODY",
                                        "HERALD_MAX_HEADER",
                                        "HERALD_LOG_LEVEL",
                                        "HERALD_HEADER_TIMEOUT",
                                        "HERALD_IDLE_TIMEOUT",
                                        "HERALD_BODY_TIMEOUT",
                                        "HERALD_WS_MAX_MESSAGE",
                                        "HERALD_MAX_SUBSCRIPTIONS",
                                        "HERALD_MAX_OUTBOUND",
                                        "HERALD_HEARTBEAT",
                                        "HERALD_WS_PING",
                                        "HERALD_SSE_RETRY",
                                        "HERALD_HOOK_CONNECT_TIMEOUT",
                                        "HERALD_HOOK_TIMEOUT",
                                        "HERALD_HOOK_RETRY_FIRST",
                                        "HERALD_HOOK_RETRY_MAX",
                                        "HERALD_HOOK_RETRY_WINDOW",
                                        NULL};

static void clear_env(void) {
  for (int i = 0; env_names[i]; i++) unsetenv(env_names[i]);
}

/* Parses argv (NULL-terminated, without the program name). */
static int parse(config_t *c, const char *const *args) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = (char *)"herald";
  for (int i = 0; args[i]; i++) argv[argc++] = (char *)args[i];
  argv[argc] = NULL;
  config_defaults(c);
  err[0] = '\0';
  return config_parse(c, argc, argv, err, sizeof err);
}

#define PARSE(c, ...) parse(c, (const char *const[]){__VA_ARGS__, NULL})

static void bad(const char *flag, const char *value) {
  config_t c;
  int rc = PARSE(&c, flag, value);
  if (rc != -1) fprintf(stderr, "  %s %s accepted\n", flag, value);
  CHECK_EQ_INT(rc, -1);
  if (!strstr(err, flag)) fprintf(stderr, "  %s %s: error does not name the flag: %s\n", flag, value, err);
  CHECK(strstr(err, flag) != NULL);
  CHECK(strchr(err, '\n') == NULL);
  CHECK(err[0] != '\0');
}

static void test_defaults(void) {
  config_t c;
  CHECK_EQ_INT(PARSE(&c, NULL), 0);
  CHECK_STR(c.listen_host, "127.0.0.1");
  CHECK_EQ_INT(c.listen_port, 8080);
  CHECK_STR(c.db_path, "./herald.db");
  CHECK(c.threads >= 1);
  CHECK_EQ_INT(c.retain_events, 1000000);
  CHECK_EQ_INT(c.retain_for_ms, 7LL * 86400 * 1000);
  CHECK_EQ_INT(c.max_body, 1 << 20);
  CHECK_EQ_INT(c.log_level, LOG_INFO);
  CHECK_EQ_INT(c.heartbeat_ms, 15000);
  CHECK_EQ_INT(c.max_subscriptions, 64);
}

static void test_flags(void) {
  config_t c;
  CHECK_EQ_INT(PARSE(&c, "--listen", "0.0.0.0:9000", "--db=/tmp/x.db", "--threads", "3", "--retain-events=10",
                     "--retain-for", "12h", "--max-body", "2048", "--log-level=debug", "--heartbeat", "500ms",
                     "--max-subscriptions", "8", "--hook-retry-window=1d"),
               0);
  CHECK_STR(c.listen_host, "0.0.0.0");
  CHECK_EQ_INT(c.listen_port, 9000);
  CHECK_STR(c.db_path, "/tmp/x.db");
  CHECK_EQ_INT(c.threads, 3);
  CHECK_EQ_INT(c.retain_events, 10);
  CHECK_EQ_INT(c.retain_for_ms, 12LL * 3600 * 1000);
  CHECK_EQ_INT(c.max_body, 2048);
  CHECK_EQ_INT(c.log_level, LOG_DEBUG);
  CHECK_EQ_INT(c.heartbeat_ms, 500);
  CHECK_EQ_INT(c.max_subscriptions, 8);
  CHECK_EQ_INT(c.hook_retry_window_ms, 86400000);
  /* A later flag wins over an earlier one. */
  CHECK_EQ_INT(PARSE(&c, "--threads", "2", "--threads=4"), 0);
  CHECK_EQ_INT(c.threads, 4);
  /* Limits: 1024 threads, 2^40 bytes. */
  CHECK_EQ_INT(PARSE(&c, "--threads", "1024", "--max-body", "1099511627776"), 0);
  CHECK_EQ_INT(c.threads, 1024);
  CHECK_EQ_INT(c.max_body, 1ULL << 40);
}

static void test_listen(void) {
  config_t c;
  CHECK_EQ_INT(PARSE(&c, "--listen", "127.0.0.1:0"), 0);
  CHECK_STR(c.listen_host, "127.0.0.1");
  CHECK_EQ_INT(c.listen_port, 0);
  CHECK_EQ_INT(PARSE(&c, "--listen=[::1]:80"), 0);
  CHECK_STR(c.listen_host, "::1");
  CHECK_EQ_INT(c.listen_port, 80);
  CHECK_EQ_INT(PARSE(&c, "--listen", "[::]:65535"), 0);
  CHECK_STR(c.listen_host, "::");
  CHECK_EQ_INT(c.listen_port, 65535);
  CHECK_EQ_INT(PARSE(&c, "--listen", "[]:80"), -1); /* an empty host */
  CHECK_EQ_INT(PARSE(&c, "--listen", "127.0.0.1\n:80"), -1);
  CHECK(strchr(err, '\n') == NULL); /* the echoed value stays on one line */
  CHECK_EQ_INT(PARSE(&c, "--listen", "localhost:8081"), 0);
  CHECK_STR(c.listen_host, "localhost");
  CHECK_EQ_INT(c.listen_port, 8081);

  bad("--listen", "127.0.0.1");
  bad("--listen", "127.0.0.1:");
  bad("--listen", ":80");
  bad("--listen", "127.0.0.1:65536");
  bad("--listen", "127.0.0.1:-1");
  bad("--listen", "127.0.0.1:80x");
  bad("--listen", "127.0.0.1: 80");
  bad("--listen", "127.0.0.1:\t80");
  bad("--listen", "[::1]");
  bad("--listen", "");
  char longhost[200];
  memset(longhost, 'h', 100);
  memcpy(longhost + 100, ":80", 4);
  bad("--listen", longhost);
}

static void test_bad_values(void) {
  bad("--threads", "0");
  bad("--threads", "abc");
  bad("--threads", "-1");
  bad("--threads", "+2");
  bad("--threads", "");
  bad("--threads", "1025");
  bad("--threads", "2x");
  bad("--threads", " 2");
  bad("--threads", "\t2");
  bad("--threads", "99999999999999999999999");
  bad("--max-subscriptions", "0");
  bad("--retain-events", "0");
  bad("--retain-events", "1.5");
  bad("--retain-for", "0");
  bad("--retain-for", "5x");
  bad("--retain-for", "-1d");
  bad("--retain-for", "");
  bad("--max-body", "0");
  bad("--max-body", "1MB");
  bad("--max-body", "1099511627777");
  bad("--max-header", "-5");
  bad("--log-level", "loud");
  bad("--log-level", "INFO");
  bad("--log-level", "");
  bad("--db", "");
  bad("--heartbeat", "soon");
  bad("--ws-ping", "0s");
  bad("--hook-timeout", "1.5s");

  /* Error text shape. */
  config_t c;
  CHECK_EQ_INT(PARSE(&c, "--threads", "0"), -1);
  CHECK(strncmp(err, "invalid value for --threads: '0'", 32) == 0);
}

static void test_unknown_and_missing(void) {
  config_t c;
  CHECK_EQ_INT(PARSE(&c, "--nope"), -1);
  CHECK_STR(err, "unknown option '--nope' (see --help)");
  CHECK_EQ_INT(PARSE(&c, "--nope=1"), -1);
  CHECK(strstr(err, "--nope") != NULL);
  CHECK_EQ_INT(PARSE(&c, "-t"), -1);
  CHECK(strstr(err, "unknown option") != NULL);
  CHECK_EQ_INT(PARSE(&c, "stray"), -1);
  CHECK(strstr(err, "'stray'") != NULL);
  CHECK_EQ_INT(PARSE(&c, "--thread", "2"), -1); /* no prefix matching */
  CHECK_EQ_INT(PARSE(&c, "--threadsX=2"), -1);
  CHECK_EQ_INT(PARSE(&c, "--db"), -1);
  CHECK_STR(err, "option --db needs a value (see --help)");
  CHECK_EQ_INT(PARSE(&c, "--threads", "2", "--listen"), -1);
  CHECK(strstr(err, "--listen") != NULL);
}

static void test_env(void) {
  config_t c;
  setenv("HERALD_THREADS", "5", 1);
  setenv("HERALD_LISTEN", "[::1]:7000", 1);
  setenv("HERALD_RETAIN_FOR", "30m", 1);
  setenv("HERALD_LOG_LEVEL", "warn", 1);
  CHECK_EQ_INT(PARSE(&c, NULL), 0);
  CHECK_EQ_INT(c.threads, 5);
  CHECK_STR(c.listen_host, "::1");
  CHECK_EQ_INT(c.listen_port, 7000);
  CHECK_EQ_INT(c.retain_for_ms, 30LL * 60 * 1000);
  CHECK_EQ_INT(c.log_level, LOG_WARN);

  /* A flag beats its variable; other variables still apply. */
  CHECK_EQ_INT(PARSE(&c, "--threads", "2", "--listen=127.0.0.1:1"), 0);
  CHECK_EQ_INT(c.threads, 2);
  CHECK_STR(c.listen_host, "127.0.0.1");
  CHECK_EQ_INT(c.listen_port, 1);
  CHECK_EQ_INT(c.retain_for_ms, 30LL * 60 * 1000);

  /* A bad variable is an error naming both the flag and the variable, even
   * when a flag would have overridden it. */
  setenv("HERALD_THREADS", "many", 1);
  CHECK_EQ_INT(PARSE(&c, NULL), -1);
  CHECK(strstr(err, "--threads") != NULL);
  CHECK(strstr(err, "HERALD_THREADS") != NULL);
  CHECK(strchr(err, '\n') == NULL);
  CHECK_EQ_INT(PARSE(&c, "--threads", "2"), -1);
  setenv("HERALD_THREADS", "", 1);
  CHECK_EQ_INT(PARSE(&c, NULL), -1);
  clear_env();
  setenv("HERALD_MAX_BODY", "0", 1);
  CHECK_EQ_INT(PARSE(&c, NULL), -1);
  CHECK(strstr(err, "HERALD_MAX_BODY") != NULL);
  clear_env();
}

int main(void) {
  clear_env();
  test_defaults();
  test_flags();
  test_listen();
  test_bad_values();
  test_unknown_and_missing();
  test_env();
  return TEST_SUMMARY();
}
