/*
 * relay_thread_posix.c - relay threads with pthreads. POSIX select() could watch the pipe
 * directly; the variant runs here too so that Linux tests exercise the same copy loop and
 * its cleanup (no thread or descriptor may outlive its stream).
 */
#define _POSIX_C_SOURCE 200809L /* pthread_sigmask, sigfillset under -std=c11 */
#include "relay_thread.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

static void *relay_main(void *arg) {
  ipc_relay_copy(arg);
  return NULL;
}

int ipc_relay_start(ipc_fd pipe_read, ipc_fd socket_write, ipc_relay **out, ipc_error *err) {
  sigset_t all, old;
  int rc;
  ipc_relay *r = calloc(1, sizeof *r);
  /* The descriptors are ours from the call on (ipc.h): with no thread to close them,
   * they are closed here, so the caller never has to guess what is still open. */
  if (r == NULL) {
    ipc_relay_close_ends(pipe_read, socket_write);
    return ipc_fail(err, "ENOMEM", "calloc", "out of memory");
  }
  r->pipe_read = pipe_read;
  r->socket_write = socket_write;
  /* Signals belong to Node's main thread: the relay thread starts with all blocked. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&r->thread, NULL, relay_main, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    free(r);
    ipc_relay_close_ends(pipe_read, socket_write);
    return ipc_fail_errno(err, rc, "pthread_create");
  }
  *out = r;
  return 0;
}

int ipc_relay_join(ipc_relay *r, uint64_t *bytes, ipc_error *err) {
  int rc = pthread_join(r->thread, NULL);
  /* Only a programming error makes the join fail; the thread may still be using r then,
   * so r is left to it rather than freed under its feet. */
  if (rc != 0) return ipc_fail_errno(err, rc, "pthread_join");
  *bytes = r->bytes;
  if (r->failed) {
    *err = r->err;
    free(r);
    return -1;
  }
  free(r);
  return 0;
}
