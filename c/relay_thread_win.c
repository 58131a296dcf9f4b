/*
 * relay_thread_win.c - relay threads on Windows: select() cannot watch the anonymous pipe
 * CreatePipe makes (WSAENOTSOCK), so this thread blocks in ReadFile and copies into a
 * socket that select() can watch.
 */
#include "relay_thread.h"

#include <errno.h>
#include <process.h>
#include <stdlib.h>

/* _beginthreadex rather than CreateThread: the thread uses the C runtime. */
static unsigned __stdcall relay_main(void *arg) {
  ipc_relay_copy(arg);
  return 0;
}

int ipc_relay_start(ipc_fd pipe_read, ipc_fd socket_write, ipc_relay **out, ipc_error *err) {
  uintptr_t h;
  ipc_relay *r = calloc(1, sizeof *r);
  /* Owned from the call on (ipc.h): closed here when no thread starts to close them. */
  if (r == NULL) {
    ipc_relay_close_ends(pipe_read, socket_write);
    return ipc_fail(err, "ENOMEM", "calloc", "out of memory");
  }
  r->pipe_read = pipe_read;
  r->socket_write = socket_write;
  h = _beginthreadex(NULL, 0, relay_main, r, 0, NULL);
  if (h == 0) {
    int e = errno; /* before closing, which may change it */
    free(r);
    ipc_relay_close_ends(pipe_read, socket_write);
    return ipc_fail_errno(err, e, "_beginthreadex");
  }
  r->thread = (HANDLE)h;
  *out = r;
  return 0;
}

int ipc_relay_join(ipc_relay *r, uint64_t *bytes, ipc_error *err) {
  /* Only a programming error makes the wait fail; r is then left to the thread. */
  if (WaitForSingleObject(r->thread, INFINITE) != WAIT_OBJECT_0) return ipc_fail_system(err, "WaitForSingleObject");
  CloseHandle(r->thread);
  *bytes = r->bytes;
  if (r->failed) {
    *err = r->err;
    free(r);
    return -1;
  }
  free(r);
  return 0;
}
