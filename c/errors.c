/*
 * errors.c - one vocabulary of error names for every platform.
 *
 * JavaScript code matches on err.code ("ENOENT", "ECONNABORTED"), as Node's own errors do.
 * The platform files turn errno, WSAGetLastError() and GetLastError() into these names;
 * this file holds what they share.
 */
#include "ipc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ipc_fail(ipc_error *err, const char *code, const char *syscall, const char *fmt, ...) {
  va_list ap;
  err->code = code;
  err->syscall = syscall;
  err->native = 0;
  err->path = NULL;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return -1;
}

int ipc_fail_errno(ipc_error *err, int e, const char *syscall) {
  err->code = ipc_errno_name(e);
  err->syscall = syscall;
  err->native = e;
  err->path = NULL;
  snprintf(err->message, sizeof err->message, "%s failed: %s (%s)", syscall, strerror(e),
           err->code);
  return -1;
}

/* The errno names this project can meet. Each is guarded because the C runtimes disagree
 * on which exist (mingw's lacks some network ones). */
const char *ipc_errno_name(int e) {
  switch (e) {
#define NAME(x) case x: return #x;
#ifdef EPERM
    NAME(EPERM)
#endif
#ifdef ENOENT
    NAME(ENOENT)
#endif
#ifdef ESRCH
    NAME(ESRCH)
#endif
#ifdef EINTR
    NAME(EINTR)
#endif
#ifdef EIO
    NAME(EIO)
#endif
#ifdef E2BIG
    NAME(E2BIG)
#endif
#ifdef ENOEXEC
    NAME(ENOEXEC)
#endif
#ifdef EBADF
    NAME(EBADF)
#endif
#ifdef ECHILD
    NAME(ECHILD)
#endif
#ifdef ENOMEM
    NAME(ENOMEM)
#endif
#ifdef EACCES
    NAME(EACCES)
#endif
#ifdef EFAULT
    NAME(EFAULT)
#endif
#ifdef ENOTDIR
    NAME(ENOTDIR)
#endif
#ifdef EISDIR
    NAME(EISDIR)
#endif
#ifdef EINVAL
    NAME(EINVAL)
#endif
#ifdef ENFILE
    NAME(ENFILE)
#endif
#ifdef EMFILE
    NAME(EMFILE)
#endif
#ifdef EPIPE
    NAME(EPIPE)
#endif
#ifdef ENAMETOOLONG
    NAME(ENAMETOOLONG)
#endif
#ifdef ENOSYS
    NAME(ENOSYS)
#endif
#ifdef ELOOP
    NAME(ELOOP)
#endif
#if defined(EAGAIN)
    NAME(EAGAIN)
#endif
#if defined(EWOULDBLOCK) && EWOULDBLOCK != EAGAIN
    NAME(EWOULDBLOCK)
#endif
#ifdef ENOTSOCK
    NAME(ENOTSOCK)
#endif
#ifdef EOPNOTSUPP
    NAME(EOPNOTSUPP)
#endif
#if defined(ENOTSUP) && ENOTSUP != EOPNOTSUPP
    NAME(ENOTSUP)
#endif
#ifdef EADDRINUSE
    NAME(EADDRINUSE)
#endif
#ifdef EADDRNOTAVAIL
    NAME(EADDRNOTAVAIL)
#endif
#ifdef ENETDOWN
    NAME(ENETDOWN)
#endif
#ifdef ECONNABORTED
    NAME(ECONNABORTED)
#endif
#ifdef ECONNRESET
    NAME(ECONNRESET)
#endif
#ifdef ENOBUFS
    NAME(ENOBUFS)
#endif
#ifdef ENOTCONN
    NAME(ENOTCONN)
#endif
#ifdef ETIMEDOUT
    NAME(ETIMEDOUT)
#endif
#ifdef ECONNREFUSED
    NAME(ECONNREFUSED)
#endif
#ifdef EAFNOSUPPORT
    NAME(EAFNOSUPPORT)
#endif
#ifdef ETXTBSY
    NAME(ETXTBSY)
#endif
#undef NAME
    default:
      return "EUNKNOWN";
  }
}
