/**
 * `inherit`: the Winsock Programmer's FAQ, "How to Pass a Socket Handle": one worker per
 * connection, started with the accepted socket inherited and its number on its command
 * line (`--socket N`). POSIX: the descriptor is close-on-exec here and inherited by that
 * one spawn only (extraFds: dup2 onto itself in the child, c/spawn_posix.c), so a worker
 * started for another connection never holds this one open.
 */
import type { FdAndPort } from '../native.ts';
import type { Trace } from '../trace.ts';
import { ListeningTechnique } from './listening.ts';
import type { WorkerChoice } from './options.ts';
import { note } from './technique.ts';
import { workerArgv, workerKind } from './workers.ts';

export class InheritTechnique extends ListeningTechnique {
  readonly name = 'inherit';
  private started = 0;

  constructor(
    listener: FdAndPort,
    private readonly choice: WorkerChoice,
    trace: Trace,
  ) {
    super(listener, trace);
  }

  /** A new worker for this connection: it inherits the socket at the same number. Each
   * worker serves its one connection and exits: nothing to forget when it does. */
  protected handOver(conn: FdAndPort): void {
    if (this.relay === null || this.finishing) return;
    const argv = workerArgv(workerKind(this.choice, this.started++), ['--socket', String(conn.fd)]);
    try {
      const pid = this.relay.startChild({ name: 'worker', argv, extraFds: [conn.fd] });
      this.trace(`127.0.0.1:${conn.port} -> new worker pid ${pid} (--socket ${conn.fd})`);
    } catch (e) {
      note(`cannot start a worker for 127.0.0.1:${conn.port}: ${(e as Error).message}`);
    }
  }
}
