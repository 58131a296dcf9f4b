/*
 * select_posix.c - waiting for readable descriptors on POSIX: select() as in the article
 * while every descriptor is below FD_SETSIZE, poll() beyond.
 *
 * POSIX select() takes descriptor *values* below FD_SETSIZE (1024 on Linux); FD_SET with a
 * larger one writes past the fd_set. A parent with 500 children holds 1,000 read ends, so
 * its descriptor numbers pass 1024 long before select() could be asked to watch 1,024 of
 * them. poll() has no such limit and reports the same readiness.
 */
#include "ipc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

static int fits_select(const ipc_fd *fds, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (fds[i] < 0 || fds[i] >= FD_SETSIZE) return 0;
  return 1;
}

static int poll_readable(const ipc_fd *fds, size_t n, int timeout_ms, unsigned char *ready, ipc_error *err) {
  struct pollfd *p = calloc(n, sizeof *p);
  size_t i;
  int rc, count = 0;
  if (p == NULL) return ipc_fail(err, "ENOMEM", "calloc", "out of memory");
  for (i = 0; i < n; i++) {
    p[i].fd = fds[i];
    p[i].events = POLLIN;
  }
  rc = poll(p, (nfds_t)n, timeout_ms < 0 ? -1 : timeout_ms);
  if (rc < 0) {
    int e = errno;
    free(p);
    if (e == EINTR) {
      memset(ready, 0, n);
      return 0;
    }
    return ipc_fail_errno(err, e, "poll");
  }
  for (i = 0; i < n; i++) {
    /* POLLHUP and POLLERR make a read return 0 or the error: as good as readable. */
    ready[i] = (unsigned char)((p[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0);
    if (p[i].revents & POLLNVAL) {
      free(p);
      return ipc_fail(err, "EBADF", "poll", "poll() was given descriptor %d, which is not open", (int)fds[i]);
    }
    count += ready[i];
  }
  free(p);
  return count;
}

int ipc_wait_readable(const ipc_fd *fds, size_t n, int timeout_ms, unsigned char *ready, ipc_error *err) {
  if (fits_select(fds, n)) return ipc_select(fds, n, timeout_ms, ready, err);
  return poll_readable(fds, n, timeout_ms, ready, err);
}
