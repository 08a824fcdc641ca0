/* testutil — the few macros every unit test uses.
 *
 * Each tests/unit/<dir>/test_*.c is its own executable with a plain main().
 * CHECK* macros count failures and print file:line with what differed, and
 * keep going so one run shows every failure. End main with
 * `return TEST_SUMMARY();`, which prints one summary line and returns the
 * exit status ctest reads (0 = all passed). */
#ifndef HERALD_TESTS_TESTUTIL_H
#define HERALD_TESTS_TESTUTIL_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                            \
  do {                                                                         \
    test_checks++;                                                             \
    if (!(cond)) {                                                             \
      test_failures++;                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                            \
  do {                                                                                                \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b);                                   \
    test_checks++;                                                                                    \
    if (check_a_ != check_b_) {                                                                       \
      test_failures++;                                                                                \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, check_a_, \
              check_b_);                                                                              \
    }                                                                                                 \
  } while (0)

/* NULL-safe string equality; a NULL on either side only equals NULL. */
#define CHECK_STR(a, b)                                                                              \
  do {                                                                                               \
    const char *check_a_ = (a), *check_b_ = (b);                                                     \
    test_checks++;                                                                                   \
    if ((check_a_ == NULL) != (check_b_ == NULL) || (check_a_ && strcmp(check_a_, check_b_) != 0)) { \
      test_failures++;                                                                               \
      fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b,      \
              check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");                       \
    }                                                                                                \
  } while (0)

/* Compares n bytes of a against the string literal (or C string) b. */
#define CHECK_MEM(a, n, b)                                                                        \
  do {                                                                                            \
    const char *check_a_ = (const char *)(a), *check_b_ = (b);                                    \
    size_t check_n_ = (size_t)(n);                                                                \
    test_checks++;                                                                                \
    if (check_n_ != strlen(check_b_) || memcmp(check_a_, check_b_, check_n_) != 0) {              \
      test_failures++;                                                                            \
      fprintf(stderr, "%s:%d: %s == %s failed: \"%.*s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b, \
              (int)check_n_, check_a_, check_b_);                                                 \
    }                                                                                             \
  } while (0)

#define TEST_SUMMARY()                                                                           \
  (fprintf(test_failures ? stderr : stdout, "%s: %d checks, %d failed\n", __FILE__, test_checks, \
           test_failures),                                                                       \
   test_failures ? 1 : 0)

#endif
