/*
 * select.c - the article's multiplexer: one select() over every read end.
 *
 * The same code serves POSIX and Windows; the two differ only in what select() accepts
 * (any descriptor below FD_SETSIZE on POSIX, at most FD_SETSIZE sockets on Windows), which
 * ipc_select_check enforces before FD_SET can overrun the set.
 */
#include "ipc.h"

#include <string.h>

int ipc_select(const ipc_fd *fds, size_t n, int timeout_ms, unsigned char *ready, ipc_error *err) {
  fd_set readable, failed;
  struct timeval tv, *timeout = NULL;
  size_t i;
  int nfds = 0, rc, count = 0;

  if (ipc_select_check(fds, n, err) < 0) return -1;
  FD_ZERO(&readable);
  FD_ZERO(&failed);
  for (i = 0; i < n; i++) {
    FD_SET(fds[i], &readable);
    /* Windows reports some failures only in the exception set. */
    FD_SET(fds[i], &failed);
    if ((int)fds[i] + 1 > nfds) nfds = (int)fds[i] + 1; /* ignored by Windows */
  }
  if (timeout_ms >= 0) {
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    timeout = &tv;
  }
  rc = select(nfds, &readable, NULL, &failed, timeout);
  if (rc < 0) {
    /* A signal arrived (POSIX EINTR): report "nothing ready" and let the caller loop. */
    if (ipc_select_failed(err) == 0) {
      memset(ready, 0, n);
      return 0;
    }
    return -1;
  }
  for (i = 0; i < n; i++) {
    ready[i] = (unsigned char)(FD_ISSET(fds[i], &readable) || FD_ISSET(fds[i], &failed));
    count += ready[i];
  }
  return count;
}
