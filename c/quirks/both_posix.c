/*
 * both_posix.c - the POSIX side of the quirks every platform has (output format: quirk.h).
 *
 * Each demonstration is one function named after its quirk id (docs/quirks.md); the two
 * helper children (stdio-child, sleep-child) are started by the demonstrations and by
 * scripts/quirks/<id>.ts, with the same arguments as their Windows twins in both_win.c.
 */
#define _GNU_SOURCE /* environ, sigaction and setitimer under -std=c11 */
#include "quirk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- small helpers shared by the demonstrations ---- */

static const char *errno_name(int e) {
  switch (e) {
  case EAGAIN: return "EAGAIN";
  case EINTR: return "EINTR";
  case EPIPE: return "EPIPE";
  case EBADF: return "EBADF";
  case EINVAL: return "EINVAL";
  case ENOENT: return "ENOENT";
  case EMFILE: return "EMFILE";
  case EPERM: return "EPERM";
  case ECONNRESET: return "ECONNRESET";
  default: return strerror(e);
  }
}

static double now_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static long parse_long(const char *text, long fallback) {
  char *end;
  long v;
  if (text == NULL) return fallback;
  errno = 0;
  v = strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || end == text || v < 0) return -1;
  return v;
}

/* Reads until end of stream or until limit_ms has passed; the time of the end of stream,
 * or -1 when it did not come in time. The bound keeps a demonstration from hanging. */
static double wait_for_eof(int fd, double t0, double limit_ms) {
  char buf[4096];
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    double left = limit_ms - (now_ms() - t0);
    int rc;
    ssize_t n;
    if (left <= 0) return -1;
    rc = poll(&p, 1, (int)left + 1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return -1;
    if (rc == 0) continue;
    n = read(fd, buf, sizeof buf);
    if (n == 0) return now_ms() - t0;
    if (n < 0 && errno != EINTR && errno != EAGAIN) return -1;
  }
}

static int reap(pid_t pid, int *status) {
  pid_t rc;
  do rc = waitpid(pid, status, 0);
  while (rc < 0 && errno == EINTR);
  return rc == pid ? 0 : -1;
}

/* ---- helper children ---- */

/*
 * stdio-child MODE LINES GAP_MS: writes LINES lines of 61 bytes through stdio, GAP_MS
 * apart. MODE full: stdio's default, which is full buffering whenever stdout is not a
 * terminal (a socket here); flush: fflush after every line, what a child must do;
 * unbuffered: setvbuf(_IONBF), every stdio call becomes its own write.
 */
static int stdio_child(int argc, char **argv, const char *self) {
  const char *mode = argc > 0 ? argv[0] : "";
  long lines = argc > 1 ? parse_long(argv[1], -1) : -1, gap = argc > 2 ? parse_long(argv[2], -1) : -1, i;
  int full = strcmp(mode, "full") == 0, flush = strcmp(mode, "flush") == 0, unbuffered = strcmp(mode, "unbuffered") == 0;
  (void)self;
  if ((!full && !flush && !unbuffered) || lines < 0 || gap < 0)
    return quirk_fail("stdio-child", "usage: stdio-child full|flush|unbuffered LINES GAP_MS");
  if (unbuffered && setvbuf(stdout, NULL, _IONBF, 0) != 0) return quirk_fail("setvbuf(_IONBF)", "%s", errno_name(errno));
  for (i = 1; i <= lines; i++) {
    if (unbuffered) {
      /* Several conversions in one printf: an unbuffered stream may write each piece. */
      if (printf("stdio-child %-10s pid %6ld line %04ld of %04ld ....\n", mode, (long)getpid(), i, lines) < 0)
        return 3;
    } else {
      /* fwrite, as on Windows (both_win.c), so both platforms run the same calls. */
      char line[96];
      int n = snprintf(line, sizeof line, "stdio-child %-10s pid %6ld line %04ld of %04ld ....\n", mode, (long)getpid(), i, lines);
      if (n <= 0 || fwrite(line, 1, (size_t)n, stdout) != (size_t)n) return 3;
    }
    if (flush && fflush(stdout) != 0) return 3;
    if (gap > 0) sleep_ms(gap);
  }
  return fflush(stdout) == 0 ? 0 : 3;
}

/* sleep-child MS [CODE]: one line on stdout, then sleeps MS and exits with CODE. */
static int sleep_child(int argc, char **argv, const char *self) {
  long ms = argc > 0 ? parse_long(argv[0], -1) : -1, code = argc > 1 ? parse_long(argv[1], -1) : 0;
  char line[64];
  int n;
  (void)self;
  if (ms < 0 || code < 0 || code > 255) return quirk_fail("sleep-child", "usage: sleep-child MS [CODE]");
  n = snprintf(line, sizeof line, "sleep-child pid %ld sleeping %ld ms\n", (long)getpid(), ms);
  if (n > 0 && write(1, line, (size_t)n) < 0) return 3;
  sleep_ms(ms);
  return (int)code;
}

/* ---- nonblocking-mode ---- */

static void on_alarm(int sig) { (void)sig; }

/*
 * The article's Perl parent writes fcntl($fh, F_GETFL, O_NONBLOCK): F_GETFL ignores its
 * third argument, so the descriptor stays blocking and the parent's read waits for data.
 */
static int nonblocking_mode(int argc, char **argv, const char *self) {
  int sv[2], flags, e;
  char c;
  ssize_t n;
  double t0, ms;
  struct sigaction sa;
  struct itimerval timer;
  (void)argc, (void)argv, (void)self;

  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return quirk_fail("socketpair", "%s", errno_name(errno));

  quirk_side("wrong", "the article's Perl parent: fcntl(fd, F_GETFL, O_NONBLOCK)");
  if (fcntl(sv[0], F_GETFL, O_NONBLOCK) < 0) return quirk_fail("fcntl(F_GETFL)", "%s", errno_name(errno));
  flags = fcntl(sv[0], F_GETFL);
  if (flags < 0) return quirk_fail("fcntl(F_GETFL)", "%s", errno_name(errno));
  quirk_say("after the call, O_NONBLOCK is %s", (flags & O_NONBLOCK) ? "set" : "clear");
  quirk_value("getfl_nonblock", "%d", (flags & O_NONBLOCK) ? 1 : 0);
  /* A read with nothing to read now blocks. SIGALRM without SA_RESTART interrupts it, so
   * the demonstration is bounded and measures how long the read waited. */
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  if (sigaction(SIGALRM, &sa, NULL) != 0) return quirk_fail("sigaction", "%s", errno_name(errno));
  memset(&timer, 0, sizeof timer);
  timer.it_value.tv_usec = 700000;
  if (setitimer(ITIMER_REAL, &timer, NULL) != 0) return quirk_fail("setitimer", "%s", errno_name(errno));
  t0 = now_ms();
  n = read(sv[0], &c, 1);
  e = errno;
  ms = now_ms() - t0;
  quirk_say("read() with no data: returned %ld (%s) after %.0f ms, woken by a 700 ms SIGALRM", (long)n, n < 0 ? errno_name(e) : "data", ms);
  quirk_value("blocking_read_errno", "%s", n < 0 ? errno_name(e) : "none");
  quirk_value("blocking_read_ms", "%.0f", ms);

  quirk_side("right", "fcntl(fd, F_SETFL, flags | O_NONBLOCK), as c/io_posix.c ipc_set_nonblocking does");
  if (fcntl(sv[0], F_SETFL, flags | O_NONBLOCK) != 0) return quirk_fail("fcntl(F_SETFL)", "%s", errno_name(errno));
  flags = fcntl(sv[0], F_GETFL);
  if (flags < 0) return quirk_fail("fcntl(F_GETFL)", "%s", errno_name(errno));
  quirk_say("after the call, O_NONBLOCK is %s", (flags & O_NONBLOCK) ? "set" : "clear");
  quirk_value("setfl_nonblock", "%d", (flags & O_NONBLOCK) ? 1 : 0);
  t0 = now_ms();
  n = read(sv[0], &c, 1);
  e = errno;
  ms = now_ms() - t0;
  quirk_say("read() with no data: returned %ld (%s) after %.2f ms", (long)n, n < 0 ? errno_name(e) : "data", ms);
  quirk_value("nonblocking_read_errno", "%s", n < 0 ? errno_name(e) : "none");
  quirk_value("nonblocking_read_ms", "%.2f", ms);

  quirk_side("info", "FIONBIO on this platform");
  /* Perl code for Windows hard-codes 0x8004667e; the number is Winsock's, not POSIX's. */
  quirk_say("FIONBIO from <sys/ioctl.h> is %#lx here", (unsigned long)FIONBIO);
  quirk_value("fionbio", "%#lx", (unsigned long)FIONBIO);
  close(sv[0]);
  close(sv[1]);
  return 0;
}

/* ---- inherited-write-end ---- */

/* posix_spawn with only dup2 actions: every descriptor without close-on-exec goes along. */
static int spawn_inheriting(const char *self, const char *ms, int out, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  char *args[5];
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc != 0) return rc;
  rc = posix_spawn_file_actions_adddup2(&fa, out, 1);
  args[0] = (char *)self;
  args[1] = (char *)"sleep-child";
  args[2] = (char *)ms;
  args[3] = (char *)"0";
  args[4] = NULL;
  if (rc == 0) rc = posix_spawn(pid, self, &fa, NULL, args, environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

/*
 * Child A (exits at once) and child B (lives B_MS) each get a socket pair made without
 * close-on-exec, the article's way. B inherits A's write end too, so A's stream ends only
 * when B exits.
 */
static int inherited_write_end(int argc, char **argv, const char *self) {
  const char *b_ms = argc > 0 ? argv[0] : "2500";
  int a[2], b[2], rc, status;
  pid_t pa, pb;
  double t0, eof_ms, b_exit_ms;

  if (parse_long(b_ms, -1) < 0) return quirk_fail("inherited-write-end", "usage: inherited-write-end [B_MS]");
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, a) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, b) != 0)
    return quirk_fail("socketpair", "%s", errno_name(errno));
  quirk_side("wrong", "write ends inheritable (no close-on-exec), both children spawned with them open");
  t0 = now_ms();
  rc = spawn_inheriting(self, "0", a[1], &pa);
  if (rc != 0) return quirk_fail("posix_spawn(A)", "%s", errno_name(rc));
  rc = spawn_inheriting(self, b_ms, b[1], &pb);
  if (rc != 0) return quirk_fail("posix_spawn(B)", "%s", errno_name(rc));
  /* The parent's own copies go: only the children can hold the streams open now. */
  if (close(a[1]) != 0 || close(b[1]) != 0) return quirk_fail("close", "%s", errno_name(errno));
  eof_ms = wait_for_eof(a[0], t0, 10000);
  if (reap(pa, &status) != 0) return quirk_fail("waitpid(A)", "%s", errno_name(errno));
  if (reap(pb, &status) != 0) return quirk_fail("waitpid(B)", "%s", errno_name(errno));
  b_exit_ms = now_ms() - t0;
  quirk_say("A (sleeps 0 ms) and B (sleeps %s ms) started", b_ms);
  if (eof_ms < 0) quirk_say("A's end of stream: none within 10 s");
  else quirk_say("A's end of stream came %.0f ms after the start; B was reaped at %.0f ms", eof_ms, b_exit_ms);
  quirk_value("leaky_a_eof_ms", "%.0f", eof_ms);
  quirk_value("leaky_b_exit_ms", "%.0f", b_exit_ms);
  close(a[0]);
  close(b[0]);
  return 0;
}

/* ---- fd-setsize ---- */

/*
 * POSIX FD_SETSIZE bounds descriptor numbers, not how many: FD_SET(1100, &set) would set a
 * bit past the end of a 1024-bit fd_set. This demonstration only shows such descriptors
 * exist; it never hands one to FD_SET.
 */
static int fd_setsize(int argc, char **argv, const char *self) {
  struct rlimit rl;
  int sv[2], high = FD_SETSIZE + 76;
  struct pollfd p;
  (void)argc, (void)argv, (void)self;

  quirk_side("info", "FD_SETSIZE is a limit on descriptor numbers");
  quirk_say("FD_SETSIZE is %d; sizeof(fd_set) is %u bytes = %u descriptor bits", (int)FD_SETSIZE, (unsigned)sizeof(fd_set), (unsigned)(sizeof(fd_set) * 8));
  quirk_value("fd_setsize", "%d", (int)FD_SETSIZE);
  quirk_value("fd_set_bits", "%u", (unsigned)(sizeof(fd_set) * 8));
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return quirk_fail("getrlimit", "%s", errno_name(errno));
  quirk_say("RLIMIT_NOFILE: soft %ld, hard %ld", (long)rl.rlim_cur, (long)rl.rlim_max);
  if (rl.rlim_cur <= (rlim_t)high && (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)high)) {
    /* A parent of many children raises its soft limit the same way (Node does at start). */
    rl.rlim_cur = (rlim_t)high + 1;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return quirk_fail("setrlimit", "%s", errno_name(errno));
    quirk_say("raised the soft limit to %ld", (long)rl.rlim_cur);
  }
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return quirk_fail("socketpair", "%s", errno_name(errno));
  if (dup2(sv[0], high) != high) {
    quirk_say("dup2(%d, %d) failed: %s (the hard limit is too low to show it)", sv[0], high, errno_name(errno));
    quirk_value("high_fd", "-1");
  } else {
    quirk_say("dup2 gave descriptor %d, past FD_SETSIZE; fcntl(F_GETFD) on it returns %d", high, fcntl(high, F_GETFD));
    quirk_value("high_fd", "%d", high);
    if (write(sv[1], "x", 1) != 1) return quirk_fail("write", "%s", errno_name(errno));
    p.fd = high;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 1000) < 0) return quirk_fail("poll", "%s", errno_name(errno));
    quirk_say("poll() on descriptor %d after one byte was written: revents %s", high, (p.revents & POLLIN) ? "POLLIN" : "none");
    quirk_value("poll_reports_high", "%d", (p.revents & POLLIN) ? 1 : 0);
    quirk_note("FD_SET(%d, &set) was not called: it would write bit %d of a %u-bit set, undefined behaviour", high, high, (unsigned)(sizeof(fd_set) * 8));
    close(high);
  }
  close(sv[0]);
  close(sv[1]);
  return 0;
}

/* ---- zombies-and-sigpipe ---- */

/* The state letter of /proc/PID/stat (Linux): after the last ')' of the command name. */
static int proc_state(pid_t pid, char *state) {
  char path[64], buf[512], *paren;
  size_t n;
  FILE *f;
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  f = fopen(path, "r");
  if (f == NULL) return -1;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  paren = strrchr(buf, ')');
  if (paren == NULL || paren[1] == '\0' || paren[2] == '\0') return -1;
  *state = paren[2];
  return 0;
}

/* After fork only async-signal-safe calls: sigaction, write, _exit. */
static pid_t fork_writer(int fd, int ignore_sigpipe) {
  pid_t pid = fork();
  if (pid == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    /* quirk_c inherits SIGPIPE ignored from Node; the child picks its own disposition. */
    sa.sa_handler = ignore_sigpipe ? SIG_IGN : SIG_DFL;
    if (sigaction(SIGPIPE, &sa, NULL) != 0) _exit(120);
    if (write(fd, "x", 1) < 0) _exit(errno == EPIPE ? 32 : 121);
    _exit(0);
  }
  return pid;
}

static int zombies_and_sigpipe(int argc, char **argv, const char *self) {
  pid_t pid;
  int status, sv[2], i;
  char state = '?';
  double t0;
  (void)argc, (void)argv, (void)self;

  quirk_side("wrong", "a child that exited, not yet waited for");
  pid = fork();
  if (pid < 0) return quirk_fail("fork", "%s", errno_name(errno));
  if (pid == 0) _exit(0);
  t0 = now_ms();
  /* Bounded: the child exits at once, the kernel marks it Z within milliseconds. */
  for (i = 0; i < 200; i++) {
    if (proc_state(pid, &state) != 0) {
      state = '?';
      break;
    }
    if (state == 'Z') break;
    sleep_ms(10);
  }
  quirk_say("pid %ld exited; %.0f ms later /proc/%ld/stat says state %c", (long)pid, now_ms() - t0, (long)pid, state);
  quirk_value("zombie_state", "%c", state);
  if (reap(pid, &status) != 0) return quirk_fail("waitpid", "%s", errno_name(errno));
  quirk_say("waitpid() collected exit code %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  state = '-';
  if (proc_state(pid, &state) != 0) quirk_say("after waitpid: /proc/%ld/stat is gone (%s)", (long)pid, errno_name(errno));
  else quirk_say("after waitpid: /proc/%ld/stat still says %c", (long)pid, state);
  quirk_value("after_wait_state", "%c", state);

  quirk_side("wrong", "a child writing after its reader is gone, SIGPIPE at its default");
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return quirk_fail("socketpair", "%s", errno_name(errno));
  close(sv[0]);
  pid = fork_writer(sv[1], 0);
  if (pid < 0) return quirk_fail("fork", "%s", errno_name(errno));
  if (reap(pid, &status) != 0) return quirk_fail("waitpid", "%s", errno_name(errno));
  if (WIFSIGNALED(status)) {
    quirk_say("the child was killed by signal %d (%s)", WTERMSIG(status), WTERMSIG(status) == SIGPIPE ? "SIGPIPE" : "other");
    quirk_value("default_child", "%s", WTERMSIG(status) == SIGPIPE ? "SIGPIPE" : "signal");
  } else {
    quirk_say("the child exited with code %d", WEXITSTATUS(status));
    quirk_value("default_child", "exit%d", WEXITSTATUS(status));
  }

  quirk_side("right", "the same with SIGPIPE ignored: write() fails, the child decides");
  pid = fork_writer(sv[1], 1);
  if (pid < 0) return quirk_fail("fork", "%s", errno_name(errno));
  if (reap(pid, &status) != 0) return quirk_fail("waitpid", "%s", errno_name(errno));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 32) {
    quirk_say("write() failed with EPIPE; the child exited normally");
    quirk_value("ignored_child", "EPIPE");
  } else {
    quirk_say("the child ended with status %#x", (unsigned)status);
    quirk_value("ignored_child", "status%#x", (unsigned)status);
  }
  close(sv[1]);
  return 0;
}

/*
 * select-details, the POSIX side: nfds bounds the descriptors select() looks at (0 means
 * none), and three empty sets with a timeout are a portable sleep. There is no overlapped
 * attribute: O_NONBLOCK is the only mode.
 */
static int select_details(int argc, char **argv, const char *self) {
  int sv[2], rc, e;
  fd_set set;
  struct timeval tv;
  double t0;
  (void)argc;
  (void)argv;
  (void)self;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return quirk_fail("socketpair", "%s", errno_name(errno));
  if (write(sv[1], "x", 1) != 1) return quirk_fail("write", "%s", errno_name(errno));

  quirk_side("info", "select(nfds = 0, {a socket with a byte to read}, 500 ms)");
  FD_ZERO(&set);
  FD_SET(sv[0], &set);
  tv.tv_sec = 0;
  tv.tv_usec = 500000;
  t0 = now_ms();
  rc = select(0, &set, NULL, NULL, &tv);
  quirk_say("returned %d after %.0f ms: nfds 0 means no descriptor is looked at", rc, now_ms() - t0);
  quirk_value("nfds0_result", "%d", rc);

  quirk_side("info", "select(0, NULL, NULL, NULL, 100 ms): no descriptor at all");
  tv.tv_sec = 0;
  tv.tv_usec = 100000;
  t0 = now_ms();
  rc = select(0, NULL, NULL, NULL, &tv);
  e = rc < 0 ? errno : 0;
  quirk_say("returned %d after %.0f ms%s%s", rc, now_ms() - t0, rc < 0 ? ": " : ": a sleep", rc < 0 ? errno_name(e) : "");
  quirk_value("empty_sets_result", "%d", rc);
  quirk_value("empty_sets_error", "%s", rc < 0 ? errno_name(e) : "none");

  quirk_side("info", "overlapped vs non-blocking");
  quirk_say("POSIX has no overlapped attribute: O_NONBLOCK (fcntl) is the only mode a descriptor has");
  (void)close(sv[0]);
  (void)close(sv[1]);
  return 0;
}

/*
 * article-bugs, the POSIX side: two slips of the article's C parent, run for real. A read
 * end at end of stream that is never closed stays "readable" for ever, so select() returns
 * at once, again and again (a busy loop); and a select() interrupted by SIGCHLD returns -1
 * with EINTR, which a loop that treats every -1 as fatal takes for a failure.
 */
static void on_child(int sig) { (void)sig; }

static int article_bugs(int argc, char **argv, const char *self) {
  int sv[2], rc, e, rounds = 0;
  fd_set set;
  struct timeval tv;
  struct sigaction sa, old;
  double t0;
  pid_t pid;
  char byte;
  (void)argc;
  (void)argv;
  (void)self;

  quirk_side("wrong", "a read end at end of stream, left open and left in the set");
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return quirk_fail("socketpair", "%s", errno_name(errno));
  (void)close(sv[1]);
  t0 = now_ms();
  while (now_ms() - t0 < 100) {
    FD_ZERO(&set);
    FD_SET(sv[0], &set);
    tv.tv_sec = 1;
    tv.tv_usec = 0;
    rc = select(sv[0] + 1, &set, NULL, NULL, &tv);
    if (rc != 1 || read(sv[0], &byte, 1) != 0) return quirk_fail("select/read at EOF", "select %d, %s", rc, errno_name(errno));
    rounds++;
  }
  quirk_say("in 100 ms, select() (timeout 1 s) returned at once %d times, and each read() returned 0: a busy loop", rounds);
  quirk_value("eof_rounds_100ms", "%d", rounds);
  (void)close(sv[0]);

  quirk_side("wrong", "select() while a child exits: SIGCHLD interrupts it");
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return quirk_fail("socketpair", "%s", errno_name(errno));
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_child; /* no SA_RESTART; select() is never restarted anyway */
  if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGCHLD, &sa, &old) != 0) return quirk_fail("sigaction", "%s", errno_name(errno));
  pid = fork();
  if (pid < 0) return quirk_fail("fork", "%s", errno_name(errno));
  if (pid == 0) {
    sleep_ms(50);
    _exit(0);
  }
  FD_ZERO(&set);
  FD_SET(sv[0], &set);
  tv.tv_sec = 5;
  tv.tv_usec = 0;
  t0 = now_ms();
  rc = select(sv[0] + 1, &set, NULL, NULL, &tv);
  e = rc < 0 ? errno : 0;
  quirk_say("select() with nothing to read (timeout 5 s) returned %d after %.0f ms%s%s", rc, now_ms() - t0, rc < 0 ? ": " : "",
            rc < 0 ? errno_name(e) : "");
  quirk_value("sigchld_select", "%s", rc < 0 ? errno_name(e) : "no error");
  {
    int status;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) return quirk_fail("waitpid", "%s", errno_name(errno));
    }
  }
  (void)sigaction(SIGCHLD, &old, NULL);
  (void)close(sv[0]);
  (void)close(sv[1]);
  quirk_side("right", "what the project does");
  quirk_say("parent/relay-select.ts closes a read end at its first end of stream and drops it from the set; c/select.c turns EINTR into \"nothing ready\"");
  return 0;
}

/*
 * redirect-std: for an API that takes no std handles (system(), a library's spawn), the
 * only way to give a child a socket as stdout is to make it the parent's own fd 1 for a
 * while: save fd 1 (dup), dup2 the socket onto it, start the child, restore. Meanwhile
 * everything the parent itself writes to fd 1 goes to the child's socket too. The right
 * way, where the API allows it, hands the socket to the child only (a dup2 file action).
 */
#define REDIRECT_PARENT_LINE "parent: its own line, written while the child was being started\n"

/* Everything that arrives on fd until end of stream (at most cap - 1 bytes kept). */
static int read_all(int fd, char *buf, size_t cap) {
  size_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buf + total, cap - 1 - total);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0 || total + (size_t)n >= cap - 1) {
      total += (size_t)(n > 0 ? n : 0);
      break;
    }
    total += (size_t)n;
  }
  buf[total] = '\0';
  return (int)total;
}

static int redirect_run(const char *self, int by_dup2_of_own_fd1, const char *key) {
  int sv[2], saved = -1, rc, status;
  pid_t pid;
  char got[4096];
  char *args[] = {(char *)self, (char *)"sleep-child", (char *)"0", (char *)"0", NULL};
  posix_spawn_file_actions_t fa;
  char k[48];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return quirk_fail("socketpair", "%s", errno_name(errno));
  if (fflush(stdout) != 0) return quirk_fail("fflush", "%s", errno_name(errno));
  if (by_dup2_of_own_fd1) {
    /* The parent's own fd 1 becomes the socket; the child inherits fd 1 as it is. */
    saved = fcntl(1, F_DUPFD_CLOEXEC, 3);
    if (saved < 0 || dup2(sv[1], 1) < 0) return quirk_fail("dup/dup2", "%s", errno_name(errno));
    rc = posix_spawn(&pid, self, NULL, NULL, args, environ);
  } else {
    rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
    if (rc == 0) rc = posix_spawn(&pid, self, &fa, NULL, args, environ);
    (void)posix_spawn_file_actions_destroy(&fa);
  }
  /* The parent writes a line of its own while the child runs. */
  if (write(1, REDIRECT_PARENT_LINE, sizeof REDIRECT_PARENT_LINE - 1) < 0) return quirk_fail("write", "%s", errno_name(errno));
  if (by_dup2_of_own_fd1 && (dup2(saved, 1) < 0 || close(saved) != 0)) return quirk_fail("restore fd 1", "%s", errno_name(errno));
  (void)close(sv[1]);
  if (rc != 0) return quirk_fail("posix_spawn", "%s", errno_name(rc));
  if (read_all(sv[0], got, sizeof got) < 0) return quirk_fail("read", "%s", errno_name(errno));
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return quirk_fail("waitpid", "%s", errno_name(errno));
  }
  (void)close(sv[0]);
  quirk_say("the child's socket received: %s%s", strstr(got, "sleep-child") ? "the child's line" : "no line from the child",
            strstr(got, "parent: its own line") ? ", and the parent's own line" : ", nothing of the parent's");
  (void)snprintf(k, sizeof k, "%s_child_in_socket", key);
  quirk_value(k, "%s", strstr(got, "sleep-child") ? "yes" : "no");
  (void)snprintf(k, sizeof k, "%s_parent_in_socket", key);
  quirk_value(k, "%s", strstr(got, "parent: its own line") ? "yes" : "no");
  return 0;
}

static int redirect_std(int argc, char **argv, const char *self) {
  (void)argc;
  (void)argv;
  quirk_side("wrong", "dup2 the socket onto the parent's own fd 1, spawn with no file actions, restore");
  if (redirect_run(self, 1, "own") != 0) return 1;
  quirk_side("right", "give the socket to the child only: a dup2 file action (STARTUPINFO on Windows)");
  quirk_say("(the parent's own line below went to the parent's real stdout)");
  if (redirect_run(self, 0, "child_only") != 0) return 1;
  return 0;
}

/*
 * order-child MODE LINES GAP_MS: LINES lines alternating "out K" on stdout and "err K" on
 * stderr, GAP_MS apart, through stdio with its default buffering (MODE stdio: stdout fully
 * buffered when it is not a terminal, stderr never fully buffered), or with fflush after
 * every line (MODE flush). stdout goes through fwrite, as in stdio-child, so that Wine's
 * printf, which flushes at each newline, cannot hide the buffering.
 */
static int order_child(int argc, char **argv, const char *self) {
  const char *mode = argc > 0 ? argv[0] : "";
  long lines = argc > 1 ? parse_long(argv[1], -1) : -1, gap = argc > 2 ? parse_long(argv[2], -1) : -1, i;
  int flush = strcmp(mode, "flush") == 0;
  (void)self;
  if ((!flush && strcmp(mode, "stdio") != 0) || lines < 0 || gap < 0) return quirk_fail("order-child", "usage: order-child stdio|flush LINES GAP_MS");
  for (i = 1; i <= lines; i++) {
    char line[64];
    int n = snprintf(line, sizeof line, "%s %ld pid %ld\n", i % 2 ? "out" : "err", i, (long)getpid());
    if (n <= 0) return 3;
    if (i % 2) {
      if (fwrite(line, 1, (size_t)n, stdout) != (size_t)n) return 3;
      if (flush && fflush(stdout) != 0) return 3;
    } else if (fputs(line, stderr) == EOF) {
      return 3;
    }
    if (gap > 0) sleep_ms(gap);
  }
  return fflush(stdout) == 0 ? 0 : 3;
}


/* ------------------------------------------- master-keeps-copy (issue 12) ---- */

/* `serve-once FD` (helper worker): writes its banner on the inherited socket FD, closes it
 * and exits: the worker of a one-connection handoff. */
static int serve_once(int argc, char **argv, const char *self) {
  char line[64];
  int fd, n;
  (void)self;
  if (argc < 1) return quirk_fail("serve-once", "usage: serve-once FD");
  fd = atoi(argv[0]);
  n = snprintf(line, sizeof line, "worker %ld served this connection\n", (long)getpid());
  if (write(fd, line, (size_t)n) != n) return quirk_fail("serve-once", "write to fd %d: %s", fd, strerror(errno));
  if (close(fd) != 0) return quirk_fail("serve-once", "close: %s", strerror(errno));
  return 0;
}

/* A connected client and the master's accepted end, over 127.0.0.1, both close-on-exec. */
static int tcp_connection(int *client, int *accepted) {
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return quirk_fail("socket", "%s", strerror(errno));
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 1) != 0 ||
      getsockname(listener, (struct sockaddr *)&addr, &len) != 0)
    return quirk_fail("bind/listen/getsockname", "%s", strerror(errno));
  *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (*client < 0 || connect(*client, (struct sockaddr *)&addr, sizeof addr) != 0) return quirk_fail("connect", "%s", strerror(errno));
  *accepted = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  if (*accepted < 0) return quirk_fail("accept4", "%s", strerror(errno));
  (void)close(listener);
  return 0;
}

/* Reads the client end until EOF or until nothing arrived for quiet_ms: the bytes read (into
 * buf, NUL-terminated) and whether EOF was seen. */
static int client_reads(int fd, char *buf, size_t cap, int quiet_ms, int *eof) {
  size_t total = 0;
  *eof = 0;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t n;
    if (poll(&p, 1, quiet_ms) <= 0) break;
    n = read(fd, buf + total, cap - 1 - total);
    if (n <= 0) {
      *eof = n == 0;
      break;
    }
    total += (size_t)n;
    if (total == cap - 1) break;
  }
  buf[total] = '\0';
  return (int)total;
}

/* One handoff: the worker inherits the accepted socket (exec'd, as in the FAQ's technique),
 * serves and closes it; the master closes its own copy after the spawn unless `keep`. */
static int handoff_once(const char *self, int keep, const char *prefix) {
  enum { QUIET_MS = 1000 };
  int client = -1, conn = -1, eof, status;
  char buf[256], num[16], key[64];
  pid_t pid;
  if (tcp_connection(&client, &conn) != 0) return 1;
  snprintf(num, sizeof num, "%d", conn);
  if (fflush(stdout) != 0) return quirk_fail("fflush", "%s", strerror(errno));
  pid = fork();
  if (pid < 0) return quirk_fail("fork", "%s", strerror(errno));
  if (pid == 0) {
    /* Inheritable in the child only: the master's copy stays close-on-exec. */
    if (fcntl(conn, F_SETFD, 0) != 0) _exit(126);
    execl(self, self, "serve-once", num, (char *)NULL);
    _exit(127);
  }
  if (!keep) (void)close(conn);
  if (waitpid(pid, &status, 0) != pid) return quirk_fail("waitpid", "%s", strerror(errno));
  quirk_say("the worker (pid %ld) served and closed its copy: exit status %d", (long)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  client_reads(client, buf, sizeof buf, QUIET_MS, &eof);
  buf[strcspn(buf, "\n")] = '\0';
  quirk_say("the client read \"%s\", then %s", buf, eof ? "EOF" : "nothing for 1000 ms: no EOF");
  snprintf(key, sizeof key, "%s_banner", prefix);
  quirk_value(key, "%s", strstr(buf, "served this connection") != NULL ? "yes" : "no");
  snprintf(key, sizeof key, "%s_eof", prefix);
  quirk_value(key, "%s", eof ? "yes" : "no");
  if (keep) {
    (void)close(conn);
    client_reads(client, buf, sizeof buf, 5000, &eof);
    quirk_say("the master closes its copy: the client %s", eof ? "sees EOF at once" : "still sees no EOF");
    snprintf(key, sizeof key, "%s_eof_after_master_close", prefix);
    quirk_value(key, "%s", eof ? "yes" : "no");
  }
  (void)close(client);
  return 0;
}

/* master-keeps-copy: a socket handed to a worker stays open while the master keeps its copy. */
static int master_keeps_copy(int argc, char **argv, const char *self) {
  (void)argc, (void)argv;
  quirk_side("wrong", "the master keeps its copy of the handed-over socket");
  if (handoff_once(self, 1, "kept") != 0) return 1;
  quirk_side("right", "the master closes its copy once the worker has it");
  if (handoff_once(self, 0, "closed") != 0) return 1;
  quirk_note("the connection ends when its last descriptor closes, in any process: the worker's close only drops one of two.");
  return 0;
}

const struct quirk_command QUIRK_COMMANDS_BOTH[] = {
  {"nonblocking-mode", "fcntl(F_GETFL) where F_SETFL was meant; FIONBIO's value", nonblocking_mode},
  {"inherited-write-end", "[B_MS] another child's inherited write end delays EOF", inherited_write_end},
  {"fd-setsize", "FD_SETSIZE limits descriptor numbers; poll() beyond", fd_setsize},
  {"zombies-and-sigpipe", "zombies until waitpid; SIGPIPE vs EPIPE", zombies_and_sigpipe},
  {"stdio-child", "helper: full|flush|unbuffered LINES GAP_MS, lines through stdio", stdio_child},
  {"sleep-child", "helper: MS [CODE], one line, sleep, exit CODE", sleep_child},
  {"order-child", "helper: stdio|flush LINES GAP_MS, stdout and stderr lines alternating", order_child},
  {"select-details", "nfds bounds the descriptors; three empty sets sleep", select_details},
  {"article-bugs", "EOF left in the set: a busy loop; SIGCHLD: select() fails with EINTR", article_bugs},
  {"redirect-std", "the parent's own fd 1 redirected to start a child vs a dup2 file action", redirect_std},
  {"master-keeps-copy", "the master's copy of a handed-over socket keeps it open after the worker closes it", master_keeps_copy},
  {"serve-once", "helper: FD, writes a banner on socket FD and closes it", serve_once},
  {NULL, NULL, NULL},
};
