/*
 * relay_thread.h - what the shared copy loop and the platform's thread code share.
 */
#ifndef RELAY_THREAD_H
#define RELAY_THREAD_H

#include "ipc.h"

#ifndef _WIN32
#  include <pthread.h>
#endif

struct ipc_relay {
  ipc_fd pipe_read;
  ipc_fd socket_write;
  uint64_t bytes;
  int failed;
  ipc_error err;
#ifdef _WIN32
  HANDLE thread;
#else
  pthread_t thread;
#endif
};

/* The thread's body: copies until end of stream, then closes both descriptors. */
void ipc_relay_copy(ipc_relay *relay);
/* Closes what a relay owns: the thread at its end, ipc_relay_start when no thread starts. */
void ipc_relay_close_ends(ipc_fd pipe_read, ipc_fd socket_write);

#endif
