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
 * POSIX only for now.
 */
#define _GNU_SOURCE
#include "ipc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* stdout and stderr are socket pairs to the master's relay: one write per line keeps
 * lines whole. */
static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *fmt, ...) {
  char line[512];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = (int)sizeof line - 1;
  (void)write_all(fd, line, (size_t)n);
}

static unsigned peer_port(int conn) {
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  if (getpeername(conn, (struct sockaddr *)&peer, &len) != 0) {
    say(2, "getpeername: %s\n", strerror(errno));
    return 0;
  }
  return ntohs(peer.sin_port);
}

/* Echoes the client's bytes with `PID: ` in front of every line, byte for byte; a last
 * line without its newline gets one. Returns the number of lines, or -1. */
/* Appends to out (flushing it to conn when full). The reply to one read goes out in one
 * write where it fits: a prefix and its line written separately meet Nagle's algorithm and
 * the client's delayed ACK, some 40 ms per line on loopback (seen in the bench's W5). */
static int put(int conn, char *out, size_t cap, size_t *len, const char *data, size_t n) {
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

static long echo_lines(int conn, const char *prefix, size_t prefix_len) {
  char buf[16384], out[32768];
  size_t out_len = 0;
  int at_line_start = 1;
  long lines = 0;
  for (;;) {
    ssize_t n = read(conn, buf, sizeof buf);
    size_t at = 0;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      say(2, "read: %s\n", strerror(errno));
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

/* One connection, start to end; the descriptor is closed here, so the client sees end of
 * file as soon as this worker is done (if nobody else holds a copy). */
static void serve(int conn) {
  char banner[96], prefix[32];
  unsigned port = peer_port(conn);
  long lines;
  int n = snprintf(banner, sizeof banner, "worker %ld serving 127.0.0.1:%u\n", (long)getpid(), port);
  int p = snprintf(prefix, sizeof prefix, "%ld: ", (long)getpid());
  int one = 1;
  /* A line protocol: each reply should leave at once. With Nagle's algorithm a reply
   * written while the banner is still unacknowledged waits for the client's delayed ACK,
   * some 40 ms per connection on loopback (the bench's W5 saw it; Node's sockets set
   * TCP_NODELAY themselves). */
  if (setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    say(2, "setsockopt(TCP_NODELAY) for 127.0.0.1:%u: %s\n", port, strerror(errno));
  if (write_all(conn, banner, (size_t)n) < 0) {
    say(2, "writing the banner to 127.0.0.1:%u: %s\n", port, strerror(errno));
    lines = -1;
  } else {
    lines = echo_lines(conn, prefix, (size_t)p);
  }
  if (close(conn) != 0) say(2, "close: %s\n", strerror(errno));
  if (lines >= 0) say(1, "served 127.0.0.1:%u (%ld lines)\n", port, lines);
  else say(2, "connection from 127.0.0.1:%u ended with an error\n", port);
}

/* The libuv guide's worker loop: each message on the channel brings one connection. */
static int serve_channel(int channel) {
  ipc_error err;
  for (;;) {
    char byte;
    ipc_fd fd;
    long n;
    memset(&err, 0, sizeof err);
    n = ipc_recv_fd(channel, &byte, 1, &fd, &err);
    if (n == 0) return 0; /* the master closed the channel: no more work */
    if (n < 0) {
      say(2, "%s\n", err.message);
      if (strcmp(err.code, "EMSGSIZE") == 0) continue; /* that connection is lost, not the channel */
      return 1;
    }
    if (fd == IPC_NO_FD) {
      say(2, "a message without a descriptor on the channel\n");
      continue;
    }
    serve(fd);
  }
}

static int parse_fd(const char *s, int *fd) {
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || end == s || v < 0 || v > 1 << 20) return -1;
  *fd = (int)v;
  return 0;
}

int main(int argc, char **argv) {
  int fd;
  /* A client that closes early must cost this worker a failed write, not its life. */
  signal(SIGPIPE, SIG_IGN);
  if (argc == 3 && parse_fd(argv[2], &fd) == 0) {
    if (strcmp(argv[1], "--socket") == 0) {
      serve(fd);
      return 0;
    }
    if (strcmp(argv[1], "--channel") == 0) return serve_channel(fd);
  }
  say(2, "usage: worker --socket N | --channel N\n");
  return 2;
}
