/**
 * The reference most Node users would reach for: child_process.spawn with piped stdio.
 * libuv does the multiplexing (epoll, kqueue or IOCP); the chunks it delivers go through
 * the same line assembler and formatter as every other variant.
 *
 * Process lifetime, as for the other variants (c/guard_posix.c explains the mechanism):
 * on POSIX the child is started with Node's `detached: true`, which makes it the leader
 * of a new session and so of its own process group; stops go to that group (killTree),
 * and the addon's watchdog kills the group if the parent dies (guardGroup). On Windows
 * libuv already puts every non-detached child in a kill-on-close job, and Node's
 * `detached` would take it out of that job: it is used there only for --detached.
 */
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { ipc, signalNumber } from '../native.ts';
import type { Trace } from '../trace.ts';
import type { ChildSpec, ExitInfo, StreamChild, StreamVariant } from './variant.ts';

const PROCESS_GROUPS = process.platform !== 'win32';

/**
 * node:child_process, loaded at this variant's first spawn rather than with the parent:
 * it brings net, dgram and the stream classes with it, which the other three variants
 * never use, and every parent loads this module (variants/index.ts). Synchronously
 * (require, not import()), so the spawn stays where it was: no extra turn of the event
 * loop between the relay's decision to start a child and the child's start. The cost
 * measured on Linux: docs/benchmarks.md, "Where the time goes: start-up".
 */
let childProcessModule: typeof import('node:child_process') | null = null;
function childProcess(): typeof import('node:child_process') {
  childProcessModule ??= createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  return childProcessModule;
}

export const libuvVariant: StreamVariant = {
  name: 'libuv',
  mode: 'streams',
  start: (spec, trace) => startWithLibuv(spec, trace),
};

/** The variant's start; with `onIpc`, the child also gets Node's 'ipc' channel (as its
 * fd 3) and onIpc receives the ChildProcess to send() on (the handoff's libuv technique). */
export async function startWithLibuv(spec: ChildSpec, trace: Trace, onIpc?: (child: ChildProcess) => void): Promise<StreamChild> {
  const detached = spec.detached === true;
  const child = childProcess().spawn(spec.argv[0]!, spec.argv.slice(1), {
    stdio: onIpc === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', 'ipc'],
    ...(spec.cwd !== undefined && { cwd: spec.cwd }),
    ...(spec.env !== undefined && { env: spec.env }),
    detached: detached || PROCESS_GROUPS,
    windowsHide: true,
  });
  if (child.pid === undefined) {
    // Node reports a failed spawn (ENOENT, EACCES) as an event on the next tick.
    const e = await new Promise<Error>((resolve) => child.once('error', resolve));
    Object.assign(e, { path: spec.argv[0] });
    throw e;
  }
  const pid = child.pid;
  if (detached) {
    // Not waited for: the parent's event loop may end while it runs.
    child.unref();
  } else if (PROCESS_GROUPS) {
    // Synchronously after spawn: Node reaps only on a later turn of the event loop, so
    // the group exists (its leader is at worst a zombie).
    ipc.guardGroup(pid);
  }
  trace(`child_process.spawn ${spec.argv.join(' ')} as pid ${pid}${detached ? ' (detached)' : ''}`);
  onIpc?.(child);
  // The exit as it happens; the relay prints its line once the streams have ended
  // (EXIT_LINE_GRACE_MS in parent/relay-core.ts), as for every other variant.
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      // The watchdog need not kill this group any more once it is empty.
      if (PROCESS_GROUPS && !detached) ipc.forgetGroup(pid);
      resolve({ code: signal === null ? code : null, signal });
    });
  });
  return {
    pid,
    streams: [
      { stream: child.stdout!, kind: 'info' },
      { stream: child.stderr!, kind: 'error' },
    ],
    exited,
    kill: (signal) => {
      if (PROCESS_GROUPS) ipc.killTree(pid, signalNumber(signal));
      else child.kill(signal);
    },
  };
}
