/*
 * fdpass_posix.c - handing a descriptor to another process over a Unix socket pair: what
 * libuv's uv_write2 does underneath (the libuv guide, "Sending file descriptors over
 * pipes"), as plain sendmsg/recvmsg with an SCM_RIGHTS control message.
 *
 * Three rules the kernel imposes, each handled where it bites (docs/handoff.md):
 *  - the descriptor rides on ordinary data: a sendmsg with zero data bytes carries no
 *    control message on a stream socket (measured on Linux: sendmsg returns 0 and the
 *    receiver gets nothing, descriptor included), so every hand-over
 *    has at least one byte of payload;
 *  - a received descriptor is a new descriptor in the receiver, without close-on-exec
 *    unless asked: MSG_CMSG_CLOEXEC (Linux, FreeBSD) or F_SETFD right after;
 *  - a control buffer too small for what came sets MSG_CTRUNC and the descriptors that did
 *    not fit are closed by the kernel; the ones that fitted are ours and must be closed,
 *    or they leak.
 */
#define _GNU_SOURCE /* MSG_CMSG_CLOEXEC */
#include "ipc.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#  define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE would be needed; Node ignores SIGPIPE anyway */
#endif

/* The control buffer for exactly one descriptor, aligned as cmsghdr requires. */
typedef union one_fd_control {
  char buf[CMSG_SPACE(sizeof(int))];
  struct cmsghdr align;
} one_fd_control;

long ipc_send_fd(ipc_fd channel, ipc_fd fd, long target_pid, const void *data, size_t len, ipc_error *err) {
  struct msghdr msg;
  struct iovec iov;
  one_fd_control control;
  struct cmsghdr *cmsg;
  ssize_t n;
  (void)target_pid; /* the kernel moves the descriptor to whoever receives the message */
  if (len == 0)
    return ipc_fail(err, "EINVAL", "sendmsg",
                    "SCM_RIGHTS needs at least one byte of ordinary data to travel with");
  memset(&msg, 0, sizeof msg);
  memset(&control, 0, sizeof control);
  iov.iov_base = (void *)data;
  iov.iov_len = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  do n = sendmsg(channel, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n >= 0) return (long)n;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return IPC_WOULD_BLOCK;
  return ipc_fail_socket(err, "sendmsg");
}

/* Closes every descriptor a control message brought: after MSG_CTRUNC they cannot be
 * matched to their data any more. */
static void close_received(struct msghdr *msg) {
  struct cmsghdr *c;
  for (c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
    size_t i, count;
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      (void)close(fd);
    }
  }
}

long ipc_recv_fd(ipc_fd channel, void *buf, size_t len, ipc_fd *fd, ipc_error *err) {
  struct msghdr msg;
  struct iovec iov;
  one_fd_control control;
  struct cmsghdr *cmsg;
  ssize_t n;
  int flags = 0;
#ifdef MSG_CMSG_CLOEXEC
  /* Atomically close-on-exec, so that nothing this process spawns inherits the client. */
  flags |= MSG_CMSG_CLOEXEC;
#endif
  *fd = IPC_NO_FD;
  memset(&msg, 0, sizeof msg);
  iov.iov_base = buf;
  iov.iov_len = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  do n = recvmsg(channel, &msg, flags);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IPC_WOULD_BLOCK;
    return ipc_fail_socket(err, "recvmsg");
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    close_received(&msg);
    return ipc_fail(err, "EMSGSIZE", "recvmsg",
                    "control data truncated (MSG_CTRUNC): more than one descriptor came with one message");
  }
  for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
        cmsg->cmsg_len == CMSG_LEN(sizeof(int))) {
      int received;
      memcpy(&received, CMSG_DATA(cmsg), sizeof received);
      *fd = received;
    }
  }
#ifndef MSG_CMSG_CLOEXEC
  if (*fd != IPC_NO_FD && ipc_set_inheritable(*fd, 0, err) < 0) {
    (void)close(*fd);
    *fd = IPC_NO_FD;
    return -1;
  }
#endif
  return (long)n;
}

int ipc_claim_inherited(ipc_fd inherited, ipc_fd *claimed, ipc_error *err) {
  /* A descriptor is the process's own once exec has passed it on: nothing to do. */
  (void)err;
  *claimed = inherited;
  return 0;
}
