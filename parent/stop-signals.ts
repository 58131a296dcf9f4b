/**
 * The signals that stop the parent: SIGINT (Ctrl-C), SIGTERM, SIGHUP.
 *
 * They are caught from main.ts's first line, before the addon and the relay load, and
 * remembered: a stop that arrives while the modules load or while children are being
 * spawned is taken over by the relay, which then starts no further child and stops those
 * already started. Before, the handlers came with the relay, after every module had
 * loaded: Node's own start-up handler for SIGINT and SIGTERM (it restores the terminal and
 * re-raises the signal) ended the parent on the spot, with no chance to stop what the
 * libuv variant had already spawned. Measured on Linux (test/lifetime.test.ts, "a stop
 * at any point"): a SIGINT sent as the addon loads ended the old parent by the signal in
 * 9 of 10 tries; it now exits 130 with nothing started.
 *
 * This module must stay light (no addon, no relay): it is loaded before them.
 */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

export class StopSignals {
  private received: StopSignal | null = null;
  private handler: ((signal: StopSignal) => void) | null = null;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    const stop = signal as StopSignal;
    if (this.received === null) this.received = stop;
    this.handler?.(stop);
  };

  constructor() {
    for (const s of STOP_SIGNALS) process.on(s, this.onSignal);
  }

  /** The first stop received so far, or null. */
  get first(): StopSignal | null {
    return this.received;
  }

  /** Hands every stop to handler from now on, starting with one that already came. */
  forward(handler: (signal: StopSignal) => void): void {
    this.handler = handler;
    if (this.received !== null) handler(this.received);
  }

  /** Stops catching: from here on the signals have their default effect again. */
  dispose(): void {
    this.handler = null;
    for (const s of STOP_SIGNALS) process.off(s, this.onSignal);
  }
}
