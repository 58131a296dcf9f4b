/**
 * Process lifetime on POSIX, driving the addon directly (issue 11, sections 2 and 3):
 * a child is its whole tree (it leads its own process group, killTree reaches its
 * children), a detached child starts its own session, and a parent killed with SIGKILL
 * leaves nothing behind - the watchdog of c/guard_posix.c kills every guarded group -
 * except its detached children.
 *
 * Linux only: the process tree is read from /proc/PID/stat. macOS runs the same code
 * (posix_spawn, setpgid, the watchdog) but has no /proc. Windows checks only that the
 * POSIX watchdog's functions say "not needed" there (test/windows.test.ts covers the
 * kill-on-close jobs).
 */
import { spawn as nodeSpawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'tape';
import { ipc, isNativeError, PROJECT_ROOT, signalName, signalNumber, WATCHDOG_C_PATH } from '../parent/native.ts';
import { sleep, TSX_LOADER } from './helpers.ts';

const SKIP = process.platform !== 'linux' && 'reads the process tree from /proc: Linux only';
const FIXTURE = join(PROJECT_ROOT, 'test', 'fixtures', 'guarded-tree-parent.ts');
/** The promise of issue 11: everything gone within 5 s of the parent's death. */
const GONE_WITHIN_MS = 5000;
const SIGKILL = signalNumber('SIGKILL');
const SIGTERM = signalNumber('SIGTERM');
/** Starts a shell that leads the group and a `sleep 100` grandchild in it. */
const SHELL_WITH_GRANDCHILD = ['/bin/sh', '-c', 'sleep 100 & wait'];

interface Stat {
  state: string;
  ppid: number;
  pgrp: number;
  sid: number;
}

/** /proc/PID/stat's fields after the command name, or null once the pid is gone. */
function stat(pid: number): Stat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, ppid: Number(f[1]), pgrp: Number(f[2]), sid: Number(f[3]) };
  } catch {
    return null;
  }
}

/** Gone, or a zombie (dead, waiting for its parent - init once ours has died - to reap it). */
function dead(pid: number): boolean {
  const s = stat(pid);
  return s === null || s.state === 'Z';
}

/** Living processes in process group pgid. */
function livingMembers(pgid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s !== null && s.pgrp === pgid && s.state !== 'Z') found.push(Number(entry));
  }
  return found;
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
  } catch {
    return '(gone)';
  }
}

/** Polls until check() holds; how long it took, or null after timeoutMs. */
async function waitUntil(check: () => boolean, timeoutMs: number): Promise<number | null> {
  const t0 = Date.now();
  for (;;) {
    if (check()) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) return null;
    await sleep(20);
  }
}

/** The grandchild a `sh -c 'sleep 100 & wait'` leader started, once it exists (found by
 * its parent, whatever its group). */
async function grandchildOf(leader: number): Promise<number | null> {
  let found: number | null = null;
  await waitUntil(() => {
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (/^\d+$/.test(entry) && stat(pid)?.ppid === leader && !dead(pid) && commandOf(pid).startsWith('sleep')) found = pid;
    }
    return found !== null;
  }, 10_000);
  return found;
}

async function reap(pid: number): Promise<{ code: number | null; signal: string | null } | null> {
  for (let i = 0; i < 1000; i++) {
    const st = ipc.wait(pid);
    if (st !== null) return { code: st.code, signal: st.signal === null ? null : signalName(st.signal) };
    await sleep(10);
  }
  return null;
}

function nativeCode(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return isNativeError(e) ? e.code : `${(e as Error).name}: ${(e as Error).message}`;
  }
}

/** A descriptor pair for children that write nothing. */
function quietOutput(): { options: { stdout: number; stderr: number }; close(): void } {
  const [r, w] = ipc.pipe();
  return { options: { stdout: w, stderr: w }, close: () => [r, w].forEach((fd) => ipc.closePipe(fd)) };
}

const STARTERS = [
  { name: 'spawn', start: ipc.spawn },
  { name: 'forkExec', start: ipc.forkExec },
] as const;

for (const { name, start } of STARTERS) {
  test(`${name}: the child leads its own process group, and its children join it`, { skip: SKIP }, async (t) => {
    const out = quietOutput();
    const pid = start(SHELL_WITH_GRANDCHILD, out.options);
    const s = stat(pid);
    t.equal(s?.pgrp, pid, `pgrp == pid (${pid}): a group of its own`);
    t.notEqual(s?.pgrp, stat(process.pid)?.pgrp, `not this process's group (${stat(process.pid)?.pgrp})`);
    t.equal(s?.sid, stat(process.pid)?.sid, 'still in this session (not detached)');
    const grandchild = await grandchildOf(pid);
    t.equal(grandchild === null ? null : stat(grandchild)?.pgrp, pid, `the grandchild ${grandchild} is in the child's group`);
    ipc.killTree(pid, SIGKILL);
    t.deepEqual(await reap(pid), { code: null, signal: 'SIGKILL' }, 'reaped');
    out.close();
  });

  test(`${name}: killTree reaches the grandchild; ESRCH once the group is empty`, { skip: SKIP }, async (t) => {
    const out = quietOutput();
    const pid = start(SHELL_WITH_GRANDCHILD, out.options);
    const grandchild = await grandchildOf(pid);
    if (grandchild === null) return t.fail('the grandchild never appeared');
    ipc.killTree(pid, SIGTERM);
    t.deepEqual(await reap(pid), { code: null, signal: 'SIGTERM' }, 'the child got SIGTERM');
    const ms = await waitUntil(() => dead(grandchild), GONE_WITHIN_MS);
    t.ok(ms !== null, `the grandchild ${grandchild} got it too: ${within(ms, 'killTree')}`);
    // init reaps the orphaned grandchild; until then the group still has a (dead) member.
    let code = '';
    await waitUntil(() => (code = nativeCode(() => ipc.killTree(pid, 0))) === 'ESRCH', 10_000);
    t.equal(code, 'ESRCH', 'killTree on the empty group: ESRCH');
    out.close();
  });

  test(`${name}: a detached child starts its own session`, { skip: SKIP }, async (t) => {
    const out = quietOutput();
    const pid = start(['sleep', '100'], { ...out.options, detached: true });
    const s = stat(pid);
    t.equal(s?.sid, pid, `sid == pid (${pid}): a session of its own`);
    t.equal(s?.pgrp, pid, 'and a process group of its own');
    t.notEqual(s?.sid, stat(process.pid)?.sid, 'not this process\'s session');
    ipc.killTree(pid, SIGKILL);
    t.deepEqual(await reap(pid), { code: null, signal: 'SIGKILL' }, 'killTree reaches it too; reaped');
    out.close();
  });
}

test('argument checks: detached must be a boolean; no group 1; guardGroup wants a group leader', { skip: SKIP }, async (t) => {
  const out = quietOutput();
  for (const { name, start } of STARTERS)
    t.throws(() => start(['true'], { ...out.options, detached: 'yes' as unknown as boolean }),
      new RegExp(`${name}\\(argv, options\\): options.detached must be a boolean`), `${name}: detached: 'yes' refused`);
  // kill(-1) would signal every process this user may signal.
  t.equal(nativeCode(() => ipc.killTree(1, 0)), 'EINVAL', 'killTree(1): EINVAL, never kill(-1)');
  t.equal(nativeCode(() => ipc.guardGroup(1)), 'EINVAL', 'guardGroup(1): EINVAL');
  const child = nodeSpawn('sleep', ['100'], { stdio: 'ignore' }); // in this process's group
  t.equal(nativeCode(() => ipc.guardGroup(child.pid!)), 'EINVAL', 'guardGroup of a process that leads no group: EINVAL');
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  out.close();
});

test('forgetGroup: a guarded group is forgotten once empty, not before', { skip: SKIP }, async (t) => {
  const child = nodeSpawn('/bin/sh', ['-c', 'sleep 100 & wait'], { detached: true, stdio: 'ignore' });
  const pid = child.pid!;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.equal(ipc.guardGroup(pid), true, 'guardGroup: true (POSIX)');
  const grandchild = await grandchildOf(pid);
  t.equal(ipc.forgetGroup(pid), false, 'running: not forgotten');
  process.kill(pid, 'SIGKILL'); // the leader alone
  await exited;
  t.equal(ipc.forgetGroup(pid), false, `leader reaped, grandchild ${grandchild} alive: not forgotten`);
  ipc.killTree(pid, SIGKILL);
  const ms = await waitUntil(() => ipc.forgetGroup(pid), 10_000);
  t.ok(ms !== null, `forgotten once the group is empty (after ${ms} ms: init reaps the grandchild)`);
  t.equal(ipc.forgetGroup(pid), false, 'forgotten once only');
  const out = quietOutput();
  const own = ipc.spawn(['true'], out.options);
  await reap(own);
  t.equal(ipc.forgetGroup(own), false, 'a spawned child: wait() already forgot its empty group');
  out.close();
});

test('watchdog_c on its own: at end of file it kills the groups it guards, not those it was told to forget', { skip: SKIP }, async (t) => {
  t.timeoutAfter(30_000);
  const leader = () => nodeSpawn('sleep', ['100'], { detached: true, stdio: 'ignore' });
  const guarded = leader();
  const forgotten = leader();
  const ended = (c: ReturnType<typeof leader>) => new Promise<NodeJS.Signals | null>((resolve) => c.once('exit', (_code, signal) => resolve(signal)));
  const guardedEnd = ended(guarded);
  // In a group of its own, as the addon starts it: a "+0" wrongly taken would then kill
  // the watchdog alone (kill(0) is the caller's group), not this test runner.
  const watchdog = nodeSpawn(WATCHDOG_C_PATH, [], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  const watchdogEnd = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    watchdog.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    // Lines not of the protocol are skipped.
    watchdog.stdin.write(`+${guarded.pid}\n+${forgotten.pid}\nnonsense\n+0\n+${'9'.repeat(40)}\n-${forgotten.pid}\n`);
    await sleep(300);
    t.equal(watchdog.exitCode, null, 'still running while its pipe is open');
    t.ok(!dead(guarded.pid!), 'the guarded group is untouched meanwhile');
    watchdog.stdin.end();
    t.deepEqual(await watchdogEnd, { code: 0, signal: null }, 'end of file: it exits with status 0 (the bad lines did not kill it)');
    t.equal(await guardedEnd, 'SIGKILL', 'the guarded group got SIGKILL');
    t.ok(!dead(forgotten.pid!), 'the forgotten group was left alone');
  } finally {
    for (const c of [guarded, forgotten, watchdog]) c.kill('SIGKILL');
  }
});

test('Windows: guardGroup and forgetGroup return false (the kill-on-close jobs need no watchdog)', { skip: process.platform !== 'win32' && 'Windows only' }, async (t) => {
  const child = nodeSpawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.equal(ipc.guardGroup(child.pid!), false, 'guardGroup: false');
  t.equal(ipc.forgetGroup(child.pid!), false, 'forgetGroup: false');
  child.kill();
  await exited;
});

/** The fixture parent, driven over stdin. */
class FixtureParent {
  readonly process: ChildProcessWithoutNullStreams;
  private readonly answers: string[] = [];
  private readonly waiting: ((line: string) => void)[] = [];

  constructor() {
    this.process = nodeSpawn(process.execPath, ['--import', TSX_LOADER, FIXTURE], { stdio: 'pipe' });
    createInterface({ input: this.process.stdout }).on('line', (line) => {
      const w = this.waiting.shift();
      if (w) w(line);
      else this.answers.push(line);
    });
    this.process.stderr.on('data', (b: Buffer) => process.stderr.write(`# fixture: ${b}`));
  }

  get pid(): number {
    return this.process.pid!;
  }

  /** Sends one command and returns the new child's pid (throws the fixture's error). */
  async ask(command: string, argv: readonly string[]): Promise<number> {
    this.process.stdin.write(`${command} ${JSON.stringify(argv)}\n`);
    const line = this.answers.shift() ?? (await new Promise<string>((resolve) => this.waiting.push(resolve)));
    const answer = JSON.parse(line) as { pid?: number; guarded?: boolean; error?: string };
    if (answer.error !== undefined || answer.pid === undefined) throw new Error(`fixture: ${answer.error ?? line}`);
    if (answer.guarded === false) throw new Error('fixture: guardGroup returned false on POSIX');
    return answer.pid;
  }

  /** Its watchdog: the living child running watchdog_c (polled: on a busy machine a
   * /proc read can come up short once). */
  async watchdog(except: number | null = null): Promise<number | null> {
    let found: number | null = null;
    await waitUntil(() => {
      for (const entry of readdirSync('/proc')) {
        const pid = Number(entry);
        if (!/^\d+$/.test(entry) || pid === except || stat(pid)?.ppid !== this.pid) continue;
        if (commandOf(pid) === WATCHDOG_C_PATH && !dead(pid)) found = pid;
      }
      return found !== null;
    }, 5000);
    return found;
  }

  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.process.exitCode !== null || this.process.signalCode !== null)
      return Promise.resolve({ code: this.process.exitCode, signal: this.process.signalCode });
    return new Promise((resolve) => this.process.once('exit', (code, signal) => resolve({ code, signal })));
  }
}

/** What a guarded parent started: the leaders (= their groups) and the grandchildren. */
class Tree {
  readonly groups: number[] = [];
  readonly grandchildren: number[] = [];

  /** Adds a leader and, for a shell leader, waits for its grandchild. */
  async add(leader: number, withGrandchild: boolean): Promise<boolean> {
    this.groups.push(leader);
    if (!withGrandchild) return true;
    const g = await grandchildOf(leader);
    if (g !== null) this.grandchildren.push(g);
    return g !== null;
  }

  /** Every living process of it - by pid, and by group membership - and the watchdog. */
  leftovers(watchdog: number | null): string[] {
    const pids = new Set([...this.groups, ...this.grandchildren, ...this.groups.flatMap((g) => livingMembers(g))]);
    const left = [...pids].filter((pid) => !dead(pid)).map((pid) => `${pid} ${commandOf(pid)}`);
    if (watchdog !== null && !dead(watchdog)) left.push(`${watchdog} watchdog`);
    return left;
  }

  /** Last resort, so that a failing test leaves nothing running. */
  killAll(): void {
    for (const target of [...this.groups.map((g) => -g), ...this.groups, ...this.grandchildren]) killQuietly(target);
  }
}

/** SIGKILL to a pid (or a group, negative), if it still exists. */
function killQuietly(target: number): void {
  try {
    process.kill(target, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** "gone N ms after X" or "still there N ms after X". */
function within(ms: number | null, after: string): string {
  return ms === null ? `still there ${GONE_WITHIN_MS} ms after ${after}` : `gone ${ms} ms after ${after}`;
}

test('a parent killed with SIGKILL leaves no child or grandchild behind, silent ones included; a detached child lives on', { skip: SKIP }, async (t) => {
  t.timeoutAfter(60_000);
  const parent = new FixtureParent();
  const tree = new Tree();
  let detached = 0;
  try {
    // Silent children all: none ever writes, so none would meet EPIPE.
    t.ok(await tree.add(await parent.ask('spawn', ['sleep', '100']), false), 'spawn: a child without children');
    t.ok(await tree.add(await parent.ask('spawn', SHELL_WITH_GRANDCHILD), true), 'spawn: a child with a grandchild');
    t.ok(await tree.add(await parent.ask('forkExec', SHELL_WITH_GRANDCHILD), true), 'forkExec: a child with a grandchild');
    detached = await parent.ask('detached', ['sleep', '100']);
    // Last, so that the addon's own spawns are tested even by a build without guardGroup.
    t.ok(await tree.add(await parent.ask('node', SHELL_WITH_GRANDCHILD), true), 'child_process + guardGroup: a child with a grandchild');

    const watchdog = await parent.watchdog();
    if (watchdog === null) throw new Error('no watchdog_c child of the parent');
    t.equal(stat(watchdog)?.pgrp, watchdog, `the watchdog ${watchdog} has its own process group`);
    t.deepEqual(readdirSync(`/proc/${watchdog}/fd`).sort(), ['0', '1', '2'], 'it holds descriptors 0, 1 and 2 only');
    t.match(readlinkSync(`/proc/${watchdog}/fd/0`), /^pipe:/, '0 is the pipe');
    t.equal(readlinkSync(`/proc/${watchdog}/fd/1`), '/dev/null', '1 is /dev/null');
    // What a terminal or a kill of the parent's process group might send it.
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGTSTP', 'SIGQUIT'] as const) process.kill(watchdog, sig);
    await sleep(200);
    t.ok(!dead(watchdog) && stat(watchdog)?.state !== 'T', `the watchdog ignores SIGINT, SIGTERM, SIGHUP, SIGTSTP, SIGQUIT (state ${stat(watchdog)?.state})`);

    parent.process.kill('SIGKILL');
    t.equal((await parent.exited()).signal, 'SIGKILL', 'the parent died of SIGKILL');
    const ms = await waitUntil(() => tree.leftovers(watchdog).length === 0, GONE_WITHIN_MS);
    t.deepEqual(tree.leftovers(watchdog), [], `all ${tree.groups.length} children, ${tree.grandchildren.length} grandchildren and the watchdog: ${within(ms, 'the parent died')}`);
    t.ok(!dead(detached), `the detached child ${detached} lives on (${commandOf(detached)})`);
  } finally {
    parent.process.kill('SIGKILL');
    tree.killAll();
    if (detached) killQuietly(-detached);
  }
  if (detached) t.ok((await waitUntil(() => dead(detached), GONE_WITHIN_MS)) !== null, 'the detached child, killed by the test, is gone');
});

test('a watchdog killed by someone is replaced at the next spawn or reaping, and guards the earlier groups too', { skip: SKIP }, async (t) => {
  t.timeoutAfter(60_000);
  const parent = new FixtureParent();
  const tree = new Tree();
  try {
    t.ok(await tree.add(await parent.ask('spawn', SHELL_WITH_GRANDCHILD), true), 'a child with a grandchild');
    const first = await parent.watchdog();
    if (first === null) throw new Error('no watchdog_c child of the parent');
    process.kill(first, 'SIGKILL');
    await waitUntil(() => stat(first)?.state === 'Z', 5000);
    t.ok(await tree.add(await parent.ask('spawn', ['sleep', '100']), false), 'one more child');
    const second = await parent.watchdog(first);
    t.ok(second !== null, `the spawn started a new watchdog (${second}, was ${first})`);
    t.equal(stat(first), null, 'and reaped the killed one (no zombie)');
    if (second === null) throw new Error('no second watchdog');
    process.kill(second, 'SIGKILL');
    await waitUntil(() => stat(second)?.state === 'Z', 5000);
    await parent.ask('wait', [String(tree.groups[1])]); // still running: wait() returns null
    const third = await parent.watchdog(second);
    t.ok(third !== null, `wait() started a new watchdog too (${third}, was ${second})`);
    t.equal(stat(second), null, 'and reaped the killed one');
    parent.process.kill('SIGKILL');
    await parent.exited();
    const ms = await waitUntil(() => tree.leftovers(third).length === 0, GONE_WITHIN_MS);
    t.deepEqual(tree.leftovers(third), [], `both trees, started before the restarts: ${within(ms, 'the parent died')}`);
  } finally {
    parent.process.kill('SIGKILL');
    tree.killAll();
  }
});

test('a normal exit stops what is left in the guarded groups too, without waiting for it', { skip: SKIP }, async (t) => {
  t.timeoutAfter(60_000);
  const parent = new FixtureParent();
  const tree = new Tree();
  try {
    t.ok(await tree.add(await parent.ask('spawn', SHELL_WITH_GRANDCHILD), true), 'a child with a grandchild');
    const watchdog = await parent.watchdog();
    t.ok(watchdog !== null, `the watchdog ${watchdog} runs`);
    const t0 = Date.now();
    parent.process.stdin.write('exit\n');
    t.deepEqual(await parent.exited(), { code: 0, signal: null }, `the parent exited with status 0 after ${Date.now() - t0} ms`);
    const ms = await waitUntil(() => tree.leftovers(watchdog).length === 0, GONE_WITHIN_MS);
    t.deepEqual(tree.leftovers(watchdog), [], `the child, its grandchild and the watchdog: ${within(ms, 'the exit')}`);
  } finally {
    parent.process.kill('SIGKILL');
    tree.killAll();
  }
});
