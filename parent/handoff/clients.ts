/**
 * `--clients K`: the master's own check. Each client connects, expects the banner naming
 * its own port, sends one line, expects it echoed with the worker's pid, closes its side
 * and expects end of file (the worker closed, and nobody else held the socket).
 */
import { connect } from 'node:net';

/** Clients connecting at the same time. */
const CLIENTS_AT_ONCE = 4;
/** One connection, start to end, on a machine that may be busy. */
const CLIENT_TIMEOUT_MS = 60_000;

export interface ClientsResult {
  served: number;
  failures: string[];
  /** The pids that answered, in the order the connections were made. */
  pids: number[];
}

const BANNER = /^worker (\d+) serving 127\.0\.0\.1:(\d+)\n/;

export function oneClient(port: number, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const line = `hello from client ${n}\n`;
    let received = Buffer.alloc(0);
    let pid = -1;
    const timer = setTimeout(() => fail('no answer in time'), CLIENT_TIMEOUT_MS);
    function fail(why: string): void {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`connection ${n} (127.0.0.1:${socket.localPort ?? '?'}): ${why}`));
    }
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const text = received.toString('latin1');
      const m = BANNER.exec(text);
      if (m === null) return;
      if (pid === -1) {
        pid = Number(m[1]);
        if (Number(m[2]) !== socket.localPort) return fail(`banner names port ${m[2]}, not this client's ${socket.localPort}`);
        socket.write(line);
      }
      // Half-close once the echo is in: the worker then sees end of file, closes, and we
      // see ours.
      if (text.endsWith(`${pid}: ${line}`)) socket.end();
    });
    socket.on('end', () => {
      clearTimeout(timer);
      const expected = `worker ${pid} serving 127.0.0.1:${socket.localPort}\n${pid}: ${line}`;
      const got = received.toString('latin1');
      if (pid === -1) return fail(`end of file before the banner (got ${JSON.stringify(got)})`);
      if (got !== expected) return fail(`expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
      resolve(pid);
    });
    socket.on('error', (e) => fail(e.message));
  });
}

export async function runClients(port: number, count: number): Promise<ClientsResult> {
  const result: ClientsResult = { served: 0, failures: [], pids: [] };
  let next = 0;
  async function lane(): Promise<void> {
    while (next < count) {
      const n = next++;
      try {
        result.pids[n] = await oneClient(port, n);
        result.served++;
      } catch (e) {
        result.failures.push((e as Error).message);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(CLIENTS_AT_ONCE, count) }, lane));
  return result;
}
