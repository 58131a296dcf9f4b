/**
 * The spawn paths measured against libuv (issue 11, section 4): where a program is found,
 * what happens to a signal that arrives while the fork variant's child is not yet the new
 * program, a working folder on other C libraries (musl), who closes a relay's descriptors
 * when its thread cannot start, the C child building on its own, and the addon's number
 * checks. Some of it runs through test/fixtures/spawn-checks.c, compiled here with the
 * addon's own C files, because Node cannot see it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'tape';
import { ipc, isNativeError, PROJECT_ROOT } from '../parent/native.ts';
import { readBindingGyp, resolveTarget } from '../scripts/build-win.ts';
import { IS_WINDOWS } from './helpers.ts';

const POSIX_ONLY = IS_WINDOWS && 'POSIX spawn paths (posix_spawn, fork + exec)';
const C = join(PROJECT_ROOT, 'c');

type Starter = 'spawn' | 'forkExec';
const STARTERS: readonly Starter[] = ['spawn', 'forkExec'];

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A fresh folder holding one executable shell script, `name`, that prints "ran NAME". */
function folderWithProgram(name: string, mode = 0o755): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-path-'));
  writeFileSync(join(dir, name), `#!/bin/sh\necho "ran ${name}"\n`);
  chmodSync(join(dir, name), mode);
  return dir;
}

interface Started {
  output: string;
  code: number | null;
}

/** Starts argv with the addon, its stdout and stderr into one socket pair; everything it
 * printed and its exit code, or the native error (code and path) when it did not start. */
async function startAndRead(how: Starter, argv: string[], opts: { env?: string[]; cwd?: string }): Promise<Started | { error: string; path?: string }> {
  const [r, w] = ipc.socketpair();
  let pid: number;
  try {
    pid = ipc[how](argv, { stdout: w, stderr: w, ...opts });
  } catch (e) {
    ipc.close(r);
    ipc.close(w);
    if (!isNativeError(e)) throw e;
    return { error: e.code, ...(e.path === undefined ? {} : { path: e.path }) };
  }
  ipc.close(w);
  ipc.setNonBlocking(r);
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(4096);
  for (;;) {
    await ipc.select([r], 10_000);
    const n = ipc.read(r, buf);
    if (n === 0) break;
    if (n > 0) chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  ipc.close(r);
  let status = ipc.wait(pid);
  for (let i = 0; status === null && i < 3000; i++) {
    await sleep(10);
    status = ipc.wait(pid);
  }
  return { output: Buffer.concat(chunks).toString(), code: status?.code ?? null };
}

for (const how of STARTERS) {
  test(`${how}: the program is searched in the PATH of the child's environment, not the parent's`, { skip: POSIX_ONLY }, async (t) => {
    const name = `only-in-child-path-${process.pid}`;
    const dir = folderWithProgram(name);
    try {
      t.deepEqual(await startAndRead(how, [name], { env: [`PATH=${dir}`] }), { output: `ran ${name}\n`, code: 0 },
        'a name only in the PATH given in env is found there');
      t.deepEqual(await startAndRead(how, ['sh', '-c', 'echo never'], { env: [`PATH=${dir}`] }), { error: 'ENOENT', path: 'sh' },
        "a name only in the parent's PATH is not found (ENOENT, the name as path)");
      t.deepEqual(await startAndRead(how, ['sh', '-c', 'echo default'], { env: ['NO_PATH_HERE=1'] }), { output: 'default\n', code: 0 },
        'an env without PATH searches /usr/bin:/bin, as libuv does');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test(`${how}: an empty PATH entry is the child's working folder; a match that cannot run is skipped`, { skip: POSIX_ONLY }, async (t) => {
    const name = `in-cwd-${process.pid}`;
    const dir = folderWithProgram(name);
    const denied = folderWithProgram(name, 0o644);
    try {
      t.deepEqual(await startAndRead(how, [name], { env: ['PATH=:/nonexistent'], cwd: dir }), { output: `ran ${name}\n`, code: 0 },
        'PATH=":/nonexistent" finds the program in cwd');
      t.deepEqual(await startAndRead(how, [name], { env: ['PATH=/nonexistent:'], cwd: dir }), { output: `ran ${name}\n`, code: 0 },
        'so does a trailing empty entry');
      t.deepEqual(await startAndRead(how, [name], { env: [`PATH=${denied}`] }), { error: 'EACCES', path: name },
        'only a non-executable match: EACCES (the parent exits 126)');
      t.deepEqual(await startAndRead(how, [name], { env: [`PATH=${denied}:${dir}`] }), { output: `ran ${name}\n`, code: 0 },
        'a non-executable match is skipped for a later executable one, as execvp does');
      t.deepEqual(await startAndRead(how, [name], { env: ['PATH=/nonexistent'], cwd: dir }), { error: 'ENOENT', path: name },
        'without an empty entry, cwd is not searched');
    } finally {
      rmSync(dir, { recursive: true });
      rmSync(denied, { recursive: true });
    }
  });
}

/* ---- C programs built here ---- */

function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

const HAVE_CC = !IS_WINDOWS && commandExists('cc');
const NO_CC = IS_WINDOWS ? 'POSIX only (builds with cc)' : !HAVE_CC && 'no cc on this machine';

/** What spawn-checks.c needs, besides itself: the POSIX spawn, path and relay code. */
const CHECK_SOURCES = [
  'spawn_posix.c', 'path_posix.c', 'fork_exec_posix.c', 'io_posix.c', 'errors.c', 'errors_posix.c',
  'relay_thread.c', 'relay_thread_posix.c', 'socketpair_posix.c',
].map((f) => join(C, f));

const buildDir = HAVE_CC ? mkdtempSync(join(tmpdir(), 'ipc-spawn-checks-')) : '';
test.onFinish(() => {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
});

/** Compiles with the project's own warning flags, as errors. Returns the output path, or
 * the compiler's complaint. */
function compile(compiler: string, sources: string[], out: string, extra: string[] = []): { path: string; error: string } {
  const path = join(buildDir, out);
  const r = spawnSync(compiler, ['-std=c11', '-Wall', '-Wextra', '-Werror', `-I${C}`, ...extra, ...sources, '-o', path], { encoding: 'utf8' });
  return { path, error: r.status === 0 ? '' : `${compiler} exited ${r.status}: ${r.stderr}` };
}

const builds = new Map<string, string>();

function buildChecks(compiler: string, name: string, extra: string[] = []): string {
  const done = builds.get(name);
  if (done) return done;
  const built = compile(compiler, [join(PROJECT_ROOT, 'test', 'fixtures', 'spawn-checks.c'), ...CHECK_SOURCES], name, ['-pthread', ...extra, '-ldl']);
  if (built.error) throw new Error(built.error);
  builds.set(name, built.path);
  return built.path;
}

function runChecks(program: string, args: string[], cwd?: string): { stdout: string; status: number | null; stderr: string } {
  const r = spawnSync(program, args, { encoding: 'utf8', timeout: 60_000, ...(cwd ? { cwd } : {}) });
  return { stdout: r.stdout, status: r.status, stderr: r.stderr };
}

test('c/child.c compiles on its own: cc -std=c11 -Wall -Wextra -Werror, no -pthread', { skip: NO_CC }, (t) => {
  const built = compile('cc', [join(C, 'child.c')], 'child_c_standalone');
  t.equal(built.error, '', 'compiles without warnings');
  if (built.error) return t.end();
  const r = runChecks(built.path, ['--lines', '2', '--max-sleep-ms', '0']);
  t.equal(r.status, 0, 'and runs: exit 0');
  t.match(r.stdout, /^C child pid \d+ writing to stdout/, `prints its stdout line: ${r.stdout.trim()}`);
  t.match(r.stderr, /^C child pid \d+ writing to stderr/, 'and its stderr line');
  t.end();
});

const TRUE_PROGRAM = ['/bin/true', '/usr/bin/true'].find((p) => existsSync(p));

test('forkExec: a signal racing fork() never runs the parent\'s handler in the child', { skip: NO_CC || (!TRUE_PROGRAM && 'no true program') }, (t) => {
  // spawn-checks forks /bin/true in a loop for 1.5 s while a thread sends SIGUSR1 to its
  // process group every 0.2 ms; its handler writes getpid(). A child that receives the
  // signal between fork() and resetting its handlers would write its own pid: "foreign".
  // Seen before the fix: ~1000 foreign markers in 2,000 forks (2 s).
  const program = buildChecks('cc', 'spawn-checks');
  const r = runChecks(program, ['signal-window', '1500', TRUE_PROGRAM!]);
  t.equal(r.status, 0, `ran: ${r.stdout.trim()} ${r.stderr.trim()}`);
  const m = /forks=(\d+) own=(\d+) foreign=(\d+)/.exec(r.stdout);
  t.ok(m, 'reported its counts');
  if (!m) return t.end();
  const [forks, own, foreign] = m.slice(1).map(Number) as [number, number, number];
  t.ok(forks >= 50, `${forks} forks in 1.5 s`);
  t.ok(own >= 50, `the signals did fire: the parent's handler ran ${own} times in the parent`);
  t.equal(foreign, 0, 'no child ran the parent\'s handler');
  t.end();
});

test('relay: when its thread cannot start, ipc_relay_start has closed both descriptors', { skip: NO_CC || (process.platform !== 'linux' && 'reads /proc/self/status: Linux only') }, (t) => {
  // RLIMIT_AS set to the address space in use leaves no room for a thread's stack.
  // Seen before the fix: failed=EAGAIN pipe_read=open socket_write=open.
  const r = runChecks(buildChecks('cc', 'spawn-checks'), ['relay-start-fails']);
  t.equal(r.status, 0, `ran: ${r.stderr.trim()}`);
  // EAGAIN from pthread_create, or ENOMEM if even the relay's calloc found no room.
  t.match(r.stdout.trim(), /^failed=(EAGAIN|ENOMEM) pipe_read=closed socket_write=closed$/, r.stdout.trim());
  t.end();
});

const HAVE_MUSL = !IS_WINDOWS && commandExists('musl-gcc');

test('musl: cwd, PATH and the fork fallback work with musl libc (musl-gcc)', { skip: IS_WINDOWS ? 'POSIX only' : !HAVE_MUSL && 'no musl-gcc (Debian: apt-get install musl-tools)' }, (t) => {
  // Built with musl, spawn_posix.c finds musl's posix_spawn_file_actions_addchdir_np
  // (musl >= 1.1.24) at run time; before, it refused every cwd with ENOSYS outside glibc
  // and macOS. The second build hides the function, as an older C library would, and so
  // takes the fork + chdir + exec path.
  const name = `musl-${process.pid}`;
  const dir = folderWithProgram(name);
  try {
    for (const [label, build] of [['addchdir_np', []], ['fork fallback', ['-DIPC_TEST_WITHOUT_ADDCHDIR']]] as const) {
      const program = buildChecks('musl-gcc', `spawn-checks-musl-${build.length}`, [...build]);
      t.ok(readFileSync(program).includes('ld-musl'), `${label}: the program is linked against musl (names its loader)`);
      const pwd = runChecks(program, ['spawn', '--cwd', dir, '--', '/bin/sh', '-c', 'pwd']);
      t.equal(pwd.stdout, `${dir}\nexit 0\n`, `${label}: spawn with cwd runs the child there`);
      const found = runChecks(program, ['spawn', '--cwd', dir, '--env', 'PATH=:/nonexistent', '--', name]);
      t.equal(found.stdout, `ran ${name}\nexit 0\n`, `${label}: an empty PATH entry finds the program in cwd`);
      const badCwd = runChecks(program, ['spawn', '--cwd', join(dir, 'missing'), '--', '/bin/sh', '-c', 'true']);
      t.equal(badCwd.stdout, 'error ENOENT chdir\n', `${label}: a missing cwd is named as chdir's ENOENT`);
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
  t.end();
});

/* ---- the addon's number checks ---- */

const BAD_NUMBERS: [string, number][] = [['NaN', NaN], ['2**63', 2 ** 63], ['1.5', 1.5], ['Infinity', Infinity], ['-2**64', -(2 ** 64)]];

test('addon: NaN, 2**63 and fractions are usage errors naming the argument', async (t) => {
  for (const [text, n] of BAD_NUMBERS) {
    const cases: [string, () => unknown, RegExp][] = [
      ['kill pid', () => ipc.kill(n, 0), /kill\(pid, signal\): pid must be an integer/],
      ['kill signal', () => ipc.kill(process.pid, n), /kill\(pid, signal\): signal must be an integer/],
      ['wait pid', () => ipc.wait(n), /wait\(pid\): pid must be an integer/],
      ['select timeoutMs', () => ipc.select([0], n), /select\(fds, timeoutMs\): timeoutMs must be an integer/],
      ['read fd', () => ipc.read(n, Buffer.alloc(1)), /read\(fd, buffer\): fd must be a descriptor/],
    ];
    for (const [what, call, message] of cases) {
      try {
        await call();
        t.fail(`${what} = ${text}: accepted`);
      } catch (e) {
        t.ok(e instanceof TypeError && message.test((e as Error).message), `${what} = ${text}: ${(e as Error).message}`);
      }
    }
  }
});

test('addon: no undefined number conversion (built with -fsanitize=float-cast-overflow, trapping)', { skip: NO_CC }, (t) => {
  // (int64_t)d is undefined in C for NaN and for d >= 2**63; on x86-64 it happens to give
  // INT64_MIN, which the old check then refused, so only a sanitizer shows it: this build
  // stops with SIGILL at the first such conversion. Seen before the fix: SIGILL on NaN.
  // The addon as node-gyp builds it on Linux (binding.gyp's lists), plus the sanitizer.
  const target = resolveTarget(readBindingGyp(), 'ipc', 'linux');
  const headers = join(PROJECT_ROOT, 'node_modules', 'node-api-headers', 'include');
  const built = compile('cc', target.sources.map((f) => join(PROJECT_ROOT, f)), 'ipc-ubsan.node', [
    ...target.cflags.filter((f) => !f.startsWith('-W') && f !== '-std=c11'), ...target.defines.map((d) => `-D${d}`),
    '-shared', '-fPIC', '-fsanitize=float-cast-overflow', '-fsanitize-undefined-trap-on-error', `-I${headers}`, ...target.libraries,
  ]);
  t.equal(built.error, '', 'the addon builds with the sanitizer');
  if (built.error) return t.end();
  const script = `
    const ipc = require(process.argv[1]);
    for (const n of [NaN, 2 ** 63, -(2 ** 64), Infinity, 1.5])
      for (const call of [() => ipc.kill(n, 0), () => ipc.kill(1, n), () => ipc.wait(n), () => ipc.select([0], n), () => ipc.read(n, Buffer.alloc(1))])
        try { call(); } catch {}
    process.stdout.write('all refused');`;
  const r = spawnSync(process.execPath, ['-e', script, built.path], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.signal, null, `no trap (signal ${r.signal})`);
  t.equal(r.stdout, 'all refused', `every call returned: ${r.stderr.trim()}`);
  t.end();
});
