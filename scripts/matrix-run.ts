/**
 * Usage: node build/js/scripts/matrix-run.js [--lines N]     (run by scripts/matrix.ts)
 *
 * Runs every cell of the matrix on the platform it runs on (Linux, macOS, Windows, or
 * Windows under Wine) and prints one JSON object per cell on stdout: each variant of the
 * parent × each child kind, 3 children, each writing N lines (default 40) with `--stamp`
 * and random sleeps of up to 20 ms. The parent is the compiled one (build/js/parent/main.js):
 * node.exe under Wine runs JavaScript without tsx.
 *
 * A cell is
 *   works    the parent exited 0 and every line arrived labelled, with every exit reported;
 *   refused  the parent declined before spawning (exit status 2), with its reason;
 *   fails    anything else, with what was observed.
 * Latency: the reader's wall clock when a line arrived minus the child's stamp (` t=U`, taken
 * just before its write), one clock for every process on the machine.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgsOrExit, positiveInt } from './args.ts';
import { isMain } from './wine.ts';

export const MATRIX_VARIANTS = ['socketpair', 'pipe-thread', 'posix', 'libuv'] as const;
export const MATRIX_CHILDREN = ['c', 'ts'] as const;
export const MATRIX_CHILD_COUNT = 3;

export interface Cell {
  variant: string;
  child: string;
  outcome: 'works' | 'refused' | 'fails';
  /** refused: the parent's reason; fails: what went wrong. */
  detail: string;
  lines: number;
  expected: number;
  medianLatencyMs: number | null;
  p99LatencyMs: number | null;
  wallS: number;
}

const here = dirname(fileURLToPath(import.meta.url));
/** build/js/parent/main.js, from build/js/scripts/ (this file compiled) or scripts/ (tsx). */
const PARENT_JS = here.includes(join('build', 'js'))
  ? join(here, '..', 'parent', 'main.js')
  : join(here, '..', 'build', 'js', 'parent', 'main.js');

const LINE = /^\[child (\d+)\]\[(info|error)\]: .* t=(\d+)$/;
const EXIT = /^\[child \d+\] exited with code (\d+)$/;

function nowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** One cell: runs the parent and reads its stdout as it comes. */
export function runCell(variant: string, child: string, linesPerChild: number, timeoutMs = 120_000): Promise<Cell> {
  const expected = MATRIX_CHILD_COUNT * linesPerChild;
  const args = [PARENT_JS, '--variant', variant, '--child', child, '--children', String(MATRIX_CHILD_COUNT),
    '--lines', String(linesPerChild), '--max-sleep-ms', '20', '--stamp'];
  const started = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const latencies: number[] = [];
    let lines = 0;
    const exits: number[] = [];
    let other = '';
    let partial = '';
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (chunk: Buffer) => {
      const arrived = nowUs();
      const text = partial + chunk.toString('latin1');
      const all = text.split('\n');
      partial = all.pop()!;
      for (const raw of all) {
        const line = raw.replace(/\r$/, '');
        const m = LINE.exec(line);
        const e = EXIT.exec(line);
        if (m) {
          lines++;
          latencies.push((arrived - Number(m[3])) / 1000);
        } else if (e) exits.push(Number(e[1]));
        else if (other === '') other = line;
      }
    });
    p.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 4000) stderr += chunk.toString('utf8');
    });
    const finish = (code: number | null, signal: string | null, error?: Error): void => {
      clearTimeout(timer);
      const sorted = [...latencies].sort((a, b) => a - b);
      const cell: Cell = {
        variant, child, outcome: 'works', detail: '', lines, expected,
        medianLatencyMs: quantile(sorted, 0.5), p99LatencyMs: quantile(sorted, 0.99),
        wallS: (Date.now() - started) / 1000,
      };
      const firstErr = stderr.trim().split('\n')[0]?.replace(/\r$/, '') ?? '';
      if (error) Object.assign(cell, { outcome: 'fails', detail: `cannot start the parent: ${error.message}` });
      else if (code === 2 && lines === 0) Object.assign(cell, { outcome: 'refused', detail: firstErr || 'exit status 2' });
      else if (code !== 0) {
        Object.assign(cell, { outcome: 'fails', detail: `${signal ? `killed by ${signal}` : `exit status ${code}`}${firstErr ? `: ${firstErr}` : ''}` });
      } else if (lines !== expected || exits.length !== MATRIX_CHILD_COUNT || exits.some((x) => x !== 0)) {
        Object.assign(cell, { outcome: 'fails', detail: `${lines}/${expected} lines, ${exits.length}/${MATRIX_CHILD_COUNT} exits reported${other ? `; unexpected line: ${other.slice(0, 120)}` : ''}` });
      }
      resolve(cell);
    };
    p.on('error', (e) => finish(null, null, e));
    p.on('close', (code, signal) => finish(code, signal));
  });
}

async function main(): Promise<void> {
  const usage = 'usage: matrix-run [--lines N]';
  const { values: v } = parseArgsOrExit('matrix-run', usage, {
    args: process.argv.slice(2),
    options: { lines: { type: 'string', default: '40' } },
  });
  const lines = positiveInt('matrix-run', usage, '--lines', v.lines);
  for (const variant of MATRIX_VARIANTS) {
    for (const child of MATRIX_CHILDREN) {
      const cell = await runCell(variant, child, lines);
      process.stdout.write(`${JSON.stringify(cell)}\n`);
    }
  }
}

if (isMain(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`matrix-run: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
