/** The CPU profile of the socketpair parent's TypeScript loop (`--loop js`) on W1 with
 * 64 KiB writes, the case that made the native loop (summarized by profile.ts): where the
 * main thread's time goes per round. */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../parent/native.ts';
import type { Options } from './options.ts';
import { BENCH_DIR, measured } from './procs.ts';
import { summarizeProfile } from './profile.ts';
import { progress, timeoutFor, type Results } from './results.ts';
import { loadWrite, parentArgv, runsCompiled } from './rows.ts';

export async function runProfile(o: Options, res: Results, devNull: number): Promise<void> {
  const dir = join(BENCH_DIR, 'profile');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const lines = o.sizes.w1Lines;
  const args = ['--variant', 'socketpair', '--loop', 'js', '--children', '3', '--', ...loadWrite(lines, o.sizes, 'buffered')];
  const argv = parentArgv(args, ['--cpu-prof', '--cpu-prof-dir', dir]);
  progress(`profile: socketpair parent, --loop js, W1 64 KiB writes, 3 x ${lines} lines`);
  const r = await measured(argv, { stdout: devNull, timeoutMs: timeoutFor(lines, 3) });
  if (r.failure !== null) {
    progress(`profile FAILED: ${r.failure}`);
    return;
  }
  // The main thread's profile is the largest (tsx's loader thread writes one too).
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  if (files.length === 0) {
    progress('profile: no .cpuprofile written');
    return;
  }
  const command = `node --cpu-prof ${runsCompiled() ? 'build/js/parent/main.js' : '--import tsx parent/main.ts'} ${args.join(' ').replaceAll(`${PROJECT_ROOT}/`, '')}`;
  res.profile = { ...summarizeProfile(files[0]!), command };
}
