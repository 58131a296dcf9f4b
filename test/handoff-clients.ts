/**
 * What test/handoff.test.ts (Linux) and the test/handoff-win*.test.ts files (Windows,
 * under Wine) share: how to start the handoff master, the clients that talk to its
 * workers, and the Windows files' common checks.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT, RUNNING_COMPILED } from '../parent/native.ts';
import type { Test } from 'tape';
import { alive, run, sleep, start, TSX_LOADER, type Running } from './helpers.ts';

const HANDOFF_MAIN = join(PROJECT_ROOT, 'parent', 'handoff', 'main.ts');
/** Generous: the machine may be busy, and a TS worker starts a Node. */
export const RUN_TIMEOUT_MS = 240_000;
const CLIENTS_AT_ONCE = 4;

export function handoffArgv(args: readonly string[]): string[] {
  if (RUNNING_COMPILED) return [process.execPath, join(PROJECT_ROOT, 'build', 'js', 'parent', 'handoff', 'main.js'), ...args];
  return [process.execPath, '--import', TSX_LOADER, HANDOFF_MAIN, ...args];
}

export interface Master {
  run: Running;
  port: number;
}

export async function startMaster(args: readonly string[]): Promise<Master> {
  const r = start(handoffArgv(args), { timeoutMs: RUN_TIMEOUT_MS });
  await r.waitFor('\n');
  const m = /^listening on 127\.0\.0\.1:(\d+)\r?\n/.exec(r.output().toString());
  if (m === null) throw new Error(`no listening line: ${JSON.stringify(r.output().toString())}`);
  return { run: r, port: Number(m[1]) };
}

export interface Served {
  pid: number;
  clientPort: number;
  /** Everything the client received, up to end of file. */
  received: string;
  line: string;
}

/** One client: waits for the banner, sends one line, half-closes once the echo is in,
 * resolves at end of file (which only comes when the worker closes its copy and nobody
 * else holds one). */
export function client(port: number, n: number, timeoutMs = 60_000): Promise<Served> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const line = `line ${n} \u00e9\t${'x'.repeat(n % 7)}\n`;
    let received = '';
    let pid = -1;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`client ${n}: no end of file after ${timeoutMs} ms (got ${JSON.stringify(received)})`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      received += text;
      const m = /^worker (\d+) serving/.exec(received);
      if (m !== null && pid === -1 && received.includes('\n')) {
        pid = Number(m[1]);
        socket.write(line);
      }
      if (pid !== -1 && received.endsWith(`${pid}: ${line}`)) socket.end();
    });
    socket.on('end', () => {
      clearTimeout(timer);
      resolve({ pid, clientPort: socket.localPort ?? -1, received, line });
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`client ${n}: ${e.message}`));
    });
  });
}

/** `count` clients, CLIENTS_AT_ONCE at a time; `timeoutMs` for each one's end of file. */
export async function clients(port: number, count: number, timeoutMs?: number): Promise<Served[]> {
  const out: Served[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) out.push(await client(port, next++, timeoutMs));
  };
  await Promise.all(Array.from({ length: CLIENTS_AT_ONCE }, lane));
  return out;
}

const SERVED_LINE = /\]\[info\]: served 127\.0\.0\.1:(\d+) \(1 lines\)\r?\n/g;

/** How many connections each worker served, smallest first. */
function counts(pids: readonly number[]): number[] {
  const by = new Map<number, number>();
  for (const p of pids) by.set(p, (by.get(p) ?? 0) + 1);
  return [...by.values()].sort((a, b) => a - b);
}

/** Windows (the test/handoff-win*.test.ts files): `count` clients against a master with 3
 * workers, for any technique and worker kind; banners, echoes, round-robin, one "served"
 * line each, and no worker left once the master stops. */
export async function manyClients(t: Test, args: readonly string[], count: number, clientTimeoutMs: number): Promise<void> {
  const master = await startMaster([...args, '--workers', '3']);
  let served: Served[] = [];
  try {
    served = await clients(master.port, count, clientTimeoutMs);
  } catch (e) {
    t.fail((e as Error).message);
  }
  t.equal(served.length, count, `${count} connections ended with end of file (the master kept no copy)`);
  const wrong = served.filter((s) => s.received !== `worker ${s.pid} serving 127.0.0.1:${s.clientPort}\n${s.pid}: ${s.line}`);
  t.deepEqual(wrong, [], "each banner names the client's own port; each echo is byte-exact");
  // Round-robin over 3 workers: each served count/3, the first count % 3 one more.
  const even = [0, 1, 2].map((i) => Math.floor(count / 3) + (i < count % 3 ? 1 : 0)).sort((a, b) => a - b);
  t.deepEqual(counts(served.map((s) => s.pid)), even, `round-robin: 3 workers served ${even.join(', ')}`);
  const deadline = Date.now() + 60_000;
  while ((master.run.output().toString().match(SERVED_LINE) ?? []).length < count && Date.now() < deadline) await sleep(50);
  const stdout = master.run.output().toString();
  const logged = [...stdout.matchAll(/^\[worker (\d+)\]\[info\]: served 127\.0\.0\.1:(\d+) \(1 lines\)\r?$/gm)].map(
    (m) => `${m[1]}:${m[2]}`,
  );
  t.deepEqual(logged.sort(), served.map((s) => `${s.pid}:${s.clientPort}`).sort(), 'one "served" line per connection, from the worker that served it');
  const workers = [...new Set(served.map((s) => s.pid))];
  master.run.kill('SIGTERM');
  await master.run.done;
  const deadline2 = Date.now() + 30_000;
  while (workers.some(alive) && Date.now() < deadline2) await sleep(100);
  t.deepEqual(workers.filter(alive), [], 'master stopped: no worker left running (kill-on-close job)');
}

/** `--clients 20` with 2 workers: the closing line, status 0, both workers exit 0. */
export async function closingLine(t: Test, args: readonly string[], technique: string): Promise<void> {
  const r = await run(handoffArgv([...args, '--workers', '2', '--clients', '20']), { timeoutMs: RUN_TIMEOUT_MS });
  const stdout = r.stdout.toString().replaceAll('\r', '');
  t.equal(r.code, 0, 'status 0');
  t.equal(r.stderr.toString(), '', 'nothing on stderr');
  t.ok(stdout.endsWith(`handoff: 20 of 20 connections served by 2 workers (technique ${technique})\n`), 'the closing line');
  t.equal((stdout.match(/\]\[info\]: served 127\.0\.0\.1:\d+ \(1 lines\)\n/g) ?? []).length, 20, '20 "served" lines');
  t.equal((stdout.match(/^\[worker \d+\] exited with code 0\n/gm) ?? []).length, 2, 'both workers exit 0 once their channels close');
}

/**
 * A long-lived worker (send, libuv) killed while the master runs: the relay reports its
 * end (`exitLine(pid)`: `killed by SIGKILL` on POSIX; on Windows Node's process.kill is
 * TerminateProcess(handle, 1), reported as `exited with code 1`), and the 12 connections
 * that follow go to the two workers left, each echoed. Returns the master, still running.
 */
export async function killedWorker(t: Test, args: readonly string[], exitLine: (pid: number) => string, clientTimeoutMs?: number): Promise<Master> {
  const master = await startMaster([...args, '--workers', '3']);
  const first = await clients(master.port, 6, clientTimeoutMs);
  const victim = first[0]!.pid;
  process.kill(victim, 'SIGKILL');
  await master.run.waitFor(exitLine(victim));
  t.pass(`${exitLine(victim).trim()} reported`);
  const later = await clients(master.port, 12, clientTimeoutMs);
  const pids = new Set(later.map((s) => s.pid));
  t.notOk(pids.has(victim), 'no later connection went to the killed worker');
  t.equal(pids.size, 2, 'the two others share them');
  t.equal(later.filter((s) => s.received === `worker ${s.pid} serving 127.0.0.1:${s.clientPort}\n${s.pid}: ${s.line}`).length, 12, 'all 12 answered and echoed');
  return master;
}
