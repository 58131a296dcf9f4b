/**
 * Quirk 10: CreateProcess takes one command line, which the child's runtime splits again;
 * the article's quoting does not survive that, the MSVCRT rules do.
 */
import { spawnSync } from 'node:child_process';
import { ipc, QUIRK_C_PATH } from '../../parent/native.ts';
import { measuredBy, newShown, type Quirk, readUntilQuiet, side, value, waitForExit } from './quirk.ts';

/**
 * Each argument travels alone, between two markers, so one that breaks cannot hide what
 * another does. `trail\\` is here because the article's rule gets it right: the quirk is
 * what breaks, not everything with a backslash.
 */
const ARGS: readonly string[] = ['C:\\Program Files\\', '', 'a"b', 'trail\\', 'x y'];
const KEYS = ['program_files', 'empty', 'quote', 'trail', 'space'] as const;

/** The article's rule: quote an argument that contains spaces; write an inner `"` as `""`. */
function articleQuote(arg: string): string {
  const doubled = arg.replaceAll('"', '""');
  return arg.includes(' ') ? `"${doubled}"` : doubled;
}

/** Runs quirk_c print-argv with `[ <tail> ]` as its command line and returns what it got. */
function childArgvVerbatim(tail: string): unknown {
  // windowsVerbatimArguments: Node hands this exact text to CreateProcess, not quoted again.
  const r = spawnSync(QUIRK_C_PATH, ['print-argv', `[ ${tail} ]`], { windowsVerbatimArguments: true, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return JSON.parse(r.stdout);
}

/** What the child must see for one argument to have survived. */
const expected = (arg: string): string[] => ['[', arg, ']'];

export const quirk: Quirk = {
  order: 10,
  id: 'cmdline-quoting',
  title: 'CreateProcess takes one command line: quote arguments by the MSVCRT rules',
  showsOn: ['win32'],
  wine: 'same',
  observed: {
    linux: { kind: 'never', why: 'POSIX passes an argv array' },
    wine: measuredBy('cmdline-quoting', "Wine's msvcrt splits like the Universal CRT"),
    windows: { kind: 'documented', source: 'Microsoft docs, "Parsing C command-line arguments"' },
    macos: { kind: 'never', why: 'POSIX passes an argv array' },
  },
  doc: {
    problem:
      "There is no argv on Windows: the parent joins the arguments into one string, and the child's C runtime splits it again. The article's rule " +
      '(quote an argument that contains spaces, write an inner `"` as `""`) loses arguments: `C:\\Program Files\\` (spaces and a final backslash) ' +
      'escapes its own closing quote and swallows the arguments after it, an empty argument vanishes, and `a"b` (no space, so not quoted) ' +
      'arrives as `ab`. An argument such as `trail\\` survives it, because without spaces it is not quoted and a backslash not before a quote is literal.',
    why: 'The C runtime (and `CommandLineToArgvW`, and Node) split by the MSVCRT rules: backslashes are literal except before a quote, where 2n backslashes give n and the quote delimits, and 2n+1 give n and a literal quote.',
    platforms: 'Windows (all versions).',
    handled: 'c/cmdline.c `ipc_quote_cmdline` (exposed as `ipc.quoteCommandLine`) quotes by the MSVCRT rules, and c/spawn_win.c builds every command line with it; never a shell.',
    source: 'The article ("Perl - Use Win32::Process::Create()": its escaping rule); Microsoft docs, "Parsing C command-line arguments"; libuv\'s `quote_cmd_arg` (src/win/process.c) follows the same rules.',
    alsoGuardedBy: '"quoteCommandLine: the MSVCRT rules, table-driven" in test/native.test.ts; "socketpair: arguments reach the child byte for byte" in test/variants.test.ts',
  },
  async show() {
    const shown = newShown();
    const wrong = side(shown, 'wrong', 'the article\'s rule: quote arguments with spaces, inner " as ""');
    ARGS.forEach((arg, i) => {
      const tail = articleQuote(arg);
      const argv = childArgvVerbatim(tail);
      const ok = JSON.stringify(argv) === JSON.stringify(expected(arg));
      wrong.push(`${JSON.stringify(arg)} -> command line [ ${tail} ] -> argv ${JSON.stringify(argv)}: ${ok ? 'survives' : 'BROKEN'}`);
      shown.values[`article_${KEYS[i]}`] = ok ? 'survives' : 'broken';
      shown.values[`article_${KEYS[i]}_argv`] = JSON.stringify(argv);
    });

    const right = side(shown, 'right', 'the MSVCRT rules: ipc.quoteCommandLine (c/cmdline.c), started by ipc.spawn');
    right.push(`command line tail: ${ipc.quoteCommandLine(['[', ...ARGS, ']'])}`);
    const [rd, w] = ipc.socketpair();
    try {
      const pid = ipc.spawn([QUIRK_C_PATH, 'print-argv', '[', ...ARGS, ']'], { stdout: w, stderr: w });
      ipc.close(w);
      const out = (await readUntilQuiet(rd)).toString('utf8');
      const status = await waitForExit(pid);
      const argv: unknown = JSON.parse(out);
      right.push(`the child's argv: ${JSON.stringify(argv)} (exit ${status?.code ?? 'hung'})`);
      shown.values.msvcrt_argv = JSON.stringify(argv);
      shown.values.msvcrt_roundtrip = JSON.stringify(argv) === JSON.stringify(['[', ...ARGS, ']']) ? 'yes' : 'no';
    } finally {
      ipc.close(rd);
    }
    return shown;
  },
  verify(t, shown, ctx) {
    t.equal(value(shown, 'msvcrt_roundtrip'), 'yes', `the MSVCRT quoting round-trips all of them: ${value(shown, 'msvcrt_argv')}`);
    t.equal(value(shown, 'article_program_files'), 'broken', `the article's rule: C:\\Program Files\\ swallows what follows (${value(shown, 'article_program_files_argv')})`);
    t.equal(value(shown, 'article_empty'), 'broken', `the article's rule: an empty argument vanishes (${value(shown, 'article_empty_argv')})`);
    t.equal(value(shown, 'article_quote'), 'broken', `the article's rule: a"b loses its quote (${value(shown, 'article_quote_argv')})`);
    t.equal(value(shown, 'article_trail'), 'survives', 'the article\'s rule keeps trail\\ (no space, so not quoted)');
    t.equal(value(shown, 'article_space'), 'survives', 'and "x y"');
    if (ctx.underWine) t.comment("Wine's msvcrt splits like the Universal CRT here (docs/windows.md)");
  },
};
