/*
 * errors_posix.c - on POSIX every failure is reported through errno, sockets included.
 */
#include "ipc.h"

#include <errno.h>

int ipc_fail_socket(ipc_error *err, const char *syscall) {
  return ipc_fail_errno(err, errno, syscall);
}

int ipc_fail_system(ipc_error *err, const char *syscall) {
  return ipc_fail_errno(err, errno, syscall);
}
