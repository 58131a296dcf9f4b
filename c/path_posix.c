/*
 * path_posix.c - what both POSIX spawn paths (spawn_posix.c, fork_exec_posix.c) need to
 * know before starting a child: its environment, and where its program is.
 *
 * The program is searched in the PATH of the environment the CHILD gets, as libuv's
 * uv_spawn does (src/unix/process.c: it reads "PATH=" from options->env), not in the
 * parent's: `env: ["PATH=/opt/tool/bin"]` must find /opt/tool/bin/tool even when the
 * parent's PATH does not name that folder. posix_spawnp and execvp read the parent's PATH,
 * so both spawn paths resolve the name here and then call posix_spawn / execve.
 */
#define _GNU_SOURCE
#include "ipc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the parent's environment, fenced here ---- */
#if defined(__APPLE__)
/* Code in a shared library (a bundle, as ipc.node is) cannot link against the `environ`
 * symbol on macOS; Apple's environ(7) says to call _NSGetEnviron() instead. libuv does the
 * same in src/unix/process.c. */
#  include <crt_externs.h>
char **ipc_environ(void) { return *_NSGetEnviron(); }
#else
extern char **environ;
char **ipc_environ(void) { return environ; }
#endif

/* When the environment has no PATH at all: the value libuv uses (_PATH_DEFPATH in
 * <paths.h> on glibc and the BSDs). */
#define DEFAULT_PATH "/usr/bin:/bin"

/* The value of the first "PATH=" entry: the one the child's getenv("PATH") would see. */
static const char *path_of(const char *const *env) {
  size_t i;
  if (env == NULL) return getenv("PATH");
  for (i = 0; env[i] != NULL; i++)
    if (strncmp(env[i], "PATH=", 5) == 0) return env[i] + 5;
  return NULL;
}

/* Joins folder (len bytes, may be empty) and name. An empty PATH entry means the current
 * folder, as for execvp and sh: "./name", never "/name". Returns 0 if it fits. */
static int join(char *out, size_t cap, const char *folder, size_t len, const char *name) {
  int n;
  if (len == 0) n = snprintf(out, cap, "./%s", name);
  else n = snprintf(out, cap, "%.*s/%s", (int)len, folder, name);
  return n >= 0 && (size_t)n < cap ? 0 : -1;
}

/* The candidate as the child will see it. A relative candidate (from an empty or relative
 * PATH entry) is resolved by exec in the child's folder, which is `cwd` when one is given:
 * check it there, so that the answer here is the answer exec gets. */
enum { MISSING, FOUND, NOT_EXECUTABLE };
static int probe(const char *candidate, const char *cwd) {
  char where[PATH_MAX];
  struct stat st;
  const char *check = candidate;
  if (candidate[0] != '/' && cwd != NULL) {
    int n = snprintf(where, sizeof where, "%s/%s", cwd, candidate);
    if (n < 0 || (size_t)n >= sizeof where) return MISSING;
    check = where;
  }
  if (stat(check, &st) != 0 || !S_ISREG(st.st_mode)) return MISSING;
  return access(check, X_OK) == 0 ? FOUND : NOT_EXECUTABLE;
}

int ipc_find_program(const char *name, const char *const *env, const char *cwd, char *out, size_t cap,
                     ipc_error *err) {
  const char *path = path_of(env);
  int denied = 0;
  /* A name with a slash is a path, used as given (exec resolves a relative one in the
   * child's folder). */
  if (strchr(name, '/') != NULL) {
    int n = snprintf(out, cap, "%s", name);
    if (n >= 0 && (size_t)n < cap) return 0;
    ipc_fail_errno(err, ENAMETOOLONG, "execve");
    err->path = name;
    return -1;
  }
  if (path == NULL) path = DEFAULT_PATH;
  for (;;) {
    const char *end = strchr(path, ':');
    size_t len = end != NULL ? (size_t)(end - path) : strlen(path);
    /* A candidate too long for PATH_MAX cannot be exec'd: skip it, as musl's execvp does. */
    if (join(out, cap, path, len, name) == 0) {
      int found = probe(out, cwd);
      if (found == FOUND) return 0;
      /* Like execvp: a match that cannot run is remembered, and the search goes on. */
      if (found == NOT_EXECUTABLE) denied = 1;
    }
    if (end == NULL) break;
    path = end + 1;
  }
  /* The names the parent turns into 127 (not found) and 126 (not executable). */
  ipc_fail_errno(err, denied ? EACCES : ENOENT, "execvp");
  err->path = name;
  return -1;
}
