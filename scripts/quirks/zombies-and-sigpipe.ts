/**
 * Quirk 15: what is left of an exited child until the parent collects it, and what happens
 * to a child that writes after its reader is gone. quirk_c zombies-and-sigpipe shows the
 * platform's calls (fork/waitpid/SIGPIPE; CreateProcess/GetExitCodeProcess/send); then the
 * same through the project's ipc.spawn and ipc.wait.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { C_CHILD_PATH, ipc, QUIRK_C_PATH, signalName, signalNumber, type ExitStatus } from '../../parent/native.ts';
import { measuredBy, type Quirk, runQuirkC, side, value } from './quirk.ts';

const REAP_LIMIT_MS = 10_000;
/** Enough lines to meet the closed reader, few enough to finish soon if write errors go unnoticed. */
const PLAIN_CHILD_LINES = 20_000;

/** Linux: the state letter in /proc/PID/stat; null where there is no such file. */
function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** Starts argv writing into a socket whose read end is already closed; how it ended, and
 * (Linux) its /proc state once it had exited but was not yet collected. */
async function writeToNoReader(argv: string[]): Promise<{ status: ExitStatus; zombie: string | null; afterWait: string | null }> {
  const [r, w] = ipc.socketpair();
  // The read end goes first, before the child exists. Closed after the spawn, it raced the
  // child's first writes, and in 2 of 8 runs on a busy Linux machine the child then ended
  // with a failed write (exit 3) instead of SIGPIPE; closed first, 0 of 10.
  ipc.close(r);
  const pid = ipc.spawn(argv, { stdout: w, stderr: w });
  ipc.close(w);
  let zombie: string | null = null;
  if (process.platform === 'linux') {
    // Watch it become a zombie without collecting it (bounded).
    for (let i = 0; i < 300; i++) {
      zombie = procState(pid);
      if (zombie === 'Z' || zombie === null) break;
      await sleep(10);
    }
  }
  const t0 = performance.now();
  let status: ExitStatus | null = null;
  while ((status = ipc.wait(pid)) === null) {
    if (performance.now() - t0 > REAP_LIMIT_MS) ipc.kill(pid, signalNumber('SIGKILL'));
    await sleep(20);
  }
  return { status, zombie, afterWait: process.platform === 'linux' ? procState(pid) : null };
}

function how(s: ExitStatus): string {
  return s.signal !== null ? signalName(s.signal) : `exit${s.code}`;
}

export const quirk: Quirk = {
  order: 15,
  id: 'zombies-and-sigpipe',
  title: 'Zombies until reaped; SIGPIPE when the reader is gone (Windows: handles and errors)',
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'partly',
  observed: {
    linux: measuredBy('zombies-and-sigpipe', 'state Z until waitpid; SIGPIPE, or EPIPE when ignored'),
    wine: measuredBy('zombies-and-sigpipe', 'exit code kept on the handle; send fails with an error, no signal'),
    windows: { kind: 'documented', source: 'Microsoft docs, `GetExitCodeProcess`, `CloseHandle`, `send`' },
    macos: { kind: 'documented', source: 'POSIX `wait` and `write` (EPIPE, SIGPIPE)' },
  },
  doc: {
    problem:
      'An exited child stays a zombie (state Z) until the parent calls waitpid: a parent that never reaps fills the process table. A child ' +
      'that writes after its reader (the parent) is gone is killed by SIGPIPE, silently, unless it ignores the signal and handles EPIPE. ' +
      'On Windows an exited child\'s process object (with its exit code) lives until the parent closes its handle, and a write to a socket ' +
      'whose reader is gone fails with an error; there is no signal.',
    why:
      'POSIX keeps the exit status for the parent until waitpid collects it; a write to a pipe or socket without a reader raises SIGPIPE, ' +
      'whose default action is to terminate. Windows keeps a process object while any handle to it is open.',
    platforms: 'POSIX (zombies, SIGPIPE); Windows (process handles, send errors).',
    handled:
      'parent/relay-select.ts reaps every child with `ipc.wait` (c/spawn_posix.c `ipc_wait`: waitpid WNOHANG on SIGCHLD; c/spawn_win.c closes the ' +
      'process handle once the exit code is read and no grandchild is left in the child\'s job); c/spawn_posix.c `spawn_attributes` resets SIGPIPE to its default in the child (Node ignores it), ' +
      'and the children (c/child.c, child/child.ts) treat EPIPE as "reader gone" and exit with status 3.',
    source: 'POSIX wait(2) and signal(7) (SIGPIPE); Microsoft docs for GetExitCodeProcess and CloseHandle; the Winsock FAQ (no SIGPIPE on Windows).',
    alsoGuardedBy:
      'children `exits promptly, non-zero, when its reader is gone (EPIPE)` in test/children.test.ts; reliability `5 no orphans` in ' +
      'test/reliability.test.ts; native `spawn: missing program -> ENOENT with the path; wait and kill report exits` in test/native.test.ts',
    wineNote:
      'Wine keeps the exit code on the handle as Windows does; whether OpenProcess by pid still succeeds after the last handle is closed ' +
      'depends on when wineserver frees the process object (the test accepts either and says which).',
  },
  async show(ctx) {
    const shown = runQuirkC('zombies-and-sigpipe');
    const obs = side(shown, 'right', "the project's ipc.spawn + ipc.wait, the read end closed before the child writes");
    const plain = await writeToNoReader([QUIRK_C_PATH, 'stdio-child', 'flush', String(PLAIN_CHILD_LINES), '0']);
    obs.push(`a child that does not handle it (quirk_c stdio-child): ${plain.status.signal !== null ? `killed by ${signalName(plain.status.signal)}` : `exited with code ${plain.status.code}`}`);
    const child = await writeToNoReader([C_CHILD_PATH, '--lines', '1000000', '--max-sleep-ms', '0']);
    obs.push(`the project's C child (handles EPIPE): ${child.status.signal !== null ? `killed by ${signalName(child.status.signal)}` : `exited with code ${child.status.code}`}`);
    if (ctx.platform === 'linux') {
      obs.push(`before ipc.wait its /proc state was ${child.zombie ?? '(gone)'}; after ipc.wait: ${child.afterWait ?? '/proc entry gone'}`);
      shown.values.addon_zombie_state = child.zombie ?? '-';
      shown.values.addon_after_wait = child.afterWait ?? '-';
    }
    shown.values.addon_plain_child = how(plain.status);
    shown.values.addon_project_child = how(child.status);
    return shown;
  },
  verify(t, shown, ctx) {
    if (ctx.platform === 'win32') {
      t.equal(value(shown, 'exit_code_kept'), '42', 'the process handle keeps the exit code after the child is gone');
      t.equal(value(shown, 'open_while_held'), '1', 'while a handle is open, the process object still exists');
      const after = value(shown, 'open_after_close');
      if (ctx.underWine) t.comment(`under Wine, OpenProcess after CloseHandle ${after === '1' ? 'still succeeded' : 'failed'} (Windows: fails once the last handle is gone)`);
      else t.equal(after, '0', 'after CloseHandle the process object is gone');
      t.ok(/^WSAE(CONNRESET|CONNABORTED|SHUTDOWN)$/.test(value(shown, 'write_after_reader_gone')), `send() to a socket without reader fails with ${value(shown, 'write_after_reader_gone')}`);
      const plain = value(shown, 'addon_plain_child');
      t.comment(`the plain stdio child ended with ${plain} (3: stdio reported the failed write; 0: the errors went unnoticed)`);
      t.ok(/^exit\d+$/.test(plain), `a child writing to a vanished reader is not killed by a signal (${plain})`);
    } else {
      if (ctx.platform === 'linux') {
        t.equal(value(shown, 'zombie_state'), 'Z', 'an exited child not yet waited for is a zombie');
        t.equal(value(shown, 'after_wait_state'), '-', 'waitpid removes it');
        t.equal(value(shown, 'addon_zombie_state'), 'Z', "the project's child, exited: a zombie until ipc.wait");
        t.equal(value(shown, 'addon_after_wait'), '-', 'ipc.wait reaps it');
      }
      t.equal(value(shown, 'default_child'), 'SIGPIPE', 'SIGPIPE at its default kills a child writing after its reader is gone');
      t.equal(value(shown, 'ignored_child'), 'EPIPE', 'with SIGPIPE ignored, write() fails with EPIPE instead');
      t.equal(value(shown, 'addon_plain_child'), 'SIGPIPE', 'ipc.spawn resets SIGPIPE to its default: a plain child dies of it');
    }
    t.equal(value(shown, 'addon_project_child'), 'exit3', "the project's C child exits 3 when its reader is gone");
  },
};
