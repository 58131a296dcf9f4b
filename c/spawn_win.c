/*
 * spawn_win.c - starting, reaping and stopping children on Windows.
 *
 * There is no fork/exec: CreateProcessW starts a program from one command line, and the
 * child's std handles come from STARTUPINFO, but only when STARTF_USESTDHANDLES is set
 * (without it hStdOutput is silently ignored). Handles must be inheritable to reach the
 * child, and then every inheritable handle would leak into every child, holding other
 * children's streams open; PROC_THREAD_ATTRIBUTE_HANDLE_LIST restricts each child to
 * exactly its own three. A job object kills the children if the parent dies.
 */
#include "ipc.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* What the parent remembers about each child: Windows identifies a process to its parent
 * by handle, not by pid, and the handle keeps the exit code readable until closed. */
typedef struct child_entry {
  long pid;
  HANDLE process;
  int killed_by; /* the signal number ipc_kill was asked for, reported by ipc_wait */
} child_entry;

static child_entry *children;
static size_t child_count, child_cap;
static HANDLE kill_on_close_job;

static child_entry *find_child(long pid) {
  size_t i;
  for (i = 0; i < child_count; i++)
    if (children[i].pid == pid) return &children[i];
  return NULL;
}

static int remember_child(long pid, HANDLE process, ipc_error *err) {
  if (child_count == child_cap) {
    size_t cap = child_cap ? child_cap * 2 : 16;
    child_entry *grown = realloc(children, cap * sizeof *grown);
    if (grown == NULL) return ipc_fail(err, "ENOMEM", "realloc", "out of memory");
    children = grown;
    child_cap = cap;
  }
  children[child_count].pid = pid;
  children[child_count].process = process;
  children[child_count].killed_by = 0;
  child_count++;
  return 0;
}

static void forget_child(child_entry *c) {
  CloseHandle(c->process);
  *c = children[--child_count];
}

/* UTF-8 in, UTF-16 out (malloc'd): the W functions are the only ones that carry every
 * character; the ANSI ones go through the code page. */
static wchar_t *widen(const char *s, ipc_error *err) {
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
  wchar_t *w;
  if (n <= 0) {
    ipc_fail_system(err, "MultiByteToWideChar");
    return NULL;
  }
  w = malloc((size_t)n * sizeof *w);
  if (w == NULL) {
    ipc_fail(err, "ENOMEM", "malloc", "out of memory");
    return NULL;
  }
  if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
    ipc_fail_system(err, "MultiByteToWideChar");
    free(w);
    return NULL;
  }
  return w;
}

static wchar_t *command_line(const char *const *argv, ipc_error *err) {
  size_t need = ipc_quote_cmdline(argv, NULL, 0);
  char *narrow = malloc(need);
  wchar_t *wide;
  if (narrow == NULL) {
    ipc_fail(err, "ENOMEM", "malloc", "out of memory");
    return NULL;
  }
  ipc_quote_cmdline(argv, narrow, need);
  wide = widen(narrow, err);
  free(narrow);
  return wide;
}

static int compare_names(const void *a, const void *b) {
  return _wcsicmp(*(const wchar_t *const *)a, *(const wchar_t *const *)b);
}

/* "A=1\0B=2\0\0", sorted by name as CreateProcess documents for Unicode blocks. */
static wchar_t *environment_block(const char *const *env, ipc_error *err) {
  size_t n = 0, i, total = 1, at = 0;
  wchar_t **vars, *block = NULL;
  while (env[n] != NULL) n++;
  vars = calloc(n ? n : 1, sizeof *vars);
  if (vars == NULL) {
    ipc_fail(err, "ENOMEM", "calloc", "out of memory");
    return NULL;
  }
  for (i = 0; i < n; i++) {
    vars[i] = widen(env[i], err);
    if (vars[i] == NULL) goto done;
    total += wcslen(vars[i]) + 1;
  }
  qsort(vars, n, sizeof *vars, compare_names);
  block = malloc((total + 1) * sizeof *block);
  if (block == NULL) {
    ipc_fail(err, "ENOMEM", "malloc", "out of memory");
    goto done;
  }
  for (i = 0; i < n; i++) {
    size_t len = wcslen(vars[i]) + 1;
    memcpy(block + at, vars[i], len * sizeof *block);
    at += len;
  }
  block[at++] = L'\0';
  if (n == 0) block[at++] = L'\0';
done:
  for (i = 0; i < n; i++) free(vars[i]);
  free(vars);
  return block;
}

static int check_cwd(const wchar_t *cwd, const char *narrow, ipc_error *err) {
  DWORD attrs = GetFileAttributesW(cwd);
  if (attrs == INVALID_FILE_ATTRIBUTES || !(attrs & FILE_ATTRIBUTE_DIRECTORY)) {
    ipc_fail(err, attrs == INVALID_FILE_ATTRIBUTES ? "ENOENT" : "ENOTDIR", "chdir",
             "cannot use '%s' as the working directory", narrow);
    err->path = narrow;
    return -1;
  }
  return 0;
}

/* The children die with the parent: when the last handle to this job closes (the parent
 * exits or is killed), Windows terminates every process in it. */
static int join_kill_on_close_job(HANDLE process, ipc_error *err) {
  if (kill_on_close_job == NULL) {
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
    HANDLE job = CreateJobObjectW(NULL, NULL);
    if (job == NULL) return ipc_fail_system(err, "CreateJobObjectW");
    memset(&info, 0, sizeof info);
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info, sizeof info)) {
      ipc_fail_system(err, "SetInformationJobObject");
      CloseHandle(job);
      return -1;
    }
    kill_on_close_job = job;
  }
  if (!AssignProcessToJobObject(kill_on_close_job, process))
    return ipc_fail_system(err, "AssignProcessToJobObject");
  return 0;
}

static HANDLE open_null_device(ipc_error *err) {
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE h = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                         OPEN_EXISTING, 0, NULL);
  if (h == INVALID_HANDLE_VALUE) ipc_fail_system(err, "CreateFileW(NUL)");
  return h;
}

/* Lists each handle once: the attribute list rejects duplicates, and a caller may pass
 * the same socket as stdout and stderr. */
static DWORD unique_handles(HANDLE in, HANDLE out, HANDLE errh, HANDLE list[3]) {
  DWORD n = 0;
  list[n++] = in;
  if (out != in) list[n++] = out;
  if (errh != in && errh != out) list[n++] = errh;
  return n;
}

/* --break inherit-all and no-startf are teaching switches (docs/workshop.md): each skips
 * one step below so its symptom can be seen. inherit-all: no handle list, so the child
 * inherits every inheritable handle of the parent, and the std handles stay inheritable
 * afterwards, so every later child inherits them too. no-startf: hStd* are set but
 * STARTF_USESTDHANDLES is not, so Windows ignores them. */
static int create_process(wchar_t *cmdline, wchar_t *env, const wchar_t *cwd, HANDLE std[3],
                          ipc_break_step break_step, PROCESS_INFORMATION *pi, ipc_error *err) {
  STARTUPINFOEXW si;
  HANDLE list[3];
  DWORD n = unique_handles(std[0], std[1], std[2], list), i;
  SIZE_T attr_size = 0;
  int ok = -1, inheritable = 0;

  memset(&si, 0, sizeof si);
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = break_step == IPC_BREAK_NO_STARTF ? 0 : STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = std[0];
  si.StartupInfo.hStdOutput = std[1];
  si.StartupInfo.hStdError = std[2];

  /* The first call only reports the size it needs, failing with
   * ERROR_INSUFFICIENT_BUFFER by design. */
  InitializeProcThreadAttributeList(NULL, 1, 0, &attr_size);
  si.lpAttributeList = malloc(attr_size);
  if (si.lpAttributeList == NULL) return ipc_fail(err, "ENOMEM", "malloc", "out of memory");
  if (!InitializeProcThreadAttributeList(si.lpAttributeList, 1, 0, &attr_size)) {
    ipc_fail_system(err, "InitializeProcThreadAttributeList");
    free(si.lpAttributeList);
    return -1;
  }
  if (break_step != IPC_BREAK_INHERIT_ALL &&
      !UpdateProcThreadAttribute(si.lpAttributeList, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, list,
                                 n * sizeof(HANDLE), NULL, NULL)) {
    ipc_fail_system(err, "UpdateProcThreadAttribute");
    goto done;
  }
  /* Handles in the list must be inheritable; they go back to non-inheritable right after,
   * so no later child can pick them up by accident. */
  for (i = 0; i < n; i++)
    if (!SetHandleInformation(list[i], HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) {
      ipc_fail_system(err, "SetHandleInformation");
      goto done;
    }
  inheritable = 1;
  /* Suspended until it is in the job, so it cannot start a grandchild outside it. */
  if (!CreateProcessW(NULL, cmdline, NULL, NULL, TRUE,
                      CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT | CREATE_SUSPENDED,
                      env, cwd, &si.StartupInfo, pi)) {
    ipc_fail_system(err, "CreateProcessW");
    goto done;
  }
  ok = 0;
done:
  if (inheritable && break_step != IPC_BREAK_INHERIT_ALL)
    for (i = 0; i < n; i++) (void)SetHandleInformation(list[i], HANDLE_FLAG_INHERIT, 0);
  DeleteProcThreadAttributeList(si.lpAttributeList);
  free(si.lpAttributeList);
  return ok;
}

int ipc_spawn(const ipc_spawn_options *o, long *pid_out, ipc_error *err) {
  wchar_t *cmdline = NULL, *env = NULL, *cwd = NULL;
  HANDLE std[3], null_in = INVALID_HANDLE_VALUE;
  PROCESS_INFORMATION pi;
  int ok = -1;

  cmdline = command_line(o->argv, err);
  if (cmdline == NULL) goto done;
  if (o->env != NULL && (env = environment_block(o->env, err)) == NULL) goto done;
  if (o->cwd != NULL) {
    if ((cwd = widen(o->cwd, err)) == NULL) goto done;
    if (check_cwd(cwd, o->cwd, err) < 0) goto done;
  }
  if (o->stdin_fd == IPC_NO_FD) {
    null_in = open_null_device(err);
    if (null_in == INVALID_HANDLE_VALUE) goto done;
    std[0] = null_in;
  } else {
    std[0] = (HANDLE)o->stdin_fd;
  }
  std[1] = (HANDLE)o->stdout_fd;
  std[2] = (HANDLE)o->stderr_fd;

  if (create_process(cmdline, env, cwd, std, o->break_step, &pi, err) < 0) {
    err->path = o->argv[0];
    goto done;
  }
  if (join_kill_on_close_job(pi.hProcess, err) < 0) goto abandon;
  if (ResumeThread(pi.hThread) == (DWORD)-1) {
    ipc_fail_system(err, "ResumeThread");
    goto abandon;
  }
  if (remember_child((long)pi.dwProcessId, pi.hProcess, err) < 0) goto abandon;
  CloseHandle(pi.hThread);
  *pid_out = (long)pi.dwProcessId;
  ok = 0;
done:
  if (null_in != INVALID_HANDLE_VALUE) CloseHandle(null_in);
  free(cmdline);
  free(env);
  free(cwd);
  return ok;
abandon:
  TerminateProcess(pi.hProcess, 1);
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  goto done;
}

int ipc_wait(long pid, ipc_exit *status, ipc_error *err) {
  child_entry *c = find_child(pid);
  DWORD code;
  if (c == NULL) return ipc_fail(err, "ECHILD", "wait", "process %ld is not a child of this parent", pid);
  status->code = -1;
  status->signal = 0;
  status->running = WaitForSingleObject(c->process, 0) == WAIT_TIMEOUT;
  if (status->running) return 0;
  if (!GetExitCodeProcess(c->process, &code)) return ipc_fail_system(err, "GetExitCodeProcess");
  /* Windows has no signals: a process we terminated is reported with the signal it was
   * asked to stop with, as libuv does for Node. */
  if (c->killed_by != 0) status->signal = c->killed_by;
  else status->code = (int)code;
  forget_child(c);
  return 0;
}

int ipc_kill(long pid, int signal, ipc_error *err) {
  child_entry *c = find_child(pid);
  if (c == NULL) return ipc_fail(err, "ESRCH", "kill", "process %ld is not a child of this parent", pid);
  if (signal == 0) return WaitForSingleObject(c->process, 0) == WAIT_TIMEOUT
                              ? 0
                              : ipc_fail(err, "ESRCH", "kill", "process %ld has exited", pid);
  /* SIGTERM, SIGINT and SIGKILL all end in TerminateProcess (libuv's rule): Windows has no
   * way to ask a console-less process to stop politely. */
  if (!TerminateProcess(c->process, 1)) {
    /* Terminating a process that already exited fails with ERROR_ACCESS_DENIED. */
    if (WaitForSingleObject(c->process, 0) == WAIT_OBJECT_0) return 0;
    return ipc_fail_system(err, "TerminateProcess");
  }
  c->killed_by = signal;
  return 0;
}
