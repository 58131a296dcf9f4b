/*
 * addon.c - the Node-API glue: checks arguments, calls one article step, and turns an
 * ipc_error into a Node-shaped Error (code, syscall, errno, path). Nothing here knows
 * about platforms; that is the job of the *_posix.c and *_win.c files.
 */
#include "ipc.h"

#define NAPI_VERSION 8
#include <node_api.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 4

/* ---------- plumbing ---------- */

#define CHECK(env, call)                                          \
  do {                                                            \
    if ((call) != napi_ok) return throw_napi_failure(env, #call); \
  } while (0)

static napi_value throw_napi_failure(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  char msg[256];
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return NULL;
  if (napi_get_last_error_info(env, &info) != napi_ok || info == NULL || info->error_message == NULL)
    snprintf(msg, sizeof msg, "Node-API call failed: %s", what);
  else
    snprintf(msg, sizeof msg, "Node-API call failed: %s: %s", what, info->error_message);
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value usage(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static int set_string(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  if (value == NULL) return 0;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) != napi_ok) return -1;
  return napi_set_named_property(env, obj, key, v) == napi_ok ? 0 : -1;
}

/* The one place an ipc_error becomes a JavaScript Error. */
static napi_value error_object(napi_env env, const ipc_error *e) {
  napi_value msg, error, errno_value;
  char text[480];
  if (e->path != NULL)
    snprintf(text, sizeof text, "%s: %s", e->message, e->path);
  else
    snprintf(text, sizeof text, "%s", e->message);
  if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
      napi_create_error(env, NULL, msg, &error) != napi_ok)
    return NULL;
  if (set_string(env, error, "code", e->code) < 0 || set_string(env, error, "syscall", e->syscall) < 0 ||
      set_string(env, error, "path", e->path) < 0)
    return NULL;
  if (napi_create_int64(env, e->native, &errno_value) != napi_ok ||
      napi_set_named_property(env, error, "errno", errno_value) != napi_ok)
    return NULL;
  return error;
}

static napi_value throw_ipc(napi_env env, const ipc_error *e) {
  napi_value error = error_object(env, e);
  if (error == NULL) return throw_napi_failure(env, "creating an Error");
  napi_throw(env, error);
  return NULL;
}

static napi_value number(napi_env env, double v) {
  napi_value out;
  CHECK(env, napi_create_double(env, v, &out));
  return out;
}

/* 1 if d is a whole number in [lo, hi]. The range is checked on the double first: in C,
 * converting NaN or a value outside int64_t's range to int64_t is undefined behaviour
 * (C11 6.3.1.4), so (int64_t)d may only run once d is known to fit. NaN fails every
 * comparison, so it fails here too. */
static int whole_number_in(double d, double lo, double hi) {
  if (!(d >= lo && d <= hi && d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
  return d == (double)(int64_t)d;
}

/* Descriptors cross the boundary as numbers: ints on POSIX, SOCKET values on Windows
 * (pointer-sized, but small in practice and exact in a double). */
static int get_fd(napi_env env, napi_value v, const char *what, ipc_fd *fd) {
  double d;
  char msg[160];
  if (napi_get_value_double(env, v, &d) != napi_ok || !whole_number_in(d, 0, 9007199254740991.0)) {
    snprintf(msg, sizeof msg, "%s must be a descriptor (a non-negative integer)", what);
    usage(env, msg);
    return -1;
  }
  *fd = (ipc_fd)(int64_t)d;
  return 0;
}

static int get_int(napi_env env, napi_value v, const char *what, int64_t lo, int64_t hi, int64_t *out) {
  double d;
  char msg[200];
  if (napi_get_value_double(env, v, &d) != napi_ok || !whole_number_in(d, (double)lo, (double)hi)) {
    snprintf(msg, sizeof msg, "%s must be an integer from %lld to %lld", what, (long long)lo,
             (long long)hi);
    usage(env, msg);
    return -1;
  }
  *out = (int64_t)d;
  return 0;
}

/* Returns a malloc'd UTF-8 copy, or NULL with an exception pending. C strings end at the
 * first NUL, so a string containing one is refused rather than silently cut. */
static char *get_string(napi_env env, napi_value v, const char *what) {
  size_t len = 0;
  char *s;
  char msg[200];
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    snprintf(msg, sizeof msg, "%s must be a string", what);
    usage(env, msg);
    return NULL;
  }
  s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    throw_napi_failure(env, "napi_get_value_string_utf8");
    return NULL;
  }
  if (strlen(s) != len) {
    free(s);
    snprintf(msg, sizeof msg, "%s must not contain a NUL character", what);
    usage(env, msg);
    return NULL;
  }
  return s;
}

static void free_strings(char **list) {
  size_t i;
  if (list == NULL) return;
  for (i = 0; list[i] != NULL; i++) free(list[i]);
  free(list);
}

/* A JavaScript string array as a NULL-terminated char* array. */
static char **get_string_array(napi_env env, napi_value v, const char *what, int allow_empty) {
  bool is_array = false;
  uint32_t n = 0, i;
  char **list;
  char msg[200];
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, v, &n) != napi_ok || (n == 0 && !allow_empty)) {
    snprintf(msg, sizeof msg, "%s must be %s array of strings", what, allow_empty ? "an" : "a non-empty");
    usage(env, msg);
    return NULL;
  }
  list = calloc((size_t)n + 1, sizeof *list);
  if (list == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  for (i = 0; i < n; i++) {
    napi_value item;
    char label[96];
    snprintf(label, sizeof label, "%s[%u]", what, (unsigned)i);
    if (napi_get_element(env, v, i, &item) != napi_ok || (list[i] = get_string(env, item, label)) == NULL) {
      free_strings(list);
      return NULL;
    }
  }
  return list;
}

static int get_property(napi_env env, napi_value obj, const char *key, napi_value *out) {
  napi_valuetype t;
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return 0;
  if (napi_get_named_property(env, obj, key, out) != napi_ok) return -1;
  if (napi_typeof(env, *out, &t) != napi_ok) return -1;
  return t == napi_undefined ? 0 : 1;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, size_t *argc) {
  *argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok) return -1;
  if (*argc < want) {
    char msg[80];
    snprintf(msg, sizeof msg, "expected at least %u argument(s)", (unsigned)want);
    usage(env, msg);
    return -1;
  }
  return 0;
}

static napi_value fd_pair(napi_env env, const ipc_fd pair[2]) {
  napi_value out, a, b;
  CHECK(env, napi_create_array_with_length(env, 2, &out));
  CHECK(env, napi_create_double(env, (double)pair[0], &a));
  CHECK(env, napi_create_double(env, (double)pair[1], &b));
  CHECK(env, napi_set_element(env, out, 0, a));
  CHECK(env, napi_set_element(env, out, 1, b));
  return out;
}

/* ---------- --break: teaching switches (parent/break.ts, docs/workshop.md) ---------- */

/* options.breakStep: absent, or one of the names `allowed` lists (the ones this call
 * implements). A name this platform cannot show is refused with ENOTSUP, so a lesson
 * never silently shows nothing. Returns 0 with *step set, or -1 with an exception. */
static int get_break_step(napi_env env, napi_value options, const char *fn, const char *const *allowed,
                          const ipc_break_step *steps, ipc_break_step *step) {
  napi_value v;
  char *name, msg[200];
  size_t i;
  int rc = get_property(env, options, "breakStep", &v);
  *step = IPC_BREAK_NONE;
  if (rc < 0) {
    throw_napi_failure(env, "breakStep");
    return -1;
  }
  if (rc == 0) return 0;
  snprintf(msg, sizeof msg, "%s: options.breakStep", fn);
  if ((name = get_string(env, v, msg)) == NULL) return -1;
  for (i = 0; allowed[i] != NULL; i++)
    if (strcmp(name, allowed[i]) == 0) break;
  if (allowed[i] == NULL) {
    snprintf(msg, sizeof msg, "%s: options.breakStep '%.40s' is not a step this call can break", fn, name);
    free(name);
    usage(env, msg);
    return -1;
  }
  free(name);
  *step = steps[i];
#ifndef _WIN32
  if (*step == IPC_BREAK_NO_STARTF || *step == IPC_BREAK_OVERLAPPED_SOCKET) {
    ipc_error err;
    ipc_fail(&err, "ENOTSUP", fn, "breakStep '%s' changes a Windows call; it cannot be shown here",
             allowed[i]);
    throw_ipc(env, &err);
    return -1;
  }
#endif
  return 0;
}

static const char *const kSocketpairBreaks[] = {"overlapped-socket", NULL};
static const ipc_break_step kSocketpairBreakSteps[] = {IPC_BREAK_OVERLAPPED_SOCKET};
/* forkExec (the unix branch) has no teaching switches: --break refuses that variant. */
static const char *const kNoBreaks[] = {NULL};
static const char *const kSpawnBreaks[] = {"inherit-all", "no-startf", NULL};
static const ipc_break_step kSpawnBreakSteps[] = {IPC_BREAK_INHERIT_ALL, IPC_BREAK_NO_STARTF};

/* ---------- article step: a socket pair per stream ---------- */

typedef struct before_connect_ctx {
  napi_env env;
  napi_value callback;
  int failed;
} before_connect_ctx;

/* Runs the test seam synchronously on the main thread, while the listener is open. */
static void call_before_connect(void *opaque, unsigned port) {
  before_connect_ctx *ctx = opaque;
  napi_value global, arg, result;
  if (napi_get_global(ctx->env, &global) != napi_ok || napi_create_uint32(ctx->env, port, &arg) != napi_ok ||
      napi_call_function(ctx->env, global, ctx->callback, 1, &arg, &result) != napi_ok)
    ctx->failed = 1;
}

/* socketpair({ emulate?: boolean, beforeConnect?: (port) => void,
 *              breakStep?: 'overlapped-socket' }) -> [fd, fd] */
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], v;
  size_t argc;
  ipc_fd pair[2];
  ipc_error err;
  bool emulate = false;
  before_connect_ctx ctx = {env, NULL, 0};
  ipc_break_step break_step = IPC_BREAK_NONE;
  int rc;
  if (get_args(env, info, 0, argv, &argc) < 0) return NULL;
  if (argc > 0) {
    napi_valuetype t;
    CHECK(env, napi_typeof(env, argv[0], &t));
    if (t != napi_undefined) {
      if (t != napi_object) return usage(env, "socketpair(options): options must be an object");
      if ((rc = get_property(env, argv[0], "emulate", &v)) < 0) return throw_napi_failure(env, "emulate");
      if (rc && napi_get_value_bool(env, v, &emulate) != napi_ok)
        return usage(env, "socketpair(options): options.emulate must be a boolean");
      if ((rc = get_property(env, argv[0], "beforeConnect", &v)) < 0)
        return throw_napi_failure(env, "beforeConnect");
      if (rc) {
        CHECK(env, napi_typeof(env, v, &t));
        if (t != napi_function) return usage(env, "socketpair(options): options.beforeConnect must be a function");
        if (!emulate) return usage(env, "socketpair(options): beforeConnect needs emulate: true");
        ctx.callback = v;
      }
      if (get_break_step(env, argv[0], "socketpair", kSocketpairBreaks, kSocketpairBreakSteps, &break_step) < 0)
        return NULL;
    }
  }
  if (emulate || break_step != IPC_BREAK_NONE)
    rc = ipc_socketpair_emulated(pair, ctx.callback ? call_before_connect : NULL, &ctx, break_step, &err);
  else
    rc = ipc_socketpair(pair, &err);
  if (ctx.failed) {
    ipc_error ignored;
    if (rc == 0) {
      (void)ipc_close(pair[0], &ignored);
      (void)ipc_close(pair[1], &ignored);
    }
    return NULL; /* the callback's exception is pending */
  }
  if (rc < 0) return throw_ipc(env, &err);
  return fd_pair(env, pair);
}

/* ---------- article step: non-blocking read ends ---------- */

typedef int (*fd_op)(ipc_fd fd, ipc_error *err);

/* name(fd): one operation on a descriptor, nothing returned; failures throw. */
static napi_value fd_call(napi_env env, napi_callback_info info, const char *name, fd_op op) {
  napi_value argv[MAX_ARGS];
  size_t argc;
  ipc_fd fd;
  ipc_error err;
  char what[64];
  if (get_args(env, info, 1, argv, &argc) < 0) return NULL;
  snprintf(what, sizeof what, "%s(fd): fd", name);
  if (get_fd(env, argv[0], what, &fd) < 0) return NULL;
  if (op(fd, &err) < 0) return throw_ipc(env, &err);
  return NULL;
}

static napi_value js_set_nonblocking(napi_env env, napi_callback_info info) {
  return fd_call(env, info, "setNonBlocking", ipc_set_nonblocking);
}

static int get_buffer(napi_env env, napi_value v, const char *what, void **data, size_t *len) {
  bool ok = false;
  char msg[120];
  if (napi_is_typedarray(env, v, &ok) == napi_ok && ok) {
    napi_typedarray_type type;
    napi_value ab;
    size_t offset;
    if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &offset) == napi_ok && type == napi_uint8_array)
      return 0;
  }
  snprintf(msg, sizeof msg, "%s must be a Buffer or Uint8Array", what);
  usage(env, msg);
  return -1;
}

typedef long (*buffer_io)(ipc_fd fd, void *buf, size_t len, ipc_error *err);

static long write_from(ipc_fd fd, void *buf, size_t len, ipc_error *err) { return ipc_write(fd, buf, len, err); }

/* name(fd, buffer): one read or write; -1 stands for "would block". */
static napi_value buffer_call(napi_env env, napi_callback_info info, const char *name, buffer_io io) {
  napi_value argv[MAX_ARGS];
  size_t argc, len;
  void *data;
  ipc_fd fd;
  ipc_error err;
  char what[64];
  long n;
  if (get_args(env, info, 2, argv, &argc) < 0) return NULL;
  snprintf(what, sizeof what, "%s(fd, buffer): fd", name);
  if (get_fd(env, argv[0], what, &fd) < 0) return NULL;
  snprintf(what, sizeof what, "%s(fd, buffer): buffer", name);
  if (get_buffer(env, argv[1], what, &data, &len) < 0) return NULL;
  n = io(fd, data, len, &err);
  if (n == -1) return throw_ipc(env, &err);
  return number(env, n == IPC_WOULD_BLOCK ? -1 : (double)n);
}

/* read(fd, buffer) -> bytes read (> 0), 0 at end of stream, -1 when nothing is there yet. */
static napi_value js_read(napi_env env, napi_callback_info info) { return buffer_call(env, info, "read", ipc_read); }

/* write(fd, buffer) -> bytes written, or -1 when the descriptor would block. */
static napi_value js_write(napi_env env, napi_callback_info info) { return buffer_call(env, info, "write", write_from); }

static napi_value js_close(napi_env env, napi_callback_info info) { return fd_call(env, info, "close", ipc_close); }

/* ---------- the hot path: split and label lines ---------- */

/* labelLines(src, srcLength, label, out, outLength) -> { consumed, outLength } */
static napi_value js_label_lines(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS + 1], result, v;
  size_t argc = MAX_ARGS + 1, src_cap, label_len, out_cap, consumed, out_len;
  void *src, *label, *out;
  int64_t src_len, start_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return throw_napi_failure(env, "args");
  if (argc < 5) return usage(env, "labelLines(src, srcLength, label, out, outLength): expected 5 arguments");
  if (get_buffer(env, argv[0], "labelLines: src", &src, &src_cap) < 0 ||
      get_buffer(env, argv[2], "labelLines: label", &label, &label_len) < 0 ||
      get_buffer(env, argv[3], "labelLines: out", &out, &out_cap) < 0 ||
      get_int(env, argv[1], "labelLines: srcLength", 0, (int64_t)src_cap, &src_len) < 0 ||
      get_int(env, argv[4], "labelLines: outLength", 0, (int64_t)out_cap, &start_len) < 0)
    return NULL;
  out_len = (size_t)start_len;
  consumed = ipc_label_lines(src, (size_t)src_len, label, label_len, out, out_cap, &out_len);
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_create_double(env, (double)consumed, &v));
  CHECK(env, napi_set_named_property(env, result, "consumed", v));
  CHECK(env, napi_create_double(env, (double)out_len, &v));
  CHECK(env, napi_set_named_property(env, result, "outLength", v));
  return result;
}

/* ---------- article step: select() off the main thread ---------- */

/* select() blocks, so it runs on a libuv worker thread and settles a promise: timers,
 * signals and writes stay live on the main thread meanwhile. To wake it early the caller
 * puts the read end of a socket pair in the set and writes a byte to the other end. */
typedef struct select_job {
  napi_async_work work;
  napi_deferred deferred;
  ipc_fd *fds;
  unsigned char *ready;
  size_t n;
  int timeout_ms;
  int rc;
  ipc_error err;
} select_job;

static void select_execute(napi_env env, void *data) {
  select_job *job = data;
  (void)env;
  job->rc = ipc_wait_readable(job->fds, job->n, job->timeout_ms, job->ready, &job->err);
}

/* Rejects with `reason`, or when that could not be made, with the exception a failed
 * Node-API call left pending, or a plain Error saying `what`, or at worst undefined: a
 * promise that never settles would hang its caller's loop for good. */
static void reject_anyhow(napi_env env, napi_deferred deferred, napi_value reason, const char *what) {
  napi_value msg;
  bool pending = false;
  if (reason == NULL && napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &reason) != napi_ok)
    reason = NULL;
  if (reason == NULL && (napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
                         napi_create_error(env, NULL, msg, &reason) != napi_ok))
    reason = NULL;
  if (reason == NULL && napi_get_undefined(env, &reason) != napi_ok) return; /* nothing left to try */
  (void)napi_reject_deferred(env, deferred, reason);
}

/* The readable descriptors as an array, or NULL if it could not be made whole. */
static napi_value ready_fds(napi_env env, const select_job *job) {
  napi_value result, fd;
  size_t i;
  uint32_t at = 0;
  if (napi_create_array_with_length(env, (size_t)job->rc, &result) != napi_ok) return NULL;
  for (i = 0; i < job->n; i++) {
    if (!job->ready[i]) continue;
    if (napi_create_double(env, (double)job->fds[i], &fd) != napi_ok || napi_set_element(env, result, at++, fd) != napi_ok)
      return NULL;
  }
  return result;
}

/* Settles the promise on every path: resolved with the ready descriptors, or rejected. */
static void select_complete(napi_env env, napi_status status, void *data) {
  select_job *job = data;
  napi_value result;
  if (status != napi_ok) {
    ipc_fail(&job->err, "ECANCELED", "select", "select was cancelled");
    job->rc = -1;
  }
  if (job->rc < 0)
    reject_anyhow(env, job->deferred, error_object(env, &job->err), "select failed, and its Error could not be made");
  else if ((result = ready_fds(env, job)) == NULL)
    reject_anyhow(env, job->deferred, NULL, "select: the array of ready descriptors could not be made");
  else
    /* No second try if this fails: Node frees the deferred either way (napi_conclude_deferred
     * in src/js_native_api_v8.cc), and it fails only when the environment is going away. */
    (void)napi_resolve_deferred(env, job->deferred, result);
  napi_delete_async_work(env, job->work);
  free(job->fds);
  free(job->ready);
  free(job);
}

/* select(fds, timeoutMs) -> Promise<readable fds>; timeoutMs < 0 waits forever. */
static napi_value js_select(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], promise, name;
  size_t argc;
  bool is_array = false;
  uint32_t n = 0, i;
  int64_t timeout;
  select_job *job;
  if (get_args(env, info, 2, argv, &argc) < 0) return NULL;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], &n) != napi_ok || n == 0)
    return usage(env, "select(fds, timeoutMs): fds must be a non-empty array of descriptors");
  if (get_int(env, argv[1], "select(fds, timeoutMs): timeoutMs", -1, 86400000, &timeout) < 0) return NULL;
  job = calloc(1, sizeof *job);
  if (job == NULL || (job->fds = calloc(n, sizeof *job->fds)) == NULL ||
      (job->ready = calloc(n, 1)) == NULL) {
    if (job != NULL) free(job->fds);
    free(job);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  job->n = n;
  job->timeout_ms = (int)timeout;
  for (i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, argv[0], i, &item) != napi_ok ||
        get_fd(env, item, "select(fds, timeoutMs): fds[i]", &job->fds[i]) < 0) {
      free(job->fds);
      free(job->ready);
      free(job);
      return NULL;
    }
  }
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "ipc.select", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, select_execute, select_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    free(job->fds);
    free(job->ready);
    free(job);
    return throw_napi_failure(env, "starting select");
  }
  return promise;
}

/* ---------- article step: spawn the child with the given std handles ---------- */

typedef struct spawn_args {
  char **argv, **env;
  char *cwd;
} spawn_args;

static void free_spawn_args(spawn_args *a) {
  free_strings(a->argv);
  free_strings(a->env);
  free(a->cwd);
}

static int get_optional_fd(napi_env env, napi_value options, const char *fn, const char *key, ipc_fd *fd) {
  napi_value v;
  char what[96];
  int rc = get_property(env, options, key, &v);
  if (rc < 0) {
    throw_napi_failure(env, key);
    return -1;
  }
  if (rc == 0) return 0;
  snprintf(what, sizeof what, "%s(argv, options): options.%s", fn, key);
  return get_fd(env, v, what, fd) < 0 ? -1 : 1;
}

/* options.detached: absent, undefined or a boolean; anything else is a usage error, not
 * a truthy guess (a detached child outlives the parent: never by accident). */
static int get_detached(napi_env env, napi_value options, const char *fn, int *detached) {
  napi_value v;
  bool b = false;
  char what[96];
  int rc = get_property(env, options, "detached", &v);
  if (rc < 0) {
    throw_napi_failure(env, "detached");
    return -1;
  }
  if (rc > 0 && napi_get_value_bool(env, v, &b) != napi_ok) {
    snprintf(what, sizeof what, "%s(argv, options): options.detached must be a boolean", fn);
    usage(env, what);
    return -1;
  }
  *detached = b ? 1 : 0;
  return 0;
}

/* How many extra descriptors one spawn may pass: the handoff passes one. */
#define MAX_EXTRA_FDS 16

/* options.extraFds: descriptors the child inherits at the same numbers (docs/handoff.md);
 * on Windows, SOCKETs added to the spawn's handle list. spawn only: forkExec refuses a
 * non-empty list rather than start a child that lacks them. Returns the count, or -1 with an exception pending. */
static int get_extra_fds(napi_env env, napi_value options, const char *fn, ipc_fd *fds) {
  napi_value v, item;
  bool is_array = false;
  uint32_t n = 0, i;
  char what[112];
  int rc = get_property(env, options, "extraFds", &v);
  if (rc < 0) {
    throw_napi_failure(env, "extraFds");
    return -1;
  }
  if (rc == 0) return 0;
  snprintf(what, sizeof what, "%s(argv, options): options.extraFds must be an array of at most %d descriptors", fn,
           MAX_EXTRA_FDS);
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array || napi_get_array_length(env, v, &n) != napi_ok ||
      n > MAX_EXTRA_FDS) {
    usage(env, what);
    return -1;
  }
  for (i = 0; i < n; i++) {
    snprintf(what, sizeof what, "%s(argv, options): options.extraFds[%u]", fn, (unsigned)i);
    if (napi_get_element(env, v, i, &item) != napi_ok) {
      throw_napi_failure(env, "extraFds");
      return -1;
    }
    if (get_fd(env, item, what, &fds[i]) < 0) return -1;
  }
  return (int)n;
}

typedef int (*spawn_fn)(const ipc_spawn_options *, long *, ipc_error *);

/* Reads (argv, { stdout, stderr, stdin?, cwd?, env?, detached?, breakStep? }), starts the child with `start`,
 * returns its pid. */
static napi_value spawn_with(napi_env env, napi_callback_info info, const char *name, spawn_fn start,
                             const char *const *breaks) {
  napi_value argv[MAX_ARGS], v;
  size_t argc;
  napi_valuetype t;
  spawn_args a = {NULL, NULL, NULL};
  ipc_spawn_options o;
  ipc_fd extra[MAX_EXTRA_FDS];
  ipc_error err;
  char what[96];
  long pid;
  int rc;
  if (get_args(env, info, 2, argv, &argc) < 0) return NULL;
  CHECK(env, napi_typeof(env, argv[1], &t));
  snprintf(what, sizeof what, "%s(argv, options): options must be an object", name);
  if (t != napi_object) return usage(env, what);
  memset(&o, 0, sizeof o);
  o.stdin_fd = o.stdout_fd = o.stderr_fd = IPC_NO_FD;
  if (get_optional_fd(env, argv[1], name, "stdin", &o.stdin_fd) < 0) return NULL;
  if ((rc = get_optional_fd(env, argv[1], name, "stdout", &o.stdout_fd)) <= 0) {
    snprintf(what, sizeof what, "%s(argv, options): options.stdout is required", name);
    return rc < 0 ? NULL : usage(env, what);
  }
  if ((rc = get_optional_fd(env, argv[1], name, "stderr", &o.stderr_fd)) <= 0) {
    snprintf(what, sizeof what, "%s(argv, options): options.stderr is required", name);
    return rc < 0 ? NULL : usage(env, what);
  }
  snprintf(what, sizeof what, "%s(argv, options): argv", name);
  if ((a.argv = get_string_array(env, argv[0], what, 0)) == NULL) return NULL;
  snprintf(what, sizeof what, "%s(argv, options): options.cwd", name);
  if ((rc = get_property(env, argv[1], "cwd", &v)) != 0 && (rc < 0 || (a.cwd = get_string(env, v, what)) == NULL))
    goto fail;
  snprintf(what, sizeof what, "%s(argv, options): options.env", name);
  if ((rc = get_property(env, argv[1], "env", &v)) != 0 &&
      (rc < 0 || (a.env = get_string_array(env, v, what, 1)) == NULL))
    goto fail;
  if (get_detached(env, argv[1], name, &o.detached) < 0) goto fail;
  if (get_break_step(env, argv[1], name, breaks, kSpawnBreakSteps, &o.break_step) < 0) goto fail;
  if ((rc = get_extra_fds(env, argv[1], name, extra)) < 0) goto fail;
  o.extra_fds = extra;
  o.extra_count = (size_t)rc;
  if (o.extra_count > 0 && start != ipc_spawn) {
    snprintf(what, sizeof what, "%s(argv, options): options.extraFds is for spawn only", name);
    usage(env, what);
    goto fail;
  }
  o.argv = (const char *const *)a.argv;
  o.env = (const char *const *)a.env;
  o.cwd = a.cwd;
  memset(&err, 0, sizeof err);
  if (start(&o, &pid, &err) < 0) {
    napi_value error = error_object(env, &err); /* before err.path's string is freed */
    free_spawn_args(&a);
    if (error == NULL) return throw_napi_failure(env, "creating an Error");
    napi_throw(env, error);
    return NULL;
  }
  free_spawn_args(&a);
  return number(env, (double)pid);
fail:
  free_spawn_args(&a);
  return NULL;
}

/* spawn(argv, options) -> pid: posix_spawn / CreateProcessW */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  return spawn_with(env, info, "spawn", ipc_spawn, kSpawnBreaks);
}

/* forkExec(argv, options) -> pid: the article's unix branch (ENOSYS on Windows) */
static napi_value js_fork_exec(napi_env env, napi_callback_info info) {
  return spawn_with(env, info, "forkExec", ipc_fork_exec, kNoBreaks);
}

/* ---------- the pipe-thread variant: pipes, and threads that copy them into sockets ---------- */

static napi_value js_pipe(napi_env env, napi_callback_info info) {
  ipc_fd ends[2];
  ipc_error err;
  (void)info;
  if (ipc_pipe(ends, &err) < 0) return throw_ipc(env, &err);
  return fd_pair(env, ends);
}

static napi_value js_close_pipe(napi_env env, napi_callback_info info) {
  return fd_call(env, info, "closePipe", ipc_close_pipe);
}

/* Relays are named by small integers; only the main thread touches this table. */
static ipc_relay **relays;
static size_t relay_slots;

static int remember_relay(ipc_relay *r, size_t *id) {
  size_t i;
  for (i = 0; i < relay_slots && relays[i] != NULL; i++) {
  }
  if (i == relay_slots) {
    size_t slots = relay_slots ? relay_slots * 2 : 16;
    ipc_relay **grown = realloc(relays, slots * sizeof *grown);
    if (grown == NULL) return -1;
    memset(grown + relay_slots, 0, (slots - relay_slots) * sizeof *grown);
    relays = grown;
    relay_slots = slots;
  }
  relays[i] = r;
  *id = i + 1;
  return 0;
}

/* startRelay(pipeRead, socketWrite) -> relay id. The thread owns both from now on. */
static napi_value js_start_relay(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc, id;
  ipc_fd pipe_read, socket_write;
  ipc_relay *r;
  ipc_error err;
  if (get_args(env, info, 2, argv, &argc) < 0 ||
      get_fd(env, argv[0], "startRelay(pipeRead, socketWrite): pipeRead", &pipe_read) < 0 ||
      get_fd(env, argv[1], "startRelay(pipeRead, socketWrite): socketWrite", &socket_write) < 0)
    return NULL;
  if (ipc_relay_start(pipe_read, socket_write, &r, &err) < 0) return throw_ipc(env, &err);
  if (remember_relay(r, &id) < 0) {
    /* The thread runs on unnamed; it still ends, and closes both ends, at end of stream. */
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  return number(env, (double)id);
}

/* joinRelay(id) -> bytes copied; throws the error the thread met, if any. */
static napi_value js_join_relay(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc;
  int64_t id;
  uint64_t bytes = 0;
  ipc_relay *r;
  ipc_error err;
  if (get_args(env, info, 1, argv, &argc) < 0 ||
      get_int(env, argv[0], "joinRelay(id): id", 1, (int64_t)relay_slots, &id) < 0)
    return NULL;
  r = relays[id - 1];
  if (r == NULL) return usage(env, "joinRelay(id): no such relay (already joined?)");
  relays[id - 1] = NULL;
  if (ipc_relay_join(r, &bytes, &err) < 0) return throw_ipc(env, &err);
  return number(env, (double)bytes);
}

/* ---------- reaping and stopping ---------- */

static int get_pid(napi_env env, napi_value v, const char *what, long *pid) {
  int64_t p;
  if (get_int(env, v, what, 1, 0x7fffffff, &p) < 0) return -1;
  *pid = (long)p;
  return 0;
}

/* wait(pid) -> null while the child runs, else { code, signal } (signal as a number).
 * Never blocks: the parent calls it when SIGCHLD, or a stream's end, says it is time. */
static napi_value js_wait(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], out, code, sig;
  size_t argc;
  long pid;
  ipc_exit st;
  ipc_error err;
  if (get_args(env, info, 1, argv, &argc) < 0 || get_pid(env, argv[0], "wait(pid): pid", &pid) < 0) return NULL;
  if (ipc_wait(pid, &st, &err) < 0) return throw_ipc(env, &err);
  if (st.running) {
    CHECK(env, napi_get_null(env, &out));
    return out;
  }
  CHECK(env, napi_create_object(env, &out));
  if (st.signal) CHECK(env, napi_get_null(env, &code));
  else CHECK(env, napi_create_int32(env, st.code, &code));
  if (st.signal) CHECK(env, napi_create_int32(env, st.signal, &sig));
  else CHECK(env, napi_get_null(env, &sig));
  CHECK(env, napi_set_named_property(env, out, "code", code));
  CHECK(env, napi_set_named_property(env, out, "signal", sig));
  return out;
}

/* kill(pid, signalNumber) */
static napi_value js_kill(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc;
  long pid;
  int64_t sig;
  ipc_error err;
  if (get_args(env, info, 2, argv, &argc) < 0 || get_pid(env, argv[0], "kill(pid, signal): pid", &pid) < 0 ||
      get_int(env, argv[1], "kill(pid, signal): signal", 0, 64, &sig) < 0)
    return NULL;
  if (ipc_kill(pid, (int)sig, &err) < 0) return throw_ipc(env, &err);
  return NULL;
}

/* killTree(pid, signalNumber): the child's process group (POSIX) or job (Windows). */
static napi_value js_kill_tree(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc;
  long pid;
  int64_t sig;
  ipc_error err;
  if (get_args(env, info, 2, argv, &argc) < 0 || get_pid(env, argv[0], "killTree(pid, signal): pid", &pid) < 0 ||
      get_int(env, argv[1], "killTree(pid, signal): signal", 0, 64, &sig) < 0)
    return NULL;
  if (ipc_kill_tree(pid, (int)sig, &err) < 0) return throw_ipc(env, &err);
  return NULL;
}

typedef int (*group_fn)(long pgid, ipc_error *err);

/* name(pid) -> boolean: one watchdog operation on a process group (guard_posix.c). */
static napi_value group_call(napi_env env, napi_callback_info info, const char *name, group_fn op) {
  napi_value argv[MAX_ARGS], out;
  size_t argc;
  long pid;
  int rc;
  ipc_error err;
  char what[64];
  snprintf(what, sizeof what, "%s(pid): pid", name);
  if (get_args(env, info, 1, argv, &argc) < 0 || get_pid(env, argv[0], what, &pid) < 0) return NULL;
  if ((rc = op(pid, &err)) < 0) return throw_ipc(env, &err);
  CHECK(env, napi_get_boolean(env, rc > 0, &out));
  return out;
}

/* guardGroup(pid) -> true when the watchdog now guards the group pid leads (POSIX), false
 * where the platform needs no guard (Windows). */
static napi_value js_guard_group(napi_env env, napi_callback_info info) {
  return group_call(env, info, "guardGroup", ipc_guard_group);
}

/* forgetGroup(pid) -> true when the group was guarded and is now empty and forgotten. */
static napi_value js_forget_group(napi_env env, napi_callback_info info) {
  return group_call(env, info, "forgetGroup", ipc_forget_group);
}

#ifdef _WIN32
/* processInfo(pid) -> { handles, threads, workingSet, peakWorkingSet }: Windows only, for
 * the tests that read /proc on Linux. */
static napi_value js_process_info(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], out;
  size_t argc;
  long pid;
  ipc_process_info p;
  ipc_error err;
  if (get_args(env, info, 1, argv, &argc) < 0 || get_pid(env, argv[0], "processInfo(pid): pid", &pid) < 0) return NULL;
  if (ipc_measure_process(pid, &p, &err) < 0) return throw_ipc(env, &err);
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_set_named_property(env, out, "handles", number(env, (double)p.handles)));
  CHECK(env, napi_set_named_property(env, out, "threads", number(env, (double)p.threads)));
  CHECK(env, napi_set_named_property(env, out, "workingSet", number(env, (double)p.working_set)));
  CHECK(env, napi_set_named_property(env, out, "peakWorkingSet", number(env, (double)p.peak_working_set)));
  return out;
}
#endif

/* quoteCommandLine(argv) -> the string CreateProcess would be given for argv. */
static napi_value js_quote_cmdline(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], out;
  size_t argc, need;
  char **list, *line;
  if (get_args(env, info, 1, argv, &argc) < 0) return NULL;
  if ((list = get_string_array(env, argv[0], "quoteCommandLine(argv): argv", 0)) == NULL) return NULL;
  need = ipc_quote_cmdline((const char *const *)list, NULL, 0);
  if (need == 0) {
    ipc_error err;
    ipc_fail(&err, "EINVAL", "quoteCommandLine", "program name '%s' holds a double quote, which a Windows command line cannot pass", list[0]);
    free_strings(list);
    return throw_ipc(env, &err);
  }
  line = malloc(need);
  if (line == NULL) {
    free_strings(list);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  ipc_quote_cmdline((const char *const *)list, line, need);
  free_strings(list);
  if (napi_create_string_utf8(env, line, NAPI_AUTO_LENGTH, &out) != napi_ok) out = NULL;
  free(line);
  if (out == NULL) return throw_napi_failure(env, "napi_create_string_utf8");
  return out;
}

/* ---------- the handoff (docs/handoff.md): listen, accept, hand a socket over ---------- */

/* An object { fd, port }. */
static napi_value fd_and_port(napi_env env, ipc_fd fd, unsigned port) {
  napi_value out;
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_set_named_property(env, out, "fd", number(env, (double)fd)));
  CHECK(env, napi_set_named_property(env, out, "port", number(env, (double)port)));
  return out;
}

/* listen(port, backlog) -> { fd, port }: a non-blocking listener on 127.0.0.1. */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc;
  int64_t port, backlog;
  unsigned bound;
  ipc_fd fd;
  ipc_error err;
  if (get_args(env, info, 2, argv, &argc) < 0) return NULL;
  if (get_int(env, argv[0], "listen(port, backlog): port", 0, 65535, &port) < 0) return NULL;
  if (get_int(env, argv[1], "listen(port, backlog): backlog", 1, 65535, &backlog) < 0) return NULL;
  bound = (unsigned)port;
  memset(&err, 0, sizeof err);
  if (ipc_listen_loopback(&bound, (int)backlog, &fd, &err) < 0) return throw_ipc(env, &err);
  return fd_and_port(env, fd, bound);
}

/* accept(listener) -> { fd, port } (the client's port), or null when nobody waits. */
static napi_value js_accept(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], nothing;
  size_t argc;
  ipc_fd listener, conn;
  unsigned peer;
  ipc_error err;
  int rc;
  if (get_args(env, info, 1, argv, &argc) < 0) return NULL;
  if (get_fd(env, argv[0], "accept(listener): listener", &listener) < 0) return NULL;
  memset(&err, 0, sizeof err);
  rc = ipc_accept(listener, &conn, &peer, &err);
  if (rc == -1) return throw_ipc(env, &err);
  if (rc == IPC_WOULD_BLOCK) {
    CHECK(env, napi_get_null(env, &nothing));
    return nothing;
  }
  return fd_and_port(env, conn, peer);
}

/* sendFd(channel, fd, payload, pid?) -> bytes sent, or -1 when the channel would block.
 * pid: the receiving process, which WSADuplicateSocketW needs on Windows (ignored on
 * POSIX). */
static napi_value js_send_fd(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc, len;
  void *data;
  ipc_fd channel, fd;
  ipc_error err;
  int64_t pid = 0;
  napi_valuetype t = napi_undefined;
  long n;
  if (get_args(env, info, 3, argv, &argc) < 0) return NULL;
  if (get_fd(env, argv[0], "sendFd(channel, fd, payload, pid?): channel", &channel) < 0 ||
      get_fd(env, argv[1], "sendFd(channel, fd, payload, pid?): fd", &fd) < 0 ||
      get_buffer(env, argv[2], "sendFd(channel, fd, payload, pid?): payload", &data, &len) < 0)
    return NULL;
  if (argc > 3) CHECK(env, napi_typeof(env, argv[3], &t));
  if (t != napi_undefined &&
      get_int(env, argv[3], "sendFd(channel, fd, payload, pid?): pid", 1, 0x7fffffff, &pid) < 0)
    return NULL;
  memset(&err, 0, sizeof err);
  n = ipc_send_fd(channel, fd, (long)pid, data, len, &err);
  if (n == -1) return throw_ipc(env, &err);
  return number(env, n == IPC_WOULD_BLOCK ? -1 : (double)n);
}

/* receiveFd(channel, buffer) -> { bytes, fd }: bytes as read() returns them (-1: would
 * block), fd -1 when no descriptor came with them. */
static napi_value js_receive_fd(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], out;
  size_t argc, len;
  void *data;
  ipc_fd channel, fd;
  ipc_error err;
  long n;
  if (get_args(env, info, 2, argv, &argc) < 0) return NULL;
  if (get_fd(env, argv[0], "receiveFd(channel, buffer): channel", &channel) < 0 ||
      get_buffer(env, argv[1], "receiveFd(channel, buffer): buffer", &data, &len) < 0)
    return NULL;
  memset(&err, 0, sizeof err);
  n = ipc_recv_fd(channel, data, len, &fd, &err);
  if (n == -1) return throw_ipc(env, &err);
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_set_named_property(env, out, "bytes", number(env, n == IPC_WOULD_BLOCK ? -1 : (double)n)));
  CHECK(env, napi_set_named_property(env, out, "fd", number(env, fd == IPC_NO_FD ? -1 : (double)fd)));
  return out;
}

/* peerPort(fd) -> the client's port of a connected socket (getpeername). */
static napi_value js_peer_port(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc;
  ipc_fd fd;
  unsigned port = 0;
  ipc_error err;
  if (get_args(env, info, 1, argv, &argc) < 0) return NULL;
  if (get_fd(env, argv[0], "peerPort(fd): fd", &fd) < 0) return NULL;
  memset(&err, 0, sizeof err);
  if (ipc_peer_port(fd, &port, &err) < 0) return throw_ipc(env, &err);
  return number(env, (double)port);
}

/* claimInherited(fd) -> what an `inherit` worker serves: fd itself, or on Windows, where
 * Winsock refuses the inherited SOCKET as it is (Wine), a socket made here from it. */
static napi_value js_claim_inherited(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc;
  ipc_fd fd, claimed = IPC_NO_FD;
  ipc_error err;
  if (get_args(env, info, 1, argv, &argc) < 0) return NULL;
  if (get_fd(env, argv[0], "claimInherited(fd): fd", &fd) < 0) return NULL;
  memset(&err, 0, sizeof err);
  if (ipc_claim_inherited(fd, &claimed, &err) < 0) return throw_ipc(env, &err);
  return number(env, (double)claimed);
}

#ifndef _WIN32
/* ---------- the native loop (POSIX): steps 1, 2, 3 and 5 on a thread, c/loop_posix.c ---------- */

/* What JavaScript holds: the loop, and the thread-safe function its events come through.
 * Two owners, both on the main thread: the JavaScript handle (an external) and the
 * function; the box is freed when both are finalized and the thread was joined. If Node's
 * environment ends with the thread still running, the box is detached and left. */
typedef struct loop_box {
  ipc_loop *loop; /* NULL once joined */
  napi_threadsafe_function tsfn;
  int tsfn_finalized;
  int handle_finalized;
} loop_box;

static void loop_box_maybe_free(loop_box *box) {
  if (box->tsfn_finalized && box->handle_finalized && box->loop == NULL) free(box);
}

#define LOOP_EVENTS_PER_CALL 64

/* From the loop's thread: events are waiting. */
static void loop_notify(void *ctx) {
  loop_box *box = ctx;
  /* Fails only once the function is being released (after the join): nothing to tell. */
  (void)napi_call_threadsafe_function(box->tsfn, NULL, napi_tsfn_nonblocking);
}

static napi_value loop_event_object(napi_env env, const ipc_loop_event *e) {
  static const char *const kinds[] = {"", "end", "output-error", "failed", "finished"};
  napi_value o, v;
  if (napi_create_object(env, &o) != napi_ok || set_string(env, o, "kind", kinds[e->kind]) < 0) return NULL;
  if (e->kind == IPC_LOOP_END) {
    if (napi_create_double(env, (double)e->fd, &v) != napi_ok || napi_set_named_property(env, o, "fd", v) != napi_ok ||
        napi_get_boolean(env, e->eof != 0, &v) != napi_ok || napi_set_named_property(env, o, "eof", v) != napi_ok)
      return NULL;
  }
  if (e->err.code != NULL) {
    v = error_object(env, &e->err);
    if (v == NULL || napi_set_named_property(env, o, "error", v) != napi_ok) return NULL;
  }
  return o;
}

/* On the main thread: hands every waiting event to the JavaScript callback, in order. */
static void loop_call_js(napi_env env, napi_value callback, void *context, void *data) {
  loop_box *box = context;
  ipc_loop_event events[LOOP_EVENTS_PER_CALL];
  napi_value array, undefined, o;
  size_t n, i;
  (void)data;
  if (env == NULL || box->loop == NULL) return;
  while ((n = ipc_loop_take_events(box->loop, events, LOOP_EVENTS_PER_CALL)) > 0) {
    if (napi_create_array_with_length(env, n, &array) != napi_ok || napi_get_undefined(env, &undefined) != napi_ok) return;
    for (i = 0; i < n; i++) {
      o = loop_event_object(env, &events[i]);
      if (o == NULL || napi_set_element(env, array, (uint32_t)i, o) != napi_ok) return;
    }
    /* An exception thrown by the callback surfaces as Node's uncaught exception. */
    if (napi_call_function(env, undefined, callback, 1, &array, NULL) != napi_ok) return;
    if (box->loop == NULL) return; /* the callback joined the loop */
  }
}

static void loop_tsfn_finalize(napi_env env, void *data, void *hint) {
  loop_box *box = data;
  (void)env;
  (void)hint;
  box->tsfn_finalized = 1;
  loop_box_maybe_free(box);
}

static void loop_handle_finalize(napi_env env, void *data, void *hint) {
  loop_box *box = data;
  (void)env;
  (void)hint;
  box->handle_finalized = 1;
  loop_box_maybe_free(box);
}

/* Node's environment ends (process.exit, an uncaught exception) with the thread running:
 * it must not call into the thread-safe function any more. The thread and the box are
 * left to the process's end. */
static void loop_env_cleanup(void *data) {
  loop_box *box = data;
  if (box->loop != NULL) ipc_loop_detach(box->loop);
}

static int get_loop(napi_env env, napi_value v, const char *what, loop_box **box) {
  char msg[120];
  if (napi_get_value_external(env, v, (void **)box) != napi_ok || (*box)->loop == NULL) {
    snprintf(msg, sizeof msg, "%s must be a running loop from loopStart()", what);
    usage(env, msg);
    return -1;
  }
  return 0;
}

/* loopStart(outFd, onEvents) -> loop */
static napi_value js_loop_start(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], name, external;
  size_t argc;
  ipc_fd out_fd;
  ipc_error err;
  napi_valuetype t;
  loop_box *box;
  if (get_args(env, info, 2, argv, &argc) < 0) return NULL;
  if (get_fd(env, argv[0], "loopStart(outFd, onEvents): outFd", &out_fd) < 0) return NULL;
  CHECK(env, napi_typeof(env, argv[1], &t));
  if (t != napi_function) return usage(env, "loopStart(outFd, onEvents): onEvents must be a function");
  box = calloc(1, sizeof *box);
  if (box == NULL) {
    ipc_fail(&err, "ENOMEM", "calloc", "out of memory");
    return throw_ipc(env, &err);
  }
  /* The handle first: once the thread runs, nothing may fail before JavaScript has it. */
  if (napi_create_external(env, box, loop_handle_finalize, NULL, &external) != napi_ok) {
    free(box);
    return throw_napi_failure(env, "creating the loop's handle");
  }
  if (napi_create_string_utf8(env, "ipc.loop", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, box, loop_tsfn_finalize, box, loop_call_js,
                                      &box->tsfn) != napi_ok) {
    box->tsfn_finalized = 1; /* there is none: the handle's finalizer frees the box */
    return throw_napi_failure(env, "creating the loop's thread-safe function");
  }
  memset(&err, 0, sizeof err);
  if (ipc_loop_start(out_fd, loop_notify, box, &box->loop, &err) < 0) {
    /* Releasing finalizes the function; the handle's finalizer then frees the box. */
    napi_release_threadsafe_function(box->tsfn, napi_tsfn_abort);
    return throw_ipc(env, &err);
  }
  if (napi_add_env_cleanup_hook(env, loop_env_cleanup, box) != napi_ok) {
    /* Without the hook the loop still works; only a process that ends mid-run would
     * race its thread's last notify. Say so rather than fail a run that can proceed. */
    fprintf(stderr, "ipc: loopStart: napi_add_env_cleanup_hook failed\n");
  }
  return external;
}

/* loopAdd(loop, fd, label) */
static napi_value js_loop_add(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc, len;
  loop_box *box;
  ipc_fd fd;
  void *label;
  ipc_error err;
  if (get_args(env, info, 3, argv, &argc) < 0) return NULL;
  if (get_loop(env, argv[0], "loopAdd(loop, fd, label): loop", &box) < 0 ||
      get_fd(env, argv[1], "loopAdd(loop, fd, label): fd", &fd) < 0 ||
      get_buffer(env, argv[2], "loopAdd(loop, fd, label): label", &label, &len) < 0)
    return NULL;
  memset(&err, 0, sizeof err);
  if (ipc_loop_add(box->loop, fd, label, len, &err) < 0) return throw_ipc(env, &err);
  return NULL;
}

/* loopClose(loop, fd) */
static napi_value js_loop_close(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc;
  loop_box *box;
  ipc_fd fd;
  ipc_error err;
  if (get_args(env, info, 2, argv, &argc) < 0) return NULL;
  if (get_loop(env, argv[0], "loopClose(loop, fd): loop", &box) < 0 || get_fd(env, argv[1], "loopClose(loop, fd): fd", &fd) < 0)
    return NULL;
  memset(&err, 0, sizeof err);
  if (ipc_loop_close(box->loop, fd, &err) < 0) return throw_ipc(env, &err);
  return NULL;
}

/* loopAppend(loop, data) */
static napi_value js_loop_append(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc, len;
  loop_box *box;
  void *data;
  ipc_error err;
  if (get_args(env, info, 2, argv, &argc) < 0) return NULL;
  if (get_loop(env, argv[0], "loopAppend(loop, data): loop", &box) < 0 ||
      get_buffer(env, argv[1], "loopAppend(loop, data): data", &data, &len) < 0)
    return NULL;
  memset(&err, 0, sizeof err);
  if (ipc_loop_append(box->loop, data, len, &err) < 0) return throw_ipc(env, &err);
  return NULL;
}

/* loopFinish(loop): the "finished" event follows once everything is written. */
static napi_value js_loop_finish(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc;
  loop_box *box;
  ipc_error err;
  if (get_args(env, info, 1, argv, &argc) < 0) return NULL;
  if (get_loop(env, argv[0], "loopFinish(loop): loop", &box) < 0) return NULL;
  memset(&err, 0, sizeof err);
  if (ipc_loop_finish(box->loop, &err) < 0) return throw_ipc(env, &err);
  return NULL;
}

/* loopQuietMs(loop, fd) -> ms since fd's last output (0 while waiting for the reader), -1
 * once it ended. */
static napi_value js_loop_quiet_ms(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc;
  loop_box *box;
  ipc_fd fd;
  if (get_args(env, info, 2, argv, &argc) < 0) return NULL;
  if (get_loop(env, argv[0], "loopQuietMs(loop, fd): loop", &box) < 0 ||
      get_fd(env, argv[1], "loopQuietMs(loop, fd): fd", &fd) < 0)
    return NULL;
  return number(env, (double)ipc_loop_quiet_ms(box->loop, fd));
}

/* loopJoin(loop): after the "finished" event; frees the loop. */
static napi_value js_loop_join(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  size_t argc;
  loop_box *box;
  ipc_error err;
  ipc_loop *loop;
  if (get_args(env, info, 1, argv, &argc) < 0) return NULL;
  if (get_loop(env, argv[0], "loopJoin(loop): loop", &box) < 0) return NULL;
  loop = box->loop;
  memset(&err, 0, sizeof err);
  if (ipc_loop_join(loop, &err) < 0) return throw_ipc(env, &err);
  box->loop = NULL;
  if (napi_remove_env_cleanup_hook(env, loop_env_cleanup, box) != napi_ok)
    fprintf(stderr, "ipc: loopJoin: napi_remove_env_cleanup_hook failed\n");
  CHECK(env, napi_release_threadsafe_function(box->tsfn, napi_tsfn_release));
  return NULL;
}
#endif

/* ---------- module ---------- */

static int export_function(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f) != napi_ok) return -1;
  return napi_set_named_property(env, exports, name, f) == napi_ok ? 0 : -1;
}

static napi_value init(napi_env env, napi_value exports) {
  ipc_error err;
  napi_value v;
  if (ipc_io_init(&err) < 0) return throw_ipc(env, &err);
  if (export_function(env, exports, "socketpair", js_socketpair) < 0 ||
      export_function(env, exports, "setNonBlocking", js_set_nonblocking) < 0 ||
      export_function(env, exports, "read", js_read) < 0 ||
      export_function(env, exports, "write", js_write) < 0 ||
      export_function(env, exports, "close", js_close) < 0 ||
      export_function(env, exports, "select", js_select) < 0 ||
      export_function(env, exports, "spawn", js_spawn) < 0 ||
      export_function(env, exports, "forkExec", js_fork_exec) < 0 ||
      export_function(env, exports, "pipe", js_pipe) < 0 ||
      export_function(env, exports, "closePipe", js_close_pipe) < 0 ||
      export_function(env, exports, "startRelay", js_start_relay) < 0 ||
      export_function(env, exports, "joinRelay", js_join_relay) < 0 ||
      export_function(env, exports, "wait", js_wait) < 0 ||
      export_function(env, exports, "kill", js_kill) < 0 ||
      export_function(env, exports, "killTree", js_kill_tree) < 0 ||
      export_function(env, exports, "guardGroup", js_guard_group) < 0 ||
      export_function(env, exports, "forgetGroup", js_forget_group) < 0 ||
#ifdef _WIN32
      export_function(env, exports, "processInfo", js_process_info) < 0 ||
#endif
      export_function(env, exports, "listen", js_listen) < 0 ||
      export_function(env, exports, "accept", js_accept) < 0 ||
      export_function(env, exports, "sendFd", js_send_fd) < 0 ||
      export_function(env, exports, "receiveFd", js_receive_fd) < 0 ||
      export_function(env, exports, "peerPort", js_peer_port) < 0 ||
      export_function(env, exports, "claimInherited", js_claim_inherited) < 0 ||
      export_function(env, exports, "quoteCommandLine", js_quote_cmdline) < 0 ||
#ifndef _WIN32
      export_function(env, exports, "loopStart", js_loop_start) < 0 ||
      export_function(env, exports, "loopAdd", js_loop_add) < 0 ||
      export_function(env, exports, "loopClose", js_loop_close) < 0 ||
      export_function(env, exports, "loopAppend", js_loop_append) < 0 ||
      export_function(env, exports, "loopFinish", js_loop_finish) < 0 ||
      export_function(env, exports, "loopQuietMs", js_loop_quiet_ms) < 0 ||
      export_function(env, exports, "loopJoin", js_loop_join) < 0 ||
#endif
      export_function(env, exports, "labelLines", js_label_lines) < 0)
    return throw_napi_failure(env, "exporting functions");
  CHECK(env, napi_create_int32(env, FD_SETSIZE, &v));
  CHECK(env, napi_set_named_property(env, exports, "FD_SETSIZE", v));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
