/*
 * socketpair.c - the loopback socket pair Windows needs, compiled on every platform so that
 * Linux tests exercise the same code.
 *
 * Windows has no socketpair(), and select() only accepts sockets, so the article builds a
 * connected pair by hand: listen on 127.0.0.1 port 0, connect to it, accept. Between listen
 * and accept any local process can connect first, so the pair is only returned after
 * checking, both ways, that the accepted socket is connected to our own connector.
 */
#include "ipc.h"

#include <string.h>

#ifndef _WIN32
#  include <arpa/inet.h>
#  include <netinet/in.h>
#  include <netinet/tcp.h>
#  include <sys/socket.h>
#endif

#ifdef _WIN32
typedef int ipc_socklen;
#else
typedef socklen_t ipc_socklen;
#endif

static int same_address(const struct sockaddr_in *a, const struct sockaddr_in *b) {
  return a->sin_family == b->sin_family && a->sin_port == b->sin_port &&
         a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* --break overlapped-socket, a teaching switch (docs/workshop.md): socket() where the
 * article insists on WSASocket(..., 0). Winsock's socket() creates overlapped sockets, and
 * accept() gives the accepted socket the listener's attributes, so both ends of the pair
 * are overlapped; the child's end is then a std handle Microsoft documents as unreliable
 * for WriteFile without an OVERLAPPED structure. Kept non-inheritable like the real ones,
 * so that this is the only difference. */
static ipc_fd new_socket(ipc_break_step break_step, ipc_error *err) {
#ifdef _WIN32
  if (break_step == IPC_BREAK_OVERLAPPED_SOCKET) {
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET) {
      ipc_fail_socket(err, "socket");
      return IPC_NO_FD;
    }
    if (ipc_set_inheritable(s, 0, err) < 0) {
      (void)closesocket(s);
      return IPC_NO_FD;
    }
    return s;
  }
#else
  (void)break_step; /* refused before this on POSIX (js_socketpair) */
#endif
  return ipc_tcp_socket(err);
}

/* Step 1: a listener on the loopback interface only. INADDR_ANY would accept connections
 * from the network. */
static ipc_fd listen_on_loopback(struct sockaddr_in *addr, ipc_break_step break_step, ipc_error *err) {
  ipc_socklen len = sizeof *addr;
  ipc_fd listener = new_socket(break_step, err);
  if (listener == IPC_NO_FD) return IPC_NO_FD;
  if (ipc_tcp_exclusive(listener, err) < 0) goto fail;
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr->sin_port = 0;
  if (bind(listener, (struct sockaddr *)addr, sizeof *addr) != 0) {
    ipc_fail_socket(err, "bind");
    goto fail;
  }
  if (listen(listener, 1) != 0) {
    ipc_fail_socket(err, "listen");
    goto fail;
  }
  if (getsockname(listener, (struct sockaddr *)addr, &len) != 0) {
    ipc_fail_socket(err, "getsockname");
    goto fail;
  }
  return listener;
fail: {
  ipc_error ignored;
  (void)ipc_close(listener, &ignored);
  return IPC_NO_FD;
}
}

/* Step 3: the accepted socket must be our connector's peer and vice versa. A process that
 * connected before us would be accepted first; returning its socket would hand a stranger
 * the child's output (or let it write fake output). */
static int check_pair(ipc_fd accepted, const struct sockaddr_in *accepted_peer, ipc_fd connector,
                      ipc_error *err) {
  struct sockaddr_in connector_local, connector_peer, accepted_local;
  ipc_socklen len = sizeof connector_local;
  if (getsockname(connector, (struct sockaddr *)&connector_local, &len) != 0)
    return ipc_fail_socket(err, "getsockname");
  len = sizeof connector_peer;
  if (getpeername(connector, (struct sockaddr *)&connector_peer, &len) != 0)
    return ipc_fail_socket(err, "getpeername");
  len = sizeof accepted_local;
  if (getsockname(accepted, (struct sockaddr *)&accepted_local, &len) != 0)
    return ipc_fail_socket(err, "getsockname");
  if (!same_address(accepted_peer, &connector_local) || !same_address(&connector_peer, &accepted_local))
    return ipc_fail(err, "ECONNABORTED", "accept",
                    "socketpair emulation: a foreign connection reached the listener on "
                    "127.0.0.1:%u first (peer port %u, expected %u); refusing the pair",
                    (unsigned)ntohs(accepted_local.sin_port), (unsigned)ntohs(accepted_peer->sin_port),
                    (unsigned)ntohs(connector_local.sin_port));
  return 0;
}

/* Lines are written one small write at a time; Nagle's algorithm would hold them back
 * waiting for an acknowledgement, which costs latency for nothing on loopback. */
static int no_delay(ipc_fd fd, ipc_error *err) {
  int on = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof on) != 0)
    return ipc_fail_socket(err, "setsockopt(TCP_NODELAY)");
  return 0;
}

int ipc_socketpair_emulated(ipc_fd pair[2], ipc_before_connect_fn before_connect, void *ctx,
                            ipc_break_step break_step, ipc_error *err) {
  struct sockaddr_in addr, peer;
  ipc_socklen peer_len = sizeof peer;
  ipc_fd listener, connector = IPC_NO_FD, accepted = IPC_NO_FD;
  ipc_error ignored;

  listener = listen_on_loopback(&addr, break_step, err);
  if (listener == IPC_NO_FD) return -1;
  /* A seam for tests: lets a foreign process connect before we do. */
  if (before_connect) before_connect(ctx, (unsigned)ntohs(addr.sin_port));

  /* Step 2: connect, then accept. The connection completes in the kernel's backlog, so a
   * blocking connect before accept does not deadlock. */
  connector = new_socket(break_step, err);
  if (connector == IPC_NO_FD) goto fail;
  if (connect(connector, (struct sockaddr *)&addr, sizeof addr) != 0) {
    ipc_fail_socket(err, "connect");
    goto fail;
  }
  accepted = accept(listener, (struct sockaddr *)&peer, &peer_len);
  if (accepted == IPC_NO_FD) {
    ipc_fail_socket(err, "accept");
    goto fail;
  }
  if (check_pair(accepted, &peer, connector, err) < 0) goto fail;
  if (no_delay(accepted, err) < 0 || no_delay(connector, err) < 0) goto fail;

  /* Step 4: the listener has done its job; on Windows it must go through closesocket(). */
  if (ipc_close(listener, err) < 0) {
    listener = IPC_NO_FD;
    goto fail;
  }
  pair[0] = accepted;
  pair[1] = connector;
  return 0;

fail:
  if (accepted != IPC_NO_FD) (void)ipc_close(accepted, &ignored);
  if (connector != IPC_NO_FD) (void)ipc_close(connector, &ignored);
  if (listener != IPC_NO_FD) (void)ipc_close(listener, &ignored);
  return -1;
}
