/**
 * Quirk 20: O_NONBLOCK belongs to the open file description, which the child shares. Set it
 * on the child's end and the child's writes fail with EAGAIN as soon as the parent reads
 * more slowly than it writes. Shown with the project's addon and `dd` as the child: 4 MiB
 * into a socket pair whose reader does not read until dd has exited or 2 s have passed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ipc } from '../../parent/native.ts';
import { measuredBy, newShown, readUntilQuiet, side, value, waitForExit, type Quirk, type Shown } from './quirk.ts';

const BLOCK_BYTES = 65_536;
const BLOCKS = 64;
const TOTAL_BYTES = BLOCK_BYTES * BLOCKS;
/** How long the parent does not read. 4 MiB never fit a socket's buffer, so a blocking dd is
 * still waiting then, and a non-blocking one has long failed: no race either way. */
const READER_PAUSE_MS = 2000;

/** Runs dd with its stdout on a socket pair; `nonBlockingEnd` says which end is made non-blocking. */
async function runDd(shown: Shown, key: string, nonBlockingEnd: 'child' | 'parent', observed: string[]): Promise<void> {
  const [r, w] = ipc.socketpair();
  const [er, ew] = ipc.socketpair();
  try {
    if (nonBlockingEnd === 'child') ipc.setNonBlocking(w);
    else ipc.setNonBlocking(r);
    // LC_ALL=C: dd's complaint in English, whatever the machine's locale.
    const env = [...Object.entries(process.env).filter(([k]) => !k.startsWith('LC_') && k !== 'LANG').map(([k, v]) => `${k}=${v ?? ''}`), 'LC_ALL=C'];
    const pid = ipc.spawn(['dd', 'if=/dev/zero', `bs=${BLOCK_BYTES}`, `count=${BLOCKS}`], { stdout: w, stderr: ew, env });
    ipc.close(w);
    ipc.close(ew);
    // Not reading yet: only see whether dd ends by itself meanwhile.
    let early = ipc.wait(pid);
    for (let waited = 0; early === null && waited < READER_PAUSE_MS; waited += 20) {
      await sleep(20);
      early = ipc.wait(pid);
    }
    observed.push(early === null
      ? `after ${READER_PAUSE_MS} ms without a reader dd was still running: blocked until the parent reads`
      : `without a reader dd ended by itself (${early.signal !== null ? `signal ${early.signal}` : `code ${early.code}`})`);
    shown.values[`${key}_ended_unread`] = early === null ? 'no' : 'yes';
    const out = await readUntilQuiet(r, 5000);
    const err = (await readUntilQuiet(er, 2000)).toString('utf8').trim();
    const status = early ?? (await waitForExit(pid));
    const exit = status === null ? 'hung' : status.signal !== null ? `signal ${status.signal}` : `code ${status.code}`;
    const complaint = err.split('\n').find((l) => /error|Resource|unavailable/i.test(l)) ?? '(no error message)';
    observed.push(`the parent received ${out.length} of ${TOTAL_BYTES} bytes; dd ended with ${exit}`);
    observed.push(`dd said: ${complaint}`);
    shown.values[`${key}_bytes`] = String(out.length);
    shown.values[`${key}_exit`] = exit;
    shown.values[`${key}_eagain`] = /Resource temporarily unavailable|EAGAIN|would block/i.test(err) ? 'yes' : 'no';
  } finally {
    ipc.close(r);
    ipc.close(er);
  }
}

export const quirk: Quirk = {
  order: 20,
  id: 'nonblocking-shared-with-child',
  title: "Non-blocking mode on the child's end is the child's too: its writes fail with EAGAIN",
  showsOn: ['linux', 'darwin'],
  observed: {
    linux: measuredBy('nonblocking-shared-with-child', 'dd into a socket pair, reader paused 300 ms'),
    wine: { kind: 'never', why: 'not demonstrated: whether FIONBIO on the parent\'s copy reaches a child\'s WriteFile on the inherited socket was not tried' },
    windows: { kind: 'never', why: 'not demonstrated and not documented for std handles' },
    macos: { kind: 'documented', source: 'POSIX `open` and `fcntl` (O_NONBLOCK is a file status flag of the open file description, shared by duplicates)' },
  },
  doc: {
    problem:
      "A parent that makes both ends of its socket pair (or pipe) non-blocking, or the wrong end, hands the child a non-blocking stdout. The " +
      'child, written for a blocking one, gets EAGAIN as soon as the buffer is full, that is as soon as the parent reads a little late: a ' +
      'C program or a shell utility reports "Resource temporarily unavailable" and stops, output lost.',
    why:
      'O_NONBLOCK is a flag of the open file description, not of the descriptor: dup2 in the child, fork and exec all share the description, ' +
      "so setting it in the parent on the child's end sets it for the child. (FD_CLOEXEC, by contrast, is per descriptor.)",
    platforms: 'POSIX (pipes and sockets alike). On Windows non-blocking mode is a property of the socket (FIONBIO); its effect on a child\'s std handle was not tried here.',
    handled:
      'The variants make only the parent\'s read ends non-blocking (parent/variants/channels.ts, `ipc.setNonBlocking` on the read end after ' +
      "the spawn); the child's ends stay blocking, so a child waits when the parent is slow, as it should (backpressure).",
    source: 'POSIX `open` (file status flags belong to the open file description) and `fcntl`; the article ("enable non-blocking I/O" on the socket pair; its Perl parent sets it on the read end only).',
    alsoGuardedBy: 'reliability `3 backpressure` in test/reliability.test.ts (a slow reader loses nothing)',
  },
  async show() {
    const shown = newShown();
    await runDd(shown, 'child_end', 'child', side(shown, 'wrong', "O_NONBLOCK on the child's end (the write end the child gets as stdout)"));
    await runDd(shown, 'parent_end', 'parent', side(shown, 'right', "O_NONBLOCK on the parent's read end only"));
    shown.values.total = String(TOTAL_BYTES);
    shown.notes.push(`the child is dd writing ${BLOCKS} blocks of ${BLOCK_BYTES} bytes; the parent reads nothing for ${READER_PAUSE_MS} ms (or until dd ends), then reads everything`);
    return shown;
  },
  verify(t, shown) {
    const total = Number(value(shown, 'total'));
    t.ok(Number(value(shown, 'child_end_bytes')) < total, `non-blocking child end: output lost (${value(shown, 'child_end_bytes')} of ${total} bytes)`);
    t.notEqual(value(shown, 'child_end_exit'), 'code 0', `and dd failed (${value(shown, 'child_end_exit')})`);
    t.equal(value(shown, 'child_end_eagain'), 'yes', 'with EAGAIN ("Resource temporarily unavailable")');
    t.equal(value(shown, 'child_end_ended_unread'), 'yes', 'it gave up while the parent was not reading');
    t.equal(value(shown, 'parent_end_ended_unread'), 'no', 'blocking child end: dd waited for the reader instead');
    t.equal(value(shown, 'parent_end_bytes'), String(total), 'non-blocking read end only: every byte arrives');
    t.equal(value(shown, 'parent_end_exit'), 'code 0', 'and dd exits 0');
  },
};
