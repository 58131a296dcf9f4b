/**
 * A variant decides only how a child is started and which descriptors carry its output;
 * everything after "a chunk was read" (multiplexer, line assembler, formatter) is shared.
 */
import type { StreamKind } from '../lines.ts';
import type { Trace } from '../trace.ts';

/** What to run: a built-in child, a command after `--`, or a `--config` entry. */
export interface ChildSpec {
  /** Shown in labels: `[NAME PID][info]: ...`; "child" unless a config names it. */
  name: string;
  argv: string[];
  cwd?: string;
  /** Replaces the environment when given. */
  env?: Record<string, string>;
}

/** A started child whose output arrives on descriptors the parent select()s on. */
export interface DescriptorChild {
  pid: number;
  streams: { fd: number; kind: StreamKind }[];
}

export interface DescriptorVariant {
  readonly name: string;
  /** Starts the child; throws (and leaks nothing) when it cannot. */
  start(spec: ChildSpec, trace: Trace): DescriptorChild;
}

export function envList(env: Record<string, string> | undefined): string[] | undefined {
  return env === undefined ? undefined : Object.entries(env).map(([k, v]) => `${k}=${v}`);
}
