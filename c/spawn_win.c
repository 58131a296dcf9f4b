/*
 * spawn_win.c - starting, reaping and stopping children on Windows.
 *
 * There is no fork/exec: CreateProcessW starts a program from one command line, and the
 * child's std handles come from STARTUPINFO, but only when STARTF_USESTDHANDLES is set
 * (without it hStdOutput is silently ignored). Handles must be inheritable to reach the
 * child, and then every inheritable handle would leak into every child, holding other
 * children's streams open; PROC_THREAD_ATTRIBUTE_HANDLE_LIST restricts each child to
 * exactly its own three.
 *
 * A child is everything it starts: each one gets a kill-on-close job of its own, so that
 * stopping it (ipc_kill_tree) ends its grandchildren too, and the parent's death, which
 * closes every job handle, ends every tree. A detached child stays outside.
 *
 * The program is found here, not by CreateProcessW: given no application name, Windows
 * looks in node.exe's folder and the current folder before PATH, and runs a .bat or .cmd
 * file through cmd.exe, which re-parses the arguments (find_program explains).
 */
#include "ipc.h"

#include <psapi.h>
#include <tlhelp32.h>

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* The POSIX numbers Node hands over (os.constants.signals on Windows uses them too). */
enum { IPC_SIGINT = 2, IPC_SIGQUIT = 3, IPC_SIGKILL = 9, IPC_SIGTERM = 15 };

/* What the parent remembers about each child: Windows identifies a process to its parent
 * by handle, not by pid, and the handle keeps the exit code readable until closed. While
 * that handle is open the pid cannot be given to another process, which is what makes
 * looking children up by pid safe. */
typedef struct child_entry {
  long pid;
  HANDLE process;
  /* Its own kill-on-close job; NULL when detached, or when the job could not be joined
   * (see join_own_job). Kept after the child is reaped while grandchildren are in it:
   * closing it would kill them, and ipc_kill_tree must still reach them. */
  HANDLE job;
  int reaped;    /* ipc_wait has reported the exit */
  int killed_by; /* the signal number ipc_kill was asked for, reported by ipc_wait */
} child_entry;

static child_entry *children;
static size_t child_count, child_cap;

static child_entry *find_child(long pid) {
  size_t i;
  for (i = 0; i < child_count; i++)
    if (children[i].pid == pid) return &children[i];
  return NULL;
}

/* A child that has not been reaped yet: the only kind ipc_wait and ipc_kill know. */
static child_entry *find_running_child(long pid) {
  child_entry *c = find_child(pid);
  return c != NULL && !c->reaped ? c : NULL;
}

static int remember_child(long pid, HANDLE process, HANDLE job, ipc_error *err) {
  if (child_count == child_cap) {
    size_t cap = child_cap ? child_cap * 2 : 16;
    child_entry *grown = realloc(children, cap * sizeof *grown);
    if (grown == NULL) return ipc_fail(err, "ENOMEM", "realloc", "out of memory");
    children = grown;
    child_cap = cap;
  }
  children[child_count].pid = pid;
  children[child_count].process = process;
  children[child_count].job = job;
  children[child_count].reaped = 0;
  children[child_count].killed_by = 0;
  child_count++;
  return 0;
}

/* How many processes are still in a job: 0 once the whole tree has ended. A query that
 * fails counts as "some", so the job is kept rather than closed on a guess. */
static DWORD processes_in_job(HANDLE job) {
  JOBOBJECT_BASIC_ACCOUNTING_INFORMATION info;
  if (!QueryInformationJobObject(job, JobObjectBasicAccountingInformation, &info, sizeof info, NULL)) return 1;
  return info.ActiveProcesses;
}

/* Frees the entries of reaped children whose tree has ended. Closing an empty job kills
 * nothing; a job with grandchildren in it stays open until they are gone (or the parent
 * exits, which closes it and ends them). */
static void forget_finished_trees(void) {
  size_t i = 0;
  while (i < child_count) {
    child_entry *c = &children[i];
    if (c->reaped && (c->job == NULL || processes_in_job(c->job) == 0)) {
      if (c->job != NULL) CloseHandle(c->job);
      CloseHandle(c->process);
      *c = children[--child_count];
    } else {
      i++;
    }
  }
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
  char *narrow;
  wchar_t *wide;
  if (need == 0) {
    ipc_fail(err, "EINVAL", "CreateProcessW", "program name '%s' holds a double quote, which a Windows command line cannot pass", argv[0]);
    return NULL;
  }
  narrow = malloc(need);
  if (narrow == NULL) {
    ipc_fail(err, "ENOMEM", "malloc", "out of memory");
    return NULL;
  }
  ipc_quote_cmdline(argv, narrow, need);
  wide = widen(narrow, err);
  free(narrow);
  return wide;
}

/* ---------- the environment block ---------- */

/* The variables Windows programs need even when the caller replaces the environment:
 * Winsock fails to start without SYSTEMROOT, and some APIs read TEMP. The list is libuv's
 * (make_program_env in src/win/process.c, which took it from Cygwin). Each one that the
 * given environment lacks is copied from the parent's, if the parent has it. */
static const wchar_t *const kRequiredVars[] = {
  L"HOMEDRIVE", L"HOMEPATH", L"LOGONSERVER", L"PATH", L"SYSTEMDRIVE", L"SYSTEMROOT",
  L"TEMP", L"USERDOMAIN", L"USERNAME", L"USERPROFILE", L"WINDIR",
};

typedef struct env_var {
  wchar_t *text;   /* "NAME=value", malloc'd */
  size_t name_len; /* up to the '=' */
  size_t order;    /* position in the caller's list: the first of two equal names wins */
} env_var;

/* The length of NAME in "NAME=value", or 0 when there is no '='. A name may itself start
 * with '=' (cmd.exe keeps each drive's current folder as "=C:=C:\dir"), so the separator
 * is searched from the second character. */
static size_t name_length(const wchar_t *var) {
  const wchar_t *eq = var[0] != L'\0' ? wcschr(var + 1, L'=') : NULL;
  return eq != NULL ? (size_t)(eq - var) : 0;
}

/* Names compare as Windows compares them: case-insensitively, by UTF-16 code unit, without
 * regard to locale (CreateProcess's documentation asks the block to be sorted this way).
 * Names only: comparing whole "NAME=value" strings puts "A-B=1" before "A=1" ('-' sorts
 * before '='), and makes which of "Path=x" and "PATH=y" comes first depend on x and y. */
static int compare_names(const wchar_t *a, size_t a_len, const wchar_t *b, size_t b_len) {
  return CompareStringOrdinal(a, (int)a_len, b, (int)b_len, TRUE) - CSTR_EQUAL;
}

static int compare_vars(const void *pa, const void *pb) {
  const env_var *a = pa, *b = pb;
  int by_name = compare_names(a->text, a->name_len, b->text, b->name_len);
  if (by_name != 0) return by_name;
  return a->order < b->order ? -1 : a->order > b->order;
}

static int has_var(const env_var *vars, size_t n, const wchar_t *name) {
  size_t i, len = wcslen(name);
  for (i = 0; i < n; i++)
    if (compare_names(vars[i].text, vars[i].name_len, name, len) == 0) return 1;
  return 0;
}

/* "NAME=value" for one of the parent's variables, malloc'd; NULL when the parent has no
 * such variable (err untouched) or on failure (err filled, *failed set). */
static wchar_t *parent_var(const wchar_t *name, int *failed, ipc_error *err) {
  size_t name_len = wcslen(name);
  DWORD size = GetEnvironmentVariableW(name, NULL, 0), got;
  wchar_t *var;
  if (size == 0) return NULL; /* ERROR_ENVVAR_NOT_FOUND: nothing to add */
  var = malloc((name_len + 1 + size) * sizeof *var);
  if (var == NULL) {
    *failed = 1;
    ipc_fail(err, "ENOMEM", "malloc", "out of memory");
    return NULL;
  }
  wmemcpy(var, name, name_len);
  var[name_len] = L'=';
  got = GetEnvironmentVariableW(name, var + name_len + 1, size);
  if (got == 0 || got >= size) { /* changed or removed meanwhile: leave it out */
    free(var);
    return NULL;
  }
  return var;
}

typedef struct child_env {
  wchar_t *block;     /* "A=1\0B=2\0\0" for CreateProcessW; NULL: the parent's */
  const wchar_t *path; /* the value of PATH in block, if any (not owned) */
} child_env;

/* The given list as CreateProcess wants it: UTF-16, sorted by name, each name once (the
 * first given wins, as getenv() finds the first on POSIX), plus kRequiredVars. */
static int environment_block(const char *const *env, child_env *out, ipc_error *err) {
  size_t given = 0, n = 0, i, total = 1, at = 0;
  size_t cap;
  env_var *vars;
  int failed = 0, ok = -1;
  while (env[given] != NULL) given++;
  cap = given + sizeof kRequiredVars / sizeof kRequiredVars[0];
  vars = calloc(cap, sizeof *vars);
  if (vars == NULL) return ipc_fail(err, "ENOMEM", "calloc", "out of memory");
  for (i = 0; i < given; i++, n++) {
    if ((vars[n].text = widen(env[i], err)) == NULL) goto done;
    vars[n].name_len = name_length(vars[n].text);
    vars[n].order = n;
    if (vars[n].name_len == 0) {
      ipc_fail(err, "EINVAL", "CreateProcessW", "environment entry '%s' is not NAME=value", env[i]);
      n++;
      goto done;
    }
  }
  for (i = 0; i < sizeof kRequiredVars / sizeof kRequiredVars[0]; i++) {
    if (has_var(vars, given, kRequiredVars[i])) continue;
    vars[n].text = parent_var(kRequiredVars[i], &failed, err);
    if (failed) goto done;
    if (vars[n].text == NULL) continue;
    vars[n].name_len = wcslen(kRequiredVars[i]);
    vars[n].order = n;
    n++;
  }
  qsort(vars, n, sizeof *vars, compare_vars);
  for (i = 0; i < n; i++) total += wcslen(vars[i].text) + 1;
  out->block = malloc((total + 1) * sizeof *out->block);
  if (out->block == NULL) {
    ipc_fail(err, "ENOMEM", "malloc", "out of memory");
    goto done;
  }
  out->path = NULL;
  for (i = 0; i < n; i++) {
    size_t len = wcslen(vars[i].text) + 1;
    /* Sorted, so a repeated name follows its first occurrence: drop it. */
    if (i > 0 && compare_names(vars[i].text, vars[i].name_len, vars[i - 1].text, vars[i - 1].name_len) == 0)
      continue;
    if (compare_names(vars[i].text, vars[i].name_len, L"PATH", 4) == 0)
      out->path = out->block + at + vars[i].name_len + 1;
    wmemcpy(out->block + at, vars[i].text, len);
    at += len;
  }
  /* An empty block is two NULs, as every block ends with an empty string. */
  out->block[at++] = L'\0';
  if (at == 1) out->block[at++] = L'\0';
  ok = 0;
done:
  for (i = 0; i < n; i++) free(vars[i].text);
  free(vars);
  return ok;
}

/* ---------- finding the program ---------- */

static int is_separator(wchar_t c) {
  return c == L'\\' || c == L'/';
}

static int is_file(const wchar_t *path) {
  DWORD attrs = GetFileAttributesW(path);
  return attrs != INVALID_FILE_ATTRIBUTES && !(attrs & FILE_ATTRIBUTE_DIRECTORY);
}

/* cwd + dir + name + ext as one path, resolving dir against the child's working folder by
 * the forms a Windows path takes (libuv's search_path_join_test makes the same cases):
 *   \\server\share\x   UNC: as is          C:\x   absolute: as is
 *   \x                 the working folder's drive, then \x
 *   C:x                relative to C:'s current folder: the working folder if it is on
 *                      C:, else left to Windows
 *   x\ or .\x          relative to the working folder
 * NULL when out of memory. */
static wchar_t *join_candidate(const wchar_t *cwd, const wchar_t *dir, size_t dir_len, const wchar_t *name,
                               size_t name_len, const wchar_t *ext) {
  size_t cwd_len = wcslen(cwd), ext_len = wcslen(ext), at = 0;
  wchar_t *path;
  if (dir_len >= 2 && is_separator(dir[0]) && is_separator(dir[1])) {
    cwd_len = 0;
  } else if (dir_len >= 1 && is_separator(dir[0])) {
    cwd_len = cwd_len >= 2 && cwd[1] == L':' ? 2 : 0;
  } else if (dir_len >= 2 && dir[1] == L':') {
    if (dir_len >= 3 && is_separator(dir[2])) {
      cwd_len = 0;
    } else if (cwd_len >= 2 && _wcsnicmp(cwd, dir, 2) == 0) {
      dir += 2;
      dir_len -= 2;
    } else {
      cwd_len = 0;
    }
  }
  path = malloc((cwd_len + 1 + dir_len + 1 + name_len + 1 + ext_len + 1) * sizeof *path);
  if (path == NULL) return NULL;
  wmemcpy(path + at, cwd, cwd_len);
  at += cwd_len;
  if (cwd_len > 0 && !is_separator(path[at - 1]) && path[at - 1] != L':') path[at++] = L'\\';
  wmemcpy(path + at, dir, dir_len);
  at += dir_len;
  if (dir_len > 0 && !is_separator(path[at - 1]) && path[at - 1] != L':') path[at++] = L'\\';
  wmemcpy(path + at, name, name_len);
  at += name_len;
  if (ext_len > 0) {
    if (name_len == 0 || path[at - 1] != L'.') path[at++] = L'.';
    wmemcpy(path + at, ext, ext_len);
    at += ext_len;
  }
  path[at] = L'\0';
  return path;
}

/* Tries name in one folder: as given when it has an extension, then with .com and .exe
 * appended (CreateProcess starts nothing else; libuv and the C runtime's spawn functions
 * ignore PATHEXT for the same reason). 1 with *found set, 0 if absent, -1 on ENOMEM. */
static int try_folder(const wchar_t *cwd, const wchar_t *dir, size_t dir_len, const wchar_t *name, size_t name_len,
                      int has_extension, wchar_t **found) {
  static const wchar_t *const kExtensions[] = {L"", L"com", L"exe"};
  size_t i;
  for (i = has_extension ? 0 : 1; i < sizeof kExtensions / sizeof kExtensions[0]; i++) {
    wchar_t *candidate = join_candidate(cwd, dir, dir_len, name, name_len, kExtensions[i]);
    if (candidate == NULL) return -1;
    if (is_file(candidate)) {
      *found = candidate;
      return 1;
    }
    free(candidate);
  }
  return 0;
}

/* Walks PATH's folders (separated by ';', each possibly in quotes, which may hide a ';';
 * empty ones skipped, relative ones taken from the working folder), as libuv does. */
static int search_path_folders(const wchar_t *path, const wchar_t *cwd, const wchar_t *name, size_t name_len,
                               int has_extension, wchar_t **found) {
  const wchar_t *p = path;
  while (p != NULL && *p != L'\0') {
    const wchar_t *start = p, *end;
    size_t len;
    int r;
    if (*p == L'"' || *p == L'\'') {
      const wchar_t *close = wcschr(p + 1, *p);
      end = close != NULL ? wcschr(close, L';') : NULL;
    } else {
      end = wcschr(p, L';');
    }
    if (end == NULL) end = start + wcslen(start);
    p = *end == L';' ? end + 1 : end;
    len = (size_t)(end - start);
    if (len > 0 && (start[0] == L'"' || start[0] == L'\'')) {
      start++;
      len--;
    }
    if (len > 0 && (start[len - 1] == L'"' || start[len - 1] == L'\'')) len--;
    if (len == 0) continue;
    r = try_folder(cwd, start, len, name, name_len, has_extension, found);
    if (r != 0) return r;
  }
  return 0;
}

/* True for a name CreateProcess would hand to cmd.exe. Windows ignores trailing dots and
 * spaces in file names, so "x.bat. " is x.bat (Node's IsWindowsBatchFile strips them too). */
static int is_batch_file(const wchar_t *path) {
  size_t len = wcslen(path);
  while (len > 0 && (path[len - 1] == L'.' || path[len - 1] == L' ')) len--;
  return len >= 4 && (_wcsnicmp(path + len - 4, L".bat", 4) == 0 || _wcsnicmp(path + len - 4, L".cmd", 4) == 0);
}

/*
 * argv[0] to the file CreateProcessW is given as lpApplicationName. Given NULL there,
 * Windows would search the folder node.exe came from and the current folder before PATH,
 * and run a .bat or .cmd file through cmd.exe, which parses the quoted arguments again by
 * its own rules: an argument such as `"&calc` then runs a command (BatBadBut,
 * CVE-2024-27980). The rules here are libuv's search_path (src/win/process.c) with its
 * EXACT_NAME flag, and one difference (the second point):
 *   - a name with a folder in it (a\b, .\b, C:b, C:\b, \\host\share\b) is only looked
 *     up there, relative to the child's working folder, and tried as given first even
 *     without an extension (libuv's UV_PROCESS_WINDOWS_FILE_PATH_EXACT_NAME): the caller
 *     named that file, so a file that is not a program is reported as such (ENOEXEC,
 *     status 126), not as missing;
 *   - a bare name is looked up in the PATH of the environment the child gets, never in the
 *     current folder first. libuv does look there first unless
 *     NeedCurrentDirectoryForExePathW says not to; we never do, as POSIX shells and
 *     posix_spawnp never do: a program dropped in the working folder must not shadow one
 *     on PATH. Write .\name to mean the working folder;
 *   - in each PATH folder, the name as given if it has an extension, then name.com,
 *     name.exe;
 *   - a batch file is refused (EINVAL), as Node's spawn refuses it since April 2024.
 */
static wchar_t *find_program(const char *file_utf8, const wchar_t *cwd, const wchar_t *path, ipc_error *err) {
  wchar_t *file = widen(file_utf8, err), *found = NULL;
  const wchar_t *name, *dot;
  size_t len;
  int has_extension, has_folder, r;
  if (file == NULL) return NULL;
  len = wcslen(file);
  for (name = file + len; name > file && !is_separator(name[-1]) && name[-1] != L':'; name--) {
  }
  dot = wcschr(name, L'.');
  has_extension = dot != NULL && dot[1] != L'\0';
  has_folder = name != file;
  if (len == 0 || wcscmp(file, L".") == 0) r = 0;
  else if (has_folder) r = try_folder(cwd, file, (size_t)(name - file), name, wcslen(name), 1, &found);
  else r = search_path_folders(path, cwd, name, wcslen(name), has_extension, &found);
  free(file);
  if (r < 0) {
    ipc_fail(err, "ENOMEM", "malloc", "out of memory");
    return NULL;
  }
  if (r == 0) {
    ipc_fail(err, "ENOENT", "CreateProcessW",
             has_folder ? "cannot find '%s' (tried as given, then with .com and .exe appended)"
                        : "cannot find '%s' in the child's PATH (.com and .exe are appended to a name without extension)",
             file_utf8);
    err->path = file_utf8;
    return NULL;
  }
  if (is_batch_file(found)) {
    ipc_fail(err, "EINVAL", "CreateProcessW",
             "refusing to run the batch file '%s': Windows runs it through cmd.exe, which re-parses its arguments "
             "and can run a command hidden in one (BatBadBut, CVE-2024-27980); run cmd.exe /d /c with arguments "
             "you have escaped for it",
             file_utf8);
    err->path = file_utf8;
    free(found);
    return NULL;
  }
  return found;
}

/* The child's working folder as an absolute path: relative folders in argv[0] and PATH
 * are resolved against it (lpApplicationName itself is resolved against the parent's). */
static wchar_t *absolute_folder(const wchar_t *cwd, ipc_error *err) {
  DWORD size = cwd != NULL ? GetFullPathNameW(cwd, 0, NULL, NULL) : GetCurrentDirectoryW(0, NULL), got;
  wchar_t *full;
  if (size == 0) {
    ipc_fail_system(err, cwd != NULL ? "GetFullPathNameW" : "GetCurrentDirectoryW");
    return NULL;
  }
  full = malloc(size * sizeof *full);
  if (full == NULL) {
    ipc_fail(err, "ENOMEM", "malloc", "out of memory");
    return NULL;
  }
  got = cwd != NULL ? GetFullPathNameW(cwd, size, full, NULL) : GetCurrentDirectoryW(size, full);
  if (got == 0 || got >= size) {
    ipc_fail_system(err, cwd != NULL ? "GetFullPathNameW" : "GetCurrentDirectoryW");
    free(full);
    return NULL;
  }
  return full;
}

/* The parent's PATH, malloc'd (an empty string when it has none). */
static wchar_t *parent_path(ipc_error *err) {
  DWORD size = GetEnvironmentVariableW(L"PATH", NULL, 0), got;
  wchar_t *path = malloc((size ? size : 1) * sizeof *path);
  if (path == NULL) {
    ipc_fail(err, "ENOMEM", "malloc", "out of memory");
    return NULL;
  }
  path[0] = L'\0';
  if (size == 0) return path;
  got = GetEnvironmentVariableW(L"PATH", path, size);
  if (got >= size) path[0] = L'\0'; /* changed meanwhile: search nothing rather than half */
  return path;
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

/* ---------- jobs ---------- */

/* A job that ends every process in it when its last handle closes. Only this parent holds
 * the handle (not inheritable), so the parent's exit or death closes it.
 * BREAKAWAY_OK lets a grandchild leave the tree only by asking for it
 * (CREATE_BREAKAWAY_FROM_JOB), the way setsid() leaves a process group on POSIX; without
 * it such a CreateProcess call would fail. Not SILENT_BREAKAWAY_OK (libuv's choice for its
 * one job): then grandchildren would be outside, and stopping a child would leave them. */
static HANDLE create_kill_on_close_job(ipc_error *err) {
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
  HANDLE job = CreateJobObjectW(NULL, NULL);
  if (job == NULL) {
    ipc_fail_system(err, "CreateJobObjectW");
    return NULL;
  }
  memset(&info, 0, sizeof info);
  info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_BREAKAWAY_OK;
  if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info, sizeof info)) {
    ipc_fail_system(err, "SetInformationJobObject");
    CloseHandle(job);
    return NULL;
  }
  return job;
}

/* Puts the (still suspended) child in a job of its own. *job is NULL afterwards when the
 * child could not join one: before Windows 8 a process belongs to one job at most, so when
 * this parent already runs in a job (a CI runner, a service manager, a terminal) that does
 * not let children break away, AssignProcessToJobObject fails with ERROR_ACCESS_DENIED.
 * libuv goes on without the job then, and so do we: the child still runs, ipc_kill_tree
 * ends the child alone, and the enclosing job decides what happens when the parent dies. */
static int join_own_job(HANDLE process, HANDLE *job, ipc_error *err) {
  *job = create_kill_on_close_job(err);
  if (*job == NULL) return -1;
  if (AssignProcessToJobObject(*job, process)) return 0;
  if (GetLastError() != ERROR_ACCESS_DENIED) {
    ipc_fail_system(err, "AssignProcessToJobObject");
    CloseHandle(*job);
    *job = NULL;
    return -1;
  }
  CloseHandle(*job);
  *job = NULL;
  return 0;
}

/* A detached child must outlive this parent. Our own jobs never hold it, but if the
 * parent itself runs in a job, the child is put in that job too and dies with it, unless
 * it breaks away. CREATE_BREAKAWAY_FROM_JOB makes CreateProcess fail where the job does
 * not allow it, so ask only when it does (libuv never asks, and says so in uv_spawn). A
 * job with SILENT_BREAKAWAY_OK (libuv's, when Node started this parent) already leaves
 * children out. */
static DWORD breakaway_flag(void) {
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
  BOOL in_job = FALSE;
  DWORD flags;
  if (!IsProcessInJob(GetCurrentProcess(), NULL, &in_job) || !in_job) return 0;
  if (!QueryInformationJobObject(NULL, JobObjectExtendedLimitInformation, &info, sizeof info, NULL)) return 0;
  flags = info.BasicLimitInformation.LimitFlags;
  if (flags & JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK) return 0;
  return (flags & JOB_OBJECT_LIMIT_BREAKAWAY_OK) ? CREATE_BREAKAWAY_FROM_JOB : 0;
}

/* ---------- CreateProcessW ---------- */

static HANDLE open_null_device(ipc_error *err) {
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE h = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                         OPEN_EXISTING, 0, NULL);
  if (h == INVALID_HANDLE_VALUE) ipc_fail_system(err, "CreateFileW(NUL)");
  return h;
}

/* The std handles plus at most this many extra handles (options.extraFds, the handoff). */
#define MAX_LISTED_HANDLES 19

/* Lists each handle once: the attribute list rejects duplicates, and a caller may pass
 * the same socket as stdout and stderr. */
static DWORD unique_handles(const HANDLE *all, size_t count, HANDLE list[MAX_LISTED_HANDLES]) {
  DWORD n = 0, j;
  size_t i;
  for (i = 0; i < count; i++) {
    for (j = 0; j < n && list[j] != all[i]; j++) {}
    if (j == n) list[n++] = all[i];
  }
  return n;
}

typedef struct process_request {
  const wchar_t *application; /* the file found by find_program */
  wchar_t *cmdline;
  wchar_t *env;               /* NULL: the parent's */
  const wchar_t *cwd;         /* NULL: the parent's */
  HANDLE std[3];
  const ipc_fd *extra;        /* options.extraFds: SOCKETs this child alone inherits */
  size_t extra_count;
  DWORD flags;                /* creation flags beyond the ones every child gets */
  ipc_break_step break_step;  /* --break: a teaching switch, IPC_BREAK_NONE otherwise */
} process_request;

/* --break inherit-all and no-startf are teaching switches (docs/workshop.md): each skips
 * one step below so its symptom can be seen. inherit-all: no handle list, so the child
 * inherits every inheritable handle of the parent, and the std handles stay inheritable
 * afterwards, so every later child inherits them too. no-startf: hStd* are set but
 * STARTF_USESTDHANDLES is not, so Windows ignores them. */
static int create_process(const process_request *req, PROCESS_INFORMATION *pi, ipc_error *err) {
  STARTUPINFOEXW si;
  HANDLE all[MAX_LISTED_HANDLES], list[MAX_LISTED_HANDLES];
  DWORD n, i;
  DWORD flags = CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT | req->flags;
  SIZE_T attr_size = 0;
  int ok = -1, inheritable = 0;

  /* The handoff's extra handles (docs/handoff.md) join the std handles in the list, so
   * they are inheritable for this one call and reach this child only, as issue 12 asks. */
  if (req->extra_count > MAX_LISTED_HANDLES - 3)
    return ipc_fail(err, "EINVAL", "CreateProcessW", "at most %d extra handles per child", MAX_LISTED_HANDLES - 3);
  for (i = 0; i < 3; i++) all[i] = req->std[i];
  for (i = 0; i < req->extra_count; i++) all[3 + i] = (HANDLE)req->extra[i];
  n = unique_handles(all, 3 + req->extra_count, list);

  memset(&si, 0, sizeof si);
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = req->break_step == IPC_BREAK_NO_STARTF ? 0 : STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = req->std[0];
  si.StartupInfo.hStdOutput = req->std[1];
  si.StartupInfo.hStdError = req->std[2];

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
  if (req->break_step != IPC_BREAK_INHERIT_ALL &&
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
  if (!CreateProcessW(req->application, req->cmdline, NULL, NULL, TRUE, flags, req->env, req->cwd,
                      &si.StartupInfo, pi)) {
    /* A job further up may refuse the breakaway breakaway_flag judged allowed (with
     * nested jobs every level must allow it): start the child in the job then. */
    if (!(flags & CREATE_BREAKAWAY_FROM_JOB) || GetLastError() != ERROR_ACCESS_DENIED ||
        !CreateProcessW(req->application, req->cmdline, NULL, NULL, TRUE, flags & ~(DWORD)CREATE_BREAKAWAY_FROM_JOB,
                        req->env, req->cwd, &si.StartupInfo, pi)) {
      ipc_fail_system(err, "CreateProcessW");
      goto done;
    }
  }
  ok = 0;
done:
  if (inheritable && req->break_step != IPC_BREAK_INHERIT_ALL)
    for (i = 0; i < n; i++) (void)SetHandleInformation(list[i], HANDLE_FLAG_INHERIT, 0);
  DeleteProcThreadAttributeList(si.lpAttributeList);
  free(si.lpAttributeList);
  return ok;
}

int ipc_spawn(const ipc_spawn_options *o, long *pid_out, ipc_error *err) {
  process_request req;
  child_env env = {NULL, NULL};
  wchar_t *cwd = NULL, *folder = NULL, *application = NULL, *own_path = NULL;
  HANDLE null_in = INVALID_HANDLE_VALUE, job = NULL;
  PROCESS_INFORMATION pi;
  int ok = -1;

  memset(&req, 0, sizeof req);
  forget_finished_trees();
  req.cmdline = command_line(o->argv, err);
  if (req.cmdline == NULL) goto done;
  if (o->env != NULL && environment_block(o->env, &env, err) < 0) goto done;
  if (o->cwd != NULL) {
    if ((cwd = widen(o->cwd, err)) == NULL) goto done;
    if (check_cwd(cwd, o->cwd, err) < 0) goto done;
  }
  if ((folder = absolute_folder(cwd, err)) == NULL) goto done;
  if (o->env == NULL || env.path == NULL) {
    if ((own_path = parent_path(err)) == NULL) goto done;
  }
  application = find_program(o->argv[0], folder, own_path != NULL ? own_path : env.path, err);
  if (application == NULL) goto done;
  if (o->stdin_fd == IPC_NO_FD) {
    null_in = open_null_device(err);
    if (null_in == INVALID_HANDLE_VALUE) goto done;
    req.std[0] = null_in;
  } else {
    req.std[0] = (HANDLE)o->stdin_fd;
  }
  req.std[1] = (HANDLE)o->stdout_fd;
  req.std[2] = (HANDLE)o->stderr_fd;
  req.extra = o->extra_fds;
  req.extra_count = o->extra_count;
  req.application = application;
  req.env = env.block;
  req.cwd = cwd;
  /* A detached child gets no console of ours (so no console event reaches it) and starts
   * its own process group. Any other child starts suspended until it is in its job, so it
   * cannot start a grandchild outside the job first. */
  req.flags = o->detached ? DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | breakaway_flag() : CREATE_SUSPENDED;

  req.break_step = o->break_step;
  if (create_process(&req, &pi, err) < 0) {
    err->path = o->argv[0];
    goto done;
  }
  if (!o->detached) {
    if (join_own_job(pi.hProcess, &job, err) < 0) goto abandon;
    if (ResumeThread(pi.hThread) == (DWORD)-1) {
      ipc_fail_system(err, "ResumeThread");
      goto abandon;
    }
  }
  if (remember_child((long)pi.dwProcessId, pi.hProcess, job, err) < 0) goto abandon;
  CloseHandle(pi.hThread);
  *pid_out = (long)pi.dwProcessId;
  ok = 0;
done:
  if (null_in != INVALID_HANDLE_VALUE) CloseHandle(null_in);
  free(req.cmdline);
  free(env.block);
  free(cwd);
  free(folder);
  free(own_path);
  free(application);
  return ok;
abandon:
  TerminateProcess(pi.hProcess, 1);
  if (job != NULL) CloseHandle(job);
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  goto done;
}

/* ---------- reaping and stopping ---------- */

int ipc_wait(long pid, ipc_exit *status, ipc_error *err) {
  child_entry *c = find_running_child(pid);
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
  c->reaped = 1;
  forget_finished_trees();
  return 0;
}

/*
 * Windows has no signals between processes. libuv's rule (uv__kill in src/win/process.c),
 * which Node's child.kill() follows:
 *   SIGTERM, SIGKILL, SIGINT, SIGQUIT   TerminateProcess: a console-less process cannot be
 *                                       asked to stop politely, so all four end it at once
 *   0                                   no signal: is the process still running?
 *   anything else                       ENOSYS: nothing on Windows does what it means
 * (Console events exist, GenerateConsoleCtrlEvent, but reach a console's processes or a
 * process group, not one process; neither libuv nor this project sends them.)
 */
static int check_signal(int signal, ipc_error *err) {
  if (signal == 0 || signal == IPC_SIGTERM || signal == IPC_SIGKILL || signal == IPC_SIGINT ||
      signal == IPC_SIGQUIT)
    return 0;
  return ipc_fail(err, "ENOSYS", "kill",
                  "signal %d cannot be sent on Windows: only SIGTERM, SIGKILL, SIGINT and SIGQUIT (each ends the "
                  "process) and 0 (is it running?), as in libuv",
                  signal);
}

int ipc_kill(long pid, int signal, ipc_error *err) {
  child_entry *c = find_running_child(pid);
  if (c == NULL) return ipc_fail(err, "ESRCH", "kill", "process %ld is not a child of this parent", pid);
  if (check_signal(signal, err) < 0) return -1;
  if (signal == 0) return WaitForSingleObject(c->process, 0) == WAIT_TIMEOUT
                              ? 0
                              : ipc_fail(err, "ESRCH", "kill", "process %ld has exited", pid);
  if (!TerminateProcess(c->process, 1)) {
    /* Terminating a process that already exited fails with ERROR_ACCESS_DENIED; like a
     * zombie on POSIX, it is still there to be reaped. */
    if (WaitForSingleObject(c->process, 0) == WAIT_OBJECT_0) return 0;
    return ipc_fail_system(err, "TerminateProcess");
  }
  c->killed_by = signal;
  return 0;
}

/* The child and everything it started: TerminateJobObject ends every process of the job
 * at once. Without a job (detached, or no job could be joined) the child alone. */
int ipc_kill_tree(long pid, int signal, ipc_error *err) {
  child_entry *c;
  int child_running;
  forget_finished_trees();
  c = find_child(pid);
  if (c == NULL) return ipc_fail(err, "ESRCH", "kill", "nothing is left of process %ld's tree", pid);
  if (check_signal(signal, err) < 0) return -1;
  if (c->job == NULL) return ipc_kill(pid, signal, err);
  child_running = !c->reaped && WaitForSingleObject(c->process, 0) == WAIT_TIMEOUT;
  if (processes_in_job(c->job) == 0)
    return c->reaped ? ipc_fail(err, "ESRCH", "kill", "nothing is left of process %ld's tree", pid) : 0;
  if (signal == 0) return 0;
  if (!TerminateJobObject(c->job, 1)) return ipc_fail_system(err, "TerminateJobObject");
  if (child_running) c->killed_by = signal;
  return 0;
}

/* ---------- measuring a process (for the tests of docs/reliability.md) ---------- */

/* What Linux tests read from /proc: handles (descriptors), threads and memory, here for
 * any process this one may open, the parent's children and the parent itself included. */
int ipc_measure_process(long pid, ipc_process_info *out, ipc_error *err) {
  PROCESS_MEMORY_COUNTERS memory;
  PROCESSENTRY32W entry;
  HANDLE process, snapshot;
  DWORD handles;
  int found = 0;
  process = OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ, FALSE, (DWORD)pid);
  if (process == NULL) {
    /* OpenProcess answers a pid that names no process with ERROR_INVALID_PARAMETER. */
    if (GetLastError() == ERROR_INVALID_PARAMETER) return ipc_fail(err, "ESRCH", "OpenProcess", "no process %ld", pid);
    return ipc_fail_system(err, "OpenProcess");
  }
  memory.cb = sizeof memory;
  if (!GetProcessHandleCount(process, &handles)) {
    ipc_fail_system(err, "GetProcessHandleCount");
    CloseHandle(process);
    return -1;
  }
  if (!GetProcessMemoryInfo(process, &memory, sizeof memory)) {
    ipc_fail_system(err, "GetProcessMemoryInfo");
    CloseHandle(process);
    return -1;
  }
  CloseHandle(process);
  snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snapshot == INVALID_HANDLE_VALUE) return ipc_fail_system(err, "CreateToolhelp32Snapshot");
  entry.dwSize = sizeof entry;
  if (Process32FirstW(snapshot, &entry)) {
    do {
      if (entry.th32ProcessID == (DWORD)pid) {
        out->threads = entry.cntThreads;
        found = 1;
        break;
      }
    } while (Process32NextW(snapshot, &entry));
  }
  CloseHandle(snapshot);
  if (!found) return ipc_fail(err, "ESRCH", "Process32NextW", "process %ld is not in the process list", pid);
  out->handles = handles;
  out->working_set = memory.WorkingSetSize;
  out->peak_working_set = memory.PeakWorkingSetSize;
  return 0;
}
