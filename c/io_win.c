/*
 * io_win.c - descriptors on Windows are SOCKETs: select() accepts nothing else, sockets
 * need closesocket() rather than close(), and Winsock must be started with WSAStartup()
 * before the first call.
 */
#include "ipc.h"

int ipc_io_init(ipc_error *err) {
  WSADATA data;
  int rc = WSAStartup(MAKEWORD(2, 2), &data);
  if (rc != 0) {
    WSASetLastError(rc);
    return ipc_fail_socket(err, "WSAStartup");
  }
  return 0;
}

ipc_fd ipc_tcp_socket(ipc_error *err) {
  /* WSASocket with dwFlags 0, not socket(): socket() creates overlapped sockets (Microsoft,
   * "Default state for a socket's overlapped attribute"), and a child's C runtime writes
   * to its std handles with WriteFile and a NULL lpOverlapped, which on an overlapped
   * handle "can incorrectly report that the write operation is complete" (the WriteFile
   * documentation; libuv#2961): undefined behaviour, not a certain loss.
   * WSA_FLAG_NO_HANDLE_INHERIT keeps the socket out of every child that is not handed it
   * explicitly (Windows 7 SP1 and later). */
  SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) {
    ipc_fail_socket(err, "WSASocketW");
    return IPC_NO_FD;
  }
  return s;
}

int ipc_set_nonblocking(ipc_fd fd, ipc_error *err) {
  /* FIONBIO is 0x8004667e; Perl code on Windows hard-codes that number. */
  u_long on = 1;
  if (ioctlsocket(fd, FIONBIO, &on) != 0) return ipc_fail_socket(err, "ioctlsocket(FIONBIO)");
  return 0;
}

int ipc_set_inheritable(ipc_fd fd, int inheritable, ipc_error *err) {
  if (!SetHandleInformation((HANDLE)fd, HANDLE_FLAG_INHERIT, inheritable ? HANDLE_FLAG_INHERIT : 0))
    return ipc_fail_system(err, "SetHandleInformation");
  return 0;
}

/* recv/send take an int length. */
static int clamp_len(size_t len) { return len > 0x40000000 ? 0x40000000 : (int)len; }

long ipc_read(ipc_fd fd, void *buf, size_t len, ipc_error *err) {
  int n = recv(fd, (char *)buf, clamp_len(len), 0);
  if (n >= 0) return n;
  if (WSAGetLastError() == WSAEWOULDBLOCK) return IPC_WOULD_BLOCK;
  return ipc_fail_socket(err, "recv");
}

long ipc_write(ipc_fd fd, const void *buf, size_t len, ipc_error *err) {
  int n = send(fd, (const char *)buf, clamp_len(len), 0);
  if (n >= 0) return n;
  if (WSAGetLastError() == WSAEWOULDBLOCK) return IPC_WOULD_BLOCK;
  return ipc_fail_socket(err, "send");
}

int ipc_close(ipc_fd fd, ipc_error *err) {
  if (closesocket(fd) != 0) return ipc_fail_socket(err, "closesocket");
  return 0;
}

int ipc_select_check(const ipc_fd *fds, size_t n, ipc_error *err) {
  (void)fds;
  /* Windows' fd_set is an array of FD_SETSIZE sockets: the limit is a count. */
  if (n > FD_SETSIZE)
    return ipc_fail(err, "EINVAL", "select",
                    "select() cannot watch %u sockets: Windows select() holds at most "
                    "FD_SETSIZE (%d) per set",
                    (unsigned)n, (int)FD_SETSIZE);
  return 0;
}

int ipc_tcp_exclusive(ipc_fd fd, ipc_error *err) {
  /* Without SO_EXCLUSIVEADDRUSE another process may bind the same port with SO_REUSEADDR
   * and steal the connection meant for the listener. */
  BOOL on = TRUE;
  if (setsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof on) != 0)
    return ipc_fail_socket(err, "setsockopt(SO_EXCLUSIVEADDRUSE)");
  return 0;
}

int ipc_select_failed(ipc_error *err) {
  /* A pipe or file handle gives WSAENOTSOCK on Windows and WSAEOPNOTSUPP under Wine. */
  return ipc_fail_socket(err, "select");
}

int ipc_pipe(ipc_fd ends[2], ipc_error *err) {
  HANDLE r, w;
  /* NULL security attributes: neither end is inheritable. spawn makes the child's end
   * inheritable only for the one CreateProcess call that hands it over. */
  if (!CreatePipe(&r, &w, NULL, 0)) return ipc_fail_system(err, "CreatePipe");
  ends[0] = (ipc_fd)r;
  ends[1] = (ipc_fd)w;
  return 0;
}

int ipc_close_pipe(ipc_fd fd, ipc_error *err) {
  if (!CloseHandle((HANDLE)fd)) return ipc_fail_system(err, "CloseHandle");
  return 0;
}

long ipc_pipe_read(ipc_fd fd, void *buf, size_t len, ipc_error *err) {
  DWORD got;
  do {
    got = 0;
    if (!ReadFile((HANDLE)fd, buf, (DWORD)(len > 0x40000000 ? 0x40000000 : len), &got, NULL)) {
      /* The writer closed its end: that is how an anonymous pipe says end of stream. */
      if (GetLastError() == ERROR_BROKEN_PIPE) return 0;
      return ipc_fail_system(err, "ReadFile");
    }
    /* A successful read of 0 bytes is not the end: a writer's WriteFile of 0 bytes
     * completes one (libuv's pipe reader reads on after it too). Only ERROR_BROKEN_PIPE
     * is; returning 0 here would end the relay while the child still writes. */
  } while (got == 0 && len > 0);
  return (long)got;
}
