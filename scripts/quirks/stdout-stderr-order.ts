/**
 * Quirk 28: stdout is fully buffered when it is not a terminal, stderr never is, so a
 * child's stderr lines overtake its stdout lines. quirk_c order-child writes "out K" and
 * "err K" alternately; the project's socket pairs and select() record the order in which
 * the lines arrive.
 */
import { ipc, QUIRK_C_PATH } from '../../parent/native.ts';
import { measuredBy, newShown, side, value, waitForExit, type Quirk, type Shown } from './quirk.ts';

const LINES = 10;
const GAP_MS = 30;
const READ_LIMIT_MS = 20_000;

/** Starts order-child MODE, reads both streams as the relay does, returns the lines in arrival order. */
async function arrivals(mode: 'stdio' | 'flush'): Promise<string[]> {
  const [or, ow] = ipc.socketpair();
  const [er, ew] = ipc.socketpair();
  const order: string[] = [];
  const held = new Map<number, string>([[or, ''], [er, '']]);
  let open = [or, er];
  try {
    const pid = ipc.spawn([QUIRK_C_PATH, 'order-child', mode, String(LINES), String(GAP_MS)], { stdout: ow, stderr: ew });
    ipc.close(ow);
    ipc.close(ew);
    ipc.setNonBlocking(or);
    ipc.setNonBlocking(er);
    const buf = Buffer.alloc(64 * 1024);
    const until = Date.now() + READ_LIMIT_MS;
    while (open.length > 0 && Date.now() < until) {
      const ready = await ipc.select(open, 1000);
      // Read in the order select() lists them (stdout first when both are ready).
      for (const fd of open.filter((f) => ready.includes(f))) {
        for (;;) {
          const n = ipc.read(fd, buf);
          if (n === -1) break;
          if (n === 0) {
            open = open.filter((f) => f !== fd);
            break;
          }
          const text = held.get(fd)! + buf.toString('latin1', 0, n);
          const parts = text.split('\n');
          held.set(fd, parts.pop()!);
          // \r: the Windows C runtime writes text mode (crt-text-mode).
          for (const line of parts) order.push(line.replace(/\r$/, '').replace(/ pid \d+$/, ''));
        }
      }
    }
    await waitForExit(pid);
  } finally {
    ipc.close(or);
    ipc.close(er);
  }
  return order;
}

function record(shown: Shown, key: string, order: string[], observed: string[]): void {
  const lastErr = order.map((l) => l.startsWith('err')).lastIndexOf(true);
  const outsBefore = order.slice(0, Math.max(lastErr, 0)).filter((l) => l.startsWith('out')).length;
  observed.push(`written: out 1, err 2, out 3, ... err ${LINES}, ${GAP_MS} ms apart`);
  observed.push(`arrived: ${order.join(', ')}`);
  observed.push(`${outsBefore} of ${LINES / 2} stdout lines arrived before the last stderr line`);
  shown.values[`${key}_order`] = order.join(',');
  shown.values[`${key}_lines`] = String(order.length);
  shown.values[`${key}_outs_before_last_err`] = String(outsBefore);
}

export const quirk: Quirk = {
  order: 28,
  id: 'stdout-stderr-order',
  title: "stdout buffered, stderr not: a child's error lines overtake its output",
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'differs',
  observed: {
    linux: measuredBy('stdout-stderr-order', 'glibc: every stderr line arrived before the first stdout line'),
    wine: measuredBy('stdout-stderr-order', "Wine's msvcrt buffers stderr too when it is a socket: all stdout lines, then all stderr lines, at exit"),
    windows: { kind: 'documented', source: 'ISO C, "Files" (stderr never fully buffered); Microsoft docs, `setvbuf` and "Stream I/O" (stdout, stderr)' },
    macos: { kind: 'documented', source: 'ISO C, "Files"' },
  },
  doc: {
    problem:
      'A child that writes "out 1" to stdout, then "err 2" to stderr, then "out 3", ... through stdio, with both streams caught by the parent, ' +
      'is seen by the parent as all its stderr lines first, as they happen, and all its stdout lines at the end (or whenever the buffer fills). ' +
      'An error line shows up labelled `[error]` before the output that led to it. Separate streams never promise an order between them, but ' +
      'buffering turns "close together" into "minutes apart".',
    why:
      'ISO C fully buffers stdout when it does not refer to an interactive device, and never fully buffers stderr (glibc and the Microsoft ' +
      'C runtime leave it unbuffered). In a terminal both reach the screen at once; through a pipe or socket they do not.',
    platforms: 'All (C stdio on POSIX and Windows; other runtimes with buffered stdout and unbuffered stderr behave alike).',
    handled:
      "The project's children write each line with one write as it is made, on both streams (c/child.c `write_some`, child/child.ts " +
      '`fs.writeSync`), so the parent sees them in the order written, give or take one select() round; the parent labels each stream ' +
      'separately and never reorders what it read. For a child it does not control, the fix is in the child: flush stdout per line, or ' +
      "`stdbuf -oL` for programs that use glibc's stdio.",
    source: 'ISO C, "Files" (the buffering of stdin, stdout and stderr at start-up); the article ("The Child Code": unbuffered or line-buffered output).',
    alsoGuardedBy: '"the article\'s line format, alternating stdout and stderr" in test/children.test.ts',
    wineNote:
      "Wine's msvcrt fully buffers stderr as well when it is not a console: both streams arrived at the child's exit, stdout first, with " +
      'and without fflush(stdout). Windows documents stderr as never fully buffered; the test asserts the reordering only outside Wine ' +
      'and reports what Wine did.',
  },
  async show() {
    const shown = newShown();
    record(shown, 'stdio', await arrivals('stdio'), side(shown, 'wrong', "stdio's defaults: stdout fully buffered (a socket), stderr unbuffered"));
    record(shown, 'flush', await arrivals('flush'), side(shown, 'right', 'fflush(stdout) after every line (the project: one write per line)'));
    shown.values.half = String(LINES / 2);
    return shown;
  },
  verify(t, shown, ctx) {
    const half = Number(value(shown, 'half'));
    t.equal(value(shown, 'stdio_lines'), String(2 * half), `stdio defaults: every line arrived (${value(shown, 'stdio_order')})`);
    if (ctx.underWine) t.comment(`Wine: stderr is buffered too; ${value(shown, 'stdio_outs_before_last_err')} stdout lines came before the last stderr line`);
    else t.equal(value(shown, 'stdio_outs_before_last_err'), '0', 'but no stdout line arrived before the last stderr line');
    t.equal(value(shown, 'flush_lines'), String(2 * half), `flushed per line: every line arrived (${value(shown, 'flush_order')})`);
    t.ok(Number(value(shown, 'flush_outs_before_last_err')) >= half - 1, `and the stdout lines came along (${value(shown, 'flush_outs_before_last_err')} of ${half} before the last stderr line)`);
  },
};
