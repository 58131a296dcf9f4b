/*
 * listen_posix.c - the handoff master's front door (docs/handoff.md): a TCP listener on
 * 127.0.0.1 and accept(). Both the libuv guide's multi-process server and the Winsock FAQ
 * start here; what differs is where the accepted socket goes next.
 *
 * The listener is non-blocking so that it can sit in the relay's select() beside the
 * children's streams: select() says "readable" when a connection waits, and accept() then
 * takes connections until EAGAIN. Everything is close-on-exec from the start, because the
 * master spawns workers all the time and only the one socket meant for a worker may reach it.
 */
#define _GNU_SOURCE /* accept4, SOCK_CLOEXEC, SOCK_NONBLOCK */
#include "ipc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int open_listener(ipc_error *err) {
  int fd;
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ipc_fail_socket(err, "socket");
#else
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return ipc_fail_socket(err, "socket");
  if (ipc_set_inheritable(fd, 0, err) < 0 || ipc_set_nonblocking(fd, err) < 0) {
    close(fd);
    return -1;
  }
#endif
  return fd;
}

int ipc_listen_loopback(unsigned *port, int backlog, ipc_fd *listener, ipc_error *err) {
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  int one = 1;
  int fd = open_listener(err);
  if (fd < 0) return -1;
  /* SO_REUSEADDR on POSIX only lets a port in TIME_WAIT be bound again (a master restarted
   * right after the last one); a port another listener holds is still EADDRINUSE. (On
   * Windows the same option would let two listeners share the port.) */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    ipc_fail_socket(err, "setsockopt(SO_REUSEADDR)");
    goto fail;
  }
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((unsigned short)*port);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    ipc_fail_socket(err, "bind");
    goto fail;
  }
  if (listen(fd, backlog) != 0) {
    ipc_fail_socket(err, "listen");
    goto fail;
  }
  if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
    ipc_fail_socket(err, "getsockname");
    goto fail;
  }
  *port = ntohs(addr.sin_port);
  *listener = fd;
  return 0;
fail:
  close(fd);
  return -1;
}

int ipc_accept(ipc_fd listener, ipc_fd *conn, unsigned *peer_port, ipc_error *err) {
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  int fd;
  for (;;) {
#ifdef SOCK_CLOEXEC
    /* Blocking (no SOCK_NONBLOCK): the connection is for a worker, which reads it plainly.
     * Close-on-exec: a worker spawned for another connection must not inherit this one. */
    fd = accept4(listener, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
#else
    fd = accept(listener, (struct sockaddr *)&peer, &len);
#endif
    if (fd >= 0) break;
    if (errno == EINTR) continue;
    /* A client that gave up between select() and accept(): nothing to hand over. */
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) return IPC_WOULD_BLOCK;
    return ipc_fail_socket(err, "accept");
  }
#ifndef SOCK_CLOEXEC
  /* BSD accept() copies O_NONBLOCK from the listener; Linux does not. */
  if (ipc_set_inheritable(fd, 0, err) < 0 || fcntl(fd, F_SETFL, 0) < 0) {
    if (err->code == NULL) ipc_fail_errno(err, errno, "fcntl(F_SETFL)");
    close(fd);
    return -1;
  }
#endif
  *conn = fd;
  *peer_port = ntohs(peer.sin_port);
  return 0;
}

int ipc_peer_port(ipc_fd conn, unsigned *port, ipc_error *err) {
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  if (getpeername(conn, (struct sockaddr *)&peer, &len) != 0) return ipc_fail_socket(err, "getpeername");
  if (peer.sin_family != AF_INET)
    return ipc_fail(err, "EAFNOSUPPORT", "getpeername", "the peer is not an IPv4 address (family %d)", (int)peer.sin_family);
  *port = ntohs(peer.sin_port);
  return 0;
}
