/** Before a run: the C tools compiled, and which code is about to be measured. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../parent/native.ts';
import { BENCH_DIR, LOAD, RELAY } from './procs.ts';

export function compile(): void {
  mkdirSync(BENCH_DIR, { recursive: true });
  const cc = process.env.CC ?? 'cc';
  for (const [src, out] of [
    ['c/bench/relay.c', RELAY],
    ['c/bench/load.c', LOAD],
  ] as const) {
    const args = ['-O2', '-std=c11', '-Wall', '-Wextra', '-Werror', '-o', out, join(PROJECT_ROOT, src)];
    const r = spawnSync(cc, args, { stdio: 'inherit' });
    if (r.error) throw new Error(`cannot run ${cc}: ${r.error.message} (install a C compiler, or set CC)`);
    if (r.status !== 0) throw new Error(`${cc} ${args.join(' ')} failed with status ${r.status}`);
  }
}

/**
 * What code is measured: a hash over the parent's sources, the addon's C sources and the
 * built addon, taken before and after the run - a checkout edited while the benchmark runs
 * would otherwise mix versions unnoticed.
 */
export function codeFingerprint(): string {
  const files: string[] = [];
  const walk = (dir: string, keep: (f: string) => boolean): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) walk(full, keep);
      else if (keep(e.name)) files.push(full);
    }
  };
  walk(join(PROJECT_ROOT, 'parent'), (f) => f.endsWith('.ts'));
  for (const e of readdirSync(join(PROJECT_ROOT, 'c'))) if (/\.[ch]$/.test(e)) files.push(join(PROJECT_ROOT, 'c', e));
  files.push(join(PROJECT_ROOT, 'binding.gyp'), join(PROJECT_ROOT, 'build', 'Release', 'ipc.node'));
  const h = createHash('sha256');
  for (const f of files.sort()) {
    h.update(`${f.slice(PROJECT_ROOT.length)}\0`);
    if (existsSync(f)) h.update(readFileSync(f));
  }
  return h.digest('hex').slice(0, 12);
}

/** `commit 6486280 + uncommitted changes to parent/lines.ts, ...` (read-only git calls). */
export function gitState(): string {
  const git = (args: string[]): string | null => {
    const r = spawnSync('git', ['--no-optional-locks', ...args], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trimEnd() : null;
  };
  const head = git(['rev-parse', '--short', 'HEAD']);
  if (head === null) return 'not a git checkout';
  const changed = (git(['status', '--porcelain', '--', 'parent', 'c', 'binding.gyp']) ?? '')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.includes('c/bench/'))
    .map((l) => l.slice(3));
  return changed.length === 0 ? `commit ${head}` : `commit ${head} + uncommitted changes to ${changed.join(', ')}`;
}
