/**
 * Usage: node build/js/scripts/bundle-parent.js   (the last step of `npm run build:js`,
 *                                                   `npm install` and `npm run build`, after tsc)
 *
 * Rewrites the compiled parent, build/js/parent/main.js, as one file that holds every
 * module of ours it loads (esbuild). Why: Node's ES module loader resolves, reads and
 * compiles each file on its own (finalizeResolution, getPackageScopeConfig, one
 * compileSourceTextModule each), and the parent's ~25 files cost more start-up time than
 * anything it does afterwards for a short run. Measured on Linux (docs/benchmarks.md,
 * "Where the time goes: start-up"): about 25 ms of CPU less per run.
 *
 * What does not change:
 * - the sources, and `npm start` (tsx runs parent/main.ts as before);
 * - the place: the bundle is build/js/parent/main.js, so import.meta.url, and every path
 *   derived from it (parent/native.ts finds the project root and the addon from it), is
 *   what it was;
 * - the order: still an ES module, main.ts's static imports run first, and what it loads
 *   with import() (the addon, the relay) runs only when main.ts asks for it, so `--help`
 *   and a missing addon still work without loading the addon;
 * - every other file in build/js stays as tsc wrote it (the tests, the TypeScript child and
 *   the scripts import those).
 * A plain `tsc -p tsconfig.build.json` writes the unbundled main.js back: it works the
 * same, it only starts slower.
 */
import { buildSync } from 'esbuild';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's root (the folder with binding.gyp), from scripts/ or build/js/scripts/. */
function findProjectRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the project root (binding.gyp) above ${import.meta.url}`);
  }
}

function bundleParent(root: string): void {
  const main = join(root, 'build', 'js', 'parent', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run tsc -p tsconfig.build.json first`);
  buildSync({
    entryPoints: [main],
    outfile: main,
    allowOverwrite: true,
    bundle: true,
    // node: modules and the addon (loaded with createRequire at run time) stay outside.
    platform: 'node',
    format: 'esm',
    // package.json's engines: Node 20.5 is the oldest the parent must start on.
    target: 'node20.5',
    // Error and class names, and stack traces, read as in the sources.
    keepNames: true,
    logLevel: 'warning',
  });
}

bundleParent(findProjectRoot());
