/** The shape of the results (build/bench/results.json) and the helpers every workload uses. */
import type { Sizes, Workload } from './options.ts';
import { LOAD, measuredIntoPipe } from './procs.ts';
import type { ProfileSummary } from './profile.ts';
import { spread, type Spread } from './stats.ts';

export interface RunSample {
  rep: number;
  ok: boolean;
  failure?: string;
  wall_s?: number;
  cpu_s?: number;
  rss_mb?: number;
  [k: string]: unknown;
}

export interface CheckResult {
  ok: boolean;
  detail: string;
}

export interface Results {
  meta: Record<string, unknown>;
  sizes: Sizes;
  w1: Record<string, { samples: RunSample[]; check: CheckResult | null }>; // key `${mode}/${row}`
  w2: Record<string, { samples: RunSample[] }>;
  w3: Record<string, { samples: RunSample[] }>; // key `${batch}/${spawner}` or `startup/${row}`
  w4: Record<string, { samples: RunSample[]; check: CheckResult | null }>; // key `${children}/${row}`
  w5: Record<string, { samples: RunSample[] }>; // key `${few|many|marginal}/${technique}`
  targets: Target[];
  profile: (ProfileSummary & { command: string }) | null;
}

export interface Target {
  workload: Workload;
  what: string;
  measured: string;
  pass: boolean | null;
  /** How far off, when missed. */
  by: string;
}

export function values(samples: readonly RunSample[], key: string): number[] {
  return samples.filter((s) => s.ok && typeof s[key] === 'number').map((s) => s[key] as number);
}

export function sp(samples: readonly RunSample[] | undefined, key: string): Spread | null {
  return samples === undefined ? null : spread(values(samples, key));
}

export function failures(samples: readonly RunSample[] | undefined): string {
  const bad = (samples ?? []).filter((s) => !s.ok);
  return bad.length === 0 ? '' : ` **${bad.length} failed** (${bad[0]!.failure})`;
}

export function progress(text: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
}

export function parseJsonLine(text: string, prefix = ''): Record<string, number> | null {
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

export function timeoutFor(lines: number, children: number): number {
  // Generous: ~20x what a slow parent needs on a busy 2-core machine, at least a minute.
  return Math.max(60_000, Math.round(lines * children * 0.05) + children * 200);
}

/** Runs argv with its output into a pipe to `load check`; every line must be there. */
export async function checkRun(argv: string[], children: number, linesPerChild: number, timeoutMs: number): Promise<CheckResult> {
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
