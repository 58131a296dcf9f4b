/** W3 spawn: 100 x /bin/true through each way of starting a child; the parents' own start-up. */
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../parent/native.ts';
import type { Options } from './options.ts';
import { measured, nodeTs, RELAY, runGroup } from './procs.ts';
import { parseJsonLine, progress, type Results, type RunSample } from './results.ts';
import { ROWS, TSX_ROW } from './rows.ts';
import { num, rotate } from './stats.ts';

export interface Spawner {
  id: string;
  label: string;
  argv(batch: 'serial' | 'all', count: number): string[];
  /** Where its JSON line is: stdout (spawn.ts) or stderr with a prefix (relay). */
  parse(r: { stdout: string; stderr: string }): Record<string, number> | null;
}

export const SPAWN_TS = join(PROJECT_ROOT, 'scripts', 'bench', 'spawn.ts');

export function spawnTs(how: string, label: string, id: string): Spawner {
  return {
    id,
    label,
    argv: (batch, count) => nodeTs(SPAWN_TS, ['--how', how, '--batch', batch, '--count', String(count)]),
    parse: (r) => parseJsonLine(r.stdout),
  };
}

export const SPAWNERS: readonly Spawner[] = [
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

export async function runW3(o: Options, res: Results, devNull: number): Promise<void> {
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
      progress(`W3 startup rep ${rep + 1}/${s.reps} ${row.id.padEnd(12)} ${r.m ? `${num(r.m.wall_s)} s` : `FAILED: ${r.failure}`}`);
    }
  }
}
