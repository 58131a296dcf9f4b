/**
 * Quirk 9: Winsock reports errors through WSAGetLastError(), never errno.
 */
import { ipc, isNativeError } from '../../parent/native.ts';
import { measuredBy, type Quirk, runQuirkC, side, value } from './quirk.ts';

export const quirk: Quirk = {
  order: 9,
  id: 'wsa-error-codes',
  title: 'Winsock errors are in WSAGetLastError(), not errno',
  showsOn: ['win32'],
  wine: 'same',
  observed: {
    linux: { kind: 'never', why: 'POSIX sockets set errno' },
    wine: measuredBy('wsa-error-codes'),
    windows: { kind: 'documented', source: 'Microsoft docs, "Windows Sockets Error Codes", `WSAGetLastError`' },
    macos: { kind: 'never', why: 'POSIX sockets set errno' },
  },
  doc: {
    problem: 'Code that reads `errno` (or `perror`/`strerror`) after a failed `connect`, `recv` or `select` finds 0 or a stale value on Windows, and reports nonsense or treats "would block" as a fatal error.',
    why: 'Winsock keeps its own per-thread error, read with `WSAGetLastError()`, with its own numbers (WSAEWOULDBLOCK 10035, WSAECONNREFUSED 10061, ...); other Win32 calls use `GetLastError()`. Neither touches the C runtime\'s errno.',
    platforms: 'Windows (all versions).',
    handled: 'c/errors_win.c: `ipc_fail_socket` reads `WSAGetLastError()`, `ipc_fail_system` reads `GetLastError()`, and one table turns both into the errno names the rest of the project uses (errors from `ipc.*` carry `code` like ENOTSOCK and the Windows number in `errno`); c/io_win.c turns WSAEWOULDBLOCK into "nothing yet".',
    source: 'Winsock Programmer\'s FAQ ("BSD Sockets Compatibility": error codes); Microsoft docs, "Windows Sockets Error Codes" and `WSAGetLastError`.',
    alsoGuardedBy: '"spawn: missing program -> ENOENT with the path; wait and kill report exits" in test/native.test.ts (a GetLastError code arrives as ENOENT)',
  },
  async show() {
    const shown = runQuirkC('wsa-error-codes');
    const right = side(shown, 'right', "the project's conversion (c/errors_win.c): errors from ipc.* carry errno names");
    const convert = (label: string, key: string, f: () => unknown): void => {
      try {
        const r = f();
        right.push(`${label}: no error (returned ${String(r)})`);
        shown.values[key] = 'no error';
      } catch (e) {
        const got = isNativeError(e) ? `${e.code} ${e.errno}` : `not a native error: ${String(e)}`;
        right.push(`${label}: code ${isNativeError(e) ? e.code : '?'}, errno ${isNativeError(e) ? e.errno : '?'} (${(e as Error).message})`);
        shown.values[key] = got;
      }
    };
    const [r, w] = ipc.socketpair();
    ipc.setNonBlocking(r);
    const n = ipc.read(r, Buffer.alloc(16));
    right.push(`ipc.read on an empty non-blocking socket returned ${n} (WSAEWOULDBLOCK means "nothing yet", not an error)`);
    shown.values.addon_read_empty = String(n);
    ipc.close(r);
    ipc.close(w);
    convert('ipc.read on a closed socket', 'addon_read_closed', () => ipc.read(r, Buffer.alloc(16)));
    const [pr, pw] = ipc.pipe();
    try {
      await ipc.select([pr], 0);
      right.push('ipc.select on a pipe: no error');
      shown.values.addon_select_pipe = 'no error';
    } catch (e) {
      right.push(`ipc.select on a pipe: code ${isNativeError(e) ? e.code : '?'}, errno ${isNativeError(e) ? e.errno : '?'}`);
      shown.values.addon_select_pipe = isNativeError(e) ? `${e.code} ${e.errno}` : String(e);
    } finally {
      ipc.closePipe(pr);
      ipc.closePipe(pw);
    }
    return shown;
  },
  verify(t, shown, ctx) {
    t.equal(value(shown, 'connect_rc'), '-1', 'connect() to a closed port fails');
    t.equal(value(shown, 'connect_errno'), '0', 'errno is left at 0');
    t.equal(value(shown, 'connect_wsa'), '10061', 'WSAGetLastError() says WSAECONNREFUSED (10061)');
    t.equal(value(shown, 'recv_rc'), '-1', 'recv() on an empty non-blocking socket fails');
    t.equal(value(shown, 'recv_errno'), '0', 'errno is left at 0');
    t.equal(value(shown, 'recv_wsa'), '10035', 'WSAGetLastError() says WSAEWOULDBLOCK (10035)');
    t.equal(value(shown, 'addon_read_empty'), '-1', 'ipc.read turns WSAEWOULDBLOCK into -1 ("nothing yet")');
    t.equal(value(shown, 'addon_read_closed'), 'ENOTSOCK 10038', 'ipc.read on a closed socket: code ENOTSOCK, errno 10038');
    const sel = value(shown, 'addon_select_pipe');
    const allowed = ctx.underWine ? ['ENOTSOCK 10038', 'EOPNOTSUPP 10045'] : ['ENOTSOCK 10038'];
    t.ok(allowed.includes(sel), `ipc.select on a pipe: ${sel}`);
    if (sel === 'EOPNOTSUPP 10045') t.comment("saw Wine's WSAEOPNOTSUPP for select() on a pipe (Windows: WSAENOTSOCK)");
  },
};
