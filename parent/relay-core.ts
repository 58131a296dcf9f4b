/**
 * What every mode of the parent's loop shares (parent/relay.ts gives the overview): the
 * children, their exit lines, stopping, job control, the output batch and its write.
 */
import { LineAssembler, Labels, OutputBatch } from './lines.ts';
import { signalNumber } from './native.ts';
import type { Output } from './output.ts';
import { StopSignals, type StopSignal } from './stop-signals.ts';
import { countLines, NO_TIMELINE, nowUs, STDERR_TID, STDOUT_TID, type Timeline } from './timeline.ts';
import type { Trace } from './trace.ts';
import type { ChildSpec, ExitInfo, Variant } from './variants/variant.ts';

/** After asking children to stop, how long before SIGKILL. */
const KILL_GRACE_MS = 500;
/** Job control (SIGTSTP, SIGCONT) exists on POSIX only. */
const JOB_CONTROL = process.platform !== 'win32';
/** How much unwritten output a round may gather. libuv delivers chunks as fast as it
 * reads them: past this the streams pause until the loop has written the batch. A select()
 * round stops reading once past it (see SelectRelay.readReady). */
export const BATCH_HIGH_WATER_BYTES = 1024 * 1024;
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

export type LoopChoice = 'auto' | 'js' | 'native';

export type StopReason = StopSignal | 'duration' | 'output-closed';

/** What the core knows of a child; the modes add how it is reaped and read. */
export interface ChildState {
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
export interface SourceBase {
  readonly owner: ChildState;
  readonly assembler: LineAssembler;
  open: boolean;
}

export interface RunningChild<S extends SourceBase> extends ChildState {
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
  /** Who runs the descriptor variants' select() loop (`--loop`): 'js', the TypeScript
   * loop (parent/relay-select.ts); 'native', the same loop in C on a thread of its own
   * (parent/relay-native.ts; throws where it cannot run); 'auto' (the default), native
   * where it can run. */
  loop?: LoopChoice;
}

/** Everything both modes share: the children, their exit lines, stopping, writing. */
export abstract class RelayCore<S extends SourceBase> {
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

  /** After the last write: a mode that writes on a thread of its own (NativeRelay) waits
   * here until everything is written. */
  protected async outputDone(): Promise<void> {
    // The output is written by writeBatch itself.
  }

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
      await this.outputDone();
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

/**
 * How a mode without a select() of its own (StreamRelay, NativeRelay) waits for its next
 * event: until wake() or a timeout. A wake() that comes while nobody waits is kept, so the
 * next wait() returns at once and no event is lost between two waits.
 */
export class Wakeup {
  private waiter: (() => void) | null = null;
  private woken = false;

  wake(): void {
    if (this.waiter !== null) {
      const resolve = this.waiter;
      this.waiter = null;
      resolve();
    } else {
      this.woken = true;
    }
  }

  /** Resolves at the next wake(), or after timeoutMs (+Infinity or < 0: no timeout). */
  async wait(timeoutMs: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    const timer = timeoutMs < 0 || timeoutMs === Number.POSITIVE_INFINITY ? undefined : setTimeout(() => this.wake(), Math.ceil(timeoutMs));
    await new Promise<void>((resolve) => (this.waiter = resolve));
    clearTimeout(timer);
  }
}
