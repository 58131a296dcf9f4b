/**
 * The signals that stop the parent: SIGINT (Ctrl-C), SIGTERM, SIGHUP.
 *
 * They are caught from the parent's first line on (main.ts creates this before it loads
 * anything else) and remembered, so a stop that arrives while the addon loads or while
 * children are being spawned is not lost: the relay takes it over and starts no further
 * child. Why it matters: a parent started in the background by a non-interactive shell
 * (`node main.js ... &` in a script) inherits SIGINT *ignored*; until a handler is
 * installed, a `kill -INT` is silently dropped, and the parent then ran its children to
 * the end as if nothing had happened.
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
