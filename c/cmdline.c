/*
 * cmdline.c - building a Windows command line that the child's C runtime splits back into
 * exactly the argv we meant.
 *
 * CreateProcess takes one string; the child's runtime (MSVCRT/UCRT, CommandLineToArgvW,
 * Node's process.argv) splits it with these rules: whitespace separates arguments unless
 * inside double quotes; 2n backslashes before a quote give n backslashes and the quote
 * toggles quoting; 2n+1 backslashes before a quote give n backslashes and a literal quote;
 * backslashes anywhere else are literal. So, to quote an argument:
 *
 *   a b         -> "a b"
 *   "quoted"    -> "\"quoted\""
 *   a b\        -> "a b\\"       a trailing backslash would escape the closing quote
 *   back\slash\ -> back\slash\   no quoting needed, so backslashes stay literal
 *   (empty)     -> ""
 *   x""y        -> "x\"\"y"
 *   plain       -> plain        nothing to protect, left as is
 *
 * The article advises wrapping in quotes and doubling inner quotes; that breaks any
 * argument ending in a backslash (the closing quote gets escaped) and is not what the
 * runtime's parser undoes. Pure string work: compiled everywhere and tested on Linux too
 * (test/cmdline.test.ts checks it against a model of Microsoft's documented rules).
 *
 * argv[0], the program name, is read by other rules: the C runtime takes it as a path, in
 * which quote marks only switch quoting on and off and backslashes are plain characters
 * ("Parsing C command-line arguments"); CommandLineToArgvW takes it "enclosed in quotation
 * marks or not", up to the next quote mark. So it is wrapped in quotes when it holds a blank
 * and its backslashes are never doubled (doubling turned `a b\` into `a b\\` for the
 * child), and a quote mark in it has no spelling at all: it is refused.
 */
#include "ipc.h"

#include <string.h>

static int needs_quotes(const char *arg) {
  return *arg == '\0' || strpbrk(arg, " \t\n\v\"") != NULL;
}

/* Appends one byte if there is room; always counts it. */
static void put(char *out, size_t cap, size_t *len, char c) {
  if (*len < cap) out[*len] = c;
  (*len)++;
}

static void put_backslashes(char *out, size_t cap, size_t *len, size_t count) {
  while (count-- > 0) put(out, cap, len, '\\');
}

static void quote_arg(const char *arg, char *out, size_t cap, size_t *len) {
  const char *p;
  if (!needs_quotes(arg)) {
    for (p = arg; *p; p++) put(out, cap, len, *p);
    return;
  }
  put(out, cap, len, '"');
  for (p = arg;; p++) {
    size_t backslashes = 0;
    while (*p == '\\') {
      backslashes++;
      p++;
    }
    if (*p == '\0') {
      /* Backslashes before the closing quote must not escape it. */
      put_backslashes(out, cap, len, backslashes * 2);
      break;
    }
    if (*p == '"') {
      /* Escape each backslash, then the quote itself. */
      put_backslashes(out, cap, len, backslashes * 2 + 1);
      put(out, cap, len, '"');
    } else {
      put_backslashes(out, cap, len, backslashes);
      put(out, cap, len, *p);
    }
  }
  put(out, cap, len, '"');
}

static void quote_program(const char *name, char *out, size_t cap, size_t *len) {
  const char *p;
  int quoted = *name == '\0' || strpbrk(name, " \t\n\v") != NULL;
  if (quoted) put(out, cap, len, '"');
  for (p = name; *p; p++) put(out, cap, len, *p);
  if (quoted) put(out, cap, len, '"');
}

size_t ipc_quote_cmdline(const char *const *argv, char *out, size_t cap) {
  size_t len = 0, i;
  if (argv[0] != NULL) {
    if (strchr(argv[0], '"') != NULL) return 0;
    quote_program(argv[0], out, cap, &len);
    for (i = 1; argv[i] != NULL; i++) {
      put(out, cap, &len, ' ');
      quote_arg(argv[i], out, cap, &len);
    }
  }
  put(out, cap, &len, '\0');
  if (cap > 0 && len > cap) out[cap - 1] = '\0';
  return len;
}
