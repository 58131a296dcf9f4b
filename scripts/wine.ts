/**
 * What scripts/build-win.ts and scripts/test-wine.ts share: where the checkout is, finding
 * the Linux tools they drive (mingw-w64, Wine), and running a tool without a shell.
 *
 * Nothing here runs on Windows: these scripts build and test the Windows code from Linux.
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's root (the folder with binding.gyp), whether this file runs from scripts/
 * through tsx or from build/js/scripts/ after tsc. */
function findProjectRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the project root (binding.gyp) above ${import.meta.url}`);
  }
}

export const PROJECT_ROOT = findProjectRoot();
/** Where the cross-build goes; parent/native.ts looks there on Windows (or via IPC_BUILD_DIR). */
export const WIN_BUILD_DIR = join(PROJECT_ROOT, 'build', 'win32-x64');
/** Downloads and the Wine prefix: big, reusable, git-ignored (.gitignore has .cache/). */
export const CACHE_DIR = join(PROJECT_ROOT, '.cache');

/** The Debian/Ubuntu packages each tool comes from, for the error that says what to install. */
export const MINGW_PACKAGES = 'gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64';
export const WINE_PACKAGES = `wine wine64 ${MINGW_PACKAGES}`;

/** A tool the scripts need is not installed; the message says which packages provide it. */
export class MissingToolError extends Error {}

/** The full path of an executable named `name` in PATH (or in one of `extraDirs`), or null.
 * Done by hand rather than with `which`, so that no shell or extra tool is involved. */
export function findTool(name: string, extraDirs: readonly string[] = []): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** Like findTool, but throws MissingToolError naming the packages to install. */
export function requireTool(name: string, packages: string, extraDirs: readonly string[] = []): string {
  const found = findTool(name, extraDirs);
  if (found === null) {
    throw new MissingToolError(`${name} not found in PATH: install it with \`sudo apt-get install ${packages}\``);
  }
  return found;
}

/** How a command line looks when printed: arguments with spaces or quotes in single quotes.
 * For people to read and paste into a POSIX shell, never executed by one. */
export function showCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

/**
 * Runs a tool without a shell (arguments reach it exactly as given) and returns its stdout.
 * stderr goes to ours unless options say otherwise. A failure throws an Error whose message
 * starts with the command line, so the reader sees what ran.
 */
export function runTool(file: string, args: readonly string[], options: ExecFileSyncOptions = {}): string {
  try {
    const out = execFileSync(file, args, { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20, ...options });
    return out === null || out === undefined ? '' : out.toString();
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { status?: number | null; signal?: string | null; stderr?: Buffer };
    const how = err.code === 'ENOENT' ? 'not found' : err.signal ? `killed by ${err.signal}` : `exit status ${err.status}`;
    const stderr = err.stderr && err.stderr.length > 0 ? `\n${err.stderr.toString().trimEnd()}` : '';
    throw new Error(`${showCommand(file, args)}: ${how}${stderr}`);
  }
}

/** The first line a tool prints for `args` (e.g. its version), or a note saying why not. */
export function firstLine(file: string, args: readonly string[], options: ExecFileSyncOptions = {}): string {
  try {
    return runTool(file, args, { stdio: ['ignore', 'pipe', 'ignore'], ...options }).split('\n')[0]!.trim();
  } catch (e) {
    return `(unknown: ${(e as Error).message.split('\n')[0]})`;
  }
}

/** `1.2 s` from milliseconds: the unit people read build and test times in. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** True when this module was started as the program (`tsx scripts/x.ts`), not imported. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && fileURLToPath(moduleUrl) === resolve(script);
}

/** The whole project to build/js (tsconfig.build.json) with the project's own TypeScript,
 * then the parent bundled into one file, as `npm run build:js` does (scripts/bundle-parent.ts
 * says why): what node.exe runs under Wine, and the compiled parent the benchmark and
 * matrix measure. */
export function compileTypeScript(): void {
  const tsc = join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const options: ExecFileSyncOptions = { cwd: PROJECT_ROOT, stdio: ['ignore', 'inherit', 'inherit'] };
  runTool(process.execPath, [tsc, '-p', 'tsconfig.build.json'], options);
  runTool(process.execPath, [join(PROJECT_ROOT, 'build', 'js', 'scripts', 'bundle-parent.js')], options);
}
