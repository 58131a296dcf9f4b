/*
 * ipc.h - the article's steps as plain C functions, shared by every file of the addon.
 *
 * Each concept lives in its own file; where POSIX and Windows differ, the same function
 * name is implemented once per platform (foo_posix.c / foo_win.c) and binding.gyp picks
 * the file. Every function returns 0 (or a count) on success and -1 on failure, after
 * filling an ipc_error that names the failing call and the platform's error code.
 *
 * Include this header first: on Windows it must define FD_SETSIZE before winsock2.h.
 */
#ifndef IPC_H
#define IPC_H

#ifdef _WIN32
/* On Windows FD_SETSIZE is how many sockets an fd_set holds (default 64), not a bound on
 * descriptor values as on POSIX. The article raises it before including winsock2.h; the
 * header only honours the value if it is defined first. */
#  ifndef FD_SETSIZE
#    define FD_SETSIZE 1024
#  endif
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <winsock2.h>
#  include <ws2tcpip.h>
#  include <windows.h>
typedef SOCKET ipc_fd;
#  define IPC_NO_FD INVALID_SOCKET
#else
#  include <sys/select.h>
#  include <sys/types.h>
typedef int ipc_fd;
#  define IPC_NO_FD (-1)
#endif

#include <stddef.h>
#include <stdint.h>

/* What a failure looks like on its way to JavaScript: an errno-style name (the same names
 * on every platform, so tests and users match on one vocabulary), the call that failed,
 * the platform's own number, and a sentence for people. */
typedef struct ipc_error {
  const char *code;     /* "ENOENT", "ECONNABORTED", ... */
  const char *syscall;  /* "socketpair", "WSASocketW", "CreateProcessW", ... */
  long native;          /* errno, WSAGetLastError() or GetLastError(); 0 if none */
  const char *path;     /* the file involved, if any (not owned) */
  char message[320];
} ipc_error;

/* errors.c (shared) */
int ipc_fail(ipc_error *err, const char *code, const char *syscall, const char *fmt, ...);
const char *ipc_errno_name(int e);

/* errors_posix.c / errors_win.c: capture the platform's last error for `syscall`.
 * ipc_fail_socket reads errno on POSIX and WSAGetLastError() on Windows;
 * ipc_fail_system reads errno on POSIX and GetLastError() on Windows. */
int ipc_fail_errno(ipc_error *err, int e, const char *syscall);
int ipc_fail_socket(ipc_error *err, const char *syscall);
int ipc_fail_system(ipc_error *err, const char *syscall);

/* io_posix.c / io_win.c: descriptors and sockets */
int ipc_io_init(ipc_error *err); /* WSAStartup on Windows */
ipc_fd ipc_tcp_socket(ipc_error *err); /* not inheritable, blocking */
int ipc_tcp_exclusive(ipc_fd listener, ipc_error *err); /* SO_EXCLUSIVEADDRUSE on Windows */
int ipc_set_nonblocking(ipc_fd fd, ipc_error *err);
int ipc_set_inheritable(ipc_fd fd, int inheritable, ipc_error *err);
#define IPC_WOULD_BLOCK (-2)
/* > 0 bytes, 0 at end of stream, IPC_WOULD_BLOCK, or -1 with err filled. */
long ipc_read(ipc_fd fd, void *buf, size_t len, ipc_error *err);
long ipc_write(ipc_fd fd, const void *buf, size_t len, ipc_error *err);
int ipc_close(ipc_fd fd, ipc_error *err);
/* select() limits differ: a bound on descriptor values on POSIX, a count on Windows. */
int ipc_select_check(const ipc_fd *fds, size_t n, ipc_error *err);
/* After select() returned -1: 0 if it was only interrupted, else -1 with err filled. */
int ipc_select_failed(ipc_error *err);

/* io_posix.c / io_win.c: anonymous pipes, for the pipe-thread and posix variants. Both
 * ends are close-on-exec (not inheritable). On Windows they are HANDLEs from CreatePipe,
 * carried in an ipc_fd, and must be closed with ipc_close_pipe (CloseHandle), never with
 * closesocket(). ipc_pipe_read returns like ipc_read (a broken pipe is end of stream). */
int ipc_pipe(ipc_fd ends[2], ipc_error *err); /* [read end, write end] */
int ipc_close_pipe(ipc_fd fd, ipc_error *err);
long ipc_pipe_read(ipc_fd fd, void *buf, size_t len, ipc_error *err);

/* relay_thread.c (shared) + relay_thread_posix.c / relay_thread_win.c: the article's older
 * variant, a thread that copies a pipe into a socket so that select() can watch it.
 * ipc_relay_start takes both descriptors whatever it returns: on success the thread closes
 * them at end of stream; on failure (no memory, no thread) they are closed before it
 * returns. Either way the caller must not close or use them afterwards. */
typedef struct ipc_relay ipc_relay;
int ipc_relay_start(ipc_fd pipe_read, ipc_fd socket_write, ipc_relay **relay, ipc_error *err);
/* Waits for the thread, reports how many bytes it copied and any error it met, frees it. */
int ipc_relay_join(ipc_relay *relay, uint64_t *bytes, ipc_error *err);

/* `--break NAME` (parent/break.ts, docs/workshop.md): teaching switches that skip one step
 * of the article so that its symptom can be seen. Never set outside `--break`. */
typedef enum ipc_break_step {
  IPC_BREAK_NONE = 0,
  /* spawn: no close-on-exec / HANDLE_LIST; the std handles stay inheritable afterwards */
  IPC_BREAK_INHERIT_ALL,
  /* spawn, Windows only: no STARTF_USESTDHANDLES */
  IPC_BREAK_NO_STARTF,
  /* socketpair emulation, Windows only: socket() (overlapped) instead of WSASocket(.., 0) */
  IPC_BREAK_OVERLAPPED_SOCKET
} ipc_break_step;

/* socketpair.c (shared): the loopback emulation Windows needs, compiled everywhere.
 * break_step: IPC_BREAK_NONE, or IPC_BREAK_OVERLAPPED_SOCKET (Windows only). */
typedef void (*ipc_before_connect_fn)(void *ctx, unsigned port);
int ipc_socketpair_emulated(ipc_fd pair[2], ipc_before_connect_fn before_connect, void *ctx,
                            ipc_break_step break_step, ipc_error *err);
/* socketpair_posix.c / socketpair_win.c: the best pair the platform offers. */
int ipc_socketpair(ipc_fd pair[2], ipc_error *err);

/* select.c (shared): wait until some of fds are readable. ready[i] is set to 1 for each
 * readable fds[i]. Returns the number of ready descriptors (0 on timeout or EINTR). */
int ipc_select(const ipc_fd *fds, size_t n, int timeout_ms, unsigned char *ready, ipc_error *err);
/* select_posix.c / select_win.c: what the parent calls. select() where it can; on POSIX,
 * poll() once a descriptor number reaches FD_SETSIZE. Same contract as ipc_select. */
int ipc_wait_readable(const ipc_fd *fds, size_t n, int timeout_ms, unsigned char *ready, ipc_error *err);

/* spawn_posix.c / spawn_win.c: start, reap and stop children */
typedef struct ipc_spawn_options {
  const char *const *argv;  /* NULL-terminated, UTF-8 */
  const char *cwd;          /* NULL: the parent's */
  const char *const *env;   /* NULL-terminated "NAME=value" list; NULL: the parent's */
  ipc_fd stdin_fd;          /* IPC_NO_FD: the null device */
  ipc_fd stdout_fd;
  ipc_fd stderr_fd;
  /* 0: the child is part of this parent's tree - POSIX: leader of its own process group
   * (pgid = pid), guarded by the watchdog; Windows: in its own kill-on-close job.
   * 1: detached (the libuv guide's "Detaching processes") - POSIX: a new session (setsid);
   * Windows: DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP, outside every job of ours. */
  int detached;
  /* IPC_BREAK_NONE, or a teaching switch: IPC_BREAK_INHERIT_ALL, IPC_BREAK_NO_STARTF. */
  ipc_break_step break_step;
  /* Descriptors the child inherits besides 0, 1 and 2, each at the same number it has
   * here (the Winsock FAQ's "its number on the command line"). POSIX posix_spawn path
   * only for now: fork_exec_posix.c and Windows refuse a non-empty list (c/addon.c). */
  const ipc_fd *extra_fds;
  size_t extra_count;
} ipc_spawn_options;

typedef struct ipc_exit {
  int running; /* 1: not exited yet */
  int code;    /* exit code, or -1 when killed */
  int signal;  /* signal number, 0 when it exited */
} ipc_exit;

int ipc_spawn(const ipc_spawn_options *opts, long *pid, ipc_error *err);
int ipc_wait(long pid, ipc_exit *status, ipc_error *err); /* never blocks */
int ipc_kill(long pid, int signal, ipc_error *err);
/* Sends `signal` to the child's whole tree: POSIX its process group (kill(-pid, signal));
 * Windows its job (TerminateJobObject), or the process alone when it has no job. ESRCH
 * once nothing of the tree is left. */
int ipc_kill_tree(long pid, int signal, ipc_error *err);

/* guard_posix.c / guard_win.c: the tree does not outlive the parent (the mechanism is
 * explained at the top of guard_posix.c).
 * ipc_guard_group: POSIX: registers process group `pgid` (a group leader's pid) with the
 * watchdog, which SIGKILLs the group when this process ends, however it ends; returns 1.
 * Windows: returns 0 and does nothing - the kill-on-close job does this for our children,
 * and libuv's own job for Node's.
 * ipc_forget_group: forgets `pgid` if the group has no member left (kill(-pgid, 0) says
 * ESRCH), so that its reused number is never signalled; returns 1 when forgotten, 0 when
 * it was not guarded or still has members (always 0 on Windows). ipc_wait calls it after
 * reaping a leader. */
int ipc_guard_group(long pgid, ipc_error *err);
int ipc_forget_group(long pgid, ipc_error *err);
/* POSIX only, for spawn_posix.c and fork_exec_posix.c: guards a child just started as a
 * group leader; if that fails, kills and reaps it and returns -1. */
int ipc_guard_child(long pid, ipc_error *err);
/* path_posix.c (POSIX only), shared by both POSIX spawn paths. ipc_environ: the parent's
 * environment, what a child gets when opts->env is NULL (the one place that knows macOS
 * bundles must ask _NSGetEnviron()). ipc_find_program: where argv[0] is, searched like
 * execvp but in the PATH of `env` - the child's environment, NULL for the parent's - with
 * an empty PATH entry meaning the current folder, and relative candidates checked in `cwd`
 * (NULL: ours), where exec will resolve them. A name with a slash is copied as given.
 * ENOENT when nothing matches, EACCES when only non-executable files do. */
#ifndef _WIN32
char **ipc_environ(void);
int ipc_find_program(const char *name, const char *const *env, const char *cwd, char *out, size_t cap,
                     ipc_error *err);
#endif
#ifdef _WIN32
/* spawn_win.c: what the tests read from /proc on Linux, for any process this one can open
 * (GetProcessHandleCount, GetProcessMemoryInfo, the Toolhelp process list). */
typedef struct ipc_process_info {
  unsigned long handles;
  unsigned long threads;
  uint64_t working_set;      /* bytes */
  uint64_t peak_working_set; /* bytes, since the process started */
} ipc_process_info;
int ipc_measure_process(long pid, ipc_process_info *info, ipc_error *err);
#endif

/* listen_posix.c / listen_win.c (docs/handoff.md): the handoff master's listening socket
 * on 127.0.0.1, non-blocking and not inherited by any child, so that it sits in the
 * relay's select(), and accept(). *port: 0 asks for any free port; the bound one comes
 * back in it. ipc_accept returns 0 with the connection (blocking, not inheritable) and
 * the client's port, or IPC_WOULD_BLOCK when no connection is waiting. */
int ipc_listen_loopback(unsigned *port, int backlog, ipc_fd *listener, ipc_error *err);
int ipc_accept(ipc_fd listener, ipc_fd *conn, unsigned *peer_port, ipc_error *err);
/* The client's port of a connected IPv4 socket (getpeername): what a worker puts in its
 * banner. The TS worker needs it on Windows, where it cannot wrap the SOCKET in a
 * net.Socket (child/worker-win.ts). */
int ipc_peer_port(ipc_fd conn, unsigned *port, ipc_error *err);

/* fdpass_posix.c: one descriptor over a Unix socket pair with SCM_RIGHTS, always with at
 * least one byte of ordinary data; target_pid is not needed there. fdpass_win.c: the
 * payload, then the WSAPROTOCOL_INFOW that WSADuplicateSocketW made for target_pid, on
 * the same kind of channel; the receiver's len must equal the sender's. ipc_send_fd
 * returns the payload bytes sent or IPC_WOULD_BLOCK; a peer that is gone is EPIPE (no
 * SIGPIPE). ipc_recv_fd returns the bytes received (0 at end of stream, IPC_WOULD_BLOCK)
 * and *fd the descriptor or SOCKET that came with them, not inheritable, or IPC_NO_FD;
 * POSIX: a truncated control message is EMSGSIZE, with any descriptor that did arrive
 * already closed. */
long ipc_send_fd(ipc_fd channel, ipc_fd fd, long target_pid, const void *data, size_t len, ipc_error *err);
long ipc_recv_fd(ipc_fd channel, void *buf, size_t len, ipc_fd *fd, ipc_error *err);
/* The `inherit` worker's first step with the connection it inherited (--socket N):
 * POSIX: the descriptor as it is. Windows: the SOCKET as it is when Winsock accepts it
 * (the Winsock FAQ's way; getpeername is the test), else - Wine 8, whose ws2_32 refuses
 * sockets another process made - a socket made here from it with WSADuplicateSocketW for
 * this process, the inherited handle closed. *claimed is what to serve. */
int ipc_claim_inherited(ipc_fd inherited, ipc_fd *claimed, ipc_error *err);

/* fork_exec_posix.c: the article's `unix` branch, pipe + fork + dup2 + exec.
 * fork_exec_win.c: refuses with ENOSYS and the reason (no fork, select takes sockets only). */
int ipc_fork_exec(const ipc_spawn_options *opts, long *pid, ipc_error *err);

/* lines.c (shared): for each complete line in src[0, len), appends label + line to out
 * (from *out_len, at most out_cap bytes) and advances *out_len. Returns how many bytes
 * of src it consumed: everything up to and including the last newline that fitted. */
size_t ipc_label_lines(const unsigned char *src, size_t len, const unsigned char *label, size_t label_len,
                       unsigned char *out, size_t out_cap, size_t *out_len);

/* cmdline.c (shared): the MSVCRT rules CreateProcess command lines are parsed by. Pure, so
 * Linux tests check it too. Returns the number of bytes needed including the NUL; writes
 * at most cap bytes. Returns 0 (writes nothing) when argv[0] holds a double quote, which no
 * command line can pass as a program name. */
size_t ipc_quote_cmdline(const char *const *argv, char *out, size_t cap);

#ifndef _WIN32
/* loop_posix.c: the parent's select() loop (steps 1, 2, 3 and 5) on a thread of its own,
 * `--loop native` (parent/relay-native.ts). JavaScript queues commands; the thread reports
 * events through `notify`, called from the thread whenever events wait to be taken. */
typedef struct ipc_loop ipc_loop;
typedef enum ipc_loop_event_kind {
  IPC_LOOP_END = 1,          /* a source ended and its descriptor was closed */
  IPC_LOOP_OUTPUT_ERROR,     /* writing the output failed (err); later output is dropped */
  IPC_LOOP_FAILED,           /* select() failed (err): nothing more is read */
  IPC_LOOP_FINISHED          /* after ipc_loop_finish: everything is written, the thread ends */
} ipc_loop_event_kind;
typedef struct ipc_loop_event {
  ipc_loop_event_kind kind;
  ipc_fd fd;   /* IPC_LOOP_END */
  int eof;     /* IPC_LOOP_END: 1 at end of file, 0 when closed by ipc_loop_close */
  ipc_error err;
} ipc_loop_event;
typedef void (*ipc_loop_notify_fn)(void *ctx);
int ipc_loop_start(int out_fd, ipc_loop_notify_fn notify, void *notify_ctx, ipc_loop **loop, ipc_error *err);
/* The thread owns fd from now on (made non-blocking); every line is labelled `label`. */
int ipc_loop_add(ipc_loop *loop, ipc_fd fd, const void *label, size_t label_len, ipc_error *err);
/* Read what fd holds now, end it (its held line too) and close it. */
int ipc_loop_close(ipc_loop *loop, ipc_fd fd, ipc_error *err);
/* Text for the output, behind everything labelled so far (the exit lines). */
int ipc_loop_append(ipc_loop *loop, const void *data, size_t len, ipc_error *err);
/* Write what is left, end the sources still open, then IPC_LOOP_FINISHED. */
int ipc_loop_finish(ipc_loop *loop, ipc_error *err);
/* Milliseconds since fd last had output (0 while a write waits for the reader); -1 once
 * fd has ended. */
long long ipc_loop_quiet_ms(ipc_loop *loop, ipc_fd fd);
size_t ipc_loop_take_events(ipc_loop *loop, ipc_loop_event *out, size_t max);
/* Node's environment is ending with the thread still running: no notify from now on. */
void ipc_loop_detach(ipc_loop *loop);
/* After IPC_LOOP_FINISHED: waits for the thread and frees the loop. */
int ipc_loop_join(ipc_loop *loop, ipc_error *err);
#endif

#endif
