/**
 * Quirk 8: how a socket becomes non-blocking differs per platform, and the article's Perl
 * parent gets it wrong on POSIX. The C demonstration (quirk_c nonblocking-mode) shows the
 * platform's calls; the project's own ipc.setNonBlocking is then checked the same way.
 */
import { ipc } from '../../parent/native.ts';
import { measuredBy, type Quirk, runQuirkC, side, value } from './quirk.ts';

export const quirk: Quirk = {
  order: 8,
  id: 'nonblocking-mode',
  title: 'Non-blocking mode: fcntl(F_SETFL) on POSIX, ioctlsocket(FIONBIO) on Windows',
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'same',
  observed: {
    linux: measuredBy('nonblocking-mode', 'F_GETFL leaves the socket blocking; F_SETFL makes read fail with EAGAIN'),
    wine: measuredBy('nonblocking-mode', 'FIONBIO = 0x8004667e; recv fails with WSAEWOULDBLOCK'),
    windows: { kind: 'documented', source: 'Microsoft docs, `ioctlsocket` (FIONBIO)' },
    macos: { kind: 'documented', source: 'POSIX `fcntl` (F_GETFL, F_SETFL, O_NONBLOCK)' },
  },
  doc: {
    problem:
      "The article's Perl parent calls `fcntl($fh, F_GETFL, O_NONBLOCK)` where it meant `F_SETFL`: the call only reads the flags and the " +
      'descriptor stays blocking. parent.pl gets away with it, because it does one `sysread` per descriptor that select() reported ready; ' +
      'a relay that drains each ready descriptor until "would block" (as this project does) would block on its first empty read and stall ' +
      'every other child. On Windows `fcntl` does not apply to sockets at ' +
      'all; Perl code there calls `ioctl($sock, 0x8004667e, ...)` with FIONBIO\'s value written as a number.',
    why:
      '`F_GETFL` ignores its third argument; `O_NONBLOCK` must be added with `F_SETFL`. Winsock sockets are switched with ' +
      '`ioctlsocket(s, FIONBIO, &on)`, and FIONBIO is `_IOW(\'f\', 126, u_long)` = 0x8004667e, while on Linux FIONBIO is a different number (0x5421).',
    platforms: 'POSIX (fcntl) and Windows (ioctlsocket) differ; the F_GETFL slip is in the article\'s Perl parent on every POSIX system.',
    handled:
      '`ipc_set_nonblocking` in c/io_posix.c (F_GETFL, then F_SETFL with O_NONBLOCK) and c/io_win.c (ioctlsocket FIONBIO), exposed as ' +
      '`ipc.setNonBlocking`; parent/relay-select.ts reads every ready descriptor until `ipc.read` returns -1 (would block), as c/loop_posix.c does for `--loop native`.',
    source: "The article's parent.pl (`fcntl(..., F_GETFL, O_NONBLOCK)`, one sysread per ready handle) and its FIONBIO constant (\"Create a Pair of Connected Sockets\"); Microsoft docs for ioctlsocket (FIONBIO); POSIX fcntl(2).",
    alsoGuardedBy: 'native `select: returns the readable subset, honours its timeout, can be woken` and reliability `3 backpressure` in test/native.test.ts and test/reliability.test.ts',
  },
  async show() {
    const shown = runQuirkC('nonblocking-mode');
    // The project's own call, on the project's own socket pair.
    const obs = side(shown, 'right', 'the project: ipc.setNonBlocking(fd), then ipc.read(fd) with nothing to read');
    const [r, w] = ipc.socketpair();
    try {
      ipc.setNonBlocking(r);
      const t0 = performance.now();
      const n = ipc.read(r, Buffer.alloc(16));
      const ms = performance.now() - t0;
      obs.push(`ipc.read returned ${n} (${n === -1 ? 'would block' : n === 0 ? 'end of stream' : 'data'}) after ${ms.toFixed(2)} ms`);
      shown.values.addon_read = String(n);
      shown.values.addon_read_ms = ms.toFixed(2);
    } finally {
      ipc.close(r);
      ipc.close(w);
    }
    return shown;
  },
  verify(t, shown, ctx) {
    const blockedMs = Number(value(shown, 'blocking_read_ms'));
    const wouldBlock = ctx.platform === 'win32' ? 'WSAEWOULDBLOCK' : 'EAGAIN';
    if (ctx.platform === 'win32') {
      t.equal(value(shown, 'fionbio'), '0x8004667e', 'FIONBIO computed by <winsock2.h> is the number Perl code hard-codes');
      t.equal(value(shown, 'blocking_read_errno'), 'none', 'a blocking socket: recv waited until a byte came');
    } else {
      t.equal(value(shown, 'getfl_nonblock'), '0', "fcntl(fd, F_GETFL, O_NONBLOCK) left O_NONBLOCK clear (the Perl parent's slip)");
      t.equal(value(shown, 'blocking_read_errno'), 'EINTR', 'so read() blocked until the timer signal interrupted it');
      t.equal(value(shown, 'setfl_nonblock'), '1', 'F_SETFL sets O_NONBLOCK');
      t.notEqual(value(shown, 'fionbio'), '0x8004667e', `FIONBIO here is ${value(shown, 'fionbio')}, not Winsock's number`);
    }
    // The blocking read waits for a 700 ms timer (POSIX) or a byte sent after 700 ms
    // (Windows); neither comes early, so this lower bound holds on any machine.
    t.ok(blockedMs >= 400, `the blocking read waited (${blockedMs} ms) instead of returning`);
    // What proves "non-blocking" is the error: a read that had waited would have returned
    // data or EINTR. The times are a separate, generous check (measured 0.00-0.01 ms here,
    // also with two busy loops running): well under the 700 ms the blocking read waits.
    const AT_ONCE_MS = 350;
    t.equal(value(shown, 'nonblocking_read_errno'), wouldBlock, `non-blocking: the read fails with ${wouldBlock}`);
    t.ok(Number(value(shown, 'nonblocking_read_ms')) < AT_ONCE_MS, `at once (${value(shown, 'nonblocking_read_ms')} ms, bound ${AT_ONCE_MS} ms)`);
    t.equal(value(shown, 'addon_read'), '-1', 'ipc.setNonBlocking: ipc.read reports "would block" (-1)');
    t.ok(Number(value(shown, 'addon_read_ms')) < AT_ONCE_MS, `and returns at once (${value(shown, 'addon_read_ms')} ms, bound ${AT_ONCE_MS} ms)`);
  },
};
