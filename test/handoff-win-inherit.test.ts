/**
 * `inherit` on Windows (docs/handoff.md), run under Wine by
 * `npm run test:wine -- test/handoff-win-inherit.test.ts`: the Winsock FAQ's "How to Pass a
 * Socket Handle". One worker per connection (C, TS or both), started with the accepted
 * SOCKET in CreateProcess's handle list beside its std handles (inheritable for that call
 * only) and its number on the command line (`--socket N`); the worker uses it as it is
 * where Winsock takes it, else claims it with WSADuplicateSocketW for its own PID (Wine's
 * ws2_32 refuses an inherited SOCKET: c/fdpass_win.c, ipc_claim_inherited), sends its
 * banner with the client's port from getpeername, echoes lines and exits when the client
 * closes. Everything here skips off Windows (test/handoff.test.ts covers Linux).
 */
import { connect } from 'node:net';
import test from 'tape';
import { clients, handoffArgv, RUN_TIMEOUT_MS, startMaster, type Master, type Served } from './handoff-clients.ts';
import { alive, IS_WINDOWS, run, sleep } from './helpers.ts';

const SKIP = IS_WINDOWS ? false : 'Windows only (run by npm run test:wine)';
/** Each client's wait for end of file: Wine on a busy machine starts processes slowly. */
const CLIENT_TIMEOUT_MS = 90_000;

const EXIT_LINE = /^\[worker (\d+)\] exited with code (\d+)\r?$/gm;

/** Waits (bounded) until the master's stdout holds `count` matches of `pattern`. */
async function waitForLines(master: Master, pattern: RegExp, count: number, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let stdout = master.run.output().toString();
  while ((stdout.match(pattern) ?? []).length < count && Date.now() < deadline) {
    await sleep(50);
    stdout = master.run.output().toString();
  }
  return stdout;
}

/** Stops the master (SIGTERM) and checks that none of `workers` is left running. */
async function stopMaster(t: test.Test, master: Master, workers: readonly number[]): Promise<void> {
  master.run.kill('SIGTERM');
  await master.run.done;
  const deadline = Date.now() + 30_000;
  while (workers.some(alive) && Date.now() < deadline) await sleep(100);
  t.deepEqual(workers.filter(alive), [], 'master stopped: no worker left running');
}

// A TS worker is a node.exe start under Wine (a second or more each on a busy machine):
// fewer connections for those.
for (const [kind, count] of [['c', 20], ['ts', 6], ['mixed', 6]] as const) {
test(`inherit, ${kind} workers: ${count} clients, each answered by its own worker with the client's own port, echoes byte-exact, end of file`, { skip: SKIP }, async (t) => {
  const master = await startMaster(['--technique', 'inherit', '--worker', kind]);
  let served: Served[] = [];
  try {
    served = await clients(master.port, count, CLIENT_TIMEOUT_MS);
  } catch (e) {
    t.fail((e as Error).message);
  }
  t.equal(served.length, count, `${count} connections ended with end of file (neither the master nor the worker kept a copy)`);
  const wrong = served.filter((s) => s.received !== `worker ${s.pid} serving 127.0.0.1:${s.clientPort}\n${s.pid}: ${s.line}`);
  t.deepEqual(wrong, [], "each banner names the client's own port (getpeername on the claimed SOCKET); each echo is byte-exact");
  const workers = [...new Set(served.map((s) => s.pid))];
  t.equal(workers.length, count, `${count} different workers: one per connection`);
  // Each worker logs its connection through the relay and exits 0 once it is served.
  const stdout = await waitForLines(master, EXIT_LINE, count);
  const logged = [...stdout.matchAll(/^\[worker (\d+)\]\[info\]: served 127\.0\.0\.1:(\d+) \(1 lines\)\r?$/gm)].map((m) => `${m[1]}:${m[2]}`);
  t.deepEqual(logged.sort(), served.map((s) => `${s.pid}:${s.clientPort}`).sort(), 'one "served" line per connection, from the worker that served it');
  const exits = [...stdout.matchAll(EXIT_LINE)].map((m) => `${m[1]}:${m[2]}`);
  t.deepEqual(exits.sort(), workers.map((p) => `${p}:0`).sort(), 'every worker exited with code 0');
  t.notOk(/\]\[error\]: /.test(stdout), 'no worker wrote to stderr');
  await stopMaster(t, master, workers);
});
}

test('inherit, C workers: a worker killed mid-connection is reported, the client sees end of file, later connections get new workers', { skip: SKIP }, async (t) => {
  const master = await startMaster(['--technique', 'inherit', '--worker', 'c']);
  const socket = connect({ host: '127.0.0.1', port: master.port });
  let received = '';
  socket.setEncoding('utf8');
  const ended = new Promise<void>((resolve) => socket.on('end', resolve));
  socket.on('error', () => {}); // a reset instead of end of file is reported by `ended` never settling
  socket.on('data', (s: string) => (received += s));
  const deadline = Date.now() + CLIENT_TIMEOUT_MS;
  while (!received.includes('\n') && Date.now() < deadline) await sleep(20);
  const m = /^worker (\d+) serving 127\.0\.0\.1:(\d+)\n$/.exec(received);
  if (m === null) {
    t.fail(`no banner: ${JSON.stringify(received)}`);
    socket.destroy();
    await stopMaster(t, master, []);
    return;
  }
  const victim = Number(m[1]);
  t.equal(Number(m[2]), socket.localPort, "the banner names this client's port");
  // Node's process.kill on Windows is TerminateProcess(handle, 1): the relay sees exit code 1,
  // as it would for any process ended from outside (only its own ipc_kill names a signal).
  process.kill(victim, 'SIGKILL');
  await Promise.race([ended, sleep(CLIENT_TIMEOUT_MS)]);
  t.ok(socket.readableEnded, 'the client saw end of file when its worker died (the master kept no copy)');
  socket.destroy();
  const stdout = await waitForLines(master, new RegExp(`^\\[worker ${victim}\\] exited with code 1\\r?$`, 'm'), 1);
  t.ok(stdout.includes(`[worker ${victim}] exited with code 1`), `[worker ${victim}] exited with code 1 reported (TerminateProcess)`);
  let later: Served[] = [];
  try {
    later = await clients(master.port, 4, CLIENT_TIMEOUT_MS);
  } catch (e) {
    t.fail((e as Error).message);
  }
  const good = later.filter((s) => s.pid !== victim && s.received === `worker ${s.pid} serving 127.0.0.1:${s.clientPort}\n${s.pid}: ${s.line}`);
  t.equal(good.length, 4, 'later connections served, each by a new worker');
  t.equal(new Set(good.map((s) => s.pid)).size, 4, 'four different workers');
  await stopMaster(t, master, [victim, ...later.map((s) => s.pid)]);
});

test('inherit, C workers: --clients 20 prints the closing line, status 0, every worker exits 0', { skip: SKIP }, async (t) => {
  const r = await run(handoffArgv(['--technique', 'inherit', '--worker', 'c', '--clients', '20']), { timeoutMs: RUN_TIMEOUT_MS });
  const stdout = r.stdout.toString().replaceAll('\r', '');
  t.equal(r.code, 0, 'status 0');
  t.equal(r.stderr.toString(), '', 'nothing on stderr');
  t.ok(stdout.endsWith('handoff: 20 of 20 connections served by 20 workers (technique inherit)\n'), `the closing line: ${stdout.trimEnd().split('\n').pop()}`);
  t.equal((stdout.match(/\]\[info\]: served 127\.0\.0\.1:\d+ \(1 lines\)\n/g) ?? []).length, 20, '20 "served" lines');
  t.equal((stdout.match(/^\[worker \d+\] exited with code 0\n/gm) ?? []).length, 20, '20 workers, each exited 0');
});
