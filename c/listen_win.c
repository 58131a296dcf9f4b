/*
 * listen_win.c - the handoff master's front door on Windows (docs/handoff.md); the same
 * two functions as listen_posix.c. The listener sits in the relay's select() (Winsock's
 * select takes sockets only, which this is), so it is non-blocking; it and every accepted
 * socket are created non-inheritable (WSA_FLAG_NO_HANDLE_INHERIT, see ipc_tcp_socket), so
 * a worker gets a client only when it is handed one on purpose.
 */
#include "ipc.h"

#include <string.h>

int ipc_listen_loopback(unsigned *port, int backlog, ipc_fd *listener, ipc_error *err) {
  struct sockaddr_in addr;
  int len = (int)sizeof addr;
  SOCKET s = ipc_tcp_socket(err);
  if (s == INVALID_SOCKET) return -1;
  /* Not SO_REUSEADDR: on Windows it lets a second listener take over a port in use.
   * SO_EXCLUSIVEADDRUSE makes a port in use fail with WSAEADDRINUSE, as on POSIX. */
  if (ipc_tcp_exclusive(s, err) < 0) goto fail;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((unsigned short)*port);
  if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
    ipc_fail_socket(err, "bind");
    goto fail;
  }
  if (listen(s, backlog) != 0) {
    ipc_fail_socket(err, "listen");
    goto fail;
  }
  if (getsockname(s, (struct sockaddr *)&addr, &len) != 0) {
    ipc_fail_socket(err, "getsockname");
    goto fail;
  }
  if (ipc_set_nonblocking(s, err) < 0) goto fail;
  *port = ntohs(addr.sin_port);
  *listener = s;
  return 0;
fail:
  (void)closesocket(s);
  return -1;
}

int ipc_accept(ipc_fd listener, ipc_fd *conn, unsigned *peer_port, ipc_error *err) {
  struct sockaddr_in peer;
  int len = (int)sizeof peer;
  u_long off = 0;
  SOCKET s = accept(listener, (struct sockaddr *)&peer, &len);
  if (s == INVALID_SOCKET) {
    int code = WSAGetLastError();
    /* Nobody waiting, or a client that gave up between select() and accept(). */
    if (code == WSAEWOULDBLOCK || code == WSAECONNRESET || code == WSAECONNABORTED) return IPC_WOULD_BLOCK;
    return ipc_fail_socket(err, "accept");
  }
  /* An accepted socket copies the listener's non-blocking mode on Windows (Linux's
   * accept does not); the worker reads it plainly, so it goes back to blocking. */
  if (ioctlsocket(s, FIONBIO, &off) != 0) {
    ipc_fail_socket(err, "ioctlsocket(FIONBIO)");
    (void)closesocket(s);
    return -1;
  }
  *conn = s;
  *peer_port = ntohs(peer.sin_port);
  return 0;
}

int ipc_peer_port(ipc_fd conn, unsigned *port, ipc_error *err) {
  struct sockaddr_in peer;
  int len = (int)sizeof peer;
  if (getpeername(conn, (struct sockaddr *)&peer, &len) != 0) return ipc_fail_socket(err, "getpeername");
  if (peer.sin_family != AF_INET)
    return ipc_fail(err, "EAFNOSUPPORT", "getpeername", "the peer is not an IPv4 address (family %d)", (int)peer.sin_family);
  *port = ntohs(peer.sin_port);
  return 0;
}
