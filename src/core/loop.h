/* loop — one I/O thread: a libuv loop plus an inbox other threads post to.
 *
 * herald runs N loops (--threads). Each owns its connections; nothing is
 * shared between loops except through the inbox. Other threads (the store's
 * writer and readers, the hub's publisher, the webhook dispatcher) hand work
 * to a loop with loop_post(): the task runs later on that loop's thread, in
 * the order posted by any one thread. uv_async_send coalesces wake-ups, so the
 * async callback drains the whole inbox each time.
 *
 * Lifecycle: loop_init() on the creating thread, loop_start() spawns the
 * thread (or loop_run() runs it on the calling thread); once every handle is
 * closed (loop_close_handles() for its own) the run ends, and loop_join()
 * waits for that. Tasks posted after the loop has exited run
 * in loop_free() on the calling thread (as if on the loop, with no live
 * handles), so that they release what they hold; post only while it lives.
 *
 * Each loop also owns a read buffer shared by its connections (DESIGN:
 * memory per connection, no fixed buffers per connection) and a cached HTTP
 * Date header value refreshed once a second. */
#ifndef HERALD_CORE_LOOP_H
#define HERALD_CORE_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define LOOP_READ_BUF_SIZE (64 * 1024)

typedef struct loop loop_t;
typedef void (*loop_task_fn)(void *arg);
typedef void (*loop_turn_fn)(loop_t *l, void *arg);

#define LOOP_MAX_TURN_HOOKS 4

typedef struct loop_task {
  struct loop_task *next;
  loop_task_fn fn;
  void *arg;
} loop_task_t;

struct loop {
  uv_loop_t uv;
  int index; /* 0..nloops-1 */
  pthread_t thread;
  uv_async_t inbox_async;
  pthread_mutex_t inbox_mu;
  loop_task_t *inbox_head, *inbox_tail;
  bool read_buf_busy;
  char *read_buf; /* LOOP_READ_BUF_SIZE bytes, lent to one uv_read at a time */
  uv_timer_t clock_timer;
  char http_date[32]; /* "Sun, 06 Nov 1994 08:49:37 GMT" */
  uint64_t turn_ms;   /* uv_now at the start of the latest inbox drain */
  void *user[4];      /* per-loop state of higher layers (http, hub, rt) by slot */
  struct {
    loop_turn_fn fn;
    void *arg;
  } turn_hooks[LOOP_MAX_TURN_HOOKS];
  int nturn_hooks;
};

enum { LOOP_SLOT_HTTP = 0, LOOP_SLOT_HUB = 1, LOOP_SLOT_RT = 2, LOOP_SLOT_HOOKS = 3 };

int loop_init(loop_t *l, int index);
/* Registers fn(l, arg) to run after each pass over the inbox, before the
 * loop polls again: the point where work posted during the pass (several
 * hub batches, say) is written out once. Register before the loop runs. */
void loop_on_turn_end(loop_t *l, loop_turn_fn fn, void *arg);
/* Runs fn(arg) on l's thread. Thread-safe; never blocks on I/O. */
void loop_post(loop_t *l, loop_task_fn fn, void *arg);
/* Spawns a thread that runs the loop until it has no more active handles. */
int loop_start(loop_t *l);
/* Runs the loop on the calling thread until it has no more active handles. */
void loop_run(loop_t *l);
int loop_join(loop_t *l);
/* Closes the loop's own handles (inbox, clock) so uv_run can return once the
 * layers above have closed theirs. Must run on the loop's thread. */
void loop_close_handles(loop_t *l);
/* Frees what loop_init allocated; after the loop has finished running. */
void loop_free(loop_t *l);

/* The calling thread's loop, or NULL on a thread that is not a loop. */
loop_t *loop_current(void);

#endif
