/** W2 latency: stamped lines, a reader after the parent takes the arrival time. */
import type { Options } from './options.ts';
import { LOAD, measuredIntoPipe } from './procs.ts';
import { parseJsonLine, progress, type Results, type RunSample } from './results.ts';
import { loadWrite, ROWS } from './rows.ts';
import { num, rotate } from './stats.ts';

export async function runW2(o: Options, res: Results): Promise<void> {
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
      progress(`W2 rep ${rep + 1}/${s.reps} ${row.id.padEnd(12)} ${sample.ok ? `p50 ${num(sample.p50_ms as number, 3)} ms, p99 ${num(sample.p99_ms as number, 3)} ms, max ${num(sample.max_ms as number, 3)} ms` : `FAILED: ${sample.failure}`}`);
    }
  }
}
