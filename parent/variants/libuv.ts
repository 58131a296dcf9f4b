/**
 * The reference most Node users would reach for: child_process.spawn with piped stdio.
 * libuv does the multiplexing (epoll, kqueue or IOCP); the chunks it delivers go through
 * the same line assembler and formatter as every other variant.
 */
import { spawn } from 'node:child_process';
import type { Trace } from '../trace.ts';
import type { ChildSpec, ExitInfo, StreamChild, StreamVariant } from './variant.ts';

export const libuvVariant: StreamVariant = {
  name: 'libuv',
  mode: 'streams',
  async start(spec: ChildSpec, trace: Trace): Promise<StreamChild> {
    const child = spawn(spec.argv[0]!, spec.argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(spec.cwd !== undefined && { cwd: spec.cwd }),
      ...(spec.env !== undefined && { env: spec.env }),
      windowsHide: true,
    });
    if (child.pid === undefined) {
      // Node reports a failed spawn (ENOENT, EACCES) as an event on the next tick.
      const e = await new Promise<Error>((resolve) => child.once('error', resolve));
      Object.assign(e, { path: spec.argv[0] });
      throw e;
    }
    trace(`child_process.spawn ${spec.argv.join(' ')} as pid ${child.pid}`);
    // The exit as it happens; the relay prints its line once the streams have ended
    // (EXIT_LINE_GRACE_MS in parent/relay.ts), as for every other variant.
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code: signal === null ? code : null, signal }));
    });
    return {
      pid: child.pid,
      streams: [
        { stream: child.stdout!, kind: 'info' },
        { stream: child.stderr!, kind: 'error' },
      ],
      exited,
      kill: (signal) => {
        child.kill(signal);
      },
    };
  },
};
