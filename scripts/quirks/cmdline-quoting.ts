/**
 * Quirk 10: CreateProcess takes one command line, which the child's runtime splits again;
 * the article's quoting does not survive that, the MSVCRT rules do.
 */
import { spawnSync } from 'node:child_process';
import { ipc, QUIRK_C_PATH } from '../../parent/native.ts';
import { readUntilQuiet, side, value, waitForExit, newShown, type Quirk } from './quirk.ts';

/** Arguments on which the two quotings differ. */
const ARGS: readonly string[] = ['trail\\', 'a"b', '', 'x y', 'last'];

/** The article's advice: wrap every argument in quotes and double the quotes inside. */
function articleQuote(args: readonly string[]): string {
  return args.map((a) => `"${a.replaceAll('"', '""')}"`).join(' ');
}

function roundTrip(got: unknown): string {
  return JSON.stringify(got) === JSON.stringify(ARGS) ? 'yes' : 'no';
}

export const quirk: Quirk = {
  order: 10,
  id: 'cmdline-quoting',
  title: 'CreateProcess takes one command line: quote arguments by the MSVCRT rules',
  showsOn: ['win32'],
  wine: 'same',
  doc: {
    problem: "There is no argv on Windows: the parent joins the arguments into one string, and the child's C runtime splits it again. With the article's quoting (wrap in quotes, double inner quotes) an argument ending in a backslash escapes its closing quote and swallows the next argument.",
    why: 'The C runtime (and `CommandLineToArgvW`, and Node) split by the MSVCRT rules: backslashes are literal except before a quote, where 2n backslashes give n and the quote delimits, and 2n+1 give n and a literal quote.',
    platforms: 'Windows (all versions).',
    handled: 'c/cmdline.c `ipc_quote_cmdline` (exposed as `ipc.quoteCommandLine`) quotes by the MSVCRT rules, and c/spawn_win.c builds every command line with it; never a shell.',
    source: 'Microsoft docs, "Parsing C command-line arguments"; libuv\'s `quote_cmd_arg` (src/win/process.c) follows the same rules; the article\'s quoting advice is what this replaces.',
    alsoGuardedBy: '"quoteCommandLine: the MSVCRT rules, table-driven" in test/native.test.ts; "socketpair: arguments reach the child byte for byte" in test/variants.test.ts',
  },
  async show() {
    const shown = newShown();
    const info = side(shown, 'info', 'the arguments (JSON)');
    info.push(JSON.stringify(ARGS));

    const wrong = side(shown, 'wrong', "the article's quoting: wrap in \"...\", double inner quotes");
    const article = articleQuote(ARGS);
    wrong.push(`command line tail: ${article}`);
    // windowsVerbatimArguments: Node hands this exact text to CreateProcess, unquoted again.
    const r = spawnSync(QUIRK_C_PATH, ['print-argv', article], { windowsVerbatimArguments: true, encoding: 'utf8', timeout: 30_000 });
    if (r.error) throw r.error;
    const articleArgv: unknown = JSON.parse(r.stdout);
    wrong.push(`the child's argv: ${JSON.stringify(articleArgv)}`);
    shown.values.article_argv = JSON.stringify(articleArgv);
    shown.values.article_roundtrip = roundTrip(articleArgv);

    const right = side(shown, 'right', "the MSVCRT rules: ipc.quoteCommandLine (c/cmdline.c), started by ipc.spawn");
    right.push(`command line tail: ${ipc.quoteCommandLine(ARGS)}`);
    const [rd, w] = ipc.socketpair();
    try {
      const pid = ipc.spawn([QUIRK_C_PATH, 'print-argv', ...ARGS], { stdout: w, stderr: w });
      ipc.close(w);
      const out = (await readUntilQuiet(rd)).toString('utf8');
      const status = await waitForExit(pid);
      const argv: unknown = JSON.parse(out);
      right.push(`the child's argv: ${JSON.stringify(argv)} (exit ${status?.code ?? 'hung'})`);
      shown.values.msvcrt_argv = JSON.stringify(argv);
      shown.values.msvcrt_roundtrip = roundTrip(argv);
    } finally {
      ipc.close(rd);
    }
    return shown;
  },
  verify(t, shown, ctx) {
    t.equal(value(shown, 'msvcrt_roundtrip'), 'yes', `the MSVCRT quoting round-trips: ${value(shown, 'msvcrt_argv')}`);
    t.equal(value(shown, 'article_roundtrip'), 'no', `the article's quoting does not: ${value(shown, 'article_argv')}`);
    const got = JSON.parse(value(shown, 'article_argv')) as unknown[];
    t.notEqual(got[0], ARGS[0], `the trailing backslash is not kept as one argument (got ${JSON.stringify(got[0])})`);
    if (ctx.underWine) t.comment("Wine's msvcrt splits like the Universal CRT here (WINDOWS-FACTS.md)");
  },
};
