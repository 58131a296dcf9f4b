/**
 * Usage: npm run bench                      (= tsx scripts/bench.ts: the full run, 5 repetitions)
 *        npm run bench -- --quick           small sizes, 2 repetitions, W4 at 3 and 300 children,
 *                                           no start-up table or profile: a smoke run of about a
 *                                           minute on a quiet 2-core machine, not figures to quote
 *        npx tsx scripts/bench.ts [--quick] [--reps N] [--only W1,W2,W3,W4,W5]
 *                                 [--profile | --no-profile] [--doc | --no-doc] [--tsx]
 *
 *   --reps N       repetitions per row (default 5; --quick: 2); medians need at least 5
 *   --only LIST    run only these workloads (the others are left out of the report)
 *   --profile      CPU-profile the socketpair parent's TypeScript loop (--loop js; W1, 64 KiB
 *                  writes): default for the full run; --no-profile skips it
 *   --doc          write the report into docs/benchmarks.md even for --quick/--only/--compiled
 *   --no-doc       do not touch docs/benchmarks.md (the full run writes it by default)
 *   --keep-extra-ca-certs
 *                  leave NODE_EXTRA_CA_CERTS in every row's environment; by default it is
 *                  removed (and the report says whether it was set): Node 20 parses that
 *                  bundle at every start, before any JavaScript runs, which is a cost of the
 *                  machine's setup, not of the parent (docs/benchmarks.md, "Where the time
 *                  goes: start-up")
 *   --tsx          run the parents through tsx's loader (`node --import tsx parent/main.ts`, as
 *                  `npm start` does) instead of as tsc output (`node build/js/parent/main.js`,
 *                  compiled by the benchmark first): the loader costs start-up time and about
 *                  35 MB of memory, not throughput; the W3 start-up table shows both anyway
 *
 * Measures the project's parent in its four variants against a minimal C relay (the
 * practical limit, c/bench/relay.c) over the same transport - socket pairs for socketpair,
 * pipe-thread and libuv (child_process's pipes are socket pairs on Linux), pipes for
 * posix - and shows the relay's own socket pairs / pipes ratio per write size, on five
 * workloads:
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
 *   W5 handoff     connections per second for each socket handoff technique (send, inherit,
 *                  libuv: docs/handoff.md), `npm run handoff -- --technique T --clients K`
 *                  with 50 and 1000 clients (--quick: 10 and 100); the rate is the extra
 *                  connections over the extra wall time, so the start and stop drop out
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
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { ipc } from '../parent/native.ts';
import { compileTypeScript } from './wine.ts';
import { parseOptions, usage } from './bench/options.ts';
import { BENCH_DIR, closeFd, installCleanup, openDevNull } from './bench/procs.ts';
import { runProfile } from './bench/profile-run.ts';
import { markdown, writeDoc } from './bench/report.ts';
import type { Results } from './bench/results.ts';
import { progress } from './bench/results.ts';
import { setRunCompiled } from './bench/rows.ts';
import { codeFingerprint, compile, gitState } from './bench/setup.ts';
import { num } from './bench/stats.ts';
import { evaluateTargets } from './bench/targets.ts';
import { runW1 } from './bench/w1.ts';
import { runW2 } from './bench/w2.ts';
import { runW3 } from './bench/w3.ts';
import { runW4 } from './bench/w4.ts';
import { runW5 } from './bench/w5.ts';


/** What NODE_EXTRA_CA_CERTS costs every Node start, said in the report; removed from this
 * process's environment (so from every row's) unless asked to keep it. */
function extraCaCerts(keep: boolean): string {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (file === undefined || file === '') return 'not set';
  let count = 'an unreadable file';
  try {
    count = `${(readFileSync(file, 'latin1').match(/-----BEGIN CERTIFICATE-----/g) ?? []).length} certificates`;
  } catch {
    /* said as unreadable */
  }
  if (keep) return `set (${file}, ${count}) and kept (--keep-extra-ca-certs): every Node start parses it`;
  delete process.env.NODE_EXTRA_CA_CERTS;
  return `set on this machine (${file}, ${count}), removed from every row's environment: Node 20 parses that bundle at every start (about 50 ms of CPU here), a cost of the machine's setup, not of the parent ("Where the time goes: start-up"); --keep-extra-ca-certs keeps it`;
}

function loadString(): string {
  return os.loadavg().map((x) => x.toFixed(2)).join(' / ');
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (process.platform !== 'linux') usage('the benchmark needs Linux (/proc, and the C tools are POSIX)');
  installCleanup();
  setRunCompiled(o.compiled);
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
      extraCaCerts: extraCaCerts(o.keepExtraCaCerts),
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
    w5: {},
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
    if (o.only.has('W5')) await runW5(o, res);
    if (o.profile) await runProfile(o, res, devNull);
  } finally {
    closeFd(devNull);
  }
  res.meta.loadAfter = loadString();
  res.meta.codeAfter = codeFingerprint();
  res.meta.durationMin = num((Date.now() - t0) / 60_000, 1);
  // Judged by the load before the run only: the load after is mostly the benchmark's own
  // (W4 runs up to 300 children), whatever else was running.
  const before = Number(String(res.meta.loadBefore).split(' / ')[0]);
  res.meta.busyNote =
    before >= cpus.length * 0.5
      ? `The machine was **busy** when the run started (a load of ${num(before)} on ${cpus.length} cores); figures are as measured on it, ratios within one run remain comparable.`
      : 'The machine was quiet when the run started; the load after is mostly the benchmark\'s own (W4 runs up to 300 children).';
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
