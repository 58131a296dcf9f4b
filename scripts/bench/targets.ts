/** The targets of the benchmark, judged from the results. */
import type { Options } from './options.ts';
import { sp, values, type Results, type Target } from './results.ts';
import { num, type Spread } from './stats.ts';

export function evaluateTargets(o: Options, res: Results): Target[] {
  const t: Target[] = [];
  const med = (s: Spread | null): number | null => (s === null ? null : s.median);
  const missBy = (x: number, limit: number, higherIsBetter: boolean): string => {
    const pct = higherIsBetter ? (100 * (limit - x)) / limit : (100 * (x - limit)) / limit;
    return `${num(pct, 0)}% ${higherIsBetter ? 'short' : 'over'}`;
  };
  if (o.only.has('W1')) {
    for (const mode of ['line', 'buffered'] as const) {
      const spWall = med(sp(res.w1[`${mode}/socketpair`]?.samples, 'wall_s'));
      const nodeWall = med(sp(res.w1[`${mode}/libuv`]?.samples, 'wall_s'));
      // Issue 15: each variant within 1.3x of the C relay of its own transport.
      for (const [row, relay, name] of [['socketpair', 'c-relay', 'socket-pair relay'], ['posix', 'c-relay-pipe', 'pipe relay']] as const) {
        const wall = med(sp(res.w1[`${mode}/${row}`]?.samples, 'wall_s'));
        const cWall = med(sp(res.w1[`${mode}/${relay}`]?.samples, 'wall_s'));
        if (wall === null || cWall === null) continue;
        const r = wall / cWall;
        t.push({ workload: 'W1', what: `${mode}: ${row} wall ≤ 1.3× ${name}`, measured: `${num(r)}×`, pass: r <= 1.3, by: r <= 1.3 ? '' : missBy(r, 1.3, false) });
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
