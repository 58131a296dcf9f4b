/**
 * The steps the socketpair and posix variants share, as the article lays them out; the
 * two differ only in the channel (a socket pair or a pipe) and the spawn (posix_spawn /
 * CreateProcess, or fork + exec).
 */
import { ipc, type SpawnOptions } from '../native.ts';
import type { Trace } from '../trace.ts';
import { spawnOptions, type ChildSpec, type DescriptorChild } from './variant.ts';

export interface ChannelKind {
  /** "socketpair" or "pipe", for the trace. */
  name: string;
  /** [parent's read end, child's write end] */
  open(): [number, number];
  close(fd: number): void;
  spawn(argv: readonly string[], options: SpawnOptions): number;
}

export function startOverChannels(spec: ChildSpec, trace: Trace, how: ChannelKind): DescriptorChild {
  // Step 1: a channel per stream.
  const out = how.open();
  let err: [number, number];
  try {
    err = how.open();
  } catch (e) {
    out.forEach(how.close);
    throw e;
  }
  trace(`${how.name} for stdout: read end ${out[0]}, write end ${out[1]}`);
  trace(`${how.name} for stderr: read end ${err[0]}, write end ${err[1]}`);
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
  how.close(out[1]);
  how.close(err[1]);
  // Step 4: non-blocking read ends, so one read never stalls the multiplexer.
  ipc.setNonBlocking(out[0]);
  ipc.setNonBlocking(err[0]);
  return {
    pid,
    streams: [
      { fd: out[0], kind: 'info' },
      { fd: err[0], kind: 'error' },
    ],
  };
}
