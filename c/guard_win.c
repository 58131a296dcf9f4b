/*
 * guard_win.c - the Windows side of "the tree does not outlive the parent" (the POSIX side,
 * a watchdog process, is explained at the top of guard_posix.c).
 *
 * Windows needs no watchdog: spawn_win.c puts each child in a job object with
 * JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, and the kernel closes the job's only handle when
 * this process ends, however it ends, terminating every process in the job, grandchildren
 * included. Node's child_process children are covered the same way by libuv, which puts
 * every child it spawns in one kill-on-close job of its own (src/win/process.c,
 * uv__init_global_job_handle). So there is nothing to register, and nothing to forget.
 */
#include "ipc.h"

int ipc_guard_group(long pgid, ipc_error *err) {
  (void)pgid;
  (void)err;
  return 0;
}

int ipc_forget_group(long pgid, ipc_error *err) {
  (void)pgid;
  (void)err;
  return 0;
}
