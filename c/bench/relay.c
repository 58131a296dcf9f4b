/*
 * relay.c - the minimal C relay: the practical limit the benchmark compares every parent
 * with (POSIX; built by scripts/bench.ts into build/bench/relay, never by node-gyp).
 *
 *   relay [--children N] [--pipes] [--serial] [--timing] -- COMMAND [ARGS...]
 *
 * Runs N copies of COMMAND (default 3) and prints what the project's parent prints:
 *   [child PID][info]: LINE      for stdout,   [child PID][error]: LINE   for stderr,
 *   [child PID] exited with code N  /  [child PID] killed by SIGNAL
 * Exit status 0 when every child exited 0, else 1; 2 for bad usage.
 *
 *   --pipes    pipes instead of socket pairs as the children's stdout/stderr
 *   --serial   start the next child only after the previous one was reaped (W3)
 *   --timing   at the end, one line on stderr: relay-timing {"children":N,
 *              "spawn_ns":SUM OF THE SPAWN CALLS,"elapsed_ns":FIRST SPAWN TO LAST REAP}
 *
 * It does what the project's parent does, the plain way, and nothing less:
 *   - socketpair() per stream (close-on-exec), posix_spawnp() with the write ends dup2'd
 *     onto 1 and 2 and /dev/null on 0, the parent closes its copies of the write ends;
 *   - poll() over every open read end; each ready one is read 64 KiB at a time until it
 *     would block (at most 8 reads per round, so one busy child cannot starve the rest);
 *   - lines are split with memchr, labelled, and copied into one output buffer that goes
 *     out with one write() per round (or when it fills): large writes, no per-line call;
 *   - a partial line is held per stream until its newline comes; at end of stream a last
 *     line without newline is printed with one added, as the project does;
 *   - nothing is dropped: stdout is blocking, so a slow reader blocks the relay, which then
 *     stops reading, and the children block on full buffers (backpressure, no queue).
 * Simplification, fine for the benchmark's children and stated here: a child is reaped
 * (blocking waitpid) once both of its streams reached end of file - the project's parent
 * also handles children that close their streams and keep running; these do not.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define READ_BYTES (64 * 1024)
#define MAX_READS_PER_ROUND 8
#define OUT_BYTES (1024 * 1024)
#define MAX_CHILDREN 100000

typedef struct child child;

typedef struct stream {
  int fd; /* -1 once closed */
  child *owner;
  char label[48]; /* "[child 4242][error]: " */
  size_t label_len;
  char *held; /* a partial line waiting for its newline */
  size_t held_len, held_cap;
} stream;

struct child {
  pid_t pid;
  int open_streams;
  int reaped;
  stream streams[2]; /* stdout, stderr */
};

static char out_buf[OUT_BYTES];
static size_t out_len;
static char read_buf[READ_BYTES];

static void die(const char *what) {
  fprintf(stderr, "relay: %s: %s\n", what, strerror(errno));
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) die("clock_gettime");
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write(stdout)");
    }
    p += w;
    n -= (size_t)w;
  }
}

static void flush_out(void) {
  if (out_len == 0) return;
  write_all(out_buf, out_len);
  out_len = 0;
}

/* Appends to the output buffer; a piece larger than the buffer goes out directly. */
static void out_append(const char *p, size_t n) {
  if (n > OUT_BYTES - out_len) {
    flush_out();
    if (n >= OUT_BYTES) {
      write_all(p, n);
      return;
    }
  }
  memcpy(out_buf + out_len, p, n);
  out_len += n;
}

static void hold(stream *s, const char *p, size_t n) {
  if (s->held_len + n > s->held_cap) {
    size_t cap = s->held_cap ? s->held_cap : 256;
    char *bigger;
    while (cap < s->held_len + n) cap *= 2;
    if ((bigger = realloc(s->held, cap)) == NULL) die("realloc");
    s->held = bigger;
    s->held_cap = cap;
  }
  memcpy(s->held + s->held_len, p, n);
  s->held_len += n;
}

/* Splits a chunk into lines: each complete one goes out labelled, the rest is held. */
static void push_chunk(stream *s, const char *p, size_t n) {
  const char *end = p + n, *nl;
  while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
    out_append(s->label, s->label_len);
    if (s->held_len > 0) {
      out_append(s->held, s->held_len);
      s->held_len = 0;
    }
    out_append(p, (size_t)(nl + 1 - p));
    p = nl + 1;
  }
  if (p < end) hold(s, p, (size_t)(end - p));
}

static const char *signal_name(int sig) {
  switch (sig) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGKILL: return "SIGKILL";
    case SIGPIPE: return "SIGPIPE";
    case SIGTERM: return "SIGTERM";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    default: return NULL;
  }
}

/* Blocking: called once both streams are at end of file, i.e. the child is exiting. */
static int reap(child *c) {
  int status, n;
  char line[96];
  while (waitpid(c->pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid");
  }
  c->reaped = 1;
  if (WIFEXITED(status)) {
    n = snprintf(line, sizeof line, "[child %ld] exited with code %d\n", (long)c->pid, WEXITSTATUS(status));
  } else if (signal_name(WTERMSIG(status)) != NULL) {
    n = snprintf(line, sizeof line, "[child %ld] killed by %s\n", (long)c->pid, signal_name(WTERMSIG(status)));
  } else {
    n = snprintf(line, sizeof line, "[child %ld] killed by signal %d\n", (long)c->pid, WTERMSIG(status));
  }
  if (n < 0 || (size_t)n >= sizeof line) die("snprintf");
  out_append(line, (size_t)n);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Close-on-exec from the start, so no child inherits another child's descriptors. The
 * relay is single-threaded, so setting it right after creation leaves no window. */
static void cloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) die("fcntl(FD_CLOEXEC)");
}

static void nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl(O_NONBLOCK)");
}

/* [read end, write end] */
static void make_channel(int use_pipes, int fds[2]) {
  if (use_pipes ? pipe(fds) != 0 : socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) die(use_pipes ? "pipe" : "socketpair");
  cloexec(fds[0]);
  cloexec(fds[1]);
}

static void start_child(child *c, char **command, int use_pipes) {
  int out[2], err[2], i, rc;
  posix_spawn_file_actions_t fa;
  make_channel(use_pipes, out);
  make_channel(use_pipes, err);
  if ((rc = posix_spawn_file_actions_init(&fa)) != 0 ||
      (rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
      (rc = posix_spawn_file_actions_adddup2(&fa, out[1], 1)) != 0 ||
      (rc = posix_spawn_file_actions_adddup2(&fa, err[1], 2)) != 0) {
    errno = rc;
    die("posix_spawn_file_actions");
  }
  /* dup2 clears close-on-exec on the new descriptors 1 and 2 only. */
  if ((rc = posix_spawnp(&c->pid, command[0], &fa, NULL, command, environ)) != 0) {
    errno = rc;
    die(command[0]);
  }
  if ((rc = posix_spawn_file_actions_destroy(&fa)) != 0) {
    errno = rc;
    die("posix_spawn_file_actions_destroy");
  }
  /* The parent's copies of the write ends must go, or end of file never comes. */
  if (close(out[1]) != 0 || close(err[1]) != 0) die("close");
  c->open_streams = 2;
  c->reaped = 0;
  for (i = 0; i < 2; i++) {
    stream *s = &c->streams[i];
    int n;
    s->fd = i == 0 ? out[0] : err[0];
    s->owner = c;
    s->held = NULL;
    s->held_len = s->held_cap = 0;
    nonblocking(s->fd);
    n = snprintf(s->label, sizeof s->label, "[child %ld][%s]: ", (long)c->pid, i == 0 ? "info" : "error");
    if (n < 0 || (size_t)n >= sizeof s->label) die("snprintf");
    s->label_len = (size_t)n;
  }
}

static void end_stream(stream *s) {
  if (s->held_len > 0) {
    out_append(s->label, s->label_len);
    out_append(s->held, s->held_len);
    out_append("\n", 1);
  }
  free(s->held);
  s->held = NULL;
  s->held_len = s->held_cap = 0;
  if (close(s->fd) != 0) die("close");
  s->fd = -1;
  s->owner->open_streams--;
}

/* Reads until the stream would block (or the per-round limit); returns 1 at EOF. */
static int drain(stream *s) {
  int i;
  for (i = 0; i < MAX_READS_PER_ROUND; i++) {
    ssize_t n = read(s->fd, read_buf, sizeof read_buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == ECONNRESET) return 1; /* a reset is an end of stream too */
      die("read");
    }
    if (n == 0) return 1;
    push_chunk(s, read_buf, (size_t)n);
    if ((size_t)n < sizeof read_buf) return 0; /* short read: drained, skip the EAGAIN call */
  }
  return 0;
}

static void usage(const char *msg) {
  fprintf(stderr, "relay: %s\nusage: relay [--children N] [--pipes] [--serial] [--timing] -- COMMAND [ARGS...]\n", msg);
  exit(2);
}

int main(int argc, char **argv) {
  long n_children = 3;
  int use_pipes = 0, serial = 0, timing = 0, all_ok = 1, a;
  char **command = NULL;
  child *children;
  struct pollfd *pfds;
  stream **pstreams;
  long started = 0, reaped = 0, i;
  uint64_t spawn_ns = 0, t_first = 0;

  for (a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--") == 0) {
      if (a + 1 >= argc) usage("'--' must be followed by a command");
      command = argv + a + 1;
      break;
    } else if (strcmp(argv[a], "--children") == 0 && a + 1 < argc) {
      char *end;
      errno = 0;
      n_children = strtol(argv[++a], &end, 10);
      if (errno != 0 || *end != '\0' || n_children < 1 || n_children > MAX_CHILDREN) usage("bad --children");
    } else if (strcmp(argv[a], "--pipes") == 0) use_pipes = 1;
    else if (strcmp(argv[a], "--serial") == 0) serial = 1;
    else if (strcmp(argv[a], "--timing") == 0) timing = 1;
    else usage("unknown option");
  }
  if (command == NULL) usage("missing '-- COMMAND'");
  /* A reader that went away is an error from write(), not a silent death. */
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) die("signal");
  children = calloc((size_t)n_children, sizeof *children);
  pfds = calloc((size_t)n_children * 2, sizeof *pfds);
  pstreams = calloc((size_t)n_children * 2, sizeof *pstreams);
  if (children == NULL || pfds == NULL || pstreams == NULL) die("calloc");

  while (reaped < n_children) {
    nfds_t nfds = 0;
    int ready;
    /* Start children: all at once, or the next one when the previous was reaped. */
    while (started < n_children && (!serial || started == reaped)) {
      uint64_t t = now_ns();
      if (started == 0) t_first = t;
      start_child(&children[started++], command, use_pipes);
      spawn_ns += now_ns() - t;
    }
    for (i = 0; i < started; i++) {
      int k;
      for (k = 0; k < 2; k++) {
        if (children[i].streams[k].fd >= 0) {
          pfds[nfds].fd = children[i].streams[k].fd;
          pfds[nfds].events = POLLIN;
          pfds[nfds].revents = 0;
          pstreams[nfds++] = &children[i].streams[k];
        }
      }
    }
    if (nfds == 0) break; /* cannot happen: an unreaped child has an open stream */
    ready = poll(pfds, nfds, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    for (i = 0; i < (long)nfds && ready > 0; i++) {
      stream *s = pstreams[i];
      if (pfds[i].revents == 0) continue;
      ready--;
      if (pfds[i].revents & POLLNVAL) {
        errno = EBADF;
        die("poll");
      }
      /* POLLHUP/POLLERR with data still queued: read() returns the data, then 0. */
      if (drain(s)) {
        child *c = s->owner;
        end_stream(s);
        if (c->open_streams == 0) {
          all_ok &= reap(c);
          reaped++;
        }
      }
    }
    flush_out(); /* one write per round: lines reach the reader without delay */
  }
  flush_out();
  if (timing) {
    fprintf(stderr, "relay-timing {\"children\":%ld,\"spawn_ns\":%llu,\"elapsed_ns\":%llu}\n", n_children,
            (unsigned long long)spawn_ns, (unsigned long long)(now_ns() - t_first));
  }
  free(children);
  free(pfds);
  free(pstreams);
  return all_ok ? 0 : 1;
}
