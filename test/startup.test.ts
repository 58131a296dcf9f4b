/**
 * The compiled parent's start (issue 15; docs/benchmarks.md, "Where the time goes:
 * start-up"): what it loads before the first child is part of the fixed cost of every run.
 *
 * - node:child_process (with net, dgram and the socket wraps) is loaded only by the libuv
 *   variant, at its first spawn: the other three variants never use it.
 * - build/js/parent/main.js is one bundled file (scripts/bundle-parent.ts, run by
 *   `npm run build:js`, which `npm test` runs first): Node's module loader resolves, reads
 *   and compiles one file instead of the parent's ~25.
 *
 * What Node loaded is read from process.moduleLoadList (every internal module and binding
 * Node has loaded, in order) written at exit by a --require hook: the parent itself is run
 * unchanged.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'tape';
import { compiledParentArgv, PARENT_MAIN_JS, run, type Finished } from './helpers.ts';

const CHILD_PROCESS = 'NativeModule child_process';

/** Runs the compiled parent; what it printed, and the Node modules it had loaded at exit. */
async function runCompiledParent(args: readonly string[]): Promise<{ r: Finished; loaded: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'ipc-startup-'));
  try {
    const hook = join(dir, 'hook.cjs');
    const list = join(dir, 'loaded.txt');
    writeFileSync(
      hook,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')));\n`,
    );
    const [node, ...rest] = compiledParentArgv(args);
    const r = await run([node!, '--require', hook, ...rest]);
    return { r, loaded: readFileSync(list, 'utf8').split('\n') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function exitLines(r: Finished): number {
  return r.stdout.toString().split('\n').filter((l) => /^\[child \d+\] exited with code 0$/.test(l)).length;
}

for (const variant of ['socketpair', 'libuv']) {
  test(`compiled parent, --variant ${variant}: child_process is loaded ${variant === 'libuv' ? 'for this variant' : 'only by the libuv variant'}`, async (t) => {
    const { r, loaded } = await runCompiledParent(['--variant', variant, '--child', 'c', '--children', '2', '--lines', '3']);
    t.equal(r.code, 0, `status 0 (stderr: ${JSON.stringify(r.stderr.toString())})`);
    t.equal(exitLines(r), 2, 'both children reported as exited with code 0');
    t.ok(loaded.includes('NativeModule fs'), `the hook saw Node's module list (${loaded.length} entries)`);
    if (variant === 'libuv') t.ok(loaded.includes(CHILD_PROCESS), `${CHILD_PROCESS} loaded: the libuv variant spawns with it`);
    else t.notOk(loaded.includes(CHILD_PROCESS), `${CHILD_PROCESS} not loaded`);
  });
}

test('build/js/parent/main.js is one bundled file: it imports no module of ours', (t) => {
  const source = readFileSync(PARENT_MAIN_JS, 'utf8');
  // tsc's output imports './stop-signals.js', './native.js', ... statically and with import().
  const relative = source.match(/(?:\bfrom\s*|\bimport\s*\(\s*)["']\.\.?\/[^"']*["']/g) ?? [];
  t.deepEqual(relative, [], 'no relative import specifier left');
  t.ok(source.includes('StopSignals'), 'it holds the modules main.ts imports (StopSignals)');
  t.ok(source.includes('StreamRelay'), 'and those it loads on demand (the relay: StreamRelay)');
  t.end();
});
