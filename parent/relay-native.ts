/**
 * `--loop native`: the descriptor variants' loop with steps 1, 2, 3 and 5 (select, read,
 * label, write) on a C thread of its own (c/loop_posix.c), and steps 4 (reap) and the exit
 * lines here, exactly as in the TypeScript loop (parent/relay-select.ts), which stays the
 * readable reference of the article's steps. Both loops have the same constants and cut
 * rounds and lines at the same places; test/native-loop.test.ts runs both on the same
 * input and compares the bytes.
 *
 * Why: the TypeScript loop pays, per select() round, a trip through Node's thread pool and
 * back, a Node-API call per read, and the main thread's garbage collection and compiler
 * pauses; with children writing 64 KiB at a time that made the parent 1.6-1.8x a C relay
 * of the same transport (docs/benchmarks.md says where the time went). The thread is that
 * C relay, inside the parent.
 *
 * Where it runs (nativeLoopRefusal): POSIX (pthreads; Windows keeps the TypeScript loop),
 * output to the process's own stdout, and nothing that observes or changes the
 * TypeScript loop's steps: no --trace, no --timeline, no --break, no handoff listener.
 */
import { ipc, type NativeLoop, type NativeLoopEvent, type NativeLoopIpc } from './native.ts';
import { Wakeup, type RelayOptions } from './relay-core.ts';
import { SelectRelay, type FdSource } from './relay-select.ts';
import type { DescriptorVariant } from './variants/variant.ts';

/** Why the native loop cannot run these options; null when it can. */
export function nativeLoopRefusal(opts: RelayOptions): string | null {
  if (nativeLoopCalls() === null) return `the native loop is not built for ${process.platform} (POSIX only)`;
  if (opts.variant.mode !== 'descriptors') return `the ${opts.variant.name} variant has no select() loop (libuv multiplexes)`;
  if (opts.output.fd === null) return 'the output is not the process\'s stdout';
  if (opts.trace.enabled) return '--trace shows the TypeScript loop\'s steps';
  if (opts.timeline?.enabled === true) return '--timeline records the TypeScript loop\'s steps';
  if (opts.host !== undefined) return 'the handoff master\'s listener joins the TypeScript loop\'s select()';
  if (opts.specs.some((s) => s.breakStep !== undefined)) return '--break changes the TypeScript loop\'s steps';
  return null;
}

/** Whether to run the native loop: `auto` where it can, `native` or an error saying why
 * not, `js` never. */
export function useNativeLoop(opts: RelayOptions): boolean {
  const choice = opts.loop ?? 'auto';
  if (choice === 'js') return false;
  const refusal = nativeLoopRefusal(opts);
  if (refusal !== null && choice === 'native') throw new Error(`--loop native: ${refusal}`);
  return refusal === null;
}

function nativeLoopCalls(): NativeLoopIpc | null {
  const { loopStart, loopAdd, loopClose, loopAppend, loopFinish, loopQuietMs, loopJoin } = ipc;
  if (loopStart === undefined || loopAdd === undefined || loopClose === undefined || loopAppend === undefined ||
      loopFinish === undefined || loopQuietMs === undefined || loopJoin === undefined)
    return null;
  return { loopStart, loopAdd, loopClose, loopAppend, loopFinish, loopQuietMs, loopJoin };
}

export class NativeRelay extends SelectRelay {
  private readonly calls: NativeLoopIpc;
  private loopHandle: NativeLoop | null = null;
  private readonly wakeup = new Wakeup();
  /** Sources handed to loopClose whose 'end' event has not come yet. */
  private readonly closing = new Map<number, FdSource>();
  private failure: Error | null = null;
  private outputFailed = false;
  private onFinished: (() => void) | null = null;

  constructor(opts: RelayOptions, variant: DescriptorVariant) {
    super(opts, variant);
    const calls = nativeLoopCalls();
    if (calls === null) throw new Error(`the native loop is not built for ${process.platform}`);
    this.calls = calls;
  }

  /** The children start as in the TypeScript loop; then their read ends go to the thread,
   * which owns them from here on. */
  protected override async startChildren(): Promise<void> {
    super.startChildren();
    // What the parent wrote through process.stdout ("Running forever, ...") goes first.
    await this.opts.output.flush();
    const output = this.opts.output.fd;
    if (output === null) throw new Error('the native loop writes to stdout only');
    const loop = this.calls.loopStart(output, (events) => this.onEvents(events));
    this.loopHandle = loop;
    for (const source of this.byFd.values()) this.calls.loopAdd(loop, source.fd, source.assembler.label);
  }

  /** The JavaScript side of each round: wait for the thread's events, a child's exit
   * (SIGCHLD), a stop or a deadline; then step 4 and the exit lines. */
  protected override async loop(): Promise<void> {
    while (this.running()) {
      await this.wakeup.wait(this.selectTimeout());
      if (this.failure !== null) throw this.failure;
      this.reap(); // step 4; the thread keeps reading what the children left
      this.noteQuiet();
      this.settle();
      await this.writeBatch(); // the exit lines, behind everything labelled so far
    }
  }

  /** The thread reads on its own: only a last look before closing is asked of it (a stop,
   * a detached child left running). The source counts as ended from now on; if that last
   * look meets end of file, its 'end' event still runs onEnd, as in the TypeScript loop. */
  protected override readSource(source: FdSource, closeAfter = false): void {
    if (!closeAfter || !source.open || this.loopHandle === null) return;
    source.open = false;
    this.byFd.delete(source.fd);
    this.closing.set(source.fd, source);
    this.calls.loopClose(this.loopHandle, source.fd);
  }

  /** Step 5 is the thread's: what JavaScript wrote into the batch (exit lines) joins its
   * output in order. */
  protected override async writeBatch(): Promise<void> {
    if (this.loopHandle !== null && this.batch.length > 0) {
      const taken = this.batch.take();
      this.calls.loopAppend(this.loopHandle, taken.data);
      taken.release();
    }
    if (this.outputFailed && this.stopReason === null) this.stop('output-closed');
  }

  /** Waits until the thread has written everything, then joins it. */
  protected override async outputDone(): Promise<void> {
    const loop = this.loopHandle;
    if (loop === null) return;
    const finished = new Promise<void>((resolve) => (this.onFinished = resolve));
    this.calls.loopFinish(loop);
    await finished;
    this.loopHandle = null;
    this.calls.loopJoin(loop);
  }

  /** An exited child's grace starts over whenever output came since (the thread keeps
   * the time of each source's last output, and stops the clock while the reader is
   * slow). */
  private noteQuiet(): void {
    const loop = this.loopHandle;
    if (loop === null) return;
    const now = Date.now();
    for (const child of this.children) {
      if (child.exit === null || child.exitReported) continue;
      for (const s of child.sources) {
        const quiet = s.open ? this.calls.loopQuietMs(loop, s.fd) : -1;
        if (quiet >= 0) child.quietSince = Math.max(child.quietSince, now - quiet);
      }
    }
  }

  private onEvents(events: NativeLoopEvent[]): void {
    for (const e of events) {
      if (e.kind === 'end') {
        // Only at a real end of file: a relay thread (pipe-thread) is then done.
        const closed = this.closing.get(e.fd);
        if (closed !== undefined) {
          // Closed by readSource, already counted as ended.
          this.closing.delete(e.fd);
          if (e.eof) closed.onEnd?.();
          continue;
        }
        const source = this.byFd.get(e.fd);
        if (source === undefined) continue;
        source.open = false;
        this.byFd.delete(e.fd);
        this.activity(source.owner);
        if (e.eof) source.onEnd?.();
      } else if (e.kind === 'output-error') {
        this.opts.trace(`stdout failed (${e.error.message}): stopping`);
        this.outputFailed = true;
      } else if (e.kind === 'failed') {
        this.failure = e.error;
      } else {
        this.onFinished?.();
      }
    }
    this.wakeUp();
  }

  protected override wakeUp(): void {
    this.wakeup.wake();
  }

  /** Only when run() failed before the end: the thread still owns descriptors. The
   * children are killed first, so that the thread's last look at each source ends (a
   * child still writing would keep it reading); then it ends them and stops, and the
   * join waits for its last write. */
  protected override dispose(): void {
    const loop = this.loopHandle;
    if (loop !== null) {
      this.loopHandle = null;
      for (const child of this.children) if (!child.detached && child.exit === null) this.signal(child, 'SIGKILL');
      this.calls.loopFinish(loop);
      this.calls.loopJoin(loop);
    }
    super.dispose();
  }
}
