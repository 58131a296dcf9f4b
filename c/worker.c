/*
 * worker.c - the C worker of the handoff demo (docs/handoff.md); child/worker.ts is the
 * TypeScript one, with the same contract:
 *
 *   worker --socket N    (inherit, the Winsock FAQ) serve the connection inherited as
 *                        descriptor N, then exit 0;
 *   worker --channel N   (send, the libuv guide) receive connections over the socket pair
 *                        end N, one SCM_RIGHTS message each, until the master closes it.
 *
 * Per connection: `worker PID serving 127.0.0.1:CLIENTPORT\n` to the client (its port
 * from getpeername), then every line it sends back as `PID: LINE\n` until it closes; one
 * line on stdout per connection, problems on stderr. Connections are served one after
 * another: enough for a demo whose master spreads connections over several workers.
 *
 * On Windows (the fenced parts below) N is a SOCKET: --channel rebuilds each SOCKET from
 * the WSAPROTOCOL_INFOW the master wrote (c/fdpass_win.c); --socket N is the SOCKET
 * inherited through CreateProcess's handle list, claimed for this process where Winsock
 * refuses it as it is (ipc_claim_inherited in c/fdpass_win.c says when and why).
 */
#define _GNU_SOURCE
#include "ipc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- the platform's sockets and std streams ---------- */
#ifdef _WIN32
typedef SOCKET conn_t;
#  ifdef _MSC_VER
typedef long ssize_t; /* mingw-w64 has it; MSVC does not */
#  endif
#  define STDOUT_NO 1
#  define STDERR_NO 2
static ssize_t conn_read(conn_t c, void *buf, size_t len) { return recv(c, buf, (int)len, 0); }
static ssize_t conn_write(conn_t c, const void *buf, size_t len) { return send(c, buf, (int)len, 0); }
static int conn_close(conn_t c) { return closesocket(c); }
static long my_pid(void) { return (long)GetCurrentProcessId(); }
/* Winsock errors are not errno values: the number, as WSAGetLastError gives it. */
static const char *last_error(void) {
  static char text[32];
  snprintf(text, sizeof text, "Winsock error %d", WSAGetLastError());
  return text;
}
/* stdout and stderr are the relay's sockets (STARTF_USESTDHANDLES); WriteFile works on a
 * non-overlapped socket handle. */
static ssize_t std_write(int which, const void *buf, size_t len) {
  DWORD done = 0;
  HANDLE h = GetStdHandle(which == STDERR_NO ? STD_ERROR_HANDLE : STD_OUTPUT_HANDLE);
  if (!WriteFile(h, buf, (DWORD)len, &done, NULL)) return -1;
  return (ssize_t)done;
}
#else
#  include <arpa/inet.h>
#  include <netinet/in.h>
#  include <netinet/tcp.h>
#  include <signal.h>
#  include <sys/socket.h>
#  include <unistd.h>
typedef int conn_t;
#  define STDOUT_NO 1
#  define STDERR_NO 2
static ssize_t conn_read(conn_t c, void *buf, size_t len) { return read(c, buf, len); }
static ssize_t conn_write(conn_t c, const void *buf, size_t len) { return write(c, buf, len); }
static int conn_close(conn_t c) { return close(c); }
static long my_pid(void) { return (long)getpid(); }
static const char *last_error(void) { return strerror(errno); }
static ssize_t std_write(int which, const void *buf, size_t len) { return write(which, buf, len); }
#endif

static int write_all(conn_t fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = conn_write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* stdout and stderr are socket pairs to the master's relay: one write per line keeps
 * lines whole. */
static void say(int which, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int which, const char *fmt, ...) {
  char line[512];
  va_list ap;
  int n;
  size_t at = 0;
  va_start(ap, fmt);
  n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = (int)sizeof line - 1;
  while (at < (size_t)n) {
    ssize_t w = std_write(which, line + at, (size_t)n - at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    at += (size_t)w;
  }
}

static unsigned peer_port(conn_t conn) {
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  if (getpeername(conn, (struct sockaddr *)&peer, &len) != 0) {
    say(STDERR_NO, "getpeername: %s\n", last_error());
    return 0;
  }
  return ntohs(peer.sin_port);
}

/* Appends to out, flushing it to conn when full. The reply to one read goes out in one
 * write where it fits: a prefix and its line written separately are two small segments. */
static int put(conn_t conn, char *out, size_t cap, size_t *len, const char *data, size_t n) {
  while (n > 0) {
    size_t room = cap - *len, take = n < room ? n : room;
    memcpy(out + *len, data, take);
    *len += take;
    data += take;
    n -= take;
    if (*len == cap) {
      if (write_all(conn, out, *len) < 0) return -1;
      *len = 0;
    }
  }
  return 0;
}

/* Echoes the client's bytes with `PID: ` in front of every line, byte for byte; a last
 * line without its newline gets one. Returns the number of lines, or -1. */
static long echo_lines(conn_t conn, const char *prefix, size_t prefix_len) {
  char buf[16384], out[32768];
  size_t out_len = 0;
  int at_line_start = 1;
  long lines = 0;
  for (;;) {
    ssize_t n = conn_read(conn, buf, sizeof buf);
    size_t at = 0;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      say(STDERR_NO, "read: %s\n", last_error());
      return -1;
    }
    if (n == 0) break;
    while (at < (size_t)n) {
      char *nl = memchr(buf + at, '\n', (size_t)n - at);
      size_t piece = nl ? (size_t)(nl - (buf + at)) + 1 : (size_t)n - at;
      if (at_line_start && put(conn, out, sizeof out, &out_len, prefix, prefix_len) < 0) return -1;
      if (put(conn, out, sizeof out, &out_len, buf + at, piece) < 0) return -1;
      at_line_start = nl != NULL;
      if (nl) lines++;
      at += piece;
    }
    if (out_len > 0 && write_all(conn, out, out_len) < 0) return -1;
    out_len = 0;
  }
  if (!at_line_start) {
    if (write_all(conn, "\n", 1) < 0) return -1;
    lines++;
  }
  return lines;
}

/* One connection, start to end; the socket is closed here, so the client sees end of
 * file as soon as this worker is done (if nobody else holds a copy). */
static void serve(conn_t conn) {
  char banner[96], prefix[32];
  unsigned port = peer_port(conn);
  long lines;
  int n = snprintf(banner, sizeof banner, "worker %ld serving 127.0.0.1:%u\n", my_pid(), port);
  int p = snprintf(prefix, sizeof prefix, "%ld: ", my_pid());
  int one = 1;
  /* A line protocol: each reply should leave at once. With Nagle's algorithm a reply
   * written while the banner is still unacknowledged waits for the client's delayed ACK:
   * some 40 ms per connection on Linux loopback (the bench's W5 saw it: 100 clients took
   * 2.37 s, 1.7 s with this; Node's sockets set TCP_NODELAY themselves). */
  if (setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one) != 0)
    say(STDERR_NO, "setsockopt(TCP_NODELAY) for 127.0.0.1:%u: %s\n", port, last_error());
  if (write_all(conn, banner, (size_t)n) < 0) {
    say(STDERR_NO, "writing the banner to 127.0.0.1:%u: %s\n", port, last_error());
    lines = -1;
  } else {
    lines = echo_lines(conn, prefix, (size_t)p);
  }
  if (conn_close(conn) != 0) say(STDERR_NO, "close: %s\n", last_error());
  if (lines >= 0) say(STDOUT_NO, "served 127.0.0.1:%u (%ld lines)\n", port, lines);
  else say(STDERR_NO, "connection from 127.0.0.1:%u ended with an error\n", port);
}

/* The libuv guide's worker loop: each message on the channel brings one connection. */
static int serve_channel(conn_t channel) {
  ipc_error err;
  for (;;) {
    char byte;
    ipc_fd fd;
    long n;
    memset(&err, 0, sizeof err);
    n = ipc_recv_fd(channel, &byte, 1, &fd, &err);
    if (n == 0) return 0; /* the master closed the channel: no more work */
    if (n < 0) {
      say(STDERR_NO, "%s\n", err.message);
      if (strcmp(err.code, "EMSGSIZE") == 0) continue; /* that connection is lost, not the channel */
      return 1;
    }
    if (fd == IPC_NO_FD) {
      say(STDERR_NO, "a message without a descriptor on the channel\n");
      continue;
    }
    serve(fd);
  }
}


/* A descriptor (POSIX) or a SOCKET's handle value (Windows), as the master wrote it. */
static int parse_number(const char *s, conn_t *out) {
  char *end;
  unsigned long long v;
  if (*s < '0' || *s > '9') return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > 0x7fffffffULL) return -1;
  *out = (conn_t)v;
  return 0;
}

int main(int argc, char **argv) {
  conn_t fd;
#ifdef _WIN32
  ipc_error err;
  memset(&err, 0, sizeof err);
  if (ipc_io_init(&err) < 0) {
    say(STDERR_NO, "%s\n", err.message);
    return 1;
  }
#else
  /* A client that closes early must cost this worker a failed write, not its life. */
  signal(SIGPIPE, SIG_IGN);
#endif
  if (argc == 3 && parse_number(argv[2], &fd) == 0) {
    if (strcmp(argv[1], "--socket") == 0) {
      ipc_error claim_err;
      if (ipc_claim_inherited(fd, &fd, &claim_err) != 0) {
        say(STDERR_NO, "the inherited socket %s: %s (%s)\n", argv[2], claim_err.message, claim_err.code);
        return 1;
      }
      serve(fd);
      return 0;
    }
    if (strcmp(argv[1], "--channel") == 0) return serve_channel(fd);
  }
  say(STDERR_NO, "usage: worker --socket N | --channel N\n");
  return 2;
}
