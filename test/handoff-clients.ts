/**
 * What test/handoff.test.ts (Linux) and test/handoff-win.test.ts (Windows, under Wine)
 * share: how to start the handoff master, and the clients that talk to its workers.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT, RUNNING_COMPILED } from '../parent/native.ts';
import { start, TSX_LOADER, type Running } from './helpers.ts';

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

