/**
 * Quirk 11: a child that inherits another child's write end holds that stream open. The C
 * demonstration (quirk_c inherited-write-end) starts a short-lived child A and a long-lived
 * child B the article's way; the same two children started with the project's ipc.spawn
 * show A's end of stream at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ipc, QUIRK_C_PATH, signalNumber, type ExitStatus } from '../../parent/native.ts';
import { measuredBy, type Quirk, runQuirkC, side, value } from './quirk.ts';

const B_LIFETIME_MS = 2500;
const EOF_LIMIT_MS = 10_000;

/** Reads fd until end of stream or the limit; ms since t0, or -1. */
async function eofAfter(fd: number, t0: number, limitMs: number): Promise<number> {
  const buf = Buffer.alloc(4096);
  ipc.setNonBlocking(fd);
  while (performance.now() - t0 < limitMs) {
    if ((await ipc.select([fd], 100)).length === 0) continue;
    for (;;) {
      const n = ipc.read(fd, buf);
      if (n === 0) return performance.now() - t0;
      if (n < 0) break;
    }
  }
  return -1;
}

/** Waits for the child's exit (polling, bounded); kills it past the limit. */
async function reap(pid: number, limitMs: number): Promise<ExitStatus> {
  const t0 = performance.now();
  for (;;) {
    const st = ipc.wait(pid);
    if (st !== null) return st;
    if (performance.now() - t0 > limitMs) ipc.kill(pid, signalNumber('SIGKILL'));
    await sleep(20);
  }
}

export const quirk: Quirk = {
  order: 11,
  id: 'inherited-write-end',
  title: "An inherited write end: one child holds another child's stream open",
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'same',
  observed: {
    linux: measuredBy('inherited-write-end', "A's end of stream waits for B when B inherits A's write end"),
    wine: measuredBy('inherited-write-end', 'bInheritHandles without a handle list: the same wait; with PROC_THREAD_ATTRIBUTE_HANDLE_LIST, none'),
    windows: { kind: 'documented', source: 'Microsoft docs, `UpdateProcThreadAttribute`; Raymond Chen, "Programmatically controlling which handles are inherited"' },
    macos: { kind: 'documented', source: 'POSIX `fcntl` (FD_CLOEXEC) and `exec`' },
  },
  doc: {
    problem:
      "When child B is started while child A's write end is inheritable, B gets a copy of it. A exits, but its stream does not end: the " +
      'parent sees A\'s end of stream only when B exits, seconds or hours later, and cannot tell that A is done.',
    why:
      'On POSIX every descriptor without close-on-exec survives exec; on Windows `CreateProcess` with `bInheritHandles` TRUE hands the child ' +
      "every inheritable handle of the parent, not only the ones in STARTUPINFO. End of stream comes when the last copy of the write end closes.",
    platforms: 'All: POSIX (descriptors without FD_CLOEXEC) and Windows (inheritable handles).',
    handled:
      'Every socket is made close-on-exec / non-inheritable (c/io_posix.c `ipc_tcp_socket`, c/socketpair_posix.c, WSA_FLAG_NO_HANDLE_INHERIT in ' +
      'c/io_win.c); `ipc_spawn` in c/spawn_posix.c dup2s only 0-2 and, with glibc 2.34 or later, adds `closefrom(3)` (`posix_spawn_file_actions_addclosefrom_np`; elsewhere close-on-exec alone keeps the rest out), and c/spawn_win.c lists exactly the child\'s three ' +
      'handles in PROC_THREAD_ATTRIBUTE_HANDLE_LIST.',
    source: "Microsoft docs: UpdateProcThreadAttribute (PROC_THREAD_ATTRIBUTE_HANDLE_LIST); Raymond Chen, \"Programmatically controlling which handles are inherited\"; POSIX fcntl FD_CLOEXEC.",
    alsoGuardedBy:
      'reliability `6 descriptor hygiene` (a child holds exactly 0, 1 and 2) and `4 faults` (a grandchild holding the stream) in test/reliability.test.ts; ' +
      'native `spawn: the child holds exactly descriptors 0, 1 and 2` in test/native.test.ts',
  },
  async show() {
    const shown = runQuirkC('inherited-write-end', [String(B_LIFETIME_MS)]);
    const obs = side(shown, 'right', 'the project: ipc.socketpair (close-on-exec / not inheritable) + ipc.spawn, same two children');
    const [ar, aw] = ipc.socketpair();
    const [br, bw] = ipc.socketpair();
    const t0 = performance.now();
    let eofMs = -1;
    let pa = -1;
    let pb = -1;
    try {
      pa = ipc.spawn([QUIRK_C_PATH, 'sleep-child', '0'], { stdout: aw, stderr: aw });
      pb = ipc.spawn([QUIRK_C_PATH, 'sleep-child', String(B_LIFETIME_MS)], { stdout: bw, stderr: bw });
      ipc.close(aw);
      ipc.close(bw);
      eofMs = await eofAfter(ar, t0, EOF_LIMIT_MS);
    } finally {
      if (pa > 0) await reap(pa, EOF_LIMIT_MS);
      if (pb > 0) await reap(pb, EOF_LIMIT_MS);
      ipc.close(ar);
      ipc.close(br);
    }
    const bExitMs = performance.now() - t0;
    obs.push(`A (sleeps 0 ms) and B (sleeps ${B_LIFETIME_MS} ms) started`);
    obs.push(eofMs < 0 ? "A's end of stream: none within 10 s" : `A's end of stream came ${eofMs.toFixed(0)} ms after the start; B was reaped at ${bExitMs.toFixed(0)} ms`);
    shown.values.fixed_a_eof_ms = eofMs.toFixed(0);
    shown.values.b_lifetime_ms = String(B_LIFETIME_MS);
    return shown;
  },
  verify(t, shown, ctx) {
    const life = Number(value(shown, 'b_lifetime_ms'));
    const leaky = Number(value(shown, 'leaky_a_eof_ms'));
    const fixed = Number(value(shown, 'fixed_a_eof_ms'));
    t.ok(leaky >= life * 0.8, `inheritable write ends: A's end of stream waited for B (${leaky} ms, B lives ${life} ms)`);
    t.ok(fixed >= 0 && fixed < life / 2, `the project's spawn: A's end of stream came at once (${fixed} ms)`);
    if (ctx.underWine) t.comment(`under Wine: A's EOF at ${leaky} ms the article's way, ${fixed} ms with the handle list (Wine reproduces the leak)`);
  },
};
