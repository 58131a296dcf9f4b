/**
 * Quirk 4: stdio buffering decides when, and in what pieces, a child's lines reach the
 * parent. Three runs of the same C child (quirk_c stdio-child) through the project's own
 * socket pair and select(), each recording the chunks a reader gets and when; then every
 * chunk goes through the project's line assembler (parent/lines.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LineAssembler, OutputBatch } from '../../parent/lines.ts';
import { ipc, QUIRK_C_PATH, signalNumber } from '../../parent/native.ts';
import { measuredBy, newShown, type Quirk, type Shown, side, value } from './quirk.ts';

const LINES = 120;
const GAP_MS = 8;
const READ_LIMIT_MS = 20_000;

interface Chunk {
  atMs: number;
  bytes: Buffer;
}

interface Run {
  chunks: Chunk[];
  exitMs: number;
  /** Lines the assembler produced, and how many had the child's exact line shape. */
  assembled: number;
  wellFormed: number;
}

/** Starts the child on a socket pair, reads every chunk until end of stream (bounded),
 * reaps it, and reassembles lines from the chunks. */
async function runChild(mode: string): Promise<Run> {
  const [r, w] = ipc.socketpair();
  const t0 = performance.now();
  const pid = ipc.spawn([QUIRK_C_PATH, 'stdio-child', mode, String(LINES), String(GAP_MS)], { stdout: w, stderr: w });
  ipc.close(w);
  ipc.setNonBlocking(r);
  const chunks: Chunk[] = [];
  const buf = Buffer.alloc(64 * 1024);
  let exitMs = -1;
  let open = true;
  try {
    while (open && performance.now() - t0 < READ_LIMIT_MS) {
      const ready = await ipc.select([r], 200);
      if (exitMs < 0 && ipc.wait(pid) !== null) exitMs = performance.now() - t0;
      if (ready.length === 0) continue;
      for (;;) {
        const n = ipc.read(r, buf);
        if (n === 0) open = false;
        if (n <= 0) break;
        chunks.push({ atMs: performance.now() - t0, bytes: Buffer.from(buf.subarray(0, n)) });
      }
    }
  } finally {
    ipc.close(r);
    if (exitMs < 0) {
      for (let i = 0; i < 100 && ipc.wait(pid) === null; i++) await sleep(20);
      exitMs = performance.now() - t0;
      if (open) ipc.kill(pid, signalNumber('SIGKILL'));
    }
  }
  // The project's assembler, fed exactly the chunks the reader got.
  const assembler = new LineAssembler(Buffer.from('[child][info]: '));
  const out = new OutputBatch();
  for (const c of chunks) assembler.push(c.bytes, out);
  assembler.end(out);
  const lines = out.take().data.toString('latin1').split('\n').filter((l) => l !== '');
  const shape = new RegExp(`^\\[child\\]\\[info\\]: stdio-child ${mode} +pid +\\d+ line \\d{4} of ${String(LINES).padStart(4, '0')} \\.\\.\\.\\.$`);
  return { chunks, exitMs, assembled: lines.length, wellFormed: lines.filter((l) => shape.test(l)).length };
}

/** Chunks that end in the middle of a line: the reader got a fragment. */
function torn(run: Run): number {
  return run.chunks.filter((c) => c.bytes[c.bytes.length - 1] !== 0x0a).length;
}

function describe(shown: Shown, key: string, run: Run, into: string[]): void {
  const sizes = run.chunks.map((c) => c.bytes.length);
  const first = run.chunks[0];
  into.push(`${run.chunks.length} chunks; sizes ${summarise(sizes)}; largest ${Math.max(0, ...sizes)} bytes`);
  into.push(`first chunk at ${first ? first.atMs.toFixed(0) : '-'} ms (${first ? first.bytes.length : 0} bytes), child exit seen at ${run.exitMs.toFixed(0)} ms`);
  into.push(`${torn(run)} chunks end mid-line; the line assembler made ${run.assembled} lines, ${run.wellFormed} of them whole and well-formed`);
  shown.values[`${key}_chunks`] = String(run.chunks.length);
  shown.values[`${key}_max_chunk`] = String(Math.max(0, ...sizes));
  shown.values[`${key}_first_chunk`] = String(first ? first.bytes.length : 0);
  shown.values[`${key}_first_ms`] = first ? first.atMs.toFixed(0) : '-1';
  shown.values[`${key}_torn_chunks`] = String(torn(run));
  shown.values[`${key}_whole_lines`] = String(run.wellFormed);
}

/** "61 x 118, 122, 4096 x 2": runs of equal sizes, in order. */
function summarise(sizes: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < sizes.length; ) {
    let j = i;
    while (j < sizes.length && sizes[j] === sizes[i]) j++;
    parts.push(j - i > 1 ? `${sizes[i]} x ${j - i}` : String(sizes[i]));
    i = j;
    if (parts.length >= 8) {
      if (i < sizes.length) parts.push('...');
      break;
    }
  }
  return parts.join(', ') || 'none';
}

export const quirk: Quirk = {
  order: 4,
  id: 'stdio-buffering',
  title: 'stdio buffering: lines arrive late and in lumps, or in fragments',
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'partly',
  observed: {
    linux: measuredBy('stdio-buffering', 'glibc: lumps with fwrite, a chunk per line with fflush; stdout only'),
    wine: measuredBy('stdio-buffering', "Wine's msvcrt: lumps with fwrite; _IONBF fragments counted, not asserted"),
    windows: { kind: 'documented', source: 'Microsoft docs, `setvbuf`; the article' },
    macos: { kind: 'documented', source: 'ISO C, "Files"' },
  },
  doc: {
    problem:
      "A child whose stdout (through printf or fwrite) is a socket or pipe is fully buffered: the parent gets nothing for a while, then 4-8 KiB lumps " +
      "that cut lines in half, and the rest only at exit. The same child's stderr is never fully buffered, so its stderr lines arrive at once " +
      'and its stdout lines later: the two streams reach the parent out of the order the child wrote them in (`stdout-stderr-order` shows it). An unbuffered child (`_IONBF`) ' +
      'on Windows delivers one line in several writes. A parent that treats each read as a line prints torn and merged lines.',
    why:
      'C stdio buffers stdout fully whenever it is not an interactive device, and never buffers stderr fully (ISO C, both platforms); Windows has no working line buffering ' +
      '(`_IOLBF` acts as `_IOFBF`); with `_IONBF` the Microsoft C runtime writes each piece of a printf separately.',
    platforms: 'All: full buffering on POSIX and Windows; fragments from `_IONBF` on Windows.',
    handled:
      'The children write each line with one write as soon as it exists (c/child.c `write_some`, child/child.ts `fs.writeSync`); the parent ' +
      'never assumes a read is a line: parent/lines.ts `LineAssembler` holds partial lines per stream and labels only whole ones.',
    source: 'ISO C, "Files" (when stdout and stderr are fully buffered); the article ("The Child Code": chunks of 4096 or 8192 bytes); Microsoft docs for setvbuf (`_IOLBF` on Win32).',
    alsoGuardedBy: 'reliability `1 exactly once` (lines of 1 B - 8 KiB torn at random points) and `2 any bytes` in test/reliability.test.ts',
    wineNote:
      "Wine's fully buffered `fwrite` matches Windows (its printf, though, flushes at every newline, so the buffered children use fwrite); " +
      'its `_IONBF` output was fragmented here too (thousands of pieces for 120 lines), though earlier measurements found mostly ' +
      'whole printf chunks in another build: the test asserts fragments only on Windows and reports the count under Wine.',
  },
  async show(ctx) {
    const shown = newShown();
    const full = await runChild('full');
    describe(shown, 'full', full, side(shown, 'wrong', 'stdio default (fully buffered: stdout is a socket), no fflush'));
    const flush = await runChild('flush');
    describe(shown, 'flush', flush, side(shown, 'right', 'fflush after every line (the project\'s children: one write per line)'));
    const unbuffered = await runChild('unbuffered');
    describe(shown, 'unbuffered', unbuffered, side(shown, 'info', 'setvbuf(stdout, NULL, _IONBF, 0): every stdio call is a write'));
    shown.values.lines = String(LINES);
    shown.notes.push(`each child writes ${LINES} lines of equal length, ${GAP_MS} ms apart, through stdio (fwrite; printf for _IONBF); the reader is the addon's select() + read()`);
    if (ctx.underWine) shown.notes.push("under Wine: Wine's msvcrt, not Microsoft's; see the catalogue's Wine note");
    return shown;
  },
  verify(t, shown, ctx) {
    const n = Number(value(shown, 'lines'));
    const num = (k: string): number => Number(value(shown, k));
    // Fully buffered: lumps of many lines, the first one late.
    t.ok(num('full_first_chunk') >= 1024, `fully buffered: the first chunk is a lump (${num('full_first_chunk')} bytes)`);
    t.ok(num('full_chunks') <= n / 4, `fully buffered: few chunks (${num('full_chunks')} for ${n} lines)`);
    t.ok(num('full_first_ms') > num('flush_first_ms'), `fully buffered: the first bytes come later (${num('full_first_ms')} ms vs ${num('flush_first_ms')} ms with fflush)`);
    t.ok(num('full_torn_chunks') >= 1, `fully buffered: lumps cut lines in half (${num('full_torn_chunks')} chunks end mid-line)`);
    // Flushed per line: about a chunk per line, none torn.
    t.ok(num('flush_chunks') >= n / 2, `fflush per line: a chunk per line or so (${num('flush_chunks')} for ${n} lines)`);
    t.ok(num('flush_first_chunk') < 1024, `fflush per line: the first chunk is small (${num('flush_first_chunk')} bytes)`);
    // The project's line assembler makes every line whole, whatever the pieces.
    for (const k of ['full', 'flush', 'unbuffered']) t.equal(num(`${k}_whole_lines`), n, `${k}: the line assembler yields all ${n} lines whole`);
    const frags = num('unbuffered_torn_chunks');
    if (ctx.platform === 'win32') {
      t.comment(ctx.underWine
        ? `_IONBF under Wine: ${frags} fragment chunks (Windows writes pieces; Wine varies by build)`
        : `_IONBF on Windows: ${frags} fragment chunks`);
      if (!ctx.underWine) t.ok(frags >= 1, `_IONBF on Windows: printf writes in pieces (${frags} chunks end mid-line)`);
    } else {
      t.comment(`_IONBF here: ${frags} chunks end mid-line (glibc/libc format each printf whole before writing)`);
    }
  },
};
