/** W4 scale: the same total volume over 3, 30 and 300 children. */
import type { Options } from './options.ts';
import { measured } from './procs.ts';
import { checkRun, progress, timeoutFor, type Results, type RunSample } from './results.ts';
import { loadWrite, scaleRows } from './rows.ts';
import { num, rotate } from './stats.ts';

export async function runW4(o: Options, res: Results, devNull: number): Promise<void> {
  const s = o.sizes;
  const rows = scaleRows();
  const mb = (s.w4TotalLines * s.lineBytes) / 1e6;
  for (const n of s.w4Children) for (const row of rows) res.w4[`${n}/${row.id}`] = { samples: [], check: null };
  for (let rep = 0; rep < s.reps; rep++) {
    for (const n of s.w4Children) {
      const perChild = Math.round(s.w4TotalLines / n);
      for (const row of rotate(rows, rep)) {
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
        progress(`W4 ${String(n).padStart(3)} children rep ${rep + 1}/${s.reps} ${row.id.padEnd(12)} ${r.m ? `${num(r.m.wall_s)} s, ${num(mb / r.m.wall_s)} MB/s` : `FAILED: ${r.failure}`}`);
      }
    }
  }
  // Every line of the largest configuration, through a pipe.
  const n = Math.max(...s.w4Children);
  const perChild = Math.round(s.w4TotalLines / n);
  for (const row of rows) {
    const check = await checkRun(row.argv(n, loadWrite(perChild, s, 'line')), n, perChild, timeoutFor(perChild, n));
    res.w4[`${n}/${row.id}`]!.check = check;
    progress(`W4 ${n} children check ${row.id.padEnd(12)} ${check.ok ? 'ok' : 'FAILED'}: ${check.detail}`);
  }
}
