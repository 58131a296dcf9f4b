/**
 * The step trace: `DEBUG_IO_MULTIPLEXING=1` (the article's switch) or `--trace` prints
 * every step to stderr - socket pairs, spawns, select's ready set, reads, ends, reaps.
 */
import { writeSync } from 'node:fs';

/** Prints one step; `enabled` lets the hot path skip building messages nobody reads. */
export interface Trace {
  (message: string): void;
  readonly enabled: boolean;
}

export function makeTrace(enabled: boolean): Trace {
  if (!enabled) return Object.assign(() => {}, { enabled: false });
  const start = process.hrtime.bigint();
  const trace = (message: string): void => {
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    // Synchronous, so the trace interleaves with the relay's own output in step order.
    writeSync(2, `[trace ${ms.toFixed(3)} ms] ${message}\n`);
  };
  return Object.assign(trace, { enabled: true });
}

export function traceFromEnvironment(): boolean {
  const v = process.env.DEBUG_IO_MULTIPLEXING;
  return v !== undefined && v !== '' && v !== '0';
}
