/*
 * relay_thread.c - the article's older Windows variant: the child writes to an anonymous
 * pipe, which select() cannot watch on Windows, so a helper thread per stream copies the
 * pipe into a socket pair that select() can. This file holds the copy loop; the threads
 * themselves are started and joined in relay_thread_posix.c / relay_thread_win.c.
 */
#include "relay_thread.h"

#include <string.h>

#define RELAY_BUFFER_BYTES (64 * 1024)

/* Blocking reads from the pipe, blocking writes to the socket: the thread has nothing
 * else to do, and a full socket is exactly when it should wait (backpressure reaches the
 * child through the pipe). Ends at end of stream, or when the parent closed its end. */
void ipc_relay_copy(ipc_relay *r) {
  char buf[RELAY_BUFFER_BYTES];
  r->failed = 0;
  for (;;) {
    long n = ipc_pipe_read(r->pipe_read, buf, sizeof buf, &r->err);
    long off = 0;
    if (n == 0) break;
    if (n < 0) {
      r->failed = 1;
      break;
    }
    while (off < n) {
      long w = ipc_write(r->socket_write, buf + off, (size_t)(n - off), &r->err);
      if (w < 0) {
        /* The parent is gone or closed its read end; closing the pipe makes the child
         * see EPIPE, as it would without the relay. */
        r->failed = 1;
        goto done;
      }
      off += w;
    }
    r->bytes += (uint64_t)n;
  }
done:
  ipc_relay_close_ends(r->pipe_read, r->socket_write);
}

void ipc_relay_close_ends(ipc_fd pipe_read, ipc_fd socket_write) {
  ipc_error ignored;
  (void)ipc_close_pipe(pipe_read, &ignored);
  (void)ipc_close(socket_write, &ignored);
}
