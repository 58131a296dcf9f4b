/**
 * Quirk 18: Windows has no signals between processes: through libuv, SIGTERM, SIGINT,
 * SIGKILL and SIGQUIT all end in TerminateProcess, no handler in the child runs, and other
 * signals are ENOSYS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { C_CHILD_PATH, ipc, isNativeError, signalName, signalNumber } from '../../parent/native.ts';
import { measuredBy, newShown, type Quirk, type Shown, side, value, waitForExit } from './quirk.ts';

/** A Node child that would say so, and exit 7, if its handler for `sig` ran. */
const HANDLER_CHILD = (sig: string): string =>
  `process.on('${sig}', () => { require('fs').writeSync(1, 'handler ran\\n'); process.exit(7); });` +
  `require('fs').writeSync(1, 'ready\\n'); setInterval(() => {}, 1000);`;

interface Ending {
  code: number | null;
  signal: string | null;
  output: string;
}

/** Starts the handler child, waits for "ready", stops it with `stop`, reports how it ended. */
async function endChild(sig: NodeJS.Signals, stop: (child: ChildProcess) => void): Promise<Ending> {
  const child = spawn(process.execPath, ['-e', HANDLER_CHILD(sig)], { stdio: ['ignore', 'pipe', 'ignore'] });
  let output = '';
  const ready = new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('ready\n')) resolve();
    });
  });
  const exited = new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  await Promise.race([ready, exited]);
  stop(child);
  const [code, signal] = await exited;
  clearTimeout(timer);
  // The child's stdout may still hold bytes after 'exit': wait for the stream to end.
  await new Promise<void>((resolve) => (child.stdout.readableEnded ? resolve() : child.stdout.on('end', resolve)));
  return { code, signal, output: output.replace('ready\n', '') };
}

function record(shown: Shown, observed: string[], key: string, label: string, e: Ending): void {
  observed.push(`${label}: exit code ${e.code}, signal ${e.signal}, the child's handler wrote ${JSON.stringify(e.output)}`);
  shown.values[`${key}_code`] = String(e.code);
  shown.values[`${key}_signal`] = String(e.signal);
  shown.values[`${key}_handler`] = e.output === '' ? 'did not run' : 'ran';
}

export const quirk: Quirk = {
  order: 18,
  id: 'windows-signals',
  title: 'On Windows kill() means TerminateProcess: no handler runs, and only console events reach other processes',
  showsOn: ['win32'],
  wine: 'partly',
  observed: {
    linux: { kind: 'never', why: 'Linux delivers real signals; test/parent.test.ts relies on them' },
    wine: measuredBy('windows-signals', 'handlers never ran for SIGTERM, SIGINT, SIGKILL; SIGHUP gave ENOSYS; no console, so no console events'),
    windows: { kind: 'documented', source: 'libuv src/win/process.c `uv__kill`; Node docs, "Signal events"; Microsoft docs, `GenerateConsoleCtrlEvent`' },
    macos: { kind: 'never', why: 'a Windows quirk' },
  },
  doc: {
    problem: 'A parent that sends SIGTERM so its child can clean up, or a child that handles SIGTERM/SIGINT, gets nothing of the sort on Windows: through libuv (Node) the child is terminated at once, its handlers never run, and SIGHUP cannot even be sent (ENOSYS).',
    why:
      'Windows has no POSIX signals between processes. libuv (so Node) emulates `kill`: SIGTERM, SIGKILL, SIGINT and SIGQUIT end the process with ' +
      '`TerminateProcess` (the exit is then reported as that signal), 0 only checks that it is alive, and every other signal fails with ENOSYS. ' +
      'What Windows does have between processes are console control events: `GenerateConsoleCtrlEvent` sends CTRL_BREAK to a process group ' +
      '(a child started with `CREATE_NEW_PROCESS_GROUP`) or CTRL_C to every process of the console, which a child sees as SIGBREAK or SIGINT. ' +
      'They need a shared console, which the demonstration here does not have.',
    platforms: 'Windows (all versions).',
    handled:
      'c/spawn_win.c follows libuv\'s rule: SIGTERM, SIGKILL, SIGINT and SIGQUIT end the child with `TerminateProcess` (`ipc_kill`) or its whole job ' +
      'with `TerminateJobObject` (`ipc_kill_tree`), and `ipc_wait` reports the requested signal, so the parent prints `killed by SIGTERM` on every ' +
      'platform; 0 only checks that the child runs; any other signal is ENOSYS. No console event is sent, so a Windows child cannot clean up when ' +
      'the parent stops it. The tests that need real signals are skipped on Windows with the reason.',
    source: 'libuv\'s guide, "Processes" ("Sending signals to processes"); libuv src/win/process.c `uv__kill` (the SIGQUIT case, ENOSYS for the rest); Node docs, "Signal events" (Windows); Microsoft docs, `GenerateConsoleCtrlEvent` and "Process Creation Flags" (CREATE_NEW_PROCESS_GROUP).',
    alsoGuardedBy: '"spawn: missing program -> ENOENT with the path; wait and kill report exits" in test/native.test.ts (killed by SIGTERM)',
    wineNote: 'Wine terminates the same way, but its TerminateProcess takes effect at once (Windows: asynchronously) and returns TRUE on a dead process; and there is no console under the test runner, so Ctrl-C reaching every console process cannot be shown.',
  },
  async show(ctx) {
    const shown = newShown();
    const observed = side(shown, 'wrong', "expecting a signal to reach the child's handler (a node child with process.on(SIG))");
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGKILL'] as const) {
      // SIGKILL cannot be handled anywhere: its child listens for SIGTERM, to show it ends the same way.
      record(shown, observed, sig, `child.kill('${sig}')`, await endChild(sig === 'SIGKILL' ? 'SIGTERM' : sig, (child) => void child.kill(sig)));
    }
    record(shown, observed, 'process_kill', "process.kill(pid, 'SIGTERM')", await endChild('SIGTERM', (child) => void process.kill(child.pid!, 'SIGTERM')));
    try {
      await endChild('SIGTERM', (child) => {
        try {
          process.kill(child.pid!, 'SIGHUP');
        } finally {
          child.kill('SIGKILL');
        }
      });
      observed.push("process.kill(pid, 'SIGHUP') was accepted");
      shown.values.sighup = 'accepted';
    } catch (e) {
      const code = (e as { code?: string }).code ?? String(e);
      observed.push(`process.kill(pid, 'SIGHUP') threw ${code}`);
      shown.values.sighup = code;
    }

    const right = side(shown, 'right', "the project's ipc.kill (c/spawn_win.c): TerminateProcess, reported as the signal asked for");
    const [r, w] = ipc.socketpair();
    try {
      const pid = ipc.spawn([C_CHILD_PATH, '--max-sleep-ms', '50'], { stdout: w, stderr: w });
      ipc.kill(pid, signalNumber('SIGINT'));
      const status = await waitForExit(pid);
      right.push(`ipc.kill(${pid}, SIGINT) -> ipc.wait reports ${status === null ? 'still running (killed)' : JSON.stringify(status)}${status?.signal ? ` = ${signalName(status.signal)}` : ''}`);
      shown.values.ipc_kill = status === null ? 'hung' : status.signal !== null ? signalName(status.signal) : `code ${status.code}`;
    } catch (e) {
      right.push(`ipc.kill failed: ${isNativeError(e) ? e.code : ''} ${(e as Error).message}`);
      shown.values.ipc_kill = 'failed';
    } finally {
      ipc.close(r);
      ipc.close(w);
    }
    shown.notes.push(
      ctx.underWine
        ? 'Ctrl-C (a console event that reaches every process attached to the console) cannot be shown: under Wine the demonstration has no console.'
        : 'Ctrl-C is not shown: it is a console event that reaches every process attached to the console, and this runs without one.',
    );
    return shown;
  },
  verify(t, shown, ctx) {
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGKILL']) {
      t.equal(value(shown, `${sig}_handler`), 'did not run', `${sig}: the child's handler never ran`);
      const code = value(shown, `${sig}_code`);
      const signal = value(shown, `${sig}_signal`);
      t.ok(code !== '7' && (signal !== 'null' || code !== '0'), `${sig}: the child was terminated (code ${code}, signal ${signal})`);
    }
    t.equal(value(shown, 'process_kill_handler'), 'did not run', "process.kill(pid, 'SIGTERM'): the handler never ran either");
    t.comment(`process.kill(pid, 'SIGTERM') ended the child with code ${value(shown, 'process_kill_code')}, signal ${value(shown, 'process_kill_signal')}`);
    t.equal(value(shown, 'sighup'), 'ENOSYS', 'SIGHUP cannot be sent at all (ENOSYS)');
    t.equal(value(shown, 'ipc_kill'), 'SIGINT', 'ipc.kill(SIGINT) is reported as SIGINT');
    if (ctx.underWine) t.comment('Wine: termination is immediate; the Ctrl-C part cannot be shown without a console');
  },
};
