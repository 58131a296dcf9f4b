/*
 * errors_win.c - Windows reports socket failures through WSAGetLastError() and every other
 * system failure through GetLastError(), never through errno. This is the one table that
 * turns both into the errno names the rest of the project speaks (compare libuv's
 * uv_translate_sys_error, which does the same job for Node).
 */
#include "ipc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct win_error_name {
  long native;
  const char *native_name;
  const char *code;
} win_error_name;

static const win_error_name kWinErrors[] = {
  /* Winsock (WSAGetLastError) */
  {WSAEINTR, "WSAEINTR", "EINTR"},
  {WSAEBADF, "WSAEBADF", "EBADF"},
  {WSAEACCES, "WSAEACCES", "EACCES"},
  {WSAEFAULT, "WSAEFAULT", "EFAULT"},
  {WSAEINVAL, "WSAEINVAL", "EINVAL"},
  {WSAEMFILE, "WSAEMFILE", "EMFILE"},
  {WSAEWOULDBLOCK, "WSAEWOULDBLOCK", "EAGAIN"},
  {WSAEINPROGRESS, "WSAEINPROGRESS", "EINPROGRESS"},
  {WSAENOTSOCK, "WSAENOTSOCK", "ENOTSOCK"},
  {WSAEMSGSIZE, "WSAEMSGSIZE", "EMSGSIZE"},
  {WSAEPROTONOSUPPORT, "WSAEPROTONOSUPPORT", "EPROTONOSUPPORT"},
  /* Wine answers select() on a pipe handle with this one, where Windows says WSAENOTSOCK. */
  {WSAEOPNOTSUPP, "WSAEOPNOTSUPP", "EOPNOTSUPP"},
  {WSAEAFNOSUPPORT, "WSAEAFNOSUPPORT", "EAFNOSUPPORT"},
  {WSAEADDRINUSE, "WSAEADDRINUSE", "EADDRINUSE"},
  {WSAEADDRNOTAVAIL, "WSAEADDRNOTAVAIL", "EADDRNOTAVAIL"},
  {WSAENETDOWN, "WSAENETDOWN", "ENETDOWN"},
  {WSAECONNABORTED, "WSAECONNABORTED", "ECONNABORTED"},
  {WSAECONNRESET, "WSAECONNRESET", "ECONNRESET"},
  {WSAENOBUFS, "WSAENOBUFS", "ENOBUFS"},
  {WSAENOTCONN, "WSAENOTCONN", "ENOTCONN"},
  {WSAESHUTDOWN, "WSAESHUTDOWN", "EPIPE"},
  {WSAETIMEDOUT, "WSAETIMEDOUT", "ETIMEDOUT"},
  {WSAECONNREFUSED, "WSAECONNREFUSED", "ECONNREFUSED"},
  {WSANOTINITIALISED, "WSANOTINITIALISED", "ENOTINITIALISED"},
  /* Win32 (GetLastError) */
  {ERROR_FILE_NOT_FOUND, "ERROR_FILE_NOT_FOUND", "ENOENT"},
  {ERROR_PATH_NOT_FOUND, "ERROR_PATH_NOT_FOUND", "ENOENT"},
  {ERROR_DIRECTORY, "ERROR_DIRECTORY", "ENOENT"},
  {ERROR_TOO_MANY_OPEN_FILES, "ERROR_TOO_MANY_OPEN_FILES", "EMFILE"},
  {ERROR_ACCESS_DENIED, "ERROR_ACCESS_DENIED", "EACCES"},
  {ERROR_INVALID_HANDLE, "ERROR_INVALID_HANDLE", "EBADF"},
  {ERROR_NOT_ENOUGH_MEMORY, "ERROR_NOT_ENOUGH_MEMORY", "ENOMEM"},
  {ERROR_OUTOFMEMORY, "ERROR_OUTOFMEMORY", "ENOMEM"},
  {ERROR_INVALID_PARAMETER, "ERROR_INVALID_PARAMETER", "EINVAL"},
  {ERROR_BROKEN_PIPE, "ERROR_BROKEN_PIPE", "EPIPE"},
  {ERROR_NO_DATA, "ERROR_NO_DATA", "EPIPE"},
  {ERROR_BAD_EXE_FORMAT, "ERROR_BAD_EXE_FORMAT", "ENOEXEC"},
  {ERROR_FILENAME_EXCED_RANGE, "ERROR_FILENAME_EXCED_RANGE", "ENAMETOOLONG"},
  {ERROR_INVALID_NAME, "ERROR_INVALID_NAME", "ENOENT"},
  {ERROR_NOT_SUPPORTED, "ERROR_NOT_SUPPORTED", "ENOTSUP"},
  {ERROR_CALL_NOT_IMPLEMENTED, "ERROR_CALL_NOT_IMPLEMENTED", "ENOSYS"},
};

static int fail_win(ipc_error *err, long native, const char *syscall) {
  const char *native_name = "UNKNOWN";
  size_t i;
  err->code = "EUNKNOWN";
  for (i = 0; i < sizeof kWinErrors / sizeof kWinErrors[0]; i++) {
    if (kWinErrors[i].native == native) {
      err->code = kWinErrors[i].code;
      native_name = kWinErrors[i].native_name;
      break;
    }
  }
  err->syscall = syscall;
  err->native = native;
  err->path = NULL;
  snprintf(err->message, sizeof err->message, "%s failed: %s (%s, %ld)", syscall, err->code,
           native_name, native);
  return -1;
}

int ipc_fail_socket(ipc_error *err, const char *syscall) {
  return fail_win(err, WSAGetLastError(), syscall);
}

int ipc_fail_system(ipc_error *err, const char *syscall) {
  return fail_win(err, (long)GetLastError(), syscall);
}
