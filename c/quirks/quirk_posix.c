/*
 * quirk_posix.c - quirk_c's subcommands on POSIX (output format: quirk.h).
 */
#include "quirk.h"

#include <stddef.h>

const struct quirk_command QUIRK_COMMANDS[] = {
  {NULL, NULL, NULL},
};
