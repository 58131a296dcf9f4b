/**
 * The descriptor variants' loop (socketpair, pipe-thread, posix): the article's select()
 * over every read end, in TypeScript. parent/relay.ts gives the overview of its steps.
 */
import { BATCH_HIGH_WATER_BYTES, RelayCore, type RelayOptions, type SourceBase } from './relay-core.ts';
import { ipc, signalName, signalNumber } from './native.ts';
import { nowUs } from './timeline.ts';
import type { ChildSpec, DescriptorVariant } from './variants/variant.ts';

/** One read takes what a socket holds (a Unix socket pair buffers some 200 KiB): with
 * 64 KiB reads, children writing 64 KiB at a time cost 15% more wall time (benchmark W1),
 * from the extra read() calls and select() rounds. */
const READ_BUFFER_BYTES = 256 * 1024;
/** Reads per descriptor per round: enough to drain a socket buffer, few enough that one
 * busy child cannot starve the others. */
const MAX_READS_PER_ROUND = 2;
/** Exits are noticed through SIGCHLD on POSIX; this poll is the fallback, and the only
 * way on Windows (a process handle cannot sit in select()). */
const EXIT_POLL_MS = process.platform === 'win32' ? 50 : 250;
/** Once a child's streams are all closed its exit is imminent: poll quickly. */
const EXIT_SOON_POLL_MS = 5;

/** A descriptor select() watches. */
export interface FdSource extends SourceBase {
  readonly fd: number;
  /** Called once the stream reached end of file and its descriptor was closed. */
  readonly onEnd: (() => void) | undefined;
}

/** The descriptor variants: select() over the read ends and a wakeup socket pair. */
export class SelectRelay extends RelayCore<FdSource> {
  protected readonly byFd = new Map<number, FdSource>();
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  /** [selected end, end written to wake select()]: how a signal or SIGCHLD interrupts a
   * select() that runs off the main thread. */
  private readonly wake: [number, number];
  /** Where the next round starts reading among the ready descriptors. */
  private roundRobin = 0;

  constructor(opts: RelayOptions, private readonly variant: DescriptorVariant) {
    super(opts);
    this.wake = ipc.socketpair();
    ipc.setNonBlocking(this.wake[0]);
    ipc.setNonBlocking(this.wake[1]);
    opts.trace(`wakeup socketpair: ${this.wake[0]} (selected), ${this.wake[1]} (written to wake select)`);
  }

  protected startChildren(): void {
    for (const spec of this.opts.specs) {
      if (this.stopReason !== null) break;
      try {
        this.startOne(spec);
      } catch (e) {
        this.abandonStarted();
        throw e;
      }
    }
  }

  /** A host's child: its streams join the next select() (woken now). */
  override startChild(spec: ChildSpec): number {
    if (this.stopReason !== null) throw new Error('startChild: the relay is stopping');
    const pid = this.startOne(spec);
    this.wakeUp();
    return pid;
  }

  private startOne(spec: ChildSpec): number {
    const spawnUs = this.timeline.enabled ? nowUs() : 0;
    const started = this.variant.start(spec, this.opts.trace);
    const pid = started.pid;
    if (this.timeline.enabled) this.timeline.spawn(spec, pid, spawnUs);
    const child = this.addChild(spec, pid, (signal) => ipc.killTree(pid, signalNumber(signal)));
    for (const s of started.streams) {
      const source: FdSource = { owner: child, assembler: this.assembler(spec, pid, s.kind), open: true, fd: s.fd, onEnd: s.onEnd };
      child.sources.push(source);
      this.byFd.set(s.fd, source);
    }
    return pid;
  }

  protected async loop(): Promise<void> {
    while (this.running()) {
      const ready = await this.select(); // step 1
      this.readReady(ready); // steps 2 and 3
      this.reap(); // step 4
      this.settle();
      await this.writeBatch(); // step 5
    }
  }

  /** Step 1: wait until a read end is readable, a wakeup came, or a deadline passed. */
  private async select(): Promise<number[]> {
    const [wakeFd] = this.wake;
    const { host } = this.opts;
    const hostFds = host?.fds() ?? [];
    // The host may have just let go (closed its listener): if nothing else keeps the
    // loop going, no event would ever end this select().
    if (host !== undefined && !this.running()) return [];
    const fds = [wakeFd, ...hostFds, ...this.byFd.keys()];
    const startUs = this.timeline.enabled ? nowUs() : 0;
    const ready = await ipc.select(fds, this.selectTimeout());
    if (this.opts.trace.enabled) this.opts.trace(`select(${fds.join(',')}) -> ready [${ready.join(',')}]`);
    if (this.timeline.enabled) {
      this.timeline.select(startUs, fds.length, ready.filter((fd) => fd !== wakeFd), ready.includes(wakeFd));
    }
    if (ready.includes(wakeFd)) this.drainWakeups();
    if (host !== undefined) for (const fd of ready) if (hostFds.includes(fd)) host.readable(fd);
    return ready.filter((fd) => fd !== wakeFd && !hostFds.includes(fd));
  }

  protected selectTimeout(): number {
    let ms = this.nextDeadlineMs();
    const running = this.children.filter((c) => c.exit === null);
    if (running.some((c) => c.sources.every((s) => !s.open))) ms = Math.min(ms, EXIT_SOON_POLL_MS);
    else if (running.length > 0) ms = Math.min(ms, EXIT_POLL_MS);
    return ms === Number.POSITIVE_INFINITY ? -1 : Math.ceil(ms);
  }

  /** Steps 2 and 3 for every ready descriptor.
   *
   * With hundreds of busy children one round could read every socket's buffer (some
   * 200 KiB each) into the batch before anything is written: memory would grow with the
   * number of children. So a round stops once the batch is past its high-water mark;
   * select() is level-triggered and reports the rest again next round. Starting one
   * further along each round keeps that fair. */
  private readReady(ready: number[]): void {
    for (const fd of ready) {
      const source = this.byFd.get(fd);
      if (source) this.activity(source.owner);
    }
    const start = ready.length > 0 ? this.roundRobin++ % ready.length : 0;
    for (let k = 0; k < ready.length && this.batch.length < BATCH_HIGH_WATER_BYTES; k++) {
      const fd = ready[(start + k) % ready.length];
      const source = fd === undefined ? undefined : this.byFd.get(fd);
      if (source) this.readSource(source);
    }
  }

  /** Step 2 and 3: read until the descriptor would block, and frame lines. */
  protected readSource(source: FdSource, closeAfter = false): void {
    const { trace } = this.opts;
    const { fd } = source;
    for (let i = 0; source.open && (closeAfter || i < MAX_READS_PER_ROUND); i++) {
      let n: number;
      const startUs = this.timeline.enabled ? nowUs() : 0;
      try {
        n = ipc.read(fd, this.readBuffer);
      } catch (e) {
        // A reset connection (Windows reports some closes this way) ends the stream;
        // everything received before it has already been read.
        trace(`read(${fd}) failed: ${(e as Error).message}; treating as end of stream`);
        n = 0;
      }
      if (n === -1) break;
      if (this.timeline.enabled) this.timeline.read(startUs, fd, source.owner.pid, n);
      if (n === 0) {
        trace(`EOF on fd ${fd} (pid ${source.owner.pid})`);
        this.endSource(source, true);
        return;
      }
      if (trace.enabled) trace(`read ${n} bytes from fd ${fd} (pid ${source.owner.pid})`);
      source.assembler.push(this.readBuffer.subarray(0, n), this.batch);
      this.activity(source.owner);
      // A short read means the socket is drained, unless this is the last look.
      if (n < READ_BUFFER_BYTES && !closeAfter) break;
    }
    if (closeAfter && source.open) this.endSource(source, false);
  }

  protected closeSource(source: FdSource): void {
    this.readSource(source, true);
  }

  private endSource(source: FdSource, atEof: boolean): void {
    source.assembler.end(this.batch);
    source.open = false;
    this.byFd.delete(source.fd);
    ipc.close(source.fd);
    // Only at a real end of file: a relay thread still blocked on a grandchild's pipe
    // must not be joined from the main thread.
    if (atEof) source.onEnd?.();
  }

  /** Step 4: collect exit statuses without blocking. */
  protected reap(): void {
    for (const child of this.children) {
      if (child.exit !== null) continue;
      // Reaping a child drains what it left in its sockets. Hundreds of children exiting
      // at once would put all of that in one batch: past the high-water mark the rest wait
      // (as zombies) for the next round.
      if (this.batch.length >= BATCH_HIGH_WATER_BYTES) break;
      const status = ipc.wait(child.pid);
      if (status === null) continue;
      // Whatever the child wrote before exiting is in the socket buffers (or on its way
      // through a relay thread): read what is there now; the exit line waits for the end
      // of file that follows (settle).
      for (const source of child.sources) if (source.open) this.readSource(source);
      this.exited(child, { code: status.code, signal: status.signal === null ? null : signalName(status.signal) });
    }
  }

  protected wakeUp(): void {
    // -1 (would block) means a wakeup is already pending: just as good.
    ipc.write(this.wake[1], WAKE_BYTE);
  }

  private drainWakeups(): void {
    while (ipc.read(this.wake[0], this.readBuffer) > 0) {
      /* each byte was one wakeup; one round serves them all */
    }
  }

  /** A spawn failed midway: kill and reap the children already started, close their
   * streams, so nothing half-started stays behind when the error goes up. */
  private abandonStarted(): void {
    for (const child of this.children) this.signal(child, 'SIGKILL');
    const deadline = Date.now() + 2000;
    for (const child of this.children) {
      while (child.exit === null && Date.now() < deadline) {
        const status = ipc.wait(child.pid);
        if (status !== null) child.exit = { code: status.code, signal: status.signal === null ? null : signalName(status.signal) };
        else Atomics.wait(PAUSE, 0, 0, 1);
      }
      for (const source of child.sources) if (source.open) this.endSource(source, false);
    }
  }

  protected dispose(): void {
    for (const fd of this.wake) ipc.close(fd);
  }
}

const WAKE_BYTE = Buffer.from([1]);
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
