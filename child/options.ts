/**
 * The children's options, one contract for c/child.c and child/child.ts. The parent also
 * uses this module: it accepts the same options and passes them on to built-in children.
 */

export type Streams = 'both' | 'stdout' | 'stderr';

export interface ChildOptions {
  lines: number | null; // null: forever
  maxSleepMs: number;
  seed: number | null;
  lineBytes: number | null; // null: natural length
  streams: Streams;
  seq: boolean;
  /** Append ` t=U`, the wall clock in µs since 1970 just before the write (latency probes). */
  stamp: boolean;
  exitCode: number;
}

export const DEFAULT_CHILD_OPTIONS: Readonly<ChildOptions> = {
  lines: null,
  maxSleepMs: 3000,
  seed: null,
  lineBytes: null,
  streams: 'both',
  seq: false,
  stamp: false,
  exitCode: 0,
};

export const MAX_LINE_BYTES = 256 * 1024 * 1024;
export const MAX_SLEEP_MS = 3_600_000;

/** A mistake in the command line: shown as one line, exit status 2. */
export class UsageError extends Error {}

/** Whole decimal numbers only: "12", not "12abc", "-1", "1e3", "0x10" or "". */
export function parseWholeNumber(flag: string, text: string, max: number, min = 0): number {
  if (!/^[0-9]+$/.test(text)) {
    throw new UsageError(`invalid value for ${flag}: '${text}' (expected a whole number)`);
  }
  const value = Number(text);
  if (value > max) throw new UsageError(`invalid value for ${flag}: '${text}' (at most ${max})`);
  if (value < min) throw new UsageError(`invalid value for ${flag}: '${text}' (at least ${min})`);
  return value;
}

/** The options that take a value, with how to read it into ChildOptions. */
const VALUE_OPTIONS: Record<string, (o: ChildOptions, flag: string, v: string) => void> = {
  '--lines': (o, f, v) => { o.lines = parseWholeNumber(f, v, Number.MAX_SAFE_INTEGER); },
  '--max-sleep-ms': (o, f, v) => { o.maxSleepMs = parseWholeNumber(f, v, MAX_SLEEP_MS); },
  '--seed': (o, f, v) => { o.seed = parseWholeNumber(f, v, 0xffffffff); },
  '--line-bytes': (o, f, v) => {
    if (v === '0') throw new UsageError(`invalid value for ${f}: '0' (at least 1: the newline)`);
    o.lineBytes = parseWholeNumber(f, v, MAX_LINE_BYTES);
  },
  '--exit-code': (o, f, v) => { o.exitCode = parseWholeNumber(f, v, 255); },
  '--streams': (o, f, v) => {
    if (v !== 'both' && v !== 'stdout' && v !== 'stderr') {
      throw new UsageError(`invalid value for ${f}: '${v}' (expected both, stdout or stderr)`);
    }
    o.streams = v;
  },
};

export function isChildValueOption(flag: string): boolean {
  return Object.hasOwn(VALUE_OPTIONS, flag);
}

/**
 * Reads one child option at args[i] into o. Returns how many arguments it used (1 or 2),
 * or 0 when args[i] is not a child option.
 */
export function takeChildOption(o: ChildOptions, args: readonly string[], i: number): number {
  const flag = args[i]!;
  if (flag === '--seq') {
    o.seq = true;
    return 1;
  }
  if (flag === '--stamp') {
    o.stamp = true;
    return 1;
  }
  const read = VALUE_OPTIONS[flag];
  if (read === undefined) return 0;
  const value = args[i + 1];
  if (value === undefined) throw new UsageError(`missing value for ${flag}`);
  read(o, flag, value);
  return 2;
}

/** Turns options back into arguments, for passing them on to a built-in child. */
export function childOptionArgs(o: ChildOptions): string[] {
  const args: string[] = [];
  if (o.lines !== null) args.push('--lines', String(o.lines));
  if (o.maxSleepMs !== DEFAULT_CHILD_OPTIONS.maxSleepMs) args.push('--max-sleep-ms', String(o.maxSleepMs));
  if (o.seed !== null) args.push('--seed', String(o.seed));
  if (o.lineBytes !== null) args.push('--line-bytes', String(o.lineBytes));
  if (o.streams !== 'both') args.push('--streams', o.streams);
  if (o.seq) args.push('--seq');
  if (o.stamp) args.push('--stamp');
  if (o.exitCode !== 0) args.push('--exit-code', String(o.exitCode));
  return args;
}

export const CHILD_USAGE = `Usage: child [options]
Writes a line to stdout, sleeps, a line to stderr, sleeps, ... (forever by default).
  --lines N          stop after N lines in all (both streams), exit with --exit-code
  --max-sleep-ms M   sleep a random time in [0, M) ms after each line (default 3000; 0: none)
  --seed S           seed for the sleeps (0..4294967295), for reproducible runs
  --line-bytes B     pad (with '.') or cut each line to B bytes including the newline
  --streams WHICH    both (default, alternating), stdout or stderr
  --seq              append ' seq=K', K counting lines per stream from 1
  --stamp            append ' t=U', U the wall clock in microseconds since 1970 just
                     before the write (for latency: a reader subtracts it from its own)
  --exit-code C      exit status after --lines (0..255, default 0)
  --help             this text
`;
