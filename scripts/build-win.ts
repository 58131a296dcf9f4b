/**
 * Usage: npm run build:win                 (= tsx scripts/build-win.ts)
 *        npm run build:win -- --verbose    also print every compiler command
 *
 * Cross-compiles the Windows build on Linux with mingw-w64, into build/win32-x64/:
 *
 *   libnode.a     import library: tells the linker that napi_* functions live in node.exe
 *                 (made from node-api-headers' def/node_api.def, a devDependency)
 *   ipc.node      the addon: target `ipc` of binding.gyp, its common sources plus the ones
 *                 under OS=='win'
 *   child_c.exe   the C child: target `child_c` of binding.gyp
 *   quirk_c.exe   the quirk demonstrations (docs/quirks.md): target `quirk_c`
 *   worker_c.exe  the handoff demo's C worker (docs/handoff.md): target `worker_c`
 *
 * The source lists, defines and libraries are read from binding.gyp, so this builds exactly
 * what node-gyp builds on Windows. Warnings are errors (-Werror): nothing else here compiles
 * the *_win.c files, so a warning in them would otherwise go unseen. libgcc is linked
 * statically, so the two binaries need nothing but system DLLs and node.exe.
 *
 * Needs: sudo apt-get install gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64
 * scripts/test-wine.ts calls buildWindows() before running the suite under Wine.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgsOrExit } from './args.ts';
import {
  firstLine,
  isMain,
  MINGW_PACKAGES,
  MissingToolError,
  PROJECT_ROOT,
  requireTool,
  runTool,
  seconds,
  showCommand,
  WIN_BUILD_DIR,
} from './wine.ts';

const MINGW_GCC = 'x86_64-w64-mingw32-gcc';
const MINGW_DLLTOOL = 'x86_64-w64-mingw32-dlltool';
const NODE_API_HEADERS = join(PROJECT_ROOT, 'node_modules', 'node-api-headers');

/** The parts of a gyp target (or of one branch of a condition) that this build uses. */
interface GypSettings {
  sources?: string[];
  defines?: string[];
  libraries?: string[];
  cflags?: string[];
  conditions?: GypCondition[];
}
/** [expression, settings when true, settings when false]. */
type GypCondition = [string, GypSettings, GypSettings?];
interface GypTarget extends GypSettings {
  target_name: string;
  type?: string;
}
interface GypFile {
  target_defaults?: GypSettings;
  targets: GypTarget[];
}

/** One target with its conditions resolved for Windows. */
export interface ResolvedTarget {
  name: string;
  sources: string[];
  defines: string[];
  libraries: string[];
  cflags: string[];
}

/** binding.gyp is JSON plus `#` comment lines (gyp reads it as a Python literal). */
export function readBindingGyp(file = join(PROJECT_ROOT, 'binding.gyp')): GypFile {
  const text = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n');
  try {
    return JSON.parse(text) as GypFile;
  } catch (e) {
    throw new Error(`${file}: not JSON once the # comment lines are removed (${(e as Error).message}); ` +
      'scripts/build-win.ts reads only that subset of gyp');
  }
}

/** Decides a gyp condition for `os`. Only `OS=='x'` and `OS!='x'` are understood: anything
 * else is refused rather than guessed, so the cross-build never silently drifts from what
 * node-gyp would build. */
function conditionHolds(expression: string, os: string): boolean {
  const m = /^\s*OS\s*(==|!=)\s*'(\w+)'\s*$/.exec(expression);
  if (!m) throw new Error(`binding.gyp: condition ${JSON.stringify(expression)} is not understood by scripts/build-win.ts`);
  return (m[1] === '==') === (m[2] === os);
}

/** Collects a target's lists, descending into the branch of each condition that holds. */
function collect(settings: GypSettings, os: string, into: ResolvedTarget): void {
  into.sources.push(...(settings.sources ?? []));
  into.defines.push(...(settings.defines ?? []));
  into.libraries.push(...(settings.libraries ?? []));
  into.cflags.push(...(settings.cflags ?? []));
  for (const [expression, whenTrue, whenFalse] of settings.conditions ?? []) {
    const branch = conditionHolds(expression, os) ? whenTrue : whenFalse;
    if (branch) collect(branch, os, into);
  }
}

export function resolveTarget(gyp: GypFile, name: string, os = 'win'): ResolvedTarget {
  const target = gyp.targets.find((t) => t.target_name === name);
  if (!target) throw new Error(`binding.gyp has no target named ${name}`);
  const resolved: ResolvedTarget = { name, sources: [], defines: [], libraries: [], cflags: [] };
  if (gyp.target_defaults) collect(gyp.target_defaults, os, resolved);
  collect(target, os, resolved);
  if (resolved.sources.length === 0) throw new Error(`binding.gyp: target ${name} has no sources for OS=='${os}'`);
  return resolved;
}

/** gyp lets Windows libraries be written `-lws2_32` or `ws2_32.lib`; the GNU linker wants
 * the first form. */
function linkerFlag(library: string): string {
  const m = /^(?:-l)?([\w.-]+?)(?:\.lib)?$/i.exec(library);
  if (!m) throw new Error(`binding.gyp: library ${JSON.stringify(library)} is not understood by scripts/build-win.ts`);
  return `-l${m[1]}`;
}

export interface WindowsBuild {
  dir: string;
  addon: string;
  childExe: string;
  quirkExe: string;
  workerExe: string;
  importLibrary: string;
  /** `x86_64-w64-mingw32-gcc (GCC) 12-win32`, for the test log. */
  compilerVersion: string;
  ms: number;
}

export interface BuildOptions {
  /** Print each command before running it. */
  verbose?: boolean;
  /** Where progress lines go (default: stdout). */
  log?: (line: string) => void;
}

/** The mingw-w64 compiler and dlltool, or MissingToolError naming the Debian packages. */
export function mingwTools(): { gcc: string; dlltool: string } {
  return { gcc: requireTool(MINGW_GCC, MINGW_PACKAGES), dlltool: requireTool(MINGW_DLLTOOL, MINGW_PACKAGES) };
}

/** Builds libnode.a, ipc.node, child_c.exe, quirk_c.exe and worker_c.exe into build/win32-x64; throws on any failure
 * (compiler errors and warnings have already been printed on stderr). */
export function buildWindows(options: BuildOptions = {}): WindowsBuild {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const t0 = Date.now();
  const { gcc, dlltool } = mingwTools();
  const include = join(NODE_API_HEADERS, 'include');
  const def = join(NODE_API_HEADERS, 'def', 'node_api.def');
  try {
    readFileSync(def);
  } catch {
    throw new MissingToolError(`${relative(PROJECT_ROOT, def)} is missing: run \`npm install\` (node-api-headers is a devDependency)`);
  }

  const gyp = readBindingGyp();
  const addon = resolveTarget(gyp, 'ipc');
  const child = resolveTarget(gyp, 'child_c');
  const quirks = resolveTarget(gyp, 'quirk_c');
  const worker = resolveTarget(gyp, 'worker_c');
  mkdirSync(WIN_BUILD_DIR, { recursive: true });
  const out = (name: string): string => join(WIN_BUILD_DIR, name);

  // Paths relative to the root keep the commands (and compiler messages) short.
  const step = (what: string, file: string, args: string[]): void => {
    const started = Date.now();
    if (options.verbose) log(`  ${showCommand(file, args)}`);
    runTool(file, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    log(`build-win: ${what} (${seconds(Date.now() - started)})`);
  };
  const rel = (file: string): string => relative(PROJECT_ROOT, file);

  // An addon calls napi_* functions that node.exe exports. On Windows every imported symbol
  // must be resolved at link time against an import library naming the DLL (here the
  // executable) that provides it; node-gyp downloads node.lib for this, we make our own
  // from the .def list that node-api-headers ships.
  const importLibrary = out('libnode.a');
  step('libnode.a <- node_api.def', dlltool, ['-d', rel(def), '-l', rel(importLibrary), '-D', 'node.exe']);

  const common = (target: ResolvedTarget): string[] => [
    ...target.cflags,
    '-Werror',
    '-O2',
    ...target.defines.map((d) => `-D${d}`),
  ];
  // NODE_GYP_MODULE_NAME is what node-gyp defines for NAPI_MODULE's name argument.
  step(`ipc.node <- ${addon.sources.length} sources`, gcc, [
    ...common(addon),
    '-shared',
    `-DNODE_GYP_MODULE_NAME=${addon.name}`,
    `-I${rel(include)}`,
    ...addon.sources,
    '-o', rel(out('ipc.node')),
    rel(importLibrary),
    ...addon.libraries.map(linkerFlag),
    '-static-libgcc',
  ]);
  for (const program of [child, quirks, worker]) {
    step(`${program.name}.exe <- ${program.sources.join(' ')}`, gcc, [
      ...common(program),
      ...program.sources,
      '-o', rel(out(`${program.name}.exe`)),
      ...program.libraries.map(linkerFlag),
      '-static-libgcc',
    ]);
  }

  return {
    dir: WIN_BUILD_DIR,
    addon: out('ipc.node'),
    childExe: out('child_c.exe'),
    quirkExe: out('quirk_c.exe'),
    workerExe: out('worker_c.exe'),
    importLibrary,
    compilerVersion: firstLine(gcc, ['--version']),
    ms: Date.now() - t0,
  };
}

if (isMain(import.meta.url)) {
  const usage = 'usage: npm run build:win [-- --verbose]';
  const { values: v } = parseArgsOrExit('build-win', usage, {
    args: process.argv.slice(2),
    options: { verbose: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
  });
  if (v.help) {
    process.stdout.write('Usage: npm run build:win [-- --verbose]\nCross-compiles build/win32-x64/{ipc.node,child_c.exe,quirk_c.exe,worker_c.exe} with mingw-w64.\n');
  } else {
    try {
      const build = buildWindows({ verbose: v.verbose });
      process.stdout.write(`build-win: ${relative(PROJECT_ROOT, build.dir)} ready in ${seconds(build.ms)} (${build.compilerVersion})\n`);
    } catch (e) {
      process.stderr.write(`build-win: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
