/**
 * The parent's lifetime and its children's (docs/reliability.md, "process lifetime"):
 * stops are never lost and reach the whole tree, a killed parent leaves nothing behind,
 * detached children outlive it on purpose; and the parent starts cleanly even without
 * its native addon.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import test from 'tape';
import { ipc } from '../parent/native.ts';
import { Output } from '../parent/output.ts';
import { Relay } from '../parent/relay.ts';
import { makeTrace } from '../parent/trace.ts';
import { VARIANT_NAMES } from '../parent/variants/index.ts';
import { makePipeThreadVariant, pipeThreadVariant } from '../parent/variants/pipe-thread.ts';
import { compiledParentArgv, IS_WINDOWS, parseParentOutput, processState, run, sleep, start } from './helpers.ts';

// A missing addon: one plain message and status 1, for every command; --help works.
test('missing addon: --help works, every run says so in two plain lines, status 1, no stack trace', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'ipc-no-addon-'));
  const env = { ...process.env, IPC_BUILD_DIR: empty, IPC_BUILD_DIR_ONLY: '1' };
  const help = await run(compiledParentArgv(['--help']), { env });
  t.equal(help.code, 0, '--help: status 0');
  t.match(help.stdout.toString(), /^Usage: npm start/, '--help prints the usage');
  t.equal(help.stderr.toString(), '', '--help: nothing on stderr');
  for (const args of [[], ['--children', '1', '--', 'true'], ['--variant', 'libuv', '--children', '1', '--', 'true'], ['--variant', 'pipe-thread', '--lines', '1']]) {
    const r = await run(compiledParentArgv(args), { env });
    const lines = r.stderr.toString().trimEnd().split('\n');
    const what = args.join(' ') || '(no arguments)';
    t.equal(r.code, 1, `${what}: status 1`);
    t.equal(lines.length, 2, `${what}: two lines on stderr`);
    t.match(lines[0] ?? '', new RegExp(`^parent: the native addon is not built for this platform \\(looked in: ${empty.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.ipc\\.node \\(missing\\)\\)$`), `${what}: names where it looked: ${lines[0]}`);
    t.match(lines[1] ?? '', /^parent: Run `npm install`/, `${what}: the hint: ${lines[1]}`);
    t.doesNotMatch(r.stderr.toString(), /^\s+at /m, `${what}: no stack trace`);
    t.equal(r.stdout.length, 0, `${what}: nothing started`);
  }
  rmSync(empty, { recursive: true });
});

// Issue 14, section 4: a --config entry without cwd runs in the config file's folder.
test('--config: an entry without cwd runs in the config file\'s folder (relative argv paths work)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-config-cwd-'));
  mkdirSync(join(dir, 'conf'));
  // fs.writeSync, not console.log: a Windows node.exe whose stdout is a socket cannot open
  // process.stdout (EBADF under Wine; docs/quirks.md, node-stdio).
  writeFileSync(join(dir, 'child.cjs'), 'require("fs").writeSync(1, "ran in " + process.cwd() + "\\n");\n');
  const file = join(dir, 'conf', 'helpers.json');
  writeFileSync(file, JSON.stringify([{ name: 'helper', argv: [process.execPath, '../child.cjs'] }]));
  // Started from another folder: the parent's own cwd must not matter.
  const r = await run(compiledParentArgv(['--config', file]), { cwd: tmpdir() });
  const out = parseParentOutput(r.stdout);
  t.equal(r.code, 0, `status 0${r.code === 0 ? '' : `: ${r.stdout.toString().trim()}`}`);
  t.deepEqual(out.lines.map((l) => l.text), [`ran in ${join(dir, 'conf')}`], '../child.cjs found from the config\'s folder, and run there');
  rmSync(dir, { recursive: true });
});

const POSIX_ONLY = (IS_WINDOWS || process.platform !== 'linux') && 'signals between processes and /proc: Linux only';

/** Pids a run printed as lines (the commands below echo them). */
function printedPids(stdout: Buffer): number[] {
  return parseParentOutput(stdout).lines.map((l) => Number(l.text)).filter((n) => Number.isInteger(n) && n > 0);
}

/** Running (not a zombie, not gone): Linux /proc. */
const running = (pid: number): boolean => ![null, 'Z'].includes(processState(pid));

async function gone(pids: number[], withinMs: number): Promise<number[]> {
  const t0 = Date.now();
  let left = pids.filter(running);
  while (left.length > 0 && Date.now() - t0 < withinMs) {
    await sleep(50);
    left = left.filter(running);
  }
  return left;
}

/** Sends SIGKILL to whatever a failed test left, so that nothing outlives it. */
function cleanUp(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

function addonMapped(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/maps`, 'latin1').includes('ipc.node');
  } catch {
    return false;
  }
}

for (const variant of VARIANT_NAMES) {
  // The issue's case: children that ignore SIGTERM and leave a grandchild behind.
  test(`lifetime (${variant}): SIGINT stops the whole tree - no grandchild survives, status 130`, { skip: POSIX_ONLY }, async (t) => {
    t.timeoutAfter(60_000);
    const p = start(compiledParentArgv(['--variant', variant, '--children', '2', '--', 'sh', '-c', 'trap "" TERM; sleep 100 & echo $!; wait']));
    let grandchildren: number[] = [];
    for (let i = 0; i < 400 && grandchildren.length < 2; i++) {
      await sleep(25);
      grandchildren = printedPids(p.output());
    }
    t.equal(grandchildren.length, 2, `two grandchildren started: ${grandchildren.join(', ')}`);
    p.kill('SIGINT');
    const r = await p.done;
    t.equal(r.code, 130, 'parent status 130');
    t.deepEqual(parseParentOutput(r.stdout).exits.map((e) => e.how), ['killed by SIGKILL', 'killed by SIGKILL'], 'the children ignored SIGTERM: SIGKILL after the grace');
    const left = await gone(grandchildren, 5000);
    t.deepEqual(left, [], 'no grandchild left (they got the group\'s SIGTERM/SIGKILL)');
    cleanUp(left);
  });

  // The children lead their own process groups, outside the terminal's foreground group:
  // Ctrl-C reaches the parent alone, and the parent must pass the stop on. util-linux's
  // `script` gives the parent a real pseudo-terminal; the byte 0x03 typed into it is the
  // terminal's Ctrl-C (SIGINT to the foreground group).
  test(`lifetime (${variant}): Ctrl-C typed in a terminal stops every tree`, { skip: POSIX_ONLY || (!existsSync('/usr/bin/script') && 'needs util-linux script for a pseudo-terminal') }, async (t) => {
    t.timeoutAfter(60_000);
    // --color never: on a terminal the labels are coloured, and this test reads the pids.
    const parent = compiledParentArgv(['--variant', variant, '--children', '2', '--color', 'never', '--', 'sh', '-c', 'sleep 100 & echo $!; wait']);
    const p = spawn('script', ['-qfec', `exec ${parent.map((a) => `'${a}'`).join(' ')}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let text = '';
    p.stdout.on('data', (b: Buffer) => (text += b.toString('latin1')));
    const done = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
    const killer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    for (let i = 0; i < 400 && (text.match(/\[info\]/g) ?? []).length < 2; i++) await sleep(25);
    const grandchildren = [...text.matchAll(/\]\[info\]: (\d+)/g)].map((m) => Number(m[1]));
    t.equal(grandchildren.length, 2, `two grandchildren started: ${grandchildren.join(', ')}`);
    p.stdin.write('\x03');
    const code = await done;
    clearTimeout(killer);
    t.equal(code, 130, 'the parent (through script) ended with status 130');
    t.equal((text.match(/killed by SIGTERM/g) ?? []).length, 2, 'both children stopped by the SIGTERM the parent passed on');
    const left = await gone(grandchildren, 5000);
    t.deepEqual(left, [], 'no grandchild left');
    cleanUp(left);
  });

  test(`lifetime (${variant}): parent SIGKILLed with silent children and grandchildren - all gone within 5 s`, { skip: POSIX_ONLY }, async (t) => {
    t.timeoutAfter(60_000);
    // Each child prints its own pid and its grandchild's, then stays silent: no EPIPE
    // will ever tell them the parent is gone; only the watchdog can.
    const p = start(compiledParentArgv(['--variant', variant, '--children', '2', '--', 'sh', '-c', 'sleep 100 & echo $$; echo $!; wait']));
    let pids: number[] = [];
    for (let i = 0; i < 400 && pids.length < 4; i++) {
      await sleep(25);
      pids = printedPids(p.output());
    }
    t.equal(pids.length, 4, `2 children and 2 grandchildren running: ${pids.join(', ')}`);
    const t0 = Date.now();
    p.kill('SIGKILL');
    await p.done;
    const left = await gone(pids, 5000);
    t.deepEqual(left, [], `every child and grandchild gone ${Date.now() - t0} ms after the parent's SIGKILL`);
    cleanUp(left);
  });

  test(`lifetime (${variant}): a stop at any point of the child's life is never lost`, { skip: POSIX_ONLY }, async (t) => {
    t.timeoutAfter(300_000);
    // The child exits at once; its grandchild holds the streams for 30 s. The stop comes
    // while the parent loads its modules (SIGINT inherited ignored, as a script's
    // background job gets it), then at points from the first line on: the exit, the
    // reaping, between the exit and the end of file. Before the handlers were installed
    // first thing, a stop while loading ended the parent by the signal itself.
    const argv = ['sh', '-c', `trap "" INT; exec ${compiledParentArgv(['--variant', variant, '--children', '1', '--', 'sh', '-c', 'sleep 30 & echo $!']).map((a) => `'${a}'`).join(' ')}`];
    const points: (number | 'loading')[] = ['loading', 0, 2, 5, 10, 20, 40, 80, 160];
    for (const point of points) {
      const p = start(argv, { timeoutMs: 60_000 });
      if (point === 'loading') {
        // The moment the addon is mapped: modules are loading, nothing started yet.
        for (let i = 0; i < 20_000 && !addonMapped(p.pid); i++) await sleep(1);
      } else {
        await p.waitFor('[child');
        if (point > 0) await sleep(point);
      }
      const t0 = Date.now();
      p.kill('SIGINT');
      const r = await p.done;
      const ms = Date.now() - t0;
      const grandchildren = printedPids(r.stdout);
      t.equal(r.code, 130, `stop at ${point}${point === 'loading' ? '' : ' ms after the first line'}: status 130 after ${ms} ms`);
      t.ok(ms < 10_000, `stop at ${point}: the parent ended (${ms} ms, bound 10 s)`);
      const left = await gone(grandchildren, 5000);
      t.deepEqual(left, [], `stop at ${point}: nothing left`);
      cleanUp(left);
    }
  });

  test(`lifetime (${variant}): SIGTSTP stops the children's trees with the parent, SIGCONT resumes them`, { skip: POSIX_ONLY }, async (t) => {
    t.timeoutAfter(60_000);
    const p = start(compiledParentArgv(['--variant', variant, '--children', '1', '--', 'sh', '-c', 'echo $$; sleep 100 & echo $!; while :; do echo tick; sleep 0.05; done']));
    let pids: number[] = [];
    for (let i = 0; i < 400 && pids.length < 2; i++) {
      await sleep(25);
      pids = printedPids(p.output());
    }
    t.equal(pids.length, 2, `child and grandchild: ${pids.join(', ')}`);
    p.kill('SIGTSTP');
    const stopped = async (pid: number, want: boolean): Promise<boolean> => {
      for (let i = 0; i < 200; i++) {
        if ((processState(pid) === 'T') === want) return true;
        await sleep(25);
      }
      return false;
    };
    t.ok(await stopped(p.pid, true), 'SIGTSTP: the parent is stopped');
    for (const pid of pids) t.ok(await stopped(pid, true), `SIGTSTP: ${pid} is stopped too`);
    const ticks = (): number => p.output().toString().split('tick').length;
    const before = ticks();
    p.kill('SIGCONT');
    for (const pid of [p.pid, ...pids]) t.ok(await stopped(pid, false), `SIGCONT: ${pid} runs again`);
    for (let i = 0; i < 200 && ticks() === before; i++) await sleep(25);
    t.ok(ticks() > before, 'the child\'s output flows again');
    p.kill('SIGINT');
    const r = await p.done;
    t.equal(r.code, 130, 'then SIGINT: status 130');
    const left = await gone(pids, 5000);
    t.deepEqual(left, [], 'nothing left');
    cleanUp(left);
  });

  test(`lifetime (${variant}): --detached - relayed while the parent runs, left running after it`, { skip: POSIX_ONLY }, async (t) => {
    t.timeoutAfter(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'ipc-detached-'));
    const file = join(dir, 'helpers.json');
    writeFileSync(file, JSON.stringify([
      { name: 'db', argv: ['sh', '-c', 'echo $$; echo up; exec sleep 100'], detached: true },
      { name: 'job', argv: ['sh', '-c', 'sleep 0.5; echo done'] },
    ]));
    const r = await run(compiledParentArgv(['--variant', variant, '--config', file]));
    const out = parseParentOutput(r.stdout);
    const db = out.lines.find((l) => l.name === 'db' && l.text !== 'up');
    const dbPid = Number(db?.text);
    t.equal(r.code, 0, 'status 0: a detached child still running is no failure');
    t.deepEqual(out.lines.filter((l) => l.name === 'db').map((l) => l.text), [String(dbPid), 'up'], 'the detached child\'s output was relayed');
    t.deepEqual(out.exits.map((e) => `${e.name} ${e.how}`), ['job exited with code 0'], 'the attached job ran to its end');
    t.ok(out.other.includes(`[db ${dbPid}] detached, still running`), `at exit: "[db ${dbPid}] detached, still running"`);
    await sleep(1500);
    t.ok(running(dbPid), 'the detached child still runs after the parent ended (the watchdog left it alone)');
    cleanUp([dbPid]);
    t.deepEqual(await gone([dbPid], 5000), [], 'killed by the test');
    const sigint = start(compiledParentArgv(['--variant', variant, '--detached', '--children', '1', '--duration', '30', '--', 'sh', '-c', 'echo $$; exec sleep 100']));
    await sigint.waitFor('[child');
    sigint.kill('SIGINT');
    const s = await sigint.done;
    const pid = printedPids(s.stdout)[0] ?? 0;
    t.equal(s.code, 130, '--detached, then SIGINT: status 130');
    t.match(s.stdout.toString(), new RegExp(`\\[child ${pid}\\] detached, still running`), 'the stop leaves a detached child alone');
    t.ok(pid > 0 && running(pid), 'it still runs');
    cleanUp([pid]);
    rmSync(dir, { recursive: true });
  });
}

// pipe-thread: the second relay thread fails to start after the child did.
test('pipe-thread: when the second relay thread cannot start, nothing leaks (thread, descriptors, child)', { skip: process.platform !== 'linux' && 'reads /proc: Linux only' }, async (t) => {
  const resources = (): { fds: number; threads: number } => ({ fds: readdirSync('/proc/self/fd').length, threads: readdirSync('/proc/self/task').length });
  const silent = new Output(new Writable({ write: (_c, _e, done) => done() }));
  const messages: string[] = [];
  const trace = Object.assign((m: string) => void messages.push(m), { enabled: true });
  const spec = { name: 'child', argv: ['sh', '-c', 'echo $$; exec sleep 100'] };
  // Warm-up: libuv's thread pool and the watchdog start on first use.
  await new Relay({ specs: [{ name: 'child', argv: ['true'] }], variant: pipeThreadVariant, output: silent, trace: makeTrace(false), durationMs: null }).run();
  const before = resources();
  let calls = 0;
  // Fault injection: the second startRelay fails as the native one does after its
  // pthread_create failed - having closed the two descriptors it was given.
  const failing = makePipeThreadVariant({
    startRelay: (pipeRead, socketWrite) => {
      if (++calls === 2) {
        ipc.closePipe(pipeRead);
        ipc.close(socketWrite);
        throw Object.assign(new Error('pthread_create: Resource temporarily unavailable (EAGAIN)'), { code: 'EAGAIN', syscall: 'pthread_create', errno: 11 });
      }
      return ipc.startRelay(pipeRead, socketWrite);
    },
  });
  let error: unknown = null;
  try {
    await new Relay({ specs: [spec], variant: failing, output: silent, trace, durationMs: null }).run();
  } catch (e) {
    error = e;
  }
  t.match(String(error), /EAGAIN/, `the failure goes up: ${String(error)}`);
  const pid = Number(/spawned .* as pid (\d+)/.exec(messages.join('\n'))?.[1]);
  t.ok(pid > 0, `the child had started: pid ${pid}`);
  t.equal(processState(pid), null, 'the child was killed and reaped (not even a zombie)');
  const after = resources();
  t.equal(after.fds, before.fds, `descriptors: ${before.fds} before, ${after.fds} after`);
  t.equal(after.threads, before.threads, `threads: ${before.threads} before, ${after.threads} after (the first relay thread was joined)`);
  if (processState(pid) !== null) cleanUp([pid]);
});
