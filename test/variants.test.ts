/**
 * The four variants side by side: the same expectations for each (exact line counts per
 * stream, labels, order, exits), the same argument lists, the same --config handling.
 */
import { readdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'tape';
import { UsageError } from '../child/options.ts';
import { childArgv } from '../parent/children.ts';
import { ipc, isNativeError, PROJECT_ROOT } from '../parent/native.ts';
import { Output } from '../parent/output.ts';
import { Relay } from '../parent/relay.ts';
import { makeTrace } from '../parent/trace.ts';
import { checkCapacity, chooseVariant, VARIANT_NAMES } from '../parent/variants/index.ts';
import { CHILD_KINDS, IS_WINDOWS, parseParentOutput, runParent, UNDER_WINE } from './helpers.ts';

const RUNNABLE = VARIANT_NAMES.filter((v) => !(IS_WINDOWS && v === 'posix'));
const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures');

for (const variant of RUNNABLE) {
  for (const kind of CHILD_KINDS) {
    test(`${variant} x ${kind} child: 3 x 20 lines, each stream complete and in order, 3 exits`, async (t) => {
      const r = await runParent(['--variant', variant, '--child', kind, '--lines', '20', '--max-sleep-ms', '3', '--seq']);
      const out = parseParentOutput(r.stdout);
      t.equal(r.code, 0, 'exit status 0');
      t.equal(out.lines.length, 60, '60 labelled lines');
      t.deepEqual(out.other, [], 'nothing unlabelled');
      for (const pid of new Set(out.lines.map((l) => l.pid))) {
        for (const [label, stream] of [['info', 'stdout'], ['error', 'stderr']] as const) {
          const mine = out.lines.filter((l) => l.pid === pid && l.kind === label);
          t.ok(mine.every((l) => l.text.includes(`writing to ${stream}`)), `pid ${pid}: [${label}] lines are its ${stream}`);
          t.deepEqual(mine.map((l) => Number(/seq=(\d+)/.exec(l.text)?.[1])), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], `pid ${pid} ${stream}: seq 1..10`);
        }
      }
      t.deepEqual(out.exits.map((e) => e.how), Array(3).fill('exited with code 0'), '3 exits, code 0');
      t.equal(r.stderr.toString(), '', 'nothing on stderr');
    });
  }
}

test('variant choice: --variant wins over IPC_VARIANT; unknown names list the valid ones', async (t) => {
  const viaEnv = await runParent(['--children', '1', '--child', 'c', '--lines', '1', '--max-sleep-ms', '0', '--trace'], {
    env: { ...process.env, IPC_VARIANT: 'pipe-thread' },
  });
  t.match(viaEnv.stderr.toString(), /relay threads/, 'IPC_VARIANT=pipe-thread selects the relay threads');
  const flagWins = await runParent(['--variant', 'socketpair', '--children', '1', '--child', 'c', '--lines', '1', '--max-sleep-ms', '0', '--trace'], {
    env: { ...process.env, IPC_VARIANT: 'pipe-thread' },
  });
  t.doesNotMatch(flagWins.stderr.toString(), /relay threads/, '--variant socketpair wins over IPC_VARIANT');
  t.match(flagWins.stderr.toString(), /socketpair for stdout/, 'and the socketpair steps run');
  const bad = await runParent(['--variant', 'carrier-pigeon']);
  t.equal(bad.code, 2, 'unknown variant: status 2');
  t.equal(bad.stderr.toString().trim().split('\n').length, 1, 'one line');
  t.match(bad.stderr.toString(), /'carrier-pigeon'.*socketpair, pipe-thread, posix, libuv/, `lists the valid ones: ${bad.stderr.toString().trim()}`);
  const badEnv = await runParent(['--lines', '1'], { env: { ...process.env, IPC_VARIANT: 'bogus' } });
  t.match(badEnv.stderr.toString(), /'bogus' \(from IPC_VARIANT\)/, 'names IPC_VARIANT as the source');
});

test('posix variant on Windows is refused before anything starts, saying why', async (t) => {
  // The choice itself is pure: check the Windows branch on every platform.
  t.throws(() => chooseVariant('posix', undefined, 'win32'), (e: unknown) => e instanceof UsageError && /no fork\(\).*WSAENOTSOCK/.test(e.message), 'refused for win32 with the reason');
  t.doesNotThrow(() => chooseVariant('posix', undefined, 'linux'), 'accepted elsewhere');
  if (IS_WINDOWS) {
    const r = await runParent(['--variant', 'posix', '--lines', '2']);
    t.equal(r.code, 2, 'status 2 on Windows');
    t.match(r.stderr.toString(), /WSAENOTSOCK/, `says why: ${r.stderr.toString().trim()}`);
    t.equal(r.stdout.length, 0, 'nothing started');
    t.throws(() => ipc.forkExec(['x'], { stdout: 1, stderr: 2 }), /no fork\(\)/, 'the native forkExec refuses too (ENOSYS)');
  }
});

test('Windows: more children than select() can hold are refused before any starts, naming FD_SETSIZE', (t) => {
  const socketpair = chooseVariant('socketpair', undefined, 'linux');
  t.doesNotThrow(() => checkCapacity(socketpair, 511, 1024, 'win32'), '511 children: 1023 sockets fit');
  t.throws(() => checkCapacity(socketpair, 512, 1024, 'win32'), /512 children need 1025 sockets.*FD_SETSIZE \(1024\)/, '512 children: refused');
  t.doesNotThrow(() => checkCapacity(chooseVariant('libuv', undefined, 'linux'), 5000, 1024, 'win32'), 'libuv has no select() limit');
  t.doesNotThrow(() => checkCapacity(socketpair, 5000, 1024, 'linux'), 'POSIX: poll() serves past FD_SETSIZE');
  t.end();
});

test("select() on a pipe: Windows refuses it (the reason the article needs sockets), POSIX accepts it", async (t) => {
  const [r, w] = ipc.pipe();
  try {
    const ready = await ipc.select([r], 0);
    t.notOk(IS_WINDOWS, `select() accepted a pipe (ready: [${ready.join(',')}])`);
  } catch (e) {
    t.ok(IS_WINDOWS, `select() refused a pipe: ${(e as Error).message}`);
    // Windows is documented to answer WSAENOTSOCK; Wine answers WSAEOPNOTSUPP (docs/windows.md, the Wine table).
    const code = isNativeError(e) ? e.code : '';
    t.ok(code === 'ENOTSOCK' || code === 'EOPNOTSUPP', `error ${code} (errno ${isNativeError(e) ? e.errno : '?'}): ${code === 'ENOTSOCK' ? 'WSAENOTSOCK, as on Windows' : "WSAEOPNOTSUPP, Wine's answer"}`);
  }
  ipc.closePipe(r);
  ipc.closePipe(w);
});

const TRICKY_ARGS = ['a b', '"quoted"', 'back\\slash\\', 'trail\\', '', 'tab\there', 'x""y', 'μs-ünïcode', '%PATH%', '$HOME', '*'];

for (const variant of RUNNABLE) {
  test(`${variant}: arguments reach the child byte for byte`, async (t) => {
    const r = await runParent(['--variant', variant, '--children', '1', '--', process.execPath, join(FIXTURES, 'print-argv.cjs'), ...TRICKY_ARGS]);
    t.equal(r.code, 0, 'exit status 0');
    const line = parseParentOutput(r.stdout).lines.find((l) => l.kind === 'info');
    t.deepEqual(line ? JSON.parse(line.text) : null, TRICKY_ARGS, `argv as the child saw it: ${line?.text}`);
  });
}

function configFile(dir: string, name: string, content: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

test('--config: helpers run under every variant, labelled by name, with their cwd and env', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-config-'));
  const file = configFile(dir, 'helpers.json', [
    { name: 'bundler', argv: [process.execPath, join(FIXTURES, 'print-cwd-env.cjs'), 'IPC_ROLE'], cwd: '.', env: { IPC_ROLE: 'bundle', PATH: process.env.PATH ?? '', ...(process.env.SYSTEMROOT ? { SYSTEMROOT: process.env.SYSTEMROOT } : {}) } },
    { name: 'dev-server', argv: childArgv('c', ['--lines', '2', '--max-sleep-ms', '0']) },
  ]);
  for (const variant of RUNNABLE) {
    const r = await runParent(['--variant', variant, '--config', file]);
    const out = parseParentOutput(r.stdout);
    t.equal(r.code, 0, `${variant}: status 0`);
    const bundler = out.lines.find((l) => l.name === 'bundler');
    t.equal(bundler?.text.toLowerCase(), `${dir}|IPC_ROLE=bundle`.toLowerCase(), `${variant}: bundler ran in the config's folder with its env`);
    t.equal(out.lines.filter((l) => l.name === 'dev-server').length, 2, `${variant}: dev-server's 2 lines labelled [dev-server PID]`);
    t.deepEqual(out.exits.map((e) => e.name).sort(), ['bundler', 'dev-server'], `${variant}: exits labelled by name`);
  }
  rmSync(dir, { recursive: true });
});

test('--config: every bad input is one line naming the entry, nothing started', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-config-'));
  const ok = { name: 'ok', argv: ['node'] };
  const cases: [string, unknown, RegExp][] = [
    ['not-json.json', '[{"name": "a",', /invalid JSON/],
    ['object.json', { name: 'a' }, /non-empty JSON array/],
    ['empty.json', [], /non-empty JSON array/],
    ['entry-string.json', [ok, 'node'], /entry 2: must be an object/],
    ['bad-name.json', [{ name: 'has space', argv: ['node'] }], /entry 1 \("has space"\): "name"/],
    ['no-argv.json', [{ name: 'x' }], /entry 1 \("x"\): "argv"/],
    ['argv-number.json', [{ name: 'x', argv: ['node', 3] }], /entry 1 \("x"\): "argv"/],
    ['unknown-key.json', [{ name: 'x', argv: ['node'], shell: true }], /entry 1 \("x"\): unknown key "shell"/],
    ['bad-cwd.json', [ok, { name: 'y', argv: ['node'], cwd: 'no/such/dir' }], /entry 2 \("y"\): "cwd" .* is not a directory/],
    ['bad-env.json', [{ name: 'z', argv: ['node'], env: { A: 1 } }], /entry 1 \("z"\): "env"/],
  ];
  for (const [name, content, expected] of cases) {
    const r = await runParent(['--config', configFile(dir, name, content)]);
    const msg = r.stderr.toString().trim();
    t.equal(r.code, 2, `${name}: status 2`);
    t.ok(msg.split('\n').length === 1 && expected.test(msg), `${name}: ${msg}`);
    t.equal(r.stdout.length, 0, `${name}: nothing started`);
  }
  const missing = await runParent(['--config', join(dir, 'absent.json')]);
  t.match(missing.stderr.toString(), /absent\.json: cannot read it \(ENOENT\)/, 'a missing file is named');
  const both = await runParent(['--config', configFile(dir, 'ok.json', [ok]), '--', 'node']);
  t.equal(both.code, 2, '--config with a command after --: status 2');
  rmSync(dir, { recursive: true });
});

/** Descriptors and threads of this process: /proc/self on Linux; on Windows handles and
 * threads from the addon's processInfo. Under Wine, GetProcessHandleCount reports 0 for
 * every process (measured), so there only the threads are compared. */
function resources(): { fds: number; threads: number } {
  if (IS_WINDOWS && ipc.processInfo) {
    const info = ipc.processInfo(process.pid);
    return { fds: info.handles, threads: info.threads };
  }
  return { fds: readdirSync('/proc/self/fd').length, threads: readdirSync('/proc/self/task').length };
}

const silent = (): Output => new Output(new Writable({ write: (_chunk, _enc, done) => done() }));

/** Under Wine each process start costs 0.2-0.8 s: 50 cycles still show a leak per cycle. */
const CYCLES = UNDER_WINE ? 50 : 500;
for (const variant of RUNNABLE) {
  test(`${variant}: ${CYCLES} spawn/exit cycles leak no descriptor and no thread`, { skip: process.platform !== 'linux' && !IS_WINDOWS && 'reads /proc: Linux only' }, async (t) => {
    // A descriptor the parent forgets to close would hang a cycle forever: fail instead.
    t.timeoutAfter(120_000);
    const spec = { name: 'child', argv: childArgv('c', ['--lines', '2', '--max-sleep-ms', '0']) };
    const cycle = (): Promise<number> =>
      new Relay({ specs: [spec], variant: chooseVariant(variant, undefined), output: silent(), trace: makeTrace(false), durationMs: null }).run();
    await cycle(); // warm-up: libuv starts its thread pool on first use
    const before = resources();
    let failures = 0;
    for (let i = 0; i < CYCLES; i++) if ((await cycle()) !== 0) failures++;
    const after = resources();
    t.equal(failures, 0, 'every cycle ended with status 0');
    if (IS_WINDOWS && before.fds === 0) t.skip('handles: Wine 8 reports 0 from GetProcessHandleCount for every process');
    else t.equal(after.fds, before.fds, `${IS_WINDOWS ? 'handles' : 'descriptors'}: ${before.fds} before, ${after.fds} after`);
    if (IS_WINDOWS) {
      // Windows starts and ends thread-pool workers of its own (under Wine: 13 before, 10
      // after one run); a leaked relay thread per cycle would add CYCLES.
      t.ok(after.threads < before.threads + 5, `threads: ${before.threads} before, ${after.threads} after (no growth with the cycles)`);
    } else {
      t.equal(after.threads, before.threads, `threads: ${before.threads} before, ${after.threads} after`);
    }
  });
}
