/**
 * Quirk 18: Windows has no signals between processes: SIGTERM, SIGINT and SIGKILL all end
 * in TerminateProcess, and no handler in the child runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { C_CHILD_PATH, ipc, isNativeError, signalName, signalNumber } from '../../parent/native.ts';
import { newShown, side, value, waitForExit, type Quirk, type Shown } from './quirk.ts';

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
  title: 'On Windows SIGTERM, SIGINT and SIGKILL all mean TerminateProcess',
  showsOn: ['win32'],
  wine: 'partly',
  doc: {
    problem: 'A parent that sends SIGTERM so its child can clean up, or a child that handles SIGTERM/SIGINT, gets nothing of the sort on Windows: the child is terminated at once, its handlers never run, and SIGHUP cannot even be sent.',
    why: 'Windows has no signals between processes. libuv (so Node) emulates `kill` for SIGTERM, SIGINT and SIGKILL with `TerminateProcess` and reports the signal it was asked for; Ctrl-C is a console event delivered to every process attached to the console, not something one process sends another.',
    platforms: 'Windows (all versions).',
    handled: 'c/spawn_win.c `ipc_kill` calls `TerminateProcess` for every signal and `ipc_wait` reports the requested signal (libuv\'s rule), so the parent prints `killed by SIGTERM` on every platform; the tests that need real signals are skipped on Windows with the reason.',
    source: 'libuv documentation, "Processes" / `uv_process_kill` ("SIGTERM, SIGKILL and SIGINT ... on Windows"); Node docs, "Signal events" (Windows).',
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
