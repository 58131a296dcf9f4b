/*
 * socketpair_win.c - Windows has no socketpair(): the loopback emulation is the real one.
 */
#include "ipc.h"

int ipc_socketpair(ipc_fd pair[2], ipc_error *err) {
  return ipc_socketpair_emulated(pair, NULL, NULL, IPC_BREAK_NONE, err);
}
