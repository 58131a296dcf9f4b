/**
 * The step trace: `DEBUG_IO_MULTIPLEXING=1` (the article's switch) or `--trace` prints
 * every step to stderr - socket pairs, spawns, select's ready set, reads, ends, reaps.
 */
import { writeSync } from 'node:fs';

export type Trace = (message: string) => void;

export function makeTrace(enabled: boolean): Trace {
  if (!enabled) return () => {};
  const start = process.hrtime.bigint();
  return (message) => {
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    // Synchronous, so the trace interleaves with the relay's own output in step order.
    writeSync(2, `[trace ${ms.toFixed(3)} ms] ${message}\n`);
  };
}

export function traceFromEnvironment(): boolean {
  const v = process.env.DEBUG_IO_MULTIPLEXING;
  return v !== undefined && v !== '' && v !== '0';
}
