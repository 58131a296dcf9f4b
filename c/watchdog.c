/*
 * watchdog.c - the POSIX parent's watchdog: when the parent ends, however it ends (exit,
 * crash, SIGKILL), it kills every process group the parent was still guarding. Why this
 * exists and how the parent drives it: the top comment of c/guard_posix.c.
 *
 * It is started by the addon (guard_posix.c), never by hand, with:
 *   descriptor 0   the read end of a pipe whose only write end the parent holds
 *   1 and 2        /dev/null (it holds no other descriptor of the parent)
 *   environment    empty
 * and reads lines from descriptor 0:
 *   +PGID          guard process group PGID
 *   -PGID          forget it (the parent saw it empty)
 * End of file means the parent is gone: SIGKILL to every group still guarded, then exit.
 *
 * Usage: watchdog_c        (status 0 after end of file, having killed the groups; 1 on a
 *                           read error, killing nothing; lines not of this form are skipped)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* While it guards something, the watchdog looks every second for groups that emptied
 * without the parent saying so (a grandchild outlived the leader, then ended; or groups the
 * parent guards but does not reap itself, such as Node's child_process children). */
#define SWEEP_INTERVAL_MS 1000
#define LINE_MAX_BYTES 32

static pid_t *groups;
static size_t count, capacity;

static int add_group(pid_t pgid) {
  size_t i;
  for (i = 0; i < count; i++)
    if (groups[i] == pgid) return 0;
  if (count == capacity) {
    size_t more = capacity ? capacity * 2 : 64;
    pid_t *grown = realloc(groups, more * sizeof *grown);
    if (grown == NULL) return -1;
    groups = grown;
    capacity = more;
  }
  groups[count++] = pgid;
  return 0;
}

static void remove_at(size_t i) { groups[i] = groups[--count]; }

static void remove_group(pid_t pgid) {
  size_t i;
  for (i = 0; i < count; i++)
    if (groups[i] == pgid) {
      remove_at(i);
      return;
    }
}

/* A group with no member left is forgotten at once: its number may be handed to a new,
 * unrelated group, which must never receive our SIGKILL. ESRCH is the only proof of an
 * empty group; EPERM means a member exists that we may not signal (it changed user). */
static void sweep_empty_groups(void) {
  size_t i = 0;
  while (i < count) {
    if (kill(-groups[i], 0) != 0 && errno == ESRCH)
      remove_at(i);
    else
      i++;
  }
}

static void kill_all_groups(void) {
  size_t i;
  /* A failure here (ESRCH: the group ended meanwhile) leaves nothing to do. */
  for (i = 0; i < count; i++) (void)kill(-groups[i], SIGKILL);
  count = 0;
}

/* "+123" or "-123": 0 when handled, -1 when the line is not one of ours (or no memory). */
static int handle_line(const char *line) {
  char *end;
  long v;
  if (line[0] != '+' && line[0] != '-') return -1;
  errno = 0;
  v = strtol(line + 1, &end, 10);
  /* pgid 1 (init) and below would mean "every process we may signal" to kill(-pgid). */
  if (errno != 0 || end == line + 1 || *end != '\0' || v <= 1 || v > INT_MAX) return -1;
  if (line[0] == '+') return add_group((pid_t)v);
  remove_group((pid_t)v);
  return 0;
}

/* The terminal's keys and the signals sent to the parent's process group must not end the
 * watchdog before the parent: it is in its own process group already (the parent spawned
 * it so), and ignores these for signals sent to it by pid. Only SIGKILL (and SIGSTOP)
 * cannot be ignored. */
static void ignore_stop_signals(void) {
  static const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE, SIGUSR1, SIGUSR2};
  struct sigaction sa;
  sigset_t none;
  size_t i;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  for (i = 0; i < sizeof ignored / sizeof ignored[0]; i++) (void)sigaction(ignored[i], &sa, NULL);
  /* The parent starts us with every signal blocked (guard_posix.c): one sent to its
   * process group while we were still in it, between fork and setpgid, waits pending.
   * Ignoring a pending signal discards it, so only now is it safe to unblock. */
  sigemptyset(&none);
  (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Reads until end of file. Returns the exit status: 0 at end of file, 1 on a read error.
 * A line that is not ours is skipped: the parent's bug must not cost its children. */
static int serve(void) {
  char buf[512], line[LINE_MAX_BYTES];
  size_t line_len = 0;
  int too_long = 0;
  for (;;) {
    struct pollfd pfd;
    ssize_t n, i;
    int ready;
    pfd.fd = 0;
    pfd.events = POLLIN;
    pfd.revents = 0;
    ready = poll(&pfd, 1, count > 0 ? SWEEP_INTERVAL_MS : -1);
    if (ready < 0 && errno != EINTR) return 1;
    if (ready <= 0) {
      sweep_empty_groups();
      continue;
    }
    n = read(0, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return 1;
    if (n == 0) return 0;
    for (i = 0; i < n; i++) {
      if (buf[i] != '\n') {
        if (line_len + 1 < sizeof line) line[line_len++] = buf[i];
        else too_long = 1;
        continue;
      }
      line[line_len] = '\0';
      if (!too_long) (void)handle_line(line);
      line_len = 0;
      too_long = 0;
    }
  }
}

int main(void) {
  int status, ignored;
  ignore_stop_signals();
  /* Hold no directory busy (unmounting the parent's working folder must not fail because
   * of us); if it fails, nothing else depends on it. */
  ignored = chdir("/");
  (void)ignored;
  status = serve();
  /* A read error says nothing about the parent: exit without killing, and the parent
   * starts a new watchdog at its next guarded spawn (guard_posix.c). */
  if (status == 0) kill_all_groups();
  free(groups);
  return status;
}
