/*
 * spawn_posix.c - starting, reaping and stopping children on POSIX.
 *
 * The article's `unix` branch forks and execs by hand; posix_spawn(3) does the same in one
 * call, reports exec failures (ENOENT, EACCES) as its return value, and avoids copying the
 * parent's page tables. The child's stdout and stderr become the given descriptors through
 * dup2 file actions; every other descriptor stays behind (they are all close-on-exec, and
 * where the C library allows, descriptors from 3 up are closed outright).
 */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np, RTLD_DEFAULT */
#include "ipc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- giving posix_spawn a working folder ----
 * POSIX had no file action for the child's folder until 2024 (posix_spawn_file_actions_
 * addchdir); before that each C library added its own addchdir_np: glibc 2.29, musl
 * 1.1.24, macOS 10.15, FreeBSD 13.1. musl has no version macro to test, and a build made
 * on a new C library may run on an older one, so the function is looked up at run time,
 * as libuv looks up the macOS one (uv__spawn_init_posix_spawn_fncs). Where it is missing,
 * ipc_spawn starts the child with fork + chdir + exec instead (fork_exec_posix.c).
 * dlsym is in libc from glibc 2.34 on; before that in libdl, which node itself links. */
typedef int (*addchdir_fn)(posix_spawn_file_actions_t *, const char *);
static addchdir_fn addchdir;
static pthread_once_t addchdir_once = PTHREAD_ONCE_INIT;

static void look_up_addchdir(void) {
  static const char *const names[] = {"posix_spawn_file_actions_addchdir", "posix_spawn_file_actions_addchdir_np"};
  size_t i;
  for (i = 0; i < sizeof names / sizeof names[0] && addchdir == NULL; i++) {
    void *sym = dlsym(RTLD_DEFAULT, names[i]);
    /* memcpy: ISO C has no cast from an object pointer to a function pointer. */
    if (sym != NULL) memcpy(&addchdir, &sym, sizeof addchdir);
  }
#ifdef IPC_TEST_WITHOUT_ADDCHDIR
  /* Defined only by the C test program that exercises the fork fallback on a C library
   * that has the function (test/spawn-paths.test.ts). */
  addchdir = NULL;
#endif
}

static addchdir_fn spawn_addchdir(void) {
  if (pthread_once(&addchdir_once, look_up_addchdir) != 0) return NULL;
  return addchdir;
}

/* The cwd is checked first so that "no such directory" is not mistaken for "no such
 * program": posix_spawn reports both as ENOENT. */
static int check_cwd(const char *cwd, ipc_error *err) {
  struct stat st;
  if (stat(cwd, &st) != 0) {
    ipc_fail_errno(err, errno, "chdir");
    err->path = cwd;
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    ipc_fail_errno(err, ENOTDIR, "chdir");
    err->path = cwd;
    return -1;
  }
  return 0;
}

/* posix_spawn_file_actions_addclosefrom_np: glibc 2.34 and later. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#  define IPC_HAVE_ADDCLOSEFROM 1
#endif

/* The descriptors the handoff hands to a worker (docs/handoff.md), kept at their numbers.
 * dup2 onto itself clears close-on-exec in the child only (POSIX 2024; glibc since 2.29),
 * so the parent's copy stays close-on-exec and no other child inherits it. */
#ifdef IPC_HAVE_ADDCLOSEFROM
/* Only needed to close the gaps below the extras before closefrom (extra_fd_actions). */
static int is_extra(const ipc_spawn_options *o, int fd) {
  size_t i;
  for (i = 0; i < o->extra_count; i++)
    if (o->extra_fds[i] == fd) return 1;
  return 0;
}

static int highest_extra_fd(const ipc_spawn_options *o) {
  int high = 2;
  size_t i;
  for (i = 0; i < o->extra_count; i++)
    if (o->extra_fds[i] > high) high = o->extra_fds[i];
  return high;
}
#endif

static int extra_fd_actions(posix_spawn_file_actions_t *fa, const ipc_spawn_options *o) {
  int rc = 0, fd;
  size_t i;
  for (i = 0; i < o->extra_count && rc == 0; i++) rc = posix_spawn_file_actions_adddup2(fa, o->extra_fds[i], o->extra_fds[i]);
#ifdef IPC_HAVE_ADDCLOSEFROM
  /* closefrom starts above the highest extra; the gaps below it are closed one by one
   * (glibc ignores EBADF for a close action on a descriptor that is not open). */
  for (fd = 3; fd < highest_extra_fd(o) && rc == 0; fd++)
    if (!is_extra(o, fd)) rc = posix_spawn_file_actions_addclose(fa, fd);
#else
  (void)fd;
#endif
  return rc;
}

static int file_actions(posix_spawn_file_actions_t *fa, const ipc_spawn_options *o, ipc_error *err) {
  int rc;
  /* dup2 clears close-on-exec on the copy, so exactly 0, 1 and 2 survive exec. */
  if (o->stdin_fd == IPC_NO_FD)
    rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
  else
    rc = posix_spawn_file_actions_adddup2(fa, o->stdin_fd, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(fa, o->stdout_fd, 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(fa, o->stderr_fd, 2);
  if (rc == 0) rc = extra_fd_actions(fa, o);
#ifdef IPC_HAVE_ADDCLOSEFROM
  /* Belt and braces: a descriptor some library opened without close-on-exec would
   * otherwise leak into the child (node-pty #657). Past the extra descriptors: those
   * below them that are not extras get their own close actions (extra_fd_actions).
   * (--break inherit-all skips it.) */
  if (rc == 0 && o->break_step != IPC_BREAK_INHERIT_ALL)
    rc = posix_spawn_file_actions_addclosefrom_np(fa, highest_extra_fd(o) + 1);
#endif
  /* ipc_spawn took the fork path when there is a cwd but no addchdir. */
  if (rc == 0 && o->cwd != NULL) rc = spawn_addchdir()(fa, o->cwd);
  if (rc != 0) return ipc_fail_errno(err, rc, "posix_spawn_file_actions");
  return 0;
}

/* A child is its whole tree (guard_posix.c explains the mechanism): the leader of a new
 * process group, pgid == pid, which its own children inherit. A detached child starts a
 * new session instead (setsid: a group of its own too, and no controlling terminal), so
 * that the terminal's keys and hangup do not reach it either. POSIX_SPAWN_SETSID is in
 * glibc from 2.26 and in macOS; without it ipc_spawn takes the fork path for detached
 * children (see below). */
static int process_group_attributes(posix_spawnattr_t *attr, const ipc_spawn_options *o, short *flags) {
  if (o->detached) {
#ifdef POSIX_SPAWN_SETSID
    *flags |= POSIX_SPAWN_SETSID;
#endif
    return 0;
  }
  *flags |= POSIX_SPAWN_SETPGROUP;
  return posix_spawnattr_setpgroup(attr, 0);
}

static int spawn_attributes(posix_spawnattr_t *attr, const ipc_spawn_options *o, ipc_error *err) {
  sigset_t all, none;
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  int rc;
#ifdef POSIX_SPAWN_CLOEXEC_DEFAULT
  /* macOS: close everything not named in a file action. */
  flags |= POSIX_SPAWN_CLOEXEC_DEFAULT;
#endif
  /* Node ignores SIGPIPE and ignored signals survive exec: reset every signal to its
   * default so a child dies of SIGPIPE like any shell-started one, and unblock them all. */
  sigfillset(&all);
  sigemptyset(&none);
  rc = posix_spawnattr_setsigdefault(attr, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(attr, &none);
  if (rc == 0) rc = process_group_attributes(attr, o, &flags);
  if (rc == 0) rc = posix_spawnattr_setflags(attr, flags);
  if (rc != 0) return ipc_fail_errno(err, rc, "posix_spawnattr");
  return 0;
}

/* --break inherit-all, a teaching switch (docs/workshop.md): the child's write ends lose
 * close-on-exec in this parent and keep it lost, so every child started while the parent
 * still holds them inherits a copy (as descriptors 3 and up) and holds that stream open. */
static int break_inherit_all(const ipc_spawn_options *o, ipc_error *err) {
  if (o->break_step != IPC_BREAK_INHERIT_ALL) return 0;
  if (ipc_set_inheritable(o->stdout_fd, 1, err) < 0) return -1;
  return ipc_set_inheritable(o->stderr_fd, 1, err);
}

int ipc_spawn(const ipc_spawn_options *o, long *pid_out, ipc_error *err) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  pid_t pid;
  int rc, ok = -1;
  char *const *env = o->env ? (char *const *)o->env : ipc_environ();
  char path[PATH_MAX];
  int fork_path = o->cwd != NULL && spawn_addchdir() == NULL;
#ifndef POSIX_SPAWN_SETSID
  /* This C library's posix_spawn cannot call setsid; fork_exec_posix.c can. */
  if (o->detached) fork_path = 1;
#endif
  if (fork_path && o->extra_count > 0)
    return ipc_fail(err, "ENOTSUP", "posix_spawn", "extra descriptors are passed by posix_spawn only, not by the fork path");
  if (fork_path) return ipc_fork_exec(o, pid_out, err);
  if (o->cwd != NULL && check_cwd(o->cwd, err) < 0) return -1;
  /* Searched in the child's PATH (path_posix.c), so posix_spawn, not posix_spawnp. */
  if (ipc_find_program(o->argv[0], o->env, o->cwd, path, sizeof path, err) < 0) return -1;
  if (break_inherit_all(o, err) < 0) return -1;
  rc = posix_spawn_file_actions_init(&fa);
  if (rc != 0) return ipc_fail_errno(err, rc, "posix_spawn_file_actions_init");
  rc = posix_spawnattr_init(&attr);
  if (rc != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return ipc_fail_errno(err, rc, "posix_spawnattr_init");
  }
  if (file_actions(&fa, o, err) == 0 && spawn_attributes(&attr, o, err) == 0) {
    rc = posix_spawn(&pid, path, &fa, &attr, (char *const *)o->argv, env);
    if (rc == 0) {
      *pid_out = (long)pid;
      ok = 0;
    } else {
      ipc_fail_errno(err, rc, "posix_spawn");
      err->path = o->argv[0];
    }
  }
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (ok == 0 && !o->detached && ipc_guard_child(*pid_out, err) < 0) return -1;
  return ok;
}

int ipc_wait(long pid, ipc_exit *status, ipc_error *err) {
  ipc_error ignored;
  int st;
  pid_t rc;
  /* WNOHANG: the parent polls when SIGCHLD says something changed, so it never parks a
   * thread in waitpid for each child. */
  do rc = waitpid((pid_t)pid, &st, WNOHANG);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) return ipc_fail_errno(err, errno, "waitpid");
  /* Once the leader is reaped and its group empty, the watchdog must forget the number
   * before it can be reused (guard_posix.c); while it runs this only checks that the
   * watchdog still lives. A failure to tell it changes nothing about this child's status,
   * and the watchdog's own sweep forgets an empty group within a second. */
  (void)ipc_forget_group(pid, &ignored);
  status->running = rc == 0;
  status->code = -1;
  status->signal = 0;
  if (rc == 0) return 0;
  if (WIFEXITED(st)) status->code = WEXITSTATUS(st);
  else if (WIFSIGNALED(st)) status->signal = WTERMSIG(st);
  return 0;
}

int ipc_kill(long pid, int signal, ipc_error *err) {
  if (kill((pid_t)pid, signal) != 0) return ipc_fail_errno(err, errno, "kill");
  return 0;
}

/* Every child of ours leads its own process group (or session, when detached), and its
 * children inherit it: signalling the group reaches the whole tree, except what left the
 * group on purpose (setsid, setpgid). ESRCH once the group has no member left; a group
 * whose leader exited but whose grandchildren live still exists. */
int ipc_kill_tree(long pid, int signal, ipc_error *err) {
  if (pid <= 1) return ipc_fail(err, "EINVAL", "kill", "%ld is not a process group id", pid);
  if (kill(-(pid_t)pid, signal) != 0) return ipc_fail_errno(err, errno, "kill");
  return 0;
}
