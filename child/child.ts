/**
 * The article's child in TypeScript: forever, a line to stdout, a random sleep, a line to
 * stderr, a random sleep, ...
 *
 *   TS child pid 4242 writing to stdout before sleeping 2261943 μs.
 *
 * Same options and bytes as c/child.c (see child/options.ts). Output goes through
 * fs.writeSync on fd 1 and 2, never process.stdout: on POSIX process.stdout is
 * asynchronous for pipes and sockets and loses its tail when the process exits, and on
 * Windows Node cannot wrap a socket handle as process.stdout at all (nodejs/help#2342).
 */
import { writeSync } from 'node:fs';
import { CHILD_USAGE, DEFAULT_CHILD_OPTIONS, UsageError, takeChildOption, type ChildOptions } from './options.ts';

const EXIT_USAGE = 2;
const EXIT_READER_GONE = 3;
// A Windows console shows μ only in a UTF-8 code page; the original printed "us" there.
const MICROSECONDS = process.platform === 'win32' ? 'us' : 'μs';

function parseArgs(args: readonly string[]): ChildOptions {
  const o: ChildOptions = { ...DEFAULT_CHILD_OPTIONS };
  for (let i = 0; i < args.length; ) {
    if (args[i] === '--help') {
      writeAll(1, Buffer.from(CHILD_USAGE));
      process.exit(0);
    }
    const used = takeChildOption(o, args, i);
    if (used === 0) throw new UsageError(`unknown option '${args[i]}'`);
    i += used;
  }
  return o;
}

/** xorshift32, the same generator as c/child.c, so a seed gives both the same sleeps. */
function makeRandom(seed: number): () => number {
  let state = (seed ^ 0x9e3779b9) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepUs(us: number): void {
  Atomics.wait(sleeper, 0, 0, us / 1000);
}

/** Writes the whole line; a closed reader (EPIPE, ECONNRESET, ...) ends the child. */
function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        sleepUs(1000); // a non-blocking descriptor handed to us: wait for room
        continue;
      }
      process.exit(EXIT_READER_GONE);
    }
  }
}

function formatLine(stream: 'stdout' | 'stderr', sleep: number, k: number, o: ChildOptions): Buffer {
  let text = `TS child pid ${process.pid} writing to ${stream} before sleeping ${sleep} ${MICROSECONDS}.`;
  if (o.seq) text += ` seq=${k}`;
  // performance.timeOrigin + now() is the wall clock with sub-millisecond resolution
  // (Date.now() has whole milliseconds only).
  if (o.stamp) text += ` t=${Math.round((performance.timeOrigin + performance.now()) * 1000)}`;
  let line = Buffer.from(text);
  if (o.lineBytes !== null) {
    const want = o.lineBytes - 1;
    line = line.length >= want ? line.subarray(0, want) : Buffer.concat([line, Buffer.alloc(want - line.length, '.')]);
  }
  return Buffer.concat([line, Buffer.from('\n')]);
}

function main(): void {
  let o: ChildOptions;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    writeAll(2, Buffer.from(`child.ts: ${e.message} (see --help)\n`));
    process.exit(EXIT_USAGE);
  }
  const random = makeRandom(o.seed ?? ((Date.now() / 1000) ^ Math.imul(process.pid, 2654435761)) >>> 0);
  const both = o.streams === 'both';
  let toStdout = o.streams !== 'stderr';
  let kOut = 0;
  let kErr = 0;
  for (let written = 0; o.lines === null || written < o.lines; written++) {
    const sleep = o.maxSleepMs > 0 ? random() % (o.maxSleepMs * 1000) : 0;
    const k = toStdout ? ++kOut : ++kErr;
    writeAll(toStdout ? 1 : 2, formatLine(toStdout ? 'stdout' : 'stderr', sleep, k, o));
    if (sleep > 0) sleepUs(sleep);
    if (both) toStdout = !toStdout;
  }
  process.exitCode = o.exitCode;
}

main();
