/*
 * child.c - the article's child in C: forever, a line to stdout, a random sleep, a line to
 * stderr, a random sleep, ...
 *
 *   C child pid 4242 writing to stdout before sleeping 2261943 μs.
 *
 * child/child.ts is the same program in TypeScript; both take the same options and print
 * the same bytes (test/children.test.ts runs one suite against both). Usage: see USAGE.
 *
 * Each line reaches the operating system in one write(2) as soon as it exists. stdio's
 * buffering is no help here: on POSIX stdout is fully buffered when it is not a terminal,
 * and on Windows setvbuf(_IOLBF) is refused or behaves as full buffering, so the parent
 * would see lines late and in lumps. One write per line also means a line is never split
 * between two writes, whatever its length.
 */
/* nanosleep and clock_gettime are POSIX, not C11: under -std=c11 the C library declares
 * them only when asked for POSIX.1-2008. (node-gyp's -pthread happened to ask on glibc.)
 * Not on Windows, where mingw-w64 would switch its printf family to its own. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#  define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the platform's part, fenced here ---- */
#ifdef _WIN32
#  include <fcntl.h>
#  include <io.h>
#  include <process.h>
/* GetSystemTimePreciseAsFileTime (for --stamp) is declared from Windows 8 on. */
#  ifndef _WIN32_WINNT
#    define _WIN32_WINNT 0x0602
#  endif
#  include <windows.h>
/* A Windows console shows μ only in a UTF-8 code page; the original child printed "us"
 * there, and so does this build, so that the bytes stay the same on every console. */
#  define MICROSECONDS "us"
#  define getpid _getpid
static long write_some(int fd, const char *p, size_t n) {
  return _write(fd, p, n > 0x40000000 ? 0x40000000u : (unsigned)n);
}
static void sleep_us(uint64_t us) { Sleep((DWORD)(us / 1000)); }
/* Wall-clock microseconds since 1970 for --stamp. The precise variant (Windows 8+): the
 * plain GetSystemTimeAsFileTime ticks every 1-16 ms, coarser than the latency measured. */
static uint64_t now_unix_us(void) {
  FILETIME ft;
  ULARGE_INTEGER t;
  GetSystemTimePreciseAsFileTime(&ft);
  t.LowPart = ft.dwLowDateTime;
  t.HighPart = ft.dwHighDateTime;
  return t.QuadPart / 10 - UINT64_C(11644473600000000); /* 100 ns units since 1601 */
}
static void platform_init(void) {
  /* The C runtime opens fd 1 and 2 in text mode and would turn every \n into \r\n;
   * the parent must receive the bytes the child meant. */
  (void)_setmode(1, _O_BINARY);
  (void)_setmode(2, _O_BINARY);
}
#else
#  include <signal.h>
#  include <unistd.h>
#  define MICROSECONDS "\xce\xbcs" /* μs in UTF-8 */
static long write_some(int fd, const char *p, size_t n) { return (long)write(fd, p, n); }
static void sleep_us(uint64_t us) {
  struct timespec ts;
  ts.tv_sec = (time_t)(us / 1000000);
  ts.tv_nsec = (long)(us % 1000000) * 1000;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}
/* Wall-clock microseconds since 1970 for --stamp: the one clock that a reader in another
 * process (and in another language) can compare with. */
static uint64_t now_unix_us(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
static void platform_init(void) {
  /* The TypeScript child (Node ignores SIGPIPE) sees EPIPE when the reader is gone; this
   * one does the same, so both exit with EXIT_READER_GONE instead of one of them dying
   * of a signal. */
  signal(SIGPIPE, SIG_IGN);
}
#endif
/* ---- end of the platform's part ---- */

#define EXIT_USAGE 2
#define EXIT_READER_GONE 3
#define MAX_LINE_BYTES (256u * 1024 * 1024)
#define MAX_SLEEP_MS 3600000u

static const char USAGE[] =
    "Usage: child_c [options]\n"
    "Writes a line to stdout, sleeps, a line to stderr, sleeps, ... (forever by default).\n"
    "  --lines N          stop after N lines in all (both streams), exit with --exit-code\n"
    "  --max-sleep-ms M   sleep a random time in [0, M) ms after each line (default 3000; 0: none)\n"
    "  --seed S           seed for the sleeps (0..4294967295), for reproducible runs\n"
    "  --line-bytes B     pad (with '.') or cut each line to B bytes including the newline\n"
    "  --streams WHICH    both (default, alternating), stdout or stderr\n"
    "  --seq              append ' seq=K', K counting lines per stream from 1\n"
    "  --stamp            append ' t=U', U the wall clock in microseconds since 1970 just\n"
    "                     before the write (for latency: a reader subtracts it from its own)\n"
    "  --exit-code C      exit status after --lines (0..255, default 0)\n"
    "  --help             this text\n";

typedef struct options {
  int has_lines;
  uint64_t lines;
  uint64_t max_sleep_ms;
  int has_seed;
  uint32_t seed;
  uint64_t line_bytes; /* 0: natural length */
  int to_stdout, to_stderr;
  int seq;
  int stamp;
  int exit_code;
} options;

static void die_usage(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "child_c: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, " (see --help)\n");
  exit(EXIT_USAGE);
}

/* Whole decimal numbers only: "12", not "12abc", "-1", "1e3" or "". */
static uint64_t parse_number(const char *flag, const char *text, uint64_t max) {
  uint64_t v = 0;
  const char *p = text;
  char limit[64];
  if (*p == '\0') die_usage("invalid value for %s: '%s' (expected a whole number)", flag, text);
  for (; *p; p++) {
    if (*p < '0' || *p > '9') die_usage("invalid value for %s: '%s' (expected a whole number)", flag, text);
    if (v > (max - (uint64_t)(*p - '0')) / 10) {
      snprintf(limit, sizeof limit, "%" PRIu64, max);
      fprintf(stderr, "child_c: invalid value for %s: '%s' (at most %s) (see --help)\n", flag, text, limit);
      exit(EXIT_USAGE);
    }
    v = v * 10 + (uint64_t)(*p - '0');
  }
  return v;
}

static void parse_options(int argc, char **argv, options *o) {
  int i;
  memset(o, 0, sizeof *o);
  o->max_sleep_ms = 3000;
  o->to_stdout = o->to_stderr = 1;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (strcmp(a, "--help") == 0) {
      fputs(USAGE, stdout);
      exit(0);
    } else if (strcmp(a, "--seq") == 0) {
      o->seq = 1;
    } else if (strcmp(a, "--stamp") == 0) {
      o->stamp = 1;
    } else if (strcmp(a, "--lines") == 0 || strcmp(a, "--max-sleep-ms") == 0 || strcmp(a, "--seed") == 0 ||
               strcmp(a, "--line-bytes") == 0 || strcmp(a, "--streams") == 0 || strcmp(a, "--exit-code") == 0) {
      const char *v;
      if (!has_value) die_usage("missing value for %s%s", a, "");
      v = argv[++i];
      if (strcmp(a, "--lines") == 0) {
        o->has_lines = 1;
        o->lines = parse_number(a, v, UINT64_C(9007199254740991)); /* JavaScript's safe limit */
      } else if (strcmp(a, "--max-sleep-ms") == 0) {
        o->max_sleep_ms = parse_number(a, v, MAX_SLEEP_MS);
      } else if (strcmp(a, "--seed") == 0) {
        o->has_seed = 1;
        o->seed = (uint32_t)parse_number(a, v, UINT32_MAX);
      } else if (strcmp(a, "--line-bytes") == 0) {
        o->line_bytes = parse_number(a, v, MAX_LINE_BYTES);
        if (o->line_bytes == 0) die_usage("invalid value for %s: '%s' (at least 1: the newline)", a, v);
      } else if (strcmp(a, "--exit-code") == 0) {
        o->exit_code = (int)parse_number(a, v, 255);
      } else if (strcmp(v, "both") == 0) {
        o->to_stdout = o->to_stderr = 1;
      } else if (strcmp(v, "stdout") == 0) {
        o->to_stdout = 1;
        o->to_stderr = 0;
      } else if (strcmp(v, "stderr") == 0) {
        o->to_stdout = 0;
        o->to_stderr = 1;
      } else {
        die_usage("invalid value for %s: '%s' (expected both, stdout or stderr)", a, v);
      }
    } else {
      die_usage("unknown option '%s'%s", a, "");
    }
  }
}

/* xorshift32, the same generator as child/child.ts, so a seed gives both children the
 * same sleeps. A zero state would stay zero, hence the mixing constant. */
static uint32_t rng_state;
static void rng_seed(uint32_t seed) {
  rng_state = seed ^ 0x9e3779b9u;
  if (rng_state == 0) rng_state = 1;
}
static uint32_t rng_next(void) {
  uint32_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return rng_state = x;
}

/* Writes all of a line; returns -1 when the reader is gone. */
static int write_line(int fd, const char *p, size_t n) {
  while (n > 0) {
    long w = write_some(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Builds one line into buf (capacity cap) and returns its length including the newline. */
static size_t format_line(char *buf, size_t cap, long pid, const char *stream, uint64_t sleep_us_value,
                          int seq, uint64_t k, int stamp, uint64_t line_bytes) {
  int n = snprintf(buf, cap, "C child pid %ld writing to %s before sleeping %" PRIu64 " " MICROSECONDS ".", pid,
                   stream, sleep_us_value);
  size_t len = n < 0 ? 0 : (size_t)n;
  if (seq) {
    n = snprintf(buf + len, cap - len, " seq=%" PRIu64, k);
    len += n < 0 ? 0 : (size_t)n;
  }
  if (stamp) {
    n = snprintf(buf + len, cap - len, " t=%" PRIu64, now_unix_us());
    len += n < 0 ? 0 : (size_t)n;
  }
  if (line_bytes > 0) {
    size_t want = (size_t)line_bytes - 1;
    if (len < want) memset(buf + len, '.', want - len);
    len = want;
  }
  buf[len++] = '\n';
  return len;
}

int main(int argc, char **argv) {
  options o;
  char *buf;
  size_t cap;
  uint64_t written = 0, k_out = 0, k_err = 0;
  long pid;
  int to_stdout_next;

  platform_init();
  parse_options(argc, argv, &o);
  pid = (long)getpid();
  rng_seed(o.has_seed ? o.seed : (uint32_t)time(NULL) ^ (uint32_t)pid * 2654435761u);
  cap = (o.line_bytes > 256 ? (size_t)o.line_bytes : 256) + 1;
  buf = malloc(cap);
  if (buf == NULL) {
    fprintf(stderr, "child_c: out of memory for a %zu-byte line\n", cap);
    return 1;
  }
  to_stdout_next = o.to_stdout;
  while (!o.has_lines || written < o.lines) {
    int fd = to_stdout_next ? 1 : 2;
    uint64_t sleep_for = o.max_sleep_ms ? rng_next() % (uint32_t)(o.max_sleep_ms * 1000) : 0;
    uint64_t k = to_stdout_next ? ++k_out : ++k_err;
    size_t len = format_line(buf, cap, pid, to_stdout_next ? "stdout" : "stderr", sleep_for, o.seq, k, o.stamp, o.line_bytes);
    if (write_line(fd, buf, len) < 0) {
      free(buf);
      return EXIT_READER_GONE;
    }
    written++;
    if (sleep_for) sleep_us(sleep_for);
    if (o.to_stdout && o.to_stderr) to_stdout_next = !to_stdout_next;
  }
  free(buf);
  return o.exit_code;
}
