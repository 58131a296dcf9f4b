/*
 * quirk_win.c - quirk_c's subcommands on Windows (output format: quirk.h).
 *
 * Each subcommand does the wrong thing and the right thing side by side and prints what it
 * measured: return values, error codes, bytes. The "right" sides call the Windows API the
 * way the project's addon does (c/io_win.c, c/spawn_win.c, c/socketpair.c), so a change
 * in behaviour shows up here as a changed value. Two subcommands are helpers that the
 * demonstrations start as children: `emit` and `print-argv`.
 */
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include "quirk.h"

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <process.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* How long a demonstration waits for a child or for bytes before calling it "nothing". */
#define CHILD_TIMEOUT_MS 10000
#define READ_TIMEOUT_MS 1000

/* ---------------------------------------------------------------- error names ---- */

struct code_name {
  long code;
  const char *name;
};

static const struct code_name WSA_NAMES[] = {
  {WSAEINTR, "WSAEINTR"},           {WSAEBADF, "WSAEBADF"},
  {WSAEACCES, "WSAEACCES"},         {WSAEFAULT, "WSAEFAULT"},
  {WSAEINVAL, "WSAEINVAL"},         {WSAEWOULDBLOCK, "WSAEWOULDBLOCK"},
  {WSAENOTSOCK, "WSAENOTSOCK"},     {WSAEOPNOTSUPP, "WSAEOPNOTSUPP"},
  {WSAEADDRINUSE, "WSAEADDRINUSE"}, {WSAECONNABORTED, "WSAECONNABORTED"},
  {WSAECONNRESET, "WSAECONNRESET"}, {WSAENOTCONN, "WSAENOTCONN"},
  {WSAETIMEDOUT, "WSAETIMEDOUT"},   {WSAECONNREFUSED, "WSAECONNREFUSED"},
  {WSANOTINITIALISED, "WSANOTINITIALISED"},
  {0, NULL},
};

static const struct code_name WIN32_NAMES[] = {
  {ERROR_SUCCESS, "ERROR_SUCCESS"},
  {ERROR_FILE_NOT_FOUND, "ERROR_FILE_NOT_FOUND"},
  {ERROR_ACCESS_DENIED, "ERROR_ACCESS_DENIED"},
  {ERROR_INVALID_ACCESS, "ERROR_INVALID_ACCESS"},
  {ERROR_INVALID_HANDLE, "ERROR_INVALID_HANDLE"},
  {ERROR_INVALID_PARAMETER, "ERROR_INVALID_PARAMETER"},
  {ERROR_BROKEN_PIPE, "ERROR_BROKEN_PIPE"},
  {ERROR_NO_DATA, "ERROR_NO_DATA"},
  {ERROR_IO_PENDING, "ERROR_IO_PENDING"},
  {0, NULL},
};

static const struct code_name ERRNO_NAMES[] = {
  {0, "0"}, {EBADF, "EBADF"}, {EINVAL, "EINVAL"}, {ENOENT, "ENOENT"}, {EACCES, "EACCES"}, {0, NULL},
};

static const char *name_of(const struct code_name *table, long code, const char *fallback) {
  for (; table->name != NULL; table++)
    if (table->code == code) return table->name;
  return fallback;
}

static const char *wsa_name(int code) { return name_of(WSA_NAMES, code, "(unnamed Winsock error)"); }
static const char *win32_name(DWORD code) { return name_of(WIN32_NAMES, (long)code, "(unnamed Win32 error)"); }
static const char *errno_name(int e) { return name_of(ERRNO_NAMES, e, "(other errno)"); }

/* "Wine 8.0" when this runs under Wine (ntdll exports wine_get_version), else NULL: the
 * demonstrations say which system answered, since Wine differs from Windows in places. */
static const char *wine_version(void) {
  typedef const char *(CDECL * version_fn)(void);
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  FARPROC p = ntdll ? GetProcAddress(ntdll, "wine_get_version") : NULL;
  version_fn fn;
  if (p == NULL) return NULL;
  memcpy(&fn, &p, sizeof fn); /* function pointer to function pointer, without a cast warning */
  return fn();
}

/* The Universal CRT turns a bad argument (setvbuf size 0, _close of a non-descriptor) into
 * a fast-fail that ends the process unless a handler is installed; with one, the call
 * returns -1 and sets errno, as old msvcrt.dll does. The demonstrations want the return. */
#if defined(_MSC_VER) || defined(_UCRT)
static void ignore_invalid_parameter(const wchar_t *expr, const wchar_t *fn, const wchar_t *file,
                                     unsigned line, uintptr_t reserved) {
  (void)expr, (void)fn, (void)file, (void)line, (void)reserved;
}
static void survive_bad_crt_arguments(void) { (void)_set_invalid_parameter_handler(ignore_invalid_parameter); }
#else
static void survive_bad_crt_arguments(void) {}
#endif

/* ------------------------------------------------------- sockets and children ---- */

static int start_winsock(void) {
  WSADATA data;
  int rc = WSAStartup(MAKEWORD(2, 2), &data);
  if (rc != 0) return quirk_fail("WSAStartup", "%s (%d)", wsa_name(rc), rc);
  return 0;
}

/* Creates a TCP socket: with socket() (overlapped, the Winsock default) or with
 * WSASocketW(..., dwFlags 0) (non-overlapped, what c/io_win.c uses). */
static SOCKET tcp_socket(int overlapped) {
  if (overlapped) return socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  return WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0);
}

/* The article's loopback socket pair (c/socketpair.c does it with more checks):
 * pair[0] is the parent's read end, pair[1] the end a child writes to. The accepted socket
 * inherits the listener's overlapped attribute, so both ends are of the kind asked for. */
static int loopback_pair(SOCKET pair[2], int overlapped) {
  struct sockaddr_in addr;
  int len = sizeof addr;
  SOCKET listener = tcp_socket(overlapped), connector = INVALID_SOCKET, accepted = INVALID_SOCKET;
  const char *step = "socket";
  if (listener == INVALID_SOCKET) goto fail;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  step = "bind";
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0) goto fail;
  step = "listen";
  if (listen(listener, 1) != 0) goto fail;
  step = "getsockname";
  if (getsockname(listener, (struct sockaddr *)&addr, &len) != 0) goto fail;
  step = "socket";
  connector = tcp_socket(overlapped);
  if (connector == INVALID_SOCKET) goto fail;
  step = "connect";
  if (connect(connector, (struct sockaddr *)&addr, sizeof addr) != 0) goto fail;
  step = "accept";
  accepted = accept(listener, NULL, NULL);
  if (accepted == INVALID_SOCKET) goto fail;
  (void)closesocket(listener);
  pair[0] = accepted;
  pair[1] = connector;
  return 0;
fail: {
  int e = WSAGetLastError();
  if (connector != INVALID_SOCKET) (void)closesocket(connector);
  if (listener != INVALID_SOCKET) (void)closesocket(listener);
  return quirk_fail("loopback pair", "%s failed: %s (%d)", step, wsa_name(e), e);
}
}

/* Reads what arrives on s until end of stream, or until nothing came for READ_TIMEOUT_MS.
 * Returns the byte count (at most cap are kept in buf), or -1 on a socket error. */
static int read_until_quiet(SOCKET s, char *buf, int cap) {
  int total = 0;
  for (;;) {
    fd_set readable;
    struct timeval tv = {READ_TIMEOUT_MS / 1000, (READ_TIMEOUT_MS % 1000) * 1000};
    char chunk[512];
    int rc, n;
    FD_ZERO(&readable);
    FD_SET(s, &readable);
    rc = select(0, &readable, NULL, NULL, &tv);
    if (rc == SOCKET_ERROR) return -1;
    if (rc == 0) return total; /* quiet: nothing more is coming */
    n = recv(s, chunk, sizeof chunk, 0);
    if (n == SOCKET_ERROR) return -1;
    if (n == 0) return total; /* end of stream */
    if (total < cap) memcpy(buf + total, chunk, (size_t)(n < cap - total ? n : cap - total));
    total += n;
  }
}

/* What a pipe holds right now, read without ever blocking. */
static DWORD drain_pipe(HANDLE h, char *buf, DWORD cap) {
  DWORD avail = 0, got = 0;
  if (!PeekNamedPipe(h, NULL, 0, NULL, &avail, NULL) || avail == 0) return 0;
  if (avail > cap) avail = cap;
  if (!ReadFile(h, buf, avail, &got, NULL)) return 0;
  return got;
}

/* The line as observed: printable ASCII as is, everything else as \xNN. */
static void say_bytes(const char *label, const char *p, int n) {
  char shown[400];
  size_t at = 0;
  int i;
  for (i = 0; i < n && at + 5 < sizeof shown; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 0x20 && c < 0x7f) shown[at++] = (char)c;
    else at += (size_t)snprintf(shown + at, sizeof shown - at, "\\x%02x", c);
  }
  shown[at] = '\0';
  quirk_say("%s: %d bytes \"%s\"", label, n, shown);
}

/* `"<this exe>" ARGS` as a wide command line (malloc'd): the children are this program. */
static wchar_t *self_command_line(const char *args) {
  wchar_t exe[MAX_PATH];
  DWORD n = GetModuleFileNameW(NULL, exe, MAX_PATH);
  size_t args_len = strlen(args), total;
  wchar_t *line;
  int converted;
  if (n == 0 || n >= MAX_PATH) return NULL;
  total = n + 3 + args_len + 1;
  line = malloc(total * sizeof *line);
  if (line == NULL) return NULL;
  line[0] = L'"';
  memcpy(line + 1, exe, n * sizeof *line);
  line[n + 1] = L'"';
  line[n + 2] = L' ';
  converted = MultiByteToWideChar(CP_UTF8, 0, args, (int)args_len + 1, line + n + 3, (int)(args_len + 1));
  if (converted == 0) {
    free(line);
    return NULL;
  }
  return line;
}

/* Starts this program with ARGS. hStdOutput is `out`; STARTF_USESTDHANDLES only when asked,
 * which is the point of startf-usestdhandles. Handles are inherited (bInheritHandles TRUE),
 * so `out` must be inheritable. */
static int start_self(const char *args, HANDLE out, int use_std_handles, PROCESS_INFORMATION *pi) {
  STARTUPINFOW si;
  wchar_t *cmdline = self_command_line(args);
  BOOL ok;
  if (cmdline == NULL) return quirk_fail("command line", "GetModuleFileNameW or conversion failed (%lu)", GetLastError());
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
  si.hStdOutput = out;
  si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
  if (use_std_handles) si.dwFlags = STARTF_USESTDHANDLES;
  ok = CreateProcessW(NULL, cmdline, NULL, NULL, TRUE, 0, NULL, NULL, &si, pi);
  free(cmdline);
  if (!ok) {
    DWORD e = GetLastError();
    return quirk_fail("CreateProcessW", "%s (%lu)", win32_name(e), e);
  }
  CloseHandle(pi->hThread);
  return 0;
}

/* Waits (bounded) for a child started by start_self; its exit code, or -1 if it had to be
 * terminated because it hung. Closes its handle. */
static long finish_child(PROCESS_INFORMATION *pi) {
  DWORD code = 0;
  long result;
  if (WaitForSingleObject(pi->hProcess, CHILD_TIMEOUT_MS) != WAIT_OBJECT_0) {
    (void)TerminateProcess(pi->hProcess, 1);
    (void)WaitForSingleObject(pi->hProcess, CHILD_TIMEOUT_MS);
    result = -1;
  } else {
    result = GetExitCodeProcess(pi->hProcess, &code) ? (long)code : -1;
  }
  CloseHandle(pi->hProcess);
  return result;
}

static int make_inheritable(HANDLE h, int yes) {
  if (!SetHandleInformation(h, HANDLE_FLAG_INHERIT, yes ? HANDLE_FLAG_INHERIT : 0)) {
    DWORD e = GetLastError();
    return quirk_fail("SetHandleInformation", "%s (%lu)", win32_name(e), e);
  }
  return 0;
}

/* ------------------------------------------------------------ helper children ---- */

/* `quirk_c emit TEXT`: writes TEXT and a newline to stdout through the C runtime, as any
 * ordinary child would, and says on stderr (and in its exit code) if the runtime failed. */
static int cmd_emit(int argc, char **argv, const char *self) {
  const char *text = argc > 0 ? argv[0] : "a line from the child";
  (void)self;
  (void)_setmode(1, _O_BINARY); /* the parent counts bytes: no \n -> \r\n */
  if (fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
    fprintf(stderr, "quirk_c emit: writing to stdout failed: errno %d (%s), GetLastError %lu\n", errno,
            errno_name(errno), GetLastError());
    return 3;
  }
  return 0;
}

/* `quirk_c exec-pid`: prints its process id, then replaces itself with `quirk_c print-pid`
 * through the C runtime's _execv, as POSIX code would with execv. Windows cannot load a new
 * image into a running process, so the runtime starts a new one and ends this one: the
 * second line shows another id. */
static int cmd_exec_pid(int argc, char **argv, const char *self) {
  char *args[3];
  (void)argc;
  (void)argv;
  printf("before _execv: pid %lu\n", (unsigned long)GetCurrentProcessId());
  if (fflush(stdout) != 0) return 3;
  args[0] = (char *)self;
  args[1] = (char *)"print-pid";
  args[2] = NULL;
  (void)_execv(self, (const char *const *)args);
  return quirk_fail("_execv", "%s", errno_name(errno));
}

static int cmd_print_pid(int argc, char **argv, const char *self) {
  (void)argc;
  (void)argv;
  (void)self;
  printf("after _execv: pid %lu\n", (unsigned long)GetCurrentProcessId());
  return fflush(stdout) == 0 ? 0 : 3;
}

/* `quirk_c emit-mode text|binary`: writes "one\ntwo\n" with one _write to fd 1, leaving fd 1
 * in the C runtime's default text mode (text), or after _setmode(_O_BINARY) (binary), the
 * way c/child.c does it. What arrives shows what text mode adds. */
static int cmd_emit_mode(int argc, char **argv, const char *self) {
  static const char lines[] = "one\ntwo\n";
  const char *mode = argc > 0 ? argv[0] : "";
  (void)self;
  if (strcmp(mode, "binary") == 0) {
    if (_setmode(1, _O_BINARY) == -1) return quirk_fail("_setmode(1, _O_BINARY)", "%s", errno_name(errno));
  } else if (strcmp(mode, "text") != 0) {
    return quirk_fail("emit-mode", "usage: emit-mode text|binary");
  }
  if (_write(1, lines, (unsigned)(sizeof lines - 1)) < 0) return quirk_fail("_write", "%s", errno_name(errno));
  return 0;
}

/* `quirk_c print-argv ARGS...`: the arguments as the C runtime split the command line, as
 * one JSON array on stdout (non-ASCII bytes as \u00NN, one per byte). */
static int cmd_print_argv(int argc, char **argv, const char *self) {
  int i;
  (void)self;
  (void)_setmode(1, _O_BINARY);
  putchar('[');
  for (i = 0; i < argc; i++) {
    const unsigned char *p;
    if (i > 0) putchar(',');
    putchar('"');
    for (p = (const unsigned char *)argv[i]; *p; p++) {
      if (*p == '"' || *p == '\\') printf("\\%c", *p);
      else if (*p < 0x20 || *p >= 0x7f) printf("\\u%04x", *p);
      else putchar(*p);
    }
    putchar('"');
  }
  puts("]");
  return fflush(stdout) == 0 ? 0 : 3;
}

/* ------------------------------------------------------------ demonstrations ---- */

/* select() is Winsock's: it accepts SOCKETs only. A pipe handle is not one. */
static int cmd_select_on_pipe(int argc, char **argv, const char *self) {
  HANDLE pipe_read, pipe_write;
  SOCKET pair[2];
  fd_set readable;
  struct timeval no_wait = {0, 0};
  int rc, e;
  const char *wine = wine_version();
  (void)argc, (void)argv, (void)self;
  if (start_winsock() != 0) return 1;

  quirk_side("wrong", "select() on a pipe handle (what the article's unix branch would do)");
  if (!CreatePipe(&pipe_read, &pipe_write, NULL, 0)) return quirk_fail("CreatePipe", "%lu", GetLastError());
  FD_ZERO(&readable);
  FD_SET((SOCKET)pipe_read, &readable);
  rc = select(0, &readable, NULL, NULL, &no_wait);
  e = WSAGetLastError();
  quirk_say("select(pipe read end) returned %d, WSAGetLastError() = %d (%s)", rc, e, wsa_name(e));
  quirk_value("pipe_select_rc", "%d", rc);
  quirk_value("pipe_select_error", "%d", e);
  quirk_value("pipe_select_error_name", "%s", wsa_name(e));
  CloseHandle(pipe_read);
  CloseHandle(pipe_write);

  quirk_side("right", "select() on a loopback socket pair (c/socketpair.c, c/select.c)");
  if (loopback_pair(pair, 0) != 0) return 1;
  if (send(pair[1], "x", 1, 0) != 1) return quirk_fail("send", "%s", wsa_name(WSAGetLastError()));
  FD_ZERO(&readable);
  FD_SET(pair[0], &readable);
  no_wait.tv_sec = 1; /* the byte is on loopback: it is there at once; 1 s bounds the wait */
  rc = select(0, &readable, NULL, NULL, &no_wait);
  e = rc == SOCKET_ERROR ? WSAGetLastError() : 0;
  quirk_say("select(socket read end) after sending 1 byte returned %d (error %d), readable: %s", rc, e,
            rc > 0 && FD_ISSET(pair[0], &readable) ? "yes" : "no");
  quirk_value("socket_select_rc", "%d", rc);
  quirk_value("socket_readable", "%s", rc > 0 && FD_ISSET(pair[0], &readable) ? "yes" : "no");
  (void)closesocket(pair[0]);
  (void)closesocket(pair[1]);
  if (wine) quirk_note("answered by Wine %s", wine);
  return 0;
}

/* setvbuf(_IOLBF) does not give line buffering on Windows: the size must be 2..INT_MAX, and
 * with a valid size the CRT treats _IOLBF as _IOFBF. Measured on a pipe, whose fill level
 * PeekNamedPipe reports without reading. */
static int cmd_setvbuf(int argc, char **argv, const char *self) {
  int fds[2], rc, e;
  FILE *f;
  HANDLE reader;
  DWORD after_line = 0, after_flush = 0, after_write = 0;
  const char line[] = "one line\n";
  (void)argc, (void)argv, (void)self;
  survive_bad_crt_arguments();

  quirk_side("wrong", "setvbuf(stdout, NULL, _IOLBF, 0), the POSIX way to get line buffering");
  errno = 0;
  rc = setvbuf(stdout, NULL, _IOLBF, 0);
  e = errno;
  quirk_say("setvbuf(stdout, NULL, _IOLBF, 0) returned %d, errno %d (%s)", rc, e, errno_name(e));
  quirk_value("iolbf_size0_rc", "%d", rc);
  quirk_value("iolbf_size0_errno", "%d", e);

  if (_pipe(fds, 4096, _O_BINARY) != 0) return quirk_fail("_pipe", "errno %d", errno);
  reader = (HANDLE)_get_osfhandle(fds[0]);
  f = _fdopen(fds[1], "wb");
  if (f == NULL) return quirk_fail("_fdopen", "errno %d", errno);
  errno = 0;
  rc = setvbuf(f, NULL, _IOLBF, 4096);
  e = errno;
  quirk_say("setvbuf(pipe, NULL, _IOLBF, 4096) returned %d, errno %d (%s)", rc, e, errno_name(e));
  quirk_value("iolbf_4096_rc", "%d", rc);
  if (fwrite(line, 1, sizeof line - 1, f) != sizeof line - 1) return quirk_fail("fwrite", "errno %d", errno);
  if (!PeekNamedPipe(reader, NULL, 0, NULL, &after_line, NULL)) return quirk_fail("PeekNamedPipe", "%lu", GetLastError());
  quirk_say("after fwrite(\"one line\\n\"): %lu bytes in the pipe", after_line);
  if (fflush(f) != 0) return quirk_fail("fflush", "errno %d", errno);
  if (!PeekNamedPipe(reader, NULL, 0, NULL, &after_flush, NULL)) return quirk_fail("PeekNamedPipe", "%lu", GetLastError());
  quirk_say("after fflush: %lu bytes in the pipe", after_flush);
  quirk_value("bytes_after_line", "%lu", after_line);
  quirk_value("bytes_after_flush", "%lu", after_flush);

  quirk_side("right", "one write per line (c/child.c's write_some): no stdio buffer in between");
  if (_write(fds[1], line, sizeof line - 1) != (int)(sizeof line - 1)) return quirk_fail("_write", "errno %d", errno);
  if (!PeekNamedPipe(reader, NULL, 0, NULL, &after_write, NULL)) return quirk_fail("PeekNamedPipe", "%lu", GetLastError());
  quirk_say("after _write(\"one line\\n\"): %lu bytes in the pipe (%lu new)", after_write, after_write - after_flush);
  quirk_value("write_new_bytes", "%lu", after_write - after_flush);
  if (fclose(f) != 0) return quirk_fail("fclose", "errno %d", errno);
  if (_close(fds[0]) != 0) return quirk_fail("_close", "errno %d", errno);
  return 0;
}

/* Runs `quirk_c emit` with one end of a pair made by socket() or by WSASocketW(.., 0) as its
 * stdout, and reports what arrived and how the child ended. */
static int child_through_pair(int overlapped, const char *key) {
  SOCKET pair[2];
  PROCESS_INFORMATION pi;
  char got[256], name[64];
  int n;
  long code;
  if (loopback_pair(pair, overlapped) != 0) return -1;
  if (make_inheritable((HANDLE)pair[0], 0) != 0 || make_inheritable((HANDLE)pair[1], 1) != 0) return -1;
  if (start_self("emit \"written by the child through the C runtime\"", (HANDLE)pair[1], 1, &pi) != 0) return -1;
  (void)closesocket(pair[1]); /* the child holds its copy; end of stream when it exits */
  code = finish_child(&pi);
  n = read_until_quiet(pair[0], got, sizeof got);
  (void)closesocket(pair[0]);
  quirk_say("child exit code %ld (-1: hung, terminated)", code);
  if (n < 0) quirk_say("reading the parent's end failed: %s", wsa_name(WSAGetLastError()));
  else say_bytes("received on the parent's end", got, n);
  snprintf(name, sizeof name, "%s_bytes", key);
  quirk_value(name, "%d", n);
  snprintf(name, sizeof name, "%s_exit", key);
  quirk_value(name, "%ld", code);
  return 0;
}

static int cmd_overlapped_std_handle(int argc, char **argv, const char *self) {
  const char *wine = wine_version();
  (void)argc, (void)argv, (void)self;
  if (start_winsock() != 0) return 1;
  quirk_side("wrong", "socket() (overlapped) as the child's stdout");
  if (child_through_pair(1, "overlapped") != 0) return 1;
  quirk_side("right", "WSASocketW(..., dwFlags 0) (non-overlapped, c/io_win.c) as the child's stdout");
  if (child_through_pair(0, "nonoverlapped") != 0) return 1;
  if (wine) {
    quirk_note("answered by Wine %s, which accepts both kinds; on Windows the C runtime's plain WriteFile on an "
               "overlapped socket is not defined to work (WriteFile docs; libuv#2961): documented, never observed here", wine);
  }
  quirk_value("wine", "%s", wine ? wine : "no");
  return 0;
}

/* One run of `quirk_c emit` with hStdOutput = a socket, STARTF_USESTDHANDLES or not, while
 * the parent's own stdout is (for the measurement) a pipe it can look into. */
static int child_with_flags(int use_std_handles, const char *key) {
  SOCKET pair[2];
  HANDLE pipe_read, pipe_write, saved_stdout = GetStdHandle(STD_OUTPUT_HANDLE);
  SECURITY_ATTRIBUTES inheritable = {sizeof inheritable, NULL, TRUE};
  PROCESS_INFORMATION pi;
  char on_socket[256], on_stdout[256], name[64];
  int n_socket;
  DWORD n_stdout;
  long code;
  int started;
  if (loopback_pair(pair, 0) != 0) return -1;
  if (make_inheritable((HANDLE)pair[0], 0) != 0 || make_inheritable((HANDLE)pair[1], 1) != 0) return -1;
  if (!CreatePipe(&pipe_read, &pipe_write, &inheritable, 0)) return quirk_fail("CreatePipe", "%lu", GetLastError());
  if (make_inheritable(pipe_read, 0) != 0) return -1;
  /* CreateProcess hands a child that gets no std handles of its own the parent's
   * (GetStdHandle's). Swapped only around CreateProcess; printf keeps using fd 1. */
  if (!SetStdHandle(STD_OUTPUT_HANDLE, pipe_write)) return quirk_fail("SetStdHandle", "%lu", GetLastError());
  started = start_self("emit \"written by the child to its stdout\"", (HANDLE)pair[1], use_std_handles, &pi);
  if (!SetStdHandle(STD_OUTPUT_HANDLE, saved_stdout)) return quirk_fail("SetStdHandle", "%lu", GetLastError());
  if (started != 0) return -1;
  (void)closesocket(pair[1]);
  CloseHandle(pipe_write);
  code = finish_child(&pi);
  n_socket = read_until_quiet(pair[0], on_socket, sizeof on_socket);
  n_stdout = drain_pipe(pipe_read, on_stdout, sizeof on_stdout);
  (void)closesocket(pair[0]);
  CloseHandle(pipe_read);
  quirk_say("child exit code %ld", code);
  say_bytes("on the socket (hStdOutput)", on_socket, n_socket < 0 ? 0 : n_socket);
  say_bytes("on the parent's own stdout", on_stdout, (int)n_stdout);
  snprintf(name, sizeof name, "%s_socket_bytes", key);
  quirk_value(name, "%d", n_socket);
  snprintf(name, sizeof name, "%s_parent_stdout_bytes", key);
  quirk_value(name, "%lu", n_stdout);
  return 0;
}

static int cmd_startf_usestdhandles(int argc, char **argv, const char *self) {
  (void)argc, (void)argv, (void)self;
  if (start_winsock() != 0) return 1;
  quirk_side("wrong", "hStdOutput = a socket, dwFlags without STARTF_USESTDHANDLES");
  if (child_with_flags(0, "without_flag") != 0) return 1;
  quirk_side("right", "dwFlags = STARTF_USESTDHANDLES (c/spawn_win.c, create_process)");
  if (child_with_flags(1, "with_flag") != 0) return 1;
  return 0;
}

/* Sockets are not C runtime descriptors: they need WSAStartup before and closesocket after. */
static int cmd_closesocket(int argc, char **argv, const char *self) {
  SOCKET s;
  int rc, e, type = 0, len = sizeof type;
  (void)argc, (void)argv, (void)self;
  survive_bad_crt_arguments();

  quirk_side("wrong", "socket() before WSAStartup()");
  s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  e = WSAGetLastError();
  quirk_say("socket() returned %s, WSAGetLastError() = %d (%s)", s == INVALID_SOCKET ? "INVALID_SOCKET" : "a socket", e,
            wsa_name(e));
  quirk_value("before_startup_invalid", "%s", s == INVALID_SOCKET ? "yes" : "no");
  quirk_value("before_startup_error", "%d", e);
  if (s != INVALID_SOCKET) (void)closesocket(s);

  if (start_winsock() != 0) return 1;
  s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0);
  if (s == INVALID_SOCKET) return quirk_fail("WSASocketW", "%s", wsa_name(WSAGetLastError()));

  quirk_side("wrong", "_close() (POSIX close) on a SOCKET");
  errno = 0;
  rc = _close((int)s);
  e = errno;
  quirk_say("_close(socket) returned %d, errno %d (%s)", rc, e, errno_name(e));
  quirk_value("crt_close_rc", "%d", rc);
  quirk_value("crt_close_errno", "%d", e);
  rc = getsockopt(s, SOL_SOCKET, SO_TYPE, (char *)&type, &len);
  quirk_say("afterwards getsockopt(SO_TYPE) returned %d: the socket is %s", rc, rc == 0 ? "still open" : "gone");
  quirk_value("open_after_crt_close", "%s", rc == 0 ? "yes" : "no");

  quirk_side("right", "closesocket() (c/io_win.c, ipc_close)");
  rc = closesocket(s);
  e = rc == 0 ? 0 : WSAGetLastError();
  quirk_say("closesocket(socket) returned %d (error %d)", rc, e);
  quirk_value("closesocket_rc", "%d", rc);
  len = sizeof type;
  rc = getsockopt(s, SOL_SOCKET, SO_TYPE, (char *)&type, &len);
  e = rc == 0 ? 0 : WSAGetLastError();
  quirk_say("afterwards getsockopt(SO_TYPE) returned %d, WSAGetLastError() = %d (%s)", rc, e, wsa_name(e));
  quirk_value("open_after_closesocket", "%s", rc == 0 ? "yes" : "no");
  if (WSACleanup() != 0) return quirk_fail("WSACleanup", "%s", wsa_name(WSAGetLastError()));
  return 0;
}

/* Winsock never sets errno: the error of a socket call is in WSAGetLastError(). */
static int cmd_wsa_error_codes(int argc, char **argv, const char *self) {
  SOCKET probe, s, pair[2];
  struct sockaddr_in addr;
  int len = sizeof addr, rc, e;
  u_long non_blocking = 1;
  char byte;
  (void)argc, (void)argv, (void)self;
  if (start_winsock() != 0) return 1;

  /* A loopback port that was just closed: nothing listens there. */
  probe = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0);
  if (probe == INVALID_SOCKET) return quirk_fail("WSASocketW", "%s", wsa_name(WSAGetLastError()));
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(probe, (struct sockaddr *)&addr, sizeof addr) != 0 || getsockname(probe, (struct sockaddr *)&addr, &len) != 0)
    return quirk_fail("bind", "%s", wsa_name(WSAGetLastError()));
  (void)closesocket(probe);

  quirk_side("wrong", "connect() to a closed loopback port, then reading errno");
  s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0);
  if (s == INVALID_SOCKET) return quirk_fail("WSASocketW", "%s", wsa_name(WSAGetLastError()));
  errno = 0;
  rc = connect(s, (struct sockaddr *)&addr, sizeof addr);
  e = WSAGetLastError();
  quirk_say("connect(127.0.0.1:%u) returned %d; errno = %d; WSAGetLastError() = %d (%s)", (unsigned)ntohs(addr.sin_port), rc,
            errno, e, wsa_name(e));
  quirk_value("connect_rc", "%d", rc);
  quirk_value("connect_errno", "%d", errno);
  quirk_value("connect_wsa", "%d", e);
  quirk_value("connect_wsa_name", "%s", wsa_name(e));
  (void)closesocket(s);

  quirk_side("wrong", "recv() on an empty non-blocking socket, then reading errno");
  if (loopback_pair(pair, 0) != 0) return 1;
  if (ioctlsocket(pair[0], FIONBIO, &non_blocking) != 0) return quirk_fail("ioctlsocket", "%s", wsa_name(WSAGetLastError()));
  errno = 0;
  rc = recv(pair[0], &byte, 1, 0);
  e = WSAGetLastError();
  quirk_say("recv() returned %d; errno = %d; WSAGetLastError() = %d (%s)", rc, errno, e, wsa_name(e));
  quirk_value("recv_rc", "%d", rc);
  quirk_value("recv_errno", "%d", errno);
  quirk_value("recv_wsa", "%d", e);
  quirk_value("recv_wsa_name", "%s", wsa_name(e));
  (void)closesocket(pair[0]);
  (void)closesocket(pair[1]);
  return 0;
}

/* μ (U+03BC) through the code pages this process has: narrow output is in the ANSI code page
 * (or the console's), not UTF-8. */
static int cmd_console_code_page(int argc, char **argv, const char *self) {
  const wchar_t mu = 0x03BC;
  const char mu_utf8[] = "\xce\xbc";
  char narrow[8];
  wchar_t back[4];
  BOOL used_default = FALSE;
  UINT acp = GetACP(), console_cp = GetConsoleOutputCP();
  DWORD console_error = console_cp == 0 ? GetLastError() : 0;
  const char *wine = wine_version();
  int n, i;
  (void)argc, (void)argv, (void)self;

  quirk_side("info", "the code pages of this process");
  quirk_say("GetACP() = %u, GetOEMCP() = %u, GetConsoleOutputCP() = %u%s", acp, GetOEMCP(), console_cp,
            console_cp == 0 ? " (no console attached)" : "");
  quirk_value("acp", "%u", acp);
  quirk_value("console_output_cp", "%u", console_cp);
  if (console_cp == 0) quirk_say("GetConsoleOutputCP failed: %lu (%s)", console_error, win32_name(console_error));

  quirk_side("wrong", "printing UTF-8 \"\\xce\\xbc\" (mu) as narrow text");
  n = MultiByteToWideChar(acp, 0, mu_utf8, 2, back, 4);
  quirk_say("a reader using code page %u sees %d characters:%s", acp, n, n > 0 ? "" : " (conversion failed)");
  for (i = 0; i < n; i++) quirk_say("  U+%04X", (unsigned)back[i]);
  quirk_value("utf8_mu_as_acp_chars", "%d", n);

  quirk_side("wrong", "converting mu to the ANSI code page (what narrow APIs and argv do)");
  /* lpUsedDefaultChar must be NULL for UTF-8, which a system may use as its ANSI page. */
  n = WideCharToMultiByte(CP_ACP, 0, &mu, 1, narrow, sizeof narrow, NULL, acp == CP_UTF8 ? NULL : &used_default);
  quirk_say("WideCharToMultiByte(CP_ACP, U+03BC) gave %d byte(s):", n);
  for (i = 0; i < n; i++) quirk_say("  0x%02x", (unsigned char)narrow[i]);
  quirk_say("default character used: %s", used_default ? "yes" : "no");
  quirk_value("mu_acp_first_byte", "0x%02x", n > 0 ? (unsigned char)narrow[0] : 0);
  quirk_value("mu_acp_bytes", "%d", n);
  n = WideCharToMultiByte(CP_ACP, acp == CP_UTF8 ? 0 : WC_NO_BEST_FIT_CHARS, &mu, 1, narrow, sizeof narrow, NULL, NULL);
  quirk_say("without best fit (WC_NO_BEST_FIT_CHARS): %d byte(s), first 0x%02x", n, n > 0 ? (unsigned char)narrow[0] : 0);
  quirk_value("mu_acp_no_best_fit_first_byte", "0x%02x", n > 0 ? (unsigned char)narrow[0] : 0);
  if (wine) quirk_note("answered by Wine %s, which takes the ANSI code page from the Unix locale (LANG/LC_ALL)", wine);
  quirk_value("wine", "%s", wine ? wine : "no");
  return 0;
}

/* ------------------------------------------------------------ program-lookup ---- */

#define PROBE_NAME L"quirk-lookup-probe"

/* `quirk_c whereami`: prints this program's own path (the probe copies of quirk_c.exe say
 * which of them CreateProcess found). */
static int cmd_whereami(int argc, char **argv, const char *self) {
  wchar_t path[MAX_PATH];
  char utf8[4 * MAX_PATH];
  DWORD n = GetModuleFileNameW(NULL, path, MAX_PATH);
  (void)argc;
  (void)argv;
  (void)self;
  if (n == 0 || n >= MAX_PATH || WideCharToMultiByte(CP_UTF8, 0, path, -1, utf8, sizeof utf8, NULL, NULL) == 0)
    return quirk_fail("GetModuleFileNameW", "%lu", GetLastError());
  (void)_setmode(1, _O_BINARY);
  printf("%s\n", utf8);
  return fflush(stdout) == 0 ? 0 : 3;
}

/* dir + L"\\" + PROBE_NAME + L".exe" into out (MAX_PATH wide chars). */
static void probe_path(wchar_t *out, const wchar_t *dir) {
  (void)_snwprintf(out, MAX_PATH, L"%ls\\%ls.exe", dir, PROBE_NAME);
  out[MAX_PATH - 1] = L'\0';
}

/* Runs `quirk-lookup-probe whereami` (no folder, no .exe) as CreateProcess finds it, with
 * env as the child's environment (NULL: the parent's). Puts what ran into found (UTF-8),
 * or the Win32 error name; returns the error code (0 when it ran). */
static DWORD run_probe(const wchar_t *env, char *found, size_t cap) {
  wchar_t cmd[] = PROBE_NAME L" whereami";
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE rd, wr;
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  DWORD got = 0, e;
  if (!CreatePipe(&rd, &wr, &sa, 0)) return GetLastError();
  (void)SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
  si.hStdOutput = wr;
  si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
  if (!CreateProcessW(NULL, cmd, NULL, NULL, TRUE, env != NULL ? CREATE_UNICODE_ENVIRONMENT : 0, (LPVOID)env, NULL, &si, &pi)) {
    e = GetLastError();
    CloseHandle(rd);
    CloseHandle(wr);
    (void)snprintf(found, cap, "CreateProcessW failed: %s (%lu)", win32_name(e), (unsigned long)e);
    return e;
  }
  CloseHandle(wr);
  CloseHandle(pi.hThread);
  (void)finish_child(&pi);
  if (!ReadFile(rd, found, (DWORD)cap - 1, &got, NULL)) got = 0;
  found[got] = '\0';
  if (got > 0 && found[got - 1] == '\n') found[got - 1] = '\0';
  CloseHandle(rd);
  return 0;
}

static int copy_probe(const wchar_t *self, const wchar_t *to) {
  if (!CopyFileW(self, to, FALSE)) return quirk_fail("CopyFileW", "%s (%lu)", win32_name(GetLastError()), GetLastError());
  return 0;
}

/* Which folder a path lies in, by the names this demonstration gave them. */
static const char *which_folder(const char *found) {
  if (strstr(found, "lookup-cwd") != NULL) return "current";
  if (strstr(found, "lookup-onpath") != NULL) return "path";
  if (strstr(found, "failed") != NULL) return "none";
  return "application";
}

/*
 * program-lookup: CreateProcess with lpApplicationName NULL looks for the first word of the
 * command line in the folder of the *parent's* program, then the current folder, then the
 * system folders, then PATH, and adds ".exe". Three copies of this program, named
 * quirk-lookup-probe.exe, in this program's folder, in the current folder and in a folder on
 * PATH, are removed one by one to show the order. Then PATH is set in the child's
 * environment only: CreateProcess searches the parent's, and finds nothing.
 */
static int cmd_program_lookup(int argc, char **argv, const char *self_name) {
  wchar_t self[MAX_PATH], appdir[MAX_PATH], base[MAX_PATH], cwd[MAX_PATH], onpath[MAX_PATH], old_cwd[MAX_PATH];
  wchar_t p_app[MAX_PATH], p_cwd[MAX_PATH], p_path[MAX_PATH];
  wchar_t *old_path = NULL, *new_path = NULL, *slash;
  char found[4 * MAX_PATH];
  DWORD n, e;
  int rc = 1;
  (void)argc;
  (void)argv;
  (void)self_name;
  n = GetModuleFileNameW(NULL, self, MAX_PATH);
  if (n == 0 || n >= MAX_PATH) return quirk_fail("GetModuleFileNameW", "%lu", GetLastError());
  wcscpy(appdir, self);
  slash = wcsrchr(appdir, L'\\');
  if (slash == NULL) return quirk_fail("program-lookup", "no folder in this program's path");
  *slash = L'\0';
  if (GetTempPathW(MAX_PATH, base) == 0 || GetCurrentDirectoryW(MAX_PATH, old_cwd) == 0) return quirk_fail("GetTempPathW", "%lu", GetLastError());
  (void)_snwprintf(cwd, MAX_PATH, L"%lsquirk-lookup-cwd-%lu", base, GetCurrentProcessId());
  (void)_snwprintf(onpath, MAX_PATH, L"%lsquirk-lookup-onpath-%lu", base, GetCurrentProcessId());
  cwd[MAX_PATH - 1] = onpath[MAX_PATH - 1] = L'\0';
  probe_path(p_app, appdir);
  probe_path(p_cwd, cwd);
  probe_path(p_path, onpath);
  if (!CreateDirectoryW(cwd, NULL) || !CreateDirectoryW(onpath, NULL)) return quirk_fail("CreateDirectoryW", "%lu", GetLastError());
  if (copy_probe(self, p_app) != 0 || copy_probe(self, p_cwd) != 0 || copy_probe(self, p_path) != 0) goto done;
  n = GetEnvironmentVariableW(L"PATH", NULL, 0);
  old_path = malloc((n + 1) * sizeof *old_path);
  new_path = malloc((n + MAX_PATH + 2) * sizeof *new_path);
  if (old_path == NULL || new_path == NULL) {
    quirk_fail("malloc", "out of memory");
    goto done;
  }
  if (n == 0) old_path[0] = L'\0';
  else (void)GetEnvironmentVariableW(L"PATH", old_path, n + 1);
  (void)_snwprintf(new_path, n + MAX_PATH + 2, L"%ls;%ls", onpath, old_path);
  new_path[n + MAX_PATH + 1] = L'\0';
  if (!SetCurrentDirectoryW(cwd) || !SetEnvironmentVariableW(L"PATH", new_path)) {
    quirk_fail("SetCurrentDirectoryW/SetEnvironmentVariableW", "%lu", GetLastError());
    goto done;
  }

  quirk_side("info", "CreateProcessW(NULL, \"quirk-lookup-probe whereami\"): no folder, no .exe");
  quirk_say("copies in: this program's folder, the current folder, a folder first on PATH");
  (void)run_probe(NULL, found, sizeof found);
  quirk_say("all three present: ran %s (%s folder)", found, which_folder(found));
  quirk_value("first", "%s", which_folder(found));
  (void)DeleteFileW(p_app);
  (void)run_probe(NULL, found, sizeof found);
  quirk_say("without the copy in this program's folder: ran %s (%s folder)", found, which_folder(found));
  quirk_value("second", "%s", which_folder(found));
  (void)DeleteFileW(p_cwd);
  (void)run_probe(NULL, found, sizeof found);
  quirk_say("without the one in the current folder: ran %s (%s folder)", found, which_folder(found));
  quirk_value("third", "%s", which_folder(found));

  quirk_side("wrong", "PATH given in the child's environment only");
  if (!SetEnvironmentVariableW(L"PATH", old_path[0] != L'\0' ? old_path : NULL)) {
    quirk_fail("SetEnvironmentVariableW", "%lu", GetLastError());
    goto done;
  }
  {
    wchar_t env[MAX_PATH + 16];
    size_t len = (size_t)_snwprintf(env, MAX_PATH + 14, L"PATH=%ls", onpath);
    env[len + 1] = L'\0'; /* the block ends with two NULs */
    e = run_probe(env, found, sizeof found);
  }
  quirk_say("the parent's PATH without the folder, the child's PATH with it: %s", found);
  quirk_value("child_env_path", "%s", e == 0 ? which_folder(found) : win32_name(e));
  rc = 0;
done:
  (void)SetCurrentDirectoryW(old_cwd);
  if (old_path != NULL) (void)SetEnvironmentVariableW(L"PATH", old_path[0] != L'\0' ? old_path : NULL);
  (void)DeleteFileW(p_app);
  (void)DeleteFileW(p_cwd);
  (void)DeleteFileW(p_path);
  (void)RemoveDirectoryW(cwd);
  (void)RemoveDirectoryW(onpath);
  free(old_path);
  free(new_path);
  return rc;
}


/* ------------------------------------------------ handing sockets over (issue 12) ---- */

/* A worker for these quirks: `quirk_c serve-once MODE` (c/quirks/both_win.c), its stdin a
 * pipe (*to_child) and its stdout and stderr another (*from_child), read once it has ended. */
static int start_serve_worker(const char *mode, HANDLE *to_child, HANDLE *from_child, PROCESS_INFORMATION *pi) {
  char args[64];
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  STARTUPINFOW si;
  HANDLE child_in, child_out;
  wchar_t *cmdline;
  BOOL ok;
  snprintf(args, sizeof args, "serve-once %s", mode);
  if (!CreatePipe(&child_in, to_child, &sa, 0) || !CreatePipe(from_child, &child_out, &sa, 1 << 16)) {
    DWORD e = GetLastError();
    return quirk_fail("CreatePipe", "%s (%lu)", win32_name(e), e);
  }
  if (make_inheritable(*to_child, 0) != 0 || make_inheritable(*from_child, 0) != 0) return 1;
  cmdline = self_command_line(args);
  if (cmdline == NULL) return quirk_fail("command line", "GetModuleFileNameW or conversion failed (%lu)", GetLastError());
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = child_in;
  si.hStdOutput = child_out;
  si.hStdError = child_out;
  ok = CreateProcessW(NULL, cmdline, NULL, NULL, TRUE, 0, NULL, NULL, &si, pi);
  free(cmdline);
  CloseHandle(child_in);
  CloseHandle(child_out);
  if (!ok) {
    DWORD e = GetLastError();
    return quirk_fail("CreateProcessW", "%s (%lu)", win32_name(e), e);
  }
  CloseHandle(pi->hThread);
  return 0;
}

/* Gives the worker its bytes on stdin, waits for it (bounded), says what it wrote, and
 * reports its exit code and the Winsock error it named (or "none") as PREFIX_exit, PREFIX_error. */
static int feed_and_finish(PROCESS_INFORMATION *pi, HANDLE to_child, HANDLE from_child, const void *bytes, DWORD len, const char *prefix) {
  char out[1024], key[64], err[32] = "none";
  DWORD wrote = 0, got;
  long code;
  const char *wsa;
  if (len > 0 && (!WriteFile(to_child, bytes, len, &wrote, NULL) || wrote != len)) {
    DWORD e = GetLastError();
    return quirk_fail("WriteFile to the worker", "%s (%lu)", win32_name(e), e);
  }
  CloseHandle(to_child);
  code = finish_child(pi);
  got = drain_pipe(from_child, out, sizeof out - 1);
  CloseHandle(from_child);
  out[got] = '\0';
  out[strcspn(out, "\r\n")] = '\0';
  quirk_say("worker %lu: exit code %ld%s%s", pi->dwProcessId, code, got > 0 ? ", it wrote: " : "", out);
  wsa = strstr(out, "WSAE");
  if (wsa != NULL) snprintf(err, sizeof err, "%.*s", (int)strcspn(wsa, " ()"), wsa);
  snprintf(key, sizeof key, "%s_exit", prefix);
  quirk_value(key, "%ld", code);
  snprintf(key, sizeof key, "%s_error", prefix);
  quirk_value(key, "%s", err);
  return 0;
}

/* What the client end of the connection holds now: says it and reports PREFIX_banner. */
static void client_banner(SOCKET client, const char *prefix) {
  char buf[256], key[64];
  int n = read_until_quiet(client, buf, (int)sizeof buf - 1);
  if (n < 0) n = 0;
  buf[n < (int)sizeof buf - 1 ? n : (int)sizeof buf - 1] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  quirk_say("the client read \"%s\"", buf);
  snprintf(key, sizeof key, "%s_banner", prefix);
  quirk_value(key, "%s", strstr(buf, "served this connection") != NULL ? "yes" : "no");
}

/* A TCP connection over 127.0.0.1, neither end inheritable: pair[0] the master's accepted
 * end (what is handed over), pair[1] the client. */
static int handoff_connection(SOCKET pair[2]) {
  if (loopback_pair(pair, 0) != 0) return 1;
  if (make_inheritable((HANDLE)pair[0], 0) != 0 || make_inheritable((HANDLE)pair[1], 0) != 0) return 1;
  return 0;
}

/*
 * wsaduplicatesocket-target: WSADuplicateSocketW makes its WSAPROTOCOL_INFOW for one
 * process ID, so the worker must exist before the master can hand it anything; the same
 * bytes given to another process, and a process ID of no process.
 */
static int cmd_wsaduplicate_target(int argc, char **argv, const char *self) {
  SOCKET pair[2];
  WSAPROTOCOL_INFOW info;
  PROCESS_INFORMATION a, b;
  HANDLE a_in, a_out, b_in, b_out;
  const DWORD no_process = 0x7FFFFFFC;
  int rc;
  (void)argc, (void)argv, (void)self;
  if (start_winsock() != 0 || handoff_connection(pair) != 0) return 1;

  quirk_side("info", "WSADuplicateSocketW for a process ID that belongs to no process");
  rc = WSADuplicateSocketW(pair[0], no_process, &info);
  {
    int e = rc == 0 ? 0 : WSAGetLastError();
    quirk_say("WSADuplicateSocketW(socket, %lu, &info) returned %d%s%s", no_process, rc, rc == 0 ? "" : ", ", rc == 0 ? "" : wsa_name(e));
    quirk_value("no_process_result", "%s", rc == 0 ? "0" : wsa_name(e));
  }

  quirk_side("wrong", "the duplicate made for worker A, used by worker B");
  if (start_serve_worker("info", &a_in, &a_out, &a) != 0 || start_serve_worker("info", &b_in, &b_out, &b) != 0) return 1;
  quirk_say("workers started first, for their process IDs: A %lu, B %lu", a.dwProcessId, b.dwProcessId);
  if (WSADuplicateSocketW(pair[0], a.dwProcessId, &info) != 0) {
    int e = WSAGetLastError();
    return quirk_fail("WSADuplicateSocketW", "%s (%d)", wsa_name(e), e);
  }
  if (feed_and_finish(&b, b_in, b_out, &info, (DWORD)sizeof info, "other") != 0) return 1;
  client_banner(pair[1], "other");

  quirk_side("right", "the same bytes given to worker A, the process they were made for");
  if (feed_and_finish(&a, a_in, a_out, &info, (DWORD)sizeof info, "target") != 0) return 1;
  client_banner(pair[1], "target");
  closesocket(pair[0]);
  closesocket(pair[1]);
  return 0;
}

/*
 * duplicatehandle-socket: DuplicateHandle on a SOCKET, within this process and into a
 * worker, which Microsoft says not to do (with layered service providers it fails); the
 * Winsock FAQ calls socket and file handles the same thing.
 */
static int cmd_duplicatehandle_socket(int argc, char **argv, const char *self) {
  SOCKET pair[2];
  HANDLE dup = NULL, remote = NULL, w_in, w_out;
  PROCESS_INFORMATION w;
  WSAPROTOCOL_INFOW info;
  int type = 0, len = (int)sizeof type;
  unsigned long long value;
  (void)argc, (void)argv, (void)self;
  if (start_winsock() != 0 || handoff_connection(pair) != 0) return 1;

  quirk_side("info", "DuplicateHandle on the accepted SOCKET, within this process");
  if (!DuplicateHandle(GetCurrentProcess(), (HANDLE)pair[0], GetCurrentProcess(), &dup, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
    DWORD e = GetLastError();
    quirk_say("DuplicateHandle failed: %s (%lu)", win32_name(e), e);
    quirk_value("local_duplicate", "%s", win32_name(e));
  } else {
    int sent, e;
    quirk_say("DuplicateHandle succeeded: %p for socket %p", (void *)dup, (void *)(uintptr_t)pair[0]);
    quirk_value("local_duplicate", "ok");
    sent = getsockopt((SOCKET)dup, SOL_SOCKET, SO_TYPE, (char *)&type, &len);
    e = sent == 0 ? 0 : WSAGetLastError();
    quirk_say("getsockopt(duplicate, SO_TYPE): %s", sent == 0 ? (type == SOCK_STREAM ? "SOCK_STREAM" : "another type") : wsa_name(e));
    quirk_value("local_sotype", "%s", sent == 0 ? (type == SOCK_STREAM ? "SOCK_STREAM" : "other") : wsa_name(e));
    sent = send((SOCKET)dup, "via the duplicate served this connection\n", 42, 0);
    e = sent == SOCKET_ERROR ? WSAGetLastError() : 0;
    quirk_say("send(duplicate): %d%s%s", sent, e ? " " : "", e ? wsa_name(e) : "");
    quirk_value("local_send", "%s", sent == 42 ? "ok" : wsa_name(e));
    client_banner(pair[1], "local");
    (void)closesocket((SOCKET)dup);
  }

  quirk_side("wrong", "DuplicateHandle into a worker's process, the handle value sent on its stdin");
  if (start_serve_worker("handle", &w_in, &w_out, &w) != 0) return 1;
  if (!DuplicateHandle(GetCurrentProcess(), (HANDLE)pair[0], w.hProcess, &remote, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
    DWORD e = GetLastError();
    quirk_say("DuplicateHandle into worker %lu failed: %s (%lu)", w.dwProcessId, win32_name(e), e);
    quirk_value("remote_duplicate", "%s", win32_name(e));
    value = 0;
  } else {
    quirk_say("DuplicateHandle into worker %lu: handle %p there", w.dwProcessId, (void *)remote);
    quirk_value("remote_duplicate", "ok");
    value = (unsigned long long)(uintptr_t)remote;
  }
  if (feed_and_finish(&w, w_in, w_out, &value, (DWORD)sizeof value, "remote") != 0) return 1;
  client_banner(pair[1], "remote");

  quirk_side("right", "WSADuplicateSocketW for the worker's process ID");
  if (start_serve_worker("info", &w_in, &w_out, &w) != 0) return 1;
  if (WSADuplicateSocketW(pair[0], w.dwProcessId, &info) != 0) {
    int e = WSAGetLastError();
    return quirk_fail("WSADuplicateSocketW", "%s (%d)", wsa_name(e), e);
  }
  if (feed_and_finish(&w, w_in, w_out, &info, (DWORD)sizeof info, "wsadup") != 0) return 1;
  client_banner(pair[1], "wsadup");
  quirk_note("Wine has no layered service providers: the failure Microsoft warns of (an LSP's socket that the target process cannot import) is documented only, not shown here.");
  closesocket(pair[0]);
  closesocket(pair[1]);
  return 0;
}


/* ------------------------------------ the Winsock FAQ's own example (issue 12) ---- */

/* `faq-child FD` (helper child): the FAQ's child, reading ints from the inherited CRT
 * descriptor FD; unlike the FAQ's, it reads until end of stream, as a child must when the
 * parent may stop early, and says how many it got. */
static int cmd_faq_child(int argc, char **argv, const char *self) {
  int fd, problem, count = 0, n;
  (void)self;
  if (argc < 1) return quirk_fail("faq-child", "usage: faq-child FD");
  fd = atoi(argv[0]);
  while ((n = _read(fd, &problem, sizeof problem)) == (int)sizeof problem) count++;
  quirk_say("the child read %d problem(s), then %s", count, n == 0 ? "end of stream" : "an error");
  return n == 0 ? 0 : 1;
}

/* One run of the FAQ's parent: its _pipe (with `flags`), spawnl of the child with the read
 * descriptor's number, 3 problems written, the write end closed, the child waited for. */
static int faq_run(int flags, int dup_read_end, const char *key, DWORD wait_ms) {
  enum { READ_END = 0, WRITE_END = 1 };
  char self[MAX_PATH], num[16];
  int hpipe[2], given, problem;
  intptr_t child;
  DWORD n = GetModuleFileNameA(NULL, self, MAX_PATH);
  if (n == 0 || n >= MAX_PATH) return quirk_fail("GetModuleFileNameA", "%lu", GetLastError());
  if (_pipe(hpipe, 256, flags) != 0) return quirk_fail("_pipe", "%s", strerror(errno));
  /* With _O_NOINHERIT, an inheritable copy of the read end only: _dup makes one. */
  given = dup_read_end ? _dup(hpipe[READ_END]) : hpipe[READ_END];
  if (given < 0) return quirk_fail("_dup", "%s", strerror(errno));
  snprintf(num, sizeof num, "%d", given);
  if (fflush(stdout) != 0) return quirk_fail("fflush", "%s", strerror(errno));
  child = _spawnl(_P_NOWAIT, self, self, "faq-child", num, NULL);
  if (child == -1) return quirk_fail("_spawnl", "%s", strerror(errno));
  if (dup_read_end) (void)_close(given);
  for (problem = 1000; problem <= 3000; problem += 1000) {
    if (_write(hpipe[WRITE_END], &problem, sizeof problem) != (int)sizeof problem) return quirk_fail("_write", "%s", strerror(errno));
  }
  /* The parent stops early (it wrote 3 problems, not 8) and closes its write end. */
  (void)_close(hpipe[WRITE_END]);
  (void)_close(hpipe[READ_END]);
  if (WaitForSingleObject((HANDLE)child, wait_ms) == WAIT_OBJECT_0) {
    quirk_say("the parent wrote 3 problems and closed its write end: the child ended");
    quirk_value(key, "ended");
  } else {
    quirk_say("the parent wrote 3 problems and closed its write end: the child still waits in _read after %lu ms (terminated now)", wait_ms);
    quirk_value(key, "blocked");
    (void)TerminateProcess((HANDLE)child, 9);
    (void)WaitForSingleObject((HANDLE)child, CHILD_TIMEOUT_MS);
  }
  CloseHandle((HANDLE)child);
  return 0;
}

/*
 * faq-pass-handle-example: two details of the Winsock FAQ's "How to Pass a Socket Handle"
 * example. Its _pipe makes both ends inheritable, so the child inherits the write end too
 * and never sees end of stream if the parent stops early; and its failure test
 * `termstat & 0x0` is 0 whatever the child's exit code.
 */
static int cmd_faq_example(int argc, char **argv, const char *self_name) {
  char self[MAX_PATH];
  int termstat = 0, masked;
  intptr_t child;
  DWORD n = GetModuleFileNameA(NULL, self, MAX_PATH);
  (void)argc, (void)argv, (void)self_name;
  if (n == 0 || n >= MAX_PATH) return quirk_fail("GetModuleFileNameA", "%lu", GetLastError());

  quirk_side("wrong", "the FAQ's _pipe(hpipe, 256, O_BINARY): the child inherits the write end too");
  /* 5 s is long for a child with 3 ints to read; the right way below is given 20 s, so that
   * a slow machine cannot make the difference. */
  if (faq_run(_O_BINARY, 0, "faq_pipe", 5000) != 0) return 1;
  quirk_side("right", "_pipe(..., O_BINARY | O_NOINHERIT), and an inheritable _dup of the read end only");
  if (faq_run(_O_BINARY | _O_NOINHERIT, 1, "noinherit_pipe", 20000) != 0) return 1;

  quirk_side("wrong", "the FAQ's check: if (termstat & 0x0) perror(\"Child failed\")");
  if (fflush(stdout) != 0) return quirk_fail("fflush", "%s", strerror(errno));
  child = _spawnl(_P_NOWAIT, self, self, "sleep-child", "0", "3", NULL);
  if (child == -1) return quirk_fail("_spawnl", "%s", strerror(errno));
  if (_cwait(&termstat, child, _WAIT_CHILD) == -1) return quirk_fail("_cwait", "%s", strerror(errno));
  masked = termstat & 0x0;
  quirk_say("a child that exits with code 3: _cwait gives termstat %d; termstat & 0x0 = %d, so \"Child failed\" is %s", termstat, masked,
            masked ? "printed" : "never printed");
  quirk_value("termstat", "%d", termstat);
  quirk_value("termstat_and_0", "%d", masked);
  quirk_side("right", "if (termstat != 0): any exit code but 0 is a failure");
  quirk_say("termstat != 0 is %s for the same child", termstat != 0 ? "true: the failure is seen" : "false");
  quirk_value("termstat_nonzero", "%s", termstat != 0 ? "true" : "false");
  quirk_note("x & 0 is 0 for every x: the FAQ's test cannot fire, for any exit code; a crash (0xC0000005) too.");
  return 0;
}

const struct quirk_command QUIRK_COMMANDS[] = {
  {"select-on-pipe", "select() on a pipe handle vs on a socket pair", cmd_select_on_pipe},
  {"setvbuf-line-buffering", "setvbuf(_IOLBF) return values and buffering vs one write per line", cmd_setvbuf},
  {"overlapped-socket-std-handle", "socket() vs WSASocketW(.., 0) as a child's stdout", cmd_overlapped_std_handle},
  {"startf-usestdhandles", "hStdOutput with and without STARTF_USESTDHANDLES", cmd_startf_usestdhandles},
  {"closesocket-wsastartup", "socket() before WSAStartup; _close() vs closesocket() on a SOCKET", cmd_closesocket},
  {"wsa-error-codes", "errno vs WSAGetLastError() after failing Winsock calls", cmd_wsa_error_codes},
  {"console-code-page", "mu through the ANSI and console code pages", cmd_console_code_page},
  {"emit", "(helper child) writes TEXT and a newline to stdout through the C runtime", cmd_emit},
  {"print-argv", "(helper child) prints its arguments as a JSON array", cmd_print_argv},
  {"program-lookup", "where CreateProcess finds a program given without folder or .exe", cmd_program_lookup},
  {"whereami", "(helper child) prints its own path", cmd_whereami},
  {"exec-pid", "prints its pid, then _execv's print-pid, which prints its own", cmd_exec_pid},
  {"print-pid", "(helper child) prints its pid", cmd_print_pid},
  {"emit-mode", "(helper child) text|binary: \"one\\ntwo\\n\" in one _write, fd 1 in that mode", cmd_emit_mode},
  {"wsaduplicatesocket-target", "WSADuplicateSocketW's info used by the target, by another process, for no process", cmd_wsaduplicate_target},
  {"duplicatehandle-socket", "DuplicateHandle on a SOCKET, here and into a worker, vs WSADuplicateSocketW", cmd_duplicatehandle_socket},
  {"faq-pass-handle-example", "the Winsock FAQ's example: the inherited write end, termstat & 0x0", cmd_faq_example},
  {"faq-child", "(helper child) FD: reads ints from CRT descriptor FD until end of stream", cmd_faq_child},
  {NULL, NULL, NULL},
};
