/**
 * Quirk 7: on Windows a socket is not a C runtime descriptor: WSAStartup() before the first
 * socket call, closesocket() (not close()) to close it.
 */
import { ipc, isNativeError } from '../../parent/native.ts';
import { measuredBy, type Quirk, runQuirkC, side, value } from './quirk.ts';

export const quirk: Quirk = {
  order: 7,
  id: 'closesocket-wsastartup',
  title: 'WSAStartup() first, and closesocket(), not close(), for sockets',
  showsOn: ['win32'],
  wine: 'same',
  observed: {
    linux: { kind: 'never', why: 'a Windows quirk' },
    wine: measuredBy('closesocket-wsastartup', 'msvcrt build with an invalid-parameter handler installed: _close gives EBADF'),
    windows: { kind: 'documented', source: 'Microsoft docs, `WSAStartup`, `closesocket`, "Parameter validation"' },
    macos: { kind: 'never', why: 'a Windows quirk' },
  },
  doc: {
    problem:
      'POSIX code calls `socket()` straight away and closes sockets with `close()`. On Windows the first `socket()` fails with WSANOTINITIALISED, ' +
      'and `close()` (`_close`) on a SOCKET is an invalid parameter for the C runtime: under the Universal CRT its default handler ends the ' +
      'process (status 0xC0000417); with a handler installed, as this demonstration does, `_close` returns -1 with EBADF and the socket stays ' +
      'open, a leak that also keeps the peer from ever seeing end of stream.',
    why:
      'Winsock is a library that must be started per process (`WSAStartup`), and a SOCKET is not an index into the C runtime\'s descriptor ' +
      'table, so only Winsock can close it. (With the usual IFS providers a SOCKET is also a kernel file handle, which is what lets it be a ' +
      "child's std handle; with a non-IFS layered provider it is not even that.)",
    platforms: 'Windows (all versions).',
    handled: 'c/io_win.c: `ipc_io_init` calls `WSAStartup` when the addon loads, `ipc_close` uses `closesocket()`; pipes, which are HANDLEs, have their own `ipc_close_pipe` (`CloseHandle`).',
    source: 'The article ("closesocket() not close()"); Winsock Programmer\'s FAQ ("BSD Sockets Compatibility"); Microsoft docs, `WSAStartup` (WSANOTINITIALISED), "Parameter validation" (the invalid-parameter handler) and "Socket handles" (IFS providers).',
    alsoGuardedBy: '"emulated (loopback) socketpair: bytes both ways, then end-of-stream on close" in test/native.test.ts (`ipc.close` must end the stream)',
  },
  async show() {
    const shown = runQuirkC('closesocket-wsastartup');
    // The project's close: ipc.close goes through closesocket(), so the socket is really
    // gone afterwards and a second close is refused by Winsock.
    const right = side(shown, 'right', "the project's ipc.close() on a socket of ipc.socketpair()");
    const [r, w] = ipc.socketpair();
    ipc.close(r);
    right.push(`ipc.close(${r}) returned`);
    try {
      ipc.close(r);
      right.push('a second ipc.close on it succeeded: the first did not close it');
      shown.values.addon_second_close = 'succeeded';
    } catch (e) {
      const code = isNativeError(e) ? e.code : String(e);
      right.push(`a second ipc.close on it fails: ${code} (errno ${isNativeError(e) ? e.errno : '?'}): the socket is gone`);
      shown.values.addon_second_close = code;
    }
    ipc.close(w);
    return shown;
  },
  verify(t, shown) {
    t.equal(value(shown, 'before_startup_invalid'), 'yes', 'socket() before WSAStartup returns INVALID_SOCKET');
    t.equal(value(shown, 'before_startup_error'), '10093', 'with WSANOTINITIALISED (10093)');
    t.equal(value(shown, 'crt_close_rc'), '-1', '_close() on a SOCKET returns -1');
    t.equal(value(shown, 'crt_close_errno'), '9', 'with errno EBADF (9)');
    t.equal(value(shown, 'open_after_crt_close'), 'yes', 'and the socket is still open');
    t.equal(value(shown, 'closesocket_rc'), '0', 'closesocket() returns 0');
    t.equal(value(shown, 'open_after_closesocket'), 'no', 'and the socket is gone');
    t.equal(value(shown, 'addon_second_close'), 'ENOTSOCK', "after ipc.close the handle is no socket any more");
  },
};
