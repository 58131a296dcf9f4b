/**
 * What the suites share: running the parent and the children as real processes, with a
 * time limit, and reading their labelled output.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { childArgv, type ChildKind } from '../parent/children.ts';
import { PROJECT_ROOT, RUNNING_COMPILED } from '../parent/native.ts';

const require = createRequire(import.meta.url);
export const TSX_LOADER = pathToFileURL(require.resolve('tsx')).href;
export const PARENT_MAIN = join(PROJECT_ROOT, 'parent', 'main.ts');
export const PARENT_MAIN_JS = join(PROJECT_ROOT, 'build', 'js', 'parent', 'main.js');
export const IS_WINDOWS = process.platform === 'win32';
export const CHILD_KINDS: readonly ChildKind[] = ['c', 'ts'];

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  ms: number;
}

export interface Running {
  pid: number;
  stdout: Readable;
  done: Promise<Finished>;
  /** Resolves when stdout contains `text`. */
  waitFor(text: string): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  /** What it has printed on stdout so far. */
  output(): Buffer;
}

export interface StartOptions extends SpawnOptions {
  /** Killed (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
  /** false: do not keep stdout (the caller streams it; for runs of gigabytes). */
  collect?: boolean;
}

/** Starts argv with pipes; a run longer than timeoutMs is killed and reported as failed. */
export function start(argv: readonly string[], opts: StartOptions = {}): Running {
  const t0 = Date.now();
  const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let seen = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  p.stdout!.on('data', (b: Buffer) => {
    if (opts.collect !== false) out.push(b);
    seen += b.toString('latin1');
    if (seen.length > 1 << 20) seen = seen.slice(-(1 << 16));
    for (const w of [...waiters]) if (seen.includes(w.text)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  p.stderr!.on('data', (b: Buffer) => err.push(b));
  const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const done = new Promise<Finished>((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), ms: Date.now() - t0 });
    });
  });
  return {
    pid: p.pid!,
    stdout: p.stdout!,
    done,
    waitFor: (text) =>
      seen.includes(text) ? Promise.resolve() : new Promise((resolve) => waiters.push({ text, resolve })),
    kill: (signal) => p.kill(signal),
    output: () => Buffer.concat(out),
  };
}

export function run(argv: readonly string[], opts: StartOptions = {}): Promise<Finished> {
  return start(argv, opts).done;
}

/** The parent as the test's direct child (not through the tsx CLI, which adds a process). */
export function parentArgv(args: readonly string[]): string[] {
  if (RUNNING_COMPILED) return [process.execPath, PARENT_MAIN_JS, ...args];
  return [process.execPath, '--import', TSX_LOADER, PARENT_MAIN, ...args];
}

/** The parent as tsc's JavaScript (build/js, emitted by `npm test` before the suites run):
 * for measuring the relay's own memory, without the 36 MB tsx's loader adds. */
export function compiledParentArgv(args: readonly string[]): string[] {
  return [process.execPath, PARENT_MAIN_JS, ...args];
}

export function runParent(args: readonly string[], opts: StartOptions = {}): Promise<Finished> {
  return run(parentArgv(args), opts);
}

export function runChild(kind: ChildKind, args: readonly string[], opts: StartOptions = {}): Promise<Finished> {
  return run(childArgv(kind, args), opts);
}

export interface LabelledLine {
  name: string;
  pid: number;
  kind: 'info' | 'error';
  text: string;
}

export interface ParsedOutput {
  lines: LabelledLine[];
  exits: { name: string; pid: number; how: string }[];
  other: string[];
}

/** Splits the parent's stdout into labelled lines, exit reports and anything else. */
export function parseParentOutput(stdout: Buffer | string): ParsedOutput {
  const parsed: ParsedOutput = { lines: [], exits: [], other: [] };
  const text = typeof stdout === 'string' ? stdout : stdout.toString('utf8');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^\[(\S+) (\d+)\]\[(info|error)\]: (.*)$/s.exec(line);
    if (m) {
      parsed.lines.push({ name: m[1]!, pid: Number(m[2]), kind: m[3] as 'info' | 'error', text: m[4]! });
      continue;
    }
    m = /^\[(\S+) (\d+)\] (exited with code \d+|killed by \w+)$/.exec(line);
    if (m) parsed.exits.push({ name: m[1]!, pid: Number(m[2]), how: m[3]! });
    else parsed.other.push(line);
  }
  return parsed;
}

/** True while a process with this pid exists (zombies included). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export { setTimeout as sleep } from 'node:timers/promises';

export interface StreamedLine {
  name: string;
  pid: number;
  kind: 'info' | 'error';
  /** The child's bytes, without the label and newline. */
  text: Buffer;
}

/**
 * Splits the parent's stdout into lines as it arrives, without keeping it: the stress runs
 * move gigabytes. Labelled lines go to onLine, everything else (exit reports) to onOther.
 */
export class LabelledLineReader {
  private rest: Buffer = Buffer.alloc(0);

  constructor(
    private readonly onLine: (line: StreamedLine) => void,
    private readonly onOther: (line: string) => void = () => {},
  ) {}

  push(chunk: Buffer): void {
    let buf = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      this.line(buf.subarray(start, nl));
      start = nl + 1;
    }
    buf = buf.subarray(start);
    this.rest = Buffer.from(buf);
  }

  /** Call at the end: a last line without newline. */
  end(): void {
    if (this.rest.length > 0) this.line(this.rest);
    this.rest = Buffer.alloc(0);
  }

  private line(line: Buffer): void {
    const close = line.indexOf(']: ');
    const head = close > 0 && close < 80 ? line.subarray(0, close + 3).toString('latin1') : '';
    const m = /^\[(\S+) (\d+)\]\[(info|error)\]: $/.exec(head);
    if (m) this.onLine({ name: m[1]!, pid: Number(m[2]), kind: m[3] as 'info' | 'error', text: line.subarray(close + 3) });
    else this.onOther(line.toString('utf8'));
  }
}

/** Linux: a process's state letter from /proc (R, S, Z, ...), or null when it is gone. */
export function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** Linux: resident memory of a process in bytes, or null when it is gone. */
export function residentBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Set by the stress run (`npm run test:stress`): full sizes instead of quick ones. */
export const STRESS = process.env.IPC_STRESS === '1';
/** Set by the Wine runner: Windows under Wine, slower, and not faithful in every respect. */
export const UNDER_WINE = process.env.IPC_UNDER_WINE === '1';
