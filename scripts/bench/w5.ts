/**
 * W5 handoff: connections per second for each way of handing a socket to a worker
 * (docs/handoff.md, issue 12): `npm run handoff -- --technique T --clients K`, the master
 * running K checked connections itself (banner, echo, end of file), 4 at a time.
 *
 * Each technique runs twice per repetition, with few and with many clients, one after the
 * other: the difference of the two wall times is the cost of the extra connections alone,
 * without the master's start, the workers' start and the stop that both runs pay once.
 * That marginal rate is the figure; K / wall of the large run is shown beside it.
 */
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../parent/native.ts';
import type { Options } from './options.ts';
import { measured, nodeTs } from './procs.ts';
import { progress, type Results, type RunSample } from './results.ts';
import { runsCompiled } from './rows.ts';
import { num, rotate } from './stats.ts';

export const TECHNIQUES = [
  { id: 'send', label: 'send: SCM_RIGHTS over a socket pair to N long-lived workers (the libuv guide)' },
  { id: 'inherit', label: 'inherit: a new worker per connection, the socket inherited (the Winsock FAQ)' },
  { id: 'libuv', label: "libuv: Node's subprocess.send(msg, socket) to N long-lived TS workers" },
] as const;

const HANDOFF_MAIN = join(PROJECT_ROOT, 'parent', 'handoff', 'main.ts');
const HANDOFF_MAIN_JS = join(PROJECT_ROOT, 'build', 'js', 'parent', 'handoff', 'main.js');

function handoffArgv(technique: string, clients: number): string[] {
  const args = ['--technique', technique, '--clients', String(clients)];
  return runsCompiled() ? [process.execPath, HANDOFF_MAIN_JS, ...args] : nodeTs(HANDOFF_MAIN, args);
}

/** One run: its wall time, and the summary line's count of served connections. */
async function handoffRun(technique: string, clients: number, rep: number): Promise<RunSample> {
  // Generous: 50 ms per connection (inherit starts a worker for each) on a busy machine.
  const r = await measured(handoffArgv(technique, clients), { stdout: 'pipe', timeoutMs: 60_000 + clients * 50 });
  const sample: RunSample = { rep, ok: false };
  const summary = /handoff: (\d+) of (\d+) connections served by (\d+) workers/.exec(r.stdout);
  if (r.m === null) sample.failure = r.failure ?? 'failed';
  else if (summary === null) sample.failure = 'no summary line on stdout';
  else if (Number(summary[1]) !== clients) sample.failure = `${summary[1]} of ${clients} connections served`;
  else Object.assign(sample, { ok: true, wall_s: r.m.wall_s, cpu_s: r.m.user_s + r.m.sys_s, rss_mb: r.m.maxrss_kb / 1024, workers: Number(summary[3]) });
  return sample;
}

export async function runW5(o: Options, res: Results): Promise<void> {
  const s = o.sizes;
  const [few, many] = [s.w5FewClients, s.w5Clients];
  for (const t of TECHNIQUES) {
    for (const k of ['few', 'many', 'marginal']) res.w5[`${k}/${t.id}`] = { samples: [] };
  }
  for (let rep = 0; rep < s.reps; rep++) {
    for (const t of rotate(TECHNIQUES, rep)) {
      const a = await handoffRun(t.id, few, rep);
      const b = await handoffRun(t.id, many, rep);
      res.w5[`few/${t.id}`]!.samples.push(a);
      if (b.ok) b.conn_s = many / (b.wall_s as number);
      res.w5[`many/${t.id}`]!.samples.push(b);
      const m: RunSample = { rep, ok: a.ok && b.ok };
      if (m.ok) {
        const dt = (b.wall_s as number) - (a.wall_s as number);
        // A negative or zero difference is noise larger than the signal: no figure from it.
        if (dt > 0) m.conn_s = (many - few) / dt;
        else Object.assign(m, { ok: false, failure: `the ${many}-client run was not slower than the ${few}-client run` });
      } else m.failure = a.failure ?? b.failure;
      res.w5[`marginal/${t.id}`]!.samples.push(m);
      progress(`W5 rep ${rep + 1}/${s.reps} ${t.id.padEnd(8)} ${m.ok ? `${num(m.conn_s as number, 0)} connections/s (${few}: ${num(a.wall_s as number)} s, ${many}: ${num(b.wall_s as number)} s)` : `FAILED: ${m.failure}`}`);
    }
  }
}
