/**
 * The Windows spawn path against libuv's standard (issue 11, sections 2-4): how the program
 * is found, what a batch file may not do, the environment block, one kill-on-close job per
 * child, detached children, and which signals exist. Windows only: `npm run test:wine`
 * runs it under Wine, which is evidence, not proof (docs/windows.md).
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'tape';
import { BUILD_DIR, C_CHILD_PATH, ipc, isNativeError, signalNumber } from '../parent/native.ts';
import { alive, IS_WINDOWS, parentArgv, parseParentOutput, runParent, sleep, start } from './helpers.ts';

const WINDOWS_ONLY = !IS_WINDOWS && 'Windows only (run by npm run test:wine)';
const SIGTERM = signalNumber('SIGTERM');
/** A Node program that stays alive, silent, until it is stopped. */
const IDLE = [process.execPath, '-e', 'setInterval(() => {}, 1000)'];
/** Everything the child writes, its exit, and its pid. */
interface Ran {
  pid: number;
  output: string;
  exit: { code: number | null; signal: number | null };
}

/** Starts argv with one socket as stdout and stderr, reads to end of stream, reaps it. */
async function runNative(argv: readonly string[], options: { cwd?: string; env?: readonly string[] } = {}): Promise<Ran> {
  const [r, w] = ipc.socketpair();
  let pid: number;
  try {
    pid = ipc.spawn(argv, { stdout: w, stderr: w, ...options });
  } finally {
    ipc.close(w);
  }
  ipc.setNonBlocking(r);
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  const deadline = Date.now() + 60_000;
  for (;;) {
    await ipc.select([r], 1000);
    const n = ipc.read(r, buf);
    if (n === 0 || Date.now() > deadline) break;
    if (n > 0) parts.push(Buffer.from(buf.subarray(0, n)));
  }
  ipc.close(r);
  let exit = ipc.wait(pid);
  while (exit === null && Date.now() < deadline) {
    await sleep(20);
    exit = ipc.wait(pid);
  }
  if (exit === null) {
    ipc.killTree(pid, SIGTERM);
    throw new Error(`${argv[0]} did not exit within 60 s`);
  }
  return { pid, output: Buffer.concat(parts).toString(), exit };
}

/** The error a call throws (code and message), or 'no error'. */
function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    const pid = fn();
    // It started: stop it, the test will fail on the missing error.
    if (typeof pid === 'number') ipc.killTree(pid, SIGTERM);
    return { code: 'no error', message: `started pid ${String(pid)}` };
  } catch (e) {
    if (!isNativeError(e)) throw e;
    return { code: e.code, message: e.message };
  }
}

function spawnSilently(argv: readonly string[], options: { cwd?: string; env?: readonly string[]; detached?: boolean } = {}): number {
  const [r, w] = ipc.socketpair();
  try {
    return ipc.spawn(argv, { stdout: w, stderr: w, ...options });
  } finally {
    ipc.close(r);
    ipc.close(w);
  }
}

async function waitGone(pids: readonly number[], ms: number): Promise<number[]> {
  const t0 = Date.now();
  let left = [...pids];
  while (left.length > 0 && Date.now() - t0 < ms) {
    await sleep(50);
    left = left.filter(alive);
  }
  return left;
}

async function reap(pid: number): Promise<{ code: number | null; signal: number | null }> {
  for (;;) {
    const s = ipc.wait(pid);
    if (s !== null) return s;
    await sleep(20);
  }
}

/** A folder of our own holding a copy of the C child under a name found nowhere else. */
function probeFolder(): { dir: string; name: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-lookup-'));
  const name = `ipc-probe-${process.pid}`;
  copyFileSync(C_CHILD_PATH, join(dir, `${name}.exe`));
  return { dir, name };
}

/** The variables a given environment needs so that a Windows child starts at all. */
const SYSTEM_VARS = ['SYSTEMROOT', 'WINDIR'].flatMap((k) => (process.env[k] ? [`${k}=${process.env[k]}`] : []));
const PROBE_ARGS = ['--lines', '1', '--max-sleep-ms', '0'];

test('lookup: a program only in the PATH of the child\'s environment is found, .exe appended', { skip: WINDOWS_ONLY }, async (t) => {
  const { dir, name } = probeFolder();
  try {
    const r = await runNative([name, ...PROBE_ARGS], { env: [`PATH=${dir}`, ...SYSTEM_VARS] });
    t.deepEqual(r.exit, { code: 0, signal: null }, 'it ran and exited 0');
    t.match(r.output, /^C child pid \d+ /, `it printed its first line: ${JSON.stringify(r.output.slice(0, 80))}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lookup: the current folder is not searched for a bare name; .\\name and a relative folder are', { skip: WINDOWS_ONLY }, async (t) => {
  const { dir, name } = probeFolder();
  const before = process.cwd();
  try {
    process.chdir(dir);
    const bare = errorOf(() => spawnSilently([name, ...PROBE_ARGS], { env: [`PATH=${process.env.SYSTEMROOT ?? 'C:\\windows'}`, ...SYSTEM_VARS] }));
    t.equal(bare.code, 'ENOENT', `a bare name in the current folder only: ${bare.code} (${bare.message})`);
  } finally {
    process.chdir(before);
  }
  try {
    const dotted = await runNative([`.\\${name}`, ...PROBE_ARGS], { cwd: dir });
    t.deepEqual(dotted.exit, { code: 0, signal: null }, `.\\${name} with cwd set to its folder: found and ran`);
    const relative = await runNative([join('..', dir.split(/[\\/]/).pop()!, name), ...PROBE_ARGS], { cwd: dir });
    t.deepEqual(relative.exit, { code: 0, signal: null }, 'a relative folder is taken from the child\'s working folder');
    const missing = errorOf(() => spawnSilently([`ipc-no-such-program-${process.pid}`]));
    t.equal(missing.code, 'ENOENT', `a name found nowhere: ${missing.code}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A batch file that echoes its first argument (the BatBadBut case of docs/windows.md, row 19). */
function batchFolder(): { dir: string; bat: string; cmd: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-batch-'));
  const bat = join(dir, 't.bat');
  const cmd = join(dir, 't.cmd');
  for (const f of [bat, cmd]) writeFileSync(f, '@echo arg1=[%1]\r\n');
  return { dir, bat, cmd };
}

test('lookup: .bat and .cmd are refused with EINVAL and the reason (BatBadBut)', { skip: WINDOWS_ONLY }, async (t) => {
  const { dir, bat, cmd } = batchFolder();
  try {
    for (const file of [bat, cmd, `${bat}.`, bat.toUpperCase()]) {
      const e = errorOf(() => spawnSilently([file, '"&echo INJECTED']));
      t.equal(e.code, 'EINVAL', `${file}: ${e.code}`);
      t.match(e.message, /batch file.*cmd\.exe.*CVE-2024-27980/, `the message says why: ${e.message}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lookup: the BatBadBut command no longer runs the injected command (the parent, both variants)', { skip: WINDOWS_ONLY }, async (t) => {
  const { dir, bat } = batchFolder();
  try {
    for (const variant of ['socketpair', 'pipe-thread']) {
      const r = await runParent(['--variant', variant, '--children', '1', '--', bat, '"&echo INJECTED'], { timeoutMs: 60_000 });
      const all = `${r.stdout.toString()}${r.stderr.toString()}`;
      t.notOk(/INJECTED/.test(r.stdout.toString()), `${variant}: nothing injected ran (stdout: ${JSON.stringify(r.stdout.toString().slice(0, 120))})`);
      t.equal(r.code, 1, `${variant}: status 1`);
      t.match(all, /refusing to run the batch file/, `${variant}: ${r.stderr.toString().trim()}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The variables libuv's make_program_env adds back when an environment is given. */
const REQUIRED_VARS = ['HOMEDRIVE', 'HOMEPATH', 'LOGONSERVER', 'PATH', 'SYSTEMDRIVE', 'SYSTEMROOT', 'TEMP', 'USERDOMAIN', 'USERNAME', 'USERPROFILE', 'WINDIR'];

/** What a Node child sees of its environment: the required variables, and every name
 * spelled PATH. */
const SHOW_ENV = [
  process.execPath,
  '-e',
  `const e = process.env; require("fs").writeSync(1, JSON.stringify({ required: Object.fromEntries(${JSON.stringify(REQUIRED_VARS)}.map((k) => [k, e[k] ?? null])), ` +
    'paths: Object.keys(e).filter((k) => k.toUpperCase() === "PATH"), path: e.PATH ?? null }))',
];
interface SeenEnv {
  required: Record<string, string | null>;
  paths: string[];
  path: string | null;
}

test('environment: a given environment still gets SYSTEMROOT and the others Windows programs need', { skip: WINDOWS_ONLY }, async (t) => {
  const r = await runNative(SHOW_ENV, { env: ['IPC_PROBE=1'] });
  t.deepEqual(r.exit, { code: 0, signal: null }, 'the child ran');
  const seen = JSON.parse(r.output) as SeenEnv;
  const expected = Object.fromEntries(REQUIRED_VARS.map((k) => [k, process.env[k] ?? null]));
  t.deepEqual(seen.required, expected, `the parent's values of ${REQUIRED_VARS.join(' ')} (those it has)`);
  const given = await runNative(SHOW_ENV, { env: ['SYSTEMROOT=C:\\windows', 'IPC_PROBE=1'] });
  t.equal((JSON.parse(given.output) as SeenEnv).required.SYSTEMROOT, 'C:\\windows', 'a given SYSTEMROOT is kept as given');
});

test('environment: Path and PATH are one name; the first given wins', { skip: WINDOWS_ONLY }, async (t) => {
  for (const [first, second] of [['Path=C:\\first', 'PATH=C:\\second'], ['PATH=C:\\first', 'Path=C:\\second']] as const) {
    const r = await runNative(SHOW_ENV, { env: [first, second, ...SYSTEM_VARS] });
    const seen = JSON.parse(r.output) as SeenEnv;
    t.equal(seen.paths.length, 1, `${first}, ${second}: one variable in the child (${seen.paths.join(', ')})`);
    t.equal(seen.path, 'C:\\first', `${first}, ${second}: the child's PATH is ${seen.path}`);
  }
});

test('environment: names sort by name only ("A-B" after "A"), values intact', { skip: WINDOWS_ONLY }, async (t) => {
  const show = [process.execPath, '-e', 'require("fs").writeSync(1, JSON.stringify([process.env["IPC-A"], process.env.IPC, process.env["IPC=X"]]))'];
  const r = await runNative(show, { env: ['IPC-A=dash', 'IPC=plain', ...SYSTEM_VARS] });
  t.deepEqual(JSON.parse(r.output), ['dash', 'plain', null], `both reach the child: ${r.output}`);
  const bad = errorOf(() => spawnSilently(show, { env: ['NO_EQUALS_SIGN'] }));
  t.equal(bad.code, 'EINVAL', `an entry without '=' is refused: ${bad.message}`);
});

/** A Node child that starts an idle grandchild, prints its pid, and exits or stays. */
function withGrandchild(then: 'exit' | 'stay'): string[] {
  return [
    process.execPath,
    '-e',
    // detached: a plain Node grandchild would be in the child's own libuv job and die with
    // the child (seen under Wine); a detached one is only in ours.
    'const g = require("child_process").spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore", detached: true });' +
      'require("fs").writeSync(1, "grandchild " + g.pid + "\\n");' +
      (then === 'exit' ? 'g.unref(); process.exit(0);' : 'setInterval(() => {}, 1000);'),
  ];
}

async function grandchildOf(r: number): Promise<number> {
  const buf = Buffer.alloc(256);
  let text = '';
  const t0 = Date.now();
  while (!/grandchild (\d+)\n/.test(text) && Date.now() - t0 < 60_000) {
    await ipc.select([r], 1000);
    const n = ipc.read(r, buf);
    if (n === 0) break;
    if (n > 0) text += buf.subarray(0, n).toString();
  }
  const m = /grandchild (\d+)\n/.exec(text);
  if (!m) throw new Error(`no grandchild pid in ${JSON.stringify(text)}`);
  return Number(m[1]);
}

test('killTree: ends the child and its grandchild; kill ends the child alone', { skip: WINDOWS_ONLY }, async (t) => {
  t.timeoutAfter(120_000);
  for (const how of ['kill', 'killTree'] as const) {
    const [r, w] = ipc.socketpair();
    const pid = ipc.spawn(withGrandchild('stay'), { stdout: w, stderr: w });
    ipc.close(w);
    ipc.setNonBlocking(r);
    const grandchild = await grandchildOf(r);
    ipc[how](pid, SIGTERM);
    t.deepEqual(await reap(pid), { code: null, signal: SIGTERM }, `${how}: the child is reported killed by SIGTERM`);
    const left = await waitGone([grandchild], 5000);
    if (how === 'kill') {
      t.deepEqual(left, [grandchild], 'kill: the grandchild lives on (the tree is killTree\'s job)');
      ipc.killTree(pid, SIGTERM);
      t.deepEqual(await waitGone([grandchild], 5000), [], 'killTree after the child was reaped still reaches the grandchild');
    } else {
      t.deepEqual(left, [], 'killTree: the grandchild is gone too');
    }
    const again = errorOf(() => ipc.killTree(pid, SIGTERM));
    t.equal(again.code, 'ESRCH', `${how}: once nothing is left, killTree says ESRCH`);
    ipc.close(r);
  }
});

test('killTree: a child that exited leaves its grandchild reachable (and the stream open)', { skip: WINDOWS_ONLY }, async (t) => {
  t.timeoutAfter(120_000);
  const [r, w] = ipc.socketpair();
  const pid = ipc.spawn(withGrandchild('exit'), { stdout: w, stderr: w });
  ipc.close(w);
  ipc.setNonBlocking(r);
  const grandchild = await grandchildOf(r);
  t.deepEqual(await reap(pid), { code: 0, signal: null }, 'the child exited 0 and was reaped');
  await sleep(500);
  t.ok(alive(grandchild), 'reaping the child does not end its grandchild');
  t.doesNotThrow(() => ipc.killTree(pid, 0), 'killTree(pid, 0): something of the tree is left');
  ipc.killTree(pid, SIGTERM);
  t.deepEqual(await waitGone([grandchild], 5000), [], 'killTree ended the grandchild');
  ipc.close(r);
});

test('kill: signals libuv cannot map are ENOSYS; 0 probes', { skip: WINDOWS_ONLY }, async (t) => {
  const pid = spawnSilently(IDLE);
  for (const name of ['SIGHUP', 'SIGBREAK', 'SIGWINCH', 'SIGABRT'] as const) {
    const n = signalNumber(name);
    const e = errorOf(() => ipc.kill(pid, n));
    t.equal(e.code, 'ENOSYS', `${name} (${n}): ${e.message}`);
    t.equal(errorOf(() => ipc.killTree(pid, n)).code, 'ENOSYS', `killTree ${name}: ENOSYS`);
  }
  t.doesNotThrow(() => ipc.kill(pid, 0), 'signal 0: running');
  t.equal(ipc.wait(pid), null, 'none of them stopped it');
  ipc.kill(pid, signalNumber('SIGQUIT'));
  t.deepEqual(await reap(pid), { code: null, signal: signalNumber('SIGQUIT') }, 'SIGQUIT ends it (TerminateProcess)');
});

/** A parent of our own (this addon, loaded by a second node.exe) that starts a detached
 * idle child and a normal child (argv after the addon's path), prints both pids, then
 * passes on what the normal child writes. */
const HOLDER = [
  'const ipc = require(process.argv[1]);',
  'const [r, w] = ipc.socketpair();',
  'const idle = [process.execPath, "-e", "setInterval(() => {}, 1000)"];',
  'const detached = ipc.spawn(idle, { stdout: w, stderr: w, detached: true });',
  'const attached = ipc.spawn(process.argv.slice(2), { stdout: w, stderr: w });',
  'ipc.close(w);',
  'ipc.setNonBlocking(r);',
  'process.stdout.write(`pids ${detached} ${attached}\\n`);',
  'const buf = Buffer.alloc(4096);',
  'setInterval(() => { const n = ipc.read(r, buf); if (n > 0) process.stdout.write(buf.subarray(0, n)); }, 50);',
].join('\n');

test('detached: survives the parent\'s death, which ends every other child and grandchild', { skip: WINDOWS_ONLY }, async (t) => {
  t.timeoutAfter(120_000);
  const holder = start([process.execPath, '-e', HOLDER, join(BUILD_DIR, 'ipc.node'), ...withGrandchild('stay')], { timeoutMs: 120_000 });
  await holder.waitFor('grandchild ');
  const out = holder.output().toString();
  const [detached, attached] = /pids (\d+) (\d+)/.exec(out)!.slice(1).map(Number) as [number, number];
  const grandchild = Number(/grandchild (\d+)/.exec(out)![1]);
  holder.kill('SIGKILL'); // TerminateProcess: no code of the holder runs
  await holder.done;
  t.deepEqual(await waitGone([attached, grandchild], 5000), [], 'the normal child and its grandchild are gone within 5 s of TerminateProcess of their parent');
  t.ok(alive(detached), 'the detached child still runs');
  process.kill(detached, 'SIGKILL');
  t.deepEqual(await waitGone([detached], 5000), [], 'and stops when told');
});

test('the parent killed by TerminateProcess: children and grandchildren gone within 5 s', { skip: WINDOWS_ONLY }, async (t) => {
  t.timeoutAfter(120_000);
  for (const variant of ['socketpair', 'pipe-thread']) {
    const p = start(parentArgv(['--variant', variant, '--children', '2', '--', ...withGrandchild('stay')]), { timeoutMs: 120_000 });
    let lines: { pid: number; text: string }[] = [];
    for (let i = 0; i < 1200 && lines.length < 2; i++) {
      await sleep(50);
      lines = parseParentOutput(p.output()).lines;
    }
    const pids = [...lines.map((l) => l.pid), ...lines.map((l) => Number(/grandchild (\d+)/.exec(l.text)?.[1]))];
    t.equal(pids.length, 4, `${variant}: 2 children and 2 grandchildren started (${pids.join(' ')})`);
    const t0 = Date.now();
    p.kill('SIGKILL');
    await p.done;
    const left = await waitGone(pids, 5000);
    t.deepEqual(left, [], `${variant}: all gone ${Date.now() - t0} ms after TerminateProcess of the parent`);
  }
});

test('pipe-thread: a WriteFile of 0 bytes is not end of stream', { skip: WINDOWS_ONLY }, async (t) => {
  // The C child under --zero-write is not needed: Node's fs.writeSync of an empty buffer
  // on a pipe handle is a WriteFile of 0 bytes.
  const argv = [process.execPath, '-e', 'const fs = require("fs"); fs.writeSync(1, "before\\n"); fs.writeSync(1, Buffer.alloc(0)); setTimeout(() => fs.writeSync(1, "after\\n"), 300);'];
  const r = await runParent(['--variant', 'pipe-thread', '--children', '1', '--', ...argv], { timeoutMs: 60_000 });
  const out = parseParentOutput(r.stdout);
  t.deepEqual(out.lines.map((l) => l.text), ['before', 'after'], `both lines arrive: ${JSON.stringify(r.stdout.toString())}`);
  t.equal(r.code, 0, 'status 0');
});
