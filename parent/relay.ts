/**
 * The article's parent loop: start the children, then select() over every read end, read
 * what is ready, reassemble lines, label them, write them out; reap children as they exit.
 *
 * One round of the loop:
 *   1. select() on all open read ends plus a wakeup socket (off the main thread),
 *   2. read each ready descriptor until it would block (64 KiB at a time),
 *   3. split into lines and label them into one output batch,
 *   4. reap exited children (after draining what they wrote),
 *   5. write the batch; if the reader is slow, wait for it before selecting again, so the
 *      children block on full socket buffers instead of the parent buffering their output.
 */
import { exitLine, LineAssembler, lineLabel, OutputBatch } from './lines.ts';
import { ipc, signalName, signalNumber, type ExitStatus } from './native.ts';
import type { Output } from './output.ts';
import type { Trace } from './trace.ts';
import type { ChildSpec, DescriptorVariant } from './variants/variant.ts';

const READ_BUFFER_BYTES = 64 * 1024;
/** Reads per descriptor per round: enough to drain a socket buffer, few enough that one
 * busy child cannot starve the others. */
const MAX_READS_PER_ROUND = 8;
/** After asking children to stop, how long before SIGKILL. */
const KILL_GRACE_MS = 500;
/** Exits are noticed through SIGCHLD on POSIX; this poll is the fallback, and the only
 * way on Windows (a process handle cannot sit in select()). */
const EXIT_POLL_MS = process.platform === 'win32' ? 50 : 250;
/** Once a child's streams are all closed its exit is imminent: poll quickly. */
const EXIT_SOON_POLL_MS = 5;

export type StopReason = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'duration' | 'output-closed';

interface Source {
  fd: number;
  child: RunningChild;
  assembler: LineAssembler;
  open: boolean;
}

interface RunningChild {
  spec: ChildSpec;
  pid: number;
  sources: Source[];
  exit: ExitStatus | null;
}

export interface RelayOptions {
  specs: ChildSpec[];
  variant: DescriptorVariant;
  output: Output;
  trace: Trace;
  /** Stop the children after this long; null: run until they exit. */
  durationMs: number | null;
}

export class Relay {
  private readonly children: RunningChild[] = [];
  private readonly byFd = new Map<number, Source>();
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly batch = new OutputBatch();
  private wake: [number, number] | null = null;
  private stopReason: StopReason | null = null;
  private killDeadline = 0;
  private timers: NodeJS.Timeout[] = [];
  private readonly onSignal = (signal: NodeJS.Signals): void => this.stop(signal as StopReason);
  private readonly onChildExit = (): void => this.wakeUp();

  constructor(private readonly opts: RelayOptions) {}

  /** Runs every child to the end; resolves with the parent's exit status. */
  async run(): Promise<number> {
    const { trace } = this.opts;
    this.wake = ipc.socketpair();
    ipc.setNonBlocking(this.wake[0]);
    ipc.setNonBlocking(this.wake[1]);
    trace(`wakeup socketpair: ${this.wake[0]} (selected), ${this.wake[1]} (written to wake select)`);
    this.listen();
    try {
      this.startAll();
      if (this.opts.durationMs !== null) {
        this.timers.push(setTimeout(() => this.stop('duration'), this.opts.durationMs));
      }
      await this.loop();
    } finally {
      this.unlisten();
      for (const t of this.timers) clearTimeout(t);
      for (const fd of this.wake) ipc.close(fd);
      this.wake = null;
    }
    await this.opts.output.flush();
    return this.exitStatus();
  }

  /** Asks every child to stop (SIGTERM, then SIGKILL after a grace period). */
  stop(reason: StopReason): void {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    this.opts.trace(`stopping (${reason}): SIGTERM to every running child`);
    for (const child of this.children) if (child.exit === null) this.signal(child, 'SIGTERM');
    this.killDeadline = Date.now() + KILL_GRACE_MS;
    this.timers.push(setTimeout(() => this.wakeUp(), KILL_GRACE_MS + 1));
    this.wakeUp();
  }

  private startAll(): void {
    for (const spec of this.opts.specs) {
      let started;
      try {
        started = this.opts.variant.start(spec, this.opts.trace);
      } catch (e) {
        // Nothing half-started stays behind: the children already running are killed
        // and reaped before the error goes up.
        this.stopAndReapSync();
        throw e;
      }
      const child: RunningChild = { spec, pid: started.pid, sources: [], exit: null };
      for (const s of started.streams) {
        const source: Source = {
          fd: s.fd,
          child,
          assembler: new LineAssembler(lineLabel(spec.name, started.pid, s.kind)),
          open: true,
        };
        child.sources.push(source);
        this.byFd.set(s.fd, source);
      }
      this.children.push(child);
    }
  }

  private async loop(): Promise<void> {
    const { trace } = this.opts;
    const wakeFd = this.wake![0];
    while (this.byFd.size > 0 || this.children.some((c) => c.exit === null)) {
      const fds = [wakeFd, ...this.byFd.keys()];
      const ready = await ipc.select(fds, this.selectTimeout());
      trace(`select(${fds.join(',')}) -> ready [${ready.join(',')}]`);
      for (const fd of ready) {
        if (fd === wakeFd) this.drainWakeups();
        else {
          const source = this.byFd.get(fd);
          if (source) this.readSource(source);
        }
      }
      this.reap();
      this.escalate();
      if (this.stopReason !== null && this.children.every((c) => c.exit !== null)) {
        // Stopped children may have left grandchildren holding their streams: take what
        // is there and close them, rather than wait for strangers.
        for (const source of [...this.byFd.values()]) this.readSource(source, true);
      }
      await this.writeBatch();
    }
  }

  private selectTimeout(): number {
    const running = this.children.filter((c) => c.exit === null);
    if (running.length === 0) return -1;
    if (running.some((c) => c.sources.every((s) => !s.open))) return EXIT_SOON_POLL_MS;
    return EXIT_POLL_MS;
  }

  /** Step 2 and 3: read until the descriptor would block, and frame lines. */
  private readSource(source: Source, closeAfter = false): void {
    const { trace } = this.opts;
    for (let i = 0; source.open && (closeAfter || i < MAX_READS_PER_ROUND); i++) {
      let n: number;
      try {
        n = ipc.read(source.fd, this.readBuffer);
      } catch (e) {
        // A reset connection (Windows reports some closes this way) ends the stream;
        // everything received before it has already been read.
        trace(`read(${source.fd}) failed: ${(e as Error).message}; treating as end of stream`);
        n = 0;
      }
      if (n === -1) break;
      if (n === 0) {
        trace(`EOF on fd ${source.fd} (pid ${source.child.pid})`);
        this.endSource(source);
        return;
      }
      trace(`read ${n} bytes from fd ${source.fd} (pid ${source.child.pid})`);
      source.assembler.push(this.readBuffer.subarray(0, n), this.batch);
      // A short read means the socket is drained; skip the read that would say so.
      if (n < READ_BUFFER_BYTES && !closeAfter) break;
    }
    if (closeAfter && source.open) this.endSource(source);
  }

  private endSource(source: Source): void {
    source.assembler.end(this.batch);
    source.open = false;
    this.byFd.delete(source.fd);
    ipc.close(source.fd);
  }

  /** Step 4: collect exit statuses without blocking. */
  private reap(): void {
    for (const child of this.children) {
      if (child.exit !== null) continue;
      const status = ipc.wait(child.pid);
      if (status === null) continue;
      child.exit = status;
      // Whatever the child wrote before exiting is already in the socket buffers: print
      // it before the exit line. A grandchild may still hold the streams open; they are
      // read on as usual until it closes them.
      for (const source of child.sources) if (source.open) this.readSource(source);
      const signal = status.signal === null ? null : signalName(status.signal);
      this.opts.trace(`reaped pid ${child.pid}: ${signal ?? `code ${status.code}`}`);
      this.batch.append(Buffer.from(exitLine(child.spec.name, child.pid, { code: status.code, signal })));
    }
  }

  private escalate(): void {
    if (this.stopReason === null || Date.now() < this.killDeadline) return;
    for (const child of this.children) {
      if (child.exit === null) this.signal(child, 'SIGKILL');
    }
    this.killDeadline = Number.POSITIVE_INFINITY;
  }

  private signal(child: RunningChild, name: 'SIGTERM' | 'SIGKILL'): void {
    try {
      ipc.kill(child.pid, signalNumber(name));
      this.opts.trace(`${name} -> pid ${child.pid}`);
    } catch (e) {
      // Already gone (ESRCH) is fine: it is reaped on the next round.
      this.opts.trace(`kill(${child.pid}, ${name}): ${(e as Error).message}`);
    }
  }

  /** Step 5: one write per round; waiting here is the backpressure. */
  private async writeBatch(): Promise<void> {
    if (this.batch.length > 0) await this.opts.output.write(this.batch.take());
    if (this.opts.output.error && this.stopReason === null) {
      this.opts.trace(`stdout failed (${this.opts.output.error.message}): stopping`);
      this.stop('output-closed');
    }
  }

  private wakeUp(): void {
    if (this.wake === null) return;
    // -1 (would block) means a wakeup is already pending: just as good.
    ipc.write(this.wake[1], WAKE_BYTE);
  }

  private drainWakeups(): void {
    while (ipc.read(this.wake![0], this.readBuffer) > 0) {
      /* each byte was one wakeup; one round serves them all */
    }
  }

  /** Used when a spawn fails midway: stop the children already started and reap them. */
  private stopAndReapSync(): void {
    for (const child of this.children) this.signal(child, 'SIGKILL');
    const deadline = Date.now() + 2000;
    for (const child of this.children) {
      while (child.exit === null && Date.now() < deadline) {
        child.exit = ipc.wait(child.pid);
        if (child.exit === null) Atomics.wait(PAUSE, 0, 0, 1);
      }
      for (const source of child.sources) if (source.open) this.endSource(source);
    }
  }

  private listen(): void {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, this.onSignal);
    if (process.platform !== 'win32') process.on('SIGCHLD', this.onChildExit);
  }

  private unlisten(): void {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, this.onSignal);
    if (process.platform !== 'win32') process.off('SIGCHLD', this.onChildExit);
  }

  private exitStatus(): number {
    const reason = this.stopReason;
    if (reason === 'SIGINT' || reason === 'SIGTERM' || reason === 'SIGHUP') return 128 + signalNumber(reason);
    if (reason === 'output-closed') return 1;
    const stoppedOnTime = (s: ExitStatus): boolean => reason === 'duration' && s.signal !== null;
    return this.children.every((c) => c.exit !== null && (c.exit.code === 0 || stoppedOnTime(c.exit))) ? 0 : 1;
  }
}

const WAKE_BYTE = Buffer.from([1]);
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
