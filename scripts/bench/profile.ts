/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`): self time per function, largest first.
 * Self time of a node = the sampling intervals whose sample landed in that node; nodes of
 * the same function (same name, file and line) are added up.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../../parent/native.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  fn: string;
  where: string;
  ms: number;
  /** Share of the samples that were not idle. */
  pctBusy: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  top: SelfTime[];
}

function where(frame: CallFrame): string {
  if (frame.url === '') return '';
  let file = frame.url;
  if (file.startsWith('file://')) {
    try {
      file = relative(PROJECT_ROOT, fileURLToPath(file));
    } catch {
      /* keep the URL */
    }
  }
  // Under tsx the line numbers are those of the transpiled module, not of the .ts file:
  // the file is shown, the line only for JavaScript files.
  return file.endsWith('.ts') ? file : `${file}:${frame.lineNumber + 1}`;
}

export function summarizeProfile(path: string, topN = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<string, SelfTime>();
  let totalUs = 0;
  let idleUs = 0;
  // timeDeltas[i] is the time from sample i-1 to sample i; it is charged to sample i-1,
  // the function that was running during that interval.
  for (let i = 0; i + 1 < p.samples.length; i++) {
    const node = byId.get(p.samples[i]!);
    const dt = p.timeDeltas[i + 1] ?? 0;
    if (node === undefined || dt <= 0) continue;
    totalUs += dt;
    const fn = node.callFrame.functionName || '(anonymous)';
    if (fn === '(idle)') idleUs += dt;
    const key = `${fn}\0${where(node.callFrame)}`;
    const entry = self.get(key) ?? { fn, where: where(node.callFrame), ms: 0, pctBusy: 0 };
    entry.ms += dt / 1000;
    self.set(key, entry);
  }
  const busyMs = (totalUs - idleUs) / 1000;
  const top = [...self.values()]
    .filter((e) => e.fn !== '(idle)')
    .sort((a, b) => b.ms - a.ms)
    .slice(0, topN)
    .map((e) => ({ ...e, pctBusy: busyMs > 0 ? (100 * e.ms) / busyMs : 0 }));
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, top };
}
