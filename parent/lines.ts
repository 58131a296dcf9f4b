/**
 * Line assembly and labelling, shared by every variant: chunks arrive in fragments or
 * many lines at once; each complete line goes out as `[child PID][info]: LINE` with the
 * child's bytes unchanged (never decoded).
 *
 * This is the hot path. The search for newlines and the copies run in C (c/lines.c), one
 * call per chunk rather than two copies per line in JavaScript; the whole batch is then
 * written with one write call.
 */
import { inspect } from 'node:util';
import { ipc } from './native.ts';

const NEWLINE = 0x0a;

/**
 * A partial line is held until its newline arrives, up to this size; past it the held
 * bytes go out as a line of their own, so a child that never writes a newline cannot
 * make the parent grow without bound.
 */
export const MAX_HELD_LINE_BYTES = 64 * 1024 * 1024;

/** A batch handed to the output; `release` gives its memory back once it is written. */
export interface TakenBatch {
  data: Buffer;
  release: () => void;
}

/** Spare buffers kept for reuse: enough for the writes in flight at once. */
const MAX_SPARE_BUFFERS = 4;

/** Collects formatted output for one write. */
export class OutputBatch {
  private buf: Buffer;
  private len = 0;
  /** Buffers whose writes have completed, reused instead of allocating per round: at
   * hundreds of MB/s fresh buffers pile up faster than the garbage collector frees them. */
  private readonly spare: Buffer[] = [];

  constructor(private readonly initialBytes = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.len;
  }

  append(src: Buffer, start = 0, end = src.length): void {
    const n = end - start;
    if (this.len + n > this.buf.length) this.grow(this.len + n);
    src.copy(this.buf, this.len, start, end);
    this.len += n;
  }

  /** Hands over what was collected; the batch goes on in another buffer, as an
   * asynchronous write may still be reading this one until `release` is called. */
  take(): TakenBatch {
    const full = this.buf;
    const data = full.subarray(0, this.len);
    this.buf = this.spare.pop() ?? Buffer.allocUnsafe(this.initialBytes);
    this.len = 0;
    return {
      data,
      release: () => {
        if (this.spare.length < MAX_SPARE_BUFFERS) this.spare.push(full);
      },
    };
  }

  /** For each complete line of src, appends label + line; returns how many bytes of src
   * that used (up to its last newline). The rest is a partial line for the caller. */
  appendLabelledLines(src: Buffer, label: Buffer): number {
    let used = 0;
    for (;;) {
      const r = ipc.labelLines(used === 0 ? src : src.subarray(used), src.length - used, label, this.buf, this.len);
      used += r.consumed;
      this.len = r.outLength;
      if (used === src.length || src.indexOf(NEWLINE, used) === -1) return used;
      // Out of room: make space for at least the next line, then go on.
      this.grow(this.len + label.length + (src.length - used));
    }
  }

  private grow(need: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
}

/** Sees every line an assembler relays (--timeline); `now` stamps when it was read. */
export interface LineTap {
  now(): number;
  line(text: Buffer, readAt: number): void;
}

/** One stream of one child: its label and the start of a line still waiting for "\n". */
export class LineAssembler {
  private held: Buffer[] = [];
  private heldBytes = 0;

  /** `tap`: only with --timeline. Labelling runs in C over whole chunks (c/lines.c), so
   * the lines are found again here for the tap, only when there is one. */
  constructor(readonly label: Buffer, private readonly tap: LineTap | null = null) {}

  /** Splits chunk into lines; complete ones are appended to out, labelled. */
  push(chunk: Buffer, out: OutputBatch): void {
    if (this.tap !== null) this.tapLines(chunk, this.tap);
    let start = 0;
    if (this.heldBytes > 0) {
      // The first newline completes the line held from earlier chunks.
      const nl = chunk.indexOf(NEWLINE);
      if (nl === -1) {
        this.hold(chunk, out);
        return;
      }
      out.append(this.label);
      this.releaseHeld(out);
      out.append(chunk, 0, nl + 1);
      start = nl + 1;
    }
    start += out.appendLabelledLines(start === 0 ? chunk : chunk.subarray(start), this.label);
    if (start < chunk.length) this.hold(chunk.subarray(start), out);
  }

  /** At end of stream: a last line without newline is still printed, newline added so
   * the next label starts on a line of its own. */
  end(out: OutputBatch): void {
    if (this.heldBytes === 0) return;
    if (this.tap !== null) this.tap.line(Buffer.concat(this.held), this.tap.now());
    out.append(this.label);
    this.releaseHeld(out);
    out.append(NEWLINE_BUFFER);
  }

  get pendingBytes(): number {
    return this.heldBytes;
  }

  /** The lines push() is about to relay, as it will relay them: the held start first.
   * Runs before push() changes what is held. */
  private tapLines(chunk: Buffer, tap: LineTap): void {
    let nl = chunk.indexOf(NEWLINE);
    if (nl === -1) return;
    const readAt = tap.now();
    let start = 0;
    if (this.heldBytes > 0) {
      tap.line(Buffer.concat([...this.held, chunk.subarray(0, nl)]), readAt);
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    for (; nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      tap.line(chunk.subarray(start, nl), readAt);
      start = nl + 1;
    }
  }

  private hold(rest: Buffer, out: OutputBatch): void {
    // A copy: the caller reuses its read buffer.
    this.held.push(Buffer.from(rest));
    this.heldBytes += rest.length;
    if (this.heldBytes >= MAX_HELD_LINE_BYTES) this.end(out);
  }

  private releaseHeld(out: OutputBatch): void {
    for (const piece of this.held) out.append(piece);
    this.held = [];
    this.heldBytes = 0;
  }
}

const NEWLINE_BUFFER = Buffer.from('\n');

export type StreamKind = 'info' | 'error';

/** `[child 4242][info]: ` - the label every line of a stream starts with. */
export function lineLabel(name: string, pid: number, kind: StreamKind): Buffer {
  return Buffer.from(`[${name} ${pid}][${kind}]: `);
}

/** `[child 4242] exited with code 0` / `[child 4242] killed by SIGTERM` */
export function exitLine(name: string, pid: number, how: { code: number | null; signal: string | null }): string {
  return how.signal !== null
    ? `[${name} ${pid}] killed by ${how.signal}\n`
    : `[${name} ${pid}] exited with code ${how.code}\n`;
}

/** `[child 4242] detached, still running` - printed at the parent's end for a detached
 * child it leaves running. */
export function detachedLine(name: string, pid: number): string {
  return `[${name} ${pid}] detached, still running\n`;
}

/**
 * The labels, plain or coloured (colour.ts decides which). Colour goes only around the
 * parent's own text: a coloured label is just a different label buffer, and the child's
 * bytes after it are never touched (an escape sequence a child writes passes as it is).
 *
 * Like concurrently: each child's `[child PID]` in a colour of its own, `[error]` red,
 * exit lines dim, killed-by lines yellow. A child's colour is fixed by the order children
 * are started in (first started, first colour of CHILD_COLOURS, cycling after the last),
 * so a child keeps its colour for the whole run and the same command line gives the same
 * colours each time. Red and yellow are not among them: they mean stderr and a signal.
 *
 * The escape codes come from Node's own table, `util.inspect.colors` (what
 * `util.styleText` uses, and present in every Node this project supports; `styleText`
 * itself only from 20.12). Each colour is closed by its own code (39: default colour,
 * 22: normal intensity) rather than a full reset, as styleText does.
 */
export class Labels {
  private readonly colourByPid = new Map<number, StyleName>();

  constructor(readonly colour: boolean) {}

  /** `[child 4242][info]: ` for the stream of a child. */
  line(name: string, pid: number, kind: StreamKind): Buffer {
    if (!this.colour) return lineLabel(name, pid, kind);
    const who = style(this.childColour(pid), `[${name} ${pid}]`);
    const what = kind === 'error' ? style('red', '[error]') : '[info]';
    return Buffer.from(`${who}${what}: `);
  }

  exit(name: string, pid: number, how: { code: number | null; signal: string | null }): string {
    const text = exitLine(name, pid, how);
    if (!this.colour) return text;
    // The newline stays outside the colour: output cut at a newline (head, grep) never
    // leaves a colour open for whatever the terminal shows next.
    return `${style(how.signal !== null ? 'yellow' : 'dim', text.slice(0, -1))}\n`;
  }

  detached(name: string, pid: number): string {
    return detachedLine(name, pid);
  }

  private childColour(pid: number): StyleName {
    let c = this.colourByPid.get(pid);
    if (c === undefined) {
      c = CHILD_COLOURS[this.colourByPid.size % CHILD_COLOURS.length]!;
      this.colourByPid.set(pid, c);
    }
    return c;
  }
}

/** The names, in Node's table, of the styles used here. */
type StyleName = 'red' | 'yellow' | 'dim' | 'cyan' | 'green' | 'magenta' | 'blue'
  | 'cyanBright' | 'greenBright' | 'magentaBright' | 'blueBright';

/** The children's colours, in the order they are handed out. */
export const CHILD_COLOURS: readonly StyleName[] = [
  'cyan', 'green', 'magenta', 'blue', 'cyanBright', 'greenBright', 'magentaBright', 'blueBright',
];

/** SGR (ECMA-48 "select graphic rendition"): ESC [ code m. */
function style(name: StyleName, text: string): string {
  const [open, close] = inspect.colors[name]!;
  return `\x1b[${open}m${text}\x1b[${close}m`;
}
