/**
 * A --timeline trace (Chrome Trace Event Format) read into what the page draws: the
 * parent's rows (select rounds or libuv stream events, reads, writes) and a lane per
 * child stream, with the lines, spawns, signals and exits.
 *
 * Times are kept as microseconds since the first event, so numbers stay small.
 */

export interface TraceEvent {
  name: string;
  cat?: string;
  ph: string;
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

export interface TraceFile {
  traceEvents: TraceEvent[];
  otherData?: { variant?: string; cut?: boolean; dropped?: number; limit?: number };
}

/** Something on a row: an instant (d null) or a span of d microseconds from t. */
export interface Mark {
  t: number;
  d: number | null;
  kind: string;
  /** Shown on hover. */
  info: string;
  /** A line's text (lines only). */
  text?: string;
  /** A line's latency in ms, when the child stamped it. */
  latencyMs?: number;
}

export interface Row {
  /** `parent/select`, `parent/read`, `parent/write`, or `PID/TID` for a child stream. */
  id: string;
  label: string;
  marks: Mark[];
  /** For a child's rows: its pid (exits and signals span them). */
  pid: number | null;
  tid: number | null;
}

export interface Model {
  title: string;
  rows: Row[];
  /** Exits and signals: a line across the child's rows. */
  events: { pid: number; t: number; kind: 'exit' | 'signal' | 'spawn'; d: number | null; info: string }[];
  durationUs: number;
  /** The clock's value at t = 0 (microseconds since 1970). */
  originUs: number;
  cut: { dropped: number; limit: number } | null;
  lineCount: number;
}

/** Checks the shape and reads it; throws an Error naming what is wrong. */
export function parseTrace(text: string, source: string): TraceFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: not JSON (${(e as Error).message})`);
  }
  const events = (data as { traceEvents?: unknown } | null)?.traceEvents;
  if (!Array.isArray(events)) throw new Error(`${source}: no "traceEvents" array (is it a --timeline file?)`);
  for (const e of events as unknown[]) {
    const ev = e as Partial<TraceEvent> | null;
    if (ev === null || typeof ev !== 'object' || typeof ev.ph !== 'string' || typeof ev.pid !== 'number' || typeof ev.tid !== 'number') {
      throw new Error(`${source}: an event without ph, pid and tid: ${JSON.stringify(e).slice(0, 120)}`);
    }
  }
  return data as TraceFile;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const ms = (us: number): string => `${(us / 1000).toFixed(3)} ms`;

export function buildModel(trace: TraceFile): Model {
  const events = trace.traceEvents;
  const processNames = new Map<number, string>();
  const threadNames = new Map<string, string>();
  for (const e of events) {
    if (e.ph !== 'M') continue;
    if (e.name === 'process_name') processNames.set(e.pid, String(e.args?.name ?? e.pid));
    if (e.name === 'thread_name') threadNames.set(`${e.pid}/${e.tid}`, String(e.args?.name ?? e.tid));
  }
  const timed = events.filter((e) => e.ph !== 'M' && typeof e.ts === 'number');
  const originUs = timed.reduce((m, e) => Math.min(m, e.ts!), Number.POSITIVE_INFINITY);
  const endUs = timed.reduce((m, e) => Math.max(m, e.ts! + (e.dur ?? 0)), Number.NEGATIVE_INFINITY);
  const origin = Number.isFinite(originUs) ? originUs : 0;
  const rel = (e: TraceEvent): number => e.ts! - origin;

  const parentPid = [...processNames].find(([, n]) => n.startsWith('parent '))?.[0] ?? null;
  const parentName = parentPid === null ? 'parent' : processNames.get(parentPid)!;
  const streamsMode = timed.some((e) => e.pid === parentPid && e.cat === 'read' && (e.name === 'data' || e.name === 'end'));
  const selectRow: Row = { id: 'parent/select', label: streamsMode ? 'libuv (no select)' : 'select()', marks: [], pid: null, tid: null };
  const readRow: Row = { id: 'parent/read', label: streamsMode ? 'stream events' : 'read()', marks: [], pid: null, tid: null };
  const writeRow: Row = { id: 'parent/write', label: 'write (to stdout)', marks: [], pid: null, tid: null };
  const childRows = new Map<string, Row>();
  const childOrder: number[] = [];
  const model: Model = {
    title: parentName,
    rows: [],
    events: [],
    durationUs: Number.isFinite(endUs) ? Math.max(1, endUs - origin) : 1,
    originUs: origin,
    cut: trace.otherData?.cut ? { dropped: num(trace.otherData.dropped), limit: num(trace.otherData.limit) } : null,
    lineCount: 0,
  };
  const childRow = (pid: number, tid: number): Row => {
    const id = `${pid}/${tid}`;
    let row = childRows.get(id);
    if (row === undefined) {
      if (!childOrder.includes(pid)) childOrder.push(pid);
      row = { id, label: `${processNames.get(pid) ?? `pid ${pid}`} ${threadNames.get(id) ?? (tid === 2 ? 'stderr' : 'stdout')}`, marks: [], pid, tid };
      childRows.set(id, row);
    }
    return row;
  };
  // Every named child gets both lanes, even a stream that stayed silent.
  for (const [key] of threadNames) {
    const [pid, tid] = key.split('/').map(Number) as [number, number];
    if (pid !== parentPid) childRow(pid, tid);
  }

  for (const e of timed) {
    const t = rel(e);
    const a = e.args ?? {};
    switch (e.cat) {
      case 'line': {
        const written = typeof a.written === 'number' ? a.written : null;
        const latencyMs = written === null ? undefined : (e.ts! - written) / 1000;
        const text = String(a.text ?? '');
        const info = `${latencyMs === undefined ? 'read' : `latency ${latencyMs.toFixed(3)} ms, read`} at +${ms(t)}`;
        const mark: Mark = { t, d: null, kind: 'line', info, text };
        if (latencyMs !== undefined) mark.latencyMs = latencyMs;
        childRow(e.pid, e.tid).marks.push(mark);
        model.lineCount++;
        break;
      }
      case 'select':
        selectRow.marks.push({ t, d: e.dur ?? 0, kind: 'select', info: `select(): ${num(a.watched)} watched, ready [${(a.ready as unknown[] | undefined ?? []).join(',')}]${a.woken ? ' + wakeup' : ''}, ${ms(e.dur ?? 0)}` });
        break;
      case 'read':
        readRow.marks.push({ t, d: e.ph === 'X' ? (e.dur ?? 0) : null, kind: 'read', info: `${e.name} pid ${num(a.pid)}${a.fd !== undefined ? ` fd ${num(a.fd)}` : ` ${String(a.stream ?? '')}`}: ${num(a.bytes)} bytes` });
        break;
      case 'write':
        writeRow.marks.push({ t, d: e.dur ?? 0, kind: 'write', info: `write: ${num(a.bytes)} bytes, ${num(a.lines)} lines, waited ${ms(num(a.wait))} for the reader` });
        break;
      case 'spawn':
        model.events.push({ pid: num(a.pid), t, d: e.dur ?? null, kind: 'spawn', info: `spawn pid ${num(a.pid)} (${ms(e.dur ?? 0)}): ${String(a.argv ?? '')}` });
        break;
      case 'signal':
        model.events.push({ pid: num(a.pid), t, d: null, kind: 'signal', info: `${String(a.signal ?? e.name)} -> pid ${num(a.pid)} at +${ms(t)}` });
        break;
      case 'exit':
        model.events.push({ pid: num(a.pid), t, d: null, kind: 'exit', info: `pid ${num(a.pid)} ${a.signal ? `killed by ${String(a.signal)}` : `exited with code ${String(a.code)}`} at +${ms(t)}` });
        break;
      default:
        break;
    }
  }
  model.rows = [...(streamsMode ? [] : [selectRow]), readRow, writeRow];
  for (const pid of childOrder) {
    for (const tid of [1, 2]) {
      const row = childRows.get(`${pid}/${tid}`);
      if (row) model.rows.push(row);
    }
  }
  return model;
}
