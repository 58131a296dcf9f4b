/**
 * The scripts' argument parsing (scripts/args.ts, node:util parseArgs): bad input is one
 * line on stderr naming the bad value, exit status 2, nothing on stdout and nothing
 * started. Natively through tsx; in the Wine suite the scripts that run under Windows
 * (matrix-run, quirk) run as tsc output, the Linux-only ones are skipped.
 */
import { join } from 'node:path';
import test from 'tape';
import { PROJECT_ROOT } from '../parent/native.ts';
import { IS_WINDOWS, run, TSX_LOADER } from './helpers.ts';

interface Case {
  script: string;
  args: string[];
  /** What the one line must name. */
  names: RegExp;
  /** Also runs on Windows (as build/js/scripts/*.js). */
  windows?: boolean;
}

const CASES: readonly Case[] = [
  { script: 'bench.ts', args: ['--reps', '0'], names: /^bench: --reps '0' is not a whole number/ },
  { script: 'bench.ts', args: ['--quick', '--no-such-option'], names: /^bench: unknown option '--no-such-option'/ },
  { script: 'bench.ts', args: ['--only', 'W1,W9'], names: /^bench: unknown workload 'W9'/ },
  { script: 'bench.ts', args: ['--reps'], names: /^bench: option '--reps <value>' argument missing/ },
  { script: 'bench/spawn.ts', args: ['--how', 'vfork'], names: /^spawn\.ts: --how 'vfork' is not one of addon, forkexec, node/ },
  { script: 'bench/spawn.ts', args: ['--count', '-3'], names: /^spawn\.ts: .*'--count/ },
  { script: 'matrix.ts', args: ['--lines', 'many'], names: /^matrix: --lines 'many' is not a whole number/ },
  { script: 'matrix-run.ts', args: ['--lines', '0'], names: /^matrix-run: --lines '0' is not a whole number/, windows: true },
  { script: 'matrix-run.ts', args: ['extra'], names: /^matrix-run: unexpected argument 'extra'/, windows: true },
  { script: 'quirk.ts', args: ['--colour'], names: /^quirk: unknown option '--colour'/, windows: true },
  { script: 'build-win.ts', args: ['--fast'], names: /^build-win: unknown option '--fast'/ },
  { script: 'test-wine.ts', args: ['--bail'], names: /^test-wine: unknown option '--bail'/ },
];

function argvFor(script: string, args: readonly string[]): string[] {
  return IS_WINDOWS
    ? [process.execPath, join(PROJECT_ROOT, 'build', 'js', 'scripts', script.replace(/\.ts$/, '.js')), ...args]
    : [process.execPath, '--import', TSX_LOADER, join(PROJECT_ROOT, 'scripts', script), ...args];
}

for (const c of CASES) {
  const skip = IS_WINDOWS && !c.windows ? 'a Linux-side script (npm script run from Linux)' : false;
  test(`scripts: ${c.script} ${c.args.join(' ')} is refused in one line, status 2`, { skip }, async (t) => {
    const r = await run(argvFor(c.script, c.args), { timeoutMs: 60_000 });
    const err = r.stderr.toString();
    t.equal(r.code, 2, `exit status 2 (stderr: ${JSON.stringify(err)})`);
    t.equal(err.split('\n').filter((l) => l !== '').length, 1, 'one line on stderr');
    t.ok(err.endsWith('\n'), 'the line is ended');
    t.match(err, c.names, 'names the bad value');
    t.equal(r.stdout.length, 0, 'nothing on stdout');
  });
}

test('scripts: bench --help still prints the Usage block of scripts/bench.ts, status 0', { skip: IS_WINDOWS ? 'a Linux-side script' : false }, async (t) => {
  const r = await run(argvFor('bench.ts', ['--help']), { timeoutMs: 60_000 });
  t.equal(r.code, 0, 'status 0');
  t.match(r.stdout.toString(), /^Usage: npm run bench/, 'the Usage block');
  t.match(r.stdout.toString(), /--only LIST/, 'with the options');
});
