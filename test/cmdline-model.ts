/**
 * A model of how a Windows program splits its command line into argv, written from the
 * published rules only (not from c/cmdline.c, which it exists to check). Two parsers, because
 * Windows has two that differ:
 *
 * - `parseUcrt`: the Microsoft C runtime's startup code (UCRT, and the VC runtimes since
 *   2008), as documented in "Parsing C command-line arguments",
 *   https://learn.microsoft.com/en-us/cpp/c-language/parsing-c-command-line-arguments
 *   Its rules: arguments are separated by spaces or tabs; argv[0] is special (quoted parts
 *   allowed, the quote marks dropped, no backslash rule at all); a quoted string may be
 *   embedded in an argument; inside a quoted string, a pair of double quotes is one literal
 *   quote; 2n backslashes before a quote give n backslashes and the quote delimits; 2n+1
 *   give n backslashes and a literal quote; other backslashes are literal; a command line that
 *   ends inside quotes ends the last argument there. The page's own examples are in
 *   DOCUMENTED_EXAMPLES below.
 *
 * - `parseCommandLineToArgvW`: shell32's CommandLineToArgvW, documented at
 *   https://learn.microsoft.com/en-us/windows/win32/api/shellapi/nf-shellapi-commandlinetoargvw
 *   It has the same backslash rules (2n, 2n+1, n), takes a program name "enclosed in
 *   quotation marks or not", treats leading white space as an empty first argument and
 *   ignores trailing white space. It does NOT have the 2008 rule for `""` inside quotes:
 *   Microsoft's page says nothing about it. The pre-2008 C runtime's rule is described in
 *   https://www.hardtoc.com/2010/09/24/quoting-command-line-arguments.html (`""` inside
 *   quotes copies one quote and leaves quoted mode) and in David Deley's analysis
 *   (https://daviddeley.com/autohotkey/parameters/parameters.htm, "the rules were changed in
 *   2008"); that CommandLineToArgvW keeps the pre-2008 rules is stated in the documentation of
 *   Zig's std.process.ArgIteratorWindows. Third-party descriptions, not Microsoft's.
 *
 * A quoter is right when both parsers give back exactly what it was given: it must not
 * depend on the `""` rule, on which they disagree. Where the documents say nothing (text
 * right after the program name's closing quote), the model throws UndocumentedInput rather
 * than guess.
 *
 * Strings here are JavaScript strings; the rules only look at space, tab, `"` and `\`, which
 * never occur inside a UTF-8 or UTF-16 multi-unit sequence, so a string parses the same as
 * its UTF-8 bytes (what c/cmdline.c works on) or its UTF-16 form (what CreateProcessW gets).
 */

/** The parser met input whose meaning no document states. */
export class UndocumentedInput extends Error {}

const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t';

/** argv[0] under the C runtime: quotes toggle a quoted part and are dropped; backslashes
 * are ordinary characters (a path); a blank outside quotes ends it. */
function ucrtProgramName(line: string, at: number): [string, number] {
  let name = '';
  let quoted = false;
  let i = at;
  for (; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') quoted = !quoted;
    else if (!quoted && isBlank(c)) break;
    else name += c;
  }
  return [name, i];
}

/** argv[0] under CommandLineToArgvW: "enclosed in quotation marks or not". */
function shellProgramName(line: string): [string, number] {
  if (line[0] === '"') {
    const close = line.indexOf('"', 1);
    if (close === -1) return [line.slice(1), line.length];
    if (close + 1 < line.length && !isBlank(line[close + 1])) {
      throw new UndocumentedInput(`text right after the program name's closing quote: ${JSON.stringify(line.slice(0, close + 10))}`);
    }
    return [line.slice(1, close), close + 1];
  }
  let i = 0;
  while (i < line.length && !isBlank(line[i])) i++;
  return [line.slice(0, i), i];
}

/**
 * The arguments after argv[0], with the backslash rules both parsers share. `pairInQuotes`
 * says what `""` inside a quoted part does: 'stays' (UCRT since 2008: one literal quote, still
 * quoted) or 'leaves' (CommandLineToArgvW: one literal quote, quoted part over).
 */
function parseArguments(line: string, at: number, pairInQuotes: 'stays' | 'leaves'): string[] {
  const args: string[] = [];
  let i = at;
  for (;;) {
    while (isBlank(line[i])) i++;
    if (i >= line.length) return args;
    let arg = '';
    let quoted = false;
    while (i < line.length && (quoted || !isBlank(line[i]))) {
      const c = line[i]!;
      if (c === '\\') {
        let n = 0;
        while (line[i + n] === '\\') n++;
        if (line[i + n] === '"') {
          // 2n backslashes: n of them, and the quote delimits; 2n+1: n and a literal quote.
          arg += '\\'.repeat(Math.floor(n / 2));
          i += n;
          if (n % 2 === 1) {
            arg += '"';
            i++;
          }
        } else {
          arg += '\\'.repeat(n);
          i += n;
        }
      } else if (c === '"') {
        if (quoted && line[i + 1] === '"') {
          arg += '"';
          i += 2;
          if (pairInQuotes === 'leaves') quoted = false;
        } else {
          quoted = !quoted;
          i++;
        }
      } else {
        arg += c;
        i++;
      }
    }
    args.push(arg);
  }
}

/** argv as a program built with the UCRT (or a VC runtime since 2008) sees it. */
export function parseUcrt(line: string): string[] {
  const [program, next] = ucrtProgramName(line, 0);
  return [program, ...parseArguments(line, next, 'stays')];
}

/** argv as CommandLineToArgvW returns it (what GetCommandLineW-based programs see). */
export function parseCommandLineToArgvW(line: string): string[] {
  if (line === '') throw new UndocumentedInput('an empty command line: CommandLineToArgvW returns the running program\'s path');
  // "If lpCmdLine starts with any amount of whitespace, CommandLineToArgvW will consider
  // the first argument to be an empty string."
  if (isBlank(line[0])) return ['', ...parseArguments(line, 0, 'leaves')];
  const [program, next] = shellProgramName(line);
  return [program, ...parseArguments(line, next, 'leaves')];
}

/**
 * The examples of "Parsing C command-line arguments" (command line input, then argv[1..]),
 * with a program name in front since both parsers treat the first word as the program.
 * The last row is the one the 2008 change is about: the page lists `ab" c d` (the UCRT reads
 * `""` inside quotes as a quote and stays quoted). A pull request to the page
 * (MicrosoftDocs/cpp-docs#4643) proposed `ab"`, `c`, `d` instead, which is the pre-2008
 * reading that CommandLineToArgvW keeps; `pre2008` records it.
 */
export const DOCUMENTED_EXAMPLES: readonly { line: string; ucrt: readonly string[]; pre2008?: readonly string[] }[] = [
  { line: '"a b c" d e', ucrt: ['a b c', 'd', 'e'] },
  { line: '"ab\\"c" "\\\\" d', ucrt: ['ab"c', '\\', 'd'] },
  { line: 'a\\\\\\b d"e f"g h', ucrt: ['a\\\\\\b', 'de fg', 'h'] },
  { line: 'a\\\\\\"b c d', ucrt: ['a\\"b', 'c', 'd'] },
  { line: 'a\\\\\\\\"b c" d e', ucrt: ['a\\\\b c', 'd', 'e'] },
  { line: 'a"b"" c d', ucrt: ['ab" c d'], pre2008: ['ab"', 'c', 'd'] },
];
