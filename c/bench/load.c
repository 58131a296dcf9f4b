/*
 * load.c - the benchmark's C helpers, one binary with four commands (POSIX; built by
 * scripts/bench.ts into build/bench/load, never by node-gyp):
 *
 *   load write --lines N --line-bytes B [--mode line|buffered|stamp] [--interval-ms M]
 *       The load child. Writes N lines of exactly B bytes (newline included), alternating
 *       stdout and stderr, numbered per stream:  "load PID out seq=K ......\n"
 *       line:     one write(2) per line (what a logging child does);
 *       buffered: each stream collects whole lines in a 64 KiB buffer and writes it when
 *                 the next line would not fit (what a stdio-buffered child does);
 *       stamp:    one write per line, a line every M ms (absolute deadlines, so no drift),
 *                 each carrying " t=NANOSECONDS" of CLOCK_MONOTONIC when it was written.
 *
 *   load stamps
 *       The latency reader, placed after the parent: reads the parent's stdout on stdin,
 *       takes CLOCK_MONOTONIC as each read() returns, and for every line with " t=NS"
 *       records arrival - NS. At end of input prints one JSON line:
 *       {"n":..,"p50_us":..,"p99_us":..,"max_us":..,"other":..}
 *       CLOCK_MONOTONIC is one clock for every process on the machine, so the child's
 *       stamp and the reader's arrival time are directly comparable.
 *
 *   load check
 *       The line-count check: reads the parent's output on stdin and proves nothing was
 *       lost, duplicated, reordered, torn or mislabelled. Every "[NAME PID][info]: load
 *       PID out seq=K" must carry the label's PID, info<->out / error<->err, and K one
 *       more than the last K of that (PID, stream). Prints one JSON line:
 *       {"lines":..,"streams":..,"exits":..,"bad_exits":..,"bad":..,"other":..}
 *
 *   load measure --out FILE -- COMMAND [ARGS...]
 *       Runs COMMAND (stdio inherited) and writes to FILE its wall time, its own user and
 *       system CPU time and its peak RSS, as JSON. Why not /usr/bin/time: the rusage that
 *       wait4() returns (and time(1) prints) includes every descendant the command has
 *       reaped - here the load children, whose CPU time would be charged to the parent.
 *       So this waits with waitid(WNOWAIT), which leaves the command a zombie, reads the
 *       zombie's /proc/PID/stat (utime and stime are the process's own; cutime and cstime
 *       are its reaped children's), and only then reaps it. Peak RSS is ru_maxrss from
 *       wait4(): the largest of the command's own high-water mark and its children's,
 *       and the children here are small C programs, so it is the parent's figure.
 *
 * Every return value is checked; a failure is one line on stderr and exit status 1 (2 for
 * bad usage, 3 when the reader went away while writing, as with the project's children).
 */
#define _GNU_SOURCE /* waitid's WNOWAIT and wait4 are in glibc's default set only with this */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_READER_GONE 3
#define BUFFERED_BYTES (64 * 1024)
#define READ_BYTES (64 * 1024)
#define MAX_LINE_BYTES (1024 * 1024)

static void die(const char *what) {
  fprintf(stderr, "load: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage(const char *msg, const char *arg) {
  fprintf(stderr, "load: %s%s%s (usage: see c/bench/load.c)\n", msg, arg ? " " : "", arg ? arg : "");
  exit(EXIT_USAGE);
}

static uint64_t parse_u64(const char *flag, const char *text) {
  uint64_t v = 0;
  const char *p;
  if (text == NULL || *text == '\0') usage("missing or empty value for", flag);
  for (p = text; *p; p++) {
    if (*p < '0' || *p > '9') usage("expected a whole number for", flag);
    if (v > (UINT64_MAX - 9) / 10) usage("number too large for", flag);
    v = v * 10 + (uint64_t)(*p - '0');
  }
  return v;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) die("clock_gettime");
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* All of buf, whatever the kernel takes per call; -1 when the reader is gone (EPIPE). */
static int write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) return -1;
      die("write");
    }
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

/* ------------------------------------------------------------------ load write */

typedef enum { MODE_LINE, MODE_BUFFERED, MODE_STAMP } write_mode;

typedef struct out_stream {
  int fd;
  uint64_t seq;
  char *buf; /* buffered mode: whole lines waiting for one write */
  size_t len;
} out_stream;

static int cmd_write(int argc, char **argv) {
  uint64_t lines = 0, line_bytes = 100, interval_ms = 10, i;
  write_mode mode = MODE_LINE;
  out_stream streams[2] = {{1, 0, NULL, 0}, {2, 0, NULL, 0}};
  static char line[MAX_LINE_BYTES]; /* static: a megabyte is too much for some stacks */
  long pid = (long)getpid();
  uint64_t next_ns;
  int a;

  for (a = 0; a < argc; a++) {
    const char *v = a + 1 < argc ? argv[a + 1] : NULL;
    if (strcmp(argv[a], "--lines") == 0) lines = parse_u64(argv[a], v), a++;
    else if (strcmp(argv[a], "--line-bytes") == 0) line_bytes = parse_u64(argv[a], v), a++;
    else if (strcmp(argv[a], "--interval-ms") == 0) interval_ms = parse_u64(argv[a], v), a++;
    else if (strcmp(argv[a], "--mode") == 0) {
      if (v == NULL) usage("missing value for", argv[a]);
      if (strcmp(v, "line") == 0) mode = MODE_LINE;
      else if (strcmp(v, "buffered") == 0) mode = MODE_BUFFERED;
      else if (strcmp(v, "stamp") == 0) mode = MODE_STAMP;
      else usage("expected line, buffered or stamp for --mode, not", v);
      a++;
    } else usage("unknown option", argv[a]);
  }
  /* Room for the longest prefix "load PID err seq=K t=NS" (< 80 bytes) and the newline. */
  if (line_bytes < 80 || line_bytes > MAX_LINE_BYTES) usage("--line-bytes must be 80..1048576", NULL);
  if (mode == MODE_BUFFERED && line_bytes > BUFFERED_BYTES) usage("--line-bytes above 65536 in buffered mode", NULL);
  /* A reader that went away shows as EPIPE from write(), not as a fatal signal. */
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) die("signal(SIGPIPE)");
  if (mode == MODE_BUFFERED) {
    for (a = 0; a < 2; a++) {
      streams[a].buf = malloc(BUFFERED_BYTES);
      if (streams[a].buf == NULL) die("malloc");
    }
  }
  next_ns = now_ns();
  for (i = 0; i < lines; i++) {
    out_stream *s = &streams[i % 2]; /* even lines to stdout, odd to stderr: half each */
    int n;
    size_t len;
    if (mode == MODE_STAMP) {
      /* Sleep to an absolute deadline: a late wakeup shortens the next wait, no drift. */
      struct timespec ts;
      int rc;
      ts.tv_sec = (time_t)(next_ns / 1000000000u);
      ts.tv_nsec = (long)(next_ns % 1000000000u);
      while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR) {
      }
      if (rc != 0) {
        errno = rc;
        die("clock_nanosleep");
      }
      next_ns += interval_ms * 1000000u;
      n = snprintf(line, sizeof line, "load %ld %s seq=%" PRIu64 " t=%" PRIu64 " ", pid, s->fd == 1 ? "out" : "err",
                   ++s->seq, now_ns());
    } else {
      n = snprintf(line, sizeof line, "load %ld %s seq=%" PRIu64 " ", pid, s->fd == 1 ? "out" : "err", ++s->seq);
    }
    if (n < 0 || (uint64_t)n >= line_bytes) usage("line prefix longer than --line-bytes", NULL);
    len = (size_t)line_bytes;
    memset(line + n, '.', len - 1 - (size_t)n);
    line[len - 1] = '\n';
    if (mode == MODE_BUFFERED) {
      if (s->len + len > BUFFERED_BYTES) {
        if (write_all(s->fd, s->buf, s->len) < 0) return EXIT_READER_GONE;
        s->len = 0;
      }
      memcpy(s->buf + s->len, line, len);
      s->len += len;
    } else if (write_all(s->fd, line, len) < 0) {
      return EXIT_READER_GONE;
    }
  }
  for (a = 0; a < 2; a++) {
    if (streams[a].len > 0 && write_all(streams[a].fd, streams[a].buf, streams[a].len) < 0) return EXIT_READER_GONE;
    free(streams[a].buf);
  }
  return 0;
}

/* ------------------------------------------- line reader shared by stamps and check */

typedef struct line_reader {
  char buf[READ_BYTES];
  char *held; /* a line whose newline has not arrived yet */
  size_t held_len, held_cap;
  uint64_t arrival_ns; /* when the read() that completed the current line returned */
} line_reader;

/* Calls on_line(line, len without newline, ctx) for every line on stdin; a last line
 * without a newline counts too. Lines longer than MAX_LINE_BYTES are passed on cut. */
static void read_lines(line_reader *r, void (*on_line)(const char *, size_t, line_reader *, void *), void *ctx) {
  for (;;) {
    ssize_t n = read(0, r->buf, sizeof r->buf);
    const char *p, *end, *nl;
    if (n < 0) {
      if (errno == EINTR) continue;
      die("read(stdin)");
    }
    r->arrival_ns = now_ns();
    if (n == 0) break;
    p = r->buf;
    end = r->buf + n;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
      if (r->held_len > 0) {
        size_t take = (size_t)(nl - p);
        if (r->held_len + take > r->held_cap) take = r->held_cap - r->held_len;
        memcpy(r->held + r->held_len, p, take);
        on_line(r->held, r->held_len + take, r, ctx);
        r->held_len = 0;
      } else {
        on_line(p, (size_t)(nl - p), r, ctx);
      }
      p = nl + 1;
    }
    if (p < end) {
      size_t take = (size_t)(end - p);
      if (r->held == NULL) {
        r->held_cap = MAX_LINE_BYTES;
        r->held = malloc(r->held_cap);
        if (r->held == NULL) die("malloc");
      }
      if (r->held_len + take > r->held_cap) take = r->held_cap - r->held_len;
      memcpy(r->held + r->held_len, p, take);
      r->held_len += take;
    }
  }
  if (r->held_len > 0) on_line(r->held, r->held_len, r, ctx);
  free(r->held);
}

/* Finds "KEY" in line[0..len) and parses the decimal number after it; -1 if absent. */
static int find_number(const char *line, size_t len, const char *key, uint64_t *out) {
  size_t k = strlen(key), i;
  for (i = 0; i + k <= len; i++) {
    if (memcmp(line + i, key, k) == 0) {
      size_t j = i + k;
      uint64_t v = 0;
      if (j >= len || line[j] < '0' || line[j] > '9') return -1;
      for (; j < len && line[j] >= '0' && line[j] <= '9'; j++) v = v * 10 + (uint64_t)(line[j] - '0');
      *out = v;
      return 0;
    }
  }
  return -1;
}

/* ------------------------------------------------------------------ load stamps */

typedef struct stamps {
  uint64_t *lat;
  size_t n, cap;
  uint64_t other;
} stamps;

static void on_stamp_line(const char *line, size_t len, line_reader *r, void *ctx) {
  stamps *s = ctx;
  uint64_t t;
  if (find_number(line, len, " t=", &t) != 0) {
    s->other++; /* exit lines, anything else */
    return;
  }
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 4096;
    uint64_t *more = realloc(s->lat, cap * sizeof *more);
    if (more == NULL) die("realloc");
    s->lat = more;
    s->cap = cap;
  }
  s->lat[s->n++] = r->arrival_ns > t ? r->arrival_ns - t : 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p of the samples at or below it. */
static double percentile_us(const uint64_t *sorted, size_t n, double p) {
  size_t rank = (size_t)(p * (double)n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return (double)sorted[rank - 1] / 1000.0;
}

static int cmd_stamps(void) {
  static line_reader r;
  stamps s = {NULL, 0, 0, 0};
  read_lines(&r, on_stamp_line, &s);
  if (s.n == 0) {
    printf("{\"n\":0,\"other\":%" PRIu64 "}\n", s.other);
    return 0;
  }
  qsort(s.lat, s.n, sizeof *s.lat, cmp_u64);
  printf("{\"n\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"other\":%" PRIu64 "}\n", s.n,
         percentile_us(s.lat, s.n, 0.50), percentile_us(s.lat, s.n, 0.99), (double)s.lat[s.n - 1] / 1000.0, s.other);
  free(s.lat);
  return fflush(stdout) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------- load check */

/* One (pid, stream): open addressing on the pid; 8192 slots, far above the 600 streams
 * of the largest workload. */
#define CHECK_SLOTS 8192
typedef struct check_slot {
  uint64_t pid; /* 0: free */
  uint64_t last_seq[2];
} check_slot;

typedef struct check {
  check_slot slots[CHECK_SLOTS];
  uint64_t lines, streams, exits, bad_exits, bad, other;
} check;

static check_slot *slot_for(check *c, uint64_t pid) {
  size_t i = (size_t)(pid * 2654435761u) % CHECK_SLOTS, probes;
  for (probes = 0; probes < CHECK_SLOTS; probes++, i = (i + 1) % CHECK_SLOTS) {
    if (c->slots[i].pid == pid) return &c->slots[i];
    if (c->slots[i].pid == 0) {
      c->slots[i].pid = pid;
      return &c->slots[i];
    }
  }
  fprintf(stderr, "load: check: more than %d children\n", CHECK_SLOTS);
  exit(1);
}

static void on_check_line(const char *line, size_t len, line_reader *r, void *ctx) {
  check *c = ctx;
  const char *sp, *close;
  uint64_t label_pid = 0, body_pid = 0, seq = 0;
  size_t i;
  int kind;
  check_slot *slot;
  (void)r;
  /* "[NAME PID]..." */
  if (len < 4 || line[0] != '[' || (close = memchr(line, ']', len)) == NULL ||
      (sp = memchr(line, ' ', (size_t)(close - line))) == NULL) {
    c->other++;
    return;
  }
  for (i = (size_t)(sp - line) + 1; line + i < close; i++) {
    if (line[i] < '0' || line[i] > '9') {
      c->other++;
      return;
    }
    label_pid = label_pid * 10 + (uint64_t)(line[i] - '0');
  }
  i = (size_t)(close - line) + 1;
  if (len - i >= 8 && memcmp(line + i, "[info]: ", 8) == 0) kind = 0, i += 8;
  else if (len - i >= 9 && memcmp(line + i, "[error]: ", 9) == 0) kind = 1, i += 9;
  else if (len - i >= 18 && memcmp(line + i, " exited with code ", 18) == 0) {
    c->exits++;
    if (!(len - i == 19 && line[i + 18] == '0')) c->bad_exits++;
    return;
  } else if (len - i >= 11 && memcmp(line + i, " killed by ", 11) == 0) {
    c->exits++;
    c->bad_exits++;
    return;
  } else {
    c->other++;
    return;
  }
  c->lines++;
  /* "load PID out|err seq=K ..." */
  if (len - i < 5 || memcmp(line + i, "load ", 5) != 0 || find_number(line + i, len - i, "load ", &body_pid) != 0 ||
      body_pid != label_pid || find_number(line + i, len - i, kind == 0 ? " out seq=" : " err seq=", &seq) != 0) {
    c->bad++;
    return;
  }
  slot = slot_for(c, label_pid);
  if (slot->last_seq[kind] == 0 && seq >= 1) c->streams++;
  if (seq != slot->last_seq[kind] + 1) c->bad++;
  slot->last_seq[kind] = seq;
}

static int cmd_check(void) {
  static line_reader r;
  static check c;
  read_lines(&r, on_check_line, &c);
  printf("{\"lines\":%" PRIu64 ",\"streams\":%" PRIu64 ",\"exits\":%" PRIu64 ",\"bad_exits\":%" PRIu64
         ",\"bad\":%" PRIu64 ",\"other\":%" PRIu64 "}\n",
         c.lines, c.streams, c.exits, c.bad_exits, c.bad, c.other);
  return fflush(stdout) == 0 ? 0 : 1;
}

/* ----------------------------------------------------------------- load measure */

/* utime, stime, cutime, cstime (fields 14-17 of /proc/PID/stat), in clock ticks. */
static void proc_times(pid_t pid, uint64_t t[4]) {
  char path[64], buf[4096], *p;
  int fd, field;
  ssize_t n;
  if (snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid) < 0) die("snprintf");
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) die(path);
  n = read(fd, buf, sizeof buf - 1);
  if (n < 0) die(path);
  if (close(fd) != 0) die("close");
  buf[n] = '\0';
  /* The command name (field 2) is in parentheses and may hold spaces: start after the
   * last ')'. Field 3 follows it. */
  if ((p = strrchr(buf, ')')) == NULL) {
    fprintf(stderr, "load: measure: cannot parse %s\n", path);
    exit(1);
  }
  p++;
  for (field = 3; field <= 17; field++) {
    char *end;
    unsigned long long v;
    while (*p == ' ') p++;
    errno = 0;
    v = strtoull(p, &end, 10);
    if (field >= 14) {
      if (end == p || errno != 0) {
        fprintf(stderr, "load: measure: bad field %d in %s\n", field, path);
        exit(1);
      }
      t[field - 14] = v;
    }
    /* Field 3 (the state) is a letter: skip the token whatever it is. */
    while (*p != ' ' && *p != '\0') p++;
  }
}

static int cmd_measure(int argc, char **argv) {
  const char *out_path = NULL;
  char **command = NULL;
  uint64_t t0, t1, times[4];
  long ticks;
  pid_t pid;
  siginfo_t info;
  int status, a;
  struct rusage ru;
  FILE *out;

  for (a = 0; a < argc; a++) {
    if (strcmp(argv[a], "--out") == 0 && a + 1 < argc) out_path = argv[++a];
    else if (strcmp(argv[a], "--") == 0 && a + 1 < argc) {
      command = argv + a + 1;
      break;
    } else usage("measure: expected --out FILE -- COMMAND [ARGS...], got", argv[a]);
  }
  if (out_path == NULL || command == NULL) usage("measure: expected --out FILE -- COMMAND [ARGS...]", NULL);
  if ((ticks = sysconf(_SC_CLK_TCK)) <= 0) die("sysconf(_SC_CLK_TCK)");
  t0 = now_ns();
  pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    execvp(command[0], command);
    fprintf(stderr, "load: measure: cannot run %s: %s\n", command[0], strerror(errno));
    _exit(127);
  }
  /* Wait for the exit but leave a zombie, whose /proc entry still holds its times. */
  for (;;) {
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) == 0) break;
    if (errno != EINTR) die("waitid");
  }
  t1 = now_ns();
  proc_times(pid, times);
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) die("wait4");
  }
  if ((out = fopen(out_path, "w")) == NULL) die(out_path);
  fprintf(out,
          "{\"wall_s\":%.6f,\"user_s\":%.3f,\"sys_s\":%.3f,\"children_user_s\":%.3f,\"children_sys_s\":%.3f,"
          "\"maxrss_kb\":%ld,\"exit_code\":%d,\"signal\":%d}\n",
          (double)(t1 - t0) / 1e9, (double)times[0] / (double)ticks, (double)times[1] / (double)ticks,
          (double)times[2] / (double)ticks, (double)times[3] / (double)ticks, ru.ru_maxrss,
          WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  if (fclose(out) != 0) die(out_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv) {
  if (argc < 2) usage("expected a command: write, stamps, check or measure", NULL);
  if (strcmp(argv[1], "write") == 0) return cmd_write(argc - 2, argv + 2);
  if (strcmp(argv[1], "stamps") == 0 && argc == 2) return cmd_stamps();
  if (strcmp(argv[1], "check") == 0 && argc == 2) return cmd_check();
  if (strcmp(argv[1], "measure") == 0) return cmd_measure(argc - 2, argv + 2);
  usage("unknown command or arguments:", argv[1]);
  return EXIT_USAGE;
}
