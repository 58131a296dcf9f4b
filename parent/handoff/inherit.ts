/**
 * `inherit`: the Winsock Programmer's FAQ, "How to Pass a Socket Handle": one worker per
 * connection, started with the accepted socket inherited and its number on its command
 * line (`--socket N`). POSIX: the descriptor is close-on-exec here and inherited by that
 * one spawn only (extraFds: dup2 onto itself in the child, c/spawn_posix.c), so a worker
 * started for another connection never holds this one open.
 */
import { handoffNative, ipc, type FdAndPort } from '../native.ts';
import type { Relay } from '../relay.ts';
import type { Trace } from '../trace.ts';
import type { WorkerChoice } from './options.ts';
import { note, type Technique } from './technique.ts';
import { workerArgv, workerKind } from './workers.ts';

export class InheritTechnique implements Technique {
  readonly name = 'inherit';
  private readonly native = handoffNative();
  private relay: Relay | null = null;
  private started = 0;
  private finishing = false;
  private listenerOpen = true;

  constructor(
    private readonly listener: FdAndPort,
    private readonly choice: WorkerChoice,
    private readonly trace: Trace,
  ) {}

  begin(relay: Relay): void {
    this.relay = relay;
  }

  fds(): readonly number[] {
    if (this.finishing && this.listenerOpen) {
      ipc.close(this.listener.fd);
      this.listenerOpen = false;
    }
    return this.listenerOpen ? [this.listener.fd] : [];
  }

  readable(): void {
    for (;;) {
      const conn = this.native.accept(this.listener.fd);
      if (conn === null) return;
      try {
        this.spawnFor(conn);
      } finally {
        // The worker has its own copy now; ours would keep the connection open after the
        // worker closes it (the client would never see end of file).
        ipc.close(conn.fd);
      }
    }
  }

  private spawnFor(conn: FdAndPort): void {
    if (this.relay === null || this.finishing) return;
    const argv = workerArgv(workerKind(this.choice, this.started++), ['--socket', String(conn.fd)]);
    try {
      const pid = this.relay.startChild({ name: 'worker', argv, extraFds: [conn.fd] });
      this.trace(`127.0.0.1:${conn.port} -> new worker pid ${pid} (--socket ${conn.fd})`);
    } catch (e) {
      note(`cannot start a worker for 127.0.0.1:${conn.port}: ${(e as Error).message}`);
    }
  }

  busy(): boolean {
    return this.listenerOpen;
  }

  exited(): void {
    // Each worker serves its one connection and exits: nothing to forget.
  }

  stopping(): void {
    this.finish();
  }

  finish(): void {
    if (this.finishing) return;
    this.finishing = true;
    this.relay?.wake();
  }
}
