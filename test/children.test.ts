/**
 * One contract, two children: every test runs against c/child.c and child/child.ts.
 */
import { spawn } from 'node:child_process';
import test from 'tape';
import { childArgv } from '../parent/children.ts';
import { CHILD_KINDS, runChild } from './helpers.ts';

const MICRO = process.platform === 'win32' ? 'us' : 'μs';
const NAME = { c: 'C', ts: 'TS' } as const;

/** A child whose reader is gone must notice at its next write; it writes without sleeping. */
const EPIPE_PROMPT_MS = 5_000;
/** Past this the test kills the child itself (and the exit assertions fail). */
const EPIPE_KILL_MS = 30_000;

function lines(b: Buffer): string[] {
  return b.toString('utf8').split('\n').slice(0, -1);
}

for (const kind of CHILD_KINDS) {
  const who = `${kind} child`;

  test(`${who}: the article's line format, alternating stdout and stderr`, async (t) => {
    const r = await runChild(kind, ['--lines', '4', '--max-sleep-ms', '3']);
    t.equal(r.code, 0, 'exits 0 after --lines');
    const format = new RegExp(`^${NAME[kind]} child pid \\d+ writing to (stdout|stderr) before sleeping (\\d+) ${MICRO}\\.$`);
    const out = lines(r.stdout);
    const err = lines(r.stderr);
    t.equal(out.length, 2, '2 lines on stdout');
    t.equal(err.length, 2, '2 lines on stderr');
    for (const l of out) t.match(l, format, `stdout line has the format: ${l}`);
    for (const l of err) t.match(l, format, `stderr line has the format: ${l}`);
    t.ok(out.every((l) => l.includes('to stdout')) && err.every((l) => l.includes('to stderr')), 'each line names its stream');
    t.ok([...out, ...err].every((l) => Number(/sleeping (\d+)/.exec(l)![1]) < 3000), 'sleeps stay below --max-sleep-ms');
  });

  test(`${who}: --seed makes the sleeps reproducible, and equal to the other child's`, async (t) => {
    const args = ['--lines', '6', '--max-sleep-ms', '2', '--seed', '42'];
    const sleeps = (b: Buffer): string[] => lines(b).map((l) => /sleeping (\d+)/.exec(l)![1]!);
    const a = await runChild(kind, args);
    const b = await runChild(kind, args);
    const other = await runChild(kind === 'c' ? 'ts' : 'c', args);
    // Two runs that printed nothing would compare equal: count the lines first.
    t.deepEqual([a, b, other].map((r) => [lines(r.stdout).length, lines(r.stderr).length]), [[3, 3], [3, 3], [3, 3]], '3 lines per stream in each run');
    t.deepEqual(sleeps(a.stdout), sleeps(b.stdout), 'same seed, same stdout sleeps');
    t.deepEqual(sleeps(a.stderr), sleeps(b.stderr), 'same seed, same stderr sleeps');
    t.deepEqual(sleeps(a.stdout), sleeps(other.stdout), 'the C and TS children draw the same sleeps');
  });

  test(`${who}: --stamp appends the wall clock in µs, taken between our clock readings`, async (t) => {
    const before = Date.now() * 1000;
    const r = await runChild(kind, ['--lines', '4', '--max-sleep-ms', '0', '--seq', '--stamp']);
    const after = (Date.now() + 1) * 1000;
    const stamps = [...lines(r.stdout), ...lines(r.stderr)].map((l) => /seq=\d+ t=(\d+)$/.exec(l.trimEnd()));
    t.equal(stamps.filter((m) => m !== null).length, 4, 'every line ends with seq=K t=U');
    for (const m of stamps) {
      const u = Number(m?.[1]);
      // Allow 1 ms for clocks read at different resolutions.
      t.ok(u >= before - 1000 && u <= after + 1000, `t=${u} lies within the run [${before}, ${after}]`);
    }
    t.end();
  });

  test(`${who}: --seq counts per stream, --streams picks the stream`, async (t) => {
    const both = await runChild(kind, ['--lines', '5', '--max-sleep-ms', '0', '--seq']);
    t.deepEqual(lines(both.stdout).map((l) => l.replace(/.* seq=/, '')), ['1', '2', '3'], 'stdout seq 1..3');
    t.deepEqual(lines(both.stderr).map((l) => l.replace(/.* seq=/, '')), ['1', '2'], 'stderr seq 1..2');
    const out = await runChild(kind, ['--lines', '3', '--max-sleep-ms', '0', '--streams', 'stdout']);
    t.equal(lines(out.stdout).length, 3, '--streams stdout: all on stdout');
    t.equal(out.stderr.length, 0, '--streams stdout: nothing on stderr');
    const err = await runChild(kind, ['--lines', '3', '--max-sleep-ms', '0', '--streams', 'stderr']);
    t.equal(lines(err.stderr).length, 3, '--streams stderr: all on stderr');
    t.equal(err.stdout.length, 0, '--streams stderr: nothing on stdout');
  });

  test(`${who}: --line-bytes pads or cuts every line to exactly B bytes`, async (t) => {
    const padded = await runChild(kind, ['--lines', '2', '--max-sleep-ms', '0', '--line-bytes', '200', '--seq']);
    const l = padded.stdout.toString('utf8');
    t.equal(padded.stdout.length, 200, 'a padded line is 200 bytes with its newline');
    t.match(l, /seq=1\.+\n$/, "padded with '.' after the text");
    const cut = await runChild(kind, ['--lines', '2', '--max-sleep-ms', '0', '--line-bytes', '10']);
    t.equal(cut.stdout.toString('latin1'), `${NAME[kind]} child pid `.slice(0, 9) + '\n', 'cut to 9 bytes plus newline');
    const big = await runChild(kind, ['--lines', '1', '--max-sleep-ms', '0', '--line-bytes', String(1 << 20)]);
    t.equal(big.stdout.length, 1 << 20, 'a 1 MiB line is written whole');
  });

  test(`${who}: --exit-code and --help`, async (t) => {
    const r = await runChild(kind, ['--lines', '1', '--max-sleep-ms', '0', '--exit-code', '7']);
    t.equal(r.code, 7, 'exits with --exit-code');
    const z = await runChild(kind, ['--lines', '0']);
    t.equal(z.code, 0, '--lines 0 exits at once');
    t.equal(z.stdout.length + z.stderr.length, 0, '--lines 0 writes nothing');
    const h = await runChild(kind, ['--help']);
    t.equal(h.code, 0, '--help exits 0');
    t.match(h.stdout.toString(), /--max-sleep-ms/, '--help lists the options');
  });

  const bad: [string[], string][] = [
    [['--lines', 'abc'], "'abc'"],
    [['--lines', '-1'], "'-1'"],
    [['--lines', '1e3'], "'1e3'"],
    [['--max-sleep-ms', '99999999999'], "'99999999999'"],
    [['--seed', '4294967296'], "'4294967296'"],
    [['--line-bytes', '0'], "'0'"],
    [['--streams', 'both2'], "'both2'"],
    [['--exit-code', '256'], "'256'"],
    [['--lines'], '--lines'],
    [['--frobnicate'], "'--frobnicate'"],
  ];
  test(`${who}: a bad option is one line naming the value, exit 2`, async (t) => {
    for (const [args, named] of bad) {
      const r = await runChild(kind, args);
      const msg = r.stderr.toString();
      t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
      t.equal(msg.trimEnd().split('\n').length, 1, `${args.join(' ')}: one line`);
      t.ok(msg.includes(named), `${args.join(' ')}: names ${named}: ${msg.trim()}`);
      t.equal(r.stdout.length, 0, `${args.join(' ')}: prints no lines`);
    }
  });

  test(`${who}: exits promptly, non-zero, when its reader is gone (EPIPE)`, async (t) => {
    const argv = childArgv(kind, ['--max-sleep-ms', '0', '--streams', 'stdout']);
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    let firstChunk = 0;
    let closedAt = 0;
    p.stdout.once('data', (b: Buffer) => {
      firstChunk = b.length;
      closedAt = Date.now();
      p.stdout.destroy();
    });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => {
      const timer = setTimeout(() => p.kill('SIGKILL'), EPIPE_KILL_MS);
      p.on('close', (c, s) => {
        clearTimeout(timer);
        resolve([c, s]);
      });
    });
    const ms = Date.now() - closedAt;
    t.ok(firstChunk > 0, `it was writing when the reader went away (${firstChunk} bytes read)`);
    t.equal(signal, null, 'it ended by itself: not killed by the test');
    t.equal(code, 3, 'exit status 3 (reader gone)');
    // Measured: 1-11 ms, up to 293 ms with two busy loops alongside (it writes without
    // sleeping, so its next write fails). The bound is far below the kill timer, so a child
    // that noticed late fails this line rather than being killed.
    t.ok(closedAt > 0 && ms < EPIPE_PROMPT_MS, `gone ${ms} ms after the reader closed (bound ${EPIPE_PROMPT_MS} ms)`);
  });
}
