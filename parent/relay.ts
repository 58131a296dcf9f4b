/**
 * The article's parent loop: start the children, then select() over every read end, read
 * what is ready, reassemble lines, label them, write them out; reap children as they exit.
 *
 * Two modes, one class each, over a shared core (RelayCore: children, exit lines, stops,
 * the output batch):
 *
 *   SelectRelay (socketpair, pipe-thread, posix) - one round of its loop:
 *     1. select() on all open read ends plus a wakeup socket (off the main thread),
 *     2. read each ready descriptor until it would block (256 KiB at a time),
 *     3. split into lines and label them into one output batch,
 *     4. reap exited children (draining what they left in their sockets),
 *     5. write the batch; if the reader is slow, wait for it before reading again, so the
 *        children block on full buffers instead of the parent buffering their output.
 *
 *   StreamRelay (libuv): libuv multiplexes; its stream events do steps 1-3 as they come,
 *     and the loop only waits for them, settles exits and writes (step 5), pausing the
 *     streams while the reader is slow.
 *
 * A child's exit line follows everything it wrote: it waits for the end of the child's
 * streams (see EXIT_LINE_GRACE_MS for the one exception).
 */
import { LineAssembler, Labels, OutputBatch } from './lines.ts';
import { ipc, signalName, signalNumber } from './native.ts';
import type { Readable } from 'node:stream';
import type { Output } from './output.ts';
import { StopSignals, type StopSignal } from './stop-signals.ts';
import { countLines, NO_TIMELINE, nowUs, STDERR_TID, STDOUT_TID, type Timeline } from './timeline.ts';
import type { Trace } from './trace.ts';
import type { ChildSpec, DescriptorVariant, ExitInfo, StreamChild, StreamVariant, Variant } from './variants/variant.ts';

/** One read takes what a socket holds (a Unix socket pair buffers some 200 KiB): with
 * 64 KiB reads, children writing 64 KiB at a time cost 15% more wall time (benchmark W1),
 * from the extra read() calls and select() rounds. */
const READ_BUFFER_BYTES = 256 * 1024;
/** Reads per descriptor per round: enough to drain a socket buffer, few enough that one
 * busy child cannot starve the others. */
const MAX_READS_PER_ROUND = 2;
/** After asking children to stop, how long before SIGKILL. */
const KILL_GRACE_MS = 500;
/** Job control (SIGTSTP, SIGCONT) exists on POSIX only. */
const JOB_CONTROL = process.platform !== 'win32';
/** Exits are noticed through SIGCHLD on POSIX; this poll is the fallback, and the only
 * way on Windows (a process handle cannot sit in select()). */
const EXIT_POLL_MS = process.platform === 'win32' ? 50 : 250;
/** Once a child's streams are all closed its exit is imminent: poll quickly. */
const EXIT_SOON_POLL_MS = 5;
/** How much unwritten output a round may gather. libuv delivers chunks as fast as it
 * reads them: past this the streams pause until the loop has written the batch. A select()
 * round stops reading once past it (see SelectRelay.readReady). */
const BATCH_HIGH_WATER_BYTES = 1024 * 1024;
/**
 * A child's exit line waits for the end of its streams, so that it comes after every byte
 * the child wrote, its last unterminated line included. When the exit is reaped, bytes may
 * still be on their way: in the socket (not yet read), in a pipe a relay thread has not
 * copied yet (pipe-thread), in libuv's queue. They all end in end of file, soon.
 *
 * Only a grandchild that inherited the streams can keep them open after the child's exit.
 * So once the streams have been quiet this long after the exit (nothing arrived, nothing
 * was ready; time spent waiting for the parent's own reader does not count), the exit is
 * reported anyway, and the grandchild's lines follow it.
 */
export const EXIT_LINE_GRACE_MS = 200;

export type StopReason = StopSignal | 'duration' | 'output-closed';

/** What the core knows of a child; the modes add how it is reaped and read. */
interface ChildState {
  readonly spec: ChildSpec;
  readonly pid: number;
  /** Started detached: never stopped by us, not waited for at the end. */
  readonly detached: boolean;
  /** Known once reaped (or reported by libuv); the exit line may still wait. */
  exit: ExitInfo | null;
  exitReported: boolean;
  /** The exit line's grace counts from here: the exit, or the last sign of output since. */
  quietSince: number;
}

/** What both modes know about one stream of a child. */
interface SourceBase {
  readonly owner: ChildState;
  readonly assembler: LineAssembler;
  open: boolean;
}

interface RunningChild<S extends SourceBase> extends ChildState {
  readonly sources: S[];
  /** Signals the child's whole tree: its process group (POSIX) or job (Windows). */
  readonly kill: (signal: NodeJS.Signals) => void;
}

/**
 * Something the loop serves besides the children: the handoff master's listener
 * (parent/handoff/). Its descriptors join the select(); it may start children while the
 * loop runs (Relay.startChild), and it keeps the loop running while it is busy, with or
 * without children.
 */
export interface RelayHost {
  /** Descriptors to select() on this round. Called between select()s, the one moment the
   * host may close a descriptor it watched. */
  fds(): readonly number[];
  /** One of fds() is readable. */
  readable(fd: number): void;
  /** The loop goes on while this is true. */
  busy(): boolean;
  /** A child was reaped (its exit line may still wait for its streams). */
  exited(pid: number, exit: ExitInfo): void;
  /** The relay was asked to stop: let go, so that busy() becomes false. */
  stopping(reason: StopReason): void;
}

export interface RelayOptions {
  specs: ChildSpec[];
  variant: Variant;
  output: Output;
  trace: Trace;
  /** --timeline: told of every step; omitted: NO_TIMELINE, which records nothing. */
  timeline?: Timeline;
  /** Stop the children after this long; null: run until they exit. */
  durationMs: number | null;
  /** The stop signals, caught since the parent's start (main.ts); omitted: caught from
   * run() on, and released when it returns. */
  signals?: StopSignals;
  /** How lines are labelled (coloured or not, main.ts decides); omitted: plain. */
  labels?: Labels;
  /** Called once every child has started (before the first select()): `--break
   * inherit-all` closes the write ends it kept open until then. */
  afterStart?: () => void;
  /** With a stream variant (libuv) fds() and readable() are not used: libuv watches. */
  host?: RelayHost;
}

/** Runs the children with the loop their variant needs. */
export class Relay {
  private core: { run(): Promise<number>; stop(reason: StopReason): void; startChild(spec: ChildSpec): number; wakeFromHost(): void } | null = null;
  private pendingStop: StopReason | null = null;

  constructor(private readonly opts: RelayOptions) {}

  /** Runs every child to the end; resolves with the parent's exit status. */
  run(): Promise<number> {
    const { variant } = this.opts;
    const core = variant.mode === 'descriptors' ? new SelectRelay(this.opts, variant) : new StreamRelay(this.opts, variant);
    this.core = core;
    if (this.pendingStop !== null) core.stop(this.pendingStop);
    return core.run();
  }

  /** Asks every child to stop (SIGTERM, then SIGKILL after a grace period). */
  stop(reason: StopReason): void {
    if (this.core === null) this.pendingStop ??= reason;
    else this.core.stop(reason);
  }

  /** While run() runs (descriptor variants): starts one more child; its pid. Throws if it
   * cannot start, or once the relay is stopping. */
  startChild(spec: ChildSpec): number {
    if (this.core === null) throw new Error('startChild: the relay is not running');
    return this.core.startChild(spec);
  }

  /** Makes the loop run a round now: the host changed its fds() or busy(). */
  wake(): void {
    this.core?.wakeFromHost();
  }
}

/** Everything both modes share: the children, their exit lines, stopping, writing. */
abstract class RelayCore<S extends SourceBase> {
  protected readonly children: RunningChild<S>[] = [];
  protected readonly batch = new OutputBatch();
  protected stopReason: StopReason | null = null;
  protected killDeadline = Number.POSITIVE_INFINITY;
  /** After SIGKILL: streams still open then are held by processes that left the tree
   * (setsid); they are closed at this time rather than waited for. */
  private closeDeadline = Number.POSITIVE_INFINITY;
  /** True while the reader is slow and the sources are not being read. */
  protected readingPaused = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly labels: Labels;
  /** Observes the loop; every call that builds something checks `enabled` first. */
  protected readonly timeline: Timeline;

  constructor(protected readonly opts: RelayOptions) {
    this.labels = opts.labels ?? new Labels(false);
    this.timeline = opts.timeline ?? NO_TIMELINE;
  }

  /** Starts the children (none after a stop); throws, leaving nothing behind, if one
   * cannot start. */
  protected abstract startChildren(): void | Promise<void>;
  /** The mode's loop, until every child is reported and every stream is closed. */
  protected abstract loop(): Promise<void>;
  /** Makes the loop run a round now. */
  protected abstract wakeUp(): void;
  /** Reads what is left in a source and closes it (a stop, or a grandchild's stream). */
  protected abstract closeSource(source: S): void;
  /** Releases what the mode holds besides the children's sources. */
  protected abstract dispose(): void;

  async run(): Promise<number> {
    const signals = this.opts.signals ?? new StopSignals();
    signals.forward((s) => this.stop(s));
    this.listenForExits();
    this.listenForJobControl();
    try {
      await this.startChildren();
      this.opts.afterStart?.();
      if (this.opts.durationMs !== null) {
        this.timers.push(setTimeout(() => this.stop('duration'), this.opts.durationMs));
      }
      await this.loop();
      this.leaveDetached();
      await this.writeBatch();
    } finally {
      if (this.opts.signals === undefined) signals.dispose();
      this.unlistenForExits();
      this.unlistenForJobControl();
      for (const t of this.timers) clearTimeout(t);
      this.dispose();
    }
    await this.opts.output.flush();
    return this.exitStatus();
  }

  /** Asks every child's tree to stop (SIGTERM, then SIGKILL after a grace period). */
  stop(reason: StopReason): void {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    this.opts.host?.stopping(reason);
    this.opts.trace(`stopping (${reason}): SIGTERM to every running child's tree`);
    for (const child of this.children) if (this.treeMayRun(child)) this.signal(child, 'SIGTERM');
    this.killDeadline = Date.now() + KILL_GRACE_MS;
    this.wakeUp();
  }

  protected addChild(spec: ChildSpec, pid: number, kill: RunningChild<S>['kill']): RunningChild<S> {
    const detached = spec.detached === true;
    const child: RunningChild<S> = { spec, pid, detached, sources: [], exit: null, exitReported: false, quietSince: 0, kill };
    this.children.push(child);
    // A stop that came while this child was being started (the libuv variant awaits
    // each spawn): it is stopped like the others.
    if (this.stopReason !== null && !detached) this.signal(child, 'SIGTERM');
    return child;
  }

  /** The child, or what it started, may still run: it has not exited, or a grandchild
   * in its process group holds its streams. Detached children are not ours to stop. */
  private treeMayRun(child: RunningChild<S>): boolean {
    return !child.detached && (child.exit === null || child.sources.some((s) => s.open));
  }

  protected assembler(spec: ChildSpec, pid: number, kind: 'info' | 'error'): LineAssembler {
    const label = this.labels.line(spec.name, pid, kind);
    if (!this.timeline.enabled) return new LineAssembler(label);
    const timeline = this.timeline;
    const tid = kind === 'error' ? STDERR_TID : STDOUT_TID;
    return new LineAssembler(label, { now: nowUs, line: (text, readAt) => timeline.line(pid, tid, readAt, text) });
  }

  /** Until every child is reported and its streams closed. A detached child does not
   * keep the parent running (leaveDetached), except until --duration ends. */
  protected running(): boolean {
    const active = (c: RunningChild<S>): boolean => !c.exitReported || c.sources.some((s) => s.open);
    const forDuration = this.opts.durationMs !== null && this.stopReason === null;
    return this.opts.host?.busy() === true || this.children.some((c) => (forDuration || !c.detached) && active(c));
  }

  /** One more child while the loop runs (a RelayHost's); the descriptor mode only. */
  startChild(spec: ChildSpec): number {
    void spec;
    throw new Error(`startChild: not available with the ${this.opts.variant.name} variant`);
  }

  wakeFromHost(): void {
    this.wakeUp();
  }

  /** Step 4: the child has exited; its exit line waits for its streams (settle). */
  protected exited(child: RunningChild<S>, exit: ExitInfo): void {
    child.exit = exit;
    child.quietSince = Date.now();
    if (this.timeline.enabled) this.timeline.exit(child.pid, exit.code, exit.signal);
    this.opts.trace(`reaped pid ${child.pid}: ${exit.signal ?? `code ${exit.code}`}`);
    this.opts.host?.exited(child.pid, exit);
  }

  /** Output arrived (or is waiting) on a source: an exited child's grace starts over. */
  protected activity(owner: ChildState): void {
    if (owner.exit !== null) owner.quietSince = Date.now();
  }

  /** After each round's reads and reaps: escalate a stop, close what only strangers
   * hold, and print the exit lines that are due. */
  protected settle(): void {
    this.escalate();
    if (Date.now() >= this.closeDeadline && this.children.every((c) => c.detached || c.exit !== null)) {
      // The stopped trees got SIGTERM and SIGKILL; what still holds a stream left the tree
      // on purpose (setsid). Take what is there and close, rather than wait for strangers.
      for (const child of this.children) {
        if (!child.detached) for (const s of child.sources) if (s.open) this.closeSource(s);
      }
    }
    const now = Date.now();
    for (const child of this.children) {
      if (child.exit === null || child.exitReported) continue;
      const ended = child.sources.every((s) => !s.open);
      const quietLongEnough = !this.readingPaused && now - child.quietSince >= EXIT_LINE_GRACE_MS;
      if (!ended && !quietLongEnough) continue;
      if (!ended) this.opts.trace(`pid ${child.pid}: streams still open ${EXIT_LINE_GRACE_MS} ms after its exit (a grandchild holds them)`);
      child.exitReported = true;
      this.batch.append(Buffer.from(this.labels.exit(child.spec.name, child.pid, child.exit)));
    }
  }

  /** Milliseconds until settle() has something to do by the clock (SIGKILL, an exit line
   * whose grace ends); +Infinity when nothing is due. */
  protected nextDeadlineMs(): number {
    let due = Math.min(this.killDeadline, this.closeDeadline);
    for (const c of this.children) {
      if (c.exit !== null && !c.exitReported) due = Math.min(due, c.quietSince + EXIT_LINE_GRACE_MS);
    }
    return due === Number.POSITIVE_INFINITY ? due : Math.max(0, due - Date.now());
  }

  private escalate(): void {
    if (Date.now() < this.killDeadline) return;
    for (const child of this.children) if (this.treeMayRun(child)) this.signal(child, 'SIGKILL');
    this.killDeadline = Number.POSITIVE_INFINITY;
    // What SIGKILL ended reaches end of file at once; give relay threads a moment to copy.
    this.closeDeadline = Date.now() + EXIT_LINE_GRACE_MS;
  }

  /** At the end: a detached child still running is left to run. What it wrote so far is
   * printed, its read ends are closed (its next write meets EPIPE), the parent does not
   * wait for it. One that exited meanwhile gets its exit line. */
  private leaveDetached(): void {
    for (const child of this.children) {
      if (!child.detached) continue;
      for (const s of child.sources) if (s.open) this.closeSource(s);
      if (child.exit !== null) {
        if (!child.exitReported) this.batch.append(Buffer.from(this.labels.exit(child.spec.name, child.pid, child.exit)));
      } else {
        this.batch.append(Buffer.from(this.labels.detached(child.spec.name, child.pid)));
      }
      child.exitReported = true;
    }
  }

  protected signal(child: RunningChild<S>, name: NodeJS.Signals): void {
    try {
      child.kill(name);
      if (this.timeline.enabled) this.timeline.signal(child.pid, name);
      this.opts.trace(`${name} -> pid ${child.pid}`);
    } catch (e) {
      // Already gone (ESRCH) is fine: it is reaped on the next round.
      this.opts.trace(`kill(${child.pid}, ${name}): ${(e as Error).message}`);
    }
  }

  /** Step 5: one write per round; waiting here is the backpressure. */
  protected async writeBatch(): Promise<void> {
    const { output } = this.opts;
    const taken = this.batch.length > 0 ? this.batch.take() : null;
    const timed = taken !== null && this.timeline.enabled;
    const startUs = timed ? nowUs() : 0;
    const lines = timed ? countLines(taken.data) : 0;
    let waitUs = 0;
    if (taken !== null && !output.write(taken.data, taken.release)) {
      this.pauseReading();
      const waitFrom = timed ? nowUs() : 0;
      await output.drained();
      if (timed) waitUs = nowUs() - waitFrom;
    }
    if (timed) this.timeline.write(startUs, taken.data.length, lines, waitUs);
    this.resumeReading();
    if (output.error && this.stopReason === null) {
      this.opts.trace(`stdout failed (${output.error.message}): stopping`);
      this.stop('output-closed');
    }
  }

  /** The reader is slow: stop taking in output (select() does so by not being called). */
  protected pauseReading(): void {
    this.readingPaused = true;
  }

  protected resumeReading(): void {
    if (!this.readingPaused) return;
    this.readingPaused = false;
    // Output may have waited unread all along: the exit lines' grace starts over.
    for (const child of this.children) this.activity(child);
  }

  private readonly onChildExit = (): void => this.wakeUp();

  /**
   * Ctrl-Z. Each child leads its own process group, outside the terminal's foreground
   * group, so the terminal's SIGTSTP reaches the parent alone: it passes the stop on to
   * every tree, then stops itself. SIGSTOP rather than SIGTSTP for the children: the
   * kernel discards SIGTSTP sent to an orphaned process group, which the libuv variant's
   * children are (Node's `detached` puts them in a session of their own).
   */
  private readonly onSuspend = (): void => {
    this.opts.trace('SIGTSTP: SIGSTOP to every running child\'s tree, then to the parent');
    for (const child of this.children) if (this.treeMayRun(child)) this.signal(child, 'SIGSTOP');
    process.kill(process.pid, 'SIGSTOP');
  };

  /** `fg` or `bg` continued the parent: continue the trees it stopped. */
  private readonly onContinue = (): void => {
    this.opts.trace('SIGCONT: SIGCONT to every running child\'s tree');
    for (const child of this.children) if (this.treeMayRun(child)) this.signal(child, 'SIGCONT');
  };

  private listenForJobControl(): void {
    if (!JOB_CONTROL) return;
    process.on('SIGTSTP', this.onSuspend);
    process.on('SIGCONT', this.onContinue);
  }

  private unlistenForJobControl(): void {
    if (!JOB_CONTROL) return;
    process.off('SIGTSTP', this.onSuspend);
    process.off('SIGCONT', this.onContinue);
  }

  private listenForExits(): void {
    if (process.platform !== 'win32') process.on('SIGCHLD', this.onChildExit);
  }

  private unlistenForExits(): void {
    if (process.platform !== 'win32') process.off('SIGCHLD', this.onChildExit);
  }

  private exitStatus(): number {
    const reason = this.stopReason;
    if (reason === 'SIGINT' || reason === 'SIGTERM' || reason === 'SIGHUP') return 128 + signalNumber(reason);
    if (reason === 'output-closed') return 1;
    const stoppedOnTime = (e: ExitInfo): boolean => reason === 'duration' && e.signal !== null;
    // A detached child still running is not a failure: it was meant to outlive us.
    const fine = (c: RunningChild<S>): boolean =>
      c.exit === null ? c.detached : c.exit.code === 0 || stoppedOnTime(c.exit);
    return this.children.every(fine) ? 0 : 1;
  }
}

/** A descriptor select() watches. */
interface FdSource extends SourceBase {
  readonly fd: number;
  /** Called once the stream reached end of file and its descriptor was closed. */
  readonly onEnd: (() => void) | undefined;
}

/** The descriptor variants: select() over the read ends and a wakeup socket pair. */
class SelectRelay extends RelayCore<FdSource> {
  private readonly byFd = new Map<number, FdSource>();
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

  private selectTimeout(): number {
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
  private readSource(source: FdSource, closeAfter = false): void {
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
  private reap(): void {
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

/** A Node stream libuv delivers chunks from. */
interface StreamSource extends SourceBase {
  readonly stream: Readable;
}

/** The libuv variant: Node's child_process streams; libuv does the multiplexing. */
class StreamRelay extends RelayCore<StreamSource> {
  private readonly streams = new Set<StreamSource>();
  /** Resolves the loop's wait; `woken` covers a wakeup while not waiting. */
  private wakeWaiter: (() => void) | null = null;
  private woken = false;

  constructor(opts: RelayOptions, private readonly variant: StreamVariant) {
    super(opts);
  }

  protected async startChildren(): Promise<void> {
    for (const spec of this.opts.specs) {
      if (this.stopReason !== null) break;
      let started: StreamChild;
      const spawnUs = this.timeline.enabled ? nowUs() : 0;
      try {
        started = await this.variant.start(spec, this.opts.trace);
      } catch (e) {
        this.abandonStarted();
        throw e;
      }
      const { pid, kill } = started;
      if (this.timeline.enabled) this.timeline.spawn(spec, pid, spawnUs);
      const child = this.addChild(spec, pid, (signal) => kill(signal));
      for (const s of started.streams) {
        const source: StreamSource = { owner: child, assembler: this.assembler(spec, pid, s.kind), open: true, stream: s.stream };
        child.sources.push(source);
        this.streams.add(source);
        // Steps 2 and 3, as libuv delivers: frame the chunk into the batch.
        const tid = s.kind === 'error' ? STDERR_TID : STDOUT_TID;
        s.stream.on('data', (chunk: Buffer) => {
          if (this.timeline.enabled) this.timeline.stream('data', pid, tid, chunk.length);
          source.assembler.push(chunk, this.batch);
          this.activity(child);
          if (this.batch.length > BATCH_HIGH_WATER_BYTES) this.pauseReading();
          this.wakeUp();
        });
        s.stream.on('end', () => {
          if (this.timeline.enabled) this.timeline.stream('end', pid, tid, 0);
          this.endSource(source);
        });
      }
      void started.exited.then((exit) => {
        this.exited(child, exit);
        this.wakeUp();
      });
    }
  }

  protected async loop(): Promise<void> {
    while (this.running()) {
      await this.nextEvent(); // steps 1-4 happen in the event handlers
      this.settle();
      await this.writeBatch(); // step 5
    }
    // libuv's events can add output while the last write waited for the reader, after
    // the last stream ended: nothing may stay behind in the batch.
    await this.writeBatch();
  }

  /** Waits for a stream event, an exit, a stop, or the next deadline. */
  private async nextEvent(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    const ms = this.nextDeadlineMs();
    const timer = ms === Number.POSITIVE_INFINITY ? undefined : setTimeout(() => this.wakeUp(), Math.ceil(ms));
    await new Promise<void>((resolve) => (this.wakeWaiter = resolve));
    clearTimeout(timer);
  }

  private endSource(source: StreamSource): void {
    if (!source.open) return;
    this.opts.trace(`EOF on libuv stream ${source.assembler.label.toString().trimEnd()}`);
    source.assembler.end(this.batch);
    source.open = false;
    this.streams.delete(source);
    this.wakeUp();
  }

  protected closeSource(source: StreamSource): void {
    source.stream.destroy();
    this.endSource(source);
  }

  /** libuv streams would go on delivering: pause them while the reader is slow. */
  protected override pauseReading(): void {
    if (this.readingPaused) return;
    super.pauseReading();
    for (const s of this.streams) s.stream.pause();
  }

  protected override resumeReading(): void {
    if (!this.readingPaused) return;
    super.resumeReading();
    for (const s of this.streams) s.stream.resume();
  }

  protected wakeUp(): void {
    if (this.wakeWaiter !== null) {
      const resolve = this.wakeWaiter;
      this.wakeWaiter = null;
      resolve();
    } else {
      this.woken = true;
    }
  }

  /** A spawn failed midway: kill the children already started and drop their streams. */
  private abandonStarted(): void {
    for (const child of this.children) {
      this.signal(child, 'SIGKILL');
      for (const source of child.sources) source.stream.destroy();
    }
  }

  protected dispose(): void {
    // Nothing beyond the streams, which end with their children.
  }
}

const WAKE_BYTE = Buffer.from([1]);
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
