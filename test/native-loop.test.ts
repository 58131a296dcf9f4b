/**
 * `--loop native` (parent/relay-native.ts, c/loop_posix.c) against the TypeScript loop it
 * stands in for: the same bytes in, the same bytes out.
 *
 * For one stream the output is a function of its bytes alone, whatever the chunks they
 * arrive in (complete lines go out labelled, a partial line waits for its newline, the
 * last one gets a newline at the end). So the reference here is the TypeScript line
 * assembler (parent/lines.ts) fed the whole stream, and each source's lines are taken out
 * of the native loop's output by position (label, then up to the newline), which works
 * whatever bytes the lines hold. End to end, the parent is run with --loop js and with
 * --loop native on the same seeded child and the outputs are compared byte for byte.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'tape';
import { LineAssembler, OutputBatch } from '../parent/lines.ts';
import { ipc, type NativeLoopEvent } from '../parent/native.ts';
import { IS_WINDOWS, runParent } from './helpers.ts';

const SKIP = IS_WINDOWS ? 'the native loop is POSIX only (Windows runs the TypeScript loop)' : false;

/** A small seeded generator (mulberry32), so that a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A byte stream with what a relay can get wrong: empty lines, CRLF, every byte value,
 * lines longer than a read (256 KiB), and no newline at the very end. */
function trickyStream(seed: number, bytes: number): Buffer {
  const r = random(seed);
  const parts: Buffer[] = [];
  let size = 0;
  while (size < bytes) {
    const pick = r();
    let part: Buffer;
    if (pick < 0.1) part = Buffer.from('\n');
    else if (pick < 0.2) part = Buffer.from('crlf line\r\n');
    else if (pick < 0.3) part = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 300) }, () => Math.floor(r() * 256)));
    else if (pick < 0.32) part = Buffer.alloc(300 * 1024 + Math.floor(r() * 100_000), 0x61 + Math.floor(r() * 26));
    else part = Buffer.from(`line ${size} ${'x'.repeat(Math.floor(r() * 120))}\n`);
    parts.push(part);
    size += part.length;
  }
  parts.push(Buffer.from('no newline at the end'));
  return Buffer.concat(parts);
}

/** What the TypeScript loop makes of one whole stream. */
function reference(stream: Buffer, label: Buffer): Buffer {
  const batch = new OutputBatch();
  const assembler = new LineAssembler(label);
  assembler.push(stream, batch);
  assembler.end(batch);
  return Buffer.from(batch.take().data);
}

/** Splits a relay's output into each label's lines, by position. */
function perLabel(output: Buffer, labels: readonly Buffer[]): Map<string, Buffer[]> {
  const by = new Map<string, Buffer[]>(labels.map((l) => [l.toString('latin1'), []]));
  let at = 0;
  while (at < output.length) {
    const label = labels.find((l) => output.subarray(at, at + l.length).equals(l));
    if (label === undefined) throw new Error(`byte ${at}: no label starts here`);
    const nl = output.indexOf(0x0a, at + label.length);
    if (nl === -1) throw new Error(`byte ${at}: a line without its newline`);
    by.get(label.toString('latin1'))!.push(output.subarray(at, nl + 1));
    at = nl + 1;
  }
  return by;
}

/** Writes `data` into fd in pieces of random sizes, pausing now and then, so that lines
 * arrive cut at every kind of place. */
async function feed(fd: number, data: Buffer, seed: number): Promise<void> {
  const r = random(seed);
  let at = 0;
  while (at < data.length) {
    const n = Math.min(data.length - at, 1 + Math.floor(r() * (r() < 0.5 ? 64 : 70_000)));
    const wrote = ipc.write(fd, data.subarray(at, at + n));
    if (wrote > 0) at += wrote;
    else await new Promise((resolve) => setTimeout(resolve, 1));
    if (r() < 0.02) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  ipc.close(fd);
}

/** Reads a non-blocking pipe until end of file. */
async function drain(fd: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 20);
  for (;;) {
    const n = ipc.read(fd, buf);
    if (n === 0) break;
    if (n > 0) chunks.push(Buffer.from(buf.subarray(0, n)));
    else await ipc.select([fd], 1000);
  }
  ipc.close(fd);
  return Buffer.concat(chunks);
}

test('native loop, in process: 3 sources of tricky bytes in random pieces, each relayed exactly as the TypeScript loop relays it', { skip: SKIP }, async (t) => {
  const { loopStart, loopAdd, loopAppend, loopFinish, loopJoin } = ipc;
  if (!loopStart || !loopAdd || !loopAppend || !loopFinish || !loopJoin) {
    t.fail('the addon has no native loop');
    return;
  }
  for (const seed of [1, 2, 3]) {
    const [outRead, outWrite] = ipc.pipe();
    ipc.setNonBlocking(outRead);
    const ends: number[] = [];
    let finished: () => void = () => {};
    const done = new Promise<void>((resolve) => (finished = resolve));
    const events: NativeLoopEvent[] = [];
    const loop = loopStart(outWrite, (batch) => {
      events.push(...batch);
      if (batch.some((e) => e.kind === 'finished')) finished();
    });
    const labels = [0, 1, 2].map((i) => Buffer.from(`[source ${i}][info]: `));
    const streams = [0, 1, 2].map((i) => trickyStream(seed * 10 + i, 600_000 + i * 200_000));
    const feeds: Promise<void>[] = [];
    for (let i = 0; i < 3; i++) {
      const [readEnd, writeEnd] = ipc.socketpair();
      ipc.setNonBlocking(writeEnd);
      loopAdd(loop, readEnd, labels[i]!);
      ends.push(readEnd);
      feeds.push(feed(writeEnd, streams[i]!, seed * 100 + i));
    }
    const output = drain(outRead);
    await Promise.all(feeds);
    while (events.filter((e) => e.kind === 'end').length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    loopAppend(loop, Buffer.from('[source 0][info]: the last line, appended\n'));
    loopFinish(loop);
    await done;
    loopJoin(loop);
    ipc.close(outWrite);
    const out = await output;
    const by = perLabel(out, labels);
    for (let i = 0; i < 3; i++) {
      const got = Buffer.concat(by.get(labels[i]!.toString('latin1'))!);
      const want = reference(streams[i]!, labels[i]!);
      const expected = i === 0 ? Buffer.concat([want, Buffer.from('[source 0][info]: the last line, appended\n')]) : want;
      t.ok(got.equals(expected), `seed ${seed}, source ${i}: ${got.length} bytes, the same as the TypeScript line assembler's ${expected.length}`);
    }
    t.deepEqual(
      events.filter((e) => e.kind === 'end').map((e) => (e.kind === 'end' ? `${e.fd}:${e.eof}` : '')).sort(),
      ends.map((fd) => `${fd}:true`).sort(),
      `seed ${seed}: each source ended once, at end of file`,
    );
  }
});

test('native loop, in process: loopClose takes what a source holds, ends its partial line and closes it', { skip: SKIP }, async (t) => {
  const { loopStart, loopAdd, loopClose, loopFinish, loopJoin, loopQuietMs } = ipc;
  if (!loopStart || !loopAdd || !loopClose || !loopFinish || !loopJoin || !loopQuietMs) {
    t.fail('the addon has no native loop');
    return;
  }
  const [outRead, outWrite] = ipc.pipe();
  ipc.setNonBlocking(outRead);
  const events: NativeLoopEvent[] = [];
  const loop = loopStart(outWrite, (batch) => events.push(...batch));
  const [readEnd, writeEnd] = ipc.socketpair();
  loopAdd(loop, readEnd, Buffer.from('[s]: '));
  ipc.write(writeEnd, Buffer.from('one\ntwo, not ended'));
  const deadline = Date.now() + 10_000;
  // The thread read the bytes at once; nothing arrives after them.
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.ok(loopQuietMs(loop, readEnd) >= 50, `quiet time grows while nothing arrives (${loopQuietMs(loop, readEnd)} ms after 100 ms)`);
  loopClose(loop, readEnd);
  while (!events.some((e) => e.kind === 'end') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(loopQuietMs(loop, readEnd), -1, 'an ended source has no quiet time (-1)');
  // The writer's end is still open: the loop closed its read end without end of file.
  t.deepEqual(events.filter((e) => e.kind === 'end').map((e) => (e.kind === 'end' ? e.eof : null)), [false], 'one end event, not at end of file');
  loopFinish(loop);
  while (!events.some((e) => e.kind === 'finished') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  loopJoin(loop);
  ipc.close(outWrite);
  ipc.close(writeEnd);
  t.equal((await drain(outRead)).toString(), '[s]: one\n[s]: two, not ended\n', 'the held partial line went out with a newline added');
});

test('native loop, in process: a reader that went away is one output-error event (EPIPE), and the loop still finishes', { skip: SKIP }, async (t) => {
  const { loopStart, loopAdd, loopFinish, loopJoin } = ipc;
  if (!loopStart || !loopAdd || !loopFinish || !loopJoin) {
    t.fail('the addon has no native loop');
    return;
  }
  const [outRead, outWrite] = ipc.pipe();
  ipc.close(outRead);
  const events: NativeLoopEvent[] = [];
  const loop = loopStart(outWrite, (batch) => events.push(...batch));
  const [readEnd, writeEnd] = ipc.socketpair();
  loopAdd(loop, readEnd, Buffer.from('[s]: '));
  ipc.write(writeEnd, Buffer.from('a line\n'.repeat(1000)));
  ipc.close(writeEnd);
  const deadline = Date.now() + 10_000;
  while (!events.some((e) => e.kind === 'end') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  loopFinish(loop);
  while (!events.some((e) => e.kind === 'finished') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  loopJoin(loop);
  ipc.close(outWrite);
  const errors = events.filter((e) => e.kind === 'output-error');
  t.equal(errors.length, 1, 'one output-error event');
  t.equal(errors[0]?.kind === 'output-error' ? errors[0].error.code : null, 'EPIPE', 'EPIPE, as write(2) reported it');
  t.ok(events.some((e) => e.kind === 'finished'), 'finished all the same');
});

/** A child that writes a seeded tricky stream to stdout in random pieces with pauses. */
const WRITER = `
const [seed, bytes] = process.argv.slice(2).map(Number);
let a = seed >>> 0;
const r = () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const { writeSync } = require('node:fs');
const parts = [];
let size = 0;
while (size < bytes) {
  const p = r();
  let b;
  if (p < 0.1) b = Buffer.from('\\n');
  else if (p < 0.2) b = Buffer.from('crlf\\r\\n');
  else if (p < 0.3) b = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 300) }, () => Math.floor(r() * 256)));
  else if (p < 0.31) b = Buffer.alloc(300000, 0x62);
  else b = Buffer.from('line ' + size + ' ' + 'y'.repeat(Math.floor(r() * 120)) + '\\n');
  parts.push(b);
  size += b.length;
}
parts.push(Buffer.from('tail without newline'));
const all = Buffer.concat(parts);
let at = 0;
const step = () => {
  for (let k = 0; k < 20 && at < all.length; k++) {
    const n = Math.min(all.length - at, 1 + Math.floor(r() * 50000));
    at += writeSync(1, all, at, n);
  }
  if (at < all.length) setTimeout(step, Math.floor(r() * 3));
};
step();
`;

test('native loop, end to end: --loop js and --loop native print the same bytes for the same child (every variant)', { skip: SKIP }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'native-loop-'));
  const writer = join(dir, 'writer.cjs');
  writeFileSync(writer, WRITER);
  try {
    for (const variant of ['socketpair', 'pipe-thread', 'posix']) {
      const outputs: string[] = [];
      for (const loop of ['js', 'native']) {
        const r = await runParent(['--variant', variant, '--loop', loop, '--children', '1', '--', process.execPath, writer, '7', '2000000'], { timeoutMs: 120_000 });
        t.equal(r.code, 0, `${variant}, --loop ${loop}: status 0 (stderr: ${r.stderr.toString().trim() || 'empty'})`);
        // Only the child's PID differs between the two runs.
        const pid = /^\[child (\d+)\] exited/m.exec(r.stdout.toString('latin1'))?.[1] ?? 'none';
        outputs.push(r.stdout.toString('latin1').replaceAll(`[child ${pid}]`, '[child PID]'));
      }
      t.ok(outputs[0]!.length > 2_000_000, `${variant}: ${outputs[0]!.length} bytes relayed`);
      t.ok(outputs[0] === outputs[1], `${variant}: the two loops' outputs are byte for byte the same`);
      t.ok(outputs[1]!.endsWith('tail without newline\n[child PID] exited with code 0\n'), `${variant}: the partial last line, then the exit line, last`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--loop: a bad value, and native where it cannot run, are one line each, status 2, nothing started', { skip: SKIP }, async (t) => {
  const bad = await runParent(['--loop', 'fast', '--children', '1', '--', 'true']);
  t.equal(bad.code, 2, '--loop fast: status 2');
  t.match(bad.stderr.toString(), /invalid value for --loop: 'fast' \(expected auto, js or native\)/, 'names the value and the choices');
  const traced = await runParent(['--loop', 'native', '--trace', '--children', '1', '--', 'true']);
  t.equal(traced.code, 2, '--loop native --trace: status 2');
  t.match(traced.stderr.toString(), /--loop native: --trace shows the TypeScript loop's steps/, 'says why');
  t.equal(traced.stdout.length, 0, 'nothing printed on stdout: nothing started');
  const libuv = await runParent(['--loop', 'native', '--variant', 'libuv', '--children', '1', '--', 'true']);
  t.equal(libuv.code, 2, '--loop native --variant libuv: status 2');
  t.match(libuv.stderr.toString(), /--loop native: the libuv variant has no select\(\) loop/, 'says why');
});

test('Windows: --loop native is refused in one line (the native loop is POSIX only), and auto runs the TypeScript loop', { skip: !IS_WINDOWS && 'Windows only (npm run test:wine)' }, async (t) => {
  const refused = await runParent(['--loop', 'native', '--children', '1', '--lines', '2', '--max-sleep-ms', '0'], { timeoutMs: 120_000 });
  t.equal(refused.code, 2, 'status 2');
  t.match(refused.stderr.toString(), /--loop native: the native loop is not built for win32 \(POSIX only\)/, 'says why');
  t.equal(refused.stdout.length, 0, 'nothing started');
  const auto = await runParent(['--children', '1', '--lines', '2', '--max-sleep-ms', '0'], { timeoutMs: 120_000 });
  t.equal(auto.code, 0, 'the default (auto) runs: status 0');
  t.equal((auto.stdout.toString().match(/\]\[(info|error)\]: /g) ?? []).length, 2, 'both lines relayed');
});
