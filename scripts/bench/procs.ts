/**
 * Running the benchmark's processes: every run is its own process group (detached), so a
 * time-out, a failure or Ctrl-C of the harness kills the whole group - the measured
 * parent and all its children - by its id, and nothing is left behind.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ipc, PROJECT_ROOT } from '../../parent/native.ts';

export const BENCH_DIR = join(PROJECT_ROOT, 'build', 'bench');
export const LOAD = join(BENCH_DIR, 'load');
export const RELAY = join(BENCH_DIR, 'relay');
export const PARENT_MAIN = join(PROJECT_ROOT, 'parent', 'main.ts');
export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** `node --import <tsx loader> FILE ARGS`: no tsx CLI wrapper process in between. */
export function nodeTs(file: string, args: readonly string[], nodeFlags: readonly string[] = []): string[] {
  return [process.execPath, ...nodeFlags, '--import', TSX_LOADER, file, ...args];
}

/** Process groups still running; killed on exit, error or signal. */
const liveGroups = new Set<number>();

export function killAllGroups(): void {
  for (const pgid of liveGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

let cleanupInstalled = false;
/** Ctrl-C / SIGTERM of the harness: kill every running group, then exit. */
export function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAllGroups();
      process.stderr.write(`\nbench: ${sig}: killed the running processes\n`);
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
  process.on('exit', killAllGroups);
}

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  /** A descriptor for the child's stdin / stdout, or 'pipe' (collected) / 'ignore'. */
  stdin?: number | 'ignore';
  stdout?: number | 'pipe' | 'ignore';
  timeoutMs: number;
}

const MAX_COLLECTED = 1 << 20;

/** Starts argv in a process group of its own; resolves when it has exited. */
export function runGroup(argv: readonly string[], opts: RunOptions): { done: Promise<Ran>; pid: number } {
  const stdio: StdioOptions = [opts.stdin ?? 'ignore', opts.stdout ?? 'pipe', 'pipe'];
  const child = spawn(argv[0]!, argv.slice(1), { stdio, detached: true });
  const pid = child.pid;
  if (pid === undefined) {
    // Node reports the failure as an 'error' event; turn it into a result.
    return {
      pid: -1,
      done: new Promise((resolve) =>
        child.once('error', (e) =>
          resolve({ code: null, signal: null, stdout: '', stderr: `cannot start ${argv[0]}: ${e.message}`, timedOut: false }),
        ),
      ),
    };
  }
  liveGroups.add(pid);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => {
    if (stdout.length < MAX_COLLECTED) stdout += b.toString('utf8');
  });
  child.stderr?.on('data', (b: Buffer) => {
    if (stderr.length < MAX_COLLECTED) stderr += b.toString('utf8');
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }, opts.timeoutMs);
  const done = new Promise<Ran>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // The group leader is gone; anything it left behind in its group goes too.
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* the usual case: the group is empty */
      }
      liveGroups.delete(pid);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
  return { done, pid };
}

/** What `load measure` reports about one process (its own CPU, not its children's). */
export interface Measured {
  wall_s: number;
  user_s: number;
  sys_s: number;
  children_user_s: number;
  children_sys_s: number;
  maxrss_kb: number;
  exit_code: number;
  signal: number;
}

export interface MeasuredRun {
  /** null when the run failed: see `failure`. */
  m: Measured | null;
  failure: string | null;
  stdout: string;
  stderr: string;
}

let measureCounter = 0;

/** Runs argv under `load measure` (see c/bench/load.c for why not /usr/bin/time). */
export async function measured(argv: readonly string[], opts: RunOptions): Promise<MeasuredRun> {
  const out = join(BENCH_DIR, `measure-${process.pid}-${measureCounter++}.json`);
  rmSync(out, { force: true });
  const r = await runGroup([LOAD, 'measure', '--out', out, '--', ...argv], opts).done;
  let m: Measured | null = null;
  try {
    m = JSON.parse(readFileSync(out, 'utf8')) as Measured;
  } catch {
    m = null;
  }
  rmSync(out, { force: true });
  let failure: string | null = null;
  if (r.timedOut) failure = `timed out after ${opts.timeoutMs / 1000} s`;
  else if (m === null) failure = `no measurement (exit ${r.code ?? r.signal}): ${lastLine(r.stderr)}`;
  else if (m.exit_code !== 0) failure = `exit status ${m.exit_code === -1 ? `signal ${m.signal}` : m.exit_code}: ${lastLine(r.stderr)}`;
  return { m: failure === null ? m : null, failure, stdout: r.stdout, stderr: r.stderr };
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

/**
 * A measured producer whose stdout is a real pipe (pipe2, from the project's addon) into
 * a consumer (`load check` or `load stamps`); resolves with both results.
 */
export async function measuredIntoPipe(
  producer: readonly string[],
  consumer: readonly string[],
  timeoutMs: number,
): Promise<{ producer: MeasuredRun; consumer: Ran }> {
  const [readEnd, writeEnd] = ipc.pipe();
  let cons: { done: Promise<Ran> };
  let prod: Promise<MeasuredRun>;
  try {
    cons = runGroup(consumer, { stdin: readEnd, stdout: 'pipe', timeoutMs });
    prod = measured(producer, { stdout: writeEnd, timeoutMs });
  } finally {
    // The children hold their own copies now; ours would keep the consumer from ever
    // seeing end of file.
    ipc.closePipe(readEnd);
    ipc.closePipe(writeEnd);
  }
  const [p, c] = await Promise.all([prod, cons.done]);
  return { producer: p, consumer: c };
}

/** /dev/null opened for writing, for runs whose output is thrown away. */
export function openDevNull(): number {
  return openSync('/dev/null', 'w');
}

export function closeFd(fd: number): void {
  closeSync(fd);
}
