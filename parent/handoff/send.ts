/**
 * `send` (the default): the libuv guide's multi-process server ("Sending file descriptors
 * over pipes"). N long-lived workers, each with an IPC channel - one end of a socket pair,
 * its number on the worker's command line. The master accepts each connection and hands
 * it to the next worker, round-robin, with sendmsg + SCM_RIGHTS (c/fdpass_posix.c) or,
 * on Windows, WSADuplicateSocketW for the worker's PID (c/fdpass_win.c), then closes its
 * own copy: the worker's copy is now the only one, so when the worker closes
 * it, the client sees end of file.
 */
import { ipc, type FdAndPort } from '../native.ts';
import type { Relay } from '../relay.ts';
import type { Trace } from '../trace.ts';
import type { ExitInfo } from '../variants/variant.ts';
import { ListeningTechnique } from './listening.ts';
import type { WorkerChoice } from './options.ts';
import { HANDOVER_PAYLOAD, note } from './technique.ts';
import { workerArgv, workerKind } from './workers.ts';

interface Worker {
  pid: number;
  /** The master's end of the worker's channel. */
  channel: number;
  alive: boolean;
}

export class SendTechnique extends ListeningTechnique {
  readonly name = 'send';
  private readonly workers: Worker[] = [];
  private next = 0;

  constructor(
    listener: FdAndPort,
    private readonly count: number,
    private readonly choice: WorkerChoice,
    trace: Trace,
  ) {
    super(listener, trace);
  }

  override begin(relay: Relay): void {
    super.begin(relay);
    for (let i = 0; i < this.count; i++) this.startWorker(relay, i);
  }

  /** Step 1: a channel per worker; the worker inherits its end at the same number. */
  private startWorker(relay: Relay, n: number): void {
    const [mine, theirs] = ipc.socketpair();
    let pid: number;
    try {
      const argv = workerArgv(workerKind(this.choice, n), ['--channel', String(theirs)]);
      pid = relay.startChild({ name: 'worker', argv, extraFds: [theirs] });
    } catch (e) {
      ipc.close(mine);
      ipc.close(theirs);
      throw e;
    }
    // The worker's end stays open in the worker only: with our copy, the worker would
    // never see end of file when we close ours.
    ipc.close(theirs);
    // A worker that stops reading must not stall the master: a full channel is "try
    // the next worker".
    ipc.setNonBlocking(mine);
    this.workers.push({ pid, channel: mine, alive: true });
    this.trace(`worker pid ${pid}: channel ${mine} (its end: ${theirs})`);
  }

  /** Round-robin over the live workers; a full or broken channel is "try the next". */
  protected handOver(conn: FdAndPort): void {
    for (let tries = 0; tries < this.workers.length; tries++) {
      const worker = this.workers[this.next++ % this.workers.length]!;
      if (!worker.alive) continue;
      try {
        if (this.native.sendFd(worker.channel, conn.fd, HANDOVER_PAYLOAD, worker.pid) > 0) {
          this.trace(`127.0.0.1:${conn.port} -> worker pid ${worker.pid}`);
          return;
        }
        this.trace(`worker pid ${worker.pid}: channel full, trying the next`);
      } catch (e) {
        // EPIPE: the worker died and is not reaped yet.
        this.trace(`worker pid ${worker.pid}: ${(e as Error).message}`);
        this.retire(worker);
      }
    }
    note(`no worker left for 127.0.0.1:${conn.port}: connection closed`);
  }

  private retire(worker: Worker): void {
    if (!worker.alive) return;
    worker.alive = false;
    ipc.close(worker.channel);
  }

  override exited(pid: number, exit: ExitInfo): void {
    void exit;
    const worker = this.workers.find((w) => w.pid === pid);
    if (worker !== undefined) this.retire(worker);
  }

  /** Closing the channels is the workers' signal to end, once their connections are done. */
  protected override finished(): void {
    for (const w of this.workers) this.retire(w);
  }
}
