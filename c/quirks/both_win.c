/*
 * both_win.c - the Windows side of the quirks every platform has (output format: quirk.h).
 *
 * Same subcommand names and arguments as both_posix.c. This program is built without
 * defining FD_SETSIZE (binding.gyp defines it for the addon only), so Winsock's default of
 * 64 sockets per fd_set applies here: that is what quirk fd-setsize shows.
 */
#include "quirk.h"

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* ---- small helpers shared by the demonstrations ---- */

static const char *wsa_name(int e) {
  switch (e) {
  case WSAEWOULDBLOCK: return "WSAEWOULDBLOCK";
  case WSAETIMEDOUT: return "WSAETIMEDOUT";
  case WSAECONNRESET: return "WSAECONNRESET";
  case WSAECONNABORTED: return "WSAECONNABORTED";
  case WSAESHUTDOWN: return "WSAESHUTDOWN";
  case WSAENOTSOCK: return "WSAENOTSOCK";
  case WSAEINVAL: return "WSAEINVAL";
  case WSAEOPNOTSUPP: return "WSAEOPNOTSUPP";
  case WSAECONNREFUSED: return "WSAECONNREFUSED";
  case WSAENOTCONN: return "WSAENOTCONN";
  case WSAEINTR: return "WSAEINTR";
  default: return "WSA error (see the number)";
  }
}

static const char *win_name(DWORD e) {
  switch (e) {
  case ERROR_SUCCESS: return "ERROR_SUCCESS";
  case ERROR_INVALID_PARAMETER: return "ERROR_INVALID_PARAMETER";
  case ERROR_ACCESS_DENIED: return "ERROR_ACCESS_DENIED";
  case ERROR_INVALID_HANDLE: return "ERROR_INVALID_HANDLE";
  case ERROR_FILE_NOT_FOUND: return "ERROR_FILE_NOT_FOUND";
  default: return "Windows error (see the number)";
  }
}

static int fail_wsa(const char *what) {
  int e = WSAGetLastError();
  return quirk_fail(what, "%s (%d)", wsa_name(e), e);
}

static int fail_win(const char *what) {
  DWORD e = GetLastError();
  return quirk_fail(what, "%s (%lu)", win_name(e), (unsigned long)e);
}

static double now_ms(void) {
  static LARGE_INTEGER freq;
  LARGE_INTEGER t;
  if (freq.QuadPart == 0 && !QueryPerformanceFrequency(&freq)) return 0;
  if (!QueryPerformanceCounter(&t)) return 0;
  return (double)t.QuadPart * 1000.0 / (double)freq.QuadPart;
}

static long parse_long(const char *text, long fallback) {
  char *end;
  long v;
  if (text == NULL) return fallback;
  v = strtol(text, &end, 10);
  if (*end != '\0' || end == text || v < 0) return -1;
  return v;
}

static int start_winsock(void) {
  WSADATA data;
  int rc = WSAStartup(MAKEWORD(2, 2), &data);
  if (rc != 0) return quirk_fail("WSAStartup", "%s (%d)", wsa_name(rc), rc);
  return 0;
}

/*
 * A connected pair of TCP sockets over loopback: Windows has no socketpair(). Both ends
 * come from WSASocket without WSA_FLAG_OVERLAPPED, the kind a child can use as its std
 * handle (Microsoft, "Default state for a socket's overlapped attribute"; WriteFile). The writer is inheritable only when asked: handles from
 * WSASocket without WSA_FLAG_NO_HANDLE_INHERIT are inheritable by default.
 */
static int loopback_pair(SOCKET *reader, SOCKET *writer, int inheritable_writer) {
  struct sockaddr_in addr;
  int len = (int)sizeof addr;
  SOCKET listener, w, r;
  DWORD no_inherit = WSA_FLAG_NO_HANDLE_INHERIT;

  listener = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, no_inherit);
  if (listener == INVALID_SOCKET) return fail_wsa("WSASocketW(listener)");
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listener, (struct sockaddr *)&addr, len) != 0 || listen(listener, 1) != 0 ||
      getsockname(listener, (struct sockaddr *)&addr, &len) != 0) {
    int rc = fail_wsa("bind/listen/getsockname");
    closesocket(listener);
    return rc;
  }
  w = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, inheritable_writer ? 0 : no_inherit);
  if (w == INVALID_SOCKET) {
    int rc = fail_wsa("WSASocketW(writer)");
    closesocket(listener);
    return rc;
  }
  if (connect(w, (struct sockaddr *)&addr, len) != 0) {
    int rc = fail_wsa("connect");
    closesocket(listener);
    closesocket(w);
    return rc;
  }
  r = accept(listener, NULL, NULL);
  closesocket(listener);
  if (r == INVALID_SOCKET) {
    int rc = fail_wsa("accept");
    closesocket(w);
    return rc;
  }
  /* The accepted socket is inheritable by default; only the writer may reach a child. */
  if (!SetHandleInformation((HANDLE)r, HANDLE_FLAG_INHERIT, 0)) {
    int rc = fail_win("SetHandleInformation");
    closesocket(w);
    closesocket(r);
    return rc;
  }
  *reader = r;
  *writer = w;
  return 0;
}

/* This program's own path, for starting its helper subcommands. */
static int self_path(wchar_t *path, DWORD size) {
  DWORD n = GetModuleFileNameW(NULL, path, size);
  if (n == 0 || n >= size) return fail_win("GetModuleFileNameW");
  return 0;
}

/*
 * Starts `quirk_c.exe sleep-child MS CODE` with out as its stdout and stderr. inherit_all
 * is the article's way: bInheritHandles TRUE and no list, so the child gets every
 * inheritable handle of this process, other children's write ends included.
 */
static int start_sleep_child(const wchar_t *ms, const wchar_t *code, SOCKET out, PROCESS_INFORMATION *pi) {
  wchar_t self[MAX_PATH], cmd[MAX_PATH + 64];
  STARTUPINFOW si;
  if (self_path(self, MAX_PATH) != 0) return 1;
  /* The path has no quote and does not end in a backslash: plain quoting is enough. */
  wcscpy(cmd, L"\"");
  wcscat(cmd, self);
  wcscat(cmd, L"\" sleep-child ");
  wcscat(cmd, ms);
  wcscat(cmd, L" ");
  wcscat(cmd, code);
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = NULL;
  si.hStdOutput = (HANDLE)out;
  si.hStdError = (HANDLE)out;
  if (!CreateProcessW(self, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, pi)) return fail_win("CreateProcessW");
  return 0;
}

/* Reads until end of stream (recv returns 0) or limit_ms; its time, or -1. */
static double wait_for_eof(SOCKET s, double t0, double limit_ms) {
  char buf[4096];
  for (;;) {
    fd_set set;
    struct timeval tv;
    double left = limit_ms - (now_ms() - t0);
    int rc;
    if (left <= 0) return -1;
    FD_ZERO(&set);
    FD_SET(s, &set);
    tv.tv_sec = (long)(left / 1000);
    tv.tv_usec = (long)((left - (double)tv.tv_sec * 1000) * 1000);
    rc = select(0, &set, NULL, NULL, &tv);
    if (rc == SOCKET_ERROR) return -1;
    if (rc == 0) continue;
    rc = recv(s, buf, (int)sizeof buf, 0);
    if (rc == 0) return now_ms() - t0;
    if (rc == SOCKET_ERROR) return -1;
  }
}

/* ---- helper children ---- */

/* stdio-child MODE LINES GAP_MS: as in both_posix.c (full, flush or unbuffered stdio). */
static int stdio_child(int argc, char **argv, const char *self) {
  const char *mode = argc > 0 ? argv[0] : "";
  long lines = argc > 1 ? parse_long(argv[1], -1) : -1, gap = argc > 2 ? parse_long(argv[2], -1) : -1, i;
  int full = strcmp(mode, "full") == 0, flush = strcmp(mode, "flush") == 0, unbuffered = strcmp(mode, "unbuffered") == 0;
  (void)self;
  if ((!full && !flush && !unbuffered) || lines < 0 || gap < 0)
    return quirk_fail("stdio-child", "usage: stdio-child full|flush|unbuffered LINES GAP_MS");
  /* Text mode would turn each \n into \r\n: the reader is to see the bytes written. */
  if (_setmode(1, _O_BINARY) == -1) return quirk_fail("_setmode", "stdout is not open");
  if (unbuffered && setvbuf(stdout, NULL, _IONBF, 0) != 0) return quirk_fail("setvbuf(_IONBF)", "refused");
  for (i = 1; i <= lines; i++) {
    if (unbuffered) {
      /* Several conversions in one printf: an unbuffered stream may write each piece. */
      if (printf("stdio-child %-10s pid %6lu line %04ld of %04ld ....\n", mode, (unsigned long)GetCurrentProcessId(), i, lines) < 0)
        return 3;
    } else {
      /* fwrite, not printf: Wine's printf flushes at each newline, which would hide the
       * full buffering Windows has (the setvbuf rows of the table in docs/windows.md). */
      char line[96];
      int n = snprintf(line, sizeof line, "stdio-child %-10s pid %6lu line %04ld of %04ld ....\n", mode, (unsigned long)GetCurrentProcessId(), i, lines);
      if (n <= 0 || fwrite(line, 1, (size_t)n, stdout) != (size_t)n) return 3;
    }
    if (flush && fflush(stdout) != 0) return 3;
    if (gap > 0) Sleep((DWORD)gap);
  }
  return fflush(stdout) == 0 ? 0 : 3;
}

/* sleep-child MS [CODE]: one line on stdout, then sleeps MS and exits with CODE. */
static int sleep_child(int argc, char **argv, const char *self) {
  long ms = argc > 0 ? parse_long(argv[0], -1) : -1, code = argc > 1 ? parse_long(argv[1], -1) : 0;
  (void)self;
  if (ms < 0 || code < 0 || code > 255) return quirk_fail("sleep-child", "usage: sleep-child MS [CODE]");
  /* A failed write is fine: the child of zombies-and-sigpipe may have no reader. */
  if (printf("sleep-child pid %lu sleeping %ld ms\n", (unsigned long)GetCurrentProcessId(), ms) >= 0) (void)fflush(stdout);
  Sleep((DWORD)ms);
  return (int)code;
}

/* ---- nonblocking-mode ---- */

#define LATE_BYTE_MS 700

/* Sends one byte after LATE_BYTE_MS: what ends the blocking recv, so that the
 * demonstration cannot hang (Wine ignores SO_RCVTIMEO here, so a timeout would not do). */
static DWORD WINAPI send_late_byte(LPVOID arg) {
  SOCKET w = *(SOCKET *)arg;
  Sleep(LATE_BYTE_MS);
  return send(w, "x", 1, 0) == 1 ? 0 : 1;
}

static int nonblocking_mode(int argc, char **argv, const char *self) {
  SOCKET r, w;
  HANDLE thread;
  u_long on = 1;
  char c;
  int n, e;
  double t0, ms;
  (void)argc, (void)argv, (void)self;

  if (start_winsock() != 0 || loopback_pair(&r, &w, 0) != 0) return 1;
  quirk_side("info", "FIONBIO, computed by <winsock2.h>");
  /* Perl on Windows has no fcntl for sockets; code there hard-codes this number. */
  quirk_say("FIONBIO is %#lx (_IOW('f', 126, u_long))", (unsigned long)FIONBIO);
  quirk_value("fionbio", "%#lx", (unsigned long)FIONBIO);

  quirk_side("wrong", "a socket left in blocking mode (every new socket is)");
  thread = CreateThread(NULL, 0, send_late_byte, &w, 0, NULL);
  if (thread == NULL) return fail_win("CreateThread");
  t0 = now_ms();
  n = recv(r, &c, 1, 0);
  e = n == SOCKET_ERROR ? WSAGetLastError() : 0;
  ms = now_ms() - t0;
  if (WaitForSingleObject(thread, 10000) != WAIT_OBJECT_0) return quirk_fail("WaitForSingleObject", "the sending thread did not finish");
  CloseHandle(thread);
  quirk_say("recv() with no data: returned %d (%s) after %.0f ms, when another thread sent a byte at %d ms", n,
            n == SOCKET_ERROR ? wsa_name(e) : "data", ms, LATE_BYTE_MS);
  quirk_value("blocking_read_errno", "%s", n == SOCKET_ERROR ? wsa_name(e) : "none");
  quirk_value("blocking_read_ms", "%.0f", ms);

  quirk_side("right", "ioctlsocket(s, FIONBIO, &on), as c/io_win.c ipc_set_nonblocking does");
  if (ioctlsocket(r, FIONBIO, &on) != 0) return fail_wsa("ioctlsocket(FIONBIO)");
  t0 = now_ms();
  n = recv(r, &c, 1, 0);
  e = n == SOCKET_ERROR ? WSAGetLastError() : 0;
  ms = now_ms() - t0;
  quirk_say("recv() with no data: returned %d (%s) after %.2f ms", n, n == SOCKET_ERROR ? wsa_name(e) : "data", ms);
  quirk_value("nonblocking_read_errno", "%s", n == SOCKET_ERROR ? wsa_name(e) : "none");
  quirk_value("nonblocking_read_ms", "%.2f", ms);
  closesocket(r);
  closesocket(w);
  return 0;
}

/* ---- inherited-write-end ---- */

/*
 * Child A (exits at once) and child B (lives B_MS) are started with bInheritHandles TRUE
 * and no PROC_THREAD_ATTRIBUTE_HANDLE_LIST, the article's way: B inherits A's write end
 * as well as its own, so A's stream ends only when B exits.
 */
static int inherited_write_end(int argc, char **argv, const char *self) {
  const char *b_ms = argc > 0 ? argv[0] : "2500";
  wchar_t wide_ms[16];
  SOCKET ar, aw, br, bw;
  PROCESS_INFORMATION pa, pb;
  double t0, eof_ms, b_exit_ms;
  (void)self;

  if (parse_long(b_ms, -1) < 0 || strlen(b_ms) >= 15) return quirk_fail("inherited-write-end", "usage: inherited-write-end [B_MS]");
  if (MultiByteToWideChar(CP_ACP, 0, b_ms, -1, wide_ms, 16) == 0) return fail_win("MultiByteToWideChar");
  if (start_winsock() != 0 || loopback_pair(&ar, &aw, 1) != 0 || loopback_pair(&br, &bw, 1) != 0) return 1;
  quirk_side("wrong", "write ends inheritable, CreateProcess(bInheritHandles TRUE) with no handle list");
  t0 = now_ms();
  if (start_sleep_child(L"0", L"0", aw, &pa) != 0) return 1;
  if (start_sleep_child(wide_ms, L"0", bw, &pb) != 0) return 1;
  /* The parent's own copies go: only the children can hold the streams open now. */
  if (closesocket(aw) != 0 || closesocket(bw) != 0) return fail_wsa("closesocket");
  eof_ms = wait_for_eof(ar, t0, 10000);
  if (WaitForSingleObject(pa.hProcess, 10000) != WAIT_OBJECT_0 || WaitForSingleObject(pb.hProcess, 10000) != WAIT_OBJECT_0)
    return quirk_fail("WaitForSingleObject", "a child did not exit within 10 s");
  b_exit_ms = now_ms() - t0;
  quirk_say("A (sleeps 0 ms) and B (sleeps %s ms) started", b_ms);
  if (eof_ms < 0) quirk_say("A's end of stream: none within 10 s");
  else quirk_say("A's end of stream came %.0f ms after the start; B had exited by %.0f ms", eof_ms, b_exit_ms);
  quirk_value("leaky_a_eof_ms", "%.0f", eof_ms);
  quirk_value("leaky_b_exit_ms", "%.0f", b_exit_ms);
  CloseHandle(pa.hProcess);
  CloseHandle(pa.hThread);
  CloseHandle(pb.hProcess);
  CloseHandle(pb.hThread);
  closesocket(ar);
  closesocket(br);
  return 0;
}

/* ---- fd-setsize ---- */

#define PAIRS (FD_SETSIZE + 1)

/*
 * Windows' fd_set is a count plus an array of FD_SETSIZE sockets, and FD_SET does nothing
 * once the array is full: the 65th socket is silently left out, and select() never
 * reports it, whatever arrives on it.
 */
static int fd_setsize(int argc, char **argv, const char *self) {
  static SOCKET readers[PAIRS], writers[PAIRS];
  fd_set set;
  struct timeval tv = {0, 500000};
  int i, rc, made = 0, status = 0;
  SOCKET last;
  (void)argc, (void)argv, (void)self;

  if (start_winsock() != 0) return 1;
  for (made = 0; made < PAIRS; made++) {
    if (loopback_pair(&readers[made], &writers[made], 0) != 0) {
      status = 1;
      goto done;
    }
  }
  last = readers[PAIRS - 1];
  quirk_side("wrong", "quirk_c is built with Winsock's default FD_SETSIZE");
  quirk_say("FD_SETSIZE is %d here", (int)FD_SETSIZE);
  quirk_value("fd_setsize", "%d", (int)FD_SETSIZE);
  FD_ZERO(&set);
  for (i = 0; i < PAIRS; i++) FD_SET(readers[i], &set);
  quirk_say("FD_SET of %d sockets: fd_count is %u, the %dth is %s", PAIRS, (unsigned)set.fd_count, PAIRS, FD_ISSET(last, &set) ? "in the set" : "not in the set");
  quirk_value("fd_count", "%u", (unsigned)set.fd_count);
  if (send(writers[PAIRS - 1], "x", 1, 0) != 1) {
    status = fail_wsa("send");
    goto done;
  }
  rc = select(0, &set, NULL, NULL, &tv);
  if (rc == SOCKET_ERROR) {
    status = fail_wsa("select");
    goto done;
  }
  quirk_say("one byte sent to the %dth socket; select() over the set returned %d after up to 500 ms", PAIRS, rc);
  quirk_value("select_full_set", "%d", rc);

  quirk_side("right", "at most FD_SETSIZE sockets per set (the addon: FD_SETSIZE 1024, and checkCapacity)");
  FD_ZERO(&set);
  FD_SET(last, &set);
  rc = select(0, &set, NULL, NULL, &tv);
  if (rc == SOCKET_ERROR) {
    status = fail_wsa("select");
    goto done;
  }
  quirk_say("select() over a set holding just that socket returned %d; FD_ISSET: %d", rc, FD_ISSET(last, &set) ? 1 : 0);
  quirk_value("select_small_set", "%d", rc);
done:
  for (i = 0; i < made; i++) {
    closesocket(readers[i]);
    closesocket(writers[i]);
  }
  return status;
}

/* ---- zombies-and-sigpipe ---- */

static int zombies_and_sigpipe(int argc, char **argv, const char *self) {
  PROCESS_INFORMATION pi;
  DWORD code = 0, pid;
  HANDLE again;
  SOCKET r, w;
  int i, sent = 0, e = 0;
  (void)argc, (void)argv, (void)self;

  if (start_winsock() != 0 || loopback_pair(&r, &w, 1) != 0) return 1;
  quirk_side("info", "an exited child's process object lives while a handle is open");
  if (start_sleep_child(L"0", L"42", w, &pi) != 0) return 1;
  CloseHandle(pi.hThread);
  pid = pi.dwProcessId;
  if (WaitForSingleObject(pi.hProcess, 10000) != WAIT_OBJECT_0) return quirk_fail("WaitForSingleObject", "the child did not exit within 10 s");
  Sleep(200);
  if (!GetExitCodeProcess(pi.hProcess, &code)) return fail_win("GetExitCodeProcess");
  quirk_say("pid %lu exited; 200 ms later GetExitCodeProcess on the handle still gives %lu", (unsigned long)pid, (unsigned long)code);
  quirk_value("exit_code_kept", "%lu", (unsigned long)code);
  again = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  quirk_say("OpenProcess(pid %lu) while the handle is open: %s", (unsigned long)pid, again != NULL ? "succeeds (the object still exists)" : win_name(GetLastError()));
  quirk_value("open_while_held", "%d", again != NULL ? 1 : 0);
  if (again != NULL) CloseHandle(again);
  /* CloseHandle is Windows' waitpid: the last handle gone, the process object goes. */
  CloseHandle(pi.hProcess);
  again = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  e = again == NULL ? (int)GetLastError() : 0;
  quirk_say("OpenProcess(pid %lu) after CloseHandle: %s", (unsigned long)pid, again != NULL ? "still succeeds" : win_name((DWORD)e));
  quirk_value("open_after_close", "%d", again != NULL ? 1 : 0);
  if (again != NULL) CloseHandle(again);

  quirk_side("info", "writing to a socket whose reader is gone: an error, never a signal");
  closesocket(r);
  /* The first sends may still be accepted; the peer's reset makes a later one fail. */
  for (i = 0; i < 50; i++) {
    if (send(w, "x", 1, 0) == SOCKET_ERROR) {
      e = WSAGetLastError();
      break;
    }
    sent++;
    Sleep(20);
  }
  if (e != 0) quirk_say("%d send() calls succeeded, then send() failed with %s (%d); the process lives on", sent, wsa_name(e), e);
  else quirk_say("all %d send() calls succeeded", sent);
  quirk_value("write_after_reader_gone", "%s", e != 0 ? wsa_name(e) : "none");
  closesocket(w);
  return 0;
}

/*
 * select-details: three ways Winsock's select() is not POSIX's. nfds is ignored (the sets
 * carry counts, not bitmaps); three empty sets are an error, not a portable sleep; and a
 * socket's overlapped attribute (chosen at creation) and its blocking mode (FIONBIO, any
 * time) are separate things: an overlapped socket blocks by default.
 */
static int recv_error(SOCKET s, double *ms) {
  char c;
  double t0 = now_ms();
  int n = recv(s, &c, 1, 0), e = n == SOCKET_ERROR ? WSAGetLastError() : 0;
  *ms = now_ms() - t0;
  return e;
}

static int select_details(int argc, char **argv, const char *self) {
  SOCKET r, w, listener, ovl = INVALID_SOCKET, ovl_peer = INVALID_SOCKET;
  struct sockaddr_in addr;
  int len = (int)sizeof addr, rc, e;
  fd_set set;
  struct timeval tv;
  double t0, ms;
  u_long on = 1;
  DWORD timeout_ms = 300;
  (void)argc;
  (void)argv;
  (void)self;
  if (start_winsock() != 0) return 1;
  if (loopback_pair(&r, &w, 0) != 0) return 1;
  if (send(w, "x", 1, 0) != 1) return fail_wsa("send");

  quirk_side("info", "select(nfds = 0, {a socket with a byte to read}, 500 ms)");
  FD_ZERO(&set);
  FD_SET(r, &set);
  tv.tv_sec = 0;
  tv.tv_usec = 500000;
  rc = select(0, &set, NULL, NULL, &tv);
  quirk_say("returned %d: nfds is ignored, the set says which sockets to watch", rc);
  quirk_value("nfds0_result", "%d", rc);

  quirk_side("info", "select(0, NULL, NULL, NULL, 100 ms): no socket at all");
  tv.tv_sec = 0;
  tv.tv_usec = 100000;
  t0 = now_ms();
  rc = select(0, NULL, NULL, NULL, &tv);
  e = rc == SOCKET_ERROR ? WSAGetLastError() : 0;
  quirk_say("returned %d after %.0f ms%s%s", rc, now_ms() - t0, rc == SOCKET_ERROR ? ": " : "", rc == SOCKET_ERROR ? wsa_name(e) : "");
  quirk_value("empty_sets_result", "%d", rc);
  quirk_value("empty_sets_error", "%s", rc == SOCKET_ERROR ? wsa_name(e) : "none");

  quirk_side("info", "overlapped (socket()) and non-blocking (FIONBIO) are separate");
  /* An overlapped socket, connected: socket() gives WSA_FLAG_OVERLAPPED by default. */
  listener = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
  if (listener == INVALID_SOCKET) return fail_wsa("WSASocketW(listener)");
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&addr, len) != 0 || listen(listener, 1) != 0 ||
      getsockname(listener, (struct sockaddr *)&addr, &len) != 0)
    return fail_wsa("bind/listen/getsockname");
  ovl = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (ovl == INVALID_SOCKET) return fail_wsa("socket");
  if (connect(ovl, (struct sockaddr *)&addr, len) != 0) return fail_wsa("connect");
  ovl_peer = accept(listener, NULL, NULL);
  if (ovl_peer == INVALID_SOCKET) return fail_wsa("accept");
  closesocket(listener);
  /* Blocking by default although overlapped: recv waits, here until SO_RCVTIMEO. */
  if (setsockopt(ovl, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout_ms, sizeof timeout_ms) != 0) return fail_wsa("setsockopt(SO_RCVTIMEO)");
  e = recv_error(ovl, &ms);
  quirk_say("overlapped socket, default mode: recv waited %.0f ms, then %s", ms, e != 0 ? wsa_name(e) : "returned data");
  quirk_value("ovl_default_error", "%s", e != 0 ? wsa_name(e) : "none");
  quirk_value("ovl_default_ms", "%.0f", ms);
  if (ioctlsocket(ovl, FIONBIO, &on) != 0) return fail_wsa("ioctlsocket(overlapped, FIONBIO)");
  e = recv_error(ovl, &ms);
  quirk_say("overlapped socket after FIONBIO: recv returned after %.0f ms with %s", ms, e != 0 ? wsa_name(e) : "data");
  quirk_value("ovl_nonblocking_error", "%s", e != 0 ? wsa_name(e) : "none");
  /* The non-overlapped reader of the pair: the byte sent above is read first. */
  if (ioctlsocket(r, FIONBIO, &on) != 0) return fail_wsa("ioctlsocket(non-overlapped, FIONBIO)");
  {
    char c;
    if (recv(r, &c, 1, 0) != 1) return fail_wsa("recv(the byte)");
  }
  e = recv_error(r, &ms);
  quirk_say("non-overlapped socket (WSASocket, dwFlags 0) after FIONBIO: recv returned after %.0f ms with %s", ms, e != 0 ? wsa_name(e) : "data");
  quirk_value("nonovl_nonblocking_error", "%s", e != 0 ? wsa_name(e) : "none");
  closesocket(ovl);
  closesocket(ovl_peer);
  closesocket(r);
  closesocket(w);
  return 0;
}

/*
 * article-bugs, the Windows side: a SOCKET is an unsigned 64-bit number, so the article's
 * `listener < 0` can never catch INVALID_SOCKET (only the truncation to int makes it look
 * like -1); CreateProcess reports failure in GetLastError(), so strerror(errno) after it
 * prints errno's stale value; and ReadFile on a pipe whose writers are gone fails with
 * ERROR_BROKEN_PIPE, which is how end of stream looks (commit e9c71ac's thread treated it
 * as an error).
 */
static int article_bugs(int argc, char **argv, const char *self) {
  SOCKET invalid = INVALID_SOCKET;
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  wchar_t cmd[] = L"Z:\\no\\such\\program.exe";
  HANDLE rd, wr;
  char buf[16];
  DWORD got = 0, e;
  BOOL ok;
  (void)argc;
  (void)argv;
  (void)self;

  quirk_side("wrong", "SOCKET is unsigned: `listener < 0` is never true");
  quirk_say("sizeof(SOCKET) = %u bytes; INVALID_SOCKET = %llu; (int)INVALID_SOCKET = %d", (unsigned)sizeof(SOCKET),
            (unsigned long long)invalid, (int)invalid);
  quirk_say("gcc -Wextra warns that `socket < 0` is always false for this type");
  quirk_value("socket_bytes", "%u", (unsigned)sizeof(SOCKET));
  quirk_value("invalid_socket", "%llu", (unsigned long long)invalid);
  quirk_value("invalid_as_int", "%d", (int)invalid);

  quirk_side("wrong", "strerror(errno) after CreateProcess fails");
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  errno = 0;
  ok = CreateProcessW(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi);
  e = GetLastError();
  if (ok) {
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    return quirk_fail("CreateProcessW", "a program that does not exist was started");
  }
  quirk_say("CreateProcessW failed; strerror(errno) says \"%s\"; GetLastError() = %lu (%s)", strerror(errno), (unsigned long)e, win_name(e));
  quirk_value("errno_after_createprocess", "%d", errno);
  quirk_value("getlasterror_after_createprocess", "%lu", (unsigned long)e);

  quirk_side("info", "ReadFile at end of stream on a pipe: FALSE with ERROR_BROKEN_PIPE");
  if (!CreatePipe(&rd, &wr, NULL, 0)) return fail_win("CreatePipe");
  CloseHandle(wr);
  ok = ReadFile(rd, buf, sizeof buf, &got, NULL);
  e = ok ? 0 : GetLastError();
  quirk_say("ReadFile returned %s, %lu bytes, GetLastError() = %lu%s", ok ? "TRUE" : "FALSE", (unsigned long)got, (unsigned long)e,
            e == ERROR_BROKEN_PIPE ? " (ERROR_BROKEN_PIPE): this is end of stream, not a failure" : "");
  quirk_value("pipe_eof_error", "%lu", (unsigned long)e);
  CloseHandle(rd);
  return 0;
}

/*
 * redirect-std, the Windows side: the article's Perl way for an API without STARTUPINFO.
 * SetStdHandle makes the socket the parent's standard output, CreateProcess (bInheritHandles
 * TRUE, no STARTF_USESTDHANDLES) passes the parent's standard handles on, SetStdHandle
 * restores. While it lasts, the parent's own WriteFile(GetStdHandle(...)) goes to the
 * child's socket; the C runtime's fd 1, opened at startup, still has the old handle.
 */
#define REDIRECT_PARENT_LINE "parent: its own line, written while the child was being started\n"

static int redirect_run(int through_own_std_handle, const char *key) {
  SOCKET r, w;
  HANDLE saved = GetStdHandle(STD_OUTPUT_HANDLE), now;
  wchar_t self[MAX_PATH], cmd[MAX_PATH + 32];
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  BOOL ok;
  DWORD wrote;
  char got[4096];
  int total = 0, n;
  char k[48];
  if (self_path(self, MAX_PATH) != 0) return 1;
  if (loopback_pair(&r, &w, 1) != 0) return 1;
  wcscpy(cmd, L"\"");
  wcscat(cmd, self);
  wcscat(cmd, L"\" sleep-child 0 0");
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  fflush(stdout);
  if (through_own_std_handle) {
    if (!SetStdHandle(STD_OUTPUT_HANDLE, (HANDLE)w)) return fail_win("SetStdHandle");
  } else {
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = (HANDLE)w;
    si.hStdError = (HANDLE)w;
  }
  ok = CreateProcessW(self, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
  /* The parent's own line, through its standard handle as it is now. */
  now = GetStdHandle(STD_OUTPUT_HANDLE);
  if (!WriteFile(now, REDIRECT_PARENT_LINE, (DWORD)(sizeof REDIRECT_PARENT_LINE - 1), &wrote, NULL)) return fail_win("WriteFile");
  if (through_own_std_handle && !SetStdHandle(STD_OUTPUT_HANDLE, saved)) return fail_win("SetStdHandle(restore)");
  closesocket(w);
  if (!ok) return fail_win("CreateProcessW");
  for (;;) {
    n = recv(r, got + total, (int)sizeof got - 1 - total, 0);
    if (n <= 0 || total + n >= (int)sizeof got - 1) {
      if (n > 0) total += n;
      break;
    }
    total += n;
  }
  got[total] = '\0';
  WaitForSingleObject(pi.hProcess, 10000);
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  closesocket(r);
  quirk_say("the child's socket received: %s%s", strstr(got, "sleep-child") ? "the child's line" : "no line from the child",
            strstr(got, "parent: its own line") ? ", and the parent's own line" : ", nothing of the parent's");
  (void)snprintf(k, sizeof k, "%s_child_in_socket", key);
  quirk_value(k, "%s", strstr(got, "sleep-child") ? "yes" : "no");
  (void)snprintf(k, sizeof k, "%s_parent_in_socket", key);
  quirk_value(k, "%s", strstr(got, "parent: its own line") ? "yes" : "no");
  return 0;
}

static int redirect_std(int argc, char **argv, const char *self) {
  (void)argc;
  (void)argv;
  (void)self;
  if (start_winsock() != 0) return 1;
  quirk_side("wrong", "SetStdHandle(the socket), CreateProcess without STARTF_USESTDHANDLES, SetStdHandle(restore)");
  if (redirect_run(1, "own") != 0) return 1;
  quirk_side("right", "give the socket to the child only: STARTUPINFO with STARTF_USESTDHANDLES");
  quirk_say("(the parent's own line below went to the parent's real stdout)");
  if (redirect_run(0, "child_only") != 0) return 1;
  return 0;
}

/*
 * order-child MODE LINES GAP_MS: LINES lines alternating "out K" on stdout and "err K" on
 * stderr, GAP_MS apart, through stdio with its default buffering (MODE stdio: stdout fully
 * buffered when it is not a terminal, stderr never fully buffered), or with fflush after
 * every line (MODE flush). stdout goes through fwrite, as in stdio-child, so that Wine's
 * printf, which flushes at each newline, cannot hide the buffering.
 */
static int order_child(int argc, char **argv, const char *self) {
  const char *mode = argc > 0 ? argv[0] : "";
  long lines = argc > 1 ? parse_long(argv[1], -1) : -1, gap = argc > 2 ? parse_long(argv[2], -1) : -1, i;
  int flush = strcmp(mode, "flush") == 0;
  (void)self;
  if ((!flush && strcmp(mode, "stdio") != 0) || lines < 0 || gap < 0) return quirk_fail("order-child", "usage: order-child stdio|flush LINES GAP_MS");
  for (i = 1; i <= lines; i++) {
    char line[64];
    int n = snprintf(line, sizeof line, "%s %ld pid %ld\n", i % 2 ? "out" : "err", i, (long)GetCurrentProcessId());
    if (n <= 0) return 3;
    if (i % 2) {
      if (fwrite(line, 1, (size_t)n, stdout) != (size_t)n) return 3;
      if (flush && fflush(stdout) != 0) return 3;
    } else if (fputs(line, stderr) == EOF) {
      return 3;
    }
    if (gap > 0) Sleep((DWORD)gap);
  }
  return fflush(stdout) == 0 ? 0 : 3;
}


/* ------------------------------------------- master-keeps-copy (issue 12) ---- */

/* Writes the worker's banner on s and closes it; 0, or the failing call's report. */
static int serve_socket(SOCKET s, const char *how) {
  char line[64];
  int n = snprintf(line, sizeof line, "worker %lu served this connection\n", GetCurrentProcessId());
  if (send(s, line, n, 0) != n) {
    int e = WSAGetLastError();
    DWORD flags = 0;
    /* Say whether the number is a handle here at all: under Wine an inherited SOCKET is. */
    return quirk_fail("serve-once", "send on the %s socket %llu: %s (%d); as a handle here it is %s", how, (unsigned long long)s, wsa_name(e), e,
                      GetHandleInformation((HANDLE)s, &flags) ? "valid" : "not valid");
  }
  if (closesocket(s) != 0) return fail_wsa("closesocket");
  return 0;
}

/* `serve-once SOCKET` (helper worker): the Winsock FAQ's way, the SOCKET inherited and its
 * number on the command line. `serve-once info` (the libuv way): a WSAPROTOCOL_INFOW read
 * from stdin, made by WSADuplicateSocketW for this process, rebuilt with WSASocketW.
 * `serve-once handle`: a SOCKET value read from stdin, put here by DuplicateHandle. */
static int serve_once(int argc, char **argv, const char *self) {
  WSAPROTOCOL_INFOW info;
  DWORD got = 0, total = 0;
  SOCKET s;
  (void)self;
  if (argc < 1) return quirk_fail("serve-once", "usage: serve-once SOCKET|info");
  if (start_winsock() != 0) return 1;
  if (strcmp(argv[0], "handle") == 0) {
    /* A SOCKET value that another process made for us with DuplicateHandle: 8 bytes on stdin. */
    unsigned long long value = 0;
    while (total < sizeof value) {
      if (!ReadFile(GetStdHandle(STD_INPUT_HANDLE), (char *)&value + total, (DWORD)sizeof value - total, &got, NULL) || got == 0)
        return quirk_fail("serve-once", "stdin ended after %lu of 8 bytes of the handle value", total);
      total += got;
    }
    return serve_socket((SOCKET)value, "DuplicateHandle'd");
  }
  if (strcmp(argv[0], "info") != 0) return serve_socket((SOCKET)_strtoui64(argv[0], NULL, 10), "inherited");
  while (total < sizeof info) {
    if (!ReadFile(GetStdHandle(STD_INPUT_HANDLE), (char *)&info + total, (DWORD)sizeof info - total, &got, NULL) || got == 0)
      return quirk_fail("serve-once", "stdin ended after %lu of %u bytes of WSAPROTOCOL_INFOW", total, (unsigned)sizeof info);
    total += got;
  }
  s = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &info, 0, 0);
  if (s == INVALID_SOCKET) return fail_wsa("WSASocketW(FROM_PROTOCOL_INFO)");
  return serve_socket(s, "duplicated");
}

/* Reads the client end until EOF or until nothing arrived for quiet_ms. */
static int client_reads(SOCKET s, char *buf, int cap, int quiet_ms, int *eof) {
  int total = 0;
  *eof = 0;
  for (;;) {
    fd_set set;
    struct timeval tv = {quiet_ms / 1000, (quiet_ms % 1000) * 1000};
    int n;
    FD_ZERO(&set);
    FD_SET(s, &set);
    if (select(0, &set, NULL, NULL, &tv) <= 0) break;
    n = recv(s, buf + total, cap - 1 - total, 0);
    if (n <= 0) {
      *eof = n == 0;
      break;
    }
    total += n;
    if (total == cap - 1) break;
  }
  buf[total] = '\0';
  return total;
}

/*
 * Starts `quirk_c serve-once ARG` with a pipe as its stdin (*to_child: our end) and our
 * stderr as its stdout and stderr. `extra` is made inheritable for this call only.
 */
static int start_worker(const char *arg, HANDLE extra, HANDLE *to_child, PROCESS_INFORMATION *pi) {
  wchar_t self[MAX_PATH], cmd[MAX_PATH + 64];
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  STARTUPINFOW si;
  HANDLE child_in;
  BOOL ok;
  if (self_path(self, MAX_PATH) != 0) return 1;
  swprintf(cmd, MAX_PATH + 64, L"\"%ls\" serve-once %hs", self, arg);
  if (!CreatePipe(&child_in, to_child, &sa, 0)) return fail_win("CreatePipe");
  if (!SetHandleInformation(*to_child, HANDLE_FLAG_INHERIT, 0)) return fail_win("SetHandleInformation");
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = child_in;
  si.hStdOutput = GetStdHandle(STD_ERROR_HANDLE);
  si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
  if (extra != NULL && !SetHandleInformation(extra, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) return fail_win("SetHandleInformation");
  ok = CreateProcessW(self, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, pi);
  if (extra != NULL) (void)SetHandleInformation(extra, HANDLE_FLAG_INHERIT, 0);
  CloseHandle(child_in);
  if (!ok) return fail_win("CreateProcessW");
  CloseHandle(pi->hThread);
  return 0;
}

static DWORD finish_worker(PROCESS_INFORMATION *pi) {
  DWORD code = 259;
  if (WaitForSingleObject(pi->hProcess, 20000) != WAIT_OBJECT_0) {
    (void)TerminateProcess(pi->hProcess, 1);
    (void)WaitForSingleObject(pi->hProcess, 5000);
  }
  (void)GetExitCodeProcess(pi->hProcess, &code);
  CloseHandle(pi->hProcess);
  return code;
}

/* One handoff: `inherit` (the FAQ) or the WSADuplicateSocketW way (the worker must exist
 * first: the duplicate is made for its process ID). The master closes its copy after the
 * handoff unless `keep`. */
static int handoff_once(int inherit, int keep, const char *prefix) {
  enum { QUIET_MS = 1000 };
  SOCKET conn, client;
  PROCESS_INFORMATION pi;
  HANDLE to_child;
  char buf[256], key[64], num[32];
  DWORD code, wrote = 0;
  int eof;
  if (loopback_pair(&client, &conn, 1) != 0) return 1;
  snprintf(num, sizeof num, "%llu", (unsigned long long)conn);
  if (start_worker(inherit ? num : "info", inherit ? (HANDLE)conn : NULL, &to_child, &pi) != 0) return 1;
  if (!inherit) {
    WSAPROTOCOL_INFOW info;
    if (WSADuplicateSocketW(conn, pi.dwProcessId, &info) != 0) return fail_wsa("WSADuplicateSocketW");
    if (!WriteFile(to_child, &info, (DWORD)sizeof info, &wrote, NULL) || wrote != sizeof info) return fail_win("WriteFile(WSAPROTOCOL_INFOW)");
  }
  CloseHandle(to_child);
  if (!keep) closesocket(conn);
  code = finish_worker(&pi);
  quirk_say("the worker (pid %lu, %s) served and closed its copy: exit code %lu", pi.dwProcessId, inherit ? "inherited SOCKET" : "WSADuplicateSocketW", code);
  client_reads(client, buf, (int)sizeof buf, QUIET_MS, &eof);
  buf[strcspn(buf, "\n")] = '\0';
  quirk_say("the client read \"%s\", then %s", buf, eof ? "EOF" : "nothing for 1000 ms: no EOF");
  snprintf(key, sizeof key, "%s_worker_exit", prefix);
  quirk_value(key, "%lu", code);
  snprintf(key, sizeof key, "%s_banner", prefix);
  quirk_value(key, "%s", strstr(buf, "served this connection") != NULL ? "yes" : "no");
  snprintf(key, sizeof key, "%s_eof", prefix);
  quirk_value(key, "%s", eof ? "yes" : "no");
  if (keep) {
    closesocket(conn);
    client_reads(client, buf, (int)sizeof buf, 5000, &eof);
    quirk_say("the master closes its copy: the client %s", eof ? "sees EOF at once" : "still sees no EOF");
    snprintf(key, sizeof key, "%s_eof_after_master_close", prefix);
    quirk_value(key, "%s", eof ? "yes" : "no");
  }
  closesocket(client);
  return 0;
}

/* master-keeps-copy: as in both_posix.c; the socket handed over with WSADuplicateSocketW,
 * then, for information, inherited as the Winsock FAQ does. */
static int master_keeps_copy(int argc, char **argv, const char *self) {
  (void)argc, (void)argv, (void)self;
  if (start_winsock() != 0) return 1;
  quirk_side("wrong", "the master keeps its copy of the handed-over socket (WSADuplicateSocketW)");
  if (handoff_once(0, 1, "kept") != 0) return 1;
  quirk_side("right", "the master closes its copy once the worker has it");
  if (handoff_once(0, 0, "closed") != 0) return 1;
  quirk_side("info", "the Winsock FAQ's way: the SOCKET inherited, its number on the command line");
  if (handoff_once(1, 0, "inherited") != 0) return 1;
  quirk_note("the connection ends when its last handle closes, in any process: the worker's closesocket only drops one of two.");
  return 0;
}

const struct quirk_command QUIRK_COMMANDS_BOTH[] = {
  {"nonblocking-mode", "blocking recv vs ioctlsocket(FIONBIO); FIONBIO's value", nonblocking_mode},
  {"inherited-write-end", "[B_MS] another child's inherited write end delays EOF", inherited_write_end},
  {"fd-setsize", "the 65th socket is silently left out of a default fd_set", fd_setsize},
  {"zombies-and-sigpipe", "process handles keep exit codes; send() errors instead of SIGPIPE", zombies_and_sigpipe},
  {"stdio-child", "helper: full|flush|unbuffered LINES GAP_MS, lines through stdio", stdio_child},
  {"sleep-child", "helper: MS [CODE], one line, sleep, exit CODE", sleep_child},
  {"order-child", "helper: stdio|flush LINES GAP_MS, stdout and stderr lines alternating", order_child},
  {"select-details", "nfds ignored; three empty sets; overlapped vs non-blocking", select_details},
  {"article-bugs", "SOCKET is unsigned; strerror after CreateProcess; ERROR_BROKEN_PIPE at EOF", article_bugs},
  {"redirect-std", "SetStdHandle around CreateProcess vs STARTF_USESTDHANDLES", redirect_std},
  {"master-keeps-copy", "the master's copy of a handed-over socket keeps it open after the worker closes it", master_keeps_copy},
  {"serve-once", "helper: SOCKET|info|handle, writes a banner on the socket handed over and closes it", serve_once},
  {NULL, NULL, NULL},
};
