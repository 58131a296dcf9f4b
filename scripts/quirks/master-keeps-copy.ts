/**
 * Quirk 32: a master that keeps its copy of a socket it handed to a worker keeps the
 * connection open: the worker closes, the client sees no EOF. quirk_c master-keeps-copy
 * makes a connection on 127.0.0.1, starts a worker (quirk_c serve-once) and hands it one end:
 * POSIX, inherited across fork and exec with its number on the command line; Windows, with
 * WSADuplicateSocketW for the worker's PID and the WSAPROTOCOL_INFOW on its stdin (and, for
 * information, inherited as the Winsock FAQ does). The worker writes a banner and closes it;
 * we watch the client.
 */
import { measuredBy, runQuirkC, value, type Quirk } from './quirk.ts';

export const quirk: Quirk = {
  order: 32,
  id: 'master-keeps-copy',
  title: 'A master that keeps its copy of a handed-over socket keeps the connection open: the worker closes, the client never sees EOF',
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'partly',
  observed: {
    linux: measuredBy('master-keeps-copy', 'inherited descriptor: banner read, no EOF for 1000 ms after the worker exited; EOF at once when the master closed'),
    wine: measuredBy('master-keeps-copy', 'WSADuplicateSocketW: the same as Linux; an inherited SOCKET is a valid handle in the worker but send() on it fails with WSAENOTSOCK'),
    windows: { kind: 'documented', source: 'Microsoft docs, `closesocket` (the socket is closed when its last descriptor or handle is closed) and `WSADuplicateSocketW` (each process closes its own descriptor)' },
    macos: { kind: 'documented', source: 'POSIX `close` (the connection ends when the last descriptor for it is closed)' },
  },
  doc: {
    problem:
      'A master hands a client connection to a worker (inherited, sent with SCM_RIGHTS, or duplicated with WSADuplicateSocketW) and keeps ' +
      'its own copy. The worker answers and closes the socket, and the client waits forever: no EOF, no reset, because the connection is ' +
      'still open in the master. The leak also grows: one descriptor (handle) per connection in the master until it runs out.',
    why:
      'Handing over a socket copies a reference to it; it does not move it. The connection ends (FIN) when the last descriptor or handle for ' +
      'it is closed, in whichever process, so the worker\'s close drops one of two references. The client sees EOF the moment the master ' +
      'closes its copy.',
    platforms: 'Every platform (measured on Linux and under Wine).',
    wineNote:
      'Under Wine 8 a SOCKET handed over by inheritance (the Winsock FAQ\'s way) arrives as a valid handle that Winsock refuses: `send` ' +
      'fails with WSAENOTSOCK in the worker, so the Windows side of this demonstration hands the socket over with WSADuplicateSocketW, ' +
      'which works. The reason, read in Wine\'s dlls/ws2_32/socket.c: its send path accepts only the sockets this process\'s ws2_32 ' +
      'created itself (socket, accept, WSASocketW). The Winsock FAQ says inheritance works on Windows; that is documented only here, not run.',
    handled:
      'The handoff demo (issue 12) closes the master\'s copy as soon as the worker has it: after the spawn (`inherit`), after the send ' +
      '(`send`); Node does it for `subprocess.send(msg, socket)` unless `keepOpen`. This demonstration stands alone: quirk_c ' +
      '`master-keeps-copy` (c/quirks/both_posix.c, c/quirks/both_win.c).',
    source:
      'The Winsock FAQ, "How to Pass a Socket Handle" (the parent passes a handle and keeps its own); libuv\'s guide, "Processes" (the master ' +
      'closes the client after `uv_write2`); POSIX `close`; Microsoft docs, `closesocket`.',
  },
  async show() {
    return runQuirkC('master-keeps-copy');
  },
  verify(t, shown, ctx) {
    t.equal(value(shown, 'kept_banner'), 'yes', 'master keeps its copy: the client got the worker\'s banner');
    t.equal(value(shown, 'kept_eof'), 'no', 'but no EOF for 1000 ms after the worker closed and exited');
    t.equal(value(shown, 'kept_eof_after_master_close'), 'yes', 'EOF as soon as the master closed its copy');
    t.equal(value(shown, 'closed_banner'), 'yes', 'master closes its copy: the banner');
    t.equal(value(shown, 'closed_eof'), 'yes', 'and EOF when the worker closes');
    if (ctx.underWine) {
      // Wine's own behaviour, measured: recorded so that a Wine that fixes it is noticed.
      t.equal(value(shown, 'inherited_worker_exit'), '1', 'Wine: a worker given an inherited SOCKET fails (send: WSAENOTSOCK)');
      t.equal(value(shown, 'inherited_banner'), 'no', 'Wine: so the client gets no banner');
    }
  },
};
