/**
 * The steps the socketpair and posix variants share, as the article lays them out; the
 * two differ only in the channel (a socket pair or a pipe) and the spawn (posix_spawn /
 * CreateProcess, or fork + exec).
 *
 * `--break NAME` (parent/break.ts) switches one of these steps off, to teach what it is
 * for; each place is marked "break:".
 */
import { holdWriteEnd } from '../break.ts';
import { ipc, type SpawnOptions } from '../native.ts';
import type { Trace } from '../trace.ts';
import { spawnOptions, type ChildSpec, type DescriptorChild } from './variant.ts';

export interface ChannelKind {
  /** "socketpair" or "pipe", for the trace. */
  name: string;
  /** [parent's read end, child's write end] */
  open(spec: ChildSpec): [number, number];
  close(fd: number): void;
  spawn(argv: readonly string[], options: SpawnOptions): number;
}

export function startOverChannels(spec: ChildSpec, trace: Trace, how: ChannelKind): DescriptorChild {
  // Step 1: a channel per stream.
  const out = how.open(spec);
  let err: [number, number];
  try {
    err = how.open(spec);
  } catch (e) {
    out.forEach(how.close);
    throw e;
  }
  trace(`${how.name} for stdout: read end ${out[0]}, write end ${out[1]}`);
  trace(`${how.name} for stderr: read end ${err[0]}, write end ${err[1]}`);
  if (spec.breakStep === 'nonblocking-write-end') {
    // break: O_NONBLOCK belongs to the open file description (the socket on Windows),
    // which the child shares: its writes fail with EAGAIN once the buffer is full.
    ipc.setNonBlocking(out[1]);
    ipc.setNonBlocking(err[1]);
  }
  // Step 2: start the child with the write ends as its stdout and stderr.
  let pid: number;
  try {
    pid = how.spawn(spec.argv, spawnOptions(spec, out[1], err[1]));
  } catch (e) {
    [...out, ...err].forEach(how.close);
    throw e;
  }
  trace(`spawned ${spec.argv.join(' ')} as pid ${pid}`);
  // Step 3: close the parent's copies of the write ends - while the parent holds one,
  // the stream never reaches end of file (the article's C parent never closes them).
  if (spec.breakStep === 'keep-write-ends' || spec.breakStep === 'inherit-all') {
    // break: kept (keep-write-ends), or kept until every child has started (inherit-all:
    // only a write end still open when the next child starts can leak into it; this
    // parent closes each right after its spawn, which alone hides the leak).
    trace(`--break ${spec.breakStep}: write ends ${out[1]} and ${err[1]} stay open in the parent`);
    holdWriteEnd(out[1], how.close);
    holdWriteEnd(err[1], how.close);
  } else {
    how.close(out[1]);
    how.close(err[1]);
  }
  // Step 4: non-blocking read ends, so one read never stalls the multiplexer.
  if (spec.breakStep !== 'blocking-read') {
    ipc.setNonBlocking(out[0]);
    ipc.setNonBlocking(err[0]);
  }
  return {
    pid,
    streams: [
      { fd: out[0], kind: 'info' },
      { fd: err[0], kind: 'error' },
    ],
  };
}
