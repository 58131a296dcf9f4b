/*
 * loop_posix.c - the parent's select() loop (parent/relay-select.ts, SelectRelay), steps 1, 2, 3
 * and 5, in C on a thread of its own: `--loop native`, the default on POSIX when nothing
 * needs the TypeScript loop (parent/relay-native.ts says when).
 *
 * Why it exists: with children writing 64 KiB at a time, the TypeScript loop pays per round
 * a trip through Node's thread pool for select() (a wakeup there and one back), calls
 * across the Node-API boundary per read, and the main thread's garbage collector and JIT
 * pauses (docs/benchmarks.md, "Where the time goes"). A C relay does none of that. This
 * thread is that C relay, inside the parent.
 *
 * It is the same algorithm as the TypeScript loop, constant for constant, and
 * test/native-loop.test.ts runs both on the same input and compares the bytes:
 *   1. select() over every open read end plus a wakeup pipe (ipc_wait_readable),
 *   2. read each ready descriptor, 256 KiB at a time, at most 2 reads per round, stopping
 *      the round once 1 MiB of output is waiting (the others are read next round, starting
 *      one further along),
 *   3. split into lines and label them (ipc_label_lines, c/lines.c); a partial line is held
 *      until its newline, up to 64 MiB,
 *   5. write the round's output: blocking, so that a slow reader stops the reading and the
 *      children block on full buffers (backpressure), never an unbounded queue.
 * Step 4 (reaping) and the exit lines stay in JavaScript: the exit line of a child is
 * decided there and sent here as text (IPC_LOOP_CMD_APPEND), behind everything this thread
 * already labelled, so it still comes after every byte the child wrote.
 *
 * Threads: JavaScript only queues commands (under `lock`) and writes a byte to the wakeup
 * pipe; this thread alone touches the sources' descriptors, the held lines and the output.
 * Events go the other way through a queue and `notify` (a Node-API thread-safe function).
 *
 * POSIX only (pthreads, poll on the output): on Windows the TypeScript loop runs.
 */
#define _POSIX_C_SOURCE 200809L
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The TypeScript loop's constants (parent/relay-select.ts, parent/relay-core.ts, parent/lines.ts): the same values,
 * so both loops cut rounds and lines at the same places. */
#define LOOP_READ_BYTES (256 * 1024)
#define LOOP_MAX_READS_PER_ROUND 2
#define LOOP_HIGH_WATER_BYTES (1024 * 1024)
#define LOOP_MAX_HELD_LINE_BYTES ((size_t)64 * 1024 * 1024)

typedef struct loop_source {
  ipc_fd fd;
  unsigned char *label;
  size_t label_len;
  /* The start of a line still waiting for its newline. */
  unsigned char *held;
  size_t held_len, held_cap;
  /* CLOCK_MONOTONIC ms of the last output seen (read, or ready): the exit line's grace. */
  atomic_llong last_activity_ms;
  /* Cleared on this thread when the source ends; read under lock by ipc_loop_quiet_ms. */
  atomic_int open;
} loop_source;

typedef enum { CMD_ADD, CMD_CLOSE, CMD_APPEND, CMD_FINISH } loop_cmd_kind;

typedef struct loop_cmd {
  loop_cmd_kind kind;
  ipc_fd fd;
  unsigned char *data; /* ADD: the label; APPEND: the text */
  size_t len;
  struct loop_cmd *next;
} loop_cmd;

struct ipc_loop {
  pthread_t thread;
  pthread_mutex_t lock;
  /* Under lock: commands from JavaScript, in the order they were given. */
  loop_cmd *cmds, *cmds_tail;
  /* Under lock: events for JavaScript. */
  ipc_loop_event *events;
  size_t n_events, cap_events;
  ipc_loop_notify_fn notify;
  void *notify_ctx;
  /* [read end, write end]: a byte written wakes the select(). */
  int wake[2];
  int out_fd;
  /* 1 while a write waits for the reader: that time does not count as a child's quiet. */
  atomic_int writing;
  /* The sources: the array changes (add, remove) only on this thread and under lock, so
   * ipc_loop_quiet_ms may read it under lock from the main thread. */
  loop_source **sources;
  size_t n_sources, cap_sources;
  /* This thread's own: the round's output, the read buffer. */
  unsigned char *batch;
  size_t batch_len, batch_cap;
  unsigned char *read_buf;
  int output_broken;
  size_t round_robin;
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------- events for JavaScript ---------- */

static void push_event(ipc_loop *L, const ipc_loop_event *e) {
  int was_empty;
  pthread_mutex_lock(&L->lock);
  if (L->n_events == L->cap_events) {
    size_t cap = L->cap_events ? L->cap_events * 2 : 16;
    ipc_loop_event *bigger = realloc(L->events, cap * sizeof *bigger);
    if (bigger == NULL) {
      /* Out of memory for an event: nothing sensible is left to do but stop here, and
       * the JavaScript side would wait forever for the end event. */
      pthread_mutex_unlock(&L->lock);
      abort();
    }
    L->events = bigger;
    L->cap_events = cap;
  }
  was_empty = L->n_events == 0;
  L->events[L->n_events++] = *e;
  /* Under lock, so that once ipc_loop_detach has returned no notify is running or will
   * run (the thread-safe function behind it may be gone when Node's environment ends). */
  if (was_empty && L->notify != NULL) L->notify(L->notify_ctx);
  pthread_mutex_unlock(&L->lock);
}

void ipc_loop_detach(ipc_loop *L) {
  pthread_mutex_lock(&L->lock);
  L->notify = NULL;
  pthread_mutex_unlock(&L->lock);
}

size_t ipc_loop_take_events(ipc_loop *L, ipc_loop_event *out, size_t max) {
  size_t n;
  pthread_mutex_lock(&L->lock);
  n = L->n_events < max ? L->n_events : max;
  memcpy(out, L->events, n * sizeof *out);
  memmove(L->events, L->events + n, (L->n_events - n) * sizeof *out);
  L->n_events -= n;
  pthread_mutex_unlock(&L->lock);
  return n;
}

/* ---------- the output batch (step 5) ---------- */

static void batch_reserve(ipc_loop *L, size_t more) {
  size_t need = L->batch_len + more, cap = L->batch_cap;
  unsigned char *bigger;
  if (need <= cap) return;
  while (cap < need) cap *= 2;
  bigger = realloc(L->batch, cap);
  if (bigger == NULL) abort(); /* as Buffer.allocUnsafe would throw: no way to go on */
  L->batch = bigger;
  L->batch_cap = cap;
}

static void batch_append(ipc_loop *L, const unsigned char *data, size_t len) {
  batch_reserve(L, len);
  memcpy(L->batch + L->batch_len, data, len);
  L->batch_len += len;
}

/* Waits for the reader when the output is non-blocking (Node makes a pipe on stdout
 * non-blocking once process.stdout is used): poll() for room, as a blocking write would. */
static int wait_writable(int fd) {
  struct pollfd p;
  p.fd = fd;
  p.events = POLLOUT;
  for (;;) {
    int rc = poll(&p, 1, -1);
    if (rc > 0) return 0;
    if (rc < 0 && errno != EINTR) return -1;
  }
}

/* Step 5: everything gathered this round, in one write where the reader takes it. A
 * reader that went away (EPIPE) is reported once; what follows is dropped, as the
 * TypeScript Output does, while JavaScript stops the children. */
static void write_batch(ipc_loop *L) {
  size_t done = 0;
  long long started;
  if (L->output_broken) {
    L->batch_len = 0;
    return;
  }
  /* While a write waits for the reader, the children's output waits unread in their
   * sockets: that time must not count as their quiet (the exit line's grace), whether the
   * wait is a poll() for room or a blocking write (a terminal is blocking, and Ctrl-S
   * stops it). So the clock stops for the whole write. */
  atomic_store(&L->writing, 1);
  started = now_ms();
  while (done < L->batch_len) {
    ssize_t n = write(L->out_fd, L->batch + done, L->batch_len - done);
    int e = errno;
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && e == EINTR) continue;
    if (n < 0 && (e == EAGAIN || e == EWOULDBLOCK)) {
      if (wait_writable(L->out_fd) == 0) continue;
      e = errno; /* poll's */
    }
    {
      /* write(2) returning 0 for a non-empty buffer would repeat forever: an error too. */
      ipc_loop_event ev;
      memset(&ev, 0, sizeof ev);
      ev.kind = IPC_LOOP_OUTPUT_ERROR;
      ipc_fail_errno(&ev.err, n == 0 ? EIO : e, "write");
      L->output_broken = 1;
      push_event(L, &ev);
      break;
    }
  }
  L->batch_len = 0;
  if (now_ms() - started > 0) {
    /* Output waited unread all along while the reader was slow: every grace starts over
     * (RelayCore.resumeReading). */
    long long t = now_ms();
    size_t i;
    for (i = 0; i < L->n_sources; i++) atomic_store(&L->sources[i]->last_activity_ms, t);
  }
  atomic_store(&L->writing, 0);
}

/* ---------- lines (step 3): LineAssembler in parent/lines.ts ---------- */

static void held_append(loop_source *s, const unsigned char *data, size_t len) {
  if (s->held_len + len > s->held_cap) {
    size_t cap = s->held_cap ? s->held_cap : 4096;
    unsigned char *bigger;
    while (cap < s->held_len + len) cap *= 2;
    bigger = realloc(s->held, cap);
    if (bigger == NULL) abort();
    s->held = bigger;
    s->held_cap = cap;
  }
  memcpy(s->held + s->held_len, data, len);
  s->held_len += len;
}

/* At end of stream, or when the held line reaches its bound: what is held goes out as a
 * line of its own, newline added so that the next label starts on a line of its own. */
static void end_line(ipc_loop *L, loop_source *s) {
  static const unsigned char newline = '\n';
  if (s->held_len == 0) return;
  batch_append(L, s->label, s->label_len);
  batch_append(L, s->held, s->held_len);
  batch_append(L, &newline, 1);
  s->held_len = 0;
}

static void hold(ipc_loop *L, loop_source *s, const unsigned char *rest, size_t len) {
  held_append(s, rest, len);
  if (s->held_len >= LOOP_MAX_HELD_LINE_BYTES) end_line(L, s);
}

/* Every complete line of src behind the label; returns the bytes used (up to the last
 * newline). */
static size_t label_lines(ipc_loop *L, loop_source *s, const unsigned char *src, size_t len) {
  size_t used = 0;
  for (;;) {
    used += ipc_label_lines(src + used, len - used, s->label, s->label_len, L->batch, L->batch_cap, &L->batch_len);
    if (used == len || memchr(src + used, '\n', len - used) == NULL) return used;
    /* Out of room: make space for at least the next line, then go on. */
    batch_reserve(L, s->label_len + (len - used));
  }
}

static void push_chunk(ipc_loop *L, loop_source *s, const unsigned char *chunk, size_t len) {
  size_t start = 0;
  if (s->held_len > 0) {
    /* The first newline completes the line held from earlier chunks. */
    const unsigned char *nl = memchr(chunk, '\n', len);
    if (nl == NULL) {
      hold(L, s, chunk, len);
      return;
    }
    start = (size_t)(nl - chunk) + 1;
    batch_append(L, s->label, s->label_len);
    batch_append(L, s->held, s->held_len);
    s->held_len = 0;
    batch_append(L, chunk, start);
  }
  start += label_lines(L, s, chunk + start, len - start);
  if (start < len) hold(L, s, chunk + start, len - start);
}

/* ---------- sources (steps 1 and 2) ---------- */

static void end_source(ipc_loop *L, loop_source *s, int at_eof) {
  ipc_loop_event e;
  ipc_error err;
  end_line(L, s);
  atomic_store(&s->open, 0);
  memset(&e, 0, sizeof e);
  e.kind = IPC_LOOP_END;
  e.fd = s->fd;
  e.eof = at_eof;
  if (ipc_close(s->fd, &err) < 0) e.err = err;
  push_event(L, &e);
}

/* Step 2: read until the descriptor would block (at most 2 reads a round), frame lines.
 * close_after: a stop or a detached child's end - take what is there, then close. */
static void read_source(ipc_loop *L, loop_source *s, int close_after) {
  int i;
  for (i = 0; s->open && (close_after || i < LOOP_MAX_READS_PER_ROUND); i++) {
    ipc_error err;
    long n = ipc_read(s->fd, L->read_buf, LOOP_READ_BYTES, &err);
    /* A reset connection ends the stream like end of file (as in the TypeScript loop). */
    if (n == -1) n = 0;
    if (n == IPC_WOULD_BLOCK) break;
    if (n == 0) {
      end_source(L, s, 1);
      return;
    }
    push_chunk(L, s, L->read_buf, (size_t)n);
    atomic_store(&s->last_activity_ms, now_ms());
    /* A short read means the descriptor is drained, unless this is the last look. */
    if (n < LOOP_READ_BYTES && !close_after) break;
  }
  if (close_after && s->open) end_source(L, s, 0);
}

/* Drops the sources that ended; under lock, as ipc_loop_quiet_ms reads the array. */
static void forget_ended(ipc_loop *L) {
  size_t i, kept = 0;
  pthread_mutex_lock(&L->lock);
  for (i = 0; i < L->n_sources; i++) {
    loop_source *s = L->sources[i];
    if (s->open) {
      L->sources[kept++] = s;
    } else {
      free(s->label);
      free(s->held);
      free(s);
    }
  }
  L->n_sources = kept;
  pthread_mutex_unlock(&L->lock);
}

static loop_source *find_source(ipc_loop *L, ipc_fd fd) {
  size_t i;
  for (i = 0; i < L->n_sources; i++)
    if (L->sources[i]->open && L->sources[i]->fd == fd) return L->sources[i];
  return NULL;
}

static void add_source(ipc_loop *L, loop_cmd *c) {
  loop_source *s = calloc(1, sizeof *s);
  if (s == NULL) abort();
  if (L->n_sources == L->cap_sources) {
    /* Under lock: realloc may free the old array, which ipc_loop_quiet_ms walks under it. */
    size_t cap = L->cap_sources ? L->cap_sources * 2 : 8;
    loop_source **bigger;
    pthread_mutex_lock(&L->lock);
    bigger = realloc(L->sources, cap * sizeof *bigger);
    if (bigger == NULL) abort();
    L->sources = bigger;
    L->cap_sources = cap;
    pthread_mutex_unlock(&L->lock);
  }
  s->fd = c->fd;
  s->label = c->data; /* the command's copy becomes the source's */
  s->label_len = c->len;
  c->data = NULL;
  atomic_store(&s->open, 1);
  atomic_store(&s->last_activity_ms, now_ms());
  pthread_mutex_lock(&L->lock);
  L->sources[L->n_sources++] = s;
  pthread_mutex_unlock(&L->lock);
}

/* Carries out JavaScript's commands in their order; 1 once FINISH came. */
static int apply_commands(ipc_loop *L) {
  loop_cmd *c;
  int finish = 0;
  pthread_mutex_lock(&L->lock);
  c = L->cmds;
  L->cmds = L->cmds_tail = NULL;
  pthread_mutex_unlock(&L->lock);
  while (c != NULL) {
    loop_cmd *next = c->next;
    loop_source *s;
    switch (c->kind) {
    case CMD_ADD:
      add_source(L, c);
      break;
    case CMD_CLOSE:
      s = find_source(L, c->fd);
      if (s != NULL) read_source(L, s, 1);
      break;
    case CMD_APPEND:
      batch_append(L, c->data, c->len);
      break;
    case CMD_FINISH:
      finish = 1;
      break;
    }
    free(c->data);
    free(c);
    c = next;
  }
  forget_ended(L);
  return finish;
}

static void drain_wakeups(ipc_loop *L) {
  unsigned char buf[256];
  while (read(L->wake[0], buf, sizeof buf) > 0) {
    /* each byte was one command; one round serves them all */
  }
}

/* Steps 1 and 2 for one round: select(), then read what is ready, fairly. */
static int wait_and_read(ipc_loop *L, ipc_error *err) {
  size_t n = L->n_sources + 1, i, nready = 0, k, start;
  ipc_fd *fds = malloc(n * sizeof *fds);
  unsigned char *ready = malloc(n);
  loop_source **ready_sources = malloc(n * sizeof *ready_sources);
  int rc;
  if (fds == NULL || ready == NULL || ready_sources == NULL) abort();
  fds[0] = L->wake[0];
  for (i = 0; i < L->n_sources; i++) fds[i + 1] = L->sources[i]->fd;
  rc = ipc_wait_readable(fds, n, -1, ready, err);
  if (rc >= 0) {
    if (ready[0]) drain_wakeups(L);
    for (i = 1; i < n; i++) {
      if (!ready[i]) continue;
      ready_sources[nready++] = L->sources[i - 1];
      atomic_store(&L->sources[i - 1]->last_activity_ms, now_ms());
    }
    start = nready > 0 ? L->round_robin++ % nready : 0;
    for (k = 0; k < nready && L->batch_len < LOOP_HIGH_WATER_BYTES; k++) read_source(L, ready_sources[(start + k) % nready], 0);
  }
  free(fds);
  free(ready);
  free(ready_sources);
  return rc < 0 ? -1 : 0;
}

/* After a failed select(): nothing can be read any more, so wait for commands (FINISH)
 * without spinning. */
static void wait_for_commands(ipc_loop *L) {
  struct pollfd p;
  p.fd = L->wake[0];
  p.events = POLLIN;
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {
    /* a signal: wait again */
  }
  drain_wakeups(L);
}

static void *loop_main(void *arg) {
  ipc_loop *L = arg;
  ipc_loop_event e;
  int failed = 0;
  memset(&e, 0, sizeof e);
  for (;;) {
    int finish = apply_commands(L);
    if (finish) {
      /* Whatever is still open is ended now (JavaScript closes every source first). */
      size_t i;
      for (i = 0; i < L->n_sources; i++) read_source(L, L->sources[i], 1);
      forget_ended(L);
    }
    if (L->batch_len > 0) write_batch(L);
    if (finish) break;
    if (failed) {
      wait_for_commands(L);
    } else if (wait_and_read(L, &e.err) < 0) {
      e.kind = IPC_LOOP_FAILED;
      push_event(L, &e);
      memset(&e, 0, sizeof e);
      failed = 1;
    }
  }
  e.kind = IPC_LOOP_FINISHED;
  push_event(L, &e);
  return NULL;
}

/* ---------- the main thread's side ---------- */

/* The thread blocks every signal: they go to Node's main thread, whose handlers (SIGCHLD,
 * SIGINT, ...) are the ones that act on them, and select() here is not cut short. */
static int start_thread(ipc_loop *L, ipc_error *err) {
  sigset_t all, old;
  int rc;
  sigfillset(&all);
  rc = pthread_sigmask(SIG_SETMASK, &all, &old);
  if (rc != 0) return ipc_fail_errno(err, rc, "pthread_sigmask");
  rc = pthread_create(&L->thread, NULL, loop_main, L);
  /* Restoring the mask just read cannot fail; if it did, this thread would have lost
   * its signals for good, which nothing could report. */
  if (pthread_sigmask(SIG_SETMASK, &old, NULL) != 0) abort();
  if (rc != 0) return ipc_fail_errno(err, rc, "pthread_create");
  return 0;
}

/* Frees what ipc_loop_start allocated before the thread existed. */
static void discard(ipc_loop *L) {
  free(L->batch);
  free(L->read_buf);
  free(L);
}

int ipc_loop_start(int out_fd, ipc_loop_notify_fn notify, void *notify_ctx, ipc_loop **out, ipc_error *err) {
  ipc_loop *L = calloc(1, sizeof *L);
  int rc;
  if (L == NULL) return ipc_fail(err, "ENOMEM", "calloc", "out of memory");
  L->out_fd = out_fd;
  L->notify = notify;
  L->notify_ctx = notify_ctx;
  L->batch_cap = LOOP_HIGH_WATER_BYTES;
  L->batch = malloc(L->batch_cap);
  L->read_buf = malloc(LOOP_READ_BYTES);
  if (L->batch == NULL || L->read_buf == NULL) {
    discard(L);
    return ipc_fail(err, "ENOMEM", "malloc", "out of memory");
  }
  rc = pthread_mutex_init(&L->lock, NULL);
  if (rc != 0) {
    discard(L);
    return ipc_fail_errno(err, rc, "pthread_mutex_init");
  }
  if (ipc_pipe(L->wake, err) < 0) {
    pthread_mutex_destroy(&L->lock);
    discard(L);
    return -1;
  }
  if (ipc_set_nonblocking(L->wake[0], err) < 0 || ipc_set_nonblocking(L->wake[1], err) < 0) {
    close(L->wake[0]);
    close(L->wake[1]);
    pthread_mutex_destroy(&L->lock);
    discard(L);
    return -1;
  }
  if (start_thread(L, err) != 0) {
    close(L->wake[0]);
    close(L->wake[1]);
    pthread_mutex_destroy(&L->lock);
    discard(L);
    return -1;
  }
  *out = L;
  return 0;
}

static int queue(ipc_loop *L, loop_cmd_kind kind, ipc_fd fd, const void *data, size_t len, ipc_error *err) {
  loop_cmd *c = calloc(1, sizeof *c);
  static const unsigned char byte = 1;
  if (c == NULL) return ipc_fail(err, "ENOMEM", "calloc", "out of memory");
  c->kind = kind;
  c->fd = fd;
  if (len > 0) {
    c->data = malloc(len);
    if (c->data == NULL) {
      free(c);
      return ipc_fail(err, "ENOMEM", "malloc", "out of memory");
    }
    memcpy(c->data, data, len);
    c->len = len;
  }
  pthread_mutex_lock(&L->lock);
  if (L->cmds_tail != NULL)
    L->cmds_tail->next = c;
  else
    L->cmds = c;
  L->cmds_tail = c;
  pthread_mutex_unlock(&L->lock);
  /* A full wakeup pipe (EAGAIN) means a wakeup is already pending: just as good. */
  if (write(L->wake[1], &byte, 1) < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    return ipc_fail_errno(err, errno, "write");
  return 0;
}

int ipc_loop_add(ipc_loop *L, ipc_fd fd, const void *label, size_t label_len, ipc_error *err) {
  /* The thread reads until a read would block: a blocking descriptor would stop it. */
  if (ipc_set_nonblocking(fd, err) < 0) return -1;
  return queue(L, CMD_ADD, fd, label, label_len, err);
}

int ipc_loop_close(ipc_loop *L, ipc_fd fd, ipc_error *err) { return queue(L, CMD_CLOSE, fd, NULL, 0, err); }

int ipc_loop_append(ipc_loop *L, const void *data, size_t len, ipc_error *err) {
  if (len == 0) return 0;
  return queue(L, CMD_APPEND, -1, data, len, err);
}

int ipc_loop_finish(ipc_loop *L, ipc_error *err) { return queue(L, CMD_FINISH, -1, NULL, 0, err); }

long long ipc_loop_quiet_ms(ipc_loop *L, ipc_fd fd) {
  long long quiet = -1;
  size_t i;
  pthread_mutex_lock(&L->lock);
  for (i = 0; i < L->n_sources; i++) {
    loop_source *s = L->sources[i];
    if (s->fd != fd || !s->open) continue;
    quiet = atomic_load(&L->writing) ? 0 : now_ms() - atomic_load(&s->last_activity_ms);
    if (quiet < 0) quiet = 0;
  }
  pthread_mutex_unlock(&L->lock);
  return quiet;
}

int ipc_loop_join(ipc_loop *L, ipc_error *err) {
  int rc = pthread_join(L->thread, NULL);
  size_t i;
  loop_cmd *c;
  if (rc != 0) return ipc_fail_errno(err, rc, "pthread_join");
  for (i = 0; i < L->n_sources; i++) {
    free(L->sources[i]->label);
    free(L->sources[i]->held);
    free(L->sources[i]);
  }
  for (c = L->cmds; c != NULL;) {
    loop_cmd *next = c->next;
    free(c->data);
    free(c);
    c = next;
  }
  free(L->sources);
  free(L->events);
  free(L->batch);
  free(L->read_buf);
  close(L->wake[0]);
  close(L->wake[1]);
  pthread_mutex_destroy(&L->lock);
  free(L);
  return 0;
}
