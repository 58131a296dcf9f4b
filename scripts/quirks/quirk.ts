/**
 * What a quirk of the catalogue is (docs/quirks.md is generated from these), and the helpers
 * its demonstration uses. One quirk per file in this folder, `<id>.ts`, exporting `quirk`;
 * scripts/quirks/index.ts finds them, scripts/quirk.ts shows them, test/quirks.test.ts runs
 * each one's `verify` as its regression test.
 */
import { spawnSync } from 'node:child_process';
import type { Test } from 'tape';
import { type ExitStatus, ipc, QUIRK_C_PATH, signalNumber } from '../../parent/native.ts';

export type Platform = 'linux' | 'darwin' | 'win32';

/** How faithfully Wine 8 shows a Windows behaviour (the table in docs/windows.md). */
export type WineFidelity = 'same' | 'partly' | 'differs' | 'not shown';

/** One column of the side-by-side: the wrong way, the right way, or plain information. */
export interface Side {
  kind: 'wrong' | 'right' | 'info';
  title: string;
  /** What was observed, one line each: measured, never the expected value written down. */
  observed: string[];
}

/** What a demonstration observed. */
export interface Shown {
  sides: Side[];
  /** Shown after the sides: where Wine differs from Windows, what could not be shown, ... */
  notes: string[];
  /** The measured values the regression test asserts on. */
  values: Record<string, string>;
}

export interface QuirkContext {
  platform: NodeJS.Platform;
  /** node.exe (or a Windows program) under Wine, not real Windows. */
  underWine: boolean;
}

/**
 * Where one platform's behaviour was seen. A teaching text must say this for every fact:
 * nothing here has run on real Windows or on macOS, so what Wine did is never Windows'
 * behaviour, and what POSIX promises is never "seen on macOS".
 */
export type Sighting =
  /** Measured on this project's machines by a test that asserts it: name the test. */
  | { kind: 'measured'; test: string; detail?: string }
  /** Only written down somewhere: name the document (or project) by its title. */
  | { kind: 'documented'; source: string }
  /** Neither run nor documented for this platform (or the quirk does not exist there). */
  | { kind: 'never'; why: string };

/** The four places a quirk's behaviour can have been seen. */
export interface Observed {
  linux: Sighting;
  /** Windows programs (mingw-w64 builds, node.exe) run under Wine 8 on Linux. */
  wine: Sighting;
  /** Real Windows: nothing in this project has run there. */
  windows: Sighting;
  /** Real macOS: nothing in this project has run there. */
  macos: Sighting;
}

/** Platforms no project machine has run: a 'measured' sighting there would be invented. */
export const NEVER_RUN_HERE: ReadonlySet<keyof Observed> = new Set(['windows', 'macos']);

/** The Sighting for this catalogue's own regression test on Linux or under Wine. */
export function measuredBy(id: string, detail?: string): Sighting {
  return { kind: 'measured', test: `quirk ${id}`, ...(detail === undefined ? {} : { detail }) };
}

export interface Quirk {
  /** Its position in the catalogue (the list). */
  order: number;
  /** Stable, short, kebab-case: `npm run quirk -- ID`. */
  id: string;
  title: string;
  /** Where show() can run and demonstrate it. Elsewhere the runner says why not. */
  showsOn: readonly Platform[];
  /** For quirks shown on win32: how much of it Wine reproduces. */
  wine?: WineFidelity;
  /** Per platform: measured here (by which test), documented only (where), or never seen. */
  observed: Observed;
  /** The catalogue entry: plain sentences, Markdown allowed. */
  doc: {
    /** What goes wrong. */
    problem: string;
    why: string;
    /** Human wording of the platforms affected, e.g. "Windows (all versions)". */
    platforms: string;
    /** How the project handles it: name the file or function. */
    handled: string;
    /** One line: the article, the Winsock FAQ, perlfork, libuv's guide, Microsoft's docs. */
    source: string;
    /** The tests that guard it, besides `quirk ID` in test/quirks.test.ts. */
    alsoGuardedBy?: string;
    /** Where Wine differs from Windows (when wine is not 'same'). */
    wineNote?: string;
  };
  show(ctx: QuirkContext): Promise<Shown>;
  /** The regression test: asserts on what show() observed. Must be able to fail. */
  verify(t: Test, shown: Shown, ctx: QuirkContext): void;
}

export function currentContext(): QuirkContext {
  return { platform: process.platform, underWine: process.env.IPC_UNDER_WINE === '1' };
}

/** Starts a Shown with sides added by the demonstration as it goes. */
export function newShown(): Shown {
  return { sides: [], notes: [], values: {} };
}

/** Adds a side and returns its list of observations, to push lines into. */
export function side(shown: Shown, kind: Side['kind'], title: string): string[] {
  const s: Side = { kind, title, observed: [] };
  shown.sides.push(s);
  return s.observed;
}

/**
 * Parses the output of quirk_c (format: c/quirks/quirk.h) into `into` (or a new Shown).
 * Lines before the first `## kind: title` go into an info side.
 */
export function parseQuirkOutput(text: string, into: Shown = newShown()): Shown {
  let current: string[] | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '') continue;
    const head = /^## (wrong|right|info): (.*)$/.exec(line);
    if (head) {
      current = side(into, head[1] as Side['kind'], head[2]!);
    } else if (line.startsWith('= ')) {
      const m = /^= (\S+) ?(.*)$/.exec(line)!;
      into.values[m[1]!] = m[2]!;
    } else if (line.startsWith('! ')) {
      into.notes.push(line.slice(2));
    } else {
      (current ??= side(into, 'info', 'output')).push(line);
    }
  }
  return into;
}

/**
 * Runs `quirk_c SUBCOMMAND ARGS` (c/quirks/, built by npm install or npm run build:win) and
 * parses what it observed. Throws, with its stderr, when the demonstration could not run.
 */
export function runQuirkC(subcommand: string, args: readonly string[] = [], into?: Shown, timeoutMs = 60_000): Shown {
  const r = spawnSync(QUIRK_C_PATH, [subcommand, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 });
  if (r.error) throw new Error(`${QUIRK_C_PATH} ${subcommand}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${QUIRK_C_PATH} ${subcommand}: exit status ${r.status ?? r.signal}: ${r.stderr.trim()}`);
  }
  return parseQuirkOutput(r.stdout, into);
}

/** A measured value that must be there: the test fails with the value's name otherwise. */
export function value(shown: Shown, key: string): string {
  const v = shown.values[key];
  if (v === undefined) throw new Error(`the demonstration did not report '${key}' (it reported: ${Object.keys(shown.values).join(', ') || 'nothing'})`);
  return v;
}

/** Text for a terminal: the sides one after the other, then the notes. */
export function formatShown(q: Quirk, shown: Shown, where: string): string {
  const out: string[] = [`${q.id}: ${q.title}`, `(${where})`, ''];
  for (const s of shown.sides) {
    const mark = s.kind === 'wrong' ? 'WRONG' : s.kind === 'right' ? 'RIGHT' : 'INFO';
    out.push(`[${mark}] ${s.title}`);
    for (const o of s.observed) out.push(`    ${o}`);
    out.push('');
  }
  for (const n of shown.notes) out.push(`note: ${n}`);
  return `${out.join('\n').trimEnd()}\n`;
}

/**
 * Reads a descriptor from the addon (a socket pair's read end) the project's way, select()
 * then read, until end of stream or until nothing arrived for quietMs: demonstrations must
 * not hang on a child that keeps its end open.
 */
export async function readUntilQuiet(fd: number, quietMs = 2000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    const ready = await ipc.select([fd], quietMs);
    if (ready.length === 0) break;
    const n = ipc.read(fd, buf);
    if (n === 0) break;
    if (n > 0) chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

/** Waits for a child started with ipc.spawn (polling ipc.wait) at most timeoutMs; a child
 * still running then is killed and reaped, and null is returned. */
export async function waitForExit(pid: number, timeoutMs = 10_000): Promise<ExitStatus | null> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const status = ipc.wait(pid);
    if (status !== null) return status;
    if (Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  ipc.kill(pid, signalNumber('SIGKILL'));
  for (let i = 0; i < 500 && ipc.wait(pid) === null; i++) await new Promise((r) => setTimeout(r, 20));
  return null;
}
