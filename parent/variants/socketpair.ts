/**
 * The article's main branch: a socket pair per stream. The child writes to one end (its
 * stdout or stderr), the parent select()s on the other. Sockets, because Windows select()
 * accepts nothing else; on POSIX a real socketpair(2), on Windows the loopback emulation.
 */
import { ipc } from '../native.ts';
import type { Trace } from '../trace.ts';
import { spawnOptions, type ChildSpec, type DescriptorChild, type DescriptorVariant } from './variant.ts';

export const socketpairVariant: DescriptorVariant = {
  name: 'socketpair',
  mode: 'descriptors',
  start(spec: ChildSpec, trace: Trace): DescriptorChild {
    // Step 1: two socket pairs, [parent's read end, child's write end].
    const out = ipc.socketpair();
    let err: [number, number];
    try {
      err = ipc.socketpair();
    } catch (e) {
      out.forEach(ipc.close);
      throw e;
    }
    trace(`socketpair for stdout: read end ${out[0]}, write end ${out[1]}`);
    trace(`socketpair for stderr: read end ${err[0]}, write end ${err[1]}`);
    // Step 2: spawn with the write ends as the child's stdout and stderr.
    let pid: number;
    try {
      pid = ipc.spawn(spec.argv, spawnOptions(spec, out[1], err[1]));
    } catch (e) {
      [...out, ...err].forEach(ipc.close);
      throw e;
    }
    trace(`spawned ${spec.argv.join(' ')} as pid ${pid}`);
    // Step 3: close the parent's copies of the write ends - while the parent holds one,
    // the stream never reaches end of file (the article's C parent never closes them).
    ipc.close(out[1]);
    ipc.close(err[1]);
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
  },
};
