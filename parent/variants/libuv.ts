/**
 * The reference most Node users would reach for: child_process.spawn with piped stdio.
 * libuv does the multiplexing (epoll, kqueue or IOCP); the chunks it delivers go through
 * the same line assembler and formatter as every other variant.
 */
import { spawn } from 'node:child_process';
import type { Trace } from '../trace.ts';
import type { ChildSpec, ExitInfo, StreamChild, StreamVariant } from './variant.ts';

/** How long after 'exit' the streams may take to end before the exit is reported anyway. */
const EXIT_REPORT_GRACE_MS = 100;

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
    // 'close' comes after the exit and after both streams ended, so the exit line follows
    // the child's last lines. A grandchild may hold the streams long after the exit,
    // though: then the exit is reported shortly after it happened, as the other variants do.
    const exited = new Promise<ExitInfo>((resolve) => {
      const info = (code: number | null, signal: NodeJS.Signals | null): ExitInfo => ({ code: signal === null ? code : null, signal });
      let grace: NodeJS.Timeout | undefined;
      child.once('exit', (code, signal) => {
        grace = setTimeout(() => resolve(info(code, signal)), EXIT_REPORT_GRACE_MS);
      });
      child.once('close', (code, signal) => {
        clearTimeout(grace);
        resolve(info(code, signal));
      });
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
