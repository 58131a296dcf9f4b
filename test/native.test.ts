/**
 * The addon's primitives, one article step at a time: socket pairs (native and the
 * loopback emulation Windows uses), non-blocking reads, select, spawn, wait, kill.
 */
import { spawnSync } from 'node:child_process';
import test from 'tape';
import { ipc, isNativeError, signalName, signalNumber } from '../parent/native.ts';
import { sleep } from './helpers.ts';

const IS_WINDOWS = process.platform === 'win32';

/** Reads until `want` bytes or end of stream, waiting with select() in between. */
async function readExactly(fd: number, want: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  const buf = Buffer.alloc(65536);
  while (got < want) {
    await ipc.select([fd], 5000);
    const n = ipc.read(fd, buf);
    if (n === 0) break;
    if (n > 0) {
      parts.push(Buffer.from(buf.subarray(0, n)));
      got += n;
    }
  }
  return Buffer.concat(parts);
}

/** Writes everything through a non-blocking descriptor, yielding while it is full. */
async function writeAll(fd: number, data: Buffer): Promise<void> {
  ipc.setNonBlocking(fd);
  for (let off = 0; off < data.length; ) {
    const n = ipc.write(fd, data.subarray(off));
    if (n > 0) off += n;
    else await sleep(1);
  }
}

/** Asserts that fn throws a native error with this code, and returns it (null if fn did
 * not throw, after failing the test). */
function expectError(t: test.Test, fn: () => unknown, code: string, what: string): { code?: string; path?: string } | null {
  try {
    fn();
  } catch (e) {
    t.ok(isNativeError(e), `${what}: a native error`);
    t.equal((e as { code?: string }).code, code, `${what}: code ${code} (${(e as Error).message})`);
    return e as { code?: string; path?: string };
  }
  t.fail(`${what}: expected ${code}, but it succeeded`);
  return null;
}

/** Polls wait() until the child has exited; null if it is still running after limitMs. */
async function waitForExit(pid: number, limitMs = 10_000): Promise<ReturnType<typeof ipc.wait>> {
  const until = Date.now() + limitMs;
  let status = ipc.wait(pid);
  while (status === null && Date.now() < until) {
    await sleep(10);
    status = ipc.wait(pid);
  }
  return status;
}

for (const emulate of [false, true]) {
  const kind = emulate ? 'emulated (loopback) socketpair' : 'native socketpair';

  test(`${kind}: bytes both ways, then end-of-stream on close`, async (t) => {
    const [a, b] = ipc.socketpair({ emulate });
    t.notEqual(a, b, `two descriptors: ${a}, ${b}`);
    const payload = Buffer.alloc(200_000, 'x');
    payload.write('hello from a', 0);
    ipc.setNonBlocking(b);
    const [got] = await Promise.all([readExactly(b, payload.length), writeAll(a, payload)]);
    t.ok(got.equals(payload), 'a -> b: 200,000 bytes arrive unchanged');
    await writeAll(b, Buffer.from('reply'));
    t.equal((await readExactly(a, 5)).toString(), 'reply', 'b -> a: bytes arrive');
    t.equal(ipc.read(b, Buffer.alloc(16)), -1, 'an empty non-blocking socket reads -1 (would block)');
    ipc.close(a);
    await ipc.select([b], 5000);
    t.equal(ipc.read(b, Buffer.alloc(16)), 0, 'after the peer closes: 0 (end of stream)');
    ipc.close(b);
  });
}

test('emulated socketpair: a foreign process connecting first is detected, not paired', (t) => {
  let raced = '';
  try {
    ipc.socketpair({
      emulate: true,
      beforeConnect: (port) => {
        // Another process connects to the listener before the pair's own connector.
        const r = spawnSync(process.execPath, [
          '-e',
          `require('net').connect(${port}, '127.0.0.1', () => process.exit(0));`,
        ]);
        raced = `intruder exited ${r.status}`;
      },
    });
    t.fail('the pair was returned although a stranger connected first');
  } catch (e) {
    t.equal((e as { code?: string }).code, 'ECONNABORTED', `refused with ECONNABORTED: ${(e as Error).message}`);
  }
  t.equal(raced, 'intruder exited 0', 'the intruder did connect');
  // And without an intruder the emulation still works afterwards.
  const pair = ipc.socketpair({ emulate: true });
  for (const fd of pair) ipc.close(fd);
  t.end();
});

test('select: returns the readable subset, honours its timeout, can be woken', async (t) => {
  const [a, b] = ipc.socketpair();
  const [c, d] = ipc.socketpair();
  const t0 = Date.now();
  t.deepEqual(await ipc.select([b, d], 100), [], 'nothing written: times out with nothing ready');
  t.ok(Date.now() - t0 >= 90, `waited for the timeout (${Date.now() - t0} ms)`);
  ipc.write(c, Buffer.from('x'));
  t.deepEqual(await ipc.select([b, d], 1000), [d], 'only the written one is ready');
  // Off the main thread: a timer due long before select's timeout fires before select
  // returns. A select that blocked the event loop would settle first (its promise resolves
  // in a microtask, ahead of any timer), however slow the machine.
  const order: string[] = [];
  const timed = ipc.select([b], 300).then(() => order.push('select returned'));
  setTimeout(() => order.push('timer fired'), 20);
  await timed;
  t.deepEqual(order, ['timer fired', 'select returned'], 'a timer fired while select waited (it runs off the main thread)');
  const [wr, ww] = ipc.socketpair();
  const pending = ipc.select([b, wr], -1);
  setTimeout(() => ipc.write(ww, Buffer.from([1])), 50);
  t.deepEqual(await pending, [wr], 'a select without timeout is woken by a byte on the wakeup pair');
  for (const fd of [a, b, c, d, wr, ww]) ipc.close(fd);
  t.equal(typeof ipc.FD_SETSIZE, 'number', `FD_SETSIZE is exported (${ipc.FD_SETSIZE})`);
});

test('select: beyond FD_SETSIZE, Windows refuses (a count limit) and POSIX falls back to poll()', async (t) => {
  if (IS_WINDOWS) {
    const fds = Array.from({ length: ipc.FD_SETSIZE + 1 }, () => 1);
    await ipc.select(fds, 0).then(
      () => t.fail('accepted more sockets than FD_SETSIZE'),
      (e: Error) => t.match(e.message, /FD_SETSIZE \(\d+\)/, `refused before FD_SET could overrun: ${e.message}`),
    );
    return;
  }
  // Open pairs until descriptor numbers pass FD_SETSIZE; FD_SET on those would overrun.
  const pairs: [number, number][] = [];
  while (pairs.length === 0 || pairs[pairs.length - 1]![1] < ipc.FD_SETSIZE + 4) pairs.push(ipc.socketpair());
  const [high, highPeer] = pairs[pairs.length - 1]!;
  const [low, lowPeer] = pairs[0]!;
  t.ok(high >= ipc.FD_SETSIZE, `descriptor ${high} is past FD_SETSIZE (${ipc.FD_SETSIZE})`);
  ipc.write(highPeer, Buffer.from('x'));
  t.deepEqual(await ipc.select([low, high], 1000), [high], 'the high descriptor is reported readable (poll path)');
  ipc.write(lowPeer, Buffer.from('y'));
  t.deepEqual(await ipc.select([low, high], 1000), [low, high], 'and both, once the low one has data too');
  for (const [a, b] of pairs) {
    ipc.close(a);
    ipc.close(b);
  }
});

test('native argument checks say what is wrong', (t) => {
  t.throws(() => ipc.read(-1, Buffer.alloc(1)), /fd must be a descriptor/, 'read(-1)');
  t.throws(() => ipc.spawn([], { stdout: 1, stderr: 2 }), /argv must be a non-empty array/, 'spawn([])');
  t.throws(() => ipc.spawn(['a\0b'], { stdout: 1, stderr: 2 }), /must not contain a NUL/, 'NUL in an argument');
  t.throws(() => ipc.spawn(['x'], { stdout: 1 } as never), /options.stderr is required/, 'stderr missing');
  t.end();
});

test('spawn: missing program -> ENOENT with the path; wait and kill report exits', async (t) => {
  const [r, w] = ipc.socketpair();
  const missing = expectError(t, () => ipc.spawn(['no-such-program-4242'], { stdout: w, stderr: w }), 'ENOENT', 'missing program');
  t.equal(missing?.path, 'no-such-program-4242', 'the error names the program');
  const node = process.execPath;
  const pid = ipc.spawn([node, '-e', 'process.exitCode = 5'], { stdout: w, stderr: w });
  t.ok(Number.isInteger(pid) && pid > 0, `spawn returned a pid (${pid})`);
  t.deepEqual(await waitForExit(pid), { code: 5, signal: null }, 'exit code 5 reported');
  const sleeper = ipc.spawn([node, '-e', 'setTimeout(() => {}, 60000)'], { stdout: w, stderr: w });
  t.equal(ipc.wait(sleeper), null, 'a running child: wait() returns null at once');
  ipc.kill(sleeper, signalNumber('SIGTERM'));
  const killed = await waitForExit(sleeper);
  t.equal(killed && killed.signal !== null ? signalName(killed.signal) : JSON.stringify(killed), 'SIGTERM', 'killed by SIGTERM');
  ipc.close(r);
  ipc.close(w);
});

test('spawn: cwd and env reach the child; a bad cwd is named', async (t) => {
  const [r, w] = ipc.socketpair();
  const dir = IS_WINDOWS ? process.env.SystemRoot ?? 'C:\\Windows' : '/tmp';
  const pid = ipc.spawn([process.execPath, '-e', 'require("fs").writeSync(1, process.cwd() + "|" + process.env.IPC_PROBE)'], {
    stdout: w,
    stderr: w,
    cwd: dir,
    env: [`IPC_PROBE=probe-value`, `PATH=${process.env.PATH ?? ''}`, ...(process.env.SYSTEMROOT ? [`SYSTEMROOT=${process.env.SYSTEMROOT}`] : [])],
  });
  ipc.close(w);
  ipc.setNonBlocking(r);
  const got = (await readExactly(r, 1 << 20)).toString();
  t.equal(got.toLowerCase(), `${dir}|probe-value`.toLowerCase(), `child saw cwd and env: ${got}`);
  t.deepEqual(await waitForExit(pid), { code: 0, signal: null }, 'and exited 0');
  const [r2, w2] = ipc.socketpair();
  expectError(t, () => ipc.spawn([process.execPath, '-e', '0'], { stdout: w2, stderr: w2, cwd: '/no/such/dir' }), 'ENOENT', 'bad cwd');
  for (const fd of [r, r2, w2]) ipc.close(fd);
});

// No Windows port: under Wine 8 GetProcessHandleCount reports 0 for every process (measured
// with the addon's processInfo), so a handle count could not be checked here.
const NO_HANDLE_COUNT = process.platform !== 'linux' &&
  (IS_WINDOWS ? 'reads /proc; no Windows port: under Wine 8 GetProcessHandleCount reports 0 for every process (quirk inherited-write-end checks the consequence, end of stream)' : 'reads /proc: Linux only');
test('spawn: the child holds exactly descriptors 0, 1 and 2', { skip: NO_HANDLE_COUNT }, async (t) => {
  // Plenty of descriptors open in the parent, none of which may leak.
  const extra = [ipc.socketpair(), ipc.socketpair({ emulate: true })];
  const [r, w] = ipc.socketpair();
  const pid = ipc.spawn(['/bin/sh', '-c', 'ls /proc/$$/fd'], { stdout: w, stderr: w });
  ipc.close(w);
  ipc.setNonBlocking(r);
  // ls lists the shell's descriptors (its own directory handle is not among them).
  const got = (await readExactly(r, 1 << 20)).toString().trim().split(/\s+/).join(' ');
  t.equal(got, '0 1 2', `the child's /proc/self/fd: ${got}`);
  t.deepEqual(await waitForExit(pid), { code: 0, signal: null }, 'the shell exited 0');
  ipc.close(r);
  for (const [a, b] of extra) {
    ipc.close(a);
    ipc.close(b);
  }
});

test('quoteCommandLine: the MSVCRT rules, table-driven', (t) => {
  const cases: [string[], string][] = [
    [['prog', 'plain'], 'prog plain'],
    [['prog', 'a b'], 'prog "a b"'],
    [['prog', '"quoted"'], 'prog "\\"quoted\\""'],
    [['prog', 'back\\slash\\'], 'prog back\\slash\\'],
    [['prog', 'trail\\ x\\'], 'prog "trail\\ x\\\\"'],
    [['prog', ''], 'prog ""'],
    [['prog', 'tab\there'], 'prog "tab\there"'],
    [['prog', 'x""y'], 'prog "x\\"\\"y"'],
    [['prog', 'a\\\\"b'], 'prog "a\\\\\\\\\\"b"'],
    [['prog', 'μs-ünïcode'], 'prog μs-ünïcode'],
    [['prog', '%PATH%', '$HOME', '*'], 'prog %PATH% $HOME *'],
  ];
  for (const [argv, want] of cases) t.equal(ipc.quoteCommandLine(argv), want, JSON.stringify(argv.slice(1)));
  t.end();
});
