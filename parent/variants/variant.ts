/**
 * A variant decides only how a child is started and which descriptors or streams carry
 * its output; everything after "a chunk was read" (line assembler, formatter, output) is
 * shared, and so is the select() multiplexer for the variants that hand it descriptors.
 */
import type { Readable } from 'node:stream';
import type { NativeSpawnBreak } from '../native.ts';
import type { StreamKind } from '../lines.ts';
import type { BreakName } from '../break.ts';
import type { Trace } from '../trace.ts';

/** What to run: a built-in child, a command after `--`, or a `--config` entry. */
export interface ChildSpec {
  /** Shown in labels: `[NAME PID][info]: ...`; "child" unless a config names it. */
  name: string;
  argv: string[];
  cwd?: string;
  /** Replaces the environment when given. */
  env?: Record<string, string>;
  /** `--detached` / `"detached": true`: outside the parent's tree, keeps running after
   * the parent exits (the libuv guide's "Detaching processes"). */
  detached?: boolean;
  /** `--break NAME` (parent/break.ts): one step of the article switched off, to teach. */
  breakStep?: BreakName;
  /** Descriptors the child inherits at the same numbers (the handoff's workers,
   * docs/handoff.md); the socketpair variant's spawn only. */
  extraFds?: readonly number[];
}

/** How a child ended: exactly one of code and signal is set. */
export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

/** A child whose output arrives on descriptors the parent select()s on. */
export interface DescriptorChild {
  pid: number;
  streams: {
    fd: number;
    kind: StreamKind;
    /** Called once the stream reached end of file and its descriptor was closed. */
    onEnd?: () => void;
  }[];
}

export interface DescriptorVariant {
  readonly name: string;
  readonly mode: 'descriptors';
  /** Starts the child; throws (and leaks nothing) when it cannot. */
  start(spec: ChildSpec, trace: Trace): DescriptorChild;
}

/** A child whose output arrives as Node stream events (libuv does the multiplexing). */
export interface StreamChild {
  pid: number;
  streams: { stream: Readable; kind: StreamKind }[];
  /** Resolves with the exit when it happens (its streams may still be delivering). */
  exited: Promise<ExitInfo>;
  kill(signal: NodeJS.Signals): void;
}

export interface StreamVariant {
  readonly name: string;
  readonly mode: 'streams';
  start(spec: ChildSpec, trace: Trace): Promise<StreamChild>;
}

export type Variant = DescriptorVariant | StreamVariant;

export function envList(env: Record<string, string> | undefined): string[] | undefined {
  return env === undefined ? undefined : Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** The spawn options shared by the descriptor variants. */
export function spawnOptions(spec: ChildSpec, stdout: number, stderr: number): {
  stdout: number;
  stderr: number;
  cwd?: string;
  env?: string[];
  detached?: boolean;
  breakStep?: NativeSpawnBreak;
  extraFds?: readonly number[];
} {
  const env = envList(spec.env);
  const breakStep = spec.breakStep === 'inherit-all' || spec.breakStep === 'no-startf' ? spec.breakStep : undefined;
  return {
    stdout,
    stderr,
    ...(spec.cwd !== undefined && { cwd: spec.cwd }),
    ...(env !== undefined && { env }),
    ...(spec.detached === true && { detached: true }),
    // Only the breaks the native spawn does itself; the others are TypeScript steps.
    ...(breakStep !== undefined && { breakStep }),
    ...(spec.extraFds !== undefined && { extraFds: spec.extraFds }),
  };
}
