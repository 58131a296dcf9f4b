/** W1 throughput: 3 children x N lines, one write per line or 64 KiB writes; plus the pipe-checked runs. */
import type { Options } from './options.ts';
import { measured } from './procs.ts';
import { checkRun, progress, timeoutFor, type Results, type RunSample } from './results.ts';
import { loadWrite, ROWS } from './rows.ts';
import { num, rotate } from './stats.ts';

export async function runW1(o: Options, res: Results, devNull: number): Promise<void> {
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
        progress(`W1 ${mode.padEnd(8)} rep ${rep + 1}/${s.reps} ${row.id.padEnd(12)} ${r.m ? `${num(r.m.wall_s)} s, ${num(mb / r.m.wall_s)} MB/s` : `FAILED: ${r.failure}`}`);
      }
    }
  }
  // The line check: a separate run per row and mode, output into a pipe.
  for (const mode of modes) {
    for (const row of ROWS) {
      const check = await checkRun(row.argv(3, loadWrite(s.w1Lines, s, mode)), 3, s.w1Lines, timeoutMs);
      res.w1[`${mode}/${row.id}`]!.check = check;
      progress(`W1 ${mode.padEnd(8)} check ${row.id.padEnd(12)} ${check.ok ? 'ok' : 'FAILED'}: ${check.detail}`);
    }
  }
}
