/*
 * main.c - quirk_c's entry point: picks the subcommand, and the output helpers every
 * subcommand shares (format described in quirk.h).
 */
#include "quirk.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vline(const char *prefix, const char *fmt, va_list ap) {
  fputs(prefix, stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  /* The demonstrations start children that share nothing with this stdout, but a
   * subcommand may crash half-way: what was observed until then must not sit in a buffer. */
  fflush(stdout);
}

void quirk_side(const char *kind, const char *title) {
  printf("## %s: %s\n", kind, title);
  fflush(stdout);
}

void quirk_value(const char *key, const char *fmt, ...) {
  va_list ap;
  printf("= %s ", key);
  va_start(ap, fmt);
  vline("", fmt, ap);
  va_end(ap);
}

void quirk_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline("! ", fmt, ap);
  va_end(ap);
}

void quirk_say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline("", fmt, ap);
  va_end(ap);
}

int quirk_fail(const char *what, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "quirk_c: %s: ", what);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 1;
}

static const struct quirk_command *const TABLES[] = {QUIRK_COMMANDS, QUIRK_COMMANDS_BOTH};
#define TABLE_COUNT (sizeof TABLES / sizeof TABLES[0])

static void usage(FILE *to) {
  fprintf(to, "usage: quirk_c SUBCOMMAND [ARGS]\nsubcommands on this platform:\n");
  for (size_t t = 0; t < TABLE_COUNT; t++) {
    for (const struct quirk_command *c = TABLES[t]; c->name != NULL; c++) fprintf(to, "  %-28s %s\n", c->name, c->help);
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (size_t t = 0; t < TABLE_COUNT; t++) {
    for (const struct quirk_command *c = TABLES[t]; c->name != NULL; c++) {
      if (strcmp(c->name, argv[1]) == 0) return c->run(argc - 2, argv + 2, argv[0]);
    }
  }
  fprintf(stderr, "quirk_c: unknown subcommand '%s' (quirk_c --help lists them)\n", argv[1]);
  return 2;
}
