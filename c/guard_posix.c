/*
 * guard_posix.c - a child is its whole tree, and the tree does not outlive the parent.
 *
 * The problem (issue 11, section 2). A child the parent starts may start children of its
 * own (`sh -c 'sleep 100 & wait'`). Signalling the child's pid reaches the child alone: its
 * grandchildren live on, re-parented to init. And when the parent itself is killed with
 * SIGKILL, nothing of it runs any more to stop anything: a child that never writes never
 * even meets EPIPE, and runs forever.
 *
 * The mechanism, in three parts.
 *
 * 1. A process group per child. Every child that is not detached is started as the leader
 *    of its own process group (pgid == pid): posix_spawn with POSIX_SPAWN_SETPGROUP
 *    (spawn_posix.c); setpgid in both the child and the parent after fork, as job-control
 *    shells do, so the group exists whichever of the two runs first (fork_exec_posix.c).
 *    Grandchildren inherit the group, so kill(-pid, signal) (ipc_kill_tree) reaches the
 *    whole tree. A side effect, as in every shell: the children leave the terminal's
 *    foreground group, so Ctrl-C reaches the parent alone, and the parent passes it on.
 *
 * 2. A watchdog process (c/watchdog.c, built beside the addon as watchdog_c). It is
 *    started at the first guarded spawn and reads from a pipe whose write end only this
 *    process holds: the end is close-on-exec (never inherited by a child, ours or
 *    libuv's), and the watchdog was given only the read end. The parent writes "+PGID" for
 *    each group it guards and "-PGID" when one is known to be empty. When the parent ends
 *    - exit, crash, SIGKILL - the kernel closes the write end, the watchdog reads end of
 *    file, sends SIGKILL to every group still registered, and exits. A normal exit closes
 *    the pipe too: grandchildren left behind in guarded groups are killed then, just as
 *    Windows' kill-on-close job kills the job's processes when its last handle closes.
 *    Why not PR_SET_PDEATHSIG (Linux only): each process must set it on itself, fork
 *    clears it (a grandchild does not have it), and it fires when the *thread* that forked
 *    exits, not the process (prctl(2)); it cannot reach grandchildren. Why a separate program rather than a
 *    forked copy of Node: fork in a multi-threaded process may only exec, and a small
 *    program shows everything it holds.
 *    The watchdog must not die before the parent: it sits in its own process group (the
 *    terminal's Ctrl-C and a kill(-parent_group) do not reach it), ignores SIGINT,
 *    SIGTERM, SIGHUP, SIGTSTP and the like, and its 1 and 2 are /dev/null (a shell reading
 *    the parent's output does not wait for it). It never outlives the parent by more than
 *    the moment it takes to send the signals. If someone kills it anyway, the next spawn
 *    or reaping here notices (waitpid, or EPIPE on the write), reaps it, starts a new one
 *    and registers every group again. It is a child of this process: reaped here when it dies
 *    early, by init once this process has ended; it never delays this process's exit.
 *
 * 3. Forgetting groups, because numbers are reused. A process group id is a pid; once
 *    the group is empty the number may go to an unrelated process that makes itself a
 *    group leader (every shell pipeline does), and our SIGKILL at exit would hit it. The
 *    kernel never reuses the number while any member lives, so a group is forgotten as
 *    soon as it is seen empty: ipc_wait, after reaping a leader, checks kill(-pid, 0) ==
 *    ESRCH and sends "-PGID"; forgetGroup does the same for groups started by others
 *    (Node's child_process children); and the watchdog sweeps its list every second while
 *    it guards anything. Residual risk: a group that empties (its last grandchild exits
 *    after the leader was reaped, or a guardGroup user never calls forgetGroup) AND whose
 *    number goes to a new group leader, both within one sweep interval (1 s) before the
 *    parent ends. Linux hands out pids in increasing order up to pid_max before wrapping
 *    around (/proc/sys/kernel/pid_max: 32,768 on the 2-core Linux machine this was
 *    written on; systemd raises it to 4,194,304 on 64-bit systems), macOS up to 99,999:
 *    the whole range must be used up within that second, which takes a fork bomb.
 *
 * What is not covered. A grandchild that leaves the group on purpose (setsid, setpgid:
 * daemons, `setsid cmd`, a job-control shell's own jobs) is outside the tree, as a
 * process that breaks away from a Windows job is. A child spawned and then the parent
 * killed before the "+PGID" write (the few instructions between posix_spawn returning and
 * write) is not guarded. Detached children (ipc_spawn_options.detached) are never guarded:
 * they are meant to outlive the parent.
 *
 * Only JavaScript's main thread calls these functions (the project starts no worker
 * threads, and the relay threads never call them), so the table and the pipe need no lock.
 */
#define _GNU_SOURCE /* dladdr, posix_spawn_file_actions_addclosefrom_np */
#include "ipc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WATCHDOG_PROGRAM "watchdog_c"

static int g_pipe = -1;    /* the write end; -1 until the first guarded spawn */
static pid_t g_watchdog;   /* its pid while g_pipe is open */
static pid_t *g_groups;    /* what the watchdog guards, to register again after a restart */
static size_t g_count, g_capacity;

/* ---- the table of guarded groups ---- */

static int group_index(pid_t pgid) {
  size_t i;
  for (i = 0; i < g_count; i++)
    if (g_groups[i] == pgid) return (int)i;
  return -1;
}

static int group_is_empty(pid_t pgid) { return kill(-pgid, 0) != 0 && errno == ESRCH; }

/* Drops the groups that have emptied without being forgotten (guarded by others and never
 * reported): keeps the table as small as what is really running. */
static void drop_empty_groups(void) {
  size_t i = 0;
  while (i < g_count) {
    if (group_is_empty(g_groups[i]))
      g_groups[i] = g_groups[--g_count];
    else
      i++;
  }
}

static int remember_group(pid_t pgid, ipc_error *err) {
  if (group_index(pgid) >= 0) return 0;
  if (g_count == g_capacity) drop_empty_groups();
  if (g_count == g_capacity) {
    size_t more = g_capacity ? g_capacity * 2 : 64;
    pid_t *grown = realloc(g_groups, more * sizeof *grown);
    if (grown == NULL) return ipc_fail_errno(err, ENOMEM, "realloc");
    g_groups = grown;
    g_capacity = more;
  }
  g_groups[g_count++] = pgid;
  return 0;
}

/* ---- starting the watchdog ---- */

/* watchdog_c is built beside the addon (binding.gyp), as child_c is: find the folder the
 * addon was loaded from, by asking which loaded file holds a variable of ours. */
static int watchdog_path(char *out, size_t cap, ipc_error *err) {
  Dl_info info;
  const char *slash;
  if (dladdr((const void *)&g_pipe, &info) == 0 || info.dli_fname == NULL)
    return ipc_fail(err, "ENOENT", "dladdr", "cannot tell which file the addon was loaded from");
  slash = strrchr(info.dli_fname, '/');
  if (slash == NULL) {
    if (snprintf(out, cap, "./%s", WATCHDOG_PROGRAM) >= (int)cap) return ipc_fail_errno(err, ENAMETOOLONG, "watchdog");
  } else if (snprintf(out, cap, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname, WATCHDOG_PROGRAM) >=
             (int)cap) {
    return ipc_fail_errno(err, ENAMETOOLONG, "watchdog");
  }
  return 0;
}

/* 0: the read end of the pipe; 1, 2: /dev/null; nothing else. */
static int watchdog_file_actions(posix_spawn_file_actions_t *fa, int read_end, ipc_error *err) {
  int rc = posix_spawn_file_actions_adddup2(fa, read_end, 0);
  if (rc == 0) rc = posix_spawn_file_actions_addopen(fa, 1, "/dev/null", O_WRONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(fa, 1, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  /* Everything of ours is close-on-exec already; this also catches what a library opened
   * without it. */
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(fa, 3);
#endif
  if (rc != 0) return ipc_fail_errno(err, rc, "posix_spawn_file_actions");
  return 0;
}

/* Its own process group (out of reach of the terminal's keys and of signals sent to this
 * process's group), default signal actions (Node ignores SIGPIPE), and every signal
 * blocked: until posix_spawn's setpgid the watchdog is still in our group, and a signal
 * sent to it then (a terminal's Ctrl-C, a kill -USR1 -PGID) would otherwise end it with
 * its default action. watchdog.c ignores those signals first, then unblocks. Seen: a
 * program sending SIGUSR1 to its group while spawning killed its watchdog (SIGUSR1), and
 * itself by SIGPIPE at the next "+PGID" write (test/spawn-paths.test.ts, signal-window). */
static int watchdog_attributes(posix_spawnattr_t *attr, ipc_error *err) {
  sigset_t all;
  short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  int rc;
#ifdef POSIX_SPAWN_CLOEXEC_DEFAULT
  flags |= POSIX_SPAWN_CLOEXEC_DEFAULT; /* macOS: nothing but what the file actions name */
#endif
  sigfillset(&all);
  rc = posix_spawnattr_setpgroup(attr, 0);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(attr, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(attr, &all);
  if (rc == 0) rc = posix_spawnattr_setflags(attr, flags);
  if (rc != 0) return ipc_fail_errno(err, rc, "posix_spawnattr");
  return 0;
}

static int start_watchdog(ipc_error *err) {
  static char path[PATH_MAX]; /* static: err->path may point here after we return */
  char *argv[2];
  char *envp[1] = {NULL}; /* it needs nothing of ours, and holds nothing */
  ipc_fd ends[2];
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  pid_t pid;
  int rc, ok = -1;
  ipc_error ignored;

  if (watchdog_path(path, sizeof path, err) < 0) return -1;
  if (access(path, X_OK) != 0) {
    ipc_fail_errno(err, errno, "access");
    err->path = path;
    return -1;
  }
  if (ipc_pipe(ends, err) < 0) return -1;
  rc = posix_spawn_file_actions_init(&fa);
  if (rc != 0) {
    ipc_fail_errno(err, rc, "posix_spawn_file_actions_init");
    goto close_pipe;
  }
  rc = posix_spawnattr_init(&attr);
  if (rc != 0) {
    ipc_fail_errno(err, rc, "posix_spawnattr_init");
    posix_spawn_file_actions_destroy(&fa);
    goto close_pipe;
  }
  argv[0] = path;
  argv[1] = NULL;
  if (watchdog_file_actions(&fa, (int)ends[0], err) == 0 && watchdog_attributes(&attr, err) == 0) {
    rc = posix_spawn(&pid, path, &fa, &attr, argv, envp);
    if (rc == 0)
      ok = 0;
    else {
      ipc_fail_errno(err, rc, "posix_spawn");
      err->path = path;
    }
  }
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (ok < 0) goto close_pipe;
  /* Non-blocking: a watchdog that stopped reading (SIGSTOP) must fail a spawn with EAGAIN,
   * not hang the parent on a full pipe. */
  if (ipc_close(ends[0], err) < 0 || ipc_set_nonblocking(ends[1], err) < 0) {
    (void)ipc_close(ends[1], &ignored);
    (void)kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return -1;
  }
  g_pipe = (int)ends[1];
  g_watchdog = pid;
  return 0;

close_pipe:
  (void)ipc_close(ends[0], &ignored);
  (void)ipc_close(ends[1], &ignored);
  return -1;
}

/* The watchdog was killed by someone: reap it and let the next call start a new one. */
static void forget_dead_watchdog(void) {
  ipc_error ignored;
  int status;
  pid_t rc;
  do rc = waitpid(g_watchdog, &status, WNOHANG);
  while (rc < 0 && errno == EINTR);
  /* rc == 0: still running, but the pipe broke (it closed descriptor 0): stop it. */
  if (rc == 0) {
    (void)kill(g_watchdog, SIGKILL);
    while (waitpid(g_watchdog, &status, 0) < 0 && errno == EINTR) {
    }
  }
  (void)ipc_close(g_pipe, &ignored);
  g_pipe = -1;
  g_watchdog = 0;
}

/* ---- talking to it ---- */

/* One "+PGID\n" or "-PGID\n": far below PIPE_BUF, so each line arrives whole. */
static int send_line(char op, pid_t pgid, ipc_error *err) {
  char line[32];
  int len = snprintf(line, sizeof line, "%c%ld\n", op, (long)pgid);
  ssize_t n;
  do n = write(g_pipe, line, (size_t)len);
  while (n < 0 && errno == EINTR);
  if (n == len) return 0;
  if (n < 0) return ipc_fail_errno(err, errno, "write");
  return ipc_fail(err, "EIO", "write", "the watchdog's pipe took %ld of %d bytes", (long)n, len);
}

static int watchdog_running(void) {
  int status;
  pid_t rc;
  do rc = waitpid(g_watchdog, &status, WNOHANG);
  while (rc < 0 && errno == EINTR);
  return rc == 0;
}

/* A running watchdog that knows every group in the table, starting (or restarting) it
 * when needed. */
static int ensure_watchdog(ipc_error *err) {
  size_t i;
  if (g_pipe >= 0) {
    if (watchdog_running()) return 0;
    forget_dead_watchdog();
  }
  if (start_watchdog(err) < 0) return -1;
  drop_empty_groups();
  for (i = 0; i < g_count; i++)
    if (send_line('+', g_groups[i], err) < 0) return -1;
  return 0;
}

/* EPIPE means the watchdog died between our check and the write: once more, with a new
 * one. */
static int send_to_watchdog(char op, pid_t pgid, ipc_error *err) {
  if (ensure_watchdog(err) < 0) return -1;
  if (send_line(op, pgid, err) == 0) return 0;
  if (err->native != EPIPE) return -1;
  forget_dead_watchdog();
  if (ensure_watchdog(err) < 0) return -1;
  return send_line(op, pgid, err);
}

/* ---- ipc.h ---- */

int ipc_guard_group(long pgid, ipc_error *err) {
  pid_t group;
  if (pgid <= 1 || pgid > INT_MAX)
    return ipc_fail(err, "EINVAL", "guardGroup", "%ld is not a process group id", pgid);
  /* A pid that does not lead a group would make kill(-pid) miss its tree, or hit another's. */
  group = getpgid((pid_t)pgid);
  if (group < 0) return ipc_fail_errno(err, errno, "getpgid");
  if (group != (pid_t)pgid)
    return ipc_fail(err, "EINVAL", "guardGroup",
                    "process %ld is not a process group leader (its group is %ld): start it detached", pgid,
                    (long)group);
  if (remember_group((pid_t)pgid, err) < 0) return -1;
  if (send_to_watchdog('+', (pid_t)pgid, err) < 0) {
    g_groups[group_index((pid_t)pgid)] = g_groups[--g_count];
    return -1;
  }
  return 1;
}

int ipc_forget_group(long pgid, ipc_error *err) {
  int i;
  /* Called after every reaping (ipc_wait): the moment to notice a watchdog someone killed,
   * reap it, and put a new one in its place while groups still need guarding. */
  if (g_pipe >= 0 && !watchdog_running()) {
    forget_dead_watchdog();
    drop_empty_groups();
    if (g_count > 0 && ensure_watchdog(err) < 0) return -1;
  }
  if (pgid <= 1 || pgid > INT_MAX) return 0;
  i = group_index((pid_t)pgid);
  if (i < 0 || !group_is_empty((pid_t)pgid)) return 0;
  g_groups[i] = g_groups[--g_count];
  /* With no watchdog running there is nobody to tell (and nothing to start). */
  if (g_pipe < 0) return 1;
  if (send_to_watchdog('-', (pid_t)pgid, err) < 0) return -1;
  return 1;
}

int ipc_guard_child(long pid, ipc_error *err) {
  int status;
  if (ipc_guard_group(pid, err) >= 0) return 0;
  /* A child we cannot guard could outlive us: it is not started after all. It has done
   * nothing yet that matters, and SIGKILL makes the wait short. */
  (void)kill(-(pid_t)pid, SIGKILL);
  while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {
  }
  return -1;
}
