/*
 * both_win.c - the Windows side of the quirks every platform has (output format: quirk.h).
 */
#include "quirk.h"

#include <stddef.h>

const struct quirk_command QUIRK_COMMANDS_BOTH[] = {
  {NULL, NULL, NULL},
};
