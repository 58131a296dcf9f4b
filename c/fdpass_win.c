/*
 * fdpass_win.c - handing a socket to another process on Windows, the libuv guide's
 * multi-process server done the Winsock way (docs/handoff.md); the same two functions as
 * fdpass_posix.c.
 *
 * A SOCKET cannot ride on a socket pair the way SCM_RIGHTS carries a descriptor. Instead
 * the sender calls WSADuplicateSocketW(socket, target PID, &info): Winsock prepares a
 * duplicate for that one process and describes it in a WSAPROTOCOL_INFOW structure. The
 * structure is plain bytes; the sender writes them on the channel, and the receiver
 * rebuilds the socket with WSASocketW(FROM_PROTOCOL_INFO, ..., &info, 0, 0). Two
 * consequences (Microsoft's WSADuplicateSocketW page):
 *  - the target's process ID is needed, so the worker must exist before the first
 *    hand-over, and the info is good in that process only;
 *  - the sender may close its own copy right after WSADuplicateSocketW: the duplicate
 *    keeps the connection alive, and the last closesocket ends it.
 *
 * One message on the channel: the caller's payload bytes, then sizeof(WSAPROTOCOL_INFOW)
 * bytes. The receiver reads exactly that many, so messages never run together.
 */
#include "ipc.h"

#include <string.h>

/* Blocks until the rest of a message has been written: a message cut in half would
 * leave the channel out of step for every later hand-over. */
static int send_rest(SOCKET channel, const char *p, size_t len, ipc_error *err) {
  while (len > 0) {
    int n = send(channel, p, (int)len, 0);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    if (n == SOCKET_ERROR && WSAGetLastError() == WSAEWOULDBLOCK) {
      fd_set w;
      FD_ZERO(&w);
      FD_SET(channel, &w);
      if (select(0, NULL, &w, NULL, NULL) == SOCKET_ERROR) return ipc_fail_socket(err, "select");
      continue;
    }
    return ipc_fail_socket(err, "send");
  }
  return 0;
}

long ipc_send_fd(ipc_fd channel, ipc_fd fd, long target_pid, const void *data, size_t len, ipc_error *err) {
  WSAPROTOCOL_INFOW info;
  char message[64 + sizeof(WSAPROTOCOL_INFOW)];
  int n;
  if (len == 0 || len > 64)
    return ipc_fail(err, "EINVAL", "send", "a hand-over carries 1 to 64 bytes of payload (got %u)", (unsigned)len);
  if (target_pid <= 0)
    return ipc_fail(err, "EINVAL", "WSADuplicateSocketW",
                    "the receiving process's ID is needed: WSADuplicateSocketW makes a copy for that process only");
  memset(&info, 0, sizeof info);
  if (WSADuplicateSocketW(fd, (DWORD)target_pid, &info) != 0) return ipc_fail_socket(err, "WSADuplicateSocketW");
  memcpy(message, data, len);
  memcpy(message + len, &info, sizeof info);
  n = send(channel, message, (int)(len + sizeof info), 0);
  if (n == SOCKET_ERROR) {
    /* Nothing written: the duplicate prepared for the worker is never claimed. */
    if (WSAGetLastError() == WSAEWOULDBLOCK) return IPC_WOULD_BLOCK;
    return ipc_fail_socket(err, "send");
  }
  if (send_rest(channel, message + n, len + sizeof info - (size_t)n, err) < 0) return -1;
  return (long)len;
}

/* Reads exactly len bytes (blocking); 0 if the stream ended first, before any of them. */
static long recv_exactly(SOCKET channel, char *p, size_t len, int first, ipc_error *err) {
  size_t got = 0;
  while (got < len) {
    int n = recv(channel, p + got, (int)(len - got), 0);
    if (n == 0) {
      if (got == 0 && first) return 0;
      return ipc_fail(err, "EPROTO", "recv", "the channel ended in the middle of a hand-over");
    }
    if (n == SOCKET_ERROR) {
      if (WSAGetLastError() == WSAEWOULDBLOCK && got == 0 && first) return IPC_WOULD_BLOCK;
      if (WSAGetLastError() == WSAEWOULDBLOCK) {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(channel, &r);
        if (select(0, &r, NULL, NULL, NULL) == SOCKET_ERROR) return ipc_fail_socket(err, "select");
        continue;
      }
      return ipc_fail_socket(err, "recv");
    }
    got += (size_t)n;
  }
  return (long)got;
}

long ipc_recv_fd(ipc_fd channel, void *buf, size_t len, ipc_fd *fd, ipc_error *err) {
  WSAPROTOCOL_INFOW info;
  SOCKET s;
  long n;
  *fd = IPC_NO_FD;
  if (len == 0) return ipc_fail(err, "EINVAL", "recv", "the payload buffer is empty");
  n = recv_exactly(channel, buf, len, 1, err);
  if (n <= 0 || n == IPC_WOULD_BLOCK) return n;
  if (recv_exactly(channel, (char *)&info, sizeof info, 0, err) < 0) return -1;
  /* FROM_PROTOCOL_INFO for family, type and protocol: all three come from the info. No
   * WSA_FLAG_OVERLAPPED, and WSA_FLAG_NO_HANDLE_INHERIT: nothing this process spawns
   * inherits the client (the counterpart of MSG_CMSG_CLOEXEC). */
  s = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &info, 0, WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) return ipc_fail_socket(err, "WSASocketW(FROM_PROTOCOL_INFO)");
  *fd = s;
  return n;
}

/*
 * The Winsock FAQ's inherited SOCKET. On Windows the handle CreateProcess copied is the
 * socket, usable as it is: that is the FAQ's technique, and the first thing tried. Under
 * Wine 8 every Winsock call that looks the socket up first (send, getpeername, getsockopt,
 * closesocket) fails on it with WSAENOTSOCK: Wine's ws2_32 (dlls/ws2_32/socket.c,
 * socket_list_find) knows only the sockets this process made with socket, WSASocketW or
 * accept (recv and getsockname, which skip the lookup, work). WSADuplicateSocketW for our
 * own process ID and WSASocketW(FROM_PROTOCOL_INFO) then make one here, on the same
 * connection (Microsoft's WSADuplicateSocketW page does not exclude the caller's own PID;
 * seen working under Wine only). WSA_FLAG_NO_HANDLE_INHERIT: nothing this worker starts
 * gets it.
 */
int ipc_claim_inherited(ipc_fd inherited, ipc_fd *claimed, ipc_error *err) {
  WSAPROTOCOL_INFOW info;
  struct sockaddr_in peer;
  int peer_len = (int)sizeof peer;
  SOCKET s;
  if (getpeername(inherited, (struct sockaddr *)&peer, &peer_len) == 0) {
    *claimed = inherited;
    return 0;
  }
  if (WSAGetLastError() != WSAENOTSOCK) return ipc_fail_socket(err, "getpeername");
  memset(&info, 0, sizeof info);
  if (WSADuplicateSocketW(inherited, GetCurrentProcessId(), &info) != 0)
    return ipc_fail_socket(err, "WSADuplicateSocketW");
  s = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &info, 0, WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) return ipc_fail_socket(err, "WSASocketW(FROM_PROTOCOL_INFO)");
  /* The inherited handle must go too: the connection ends only when its last handle
   * closes. closesocket refuses it here for the same reason (WSAENOTSOCK); CloseHandle is
   * all Wine's closesocket would do once its lookup succeeded. */
  if (closesocket(inherited) == 0) {
    *claimed = s;
    return 0;
  }
  if (WSAGetLastError() != WSAENOTSOCK) {
    ipc_fail_socket(err, "closesocket");
  } else if (CloseHandle((HANDLE)inherited)) {
    *claimed = s;
    return 0;
  } else {
    ipc_fail_system(err, "CloseHandle");
  }
  closesocket(s);
  return -1;
}
