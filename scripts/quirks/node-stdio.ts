/**
 * Quirk 16: a Node child's own stdout. A small script (written to a temporary file, run by
 * this same Node) is started by the project's ipc.spawn with a socket as stdout, as the
 * parent starts the TypeScript child. It probes process.stdout, and (POSIX) writes several
 * MB either through process.stdout or with fs.writeSync and then calls process.exit while
 * the reader is still pausing.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ipc, signalNumber } from '../../parent/native.ts';
import { measuredBy, newShown, type Quirk, side, value } from './quirk.ts';

const TOTAL_BYTES = 4 * 1024 * 1024;
const READER_PAUSE_MS = 300;
const WINDOWS_SYNC_BYTES = 1024 * 1024;
const LIMIT_MS = 30_000;

/** The child. probe: which of the two ways to write to fd 1 works; async/sync: TOTAL bytes
 * through process.stdout.write or fs.writeSync, then process.exit at once. */
const CHILD_SCRIPT = `'use strict';
const fs = require('fs');
const mode = process.argv[2];
const total = Number(process.argv[3]);
function writeAll(buf) {
  for (let off = 0; off < buf.length; ) {
    try { off += fs.writeSync(1, buf, off); } catch (e) {
      if (e.code === 'EAGAIN') continue;
      // Reported beside the script: stdout and stderr are the socket that just failed.
      fs.writeFileSync(require('path').join(__dirname, 'write-error.txt'), (e.code || '') + ' ' + e.message);
      process.exit(4);
    }
  }
}
if (mode === 'probe') {
  let result = 'worked';
  try { process.stdout.write('written with process.stdout.write\\n'); } catch (e) { result = 'threw ' + (e.code || e.message); }
  writeAll(Buffer.from('process.stdout.write: ' + result + '\\nfs.writeSync(1): worked\\n'));
} else {
  const chunk = Buffer.alloc(64 * 1024, 0x2e);
  for (let n = 0; n < total; n += chunk.length) {
    if (mode === 'async') process.stdout.write(chunk);
    else writeAll(chunk);
  }
  process.exit(0);
}
`;

/** Runs the script; everything its stdout/stderr delivered, read after pauseMs, until end of stream. */
async function runScript(script: string, args: string[], pauseMs: number): Promise<{ bytes: Buffer; code: string }> {
  const [r, w] = ipc.socketpair();
  const pid = ipc.spawn([process.execPath, script, ...args], { stdout: w, stderr: w });
  ipc.close(w);
  ipc.setNonBlocking(r);
  const got: Buffer[] = [];
  const buf = Buffer.alloc(256 * 1024);
  const t0 = performance.now();
  let open = true;
  try {
    await sleep(pauseMs);
    while (open && performance.now() - t0 < LIMIT_MS) {
      if ((await ipc.select([r], 200)).length === 0) continue;
      for (;;) {
        const n = ipc.read(r, buf);
        if (n === 0) open = false;
        if (n <= 0) break;
        got.push(Buffer.from(buf.subarray(0, n)));
      }
    }
  } finally {
    ipc.close(r);
  }
  let st = ipc.wait(pid);
  for (let i = 0; st === null && i < 250; i++) {
    if (i === 200) ipc.kill(pid, signalNumber('SIGKILL'));
    await sleep(20);
    st = ipc.wait(pid);
  }
  return { bytes: Buffer.concat(got), code: st === null ? 'running' : st.signal !== null ? `signal ${st.signal}` : String(st.code) };
}

export const quirk: Quirk = {
  order: 16,
  id: 'node-stdio',
  title: "Node's own stdout: asynchronous on POSIX pipes and sockets, unusable on a Windows socket",
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'partly',
  observed: {
    linux: measuredBy('node-stdio', 'process.stdout.write then process.exit loses queued bytes; fs.writeSync loses none'),
    wine: measuredBy('node-stdio', 'process.stdout throws EBADF on a socket; fs.writeSync works'),
    windows: { kind: 'documented', source: 'nodejs/help#2342 (a socket as stdin: EINVAL from uv_pipe_open); as stdout, never observed' },
    macos: { kind: 'documented', source: 'Node.js docs, "A note on process I/O" (pipes and sockets asynchronous on POSIX)' },
  },
  doc: {
    problem:
      'A Node child that writes with `process.stdout.write` to a pipe or socket on POSIX and then calls `process.exit()` loses whatever ' +
      'was still queued: with a reader slower than the child, most of a few MB never arrives. On Windows Node cannot wrap a socket ' +
      'handle as `process.stdout` at all: the first use throws (`EINVAL` from uv_pipe_open), so a Node child started with the ' +
      "article's socket pairs dies before its first line.",
    why:
      "Node's stdout to pipes and sockets is asynchronous on POSIX (Node docs, \"A note on process I/O\"): writes the kernel does not " +
      'take at once wait in libuv\'s queue, which `process.exit()` does not drain. On Windows libuv opens a std handle as a named pipe, and a socket is not one.',
    platforms: 'POSIX (asynchronous pipes and sockets); Windows (socket std handles).',
    handled:
      'child/child.ts writes only with `fs.writeSync(1|2, ...)` (synchronous, works on sockets everywhere) and never touches ' +
      '`process.stdout`; parent/children.ts `childArgv` runs the compiled child on Windows because tsx\'s loader opens process.stdout.',
    source: 'Node.js docs, process: "A note on process I/O"; nodejs/help#2342 (EINVAL from uv_pipe_open with a socket as *stdin* on Windows: the same cause, the other stream).',
    alsoGuardedBy: 'children `the article\'s line format` and variants `... x ts child: 3 x 20 lines` (the TS child under every variant) in test/children.test.ts and test/variants.test.ts',
    wineNote:
      'Under Wine process.stdout fails with EBADF instead of EINVAL (SetNamedPipeHandleState fails on a socket); fs.writeSync works. ' +
      'But when the child filled the socket while the reader paused (4 MiB, 300 ms), Wine sometimes failed fs.writeSync with ECONNRESET ' +
      'or lost the last 64 KiB at exit, so on Windows the demonstration reads without pausing (1 MiB).',
  },
  async show(ctx) {
    const shown = newShown();
    const dir = mkdtempSync(join(tmpdir(), 'ipc-quirk-node-stdio-'));
    const script = join(dir, 'node-stdio-child.cjs');
    try {
      writeFileSync(script, CHILD_SCRIPT);
      const probe = await runScript(script, ['probe'], 0);
      const text = probe.bytes.toString('utf8');
      const p = side(shown, ctx.platform === 'win32' ? 'wrong' : 'info', 'a Node child started by ipc.spawn with a socket as stdout');
      for (const line of text.split('\n').filter((l) => l !== '')) p.push(line);
      p.push(`exit status ${probe.code}`);
      const m = /process\.stdout\.write: (worked|threw (\S+))/.exec(text);
      shown.values.probe_stdout = m ? (m[2] ?? 'worked') : 'no report';
      shown.values.probe_writesync = /fs\.writeSync\(1\): worked/.test(text) ? 'worked' : 'no report';
      if (ctx.platform !== 'win32') {
        const asyncRun = await runScript(script, ['async', String(TOTAL_BYTES)], READER_PAUSE_MS);
        const a = side(shown, 'wrong', 'process.stdout.write, then process.exit(), reader pausing');
        a.push(`wrote ${TOTAL_BYTES} bytes, the reader received ${asyncRun.bytes.length} (exit status ${asyncRun.code})`);
        shown.values.async_received = String(asyncRun.bytes.length);
      } else {
        shown.notes.push('the process.stdout.write loss is not shown on Windows: process.stdout cannot be used on the socket at all');
      }
      // On Windows the reader does not pause: under Wine a writer that fills the socket while
      // the reader waits sometimes got ECONNRESET, or lost its last bytes at exit (see wineNote).
      const syncBytes = ctx.platform === 'win32' ? WINDOWS_SYNC_BYTES : TOTAL_BYTES;
      const syncPause = ctx.platform === 'win32' ? 0 : READER_PAUSE_MS;
      const syncRun = await runScript(script, ['sync', String(syncBytes)], syncPause);
      const s = side(shown, 'right', 'fs.writeSync(1, ...), then process.exit() (what child/child.ts does)');
      s.push(`wrote ${syncBytes} bytes, the reader (starting after ${syncPause} ms) received ${syncRun.bytes.length} (exit status ${syncRun.code})`);
      // Anything but the dots is the child's own error report (its stderr is the same socket).
      const errorFile = join(dir, 'write-error.txt');
      if (existsSync(errorFile)) {
        s.push(`fs.writeSync failed in the child: ${readFileSync(errorFile, 'utf8')}`);
        shown.values.sync_write_error = readFileSync(errorFile, 'utf8').split(' ')[0]!;
      }
      const said = syncRun.bytes.toString('latin1').replace(/\.+/g, '').trim();
      if (said !== '') s.push(`the child also wrote: ${said.split('\n').slice(0, 3).join(' | ').slice(0, 300)}`);
      shown.values.sync_exit = syncRun.code;
      shown.values.sync_received = String(syncRun.bytes.length);
      shown.values.total = String(TOTAL_BYTES);
      shown.values.sync_total = String(syncBytes);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return shown;
  },
  verify(t, shown, ctx) {
    t.equal(value(shown, 'probe_writesync'), 'worked', 'fs.writeSync(1) works on a socket stdout');
    if (ctx.platform === 'win32') {
      const got = value(shown, 'probe_stdout');
      const expected = ctx.underWine ? 'EBADF' : 'EINVAL';
      if (ctx.underWine) t.comment(`under Wine process.stdout.write threw ${got} (Windows: EINVAL from uv_pipe_open)`);
      t.ok(got === expected || (ctx.underWine && got === 'EINVAL'), `process.stdout.write on a socket throws (${got})`);
    } else {
      t.equal(value(shown, 'probe_stdout'), 'worked', 'on POSIX process.stdout.write works on a socket');
      const received = Number(value(shown, 'async_received'));
      const total = Number(value(shown, 'total'));
      t.ok(received < total, `process.stdout.write + process.exit lost output: ${received} of ${total} bytes arrived`);
    }
    const syncTotal = Number(value(shown, 'sync_total'));
    t.equal(Number(value(shown, 'sync_received')), syncTotal, `fs.writeSync + process.exit: all ${syncTotal} bytes arrived`);
  },
};
