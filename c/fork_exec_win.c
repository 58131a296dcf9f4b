/*
 * fork_exec_win.c - the `posix` variant on Windows: there is no fork(), and even with one,
 * select() could not watch the pipes it would read (it accepts only sockets: WSAENOTSOCK).
 * The addon still has the function, so a Windows test can see the refusal and its reason.
 */
#include "ipc.h"

int ipc_fork_exec(const ipc_spawn_options *o, long *pid, ipc_error *err) {
  (void)o;
  (void)pid;
  return ipc_fail(err, "ENOSYS", "fork",
                  "the posix variant needs fork() and select() on pipes; Windows has no fork(), "
                  "and its select() accepts only sockets (WSAENOTSOCK)");
}
