/*
 * socketpair_posix.c - POSIX has the real thing: socketpair(2) in the AF_UNIX domain.
 */
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

int ipc_socketpair(ipc_fd pair[2], ipc_error *err) {
  int sv[2];
#ifdef SOCK_CLOEXEC
  /* Close-on-exec in the same call: set later, a concurrent spawn could inherit the pair
   * and keep the child's stream open after the child exits. */
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return ipc_fail_socket(err, "socketpair");
#else
  /* macOS has no SOCK_CLOEXEC; the window is closed there by POSIX_SPAWN_CLOEXEC_DEFAULT. */
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return ipc_fail_socket(err, "socketpair");
  if (ipc_set_inheritable(sv[0], 0, err) < 0 || ipc_set_inheritable(sv[1], 0, err) < 0) {
    close(sv[0]);
    close(sv[1]);
    return -1;
  }
#endif
  pair[0] = sv[0];
  pair[1] = sv[1];
  return 0;
}
