/**
 * Usage: npm run bench                      (= tsx scripts/bench.ts: the full run, 5 repetitions)
 *        npm run bench -- --quick           small sizes, 2 repetitions, W4 at 3 and 300 children,
 *                                           no start-up table or profile: a smoke run of about a
 *                                           minute on a quiet 2-core machine, not figures to quote
 *        npx tsx scripts/bench.ts [--quick] [--reps N] [--only W1,W2,W3,W4]
 *                                 [--profile | --no-profile] [--doc | --no-doc] [--tsx]
 *
 *   --reps N       repetitions per row (default 5; --quick: 2); medians need at least 5
 *   --only LIST    run only these workloads (the others are left out of the report)
 *   --profile      CPU-profile the socketpair parent (W1, one write per line): default for the
 *                  full run; --no-profile skips it
 *   --doc          write the report into docs/benchmarks.md even for --quick/--only/--compiled
 *   --no-doc       do not touch docs/benchmarks.md (the full run writes it by default)
 *   --tsx          run the parents through tsx's loader (`node --import tsx parent/main.ts`, as
 *                  `npm start` does) instead of as tsc output (`node build/js/parent/main.js`,
 *                  compiled by the benchmark first): the loader costs start-up time and about
 *                  35 MB of memory, not throughput; the W3 start-up table shows both anyway
 *
 * Measures the project's parent in its four variants against a minimal C relay (the
 * practical limit, c/bench/relay.c) on four workloads:
 *   W1 throughput  3 children x 1,000,000 lines of 100 bytes, alternating stdout/stderr,
 *                  parent output to /dev/null; children write one line per write(2)
 *                  ("line") or 64 KiB at a time ("buffered"); plus one separate run per row
 *                  and mode with the output into a pipe, every line checked (c/bench/load.c
 *                  `check`): a parent that loses, tears or reorders a line fails
 *   W2 latency     3 children, a CLOCK_MONOTONIC-stamped line every 10 ms, 300 each; a
 *                  reader after the parent (through a pipe) takes the arrival time
 *   W3 spawn       100 x /bin/true, one at a time and all at once, by the addon's spawn,
 *                  its fork+exec, child_process.spawn and the C relay; and the parent's
 *                  own start-to-exit time with one /bin/true child
 *   W4 scale       3, 30 and 300 children writing the same total volume (W1 "line" style)
 * All rows of a workload are measured in the same run, interleaved: every repetition runs
 * each row once, in an order rotated by one per repetition, so machine drift hits all rows
 * alike. Each figure is the median of the repetitions, with min-max.
 *
 * The parent's CPU time and peak RSS come from `load measure` (c/bench/load.c): it waits
 * for the parent with waitid(WNOWAIT) and reads the zombie's own utime/stime from
 * /proc/PID/stat, because /usr/bin/time and wait4() add in the CPU time of every child the
 * parent reaped. Peak RSS is ru_maxrss.
 *
 * Writes build/bench/results.json (every sample, for tools) and, for a full run, the
 * generated part of docs/benchmarks.md (between the bench:begin/end markers). Needs the
 * addon built (npm install) and a C compiler (cc, or $CC). Linux (uses /proc).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { ipc, PROJECT_ROOT } from '../parent/native.ts';
import { compileTypeScript } from './wine.ts';
import { summarizeProfile, type ProfileSummary } from './bench/profile.ts';
import {
  BENCH_DIR,
  closeFd,
  installCleanup,
  LOAD,
  measured,
  measuredIntoPipe,
  nodeTs,
  openDevNull,
  PARENT_MAIN,
  RELAY,
  runGroup,
} from './bench/procs.ts';
import { cell, num, ratio, rotate, spread, type Spread } from './bench/stats.ts';

// ------------------------------------------------------------------ configuration

interface Sizes {
  reps: number;
  /** W1: lines per child. */
  w1Lines: number;
  lineBytes: number;
  /** W2: lines per child, one every intervalMs. */
  w2Lines: number;
  w2IntervalMs: number;
  /** W3: children per measurement. */
  w3Count: number;
  /** W4: total lines over all children. */
  w4TotalLines: number;
  w4Children: number[];
  /** Lines per child in the profiled run. */
  profileLines: number;
}

const FULL: Sizes = {
  reps: 5,
  w1Lines: 1_000_000,
  lineBytes: 100,
  w2Lines: 300,
  w2IntervalMs: 10,
  w3Count: 100,
  w4TotalLines: 3_000_000,
  w4Children: [3, 30, 300],
  profileLines: 300_000,
};

const QUICK: Sizes = {
  reps: 2,
  w1Lines: 30_000,
  lineBytes: 100,
  w2Lines: 30,
  w2IntervalMs: 10,
  w3Count: 30,
  w4TotalLines: 30_000,
  w4Children: [3, 300],
  profileLines: 30_000,
};

type Workload = 'W1' | 'W2' | 'W3' | 'W4';
const WORKLOADS: readonly Workload[] = ['W1', 'W2', 'W3', 'W4'];

interface Options {
  quick: boolean;
  compiled: boolean;
  /** The parents' start-to-exit table (W3); left out of --quick. */
  startup: boolean;
  sizes: Sizes;
  only: Set<Workload>;
  profile: boolean;
  doc: boolean;
}

function parseOptions(args: readonly string[]): Options {
  let quick = false;
  let reps: number | null = null;
  let only: Set<Workload> | null = null;
  let profile: boolean | null = null;
  let doc: boolean | null = null;
  let compiledParent = true;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--no-profile') profile = false;
    else if (a === '--profile') profile = true;
    else if (a === '--tsx') compiledParent = false;
    else if (a === '--doc') doc = true;
    else if (a === '--no-doc') doc = false;
    else if (a === '--reps' && /^[1-9][0-9]*$/.test(args[i + 1] ?? '')) reps = Number(args[++i]);
    else if (a === '--only' && args[i + 1] !== undefined) {
      only = new Set();
      for (const w of args[++i]!.split(',')) {
        const W = w.trim().toUpperCase();
        if (!(WORKLOADS as readonly string[]).includes(W)) usage(`unknown workload '${w}' (W1, W2, W3, W4)`);
        only.add(W as Workload);
      }
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('\n */')[0]!.replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, '') + '\n');
      process.exit(0);
    } else usage(`unknown option '${a}'`);
  }
  const sizes = { ...(quick ? QUICK : FULL) };
  if (reps !== null) sizes.reps = reps;
  const partial = only !== null;
  return {
    quick,
    compiled: compiledParent,
    startup: !quick,
    sizes,
    only: only ?? new Set(WORKLOADS),
    profile: profile ?? (!quick && (only === null || only.has('W1'))),
    doc: doc ?? (!quick && !partial && compiledParent),
  };
}

function usage(msg: string): never {
  process.stderr.write(`bench: ${msg} (see the Usage block at the top of scripts/bench.ts)\n`);
  process.exit(2);
}

// ------------------------------------------------------------------ the rows

type RowId = 'socketpair' | 'pipe-thread' | 'posix' | 'libuv' | 'c-relay' | 'socketpair-other';

interface Row {
  id: RowId;
  label: string;
  argv(children: number, command: readonly string[]): string[];
}

const PARENT_MAIN_JS = join(PROJECT_ROOT, 'build', 'js', 'parent', 'main.js');
/** The parents run as tsc output (default) or, with --tsx, through tsx's loader. */
let runCompiled = true;

/** `node [flags] <parent> ARGS`, through tsx's loader or as compiled JavaScript. */
function parentArgv(args: readonly string[], nodeFlags: readonly string[] = []): string[] {
  return runCompiled ? [process.execPath, ...nodeFlags, PARENT_MAIN_JS, ...args] : nodeTs(PARENT_MAIN, args, nodeFlags);
}

function parentRow(id: Exclude<RowId, 'c-relay'>, label: string): Row {
  return {
    id,
    label,
    argv: (children, command) => parentArgv(['--variant', id, '--children', String(children), '--', ...command]),
  };
}

const ROWS: readonly Row[] = [
  parentRow('socketpair', 'parent, socketpair (default)'),
  parentRow('pipe-thread', 'parent, pipe-thread'),
  parentRow('posix', 'parent, posix (fork+exec, pipes)'),
  parentRow('libuv', 'parent, libuv = plain Node child_process'),
  {
    id: 'c-relay',
    label: 'C relay (poll+read+label+write): the limit',
    argv: (children, command) => [RELAY, '--children', String(children), '--', ...command],
  },
];

/** Only in the start-up table: the socketpair parent the way `npm start` runs it, through
 * tsx's loader, next to the compiled one (or the other way round under --tsx). */
const TSX_ROW: Row = {
  id: 'socketpair-other',
  get label(): string {
    return runCompiled ? 'parent, socketpair, through tsx (as `npm start`)' : 'parent, socketpair, compiled (build/js)';
  },
  argv: (children, command) => {
    const args = ['--variant', 'socketpair', '--children', String(children), '--', ...command];
    return runCompiled ? nodeTs(PARENT_MAIN, args) : [process.execPath, PARENT_MAIN_JS, ...args];
  },
};

function loadWrite(lines: number, sizes: Sizes, mode: 'line' | 'buffered' | 'stamp'): string[] {
  const argv = [LOAD, 'write', '--lines', String(lines), '--line-bytes', String(sizes.lineBytes), '--mode', mode];
  if (mode === 'stamp') argv.push('--interval-ms', String(sizes.w2IntervalMs));
  return argv;
}

// ------------------------------------------------------------------ results

interface RunSample {
  rep: number;
  ok: boolean;
  failure?: string;
  wall_s?: number;
  cpu_s?: number;
  rss_mb?: number;
  [k: string]: unknown;
}

interface CheckResult {
  ok: boolean;
  detail: string;
}

interface Results {
  meta: Record<string, unknown>;
  sizes: Sizes;
  w1: Record<string, { samples: RunSample[]; check: CheckResult | null }>; // key `${mode}/${row}`
  w2: Record<string, { samples: RunSample[] }>;
  w3: Record<string, { samples: RunSample[] }>; // key `${batch}/${spawner}` or `startup/${row}`
  w4: Record<string, { samples: RunSample[]; check: CheckResult | null }>; // key `${children}/${row}`
  targets: Target[];
  profile: (ProfileSummary & { command: string }) | null;
}

interface Target {
  workload: Workload;
  what: string;
  measured: string;
  pass: boolean | null;
  /** How far off, when missed. */
  by: string;
}

function values(samples: readonly RunSample[], key: string): number[] {
  return samples.filter((s) => s.ok && typeof s[key] === 'number').map((s) => s[key] as number);
}

function sp(samples: readonly RunSample[] | undefined, key: string): Spread | null {
  return samples === undefined ? null : spread(values(samples, key));
}

function failures(samples: readonly RunSample[] | undefined): string {
  const bad = (samples ?? []).filter((s) => !s.ok);
  return bad.length === 0 ? '' : ` **${bad.length} failed** (${bad[0]!.failure})`;
}

// ------------------------------------------------------------------ helpers

function progress(text: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
}

function compile(): void {
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
function codeFingerprint(): string {
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
function gitState(): string {
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

function parseJsonLine(text: string, prefix = ''): Record<string, number> | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    try {
      return JSON.parse(line.slice(prefix.length)) as Record<string, number>;
    } catch {
      /* not this line */
    }
  }
  return null;
}

function timeoutFor(lines: number, children: number): number {
  // Generous: ~20x what a slow parent needs on a busy 2-core machine, at least a minute.
  return Math.max(60_000, Math.round(lines * children * 0.05) + children * 200);
}

// ------------------------------------------------------------------ W1

async function runW1(o: Options, res: Results, devNull: number): Promise<void> {
  const s = o.sizes;
  const modes = ['line', 'buffered'] as const;
  const timeoutMs = timeoutFor(s.w1Lines, 3);
  const mb = (3 * s.w1Lines * s.lineBytes) / 1e6;
  for (const mode of modes) for (const row of ROWS) res.w1[`${mode}/${row.id}`] = { samples: [], check: null };
  for (let rep = 0; rep < s.reps; rep++) {
    for (const mode of modes) {
      for (const row of rotate(ROWS, rep)) {
        const r = await measured(row.argv(3, loadWrite(s.w1Lines, s, mode)), { stdout: devNull, timeoutMs });
        const sample: RunSample = { rep, ok: r.m !== null };
        if (r.m) {
          Object.assign(sample, {
            wall_s: r.m.wall_s,
            cpu_s: r.m.user_s + r.m.sys_s,
            user_s: r.m.user_s,
            sys_s: r.m.sys_s,
            rss_mb: r.m.maxrss_kb / 1024,
            mb_s: mb / r.m.wall_s,
          });
        } else sample.failure = r.failure ?? 'failed';
        res.w1[`${mode}/${row.id}`]!.samples.push(sample);
        progress(`W1 ${mode.padEnd(8)} rep ${rep + 1}/${s.reps} ${row.id.padEnd(11)} ${r.m ? `${num(r.m.wall_s)} s, ${num(mb / r.m.wall_s)} MB/s` : `FAILED: ${r.failure}`}`);
      }
    }
  }
  // The line check: a separate run per row and mode, output into a pipe.
  for (const mode of modes) {
    for (const row of ROWS) {
      const check = await checkRun(row.argv(3, loadWrite(s.w1Lines, s, mode)), 3, s.w1Lines, timeoutMs);
      res.w1[`${mode}/${row.id}`]!.check = check;
      progress(`W1 ${mode.padEnd(8)} check ${row.id.padEnd(11)} ${check.ok ? 'ok' : 'FAILED'}: ${check.detail}`);
    }
  }
}

/** Runs argv with its output into a pipe to `load check`; every line must be there. */
async function checkRun(argv: string[], children: number, linesPerChild: number, timeoutMs: number): Promise<CheckResult> {
  const { producer, consumer } = await measuredIntoPipe(argv, [LOAD, 'check'], timeoutMs);
  const c = parseJsonLine(consumer.stdout);
  const want = children * linesPerChild;
  if (c === null) return { ok: false, detail: `no check result (${consumer.stderr.trim() || producer.failure})` };
  const detail = `${c.lines}/${want} lines, ${c.exits}/${children} exits` +
    (c.bad ? `, ${c.bad} lost/out of order/mislabelled` : '') +
    (c.other ? `, ${c.other} other lines` : '') +
    (c.bad_exits ? `, ${c.bad_exits} non-zero exits` : '') +
    (producer.failure ? `, parent: ${producer.failure}` : '');
  const ok = producer.failure === null && c.lines === want && c.exits === children && c.streams === 2 * children &&
    c.bad === 0 && c.other === 0 && c.bad_exits === 0;
  return { ok, detail };
}

// ------------------------------------------------------------------ W2

async function runW2(o: Options, res: Results): Promise<void> {
  const s = o.sizes;
  const timeoutMs = 60_000 + s.w2Lines * s.w2IntervalMs * 4;
  for (const row of ROWS) res.w2[row.id] = { samples: [] };
  for (let rep = 0; rep < s.reps; rep++) {
    for (const row of rotate(ROWS, rep)) {
      const { producer, consumer } = await measuredIntoPipe(
        row.argv(3, loadWrite(s.w2Lines, s, 'stamp')),
        [LOAD, 'stamps'],
        timeoutMs,
      );
      const st = parseJsonLine(consumer.stdout);
      const sample: RunSample = { rep, ok: false };
      if (producer.failure !== null) sample.failure = producer.failure;
      else if (st === null) sample.failure = `no reader result: ${consumer.stderr.trim()}`;
      else if (st.n !== 3 * s.w2Lines) sample.failure = `${st.n}/${3 * s.w2Lines} lines arrived`;
      else {
        Object.assign(sample, {
          ok: true,
          p50_ms: st.p50_us! / 1000,
          p99_ms: st.p99_us! / 1000,
          max_ms: st.max_us! / 1000,
          cpu_s: producer.m!.user_s + producer.m!.sys_s,
          rss_mb: producer.m!.maxrss_kb / 1024,
        });
      }
      res.w2[row.id]!.samples.push(sample);
      progress(`W2 rep ${rep + 1}/${s.reps} ${row.id.padEnd(11)} ${sample.ok ? `p50 ${num(sample.p50_ms as number, 3)} ms, p99 ${num(sample.p99_ms as number, 3)} ms, max ${num(sample.max_ms as number, 3)} ms` : `FAILED: ${sample.failure}`}`);
    }
  }
}

// ------------------------------------------------------------------ W3

interface Spawner {
  id: string;
  label: string;
  argv(batch: 'serial' | 'all', count: number): string[];
  /** Where its JSON line is: stdout (spawn.ts) or stderr with a prefix (relay). */
  parse(r: { stdout: string; stderr: string }): Record<string, number> | null;
}

const SPAWN_TS = join(PROJECT_ROOT, 'scripts', 'bench', 'spawn.ts');

function spawnTs(how: string, label: string, id: string): Spawner {
  return {
    id,
    label,
    argv: (batch, count) => nodeTs(SPAWN_TS, ['--how', how, '--batch', batch, '--count', String(count)]),
    parse: (r) => parseJsonLine(r.stdout),
  };
}

const SPAWNERS: readonly Spawner[] = [
  spawnTs('addon', 'addon ipc.spawn (posix_spawn) + 2 socket pairs: socketpair, pipe-thread', 'addon-spawn'),
  spawnTs('forkexec', 'addon ipc.forkExec (fork+exec) + 2 pipes: posix', 'addon-forkexec'),
  spawnTs('node', 'child_process.spawn + 2 pipes: libuv, plain Node', 'child_process'),
  {
    id: 'c-relay',
    label: 'C relay, posix_spawn + 2 socket pairs: the limit',
    argv: (batch, count) => [RELAY, '--children', String(count), ...(batch === 'serial' ? ['--serial'] : []), '--timing', '--', '/bin/true'],
    parse: (r) => parseJsonLine(r.stderr, 'relay-timing '),
  },
];

async function runW3(o: Options, res: Results, devNull: number): Promise<void> {
  const s = o.sizes;
  const batches = ['serial', 'all'] as const;
  for (const b of batches) for (const spn of SPAWNERS) res.w3[`${b}/${spn.id}`] = { samples: [] };
  const startupRows = [...ROWS, TSX_ROW];
  for (const row of startupRows) res.w3[`startup/${row.id}`] = { samples: [] };
  for (let rep = 0; rep < s.reps; rep++) {
    for (const batch of batches) {
      for (const spn of rotate(SPAWNERS, rep)) {
        const r = await runGroup(spn.argv(batch, s.w3Count), { stdout: spn.id === 'c-relay' ? devNull : 'pipe', timeoutMs: 120_000 }).done;
        const j = r.code === 0 ? spn.parse(r) : null;
        const sample: RunSample = { rep, ok: j !== null };
        if (j !== null) {
          sample.per_child_ms = j.elapsed_ns! / 1e6 / s.w3Count;
          sample.spawn_call_ms = j.spawn_ns! / 1e6 / s.w3Count;
        } else sample.failure = r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').pop()}`;
        res.w3[`${batch}/${spn.id}`]!.samples.push(sample);
        progress(`W3 ${batch.padEnd(6)} rep ${rep + 1}/${s.reps} ${spn.id.padEnd(14)} ${sample.ok ? `${num(sample.per_child_ms as number, 3)} ms per child` : `FAILED: ${sample.failure}`}`);
      }
    }
    // The parents' own start-to-exit time: what every W1/W2/W4 wall time includes.
    for (const row of o.startup ? rotate(startupRows, rep) : []) {
      const r = await measured(row.argv(1, ['/bin/true']), { stdout: devNull, timeoutMs: 60_000 });
      const sample: RunSample = { rep, ok: r.m !== null };
      if (r.m) Object.assign(sample, { wall_s: r.m.wall_s, cpu_s: r.m.user_s + r.m.sys_s, rss_mb: r.m.maxrss_kb / 1024 });
      else sample.failure = r.failure ?? 'failed';
      res.w3[`startup/${row.id}`]!.samples.push(sample);
      progress(`W3 startup rep ${rep + 1}/${s.reps} ${row.id.padEnd(11)} ${r.m ? `${num(r.m.wall_s)} s` : `FAILED: ${r.failure}`}`);
    }
  }
}

// ------------------------------------------------------------------ W4

async function runW4(o: Options, res: Results, devNull: number): Promise<void> {
  const s = o.sizes;
  const mb = (s.w4TotalLines * s.lineBytes) / 1e6;
  for (const n of s.w4Children) for (const row of ROWS) res.w4[`${n}/${row.id}`] = { samples: [], check: null };
  for (let rep = 0; rep < s.reps; rep++) {
    for (const n of s.w4Children) {
      const perChild = Math.round(s.w4TotalLines / n);
      for (const row of rotate(ROWS, rep)) {
        const r = await measured(row.argv(n, loadWrite(perChild, s, 'line')), { stdout: devNull, timeoutMs: timeoutFor(perChild, n) });
        const sample: RunSample = { rep, ok: r.m !== null };
        if (r.m) {
          Object.assign(sample, {
            wall_s: r.m.wall_s,
            cpu_s: r.m.user_s + r.m.sys_s,
            rss_mb: r.m.maxrss_kb / 1024,
            mb_s: (perChild * n * s.lineBytes) / 1e6 / r.m.wall_s,
          });
        } else sample.failure = r.failure ?? 'failed';
        res.w4[`${n}/${row.id}`]!.samples.push(sample);
        progress(`W4 ${String(n).padStart(3)} children rep ${rep + 1}/${s.reps} ${row.id.padEnd(11)} ${r.m ? `${num(r.m.wall_s)} s, ${num(mb / r.m.wall_s)} MB/s` : `FAILED: ${r.failure}`}`);
      }
    }
  }
  // Every line of the largest configuration, through a pipe.
  const n = Math.max(...s.w4Children);
  const perChild = Math.round(s.w4TotalLines / n);
  for (const row of ROWS) {
    const check = await checkRun(row.argv(n, loadWrite(perChild, s, 'line')), n, perChild, timeoutFor(perChild, n));
    res.w4[`${n}/${row.id}`]!.check = check;
    progress(`W4 ${n} children check ${row.id.padEnd(11)} ${check.ok ? 'ok' : 'FAILED'}: ${check.detail}`);
  }
}

// ------------------------------------------------------------------ profile

async function runProfile(o: Options, res: Results, devNull: number): Promise<void> {
  const dir = join(BENCH_DIR, 'profile');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const args = ['--variant', 'socketpair', '--children', '3', '--', ...loadWrite(o.sizes.profileLines, o.sizes, 'line')];
  const argv = parentArgv(args, ['--cpu-prof', '--cpu-prof-dir', dir]);
  progress(`profile: socketpair parent, W1 line mode, 3 x ${o.sizes.profileLines} lines`);
  const r = await measured(argv, { stdout: devNull, timeoutMs: timeoutFor(o.sizes.profileLines, 3) });
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
  const command = `node --cpu-prof ${runCompiled ? 'build/js/parent/main.js' : '--import tsx parent/main.ts'} ${args.join(' ').replaceAll(`${PROJECT_ROOT}/`, '')}`;
  res.profile = { ...summarizeProfile(files[0]!), command };
}

// ------------------------------------------------------------------ targets

function evaluateTargets(o: Options, res: Results): Target[] {
  const t: Target[] = [];
  const med = (s: Spread | null): number | null => (s === null ? null : s.median);
  const missBy = (x: number, limit: number, higherIsBetter: boolean): string => {
    const pct = higherIsBetter ? (100 * (limit - x)) / limit : (100 * (x - limit)) / limit;
    return `${num(pct, 0)}% ${higherIsBetter ? 'short' : 'over'}`;
  };
  if (o.only.has('W1')) {
    for (const mode of ['line', 'buffered'] as const) {
      const spWall = med(sp(res.w1[`${mode}/socketpair`]?.samples, 'wall_s'));
      const cWall = med(sp(res.w1[`${mode}/c-relay`]?.samples, 'wall_s'));
      const nodeWall = med(sp(res.w1[`${mode}/libuv`]?.samples, 'wall_s'));
      if (spWall !== null && cWall !== null) {
        const r = spWall / cWall;
        t.push({ workload: 'W1', what: `${mode}: socketpair wall ≤ 1.5× C relay`, measured: `${num(r)}×`, pass: r <= 1.5, by: r <= 1.5 ? '' : missBy(r, 1.5, false) });
      }
      if (spWall !== null && nodeWall !== null) {
        t.push({ workload: 'W1', what: `${mode}: socketpair faster than plain Node (libuv)`, measured: `${num(spWall)} s vs ${num(nodeWall)} s`, pass: spWall < nodeWall, by: spWall < nodeWall ? '' : `${num((100 * (spWall - nodeWall)) / nodeWall, 0)}% slower` });
      }
    }
    const rss = [...values(res.w1['line/socketpair']?.samples ?? [], 'rss_mb'), ...values(res.w1['buffered/socketpair']?.samples ?? [], 'rss_mb')];
    if (rss.length > 0) {
      const peak = Math.max(...rss);
      t.push({ workload: 'W1', what: 'socketpair parent peak RSS < 64 MB (largest of all W1 runs)', measured: `${num(peak)} MB`, pass: peak < 64, by: peak < 64 ? '' : missBy(peak, 64, false) });
    }
    const checks = Object.entries(res.w1).filter(([, v]) => v.check !== null);
    const bad = checks.filter(([, v]) => !v.check!.ok).map(([k]) => k);
    t.push({ workload: 'W1', what: 'every line arrives (pipe runs, all rows and modes)', measured: bad.length === 0 ? `${checks.length}/${checks.length} ok` : `failed: ${bad.join(', ')}`, pass: bad.length === 0, by: '' });
  }
  if (o.only.has('W2')) {
    const p99 = med(sp(res.w2.socketpair?.samples, 'p99_ms'));
    const cP99 = med(sp(res.w2['c-relay']?.samples, 'p99_ms'));
    if (p99 !== null) t.push({ workload: 'W2', what: 'socketpair p99 < 1 ms', measured: `${num(p99, 3)} ms`, pass: p99 < 1, by: p99 < 1 ? '' : missBy(p99, 1, false) });
    if (p99 !== null && cP99 !== null) {
      const r = p99 / cP99;
      t.push({ workload: 'W2', what: 'socketpair p99 ≤ 2× C relay p99', measured: `${num(r)}×`, pass: r <= 2, by: r <= 2 ? '' : missBy(r, 2, false) });
    }
  }
  if (o.only.has('W3')) {
    for (const batch of ['serial', 'all'] as const) {
      const addon = med(sp(res.w3[`${batch}/addon-spawn`]?.samples, 'per_child_ms'));
      const node = med(sp(res.w3[`${batch}/child_process`]?.samples, 'per_child_ms'));
      if (addon !== null && node !== null) {
        const r = node / addon;
        t.push({ workload: 'W3', what: `${batch === 'serial' ? 'one at a time' : 'all at once'}: addon spawn ≥ 1.5× faster than child_process.spawn per child`, measured: `${num(r)}× (${num(addon, 3)} vs ${num(node, 3)} ms)`, pass: r >= 1.5, by: r >= 1.5 ? '' : missBy(r, 1.5, true) });
      }
    }
  }
  if (o.only.has('W4')) {
    const lo = Math.min(...o.sizes.w4Children);
    const hi = Math.max(...o.sizes.w4Children);
    const a = med(sp(res.w4[`${lo}/socketpair`]?.samples, 'mb_s'));
    const b = med(sp(res.w4[`${hi}/socketpair`]?.samples, 'mb_s'));
    if (a !== null && b !== null) {
      const r = b / a;
      t.push({ workload: 'W4', what: `socketpair throughput at ${hi} children within 30% of ${lo}`, measured: `${num(100 * r, 0)}% (${num(b)} vs ${num(a)} MB/s)`, pass: r >= 0.7, by: r >= 0.7 ? '' : missBy(r, 0.7, true) });
    }
    const checks = Object.entries(res.w4).filter(([, v]) => v.check !== null);
    const bad = checks.filter(([, v]) => !v.check!.ok).map(([k]) => k);
    t.push({ workload: 'W4', what: `every line arrives at ${hi} children (pipe runs, all rows)`, measured: bad.length === 0 ? `${checks.length}/${checks.length} ok` : `failed: ${bad.join(', ')}`, pass: bad.length === 0, by: '' });
  }
  return t;
}

// ------------------------------------------------------------------ report

function markdown(o: Options, res: Results): string {
  const s = o.sizes;
  const m = res.meta;
  const L: string[] = [];
  L.push(`Generated by \`${m.command}\` on ${m.date}${o.quick ? ' — **a --quick run: small sizes, not figures to quote**' : ''}.`);
  L.push('');
  L.push(`- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}.`);
  L.push(
    m.codeBefore === m.codeAfter
      ? `- Code: ${m.code}; parent/, c/ and the built addon unchanged during the run (fingerprint ${m.codeBefore}).`
      : `- Code: ${m.code}. **The sources or the built addon changed during the run** (fingerprint ${m.codeBefore} before, ${m.codeAfter} after): rows measured at different times may have run different code.`,
  );
  L.push(`- Load average (1/5/15 min) before: ${m.loadBefore}; after: ${m.loadAfter}. ${m.busyNote}`);
  L.push(`- ${s.reps} repetitions per row, interleaved (each repetition runs every row once, order rotated); cells are *median (min–max)*. Took ${m.durationMin} min.`);
  L.push(`- Parents run as \`${o.compiled ? 'node build/js/parent/main.js' : 'node --import <tsx loader> parent/main.ts'} --variant V --children N -- build/bench/load write ...\`; every wall time includes the parent's start (W3, last table). CPU and peak RSS are the parent's own (\`load measure\`, see Method).`);
  L.push('');
  if (o.only.has('W1')) {
    const mb = (3 * s.w1Lines * s.lineBytes) / 1e6;
    L.push(`### W1 throughput: 3 children × ${s.w1Lines.toLocaleString('en')} lines of ${s.lineBytes} bytes (${num(mb)} MB), output to /dev/null`);
    L.push('');
    L.push('| parent | child writes | MB/s | wall s | wall × C relay | parent CPU s | of it user / sys | peak RSS MB | every line (pipe run) |');
    L.push('|---|---|---|---|---|---|---|---|---|');
    for (const mode of ['line', 'buffered'] as const) {
      const cWall = sp(res.w1[`${mode}/c-relay`]?.samples, 'wall_s')?.median;
      for (const row of ROWS) {
        const e = res.w1[`${mode}/${row.id}`];
        const wall = sp(e?.samples, 'wall_s');
        const check = e?.check ? (e.check.ok ? `ok (${e.check.detail})` : `**FAILED** (${e.check.detail})`) : '–';
        L.push(`| ${row.label} | ${mode === 'line' ? 'one write per line' : '64 KiB writes'} | ${cell(sp(e?.samples, 'mb_s'), 1)} | ${cell(wall)}${failures(e?.samples)} | ${row.id === 'c-relay' ? '1×' : ratio(wall?.median, cWall)} | ${cell(sp(e?.samples, 'cpu_s'))} | ${num(sp(e?.samples, 'user_s')?.median ?? NaN)} / ${num(sp(e?.samples, 'sys_s')?.median ?? NaN)} | ${cell(sp(e?.samples, 'rss_mb'), 1)} | ${check} |`);
      }
    }
    L.push('');
  }
  if (o.only.has('W2')) {
    L.push(`### W2 latency: 3 children, a stamped line every ${s.w2IntervalMs} ms, ${s.w2Lines} each; reader after the parent, through a pipe`);
    L.push('');
    L.push('| parent | p50 ms | p99 ms | max ms | p99 × C relay | parent CPU s |');
    L.push('|---|---|---|---|---|---|');
    const cP99 = sp(res.w2['c-relay']?.samples, 'p99_ms')?.median;
    for (const row of ROWS) {
      const e = res.w2[row.id];
      const p99 = sp(e?.samples, 'p99_ms');
      L.push(`| ${row.label} | ${cell(sp(e?.samples, 'p50_ms'), 3)} | ${cell(p99, 3)}${failures(e?.samples)} | ${cell(sp(e?.samples, 'max_ms'), 3)} | ${row.id === 'c-relay' ? '1×' : ratio(p99?.median, cP99)} | ${cell(sp(e?.samples, 'cpu_s'))} |`);
    }
    L.push('');
    L.push(`Latency = the reader's CLOCK_MONOTONIC when its read() returned minus the stamp the child took just before its write(); p50/p99/max are per run (${3 * s.w2Lines} lines), then median (min–max) over the runs.`);
    L.push('');
  }
  if (o.only.has('W3')) {
    L.push(`### W3 spawn: ${s.w3Count} × /bin/true, stdout and stderr captured, done when both streams ended and the exit was collected`);
    L.push('');
    L.push('| spawner | one at a time: ms per child | × C relay | all at once: ms per child | × C relay | the spawn call alone, ms (one at a time) |');
    L.push('|---|---|---|---|---|---|');
    const cSerial = sp(res.w3['serial/c-relay']?.samples, 'per_child_ms')?.median;
    const cAll = sp(res.w3['all/c-relay']?.samples, 'per_child_ms')?.median;
    for (const spn of SPAWNERS) {
      const a = sp(res.w3[`serial/${spn.id}`]?.samples, 'per_child_ms');
      const b = sp(res.w3[`all/${spn.id}`]?.samples, 'per_child_ms');
      const f = failures(res.w3[`serial/${spn.id}`]?.samples) + failures(res.w3[`all/${spn.id}`]?.samples);
      L.push(`| ${spn.label} | ${cell(a, 3)}${f} | ${spn.id === 'c-relay' ? '1×' : ratio(a?.median, cSerial)} | ${cell(b, 3)} | ${spn.id === 'c-relay' ? '1×' : ratio(b?.median, cAll)} | ${cell(sp(res.w3[`serial/${spn.id}`]?.samples, 'spawn_call_ms'), 3)} |`);
    }
    L.push('');
    L.push('Measured inside one process each (`scripts/bench/spawn.ts`; the C relay\'s `--timing`), first spawn to last exit, after one untimed warm-up start.');
    L.push('');
    if (o.startup) {
      L.push('Start-to-exit of the whole parent with one `/bin/true` child (the fixed cost inside every wall time above):');
      L.push('');
      L.push('| parent | wall s | × C relay | CPU s | peak RSS MB |');
      L.push('|---|---|---|---|---|');
    }
    const cStart = sp(res.w3['startup/c-relay']?.samples, 'wall_s')?.median;
    for (const row of o.startup ? [...ROWS, TSX_ROW] : []) {
      const e = res.w3[`startup/${row.id}`];
      const w = sp(e?.samples, 'wall_s');
      L.push(`| ${row.label} | ${cell(w, 3)}${failures(e?.samples)} | ${row.id === 'c-relay' ? '1×' : ratio(w?.median, cStart)} | ${cell(sp(e?.samples, 'cpu_s'))} | ${cell(sp(e?.samples, 'rss_mb'), 1)} |`);
    }
    L.push('');
  }
  if (o.only.has('W4')) {
    const total = (s.w4TotalLines * s.lineBytes) / 1e6;
    const [lo, hi] = [Math.min(...s.w4Children), Math.max(...s.w4Children)];
    L.push(`### W4 scale: ${s.w4TotalLines.toLocaleString('en')} lines of ${s.lineBytes} bytes in all (${num(total)} MB), one write per line, split over N children; MB/s`);
    L.push('');
    L.push(`| parent | ${s.w4Children.map((n) => `${n} children`).join(' | ')} | ${hi} vs ${lo} | × C relay at ${hi} | peak RSS MB at ${hi} | every line at ${hi} (pipe run) |`);
    L.push(`|---|${s.w4Children.map(() => '---|').join('')}---|---|---|---|`);
    const cHi = sp(res.w4[`${hi}/c-relay`]?.samples, 'wall_s')?.median;
    for (const row of ROWS) {
      const cells = s.w4Children.map((n) => cell(sp(res.w4[`${n}/${row.id}`]?.samples, 'mb_s'), 1) + failures(res.w4[`${n}/${row.id}`]?.samples));
      const a = sp(res.w4[`${lo}/${row.id}`]?.samples, 'mb_s')?.median;
      const b = sp(res.w4[`${hi}/${row.id}`]?.samples, 'mb_s')?.median;
      const wHi = sp(res.w4[`${hi}/${row.id}`]?.samples, 'wall_s')?.median;
      const check = res.w4[`${hi}/${row.id}`]?.check;
      L.push(`| ${row.label} | ${cells.join(' | ')} | ${a && b ? `${num((100 * b) / a, 0)}%` : '–'} | ${row.id === 'c-relay' ? '1×' : `${ratio(wHi, cHi)} wall`} | ${cell(sp(res.w4[`${hi}/${row.id}`]?.samples, 'rss_mb'), 1)} | ${check ? (check.ok ? 'ok' : `**FAILED** (${check.detail})`) : '–'} |`);
    }
    L.push('');
    L.push(`select() takes descriptors below FD_SETSIZE = ${m.fdSetSize}: ${hi} children use ${2 * hi} read ends plus the wakeup pair and fds 0–2, well inside.`);
    L.push('');
  }
  L.push('### Targets');
  L.push('');
  L.push('| workload | target | measured | result |');
  L.push('|---|---|---|---|');
  for (const t of res.targets) {
    L.push(`| ${t.workload} | ${t.what} | ${t.measured} | ${t.pass === null ? '–' : t.pass ? 'pass' : `**miss**${t.by ? ` (${t.by})` : ''}`} |`);
  }
  L.push('');
  if (res.profile) {
    const p = res.profile;
    L.push('### CPU profile: socketpair parent, W1, one write per line');
    L.push('');
    L.push(`\`${p.command}\`: ${num(p.totalMs / 1000)} s sampled on the main thread, ${num(p.idleMs / 1000)} s of it idle (waiting in the event loop). Top self time:`);
    L.push('');
    L.push('| function | where | self ms | % of busy |');
    L.push('|---|---|---|---|');
    for (const e of p.top) L.push(`| \`${e.fn}\` | ${e.where || '(native / V8)'} | ${num(e.ms, 0)} | ${num(e.pctBusy, 1)}% |`);
    L.push('');
  }
  return L.join('\n');
}

const BEGIN = '<!-- bench:begin (generated by scripts/bench.ts; edits between these markers are overwritten) -->';
const END = '<!-- bench:end -->';

function writeDoc(generated: string): string {
  const file = join(PROJECT_ROOT, 'docs', 'benchmarks.md');
  const block = `${BEGIN}\n${generated}\n${END}`;
  let text: string;
  if (existsSync(file)) {
    const old = readFileSync(file, 'utf8');
    const a = old.indexOf(BEGIN.slice(0, 20));
    const b = old.indexOf(END);
    text = a >= 0 && b > a ? old.slice(0, a) + block + old.slice(b + END.length) : `${old.trimEnd()}\n\n## Results\n\n${block}\n`;
  } else {
    text = `# Benchmarks\n\nRun with \`npm run bench\` (see the Usage block in scripts/bench.ts).\n\n## Results\n\n${block}\n`;
  }
  writeFileSync(file, text);
  return file;
}

// ------------------------------------------------------------------ main

function loadString(): string {
  return os.loadavg().map((x) => x.toFixed(2)).join(' / ');
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (process.platform !== 'linux') usage('the benchmark needs Linux (/proc, and the C tools are POSIX)');
  installCleanup();
  runCompiled = o.compiled;
  // The parents are measured as what `npm install` builds: tsc's output in build/js,
  // compiled first so that the figures are never those of an older build of the sources.
  compileTypeScript();
  const t0 = Date.now();
  compile();
  const cpus = os.cpus();
  const args = process.argv.slice(2).join(' ');
  const res: Results = {
    meta: {
      command: process.env.npm_lifecycle_event === 'bench' ? `npm run bench${args ? ` -- ${args}` : ''}` : `npx tsx scripts/bench.ts${args ? ` ${args}` : ''}`,
      date: new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC',
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      cores: cpus.length,
      memoryGiB: num(os.totalmem() / 2 ** 30, 1),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      loadBefore: loadString(),
      code: gitState(),
      codeBefore: codeFingerprint(),
      fdSetSize: ipc.FD_SETSIZE,
      quick: o.quick,
    },
    sizes: o.sizes,
    w1: {},
    w2: {},
    w3: {},
    w4: {},
    targets: [],
    profile: null,
  };
  progress(`bench: ${o.quick ? 'quick' : 'full'} run, ${o.sizes.reps} repetitions, ${[...o.only].join(' ')}; load ${res.meta.loadBefore as string}`);
  const devNull = openDevNull();
  try {
    if (o.only.has('W1')) await runW1(o, res, devNull);
    if (o.only.has('W2')) await runW2(o, res);
    if (o.only.has('W3')) await runW3(o, res, devNull);
    if (o.only.has('W4')) await runW4(o, res, devNull);
    if (o.profile) await runProfile(o, res, devNull);
  } finally {
    closeFd(devNull);
  }
  const loadAfter = os.loadavg();
  res.meta.loadAfter = loadString();
  res.meta.codeAfter = codeFingerprint();
  res.meta.durationMin = num((Date.now() - t0) / 60_000, 1);
  const busiest = Math.max(...loadAfter.slice(0, 2), ...String(res.meta.loadBefore).split(' / ').map(Number).slice(0, 2));
  res.meta.busyNote =
    busiest >= cpus.length * 0.5
      ? `The machine was **busy** (other work running alongside: a load of ${num(busiest)} on ${cpus.length} cores); figures are as measured on it, ratios within one run remain comparable.`
      : 'The machine was quiet.';
  res.targets = evaluateTargets(o, res);
  const md = markdown(o, res);
  mkdirSync(BENCH_DIR, { recursive: true });
  const jsonFile = join(BENCH_DIR, `results${o.quick ? '-quick' : ''}${o.compiled ? '' : '-tsx'}.json`);
  writeFileSync(jsonFile, `${JSON.stringify(res, null, 2)}\n`);
  process.stdout.write(`\n${md}\n\n`);
  process.stdout.write(`results: ${jsonFile}\n`);
  if (o.doc) process.stdout.write(`report: ${writeDoc(md)}\n`);
  const missed = res.targets.filter((t) => t.pass === false).length;
  process.stdout.write(`targets: ${res.targets.length - missed} pass, ${missed} miss\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
