/**
 * `npm run handoff -- ...`: the options, checked before anything starts (a bad value is one
 * line naming it, status 2). No addon needed here, so usage errors work without a build.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

export type TechniqueName = 'inherit' | 'send' | 'libuv';
export type WorkerChoice = 'c' | 'ts' | 'mixed';

export interface HandoffOptions {
  technique: TechniqueName;
  /** send and libuv: how many long-lived workers; inherit starts one per connection. */
  workers: number;
  worker: WorkerChoice;
  /** 0: any free port. */
  port: number;
  /** null: serve until Ctrl-C. */
  clients: number | null;
  trace: boolean;
  help: boolean;
}

export class UsageError extends Error {}

export const HANDOFF_USAGE = `Usage: npm run handoff -- [options]

Listens on 127.0.0.1 and hands each connection to a worker process (docs/handoff.md).

  --technique T   send (default): N long-lived workers get each connection over a socket
                  pair (SCM_RIGHTS), round-robin - the libuv guide's multi-process server;
                  inherit: a new worker per connection, the socket inherited and its
                  number on the worker's command line - the Winsock FAQ;
                  libuv: Node's child_process 'ipc' channel, subprocess.send(msg, socket)
  --workers N     send and libuv: how many workers (default: the number of CPUs)
  --worker K      c, ts or mixed (default: c; libuv: ts only)
  --port P        0 (default): any free port
  --clients K     run K client connections, check each, stop, print a summary line;
                  without it, serve until Ctrl-C
  --trace         the relay's step trace on stderr
`;

const MAX_WORKERS = 64;
const MAX_CLIENTS = 1_000_000;

function wholeNumber(flag: string, text: string | undefined, lo: number, hi: number, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < lo || Number(text) > hi) {
    throw new UsageError(`${flag} ${text}: must be a whole number from ${lo} to ${hi}`);
  }
  return Number(text);
}

export function parseHandoffArgs(args: readonly string[]): HandoffOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        technique: { type: 'string' },
        workers: { type: 'string' },
        worker: { type: 'string' },
        port: { type: 'string' },
        clients: { type: 'string' },
        trace: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
  const technique = values.technique ?? 'send';
  if (technique !== 'inherit' && technique !== 'send' && technique !== 'libuv') {
    throw new UsageError(`unknown technique '${technique}' (inherit, send or libuv)`);
  }
  const worker = values.worker ?? (technique === 'libuv' ? 'ts' : 'c');
  if (worker !== 'c' && worker !== 'ts' && worker !== 'mixed') {
    throw new UsageError(`unknown worker kind '${worker}' (c, ts or mixed)`);
  }
  if (technique === 'libuv' && worker !== 'ts') {
    throw new UsageError(
      `--worker ${worker} with --technique libuv: Node passes the socket as a handle on its own IPC channel, which only a Node worker can receive (use --worker ts)`,
    );
  }
  return {
    technique,
    worker,
    workers: wholeNumber('--workers', values.workers, 1, MAX_WORKERS, Math.min(availableParallelism(), MAX_WORKERS)),
    port: wholeNumber('--port', values.port, 0, 65535, 0),
    clients: values.clients === undefined ? null : wholeNumber('--clients', values.clients, 1, MAX_CLIENTS, 0),
    trace: values.trace === true,
    help: values.help === true,
  };
}
