/*
 * quirk_posix.c - quirk_c's subcommands on POSIX (output format: quirk.h).
 */
#define _GNU_SOURCE /* sigaction, kill and CLOCK_REALTIME under -std=c11 */
#include "quirk.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double mono_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/*
 * stamp-child LINES GAP_MS: LINES lines alternating stdout and stderr, each carrying the
 * wall-clock time it was written ("stamp=MS"), one write(2) each, GAP_MS apart, so that a
 * reader further down can measure each line's latency.
 */
static int stamp_child(int argc, char **argv, const char *self) {
  long lines = argc > 0 ? strtol(argv[0], NULL, 10) : 0, gap = argc > 1 ? strtol(argv[1], NULL, 10) : 0, i;
  (void)self;
  if (lines <= 0 || gap < 0) return quirk_fail("stamp-child", "usage: stamp-child LINES GAP_MS");
  for (i = 1; i <= lines; i++) {
    struct timespec ts, pause;
    char line[128];
    int fd = i % 2 == 1 ? 1 : 2, n;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return quirk_fail("clock_gettime", "%s", strerror(errno));
    n = snprintf(line, sizeof line, "stamp=%lld n=%ld stream=%s\n",
                 (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, i, fd == 1 ? "out" : "err");
    if (n <= 0 || write(fd, line, (size_t)n) != n) return 3;
    pause.tv_sec = gap / 1000;
    pause.tv_nsec = (gap % 1000) * 1000000L;
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
  }
  return 0;
}

/* Prints each line of the chunk with the stream's label; the article's C parent keeps no
 * partial lines either, but the stamp child's lines are short and written whole. */
static void print_labelled(long pid, const char *label, const char *buf, size_t n) {
  size_t start = 0, i;
  for (i = 0; i < n; i++) {
    if (buf[i] != '\n') continue;
    printf("[child %ld][%s]: %.*s\n", pid, label, (int)(i - start), buf + start);
    start = i + 1;
  }
  if (start < n) printf("[child %ld][%s]: %.*s\n", pid, label, (int)(n - start), buf + start);
}

/*
 * article-c-parent COMMAND [ARGS...]: a small re-creation (not the article's code) of two
 * behaviours of the article's C parent on POSIX:
 *  1. the child's dup2 puts stderr onto the stdout pipe, so the stderr pipe stays silent
 *     and every line is labelled [info];
 *  2. each round reads once per ready descriptor and then sleeps 1 s, so a line waits up
 *     to a second before it is shown.
 */
static int article_c_parent(int argc, char **argv, const char *self) {
  enum { READ_BYTES = 8192, DEADLINE_MS = 20000 };
  int out[2], err[2], open_out = 1, open_err = 1, status;
  pid_t pid;
  double t0;
  char buf[READ_BYTES];
  (void)self;

  if (argc < 1) return quirk_fail("article-c-parent", "usage: article-c-parent COMMAND [ARGS...]");
  if (pipe(out) != 0 || pipe(err) != 0) return quirk_fail("pipe", "%s", strerror(errno));
  if (fflush(stdout) != 0) return quirk_fail("fflush", "%s", strerror(errno));
  pid = fork();
  if (pid < 0) return quirk_fail("fork", "%s", strerror(errno));
  if (pid == 0) {
    /* Between fork and exec only async-signal-safe calls: dup2, close, execv, _exit. */
    if (dup2(out[1], 1) < 0) _exit(126);
    /* Behaviour 1: stderr goes onto the *stdout* pipe; err[1] was meant. */
    if (dup2(out[1], 2) < 0) _exit(126);
    close(out[0]);
    close(out[1]);
    close(err[0]);
    close(err[1]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  t0 = mono_ms();
  while ((open_out || open_err) && mono_ms() - t0 < DEADLINE_MS) {
    fd_set readable;
    struct timeval tv = {1, 0};
    int maxfd = -1, rc;
    FD_ZERO(&readable);
    if (open_out) {
      FD_SET(out[0], &readable);
      maxfd = out[0];
    }
    if (open_err) {
      FD_SET(err[0], &readable);
      if (err[0] > maxfd) maxfd = err[0];
    }
    rc = select(maxfd + 1, &readable, NULL, NULL, &tv);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return quirk_fail("select", "%s", strerror(errno));
    if (open_out && FD_ISSET(out[0], &readable)) {
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n > 0) print_labelled((long)pid, "info", buf, (size_t)n);
      else open_out = 0;
    }
    if (open_err && FD_ISSET(err[0], &readable)) {
      ssize_t n = read(err[0], buf, sizeof buf);
      if (n > 0) print_labelled((long)pid, "error", buf, (size_t)n);
      else open_err = 0;
    }
    /* Flushed here so that what is measured is the sleep, not stdio's buffering of this
     * program's own stdout (a pipe): that is quirk stdio-buffering. */
    if (fflush(stdout) != 0) return quirk_fail("fflush", "%s", strerror(errno));
    /* Behaviour 2: one second per round, whatever is waiting. */
    if (open_out || open_err) sleep(1);
  }
  if (open_out || open_err) {
    if (kill(pid, SIGKILL) != 0 && errno != ESRCH) return quirk_fail("kill", "%s", strerror(errno));
  }
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return quirk_fail("waitpid", "%s", strerror(errno));
  }
  printf("[child %ld] exited with code %d\n", (long)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  close(out[0]);
  close(err[0]);
  return fflush(stdout) == 0 ? 0 : 1;
}

/* ------------------------------------------------- the cost of the technique ---- */

#define COST_BYTES_PER_RUN (8L * 1024 * 1024) /* written per size, channel and repetition */
#define COST_MAX_WRITES 50000L
#define COST_REPEATS 3

/* A reader that drains fd until end of stream, in a process of its own (fork), so the
 * writer measures only its side. Returns its pid, or -1. */
static pid_t start_drain(int fd, int other) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  (void)close(other);
  {
    static char buf[1 << 16];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
      if (n < 0 && errno != EINTR) _exit(1);
    }
  }
  _exit(0);
}

/* Microseconds per write of `size` bytes into a pipe (socket = 0) or a Unix socket pair. */
static double us_per_write(int socket, long size) {
  int fds[2];
  long writes = COST_BYTES_PER_RUN / size, i;
  static char data[1 << 16];
  double t0, us;
  pid_t reader;
  int status;
  if (writes > COST_MAX_WRITES) writes = COST_MAX_WRITES;
  if (socket ? socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0 : pipe(fds) != 0) return -1;
  reader = start_drain(fds[0], fds[1]);
  if (reader < 0) return -1;
  (void)close(fds[0]);
  t0 = mono_ms();
  for (i = 0; i < writes; i++) {
    ssize_t off = 0;
    while (off < size) {
      ssize_t n = write(fds[1], data + off, (size_t)(size - off));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return -1;
      off += n;
    }
  }
  us = (mono_ms() - t0) * 1000.0 / (double)writes;
  (void)close(fds[1]);
  while (waitpid(reader, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return us;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/*
 * write-cost [SIZE...]: the price of the article's technique on POSIX. Writes the same
 * bytes through a pipe and through a Unix socket pair, a reader process draining each, and
 * reports the median time per write (of COST_REPEATS runs, interleaved so that a busy
 * machine slows both alike) and the ratio socket / pipe.
 */
static int write_cost(int argc, char **argv, const char *self) {
  static const long default_sizes[] = {1, 100, 1000, 8192, 65536};
  long sizes[16];
  int nsizes = 0, i, r;
  (void)self;
  if (argc == 0) {
    for (i = 0; i < (int)(sizeof default_sizes / sizeof default_sizes[0]); i++) sizes[nsizes++] = default_sizes[i];
  }
  for (i = 0; i < argc && nsizes < 16; i++) {
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end != '\0' || v < 1 || v > 65536) return quirk_fail("write-cost", "size '%s': expected 1..65536 bytes", argv[i]);
    sizes[nsizes++] = v;
  }
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) return quirk_fail("signal(SIGPIPE)", "%s", strerror(errno));
  quirk_side("info", "time per write: a pipe vs a Unix socket pair (median of 3 runs, a reader process draining)");
  for (i = 0; i < nsizes; i++) {
    double pipe_us[COST_REPEATS], sock_us[COST_REPEATS];
    for (r = 0; r < COST_REPEATS; r++) {
      pipe_us[r] = us_per_write(0, sizes[i]);
      sock_us[r] = us_per_write(1, sizes[i]);
      if (pipe_us[r] < 0 || sock_us[r] < 0) return quirk_fail("write-cost", "a run failed: %s", strerror(errno));
    }
    qsort(pipe_us, COST_REPEATS, sizeof pipe_us[0], cmp_double);
    qsort(sock_us, COST_REPEATS, sizeof sock_us[0], cmp_double);
    quirk_say("%6ld bytes: pipe %8.3f us, socket pair %8.3f us per write: socket / pipe = %.2f", sizes[i], pipe_us[1], sock_us[1],
              sock_us[1] / pipe_us[1]);
    {
      char key[32];
      (void)snprintf(key, sizeof key, "ratio_%ld", sizes[i]);
      quirk_value(key, "%.2f", sock_us[1] / pipe_us[1]);
      (void)snprintf(key, sizeof key, "pipe_us_%ld", sizes[i]);
      quirk_value(key, "%.3f", pipe_us[1]);
      (void)snprintf(key, sizeof key, "socket_us_%ld", sizes[i]);
      quirk_value(key, "%.3f", sock_us[1]);
    }
  }
  return fflush(stdout) == 0 ? 0 : 1;
}

const struct quirk_command QUIRK_COMMANDS[] = {
  {"article-c-parent", "COMMAND [ARGS...]: the article's C parent's stderr dup2 and sleep(1)", article_c_parent},
  {"stamp-child", "helper: LINES GAP_MS, time-stamped lines alternating stdout and stderr", stamp_child},
  {"write-cost", "[SIZE...]: time per write, pipe vs Unix socket pair", write_cost},
  {NULL, NULL, NULL},
};
