/*
 * quirk_posix.c - quirk_c's subcommands on POSIX (output format: quirk.h).
 */
#define _GNU_SOURCE /* sigaction, kill and CLOCK_REALTIME under -std=c11 */
#include "quirk.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#define COST_REPEATS 5

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

/* CPU time of this thread in ms: what the writes themselves cost the writer (the kernel's
 * work in write() is charged to it), not the time it waits for the reader or for a core.
 * Wall time on a shared 2-core machine measured mostly the scheduler. */
static double cpu_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return -1;
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* CPU microseconds per write of `size` bytes into a pipe (socket = 0) or a Unix socket pair. */
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
  t0 = cpu_ms();
  if (t0 < 0) return -1;
  for (i = 0; i < writes; i++) {
    ssize_t off = 0;
    while (off < size) {
      ssize_t n = write(fds[1], data + off, (size_t)(size - off));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return -1;
      off += n;
    }
  }
  us = (cpu_ms() - t0) * 1000.0 / (double)writes;
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
 * reports the writer's CPU time per write (the least of COST_REPEATS runs, interleaved:
 * other work on the machine can only add to a run, never take from it) and the ratio
 * socket / pipe.
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
  quirk_side("info", "writer's CPU time per write: a pipe vs a Unix socket pair (least of 5 runs, a reader process draining)");
  for (i = 0; i < nsizes; i++) {
    double pipe_us[COST_REPEATS], sock_us[COST_REPEATS];
    for (r = 0; r < COST_REPEATS; r++) {
      pipe_us[r] = us_per_write(0, sizes[i]);
      sock_us[r] = us_per_write(1, sizes[i]);
      if (pipe_us[r] < 0 || sock_us[r] < 0) return quirk_fail("write-cost", "a run failed: %s", strerror(errno));
    }
    qsort(pipe_us, COST_REPEATS, sizeof pipe_us[0], cmp_double);
    qsort(sock_us, COST_REPEATS, sizeof sock_us[0], cmp_double);
    quirk_say("%6ld bytes: pipe %8.3f us, socket pair %8.3f us per write: socket / pipe = %.2f", sizes[i], pipe_us[0], sock_us[0],
              sock_us[0] / pipe_us[0]);
    {
      char key[32];
      (void)snprintf(key, sizeof key, "ratio_%ld", sizes[i]);
      quirk_value(key, "%.2f", sock_us[0] / pipe_us[0]);
      (void)snprintf(key, sizeof key, "pipe_us_%ld", sizes[i]);
      quirk_value(key, "%.3f", pipe_us[0]);
      (void)snprintf(key, sizeof key, "socket_us_%ld", sizes[i]);
      quirk_value(key, "%.3f", sock_us[0]);
    }
  }
  return fflush(stdout) == 0 ? 0 : 1;
}


/* ------------------------------------------------- passing descriptors (issue 12) ---- */

/* Sends fds[0..count) over sock with SCM_RIGHTS and `payload_len` bytes of ordinary data
 * (0: no iovec at all). Returns sendmsg's result; errno is sendmsg's on -1. */
static ssize_t send_fds(int sock, const int *fds, int count, size_t payload_len) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * 8)];
  } control;
  struct msghdr msg;
  struct iovec iov;
  struct cmsghdr *cm;
  char byte = 'a';
  memset(&msg, 0, sizeof msg);
  memset(&control, 0, sizeof control);
  iov.iov_base = &byte;
  iov.iov_len = payload_len;
  if (payload_len > 0) {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
  }
  msg.msg_control = control.buf;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
  cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
  memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)count);
  return sendmsg(sock, &msg, 0);
}

/* What one recvmsg gave: the bytes, the flags, the descriptors installed in this process. */
struct received {
  ssize_t bytes;
  int err;
  int flags;
  int fds[8];
  int nfds;
};

/* One recvmsg on sock with a control buffer of control_len bytes (0: none) and `flags`
 * (MSG_CMSG_CLOEXEC or 0), after waiting at most wait_ms for something to arrive. */
static struct received receive_fds(int sock, size_t control_len, int flags, int wait_ms) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * 8)];
  } control;
  struct received r;
  struct msghdr msg;
  struct iovec iov;
  struct pollfd pfd = {sock, POLLIN, 0};
  char data[16];
  memset(&r, 0, sizeof r);
  if (poll(&pfd, 1, wait_ms) <= 0) {
    r.bytes = -1;
    r.err = EAGAIN; /* nothing arrived in time */
    return r;
  }
  memset(&msg, 0, sizeof msg);
  iov.iov_base = data;
  iov.iov_len = sizeof data;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (control_len > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = control_len;
  }
  r.bytes = recvmsg(sock, &msg, flags);
  if (r.bytes < 0) {
    r.err = errno;
    return r;
  }
  r.flags = msg.msg_flags;
  for (struct cmsghdr *cm = control_len > 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n && r.nfds < 8; i++) memcpy(&r.fds[r.nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
  }
  return r;
}

static void close_received(const struct received *r) {
  for (int i = 0; i < r->nfds; i++) (void)close(r->fds[i]);
}

/* How many descriptors below 1024 are open in this process: the leak detector. */
static int open_fd_count(void) {
  int n = 0;
  for (int fd = 0; fd < 1024; fd++) n += fcntl(fd, F_GETFD) != -1;
  return n;
}

static const char *errno_name(int e) {
  switch (e) {
  case 0: return "none";
  case EAGAIN: return "EAGAIN";
  case EBADF: return "EBADF";
  case EINVAL: return "EINVAL";
  case EMSGSIZE: return "EMSGSIZE";
  case ENOTCONN: return "ENOTCONN";
  default: return strerror(e);
  }
}

/* Whether the received descriptor is the pipe's read end: write a byte at the other end. */
static int fd_reads_pipe(int fd, int write_end) {
  char c = 0;
  if (write(write_end, "x", 1) != 1) return 0;
  return read(fd, &c, 1) == 1 && c == 'x';
}

/*
 * scm-rights-payload: a descriptor sent with SCM_RIGHTS and no ordinary data on a
 * SOCK_STREAM Unix socket (what the libuv guide's note on uv_write2 warns about), against
 * one data byte, and, for contrast, the same empty message on SOCK_SEQPACKET.
 */
static int scm_rights_payload(int argc, char **argv, const char *self) {
  int sv[2], pipefd[2];
  ssize_t sent;
  struct received r;
  (void)argc, (void)argv, (void)self;
  if (pipe(pipefd) != 0) return quirk_fail("pipe", "%s", strerror(errno));

  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return quirk_fail("socketpair", "%s", strerror(errno));
  quirk_side("wrong", "SOCK_STREAM: sendmsg with SCM_RIGHTS and no data byte");
  sent = send_fds(sv[0], &pipefd[0], 1, 0);
  quirk_say("sendmsg returned %zd (errno %s)", sent, sent < 0 ? errno_name(errno) : "none");
  quirk_value("stream_empty_sent", "%zd", sent);
  r = receive_fds(sv[1], CMSG_SPACE(sizeof(int)), 0, 500);
  quirk_say("the receiver, after waiting 500 ms: recvmsg %zd (%s), %d descriptor(s)", r.bytes, errno_name(r.err), r.nfds);
  quirk_value("stream_empty_received_fds", "%d", r.nfds);
  close_received(&r);

  quirk_side("right", "SOCK_STREAM: the same with one data byte (uv_write2's dummy \"a\")");
  sent = send_fds(sv[0], &pipefd[0], 1, 1);
  quirk_say("sendmsg returned %zd", sent);
  r = receive_fds(sv[1], CMSG_SPACE(sizeof(int)), 0, 5000);
  quirk_say("the receiver: recvmsg %zd byte(s), %d descriptor(s)%s", r.bytes, r.nfds,
            r.nfds == 1 && fd_reads_pipe(r.fds[0], pipefd[1]) ? ", and it reads the pipe the sender gave" : "");
  quirk_value("stream_byte_received_fds", "%d", r.nfds);
  close_received(&r);
  (void)close(sv[0]);
  (void)close(sv[1]);

  if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) return quirk_fail("socketpair", "SOCK_SEQPACKET: %s", strerror(errno));
  quirk_side("info", "SOCK_SEQPACKET (a message socket): the empty message carries it");
  sent = send_fds(sv[0], &pipefd[0], 1, 0);
  quirk_say("sendmsg returned %zd", sent);
  r = receive_fds(sv[1], CMSG_SPACE(sizeof(int)), 0, 5000);
  quirk_say("the receiver: recvmsg %zd byte(s), %d descriptor(s)", r.bytes, r.nfds);
  quirk_value("seqpacket_empty_received_fds", "%d", r.nfds);
  close_received(&r);
  (void)close(sv[0]);
  (void)close(sv[1]);
  quirk_note("a byte stream has no message boundaries: a send of zero bytes sends nothing, and the descriptor has nothing to travel with.");
  (void)close(pipefd[0]);
  (void)close(pipefd[1]);
  return 0;
}

/* `fd-probe FD` (helper child): exit 0 when FD is open in this (exec'd) process, 1 when not. */
static int fd_probe(int argc, char **argv, const char *self) {
  (void)self;
  if (argc < 1) return quirk_fail("fd-probe", "usage: fd-probe FD");
  return fcntl(atoi(argv[0]), F_GETFD) != -1 ? 0 : 1;
}

/* Starts `self fd-probe FD` with fork and exec, as any spawn does; 0 open, 1 closed, -1 failed. */
static int probe_in_exec_child(const char *self, int fd) {
  char num[16];
  int status;
  pid_t pid;
  snprintf(num, sizeof num, "%d", fd);
  if (fflush(stdout) != 0) return -1;
  pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execl(self, self, "fd-probe", num, (char *)NULL);
    _exit(127);
  }
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status) <= 1 ? WEXITSTATUS(status) : -1;
}

/*
 * received-fd-cloexec: a descriptor received with SCM_RIGHTS has no FD_CLOEXEC, whatever the
 * sender's copy had: the next exec (any child the receiver spawns) inherits it. With
 * MSG_CMSG_CLOEXEC it arrives with the flag set.
 */
static int received_fd_cloexec(int argc, char **argv, const char *self) {
  int sv[2], pipefd[2];
  struct received r;
  (void)argc, (void)argv;
  /* The sender's copy has close-on-exec: the flag belongs to the descriptor, not the file. */
  if (pipe2(pipefd, O_CLOEXEC) != 0) return quirk_fail("pipe2", "%s", strerror(errno));
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return quirk_fail("socketpair", "%s", strerror(errno));

  quirk_side("wrong", "recvmsg(..., 0): the received descriptor, then an exec'd child");
  if (send_fds(sv[0], &pipefd[0], 1, 1) != 1) return quirk_fail("sendmsg", "%s", strerror(errno));
  r = receive_fds(sv[1], CMSG_SPACE(sizeof(int)), 0, 5000);
  if (r.nfds != 1) return quirk_fail("recvmsg", "expected 1 descriptor, got %d (%s)", r.nfds, errno_name(r.err));
  quirk_say("the sender's copy (fd %d): FD_CLOEXEC %s", pipefd[0], (fcntl(pipefd[0], F_GETFD) & FD_CLOEXEC) ? "set" : "clear");
  quirk_say("received as fd %d: FD_CLOEXEC %s", r.fds[0], (fcntl(r.fds[0], F_GETFD) & FD_CLOEXEC) ? "set" : "clear");
  quirk_value("plain_cloexec", "%s", (fcntl(r.fds[0], F_GETFD) & FD_CLOEXEC) ? "set" : "clear");
  {
    int open_there = probe_in_exec_child(self, r.fds[0]);
    quirk_say("an exec'd child (quirk_c fd-probe %d): fd %d is %s there", r.fds[0], r.fds[0], open_there == 0 ? "open: leaked" : open_there == 1 ? "closed" : "unknown (probe failed)");
    quirk_value("plain_in_child", "%s", open_there == 0 ? "open" : open_there == 1 ? "closed" : "probe-failed");
  }
  close_received(&r);

  quirk_side("right", "recvmsg(..., MSG_CMSG_CLOEXEC)");
  if (send_fds(sv[0], &pipefd[0], 1, 1) != 1) return quirk_fail("sendmsg", "%s", strerror(errno));
  r = receive_fds(sv[1], CMSG_SPACE(sizeof(int)), MSG_CMSG_CLOEXEC, 5000);
  if (r.nfds != 1) return quirk_fail("recvmsg", "expected 1 descriptor, got %d (%s)", r.nfds, errno_name(r.err));
  quirk_say("received as fd %d: FD_CLOEXEC %s", r.fds[0], (fcntl(r.fds[0], F_GETFD) & FD_CLOEXEC) ? "set" : "clear");
  quirk_value("flag_cloexec", "%s", (fcntl(r.fds[0], F_GETFD) & FD_CLOEXEC) ? "set" : "clear");
  {
    int open_there = probe_in_exec_child(self, r.fds[0]);
    quirk_say("an exec'd child: fd %d is %s there", r.fds[0], open_there == 0 ? "open: leaked" : open_there == 1 ? "closed" : "unknown (probe failed)");
    quirk_value("flag_in_child", "%s", open_there == 0 ? "open" : open_there == 1 ? "closed" : "probe-failed");
  }
  close_received(&r);
  quirk_note("MSG_CMSG_CLOEXEC is Linux's (FreeBSD and others have it too, not every POSIX system): elsewhere, set FD_CLOEXEC with fcntl at once, which leaves a window in which another thread's fork+exec inherits it.");
  (void)close(sv[0]);
  (void)close(sv[1]);
  (void)close(pipefd[0]);
  (void)close(pipefd[1]);
  return 0;
}

/* One run of cmsg-ctrunc: three descriptors sent, received with control_len bytes. */
static int ctrunc_case(int sender, int receiver, const char *key, size_t control_len) {
  int three[3], before, after;
  struct received r;
  for (int i = 0; i < 3; i++) {
    three[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (three[i] < 0) return quirk_fail("open /dev/null", "%s", strerror(errno));
  }
  if (send_fds(sender, three, 3, 1) != 1) return quirk_fail("sendmsg", "%s", strerror(errno));
  for (int i = 0; i < 3; i++) (void)close(three[i]); /* in flight now: only the message holds them */
  before = open_fd_count();
  r = receive_fds(receiver, control_len, 0, 5000);
  after = open_fd_count();
  quirk_say("control buffer of %zu bytes: recvmsg %zd byte(s), MSG_CTRUNC %s, %d of 3 installed, open descriptors %d -> %d",
            control_len, r.bytes, (r.flags & MSG_CTRUNC) ? "set" : "clear", r.nfds, before, after);
  quirk_value(key, "ctrunc=%s installed=%d opened=%d", (r.flags & MSG_CTRUNC) ? "yes" : "no", r.nfds, after - before);
  close_received(&r);
  if (open_fd_count() != before) return quirk_fail("cmsg-ctrunc", "descriptors still open after closing the installed ones");
  return 0;
}

/*
 * cmsg-ctrunc: three descriptors in one message, received with a control buffer too small
 * for them (none, room for one by CMSG_SPACE) and with room for all three.
 */
static int cmsg_ctrunc(int argc, char **argv, const char *self) {
  int sv[2];
  (void)argc, (void)argv, (void)self;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return quirk_fail("socketpair", "%s", strerror(errno));
  quirk_side("wrong", "no control buffer at all");
  if (ctrunc_case(sv[0], sv[1], "no_buffer", 0) != 0) return 1;
  quirk_side("wrong", "a buffer of CMSG_SPACE(sizeof(int)), \"room for one\"");
  if (ctrunc_case(sv[0], sv[1], "room_for_one", CMSG_SPACE(sizeof(int))) != 0) return 1;
  quirk_side("right", "a buffer of CMSG_SPACE(3 * sizeof(int))");
  if (ctrunc_case(sv[0], sv[1], "room_for_three", CMSG_SPACE(3 * sizeof(int))) != 0) return 1;
  quirk_note("the descriptors that did not fit are closed by the kernel and gone; those that fit are open in the receiver even though MSG_CTRUNC says the message was cut: check the flag and close what arrived.");
  (void)close(sv[0]);
  (void)close(sv[1]);
  return 0;
}

const struct quirk_command QUIRK_COMMANDS[] = {
  {"article-c-parent", "COMMAND [ARGS...]: the article's C parent's stderr dup2 and sleep(1)", article_c_parent},
  {"stamp-child", "helper: LINES GAP_MS, time-stamped lines alternating stdout and stderr", stamp_child},
  {"write-cost", "[SIZE...]: time per write, pipe vs Unix socket pair", write_cost},
  {"scm-rights-payload", "SCM_RIGHTS with no data byte vs one, SOCK_STREAM and SOCK_SEQPACKET", scm_rights_payload},
  {"received-fd-cloexec", "a received descriptor in an exec'd child, with and without MSG_CMSG_CLOEXEC", received_fd_cloexec},
  {"cmsg-ctrunc", "three descriptors into a control buffer too small for them", cmsg_ctrunc},
  {"fd-probe", "helper: FD, exit 0 if FD is open here, 1 if not", fd_probe},
  {NULL, NULL, NULL},
};
