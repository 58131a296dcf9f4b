/**
 * `--timeline FILE`: the run written in the Chrome Trace Event Format, which Perfetto UI,
 * chrome://tracing and `npm run timeline` open as they are.
 *
 * The sink observes the relay's loop; it is not a loop of its own. The relay calls it at
 * the points that exist (a select() round, a read, a line, a write, a spawn, a signal, an
 * exit). Without --timeline the sink is NO_TIMELINE, whose `enabled` is false: the hot
 * path checks it before building anything, as it does for `trace.enabled`.
 *
 * Memory stays flat however long the run: events are turned into JSON text as they come
 * and written to the file in blocks of BLOCK_BYTES; only the block in hand is held. The
 * file's size is bounded by --timeline-limit: past that many events the rest are counted,
 * not written, and the file says so (an instant event "timeline cut" where it happened,
 * and `otherData.cut`).
 *
 * One clock for all: microseconds of the wall clock since 1970, the clock the children's
 * `--stamp` uses (child/child.ts, c/child.c), so a line's `args.written` (the child's
 * stamp) and its `ts` (when the parent read it) subtract to the line's latency.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { TS_CHILD_JS_PATH, TS_CHILD_PATH } from './children.ts';
import { C_CHILD_PATH } from './native.ts';
import type { ChildSpec } from './variants/variant.ts';

/** `args.text` keeps this many bytes of a line. */
export const LINE_TEXT_BYTES = 200;
const BLOCK_BYTES = 1 << 20;

/** The parent's own track: one thread, the relay loop. */
const PARENT_TID = 1;
/** A child's stdout is thread 1 of its process, stderr thread 2. */
export const STDOUT_TID = 1;
export const STDERR_TID = 2;

/** Microseconds since 1970, sub-microsecond digits dropped: the children's --stamp clock. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** Everything the relay may tell the timeline. Times are nowUs() values. */
export interface Timeline {
  readonly enabled: boolean;
  /** The child started: from `startUs` until the variant's start returned. */
  spawn(spec: ChildSpec, pid: number, startUs: number): void;
  /** One select() round: from `startUs` until it returned `ready` (the wakeup socket
   * among them when `woken`). */
  select(startUs: number, watched: number, ready: readonly number[], woken: boolean): void;
  /** A read() of `bytes` from a descriptor (0: end of file). */
  read(startUs: number, fd: number, pid: number, bytes: number): void;
  /** libuv: a stream event ('data' with its bytes, or 'end'). */
  stream(event: 'data' | 'end', pid: number, tid: number, bytes: number): void;
  /** A complete line, as relayed (without its newline), read at `readUs`. */
  line(pid: number, tid: number, readUs: number, text: Buffer): void;
  /** A batch written: `waitUs` of it the reader made the parent wait. */
  write(startUs: number, bytes: number, lines: number, waitUs: number): void;
  signal(pid: number, signal: string): void;
  exit(pid: number, code: number | null, signal: string | null): void;
  /** Writes the end of the file. */
  close(): void;
}

/** The sink when --timeline is not given: nothing is built, nothing is kept. */
export const NO_TIMELINE: Timeline = {
  enabled: false,
  spawn: () => {},
  select: () => {},
  read: () => {},
  stream: () => {},
  line: () => {},
  write: () => {},
  signal: () => {},
  exit: () => {},
  close: () => {},
};

/** How a child is named in the trace: `child PID (C)`, `child PID (TS)`, its --config
 * name, or the command it runs. */
export function childProcessName(spec: ChildSpec, pid: number): string {
  if (spec.name !== 'child') return `${spec.name} ${pid}`;
  const argv = spec.argv;
  if (argv[0] === C_CHILD_PATH) return `child ${pid} (C)`;
  if (argv.includes(TS_CHILD_PATH) || argv.includes(TS_CHILD_JS_PATH)) return `child ${pid} (TS)`;
  return `child ${pid} (${basename(argv[0] ?? '?')})`;
}

/** ` t=DIGITS` as the children's --stamp appends it (the last one in the line). */
export function lineStamp(text: Buffer): number | null {
  const at = text.lastIndexOf(STAMP);
  if (at === -1) return null;
  let v = 0;
  let i = at + STAMP.length;
  const first = i;
  for (; i < text.length && text[i]! >= 0x30 && text[i]! <= 0x39; i++) v = v * 10 + (text[i]! - 0x30);
  return i === first ? null : v;
}
const STAMP = Buffer.from(' t=');

export interface TimelineFileOptions {
  path: string;
  /** At most this many events (metadata not counted). */
  limit: number;
  variant: string;
}

/** Opens FILE for the trace; throws (with the path and errno code) if it cannot. */
export function openTimeline(o: TimelineFileOptions): Timeline {
  return new TimelineFile(o);
}

interface TraceEvent {
  name: string;
  cat?: string;
  ph: 'M' | 'i' | 'X';
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  s?: 'g' | 'p' | 't';
  args?: Record<string, unknown>;
}

class TimelineFile implements Timeline {
  readonly enabled = true;
  private readonly fd: number;
  private block: string[] = [];
  private blockBytes = 0;
  private first = true;
  private events = 0;
  private dropped = 0;
  private closed = false;
  private readonly parentPid = process.pid;

  constructor(private readonly o: TimelineFileOptions) {
    this.fd = openSync(o.path, 'w');
    this.put('{"displayTimeUnit":"ms","traceEvents":[\n');
    this.first = true;
    this.meta(this.parentPid, PARENT_TID, `parent ${this.parentPid} (${o.variant})`, 'relay loop');
  }

  spawn(spec: ChildSpec, pid: number, startUs: number): void {
    this.meta(pid, STDOUT_TID, childProcessName(spec, pid), 'stdout');
    this.metaThread(pid, STDERR_TID, 'stderr');
    this.event({ name: 'spawn', cat: 'spawn', ph: 'X', ts: startUs, dur: nowUs() - startUs, pid: this.parentPid, tid: PARENT_TID, args: { pid, argv: spec.argv.join(' ') } });
  }

  select(startUs: number, watched: number, ready: readonly number[], woken: boolean): void {
    const end = nowUs();
    this.event({ name: 'select', cat: 'select', ph: 'X', ts: startUs, dur: end - startUs, pid: this.parentPid, tid: PARENT_TID, args: { watched, ready, woken } });
  }

  read(startUs: number, fd: number, pid: number, bytes: number): void {
    const end = nowUs();
    this.event({ name: bytes === 0 ? 'eof' : 'read', cat: 'read', ph: 'X', ts: startUs, dur: end - startUs, pid: this.parentPid, tid: PARENT_TID, args: { fd, pid, bytes } });
  }

  stream(event: 'data' | 'end', pid: number, tid: number, bytes: number): void {
    this.event({ name: event, cat: 'read', ph: 'i', s: 't', ts: nowUs(), pid: this.parentPid, tid: PARENT_TID, args: { pid, stream: streamName(tid), bytes } });
  }

  line(pid: number, tid: number, readUs: number, text: Buffer): void {
    // Past the limit a line costs a count, not a decoded copy of its text.
    if (this.closed) return;
    if (this.events >= this.o.limit) {
      this.drop();
      return;
    }
    // The hot one (a flood is millions of lines): its JSON is put together directly,
    // JSON.stringify only for the text; a third of the cost of stringifying an object.
    const shown = JSON.stringify(text.subarray(0, LINE_TEXT_BYTES).toString('utf8'));
    const bytes = text.length > LINE_TEXT_BYTES ? `,"bytes":${text.length}` : '';
    const stamp = lineStamp(text);
    const written = stamp === null ? '' : `,"written":${stamp}`;
    this.events++;
    this.putEvent(`{"name":"line","cat":"line","ph":"i","s":"t","ts":${readUs},"pid":${pid},"tid":${tid},"args":{"text":${shown}${bytes}${written}}}`);
  }

  write(startUs: number, bytes: number, lines: number, waitUs: number): void {
    const end = nowUs();
    this.event({ name: 'write', cat: 'write', ph: 'X', ts: startUs, dur: end - startUs, pid: this.parentPid, tid: PARENT_TID, args: { bytes, lines, wait: waitUs } });
  }

  signal(pid: number, signal: string): void {
    this.event({ name: signal, cat: 'signal', ph: 'i', s: 't', ts: nowUs(), pid: this.parentPid, tid: PARENT_TID, args: { pid, signal } });
  }

  exit(pid: number, code: number | null, signal: string | null): void {
    this.event({ name: 'exit', cat: 'exit', ph: 'i', s: 't', ts: nowUs(), pid: this.parentPid, tid: PARENT_TID, args: { pid, code, signal } });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const other = { tool: 'platform-ipc-harness', variant: this.o.variant, clock: 'microseconds since 1970 (wall clock), as --stamp', limit: this.o.limit, events: this.events, cut: this.dropped > 0, dropped: this.dropped };
    this.put(`\n],\n"otherData":${JSON.stringify(other)}}\n`);
    this.flush();
    closeSync(this.fd);
  }

  /** Names a process and its first thread (metadata: not counted against the limit). */
  private meta(pid: number, tid: number, processName: string, threadName: string): void {
    this.write1({ name: 'process_name', ph: 'M', pid, tid, args: { name: processName } });
    this.metaThread(pid, tid, threadName);
  }

  private metaThread(pid: number, tid: number, threadName: string): void {
    this.write1({ name: 'thread_name', ph: 'M', pid, tid, args: { name: threadName } });
    this.write1({ name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: tid } });
  }

  private event(e: TraceEvent): void {
    if (this.closed) return;
    if (this.events >= this.o.limit) {
      this.drop();
      return;
    }
    this.events++;
    this.write1(e);
  }

  /** An event past the limit: counted, not written. */
  private drop(): void {
    if (this.dropped === 0) {
      // Said where it happened, so a reader of the file sees the cut, not a quiet end.
      this.write1({ name: 'timeline cut', cat: 'cut', ph: 'i', s: 'g', ts: nowUs(), pid: this.parentPid, tid: PARENT_TID, args: { limit: this.o.limit } });
    }
    this.dropped++;
  }

  private write1(e: TraceEvent): void {
    this.putEvent(JSON.stringify(e));
  }

  private putEvent(json: string): void {
    this.put(this.first ? json : `,\n${json}`);
    this.first = false;
  }

  private put(text: string): void {
    this.block.push(text);
    this.blockBytes += text.length;
    if (this.blockBytes >= BLOCK_BYTES) this.flush();
  }

  private flush(): void {
    if (this.block.length === 0) return;
    const data = Buffer.from(this.block.join(''));
    this.block = [];
    this.blockBytes = 0;
    for (let off = 0; off < data.length; ) off += writeSync(this.fd, data, off);
  }
}

function streamName(tid: number): string {
  return tid === STDERR_TID ? 'stderr' : 'stdout';
}

/** Lines in a batch about to be written (labelled lines and exit lines alike). */
export function countLines(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(0x0a); i !== -1; i = data.indexOf(0x0a, i + 1)) n++;
  return n;
}
