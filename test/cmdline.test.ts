/**
 * Windows command-line quoting, checked against an independent model of Microsoft's
 * documented parsing rules (test/cmdline-model.ts) rather than against a table written from
 * the same rules as c/cmdline.c: the documented examples, a seeded fuzz of 10,000 random
 * arguments quoted by ipc.quoteCommandLine and parsed back by both of Windows' parsers, the
 * program name (argv[0]), and under Wine real Windows children given random arguments by
 * each variant.
 *
 * A failing fuzz prints its seed; IPC_CMDLINE_SEED=N reruns exactly that case.
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'tape';
import { ipc, PROJECT_ROOT } from '../parent/native.ts';
import { DOCUMENTED_EXAMPLES, parseCommandLineToArgvW, parseUcrt, UndocumentedInput } from './cmdline-model.ts';
import { IS_WINDOWS, parseParentOutput, runParent } from './helpers.ts';

const SEED = process.env.IPC_CMDLINE_SEED !== undefined ? Number(process.env.IPC_CMDLINE_SEED) : randomInt(1, 2 ** 31);
const rerun = (seed: number): string => `seed ${seed}; rerun with IPC_CMDLINE_SEED=${seed}`;

/** xorshift32: small, seedable, and the same sequence on every platform. */
function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

/** What makes quoting hard: quote and backslash runs, every blank, non-ASCII (including a
 * character outside the BMP), and characters cmd.exe or a POSIX shell would treat specially
 * (which must mean nothing here). */
const PIECES = ['"', '""', '"""', '\\', '\\\\', '\\\\\\', '\\\\\\\\\\', ' ', '  ', '\t', '\n', '\v', 'a', 'Z', '0', '-', '=', '%', '^', '&', '|', '<', "'", '*', '$', 'μ', 'ü', '€', '中', '😀'];

function randomArgument(next: (n: number) => number): string {
  if (next(12) === 0) return '';
  let arg = '';
  for (let n = 1 + next(10); n > 0; n--) arg += PIECES[next(PIECES.length)];
  return arg;
}

/** A program name as it can occur: a Windows path, maybe with spaces and non-ASCII, never
 * with a double quote (no Windows file name holds one). Some end in a backslash: argv[0] is
 * only what the child is told when the program itself is named apart from the command line. */
function randomProgram(next: (n: number) => number): string {
  const word = (): string => {
    let w = '';
    for (let n = 1 + next(6); n > 0; n--) w += ['a', 'B', ' ', '  ', '.', '-', 'ü', '中', '😀', '(x86)'][next(10)];
    return w;
  };
  const dirs = Array.from({ length: next(4) }, word);
  const start = ['C:\\', '\\\\server\\share name\\', '..\\', '', 'Z:\\'][next(5)]!;
  const path = `${start}${[...dirs, `${word()}.exe`].join('\\')}`;
  return next(4) === 0 ? `${path}${'\\'.repeat(1 + next(3))}` : path;
}

const same = (a: string, b: string | undefined): boolean => b !== undefined && Buffer.from(a, 'utf8').equals(Buffer.from(b, 'utf8'));
const sameArgv = (want: readonly string[], got: readonly string[]): boolean => want.length === got.length && want.every((a, i) => same(a, got[i]));

test('cmdline model: the examples of "Parsing C command-line arguments"', (t) => {
  for (const { line, ucrt, pre2008 } of DOCUMENTED_EXAMPLES) {
    t.deepEqual(parseUcrt(`prog ${line}`), ['prog', ...ucrt], `UCRT: ${line}`);
    t.deepEqual(parseCommandLineToArgvW(`prog ${line}`), ['prog', ...(pre2008 ?? ucrt)], `CommandLineToArgvW: ${line}`);
  }
  t.end();
});

test('cmdline model: argv[0] has no backslash rule, and the two parsers read it differently', (t) => {
  t.deepEqual(parseUcrt('"C:\\Program Files\\x.exe" a'), ['C:\\Program Files\\x.exe', 'a'], 'UCRT: a quoted program path');
  t.deepEqual(parseCommandLineToArgvW('"C:\\Program Files\\x.exe" a'), ['C:\\Program Files\\x.exe', 'a'], 'CommandLineToArgvW: the same');
  t.deepEqual(parseUcrt('"a b\\\\" c'), ['a b\\\\', 'c'], 'UCRT: backslashes before the closing quote stay as they are');
  t.deepEqual(parseUcrt('C:\\a" "b\\x c'), ['C:\\a b\\x', 'c'], 'UCRT: a quoted part inside the program name');
  t.deepEqual(parseCommandLineToArgvW(' a b'), ['', 'a', 'b'], 'CommandLineToArgvW: leading white space is an empty program name');
  t.throws(() => parseCommandLineToArgvW('"a"b c'), UndocumentedInput, 'CommandLineToArgvW: text glued to the closing quote is undocumented: the model refuses to guess');
  t.end();
});

const FUZZ_ARGUMENTS = 10_000;

test(`quoteCommandLine round trip: ${FUZZ_ARGUMENTS} random arguments through both parsers, byte-equal`, (t) => {
  const next = prng(SEED);
  let done = 0;
  let lines = 0;
  const bad: Record<'ucrt' | 'shell', string[]> = { ucrt: [], shell: [] };
  while (done < FUZZ_ARGUMENTS) {
    const argv = ['prog', ...Array.from({ length: 1 + next(8) }, () => randomArgument(next))];
    done += argv.length - 1;
    lines++;
    const line = ipc.quoteCommandLine(argv);
    for (const [name, parse] of [['ucrt', parseUcrt], ['shell', parseCommandLineToArgvW]] as const) {
      let got: string[];
      try {
        got = parse(line);
      } catch (e) {
        got = [`(${(e as Error).message})`];
      }
      if (!sameArgv(argv, got) && bad[name].length < 2) bad[name].push(`${JSON.stringify(argv)} -> ${JSON.stringify(line)} -> ${JSON.stringify(got)}`);
    }
  }
  t.deepEqual(bad.ucrt, [], `UCRT: ${done} arguments in ${lines} command lines came back unchanged (${rerun(SEED)})`);
  t.deepEqual(bad.shell, [], `CommandLineToArgvW: the same ${done} arguments came back unchanged (${rerun(SEED)})`);
  t.end();
});

test('quoteCommandLine round trip: 2,000 random program names (argv[0]) through both parsers', (t) => {
  const next = prng(SEED ^ 0x5a5a5a5a);
  const bad: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const argv = [randomProgram(next), randomArgument(next)];
    const line = ipc.quoteCommandLine(argv);
    for (const parse of [parseUcrt, parseCommandLineToArgvW]) {
      let got: string[];
      try {
        got = parse(line);
      } catch (e) {
        got = [`(${(e as Error).message})`];
      }
      if (!sameArgv(argv, got) && bad.length < 3) bad.push(`${parse.name}: ${JSON.stringify(argv)} -> ${JSON.stringify(line)} -> ${JSON.stringify(got)}`);
    }
  }
  t.deepEqual(bad, [], `every program name came back unchanged (${rerun(SEED)})`);
  t.equal(ipc.quoteCommandLine(['C:\\dir name\\', 'x']), '"C:\\dir name\\" x', 'a trailing backslash in argv[0] is not doubled (the C runtime would keep both)');
  t.throws(() => ipc.quoteCommandLine(['a"b', 'x']), /program name 'a"b' holds a double quote/, 'a double quote in argv[0] has no spelling: refused, naming it');
  t.end();
});

// Under Wine: real Windows children. The arguments go in a --config file, so the only
// quoting between this test and the child is the parent's own (c/cmdline.c): the parent
// itself is started by Node's child_process, whose quoting would otherwise come first.
const FIXTURE = join(PROJECT_ROOT, 'test', 'fixtures', 'print-argv-hex.cjs');
const WINE_ARGUMENTS = 200;

/** The child's lines: 'x' + UTF-8 hex per argv element, argv0 first. */
function decodeArgv(texts: readonly string[]): string[] {
  return texts.map((l) => (l.startsWith('x') ? Buffer.from(l.slice(1), 'hex').toString('utf8') : `(not an argument line: ${l})`));
}

for (const variant of ['socketpair', 'pipe-thread']) {
  test(`${variant}: ${WINE_ARGUMENTS} random arguments reach a real Windows child unchanged`, { skip: !IS_WINDOWS && 'Windows only: runs in npm run test:wine' }, async (t) => {
    t.timeoutAfter(120_000);
    const next = prng(SEED + variant.length);
    const args = Array.from({ length: WINE_ARGUMENTS }, () => randomArgument(next));
    const dir = mkdtempSync(join(tmpdir(), 'ipc-cmdline-'));
    try {
      const config = join(dir, 'argv.json');
      writeFileSync(config, JSON.stringify([{ name: 'argv', argv: [process.execPath, FIXTURE, ...args] }]));
      const r = await runParent(['--variant', variant, '--config', config], { timeoutMs: 100_000 });
      const out = parseParentOutput(r.stdout);
      t.equal(r.code, 0, `status 0${r.code === 0 ? '' : `: ${r.stderr.toString().trim().slice(0, 300)}`}`);
      const got = decodeArgv(out.lines.filter((l) => l.kind === 'info').map((l) => l.text));
      t.ok(same(process.execPath, got[0]), `argv[0] is the program as given: ${got[0]}`);
      const wrong = args.map((a, i) => [a, got[i + 1]] as const).filter(([a, g]) => !same(a, g));
      t.equal(got.length - 1, args.length, `${args.length} arguments arrived`);
      t.deepEqual(wrong.slice(0, 3).map(([a, g]) => `${JSON.stringify(a)} arrived as ${JSON.stringify(g)}`), [], `each one byte for byte (${rerun(SEED)})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a program path with spaces and non-ASCII reaches a real Windows child as its argv[0]', { skip: !IS_WINDOWS && 'Windows only: runs in npm run test:wine' }, async (t) => {
  // Windows shortens `dir\..` without looking, so this names node.exe through a folder that
  // does not exist: a program path with spaces and non-ASCII, without copying node.exe.
  // (path.join would shorten it here already, hence the string.)
  const unnormalised = `${dirname(process.execPath)}\\no such folder ü 中\\..\\${process.execPath.split('\\').pop()}`;
  const dir = mkdtempSync(join(tmpdir(), 'ipc-cmdline-'));
  try {
    const config = join(dir, 'argv0.json');
    writeFileSync(config, JSON.stringify([{ name: 'argv0', argv: [unnormalised, FIXTURE, 'a b', 'trail\\'] }]));
    const r = await runParent(['--config', config], { timeoutMs: 60_000 });
    t.equal(r.code, 0, `status 0${r.code === 0 ? '' : `: ${r.stderr.toString().trim().slice(0, 300)}`}`);
    const got = decodeArgv(parseParentOutput(r.stdout).lines.filter((l) => l.kind === 'info').map((l) => l.text));
    t.deepEqual(got, [unnormalised, 'a b', 'trail\\'], `argv[0] and the arguments as the child split them: ${JSON.stringify(got)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
