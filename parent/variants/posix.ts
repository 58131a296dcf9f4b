/**
 * The article's `unix` branch: pipe + fork + dup2 + exec, then select() directly on the
 * pipes' read ends. POSIX only: Windows has no fork, and its select() accepts only sockets
 * (WSAENOTSOCK), so the parent refuses this variant there before starting anything.
 */
import { ipc } from '../native.ts';
import type { Trace } from '../trace.ts';
import { spawnOptions, type ChildSpec, type DescriptorChild, type DescriptorVariant } from './variant.ts';

export const POSIX_REFUSAL =
  "the posix variant cannot run on Windows: there is no fork(), and Windows select() accepts only sockets, not pipes (WSAENOTSOCK); use --variant socketpair or pipe-thread";

export const posixVariant: DescriptorVariant = {
  name: 'posix',
  mode: 'descriptors',
  start(spec: ChildSpec, trace: Trace): DescriptorChild {
    // Step 1: a pipe per stream.
    const out = ipc.pipe();
    let err: [number, number];
    try {
      err = ipc.pipe();
    } catch (e) {
      out.forEach(ipc.closePipe);
      throw e;
    }
    trace(`pipe for stdout: read end ${out[0]}, write end ${out[1]}; for stderr: ${err[0]}, ${err[1]}`);
    // Step 2: fork; in the child dup2 the write ends onto 1 and 2, then exec.
    let pid: number;
    try {
      pid = ipc.forkExec(spec.argv, spawnOptions(spec, out[1], err[1]));
    } catch (e) {
      [...out, ...err].forEach(ipc.closePipe);
      throw e;
    }
    trace(`forked and exec'd ${spec.argv.join(' ')} as pid ${pid}`);
    // Step 3: the parent closes the write ends, or EOF never comes.
    ipc.closePipe(out[1]);
    ipc.closePipe(err[1]);
    // Step 4: non-blocking read ends for select().
    ipc.setNonBlocking(out[0]);
    ipc.setNonBlocking(err[0]);
    return {
      pid,
      streams: [
        { fd: out[0], kind: 'info' },
        { fd: err[0], kind: 'error' },
      ],
    };
  },
};
