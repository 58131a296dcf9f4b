/*
 * io_posix.c - descriptors on POSIX: sockets and pipes are both plain file descriptors, so
 * read(2), write(2), close(2) and fcntl(2) serve every kind the parent meets.
 */
#define _GNU_SOURCE /* pipe2, O_CLOEXEC */
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int ipc_io_init(ipc_error *err) {
  (void)err;
  return 0;
}

ipc_fd ipc_tcp_socket(ipc_error *err) {
  int fd;
#ifdef SOCK_CLOEXEC
  /* Atomic close-on-exec: a child spawned by another thread between socket() and fcntl()
   * would otherwise inherit this descriptor and hold the stream open. */
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ipc_fail_socket(err, "socket");
#else
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return ipc_fail_socket(err, "socket");
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    ipc_fail_errno(err, errno, "fcntl(F_SETFD)");
    close(fd);
    return IPC_NO_FD;
  }
#endif
  return fd;
}

int ipc_set_nonblocking(ipc_fd fd, ipc_error *err) {
  /* F_GETFL, then F_SETFL: the article's Perl parent calls F_GETFL where it meant F_SETFL
   * and so never leaves blocking mode. */
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return ipc_fail_errno(err, errno, "fcntl(F_GETFL)");
  if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return ipc_fail_errno(err, errno, "fcntl(F_SETFL)");
  return 0;
}

int ipc_set_inheritable(ipc_fd fd, int inheritable, ipc_error *err) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return ipc_fail_errno(err, errno, "fcntl(F_GETFD)");
  flags = inheritable ? (flags & ~FD_CLOEXEC) : (flags | FD_CLOEXEC);
  if (fcntl(fd, F_SETFD, flags) < 0) return ipc_fail_errno(err, errno, "fcntl(F_SETFD)");
  return 0;
}

long ipc_read(ipc_fd fd, void *buf, size_t len, ipc_error *err) {
  for (;;) {
    ssize_t n = read(fd, buf, len);
    if (n >= 0) return (long)n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IPC_WOULD_BLOCK;
    return ipc_fail_errno(err, errno, "read");
  }
}

long ipc_write(ipc_fd fd, const void *buf, size_t len, ipc_error *err) {
  for (;;) {
    ssize_t n = write(fd, buf, len);
    if (n >= 0) return (long)n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IPC_WOULD_BLOCK;
    return ipc_fail_errno(err, errno, "write");
  }
}

int ipc_close(ipc_fd fd, ipc_error *err) {
  /* No retry on EINTR: on Linux the descriptor is gone even then, and a retry could close
   * a descriptor another thread has just been given. */
  if (close(fd) < 0 && errno != EINTR) return ipc_fail_errno(err, errno, "close");
  return 0;
}

int ipc_select_check(const ipc_fd *fds, size_t n, ipc_error *err) {
  size_t i;
  for (i = 0; i < n; i++) {
    /* FD_SET with a descriptor >= FD_SETSIZE writes past the fd_set: undefined behaviour,
     * so refuse before it happens. */
    if (fds[i] < 0 || fds[i] >= FD_SETSIZE) {
      ipc_fail(err, "EINVAL", "select",
               "select() cannot watch descriptor %d: POSIX select() takes only descriptors "
               "below FD_SETSIZE (%d)",
               (int)fds[i], (int)FD_SETSIZE);
      return -1;
    }
  }
  return 0;
}

int ipc_tcp_exclusive(ipc_fd fd, ipc_error *err) {
  /* POSIX already refuses a second bind to a port in use unless both sides ask for
   * SO_REUSEPORT, which this listener never does. */
  (void)fd;
  (void)err;
  return 0;
}

int ipc_select_failed(ipc_error *err) {
  if (errno == EINTR) return 0;
  return ipc_fail_errno(err, errno, "select");
}

int ipc_pipe(ipc_fd ends[2], ipc_error *err) {
  int fds[2];
#if defined(__linux__) || defined(__FreeBSD__)
  if (pipe2(fds, O_CLOEXEC) != 0) return ipc_fail_errno(err, errno, "pipe2");
#else
  if (pipe(fds) != 0) return ipc_fail_errno(err, errno, "pipe");
  if (ipc_set_inheritable(fds[0], 0, err) < 0 || ipc_set_inheritable(fds[1], 0, err) < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
#endif
  ends[0] = fds[0];
  ends[1] = fds[1];
  return 0;
}

int ipc_close_pipe(ipc_fd fd, ipc_error *err) { return ipc_close(fd, err); }

long ipc_pipe_read(ipc_fd fd, void *buf, size_t len, ipc_error *err) { return ipc_read(fd, buf, len, err); }
