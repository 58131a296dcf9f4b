/**
 * Quirk 1: Windows has no fork() and no in-place exec: children are started whole, with
 * CreateProcess (posix_spawn is the portable POSIX equivalent). And "kill -PID" means a
 * process group on POSIX.
 */
import { spawn, spawnSync } from 'node:child_process';
import { C_CHILD_PATH, ipc, isNativeError, signalName } from '../../parent/native.ts';
import { measuredBy, readUntilQuiet, side, value, waitForExit, newShown, type Quirk, type Shown } from './quirk.ts';

const CHILD_ARGS = ['--lines', '1', '--max-sleep-ms', '1', '--streams', 'stdout'];

/** Runs the C child through one of the addon's start functions, catching its stdout. */
async function runThrough(how: 'forkExec' | 'spawn', observed: string[], shown: Shown): Promise<void> {
  const [r, w] = ipc.socketpair();
  try {
    const pid = ipc[how]([C_CHILD_PATH, ...CHILD_ARGS], { stdout: w, stderr: w });
    ipc.close(w);
    const out = await readUntilQuiet(r);
    const status = await waitForExit(pid);
    observed.push(`ipc.${how} started pid ${pid}; it wrote ${JSON.stringify(out.toString('utf8'))}`);
    observed.push(`exit: ${status === null ? 'hung, killed' : status.signal !== null ? signalName(status.signal) : `code ${status.code}`}`);
    shown.values[`${how}_result`] = 'started';
    shown.values[`${how}_exit`] = status === null ? 'hung' : String(status.code ?? signalName(status.signal ?? 0));
    shown.values[`${how}_bytes`] = String(out.length);
  } catch (e) {
    ipc.close(w);
    observed.push(`ipc.${how} threw ${isNativeError(e) ? e.code : '?'}: ${(e as Error).message}`);
    shown.values[`${how}_result`] = isNativeError(e) ? e.code : String(e);
  } finally {
    ipc.close(r);
  }
}

/** Where `ps` has the process: its state letters, or null when it is gone (a zombie is gone too). */
function processState(pid: number): string | null {
  const r = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  const state = r.stdout.trim();
  return state === '' || state.startsWith('Z') ? null : state;
}

/** POSIX: kill(-pgid) signals every process of the group, here a shell and its `sleep`. */
async function killGroup(shown: Shown): Promise<void> {
  const observed = side(shown, 'info', 'kill() with a negative pid signals a whole process group (POSIX)');
  // detached: the shell gets a process group of its own (setsid), so -pid names only it.
  const sh = spawn('sh', ['-c', 'sleep 30 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => sh.on('exit', (code, signal) => resolve([code, signal])));
  const grandchild = await new Promise<number>((resolve, reject) => {
    let text = '';
    sh.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) resolve(Number(text.trim()));
    });
    setTimeout(() => reject(new Error('the shell did not report its sleep pid within 5 s')), 5000).unref();
  });
  observed.push(`shell pid ${sh.pid} (group ${sh.pid}) started sleep pid ${grandchild}: sleep is ${processState(grandchild) ?? 'gone'}`);
  process.kill(-sh.pid!, 'SIGTERM');
  const [code, signal] = await exited;
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    gone = processState(grandchild) === null;
    if (!gone) await new Promise((r) => setTimeout(r, 20));
  }
  observed.push(`process.kill(-${sh.pid}, 'SIGTERM'): the shell ended with ${signal ?? `code ${code}`}, its sleep is ${gone ? 'gone too' : 'still running'}`);
  if (!gone) process.kill(grandchild, 'SIGKILL');
  shown.values.group_shell_signal = signal ?? `code ${code}`;
  shown.values.group_grandchild_gone = gone ? 'yes' : 'no';
}

export const quirk: Quirk = {
  order: 1,
  id: 'no-fork',
  title: 'No fork() on Windows, and _exec* starts a new process: use CreateProcess (posix_spawn on POSIX)',
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'same',
  observed: {
    linux: measuredBy('no-fork', 'forkExec and posix_spawn children; kill(-pgid) reaching a whole group'),
    wine: measuredBy('no-fork', 'ipc.forkExec refused with ENOSYS, CreateProcessW works'),
    windows: { kind: 'documented', source: 'Microsoft docs, `CreateProcessW`; the article, "Traditional Child Process IPC"' },
    macos: { kind: 'documented', source: 'POSIX `fork`, `posix_spawn` and `kill`; the article tested its unix branch on macOS' },
  },
  doc: {
    problem:
      "The article's unix branch forks, `dup2`s the pipe ends onto 1 and 2, and execs. Windows has no `fork`, and although its C runtime has `_execv` and friends, " +
      'they cannot replace a running image: the runtime starts the program as a new process, with a new PID, and ends the caller, so a parent waiting for the old PID ' +
      "sees it exit at once. Perl's `fork` emulation on Windows runs the \"child\" as a thread of the same process and returns a negative pseudo-process ID; " +
      "the article reports that killing it signalled the own process group and ended the parent too.",
    why:
      'Windows creates a process from an executable and a command line in one call (`CreateProcess`), with the std handles given in `STARTUPINFO`; there is no call that copies ' +
      'a running process or loads a new image into it. On POSIX, `kill(-n)` addresses process group n. Windows has process groups too, but only for console control events ' +
      '(`CREATE_NEW_PROCESS_GROUP`, `GenerateConsoleCtrlEvent`), never for a kill by a negative number.',
    platforms: 'Windows (all versions) has no fork and no in-place exec; the negative-pid meaning of kill is POSIX.',
    handled: 'c/spawn_win.c `ipc_spawn` uses `CreateProcessW`, c/spawn_posix.c uses `posix_spawn`; the article\'s fork+exec is kept as the `posix` variant (c/fork_exec_posix.c), and c/fork_exec_win.c refuses it with ENOSYS and the reason. The parent kills each child by its own pid, never a negative one.',
    source:
      'The article ("Perl\'s fork() and exec() Emulations": the negative thread id, killing the own process group); perlfork (pseudo-process IDs are negative, in its BUGS; ' +
      '`kill()` terminates a pseudo-process given the ID `fork()` returned; `exec()` spawns and waits); Microsoft docs, `CreateProcessW` and "_exec, _wexec functions"; the article\'s `unix` branch.',
    alsoGuardedBy: '"posix variant on Windows is refused before anything starts, saying why" in test/variants.test.ts',
  },
  async show(ctx) {
    const shown = newShown();
    await runThrough('forkExec', side(shown, ctx.platform === 'win32' ? 'wrong' : 'info', 'fork + dup2 + exec (ipc.forkExec, the article\'s unix branch)'), shown);
    await runThrough('spawn', side(shown, 'right', `ipc.spawn (${ctx.platform === 'win32' ? 'CreateProcessW' : 'posix_spawn'}): works on every platform`), shown);
    if (ctx.platform === 'win32') {
      shown.notes.push("kill() of a negative pid addresses a process group only on POSIX. Windows' process groups are console groups (CREATE_NEW_PROCESS_GROUP) reached by GenerateConsoleCtrlEvent, not by kill; not shown here.");
    } else {
      await killGroup(shown);
    }
    return shown;
  },
  verify(t, shown, ctx) {
    if (ctx.platform === 'win32') {
      t.equal(value(shown, 'forkExec_result'), 'ENOSYS', 'ipc.forkExec is refused with ENOSYS on Windows');
    } else {
      t.equal(value(shown, 'forkExec_result'), 'started', 'ipc.forkExec works on POSIX');
      t.equal(value(shown, 'forkExec_exit'), '0', 'and its child exits 0');
      t.equal(value(shown, 'group_shell_signal'), 'SIGTERM', 'kill(-pgid) reached the group leader');
      t.equal(value(shown, 'group_grandchild_gone'), 'yes', 'and the other member of its group');
    }
    t.equal(value(shown, 'spawn_result'), 'started', 'ipc.spawn starts the child');
    t.equal(value(shown, 'spawn_exit'), '0', 'which exits 0');
    t.ok(Number(value(shown, 'spawn_bytes')) > 0, `and its line arrives (${value(shown, 'spawn_bytes')} bytes)`);
  },
};
