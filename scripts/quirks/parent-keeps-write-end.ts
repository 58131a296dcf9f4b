/**
 * Quirk 12: the parent's own copy of a child's write end keeps the stream open after the
 * child exits. Shown with the project's addon on every platform: the same child, once with
 * the parent keeping its copy, once with the parent closing it right after spawn.
 */
import { C_CHILD_PATH, ipc, signalNumber } from '../../parent/native.ts';
import { measuredBy, newShown, type Quirk, side, value } from './quirk.ts';

/** How long after the child's exit the parent waits for an end of stream that never comes. */
const WAIT_AFTER_EXIT_MS = 1500;
const LIMIT_MS = 15_000;

interface Observed {
  bytes: number;
  exitMs: number;
  /** ms after the exit; -1 when no end of stream came within WAIT_AFTER_EXIT_MS. */
  eofAfterExitMs: number;
  /** Keep case only: ms from closing the parent's copy to the end of stream. */
  eofAfterCloseMs: number;
}

/** Runs the C child on a socket pair; closeEarly: the parent closes its write end at once. */
async function run(closeEarly: boolean): Promise<Observed> {
  const [r, w] = ipc.socketpair();
  let wOpen = true;
  const t0 = performance.now();
  const pid = ipc.spawn([C_CHILD_PATH, '--lines', '2', '--max-sleep-ms', '0'], { stdout: w, stderr: w });
  if (closeEarly) {
    ipc.close(w);
    wOpen = false;
  }
  ipc.setNonBlocking(r);
  const buf = Buffer.alloc(64 * 1024);
  const o: Observed = { bytes: 0, exitMs: -1, eofAfterExitMs: -1, eofAfterCloseMs: -1 };
  let eof = false;
  let eofMs = -1;
  /** Reads what is there; true at end of stream. */
  const drain = (): boolean => {
    for (;;) {
      const n = ipc.read(r, buf);
      if (n === 0) return true;
      if (n < 0) return false;
      o.bytes += n;
    }
  };
  try {
    // Until both the exit and the end of stream are seen, or the wait after the exit is over.
    while ((!eof || o.exitMs < 0) && performance.now() - t0 < LIMIT_MS) {
      const ready = eof ? [] : await ipc.select([r], 50);
      if (ready.length > 0 && drain()) {
        eof = true;
        eofMs = performance.now() - t0;
      }
      if (o.exitMs < 0 && ipc.wait(pid) !== null) o.exitMs = performance.now() - t0;
      if (eof && o.exitMs < 0) await new Promise((res) => setTimeout(res, 10));
      if (!eof && o.exitMs >= 0 && performance.now() - t0 - o.exitMs > WAIT_AFTER_EXIT_MS) break;
    }
    // The stream may end a moment before the exit is seen: that counts as at once.
    if (eof && o.exitMs >= 0) o.eofAfterExitMs = Math.max(0, eofMs - o.exitMs);
    if (!eof && wOpen) {
      // The fix, late: the last write end closes, the stream ends.
      const tc = performance.now();
      ipc.close(w);
      wOpen = false;
      while (!eof && performance.now() - tc < 5000) if ((await ipc.select([r], 100)).length > 0) eof = drain();
      o.eofAfterCloseMs = eof ? performance.now() - tc : -1;
    }
  } finally {
    if (wOpen) ipc.close(w);
    ipc.close(r);
    if (o.exitMs < 0) {
      ipc.kill(pid, signalNumber('SIGKILL'));
      for (let i = 0; i < 100 && ipc.wait(pid) === null; i++) await new Promise((res) => setTimeout(res, 20));
    }
  }
  return o;
}

export const quirk: Quirk = {
  order: 12,
  id: 'parent-keeps-write-end',
  title: 'The parent keeps its copy of the write end: end of stream never comes',
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'same',
  observed: {
    linux: measuredBy('parent-keeps-write-end', 'no end of stream after the exit while the parent keeps its copy'),
    wine: measuredBy('parent-keeps-write-end', 'the same with the emulated socket pair'),
    windows: { kind: 'documented', source: 'Microsoft docs, "Anonymous Pipe Operations" and `recv` (0 at graceful close)' },
    macos: { kind: 'documented', source: 'POSIX `read` (end of file when no writer is left)' },
  },
  doc: {
    problem:
      "The article's C parent never closes its copies of the children's write ends after starting them. When a child exits, its read end " +
      'never reports end of stream, so a parent that waits for it (to flush the last partial line, to know the stream is done) waits forever.',
    why:
      'End of stream means every copy of the write end is closed, and the parent holds one: socketpair/pipe gives both ends to the parent, ' +
      'and spawning a child only adds copies.',
    platforms: 'All (POSIX descriptors and Windows socket handles alike).',
    handled:
      "Each variant closes the child's ends right after spawn (parent/variants/socketpair.ts `close` after `ipc.spawn`, the same in " +
      "pipe-thread.ts and posix.ts); parent/relay-select.ts (and c/loop_posix.c) then treats a read of 0 as the stream's end.",
    source: "The article's C parent (parent.c: the write ends stay open in the parent); POSIX read(2) (end of file when no process has the pipe open for writing); Microsoft docs, \"Anonymous Pipe Operations\" (ReadFile returns when all write handles are closed).",
    alsoGuardedBy: 'reliability `4 faults` (stdout closed early, a grandchild holding the stream) and `5 no orphans` in test/reliability.test.ts',
  },
  async show() {
    const shown = newShown();
    const kept = await run(false);
    const wrong = side(shown, 'wrong', "the parent keeps its copy of the child's write end (the article's C parent)");
    wrong.push(`the child wrote ${kept.bytes} bytes and exited at ${kept.exitMs.toFixed(0)} ms`);
    wrong.push(kept.eofAfterExitMs < 0 ? `no end of stream within ${WAIT_AFTER_EXIT_MS} ms after the exit` : `end of stream ${kept.eofAfterExitMs.toFixed(0)} ms after the exit`);
    wrong.push(`after the parent closed its copy: end of stream ${kept.eofAfterCloseMs < 0 ? 'still missing' : `${kept.eofAfterCloseMs.toFixed(0)} ms later`}`);
    const closed = await run(true);
    const right = side(shown, 'right', 'the parent closes its copy right after ipc.spawn (the project\'s variants)');
    right.push(`the child wrote ${closed.bytes} bytes and exited at ${closed.exitMs.toFixed(0)} ms`);
    right.push(closed.eofAfterExitMs < 0 ? `no end of stream within ${WAIT_AFTER_EXIT_MS} ms after the exit` : `end of stream ${closed.eofAfterExitMs.toFixed(0)} ms after the exit was seen (0: with or before it)`);
    shown.values.kept_eof_after_exit_ms = kept.eofAfterExitMs.toFixed(0);
    shown.values.kept_eof_after_close_ms = kept.eofAfterCloseMs.toFixed(0);
    shown.values.kept_bytes = String(kept.bytes);
    shown.values.closed_eof_after_exit_ms = closed.eofAfterExitMs.toFixed(0);
    shown.values.closed_bytes = String(closed.bytes);
    shown.values.wait_after_exit_ms = String(WAIT_AFTER_EXIT_MS);
    return shown;
  },
  verify(t, shown) {
    const wait = Number(value(shown, 'wait_after_exit_ms'));
    t.ok(Number(value(shown, 'kept_bytes')) > 0 && Number(value(shown, 'closed_bytes')) > 0, 'both children wrote their lines');
    t.equal(value(shown, 'kept_eof_after_exit_ms'), '-1', `parent keeps its copy: no end of stream within ${wait} ms of the exit`);
    const late = Number(value(shown, 'kept_eof_after_close_ms'));
    t.ok(late >= 0 && late < 1000, `closing the copy late ends the stream (${late} ms)`);
    const closed = Number(value(shown, 'closed_eof_after_exit_ms'));
    t.ok(closed >= 0 && closed < 1000, `parent closes its copy: end of stream right after the exit (${closed} ms)`);
  },
};
