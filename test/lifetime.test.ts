/**
 * The parent's lifetime and its children's (docs/reliability.md, "process lifetime"):
 * stops are never lost and reach the whole tree, a killed parent leaves nothing behind,
 * detached children outlive it on purpose; and the parent starts cleanly even without
 * its native addon.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'tape';
import { compiledParentArgv, parseParentOutput, run } from './helpers.ts';

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
  writeFileSync(join(dir, 'child.cjs'), 'console.log("ran in " + process.cwd());\n');
  const file = join(dir, 'conf', 'helpers.json');
  writeFileSync(file, JSON.stringify([{ name: 'helper', argv: [process.execPath, '../child.cjs'] }]));
  // Started from another folder: the parent's own cwd must not matter.
  const r = await run(compiledParentArgv(['--config', file]), { cwd: tmpdir() });
  const out = parseParentOutput(r.stdout);
  t.equal(r.code, 0, `status 0${r.code === 0 ? '' : `: ${r.stdout.toString().trim()}`}`);
  t.deepEqual(out.lines.map((l) => l.text), [`ran in ${join(dir, 'conf')}`], '../child.cjs found from the config\'s folder, and run there');
  rmSync(dir, { recursive: true });
});
