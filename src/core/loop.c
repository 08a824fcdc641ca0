/* loop — I/O thread with a posting inbox; see loop.h.
 *
 * The inbox is a mutex-protected singly linked FIFO. A drain swaps the whole
 * list out under the lock and runs it without the lock held, so producers
 * never wait for task execution. */
#include "core/loop.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/timeutil.h"

static _Thread_local loop_t *current_loop;

loop_t *loop_current(void) { return current_loop; }

static void inbox_drain(uv_async_t *a) {
  loop_t *l = a->data;
  l->turn_ms = uv_now(&l->uv);
  for (;;) {
    pthread_mutex_lock(&l->inbox_mu);
    loop_task_t *t = l->inbox_head;
    l->inbox_head = l->inbox_tail = NULL;
    pthread_mutex_unlock(&l->inbox_mu);
    if (!t) break;
    while (t) {
      loop_task_t *next = t->next;
      t->fn(t->arg);
      free(t);
      t = next;
    }
    /* After each pass, not only when the inbox is empty: under sustained
     * load it may never be, and what was queued must still go out. */
    for (int i = 0; i < l->nturn_hooks; i++) l->turn_hooks[i].fn(l, l->turn_hooks[i].arg);
  }
}

void loop_on_turn_end(loop_t *l, loop_turn_fn fn, void *arg) {
  assert(l->nturn_hooks < LOOP_MAX_TURN_HOOKS);
  l->turn_hooks[l->nturn_hooks].fn = fn;
  l->turn_hooks[l->nturn_hooks].arg = arg;
  l->nturn_hooks++;
}

static void clock_tick(uv_timer_t *t) {
  loop_t *l = t->data;
  time_format_http(time_now_ms(), l->http_date);
}

int loop_init(loop_t *l, int index) {
  memset(l, 0, sizeof *l);
  l->index = index;
  int rc = uv_loop_init(&l->uv);
  if (rc) return rc;
  pthread_mutex_init(&l->inbox_mu, NULL);
  uv_async_init(&l->uv, &l->inbox_async, inbox_drain);
  l->inbox_async.data = l;
  uv_timer_init(&l->uv, &l->clock_timer);
  l->clock_timer.data = l;
  uv_timer_start(&l->clock_timer, clock_tick, 1000, 1000);
  uv_unref((uv_handle_t *)&l->clock_timer);
  time_format_http(time_now_ms(), l->http_date);
  l->read_buf = xmalloc(LOOP_READ_BUF_SIZE);
  l->uv.data = l;
  return 0;
}

void loop_post(loop_t *l, loop_task_fn fn, void *arg) {
  loop_task_t *t = xmalloc(sizeof *t);
  t->next = NULL;
  t->fn = fn;
  t->arg = arg;
  pthread_mutex_lock(&l->inbox_mu);
  if (l->inbox_tail)
    l->inbox_tail->next = t;
  else
    l->inbox_head = t;
  l->inbox_tail = t;
  pthread_mutex_unlock(&l->inbox_mu);
  uv_async_send(&l->inbox_async);
}

void loop_run(loop_t *l) {
  current_loop = l;
  uv_run(&l->uv, UV_RUN_DEFAULT);
  /* Run tasks posted during shutdown so their resources are released. */
  inbox_drain(&l->inbox_async);
  current_loop = NULL;
}

static void *thread_main(void *arg) {
  loop_run(arg);
  return NULL;
}

int loop_start(loop_t *l) { return -pthread_create(&l->thread, NULL, thread_main, l); }

int loop_join(loop_t *l) { return -pthread_join(l->thread, NULL); }

void loop_close_handles(loop_t *l) {
  if (!uv_is_closing((uv_handle_t *)&l->inbox_async)) uv_close((uv_handle_t *)&l->inbox_async, NULL);
  if (!uv_is_closing((uv_handle_t *)&l->clock_timer)) uv_close((uv_handle_t *)&l->clock_timer, NULL);
}

void loop_free(loop_t *l) {
  /* Run anything posted after the loop stopped, as if on the loop, so the
   * tasks release what they hold (their handles are gone by now). */
  loop_t *saved = current_loop;
  current_loop = l;
  inbox_drain(&l->inbox_async);
  current_loop = saved;
  int rc = uv_loop_close(&l->uv);
  if (rc) LOG_W("loop %d: uv_loop_close: %s", l->index, uv_strerror(rc));
  pthread_mutex_destroy(&l->inbox_mu);
  free(l->read_buf);
  l->read_buf = NULL;
}
