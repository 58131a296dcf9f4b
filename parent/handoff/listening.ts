/**
 * What `send` and `inherit` share: the master's listener in the relay's select(), and the
 * accept loop that gives each connection to the technique and then closes the master's
 * copy. (`libuv` lets Node's net.Server listen instead.)
 */
import { handoffNative, ipc, type FdAndPort } from '../native.ts';
import type { Relay } from '../relay.ts';
import type { Trace } from '../trace.ts';
import type { ExitInfo } from '../variants/variant.ts';
import type { TechniqueName } from './options.ts';
import type { Technique } from './technique.ts';

export abstract class ListeningTechnique implements Technique {
  abstract readonly name: TechniqueName;
  protected readonly native = handoffNative();
  protected relay: Relay | null = null;
  protected finishing = false;
  private listenerOpen = true;

  constructor(
    private readonly listener: FdAndPort,
    protected readonly trace: Trace,
  ) {}

  /** Gives one accepted connection to a worker; the master's copy is closed after it. */
  protected abstract handOver(conn: FdAndPort): void;

  begin(relay: Relay): void {
    this.relay = relay;
  }

  /** The listener joins the relay's select() until the technique finishes; it is closed
   * at the round after, so that select() is never given a closed descriptor. */
  fds(): readonly number[] {
    if (this.finishing && this.listenerOpen) {
      ipc.close(this.listener.fd);
      this.listenerOpen = false;
    }
    return this.listenerOpen ? [this.listener.fd] : [];
  }

  /** Step 2: accept every waiting connection and hand each over. */
  readable(): void {
    for (;;) {
      const conn = this.native.accept(this.listener.fd);
      if (conn === null) return;
      try {
        this.handOver(conn);
      } finally {
        // Step 3: the master's copy goes, handed over or not. A copy kept here would keep
        // the connection open after the worker closes it: the client would never see end
        // of file (the quirk master-keeps-copy).
        ipc.close(conn.fd);
      }
    }
  }

  busy(): boolean {
    return this.listenerOpen;
  }

  exited(pid: number, exit: ExitInfo): void {
    void pid;
    void exit;
  }

  stopping(): void {
    this.finish();
  }

  finish(): void {
    if (this.finishing) return;
    this.finishing = true;
    this.finished();
    this.relay?.wake();
  }

  /** What the technique lets go of when no more connections come. */
  protected finished(): void {}
}
