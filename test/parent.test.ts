/**
 * The parent end to end, as a user runs it: real children, real signals, output checked
 * line by line.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'tape';
import { alive, IS_WINDOWS, parentArgv, parseParentOutput, runParent, sleep, start } from './helpers.ts';

/** Windows cannot deliver a catchable signal to another process: process.kill() there is
 * TerminateProcess. Ctrl-C reaches console processes only, and these run without one. */
const NO_SIGNALS = IS_WINDOWS && 'Windows has no catchable signals between processes (kill is TerminateProcess)';

/** Checks every child's lines: right label per stream, seq 1..n in order per stream. */
function checkSeqPerStream(t: test.Test, out: ReturnType<typeof parseParentOutput>, perStream: Record<'info' | 'error', number>): void {
  const pids = [...new Set(out.lines.map((l) => l.pid))];
  for (const pid of pids) {
    for (const kind of ['info', 'error'] as const) {
      const mine = out.lines.filter((l) => l.pid === pid && l.kind === kind);
      const stream = kind === 'info' ? 'stdout' : 'stderr';
      t.ok(mine.every((l) => l.text.includes(`writing to ${stream}`) && l.text.includes(`pid ${pid} `)),
        `pid ${pid}: every [${kind}] line came from the child's ${stream}`);
      const seqs = mine.map((l) => Number(/seq=(\d+)/.exec(l.text)?.[1]));
      t.deepEqual(seqs, Array.from({ length: perStream[kind] }, (_, i) => i + 1), `pid ${pid} ${stream}: seq 1..${perStream[kind]} in order`);
    }
  }
}

test('parent: --lines 20 with 3 children -> 60 labelled lines, order kept, 3 exits, status 0', async (t) => {
  const r = await runParent(['--lines', '20', '--max-sleep-ms', '5', '--seq']);
  const out = parseParentOutput(r.stdout);
  t.equal(r.code, 0, 'exit status 0');
  t.equal(out.lines.length, 60, '60 labelled lines');
  t.deepEqual(out.other, [], 'nothing unlabelled on stdout');
  t.equal(new Set(out.lines.map((l) => l.pid)).size, 3, 'from 3 children');
  t.equal(out.lines.filter((l) => l.text.startsWith('TS child')).length, 20, 'the middle child is the TS one');
  checkSeqPerStream(t, out, { info: 10, error: 10 });
  t.equal(out.exits.length, 3, '3 exit lines');
  t.ok(out.exits.every((e) => e.how === 'exited with code 0'), 'each: exited with code 0');
  for (const e of out.exits) {
    const lastLine = out.lines.map((l) => l.pid).lastIndexOf(e.pid);
    const allText = r.stdout.toString();
    t.ok(allText.indexOf(`[child ${e.pid}] exited`) > allText.lastIndexOf(`[child ${e.pid}][`), `pid ${e.pid}: exit reported after its last line (${lastLine})`);
  }
  t.equal(r.stderr.toString(), '', 'nothing on stderr');
});

test('parent: a 1 MiB line arrives intact, as one labelled line', async (t) => {
  const size = 1 << 20;
  const r = await runParent(['--children', '2', '--child', 'c', '--lines', '2', '--max-sleep-ms', '0', '--line-bytes', String(size), '--seq']);
  const out = parseParentOutput(r.stdout);
  t.equal(r.code, 0, 'exit status 0');
  t.equal(out.lines.length, 4, '4 lines (2 children x 2)');
  for (const l of out.lines) {
    t.equal(Buffer.byteLength(l.text) + 1, size, `[${l.pid}][${l.kind}] is ${size} bytes with its newline`);
    t.match(l.text, /seq=1\.+$/, 'its text and padding are intact');
  }
});

test('parent: a non-zero child makes the status 1; --streams and --exit-code pass through', async (t) => {
  const r = await runParent(['--children', '2', '--lines', '2', '--max-sleep-ms', '0', '--streams', 'stderr', '--exit-code', '4']);
  const out = parseParentOutput(r.stdout);
  t.equal(r.code, 1, 'exit status 1');
  t.ok(out.lines.length === 4 && out.lines.every((l) => l.kind === 'error'), 'all 4 lines labelled [error]');
  t.deepEqual(out.exits.map((e) => e.how), ['exited with code 4', 'exited with code 4'], 'exit codes reported');
});

test('parent: a command after -- runs N copies; a last line without newline is printed', async (t) => {
  const r = await runParent(['--children', '2', '--', process.execPath, '-e',
    'const fs = require("fs"); fs.writeSync(1, "one\\ntwo"); fs.writeSync(2, "oops\\n"); process.exitCode = 0;']);
  const out = parseParentOutput(r.stdout);
  t.equal(r.code, 0, 'exit status 0');
  t.equal(out.lines.filter((l) => l.kind === 'info' && l.text === 'two').length, 2, 'the unterminated "two" is printed for both children');
  t.equal(out.lines.filter((l) => l.kind === 'error' && l.text === 'oops').length, 2, 'stderr lines labelled [error]');
  t.equal(out.exits.length, 2, '2 exits');
});

test('parent: bytes are relayed unchanged (CR, NUL, invalid UTF-8)', async (t) => {
  const payload = Buffer.from([0x61, 0x0d, 0x0a, 0x00, 0x62, 0x0a, 0xff, 0xfe, 0xc3, 0x0a]);
  const r = await runParent(['--children', '1', '--', process.execPath, '-e',
    `require("fs").writeSync(1, Buffer.from(${JSON.stringify([...payload])}))`]);
  t.equal(r.code, 0, 'exit status 0');
  const label = /\[child \d+\]\[info\]: /g;
  const body = r.stdout.subarray(0, r.stdout.indexOf('[child', r.stdout.lastIndexOf(']: ')));
  const stripped = Buffer.from(body.toString('latin1').replace(label, ''), 'latin1');
  t.ok(stripped.equals(payload), `the child's bytes, labels stripped: ${stripped.toString('hex')}`);
});

/** Generous bounds for how long a stop may take, kept apart from what the stop must do:
 * measured 47-128 ms after SIGINT and 0.54-0.70 s for --duration 0.5 (from the first line)
 * on a 2-core machine with two busy loops alongside, where the whole --duration run took up
 * to 3.3 s (Node and tsx starting); the bounds are many times that. */
const STOP_BOUND_MS = 5_000;
const DURATION_BOUND_MS = 10_000;

test('parent: SIGINT -> every child ended by SIGTERM and reaped, status 130', { skip: NO_SIGNALS }, async (t) => {
  const p = start(parentArgv(['--max-sleep-ms', '200']));
  await p.waitFor('[child');
  // All three children have written at least once only when three pids were seen.
  let pids: number[] = [];
  for (let i = 0; i < 100 && pids.length < 3; i++) {
    await sleep(50);
    pids = [...new Set(parseParentOutput(p.output()).lines.map((l) => l.pid))];
  }
  t.equal(pids.length, 3, `three children running: ${pids.join(', ')}`);
  const t0 = Date.now();
  p.kill('SIGINT');
  const r = await p.done;
  const ms = Date.now() - t0;
  t.equal(r.code, 130, 'parent exit status 130');
  t.ok(pids.every((pid) => !alive(pid)), 'no child is left, not even as a zombie');
  const out = parseParentOutput(r.stdout);
  // SIGTERM, not the SIGKILL that follows the grace period: these children stop at once.
  t.deepEqual(out.exits.map((e) => `${e.pid} ${e.how}`).sort(), pids.map((pid) => `${pid} killed by SIGTERM`).sort(),
    'each child reaped and reported as ended by SIGTERM');
  t.ok(ms < STOP_BOUND_MS, `parent done ${ms} ms after SIGINT (bound ${STOP_BOUND_MS} ms)`);
  t.ok(out.other.includes('Running forever, hit CTRL-C to stop.'), 'the article\'s banner was printed');
});

test('parent: SIGTERM -> 143, SIGHUP -> 129', { skip: NO_SIGNALS }, async (t) => {
  for (const [signal, code] of [['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    const p = start(parentArgv(['--children', '1', '--child', 'c', '--max-sleep-ms', '100']));
    await p.waitFor('[child');
    p.kill(signal);
    const r = await p.done;
    t.equal(r.code, code, `${signal}: exit status ${code}`);
  }
});

test('parent: --duration stops the children with SIGTERM, status 0', async (t) => {
  const p = start(parentArgv(['--children', '2', '--child', 'c', '--max-sleep-ms', '50', '--duration', '0.5']));
  await p.waitFor('[child');
  // From the first line on, so that Node and tsx starting up on a busy machine do not count.
  const firstLine = Date.now();
  const r = await p.done;
  const ms = Date.now() - firstLine;
  const out = parseParentOutput(r.stdout);
  t.equal(r.code, 0, '--duration 0.5: status 0');
  const pids = [...new Set(out.lines.map((l) => l.pid))];
  t.equal(pids.length, 2, 'both children wrote lines before the stop');
  t.deepEqual(out.exits.map((e) => `${e.pid} ${e.how}`).sort(), pids.map((pid) => `${pid} killed by SIGTERM`).sort(),
    'both stopped by SIGTERM (they write forever otherwise) and reported');
  t.ok(r.ms >= 500, `the parent ran its 0.5 s (${r.ms} ms in all)`);
  t.ok(ms < DURATION_BOUND_MS, `and ended ${ms} ms after the first line (bound ${DURATION_BOUND_MS} ms)`);
});

test('parent: bad usage is one line naming the value, status 2; missing commands 127/126', async (t) => {
  const cases: [string[], string][] = [
    [['--children', '0'], "'0'"],
    [['--children', 'many'], "'many'"],
    [['--child', 'rust'], "'rust'"],
    [['--duration', '-1'], "'-1'"],
    [['--lines', 'x'], "'x'"],
    [['--bogus'], "'--bogus'"],
    [['--'], "'--'"],
    [['--lines', '3', '--', 'true'], '--lines'],
  ];
  for (const [args, named] of cases) {
    const r = await runParent(args);
    const msg = r.stderr.toString();
    t.equal(r.code, 2, `${args.join(' ')}: status 2`);
    t.ok(msg.trimEnd().split('\n').length === 1 && msg.includes(named), `${args.join(' ')}: one line naming ${named}: ${msg.trim()}`);
    t.equal(r.stdout.length, 0, `${args.join(' ')}: nothing started`);
  }
  const missing = await runParent(['--', 'no-such-command-4242']);
  t.equal(missing.code, 127, 'command not found: 127');
  t.match(missing.stderr.toString(), /no-such-command-4242.*not found/, `says so: ${missing.stderr.toString().trim()}`);
  const dir = mkdtempSync(join(tmpdir(), 'ipc-'));
  const file = join(dir, 'not-executable');
  writeFileSync(file, '#!/bin/sh\necho hi\n');
  chmodSync(file, 0o644);
  const denied = await runParent(['--', file]);
  t.equal(denied.code, 126, 'not executable: 126');
  t.match(denied.stderr.toString(), /not executable/, `says so: ${denied.stderr.toString().trim()}`);
  rmSync(dir, { recursive: true });
  const help = await runParent(['--help']);
  t.equal(help.code, 0, '--help: status 0');
  t.match(help.stdout.toString(), /Usage: npm start/, '--help prints the usage');
});

test('parent: --trace shows each step on stderr', async (t) => {
  const r = await runParent(['--trace', '--children', '1', '--child', 'c', '--lines', '2', '--max-sleep-ms', '0']);
  const trace = r.stderr.toString();
  for (const step of [/socketpair for stdout: read end \d+, write end \d+/, /spawned .*child_c.* as pid \d+/,
    /select\([\d,]+\) -> ready \[/, /read \d+ bytes from fd \d+/, /EOF on fd \d+/, /reaped pid \d+: code 0/]) {
    t.match(trace, step, `trace shows ${step}`);
  }
  const env = await runParent(['--children', '1', '--child', 'c', '--lines', '1', '--max-sleep-ms', '0'], {
    env: { ...process.env, DEBUG_IO_MULTIPLEXING: '1' },
  });
  t.match(env.stderr.toString(), /select\(/, 'DEBUG_IO_MULTIPLEXING=1 turns it on too');
});
