/*
 * select_win.c - waiting for readable sockets on Windows: always select(). Its limit is a
 * count (FD_SETSIZE sockets per set, raised to 1024 in ipc.h), which ipc_select checks;
 * the parent refuses more children than that before starting any.
 */
#include "ipc.h"

int ipc_wait_readable(const ipc_fd *fds, size_t n, int timeout_ms, unsigned char *ready, ipc_error *err) {
  return ipc_select(fds, n, timeout_ms, ready, err);
}
