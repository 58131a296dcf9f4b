/**
 * W3 helper, run by scripts/bench.ts as a process of its own (so each measurement starts
 * from the same fresh Node):
 *
 *   node --import <tsx loader> scripts/bench/spawn.ts --how addon|forkexec|node
 *        [--count 100] [--batch serial|all] [--program /bin/true]
 *
 * Starts COUNT copies of PROGRAM, one at a time (each waited for before the next) or all
 * at once, and prints one JSON line:
 *   {"how":..,"batch":..,"count":..,"elapsed_ns":FIRST SPAWN TO LAST EXIT SEEN,
 *    "spawn_ns":SUM OF THE SYNCHRONOUS SPAWN CALLS}
 *
 * The three ways have the same shape, so the comparison is fair: two stream descriptors
 * for stdout and stderr, stdin the null device, and a child counts as done only when both
 * streams reached end of file and its exit status was collected.
 *   addon     ipc.socketpair() x2 + ipc.spawn() (posix_spawn): the socketpair variant's
 *             start (pipe-thread spawns the same way); end of file seen with ipc.select()
 *             and ipc.read(), the exit with ipc.wait() on SIGCHLD - what parent/relay-select.ts does.
 *   forkexec  ipc.pipe() x2 + ipc.forkExec() (fork + dup2 + execve): the posix variant.
 *   node      child_process.spawn(stdio: ['ignore', 'pipe', 'pipe']) (libuv makes a socket
 *             pair per pipe), done at 'close': the libuv variant, a plain Node parent.
 * One untimed start first, so loading code and warming the JIT is not counted.
 */
import { spawn } from 'node:child_process';
import { ipc } from '../../parent/native.ts';
import { oneOf, parseArgsOrExit, positiveInt } from '../args.ts';

type How = 'addon' | 'forkexec' | 'node';
type Batch = 'serial' | 'all';

const USAGE = 'usage: spawn.ts --how addon|forkexec|node [--count N] [--batch serial|all] [--program PATH]';

function parse(args: string[]): { how: How; batch: Batch; count: number; program: string } {
  const { values: v } = parseArgsOrExit('spawn.ts', USAGE, {
    args,
    options: {
      how: { type: 'string', default: 'addon' },
      batch: { type: 'string', default: 'serial' },
      count: { type: 'string', default: '100' },
      program: { type: 'string', default: '/bin/true' },
    },
  });
  return {
    how: oneOf('spawn.ts', USAGE, '--how', v.how, ['addon', 'forkexec', 'node'] as const),
    batch: oneOf('spawn.ts', USAGE, '--batch', v.batch, ['serial', 'all'] as const),
    count: positiveInt('spawn.ts', USAGE, '--count', v.count),
    program: v.program,
  };
}

/** A started child: finish() resolves once its streams ended and it was reaped. */
interface Started {
  finish: () => Promise<void>;
}

// ---- the addon's way: descriptors, select(), wait() on SIGCHLD ----

let sigchldWaiters: (() => void)[] = [];
function onSigchld(): void {
  const waiters = sigchldWaiters;
  sigchldWaiters = [];
  for (const w of waiters) w();
}
/** The next SIGCHLD, or 20 ms, whichever first (a signal that came before we listened
 * is not lost: the caller polls wait() again either way). */
function nextSigchld(): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 20);
    sigchldWaiters.push(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

const readBuffer = Buffer.allocUnsafe(64 * 1024);

interface AddonChild {
  pid: number;
  fds: number[];
  close: (fd: number) => void;
}

function startAddon(program: string, fork: boolean): AddonChild {
  const make = fork ? ipc.pipe : ipc.socketpair;
  const close = fork ? ipc.closePipe : ipc.close;
  const out = make();
  const err = make();
  const options = { stdout: out[1], stderr: err[1] };
  const pid = fork ? ipc.forkExec([program], options) : ipc.spawn([program], options);
  close(out[1]);
  close(err[1]);
  ipc.setNonBlocking(out[0]);
  ipc.setNonBlocking(err[0]);
  return { pid, fds: [out[0], err[0]], close };
}

/** select() over every open read end until all are at end of file, then reap all. */
async function finishAddon(children: readonly AddonChild[]): Promise<void> {
  const open = new Map<number, AddonChild>();
  for (const c of children) for (const fd of c.fds) open.set(fd, c);
  while (open.size > 0) {
    const ready = await ipc.select([...open.keys()], 1000);
    for (const fd of ready) {
      const n = ipc.read(fd, readBuffer);
      if (n === 0) {
        open.get(fd)!.close(fd);
        open.delete(fd);
      }
    }
  }
  for (const c of children) {
    while (ipc.wait(c.pid) === null) await nextSigchld();
  }
}

// ---- Node's way: child_process ----

function startNode(program: string): Promise<void> {
  const child = spawn(program, [], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.resume();
  child.stderr!.resume();
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => resolve());
  });
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (o.how !== 'node') process.on('SIGCHLD', onSigchld);
  let spawnNs = 0n;
  const start = (): Started => {
    const t = process.hrtime.bigint();
    if (o.how === 'node') {
      const closed = startNode(o.program);
      spawnNs += process.hrtime.bigint() - t;
      return { finish: () => closed };
    }
    const c = startAddon(o.program, o.how === 'forkexec');
    spawnNs += process.hrtime.bigint() - t;
    return { finish: () => finishAddon([c]) };
  };
  const startMany = (n: number): Promise<void> => {
    if (o.how === 'node') {
      const all: Promise<void>[] = [];
      for (let i = 0; i < n; i++) all.push(start().finish());
      return Promise.all(all).then(() => undefined);
    }
    const children: AddonChild[] = [];
    for (let i = 0; i < n; i++) {
      const t = process.hrtime.bigint();
      children.push(startAddon(o.program, o.how === 'forkexec'));
      spawnNs += process.hrtime.bigint() - t;
    }
    return finishAddon(children);
  };

  await start().finish(); // warm-up, not counted
  spawnNs = 0n;
  const t0 = process.hrtime.bigint();
  if (o.batch === 'serial') {
    for (let i = 0; i < o.count; i++) await start().finish();
  } else {
    await startMany(o.count);
  }
  const elapsed = process.hrtime.bigint() - t0;
  process.off('SIGCHLD', onSigchld);
  process.stdout.write(
    `${JSON.stringify({ how: o.how, batch: o.batch, count: o.count, elapsed_ns: Number(elapsed), spawn_ns: Number(spawnNs) })}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`spawn.ts: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
