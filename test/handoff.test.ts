/**
 * The socket handoff (docs/handoff.md): a master listening on 127.0.0.1 hands each
 * connection to a worker process, by the libuv guide's technique (send: SCM_RIGHTS over a
 * socket pair, round-robin over long-lived workers), the Winsock FAQ's (inherit: a new
 * worker per connection, the socket inherited at its number) or Node's own (libuv:
 * subprocess.send(msg, socket), TS workers). Linux: the Windows side (send with C
 * workers, and the refusals) is test/handoff-win.test.ts, run under Wine.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import test from 'tape';
import { handoffNative, ipc, isNativeError } from '../parent/native.ts';
import { clients, handoffArgv, killedWorker, RUN_TIMEOUT_MS, startMaster, type Master } from './handoff-clients.ts';
import { alive, run, sleep } from './helpers.ts';

const LINUX = process.platform === 'linux';
const SKIP = LINUX ? false : 'Linux only (Windows: test/handoff-win.test.ts)';
function descriptorCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The count once it stops moving (three equal samples 100 ms apart, 5 s at most): the
 * master closes a handed-over socket when its send completes, a moment after the client
 * got its answer. Seen in a full run: libuv's count taken too early was 33, then 32. */
async function settledDescriptorCount(pid: number): Promise<number> {
  let last = descriptorCount(pid);
  for (let same = 0, i = 0; same < 2 && i < 50; i++) {
    await sleep(100);
    const now = descriptorCount(pid);
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** Waits (generously) until the master printed `count` lines matching `pattern`. */
async function waitForLines(master: Master, pattern: RegExp, count: number, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  while ((seen = (master.run.output().toString().match(pattern) ?? []).length) < count && Date.now() < deadline) await sleep(50);
  return seen;
}

const SERVED_LINE = /\]\[info\]: served 127\.0\.0\.1:\d+ \(1 lines\)\n/g;
const EXIT_LINE = /^\[worker \d+\] exited with code 0\n/gm;

function workerPids(stdout: string): number[] {
  return [...new Set([...stdout.matchAll(/^\[worker (\d+)\]/gm)].map((m) => Number(m[1])))];
}

async function stopMaster(t: test.Test, master: Master): Promise<string> {
  master.run.kill('SIGINT');
  const done = await master.run.done;
  const stdout = done.stdout.toString();
  t.equal(done.code, 130, 'Ctrl-C (SIGINT): status 130');
  const left = workerPids(stdout).filter(alive);
  t.deepEqual(left, [], 'no worker left running');
  return stdout;
}

const CASES: { technique: 'send' | 'inherit' | 'libuv'; worker: 'c' | 'ts' | 'mixed' }[] = [];
for (const technique of ['send', 'inherit'] as const) for (const worker of ['c', 'ts', 'mixed'] as const) CASES.push({ technique, worker });
// Node's handle passing: TS workers only (the channel speaks Node's protocol).
CASES.push({ technique: 'libuv', worker: 'ts' });

for (const { technique, worker } of CASES) {
  test(`${technique}, ${worker} workers: 50 clients, each answered on its own port, echoes byte-exact, end of file`, { skip: SKIP }, async (t) => {
    const master = await startMaster(['--technique', technique, '--worker', worker, '--workers', '3']);
    const served = await clients(master.port, 50);
    for (const s of served) {
      const expected = `worker ${s.pid} serving 127.0.0.1:${s.clientPort}\n${s.pid}: ${s.line}`;
      if (s.received !== expected) t.equal(s.received, expected, `client on port ${s.clientPort}: banner and echo`);
    }
    t.equal(served.filter((s) => s.received === `worker ${s.pid} serving 127.0.0.1:${s.clientPort}\n${s.pid}: ${s.line}`).length, 50, 'all 50: banner with the client\'s own port, echo byte-exact, then end of file');
    const counts = new Map<number, number>();
    for (const s of served) counts.set(s.pid, (counts.get(s.pid) ?? 0) + 1);
    if (technique !== 'inherit') {
      t.deepEqual([...counts.values()].sort((a, b) => a - b), [16, 17, 17], 'round-robin: 3 workers served 16, 17 and 17');
    } else {
      t.equal(counts.size, 50, 'inherit: 50 different workers');
    }
    // A worker logs its line after the client saw end of file: wait for the lines before stopping.
    t.equal(await waitForLines(master, SERVED_LINE, 50), 50, '50 served lines');
    const stdout = await stopMaster(t, master);
    for (const s of served) {
      if (!stdout.includes(`[worker ${s.pid}][info]: served 127.0.0.1:${s.clientPort} (1 lines)\n`)) {
        t.fail(`no relay line for the connection from port ${s.clientPort}`);
      }
    }
    t.pass('every connection logged by its worker through the relay as [worker PID][info]');
  });
}

test('--clients 20: the master checks its own connections and prints the closing line', { skip: SKIP }, async (t) => {
  for (const technique of ['send', 'inherit', 'libuv']) {
    const worker = technique === 'libuv' ? 'ts' : 'c';
    const r = await run(handoffArgv(['--technique', technique, '--worker', worker, '--workers', '2', '--clients', '20']), { timeoutMs: RUN_TIMEOUT_MS });
    const out = r.stdout.toString();
    t.equal(r.code, 0, `${technique}: status 0 (signal ${r.signal}, ${r.ms} ms, stderr: ${r.stderr.toString().trimEnd()})`);
    t.match(out, /^listening on 127\.0\.0\.1:\d+\n/, `${technique}: the listening line first`);
    const workers = technique === 'inherit' ? 20 : 2;
    t.ok(out.endsWith(`handoff: 20 of 20 connections served by ${workers} workers (technique ${technique})\n`), `${technique}: closing line last: ${out.split('\n').at(-2)}`);
    t.equal((out.match(/\]\[info\]: served 127\.0\.0\.1:\d+ \(1 lines\)\n/g) ?? []).length, 20, `${technique}: 20 served lines`);
    t.equal(r.stderr.toString(), '', `${technique}: nothing on stderr`);
  }
});

for (const technique of ['send', 'inherit', 'libuv']) {
  test(`${technique}: 500 connections leave the master's descriptor count where it started`, { skip: SKIP }, async (t) => {
    const master = await startMaster(['--technique', technique, '--worker', technique === 'libuv' ? 'ts' : 'c', '--workers', '2']);
    await clients(master.port, 10); // warm-up: Node's own descriptors (threads, epoll) settle
    // inherit: a worker's output sockets stay open in the master until it exits.
    if (technique === 'inherit') await waitForLines(master, EXIT_LINE, 10);
    const before = await settledDescriptorCount(master.run.pid);
    const served = await clients(master.port, 500);
    t.equal(served.filter((s) => s.pid > 0).length, 500, '500 served');
    if (technique === 'inherit') await waitForLines(master, EXIT_LINE, 510, 120_000);
    let after = descriptorCount(master.run.pid);
    for (let i = 0; i < 50 && after !== before; i++) {
      await sleep(100);
      after = descriptorCount(master.run.pid);
    }
    t.equal(after, before, `descriptors: ${before} before, ${after} after`);
    await stopMaster(t, master);
  });
}

for (const [technique, worker] of [['send', 'c'], ['libuv', 'ts']] as const) {
  test(`${technique}: a worker killed mid-run is reported; later connections go to the others`, { skip: SKIP }, async (t) => {
    const master = await killedWorker(t, ['--technique', technique, '--worker', worker], (pid) => `[worker ${pid}] killed by SIGKILL\n`);
    await stopMaster(t, master);
  });
}

test('inherit: a worker killed mid-connection is reported, the client sees end of file, later connections get new workers', { skip: SKIP }, async (t) => {
  const master = await startMaster(['--technique', 'inherit', '--worker', 'c']);
  const socket = connect({ host: '127.0.0.1', port: master.port });
  let received = '';
  socket.setEncoding('utf8');
  const ended = new Promise<void>((resolve) => socket.on('end', resolve));
  socket.on('data', (s: string) => (received += s));
  while (!received.includes('\n')) await sleep(20);
  const victim = Number(/^worker (\d+)/.exec(received)![1]);
  process.kill(victim, 'SIGKILL');
  await ended;
  socket.destroy();
  t.pass('the client saw end of file when its worker died');
  await master.run.waitFor(`[worker ${victim}] killed by SIGKILL\n`);
  t.pass(`[worker ${victim}] killed by SIGKILL reported`);
  const later = await clients(master.port, 4);
  t.equal(later.filter((s) => s.pid !== victim && s.received.endsWith(`${s.pid}: ${s.line}`)).length, 4, 'later connections served by new workers');
  await stopMaster(t, master);
});

test('bad input: one line naming the value, status 2, nothing started', { skip: SKIP }, async (t) => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const busyPort = (busy.address() as { port: number }).port;
  const cases: [string[], RegExp][] = [
    [['--technique', 'carrier-pigeon'], /^handoff: unknown technique 'carrier-pigeon'/],
    [['--workers', '0'], /^handoff: --workers 0: /],
    [['--port', '70000'], /^handoff: --port 70000: /],
    [['--port', String(busyPort)], new RegExp(`^handoff: --port ${busyPort}: already in use`)],
    [['--technique', 'libuv', '--worker', 'c'], /^handoff: --worker c with --technique libuv: .*only a Node worker/],
  ];
  for (const [args, pattern] of cases) {
    const r = await run(handoffArgv(args));
    const err = r.stderr.toString();
    t.equal(r.code, 2, `${args.join(' ')}: status 2`);
    t.match(err, pattern, `${args.join(' ')}: ${err.trimEnd()}`);
    t.equal(err.trimEnd().split('\n').length, 1, `${args.join(' ')}: one line`);
    t.equal(r.stdout.length, 0, `${args.join(' ')}: nothing started`);
  }
  busy.close();
});

/** Runs `bash -c script` (dash takes only descriptors 0-9 in a redirection) with the
 * given extra descriptors; its status and what it printed. */
async function shell(script: string, extraFds: number[]): Promise<{ code: number | null; output: string }> {
  const [mine, theirs] = ipc.socketpair();
  const pid = ipc.spawn(['bash', '-c', script], { stdout: theirs, stderr: theirs, extraFds });
  ipc.close(theirs);
  ipc.setNonBlocking(mine);
  const buf = Buffer.alloc(4096);
  let output = '';
  for (;;) {
    await ipc.select([mine], 10_000);
    const n = ipc.read(mine, buf);
    if (n === 0) break;
    if (n > 0) output += buf.subarray(0, n).toString();
  }
  ipc.close(mine);
  let status = ipc.wait(pid);
  while (status === null) {
    await sleep(10);
    status = ipc.wait(pid);
  }
  return { code: status.code, output };
}

test('spawn extraFds: kept at its number in that child only; the descriptors below it are not inherited', { skip: SKIP }, async (t) => {
  const [below0, below1] = ipc.socketpair();
  const [handed, peer] = ipc.socketpair();
  ipc.setNonBlocking(peer);
  const got = await shell(`echo handed >&${handed}`, [handed]);
  t.equal(got.code, 0, `the child wrote to descriptor ${handed}`);
  const buf = Buffer.alloc(64);
  t.equal(buf.subarray(0, ipc.read(peer, buf)).toString(), 'handed\n', 'and it arrived at the other end');
  const other = await shell(`echo leaked >&${handed}`, []);
  t.notEqual(other.code, 0, `a child spawned without it cannot write to ${handed}: ${other.output.trim()}`);
  const gap = await shell(`echo leaked >&${below1}`, [handed]);
  t.notEqual(gap.code, 0, `descriptor ${below1}, below ${handed}, is not inherited: ${gap.output.trim()}`);
  const flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${handed}`, 'latin1'))![1]!, 8);
  t.ok((flags & 0o2000000) !== 0, 'the parent\'s copy is still close-on-exec');
  t.throws(() => ipc.forkExec(['/bin/true'], { stdout: 1, stderr: 2, extraFds: [handed] }), /extraFds is for spawn only/, 'forkExec refuses extraFds');
  for (const fd of [below0, below1, handed, peer]) ipc.close(fd);
});

test('sendFd / receiveFd: a descriptor crosses with one byte, arrives close-on-exec; no byte, no hand-over', { skip: SKIP }, (t) => {
  const native = handoffNative();
  const [a, b] = ipc.socketpair();
  const [r, w] = ipc.pipe();
  t.equal(native.sendFd(a, r, Buffer.from('c')), 1, 'one byte sent with the descriptor');
  const got = native.receiveFd(b, Buffer.alloc(1));
  t.equal(got.bytes, 1, 'one byte received');
  t.ok(got.fd >= 0 && got.fd !== r, `a new descriptor: ${got.fd}`);
  const flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${got.fd}`, 'latin1'))![1]!, 8);
  t.ok((flags & 0o2000000) !== 0, 'received close-on-exec (MSG_CMSG_CLOEXEC)');
  ipc.write(w, Buffer.from('through the copy'));
  const buf = Buffer.alloc(64);
  t.equal(buf.subarray(0, ipc.read(got.fd, buf)).toString(), 'through the copy', 'the received descriptor is the same pipe');
  try {
    native.sendFd(a, r, Buffer.alloc(0));
    t.fail('an empty payload was accepted');
  } catch (e) {
    t.ok(isNativeError(e) && e.code === 'EINVAL', `an empty payload is refused: ${(e as Error).message}`);
  }
  for (const fd of [a, b, got.fd]) ipc.close(fd);
  ipc.closePipe(r);
  ipc.closePipe(w);
  t.end();
});
