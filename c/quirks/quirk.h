/*
 * quirk.h - the C half of the quirk catalogue (docs/quirks.md, scripts/quirks/).
 *
 * One program, quirk_c (quirk_c.exe on Windows), with a subcommand per demonstration:
 * `quirk_c select-on-pipe` runs the wrong way and the right way side by side and prints
 * what it observed. The TypeScript side (scripts/quirks/quirk.ts, runQuirkC) parses its
 * output, so every subcommand prints in this small format, one item per line:
 *
 *   ## wrong: TITLE     starts a side (also "## right: TITLE", "## info: TITLE")
 *   = KEY VALUE         a measured value, for the regression test (KEY has no spaces)
 *   ! TEXT              a note shown after the sides (e.g. where Wine differs)
 *   anything else       an observation, shown under the current side
 *
 * Exit status 0 when the demonstration ran (whatever it observed); non-zero only when the
 * demonstration itself could not run, with the reason on stderr.
 *
 * Where the subcommands live: quirk_posix.c and quirk_win.c hold the quirks of one platform
 * (table QUIRK_COMMANDS); both_posix.c and both_win.c hold each platform's side of the
 * quirks that every platform has, under the same subcommand name (table QUIRK_COMMANDS_BOTH).
 * Each table ends with an entry whose name is NULL.
 */
#ifndef QUIRK_H
#define QUIRK_H

struct quirk_command {
  const char *name;
  const char *help;
  int (*run)(int argc, char **argv, const char *self);
};

extern const struct quirk_command QUIRK_COMMANDS[];
extern const struct quirk_command QUIRK_COMMANDS_BOTH[];

/* The output format above, so that no subcommand gets it subtly wrong. */
void quirk_side(const char *kind, const char *title);
void quirk_value(const char *key, const char *fmt, ...);
void quirk_note(const char *fmt, ...);
void quirk_say(const char *fmt, ...);
/* Exit status 1 with "quirk_c: WHAT: DETAIL" on stderr; for a demonstration that cannot run. */
int quirk_fail(const char *what, const char *fmt, ...);

#endif
