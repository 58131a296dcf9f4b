/*
 * fork_exec_posix.c - the article's `unix` branch: pipe, fork, dup2, exec. POSIX only;
 * Windows has no fork (the parent refuses this variant there before spawning anything).
 *
 * Between fork() and exec() the child is a copy of a multi-threaded Node process in which
 * only the forking thread exists: any lock another thread held stays locked forever. So
 * the child may only make async-signal-safe calls (dup2, close, chdir, sigaction,
 * execve, write, _exit); everything that allocates - building the environment, searching
 * PATH - happens in the parent before fork.
 *
 * exec failure travels back through a close-on-exec pipe: a successful exec closes it
 * (the parent reads 0 bytes); a failed one writes which step failed and errno.
 */
#define _GNU_SOURCE
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct exec_report {
  int step; /* which call failed in the child */
  int error;
} exec_report;

enum { STEP_STDIN, STEP_DUP2, STEP_CHDIR, STEP_EXEC, STEP_GROUP };
static const char *const kStepNames[] = {"open(/dev/null)", "dup2", "chdir", "execve", "setpgid/setsid"};

/* Makes `fd` the child's descriptor `target`. dup2 onto itself would leave close-on-exec
 * set, so that case clears the flag instead. */
static int move_fd(int fd, int target) {
  if (fd == target) {
    int flags = fcntl(fd, F_GETFD);
    return flags < 0 ? -1 : fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  return dup2(fd, target) < 0 ? -1 : 0;
}

/* Descriptors the parent inherited without close-on-exec (from a shell, a CI runner...)
 * would pass through exec into the child; close everything from 3 up except the exec
 * report pipe. close_range(2) does it in one call on Linux 5.9+; otherwise, or if the
 * kernel says ENOSYS, one close(2) per possible descriptor (max_fd is computed before
 * fork, as sysconf is not async-signal-safe). */
static void close_other_descriptors(int keep, int max_fd) {
  int fd;
#if defined(__linux__) && defined(SYS_close_range)
  if ((keep <= 3 || syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0) &&
      syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
    return;
#endif
  for (fd = 3; fd < max_fd; fd++)
    if (fd != keep) (void)close(fd);
}

static void report_and_exit(int report_fd, int step) {
  exec_report r;
  ssize_t ignored;
  r.step = step;
  r.error = errno;
  ignored = write(report_fd, &r, sizeof r);
  (void)ignored;
  _exit(127);
}

/* Runs in the child: async-signal-safe calls only. Never returns. The child starts with
 * every signal blocked (start_child): the handlers it inherited are the parent's, and a
 * signal delivered before they are reset would run Node's handler in this copy. Reset
 * first, unblock after: a signal that came meanwhile then gets the default action. */
static void child_after_fork(const ipc_spawn_options *o, const char *path, char *const *envp, int report_fd,
                             int max_fd) {
  sigset_t none;
  struct sigaction dfl;
  int sig, in = (int)o->stdin_fd;
  /* Node ignores SIGPIPE, and an ignored signal survives exec: give the program the
   * defaults a shell would. */
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (sig = 1; sig < NSIG; sig++) (void)sigaction(sig, &dfl, NULL);
  sigemptyset(&none);
  (void)sigprocmask(SIG_SETMASK, &none, NULL);
  /* The child leads its own process group (guard_posix.c), or, detached, a new session. */
  if ((o->detached ? (int)setsid() : setpgid(0, 0)) < 0) report_and_exit(report_fd, STEP_GROUP);

  if (in == IPC_NO_FD && (in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) report_and_exit(report_fd, STEP_STDIN);
  if (move_fd(in, 0) < 0 || move_fd((int)o->stdout_fd, 1) < 0 || move_fd((int)o->stderr_fd, 2) < 0)
    report_and_exit(report_fd, STEP_DUP2);
  close_other_descriptors(report_fd, max_fd);
  if (o->cwd != NULL && chdir(o->cwd) < 0) report_and_exit(report_fd, STEP_CHDIR);
  execve(path, (char *const *)o->argv, envp);
  report_and_exit(report_fd, STEP_EXEC);
}

/* fork() with every signal blocked, and the parent's mask restored after it, as libuv's
 * uv__spawn_and_init_child_fork does. Between fork() and the reset in child_after_fork the
 * child still has the parent's handlers: a signal sent to the process group in that window
 * (Ctrl-C, kill -USR1 -PGID) would run the parent's handler in the child - Node's writes
 * to the parent's own signal pipe, so the parent would see a signal twice. The faults a
 * bug in the child can raise stay unblocked, so that such a child dies instead of hanging.
 * pthread_sigmask, not sigprocmask: this runs in a multi-threaded process. */
static pid_t start_child(const ipc_spawn_options *o, const char *path, char *const *envp, int report_fd,
                         int max_fd, ipc_error *err) {
  static const int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};
  sigset_t all, old;
  size_t i;
  pid_t pid;
  int rc;
  sigfillset(&all);
  for (i = 0; i < sizeof faults / sizeof faults[0]; i++) sigdelset(&all, faults[i]);
  if ((rc = pthread_sigmask(SIG_BLOCK, &all, &old)) != 0) return ipc_fail_errno(err, rc, "pthread_sigmask");
  pid = fork();
  if (pid == 0) child_after_fork(o, path, envp, report_fd, max_fd);
  if (pid < 0) ipc_fail_errno(err, errno, "fork");
  /* Cannot fail with a mask pthread_sigmask itself returned. */
  (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
  return pid;
}

int ipc_fork_exec(const ipc_spawn_options *o, long *pid_out, ipc_error *err) {
  char path[PATH_MAX];
  ipc_fd report[2];
  int status, max_fd;
  struct rlimit nofile;
  exec_report r;
  ssize_t n;
  pid_t pid;
  char *const *envp = o->env ? (char *const *)o->env : ipc_environ();

  /* Searched in the child's PATH (path_posix.c), here in the parent: after fork the child
   * may only make async-signal-safe calls. */
  if (ipc_find_program(o->argv[0], o->env, o->cwd, path, sizeof path, err) < 0) return -1;
  max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur < 1048576
               ? (int)nofile.rlim_cur
               : 1048576;
  if (ipc_pipe(report, err) < 0) return -1;
  pid = start_child(o, path, envp, report[1], max_fd, err);
  if (pid < 0) {
    close(report[0]);
    close(report[1]);
    return -1;
  }

  /* The same setpgid from this side, as job-control shells do: whichever of the two runs
   * first, the group exists before either goes on. Once the child has exec'd this fails
   * with EACCES, harmlessly: the child made the group itself before exec. */
  if (!o->detached) (void)setpgid(pid, pid);
  close(report[1]);
  do n = read(report[0], &r, sizeof r);
  while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == 0) { /* exec succeeded: the pipe closed with it */
    *pid_out = (long)pid;
    if (!o->detached && ipc_guard_child(*pid_out, err) < 0) return -1;
    return 0;
  }
  /* The child failed before or at exec and has exited with 127: reap it now. */
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != (ssize_t)sizeof r) return ipc_fail(err, "EIO", "fork", "the child's exec report was cut short");
  ipc_fail_errno(err, r.error, kStepNames[r.step]);
  err->path = r.step == STEP_CHDIR ? o->cwd : o->argv[0];
  return -1;
}
