/**
 * The article's parent loop: start the children, then select() over every read end, read
 * what is ready, reassemble lines, label them, write them out; reap children as they exit.
 *
 * Three modes, one class and file each, over a shared core (RelayCore in relay-core.ts:
 * children, exit lines, stops, the output batch):
 *
 *   SelectRelay (relay-select.ts; socketpair, pipe-thread, posix) - one round of its loop:
 *     1. select() on all open read ends plus a wakeup socket (off the main thread),
 *     2. read each ready descriptor until it would block (256 KiB at a time),
 *     3. split into lines and label them into one output batch,
 *     4. reap exited children (draining what they left in their sockets),
 *     5. write the batch; if the reader is slow, wait for it before reading again, so the
 *        children block on full buffers instead of the parent buffering their output.
 *
 *   NativeRelay (relay-native.ts; the same variants, `--loop native`, the default on
 *     POSIX where nothing observes the steps): SelectRelay's steps 1, 2, 3 and 5 in C on a
 *     thread of its own (c/loop_posix.c), the same algorithm; step 4 and the exit lines
 *     stay here. SelectRelay is the reference, the one to read; this one is faster.
 *
 *   StreamRelay (relay-stream.ts; libuv): libuv multiplexes; its stream events do steps
 *     1-3 as they come, and the loop only waits for them, settles exits and writes
 *     (step 5), pausing the streams while the reader is slow.
 *
 * A child's exit line follows everything it wrote: it waits for the end of the child's
 * streams (see EXIT_LINE_GRACE_MS for the one exception).
 */
import type { RelayOptions, StopReason } from './relay-core.ts';
import { NativeRelay, useNativeLoop } from './relay-native.ts';
import { SelectRelay } from './relay-select.ts';
import { StreamRelay } from './relay-stream.ts';
import type { ChildSpec } from './variants/variant.ts';

export { nativeLoopRefusal } from './relay-native.ts';
export { EXIT_LINE_GRACE_MS, type LoopChoice, type RelayHost, type RelayOptions, type StopReason } from './relay-core.ts';

/** Runs the children with the loop their variant needs. */
export class Relay {
  private core: { run(): Promise<number>; stop(reason: StopReason): void; startChild(spec: ChildSpec): number; wakeFromHost(): void } | null = null;
  private pendingStop: StopReason | null = null;

  constructor(private readonly opts: RelayOptions) {}

  /** Runs every child to the end; resolves with the parent's exit status. */
  run(): Promise<number> {
    const { variant } = this.opts;
    let core: SelectRelay | StreamRelay;
    if (variant.mode === 'streams') core = new StreamRelay(this.opts, variant);
    else if (useNativeLoop(this.opts)) core = new NativeRelay(this.opts, variant);
    else core = new SelectRelay(this.opts, variant);
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

