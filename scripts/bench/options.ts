/** The benchmark's options and sizes: the Usage block is at the top of scripts/bench.ts. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../parent/native.ts';
import { parseArgsOrExit, positiveInt, usageError } from '../args.ts';

/** The entry point, whose first comment is the Usage text that --help prints. */
const BENCH_ENTRY = join(PROJECT_ROOT, 'scripts', 'bench.ts');

export interface Sizes {
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
  /** W5: connections in the small and the large run of each handoff technique. */
  w5FewClients: number;
  w5Clients: number;
}

export const FULL: Sizes = {
  reps: 5,
  w1Lines: 1_000_000,
  lineBytes: 100,
  w2Lines: 300,
  w2IntervalMs: 10,
  w3Count: 100,
  w4TotalLines: 3_000_000,
  w4Children: [3, 30, 300],
  w5FewClients: 50,
  w5Clients: 1000,
};

export const QUICK: Sizes = {
  reps: 2,
  w1Lines: 30_000,
  lineBytes: 100,
  w2Lines: 30,
  w2IntervalMs: 10,
  w3Count: 30,
  w4TotalLines: 30_000,
  w4Children: [3, 300],
  w5FewClients: 10,
  w5Clients: 100,
};

export type Workload = 'W1' | 'W2' | 'W3' | 'W4' | 'W5';
export const WORKLOADS: readonly Workload[] = ['W1', 'W2', 'W3', 'W4', 'W5'];

export interface Options {
  quick: boolean;
  compiled: boolean;
  /** The parents' start-to-exit table (W3); left out of --quick. */
  startup: boolean;
  sizes: Sizes;
  only: Set<Workload>;
  profile: boolean;
  doc: boolean;
  /** --keep-extra-ca-certs: leave NODE_EXTRA_CA_CERTS in the rows' environment. */
  keepExtraCaCerts: boolean;
}

const USAGE = 'see the Usage block at the top of scripts/bench.ts';

export function parseOptions(args: string[]): Options {
  const { values: v, tokens } = parseArgsOrExit('bench', USAGE, {
    args,
    tokens: true,
    options: {
      quick: { type: 'boolean' },
      profile: { type: 'boolean' },
      'no-profile': { type: 'boolean' },
      doc: { type: 'boolean' },
      'no-doc': { type: 'boolean' },
      tsx: { type: 'boolean' },
      'keep-extra-ca-certs': { type: 'boolean' },
      reps: { type: 'string' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    process.stdout.write(readFileSync(BENCH_ENTRY, 'utf8').split('\n */')[0]!.replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, '') + '\n');
    process.exit(0);
  }
  // --profile / --no-profile and --doc / --no-doc: the last one given wins.
  let profile: boolean | null = null;
  let doc: boolean | null = null;
  for (const tk of tokens ?? []) {
    if (tk.kind !== 'option') continue;
    if (tk.name === 'profile' || tk.name === 'no-profile') profile = tk.name === 'profile';
    if (tk.name === 'doc' || tk.name === 'no-doc') doc = tk.name === 'doc';
  }
  const quick = v.quick === true;
  const compiledParent = v.tsx !== true;
  let only: Set<Workload> | null = null;
  if (v.only !== undefined) {
    only = new Set();
    for (const w of v.only.split(',')) {
      const W = w.trim().toUpperCase();
      if (!(WORKLOADS as readonly string[]).includes(W)) usage(`unknown workload '${w}' (${WORKLOADS.join(', ')})`);
      only.add(W as Workload);
    }
  }
  const sizes = { ...(quick ? QUICK : FULL) };
  if (v.reps !== undefined) sizes.reps = positiveInt('bench', USAGE, '--reps', v.reps);
  const partial = only !== null;
  return {
    quick,
    compiled: compiledParent,
    startup: !quick,
    sizes,
    only: only ?? new Set(WORKLOADS),
    profile: profile ?? (!quick && (only === null || only.has('W1'))),
    doc: doc ?? (!quick && !partial && compiledParent),
    keepExtraCaCerts: v['keep-extra-ca-certs'] === true,
  };
}

export function usage(msg: string): never {
  usageError('bench', msg, USAGE);
}
