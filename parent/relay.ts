/**
 * The article's parent loop: start the children, then select() over every read end, read
 * what is ready, reassemble lines, label them, write them out; reap children as they exit.
 *
 * One round of the loop:
 *   1. wait for activity: select() on all open read ends plus a wakeup socket (off the
 *      main thread); for the libuv variant, libuv's own events wake the loop instead,
 *   2. read each ready descriptor until it would block (64 KiB at a time),
 *   3. split into lines and label them into one output batch,
 *   4. reap exited children (after draining what they wrote),
 *   5. write the batch; if the reader is slow, wait for it before reading again, so the
 *      children block on full buffers instead of the parent buffering their output.
 */
import { exitLine, LineAssembler, lineLabel, OutputBatch } from './lines.ts';
import { ipc, signalName, signalNumber } from './native.ts';
import type { Readable } from 'node:stream';
import type { Output } from './output.ts';
import type { Trace } from './trace.ts';
import type { ChildSpec, DescriptorVariant, ExitInfo, StreamChild, StreamVariant, Variant } from './variants/variant.ts';

/** One read takes what a socket holds (a Unix socket pair buffers some 200 KiB): with
 * 64 KiB reads, children writing 64 KiB at a time cost 15% more wall time (benchmark W1),
 * from the extra read() calls and select() rounds. */
const READ_BUFFER_BYTES = 256 * 1024;
/** Reads per descriptor per round: enough to drain a socket buffer (so that reaping a
 * child gets everything it wrote before its exit line), few enough that one busy child
 * cannot starve the others. */
const MAX_READS_PER_ROUND = 2;
/** After asking children to stop, how long before SIGKILL. */
const KILL_GRACE_MS = 500;
/** Exits are noticed through SIGCHLD on POSIX; this poll is the fallback, and the only
 * way on Windows (a process handle cannot sit in select()). */
const EXIT_POLL_MS = process.platform === 'win32' ? 50 : 250;
/** Once a child's streams are all closed its exit is imminent: poll quickly. */
const EXIT_SOON_POLL_MS = 5;
/** How much unwritten output a round may gather. libuv delivers chunks as fast as it
 * reads them: past this the streams pause until the loop has written the batch. A select()
 * round stops reading once past it (see waitForActivity). */
const BATCH_HIGH_WATER_BYTES = 1024 * 1024;

export type StopReason = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'duration' | 'output-closed';

interface Source {
  child: RunningChild;
  assembler: LineAssembler;
  open: boolean;
  /** Descriptor variants: the read end select() watches. */
  fd?: number;
  onEnd?: () => void;
  /** libuv variant: the stream, paused while the reader is slow. */
  stream?: Readable;
}

interface RunningChild {
  spec: ChildSpec;
  pid: number;
  sources: Source[];
  exit: ExitInfo | null;
  /** Descriptor variants: a non-blocking wait(); libuv variant: null, the exit is an event. */
  poll: (() => ExitInfo | null) | null;
  kill: (signal: 'SIGTERM' | 'SIGKILL') => void;
}

export interface RelayOptions {
  specs: ChildSpec[];
  variant: Variant;
  output: Output;
  trace: Trace;
  /** Stop the children after this long; null: run until they exit. */
  durationMs: number | null;
}

export class Relay {
  private readonly children: RunningChild[] = [];
  private readonly byFd = new Map<number, Source>();
  private readonly streamSources = new Set<Source>();
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly batch = new OutputBatch();
  /** Descriptor variants: [selected end, end written to wake select]. */
  private wake: [number, number] | null = null;
  /** libuv variant: resolves the loop's wait; `woken` covers a wakeup while not waiting. */
  private wakeWaiter: (() => void) | null = null;
  private woken = false;
  /** Where the next round starts reading among the ready descriptors. */
  private roundRobin = 0;
  private streamsPaused = false;
  private stopReason: StopReason | null = null;
  private killDeadline = Number.POSITIVE_INFINITY;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly onSignal = (signal: NodeJS.Signals): void => this.stop(signal as StopReason);
  private readonly onChildExit = (): void => this.wakeUp();

  constructor(private readonly opts: RelayOptions) {}

  /** Runs every child to the end; resolves with the parent's exit status. */
  async run(): Promise<number> {
    const { trace, variant } = this.opts;
    if (variant.mode === 'descriptors') {
      this.wake = ipc.socketpair();
      ipc.setNonBlocking(this.wake[0]);
      ipc.setNonBlocking(this.wake[1]);
      trace(`wakeup socketpair: ${this.wake[0]} (selected), ${this.wake[1]} (written to wake select)`);
    }
    this.listen();
    try {
      if (variant.mode === 'descriptors') this.startDescriptorChildren(variant);
      else await this.startStreamChildren(variant);
      if (this.opts.durationMs !== null) {
        this.timers.push(setTimeout(() => this.stop('duration'), this.opts.durationMs));
      }
      await this.loop();
    } finally {
      this.unlisten();
      for (const t of this.timers) clearTimeout(t);
      if (this.wake) for (const fd of this.wake) ipc.close(fd);
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

  private startDescriptorChildren(variant: DescriptorVariant): void {
    for (const spec of this.opts.specs) {
      let started;
      try {
        started = variant.start(spec, this.opts.trace);
      } catch (e) {
        this.abandonStarted();
        throw e;
      }
      const pid = started.pid;
      const child = this.addChild(spec, pid, {
        poll: () => {
          const s = ipc.wait(pid);
          return s === null ? null : { code: s.code, signal: s.signal === null ? null : signalName(s.signal) };
        },
        kill: (signal) => ipc.kill(pid, signalNumber(signal)),
      });
      for (const s of started.streams) {
        const source: Source = { child, assembler: this.assembler(spec, pid, s.kind), open: true, fd: s.fd };
        if (s.onEnd) source.onEnd = s.onEnd;
        child.sources.push(source);
        this.byFd.set(s.fd, source);
      }
    }
  }

  private async startStreamChildren(variant: StreamVariant): Promise<void> {
    for (const spec of this.opts.specs) {
      let started: StreamChild;
      try {
        started = await variant.start(spec, this.opts.trace);
      } catch (e) {
        this.abandonStarted();
        throw e;
      }
      const child = this.addChild(spec, started.pid, { poll: null, kill: (signal) => started.kill(signal) });
      for (const s of started.streams) {
        const source: Source = { child, assembler: this.assembler(spec, started.pid, s.kind), open: true, stream: s.stream };
        child.sources.push(source);
        this.streamSources.add(source);
        s.stream.on('data', (chunk: Buffer) => {
          source.assembler.push(chunk, this.batch);
          if (this.batch.length > BATCH_HIGH_WATER_BYTES) this.pauseStreams();
          this.wakeUp();
        });
        s.stream.on('end', () => this.endStreamSource(source));
      }
      void started.exited.then((exit) => {
        this.reported(child, exit);
        this.wakeUp();
      });
    }
  }

  private endStreamSource(source: Source): void {
    if (!source.open) return;
    this.opts.trace(`EOF on libuv stream ${source.assembler.label.toString().trimEnd()}`);
    source.assembler.end(this.batch);
    source.open = false;
    this.streamSources.delete(source);
    this.wakeUp();
  }

  private addChild(spec: ChildSpec, pid: number, how: Pick<RunningChild, 'poll' | 'kill'>): RunningChild {
    const child: RunningChild = { spec, pid, sources: [], exit: null, ...how };
    this.children.push(child);
    return child;
  }

  private assembler(spec: ChildSpec, pid: number, kind: 'info' | 'error'): LineAssembler {
    return new LineAssembler(lineLabel(spec.name, pid, kind));
  }

  private running(): boolean {
    return this.byFd.size > 0 || this.streamSources.size > 0 || this.children.some((c) => c.exit === null);
  }

  private async loop(): Promise<void> {
    while (this.running()) {
      await this.waitForActivity();
      this.reap();
      this.escalate();
      if (this.stopReason !== null && this.children.every((c) => c.exit !== null)) {
        // Stopped children may have left grandchildren holding their streams: take what
        // is there and close them, rather than wait for strangers.
        for (const source of [...this.byFd.values()]) this.readSource(source, true);
        for (const source of [...this.streamSources]) {
          source.stream!.destroy();
          this.endStreamSource(source);
        }
      }
      await this.writeBatch();
    }
    // libuv's events can add output while the last write waited for the reader, after
    // the last stream ended: nothing may stay behind in the batch.
    await this.writeBatch();
  }

  /** Step 1 and 2: select() and read what is ready; or, for libuv, wait for its events. */
  private async waitForActivity(): Promise<void> {
    if (this.wake === null) {
      if (this.woken) this.woken = false;
      else await new Promise<void>((resolve) => (this.wakeWaiter = resolve));
      return;
    }
    const wakeFd = this.wake[0];
    const fds = [wakeFd, ...this.byFd.keys()];
    const ready = await ipc.select(fds, this.selectTimeout());
    if (this.opts.trace.enabled) this.opts.trace(`select(${fds.join(',')}) -> ready [${ready.join(',')}]`);
    if (ready.includes(wakeFd)) this.drainWakeups();
    // With hundreds of busy children one round could read every socket's buffer (some
    // 200 KiB each) into the batch before anything is written: memory would grow with
    // the number of children. So a round stops once the batch is past its high-water
    // mark; select() is level-triggered and reports the rest again next round. Starting
    // one further along each round keeps that fair.
    const readable = ready.filter((fd) => fd !== wakeFd);
    const start = readable.length > 0 ? this.roundRobin++ % readable.length : 0;
    for (let k = 0; k < readable.length && this.batch.length < BATCH_HIGH_WATER_BYTES; k++) {
      const source = this.byFd.get(readable[(start + k) % readable.length]!);
      if (source) this.readSource(source);
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
    const fd = source.fd!;
    for (let i = 0; source.open && (closeAfter || i < MAX_READS_PER_ROUND); i++) {
      let n: number;
      try {
        n = ipc.read(fd, this.readBuffer);
      } catch (e) {
        // A reset connection (Windows reports some closes this way) ends the stream;
        // everything received before it has already been read.
        trace(`read(${fd}) failed: ${(e as Error).message}; treating as end of stream`);
        n = 0;
      }
      if (n === -1) break;
      if (n === 0) {
        trace(`EOF on fd ${fd} (pid ${source.child.pid})`);
        this.endSource(source, true);
        return;
      }
      if (trace.enabled) trace(`read ${n} bytes from fd ${fd} (pid ${source.child.pid})`);
      source.assembler.push(this.readBuffer.subarray(0, n), this.batch);
      // A short read means the socket is drained; skip the read that would say so.
      if (n < READ_BUFFER_BYTES && !closeAfter) break;
    }
    if (closeAfter && source.open) this.endSource(source, false);
  }

  private endSource(source: Source, atEof: boolean): void {
    source.assembler.end(this.batch);
    source.open = false;
    this.byFd.delete(source.fd!);
    ipc.close(source.fd!);
    // Only at a real end of file: a relay thread still blocked on a grandchild's pipe
    // must not be joined from the main thread.
    if (atEof) source.onEnd?.();
  }

  /** Step 4: collect exit statuses without blocking. */
  private reap(): void {
    for (const child of this.children) {
      if (child.exit !== null || child.poll === null) continue;
      // Reaping a child drains what it left in its sockets, so that its lines come before
      // its exit line. Hundreds of children exiting at once would put all of that in one
      // batch: past the high-water mark the rest wait (as zombies) for the next round.
      if (this.batch.length >= BATCH_HIGH_WATER_BYTES) break;
      const exit = child.poll();
      if (exit === null) continue;
      // Whatever the child wrote before exiting is already in the socket buffers: print
      // it before the exit line. A grandchild may still hold the streams open; they are
      // read on as usual until it closes them.
      for (const source of child.sources) if (source.open) this.readSource(source);
      this.reported(child, exit);
    }
  }

  private reported(child: RunningChild, exit: ExitInfo): void {
    child.exit = exit;
    this.opts.trace(`reaped pid ${child.pid}: ${exit.signal ?? `code ${exit.code}`}`);
    this.batch.append(Buffer.from(exitLine(child.spec.name, child.pid, exit)));
  }

  private escalate(): void {
    if (Date.now() < this.killDeadline) return;
    for (const child of this.children) if (child.exit === null) this.signal(child, 'SIGKILL');
    this.killDeadline = Number.POSITIVE_INFINITY;
  }

  private signal(child: RunningChild, name: 'SIGTERM' | 'SIGKILL'): void {
    try {
      child.kill(name);
      this.opts.trace(`${name} -> pid ${child.pid}`);
    } catch (e) {
      // Already gone (ESRCH) is fine: it is reaped on the next round.
      this.opts.trace(`kill(${child.pid}, ${name}): ${(e as Error).message}`);
    }
  }

  /** Step 5: one write per round; waiting here is the backpressure. */
  private async writeBatch(): Promise<void> {
    const { output } = this.opts;
    const taken = this.batch.length > 0 ? this.batch.take() : null;
    if (taken !== null && !output.write(taken.data, taken.release)) {
      // The libuv streams would go on delivering; pause them, as select() pauses by
      // simply not being called.
      this.pauseStreams();
      await output.drained();
    }
    this.resumeStreams();
    if (output.error && this.stopReason === null) {
      this.opts.trace(`stdout failed (${output.error.message}): stopping`);
      this.stop('output-closed');
    }
  }

  private pauseStreams(): void {
    if (this.streamsPaused) return;
    this.streamsPaused = true;
    for (const s of this.streamSources) s.stream!.pause();
  }

  private resumeStreams(): void {
    if (!this.streamsPaused) return;
    this.streamsPaused = false;
    for (const s of this.streamSources) s.stream!.resume();
  }

  private wakeUp(): void {
    if (this.wake !== null) {
      // -1 (would block) means a wakeup is already pending: just as good.
      ipc.write(this.wake[1], WAKE_BYTE);
    } else if (this.wakeWaiter !== null) {
      const resolve = this.wakeWaiter;
      this.wakeWaiter = null;
      resolve();
    } else {
      this.woken = true;
    }
  }

  private drainWakeups(): void {
    while (ipc.read(this.wake![0], this.readBuffer) > 0) {
      /* each byte was one wakeup; one round serves them all */
    }
  }

  /** A spawn failed midway: kill and reap the children already started, close their
   * streams, so nothing half-started stays behind when the error goes up. */
  private abandonStarted(): void {
    for (const child of this.children) this.signal(child, 'SIGKILL');
    const deadline = Date.now() + 2000;
    for (const child of this.children) {
      while (child.poll !== null && child.exit === null && Date.now() < deadline) {
        child.exit = child.poll();
        if (child.exit === null) Atomics.wait(PAUSE, 0, 0, 1);
      }
      for (const source of child.sources) {
        if (source.fd !== undefined && source.open) this.endSource(source, false);
        source.stream?.destroy();
      }
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
    const stoppedOnTime = (e: ExitInfo): boolean => reason === 'duration' && e.signal !== null;
    return this.children.every((c) => c.exit !== null && (c.exit.code === 0 || stoppedOnTime(c.exit))) ? 0 : 1;
  }
}

const WAKE_BYTE = Buffer.from([1]);
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
