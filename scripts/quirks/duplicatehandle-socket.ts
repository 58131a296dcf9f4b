/**
 * Quirk 34: DuplicateHandle on a SOCKET. quirk_c duplicatehandle-socket duplicates the
 * accepted socket within its own process and into a worker (quirk_c serve-once handle), and
 * hands it over with WSADuplicateSocketW for contrast.
 */
import { measuredBy, runQuirkC, value, type Quirk } from './quirk.ts';

export const quirk: Quirk = {
  order: 34,
  id: 'duplicatehandle-socket',
  title: 'DuplicateHandle on a SOCKET: Microsoft says use WSADuplicateSocket (layered providers break it), though the Winsock FAQ calls sockets and file handles the same',
  showsOn: ['win32'],
  wine: 'differs',
  observed: {
    linux: { kind: 'never', why: 'Windows handles only (on POSIX a socket is a descriptor: dup and SCM_RIGHTS work on it like on a file)' },
    wine: measuredBy('duplicatehandle-socket', 'DuplicateHandle succeeds, but Winsock refuses the duplicate (WSAENOTSOCK), in this process and in a worker; WSADuplicateSocketW served the client'),
    windows: {
      kind: 'documented',
      source: 'Microsoft docs, "Socket Handles" (Winsock): a socket handle should not be used with DuplicateHandle; with layered service providers it can fail and the target cannot import it',
    },
    macos: { kind: 'never', why: 'Windows handles only' },
  },
  doc: {
    problem:
      'The Winsock FAQ\'s "How to Pass a Socket Handle" says file handles and socket descriptors are the same thing in Win32, which suggests ' +
      'any handle tool works on a socket. Microsoft says a socket handle should not be given to `DuplicateHandle`: when a layered service ' +
      'provider (LSP) sits on the socket, the duplicate can fail and the target process has no way to import it. Under Wine, which has no ' +
      'LSPs, DuplicateHandle succeeds and yet Winsock refuses the duplicate: `getsockopt` and `send` fail with WSAENOTSOCK, in the same ' +
      'process and in a worker. `WSADuplicateSocketW` works in both places.',
    why:
      'A layered provider hands out socket numbers of its own on top of the base provider\'s handles and keeps state for each; ' +
      'DuplicateHandle copies a kernel handle and tells no provider, while WSADuplicateSocket goes through them (Microsoft, "Socket Handles" ' +
      'and "Descriptor Allocation"). Wine refuses the duplicate for a reason of its own, not the LSP case: see the Wine note.',
    platforms: 'Windows (Winsock 2; with non-IFS or layered providers, which are deprecated since Windows 8 but still met).',
    handled:
      'The handoff demo (issue 12) never duplicates a socket with DuplicateHandle: `send` uses WSADuplicateSocketW, `inherit` lets ' +
      'CreateProcess inherit the SOCKET. This demonstration stands alone: quirk_c `duplicatehandle-socket` (c/quirks/quirk_win.c).',
    source:
      'Microsoft docs, "Socket Handles" (Winsock) and `WSADuplicateSocketW`; the Winsock FAQ, "How to Pass a Socket Handle" ("file handles ' +
      'and socket descriptors are the same thing in Win32").',
    wineNote:
      'Wine\'s ws2_32 (dlls/ws2_32/socket.c, read for this entry) keeps a per-process list of the sockets it created (socket, accept, ' +
      'WSASocketW, including a WSASocketW from protocol info) and its send path refuses any other handle with WSAENOTSOCK, though the ' +
      'handle is a valid socket object: so a DuplicateHandle copy, and an inherited SOCKET too (see master-keeps-copy), fail under Wine. ' +
      'That is Wine\'s behaviour, not the LSP failure, which is documented only.',
  },
  async show() {
    return runQuirkC('duplicatehandle-socket');
  },
  verify(t, shown, ctx) {
    t.equal(value(shown, 'local_duplicate'), 'ok', 'DuplicateHandle on a SOCKET succeeds');
    t.equal(value(shown, 'remote_duplicate'), 'ok', 'also into a worker');
    if (ctx.underWine) {
      t.equal(value(shown, 'local_send'), 'WSAENOTSOCK', 'Wine: Winsock refuses the duplicate (send: WSAENOTSOCK)');
      t.equal(value(shown, 'remote_error'), 'WSAENOTSOCK', 'Wine: the worker\'s send on its duplicate fails with WSAENOTSOCK');
      t.equal(value(shown, 'remote_banner'), 'no', 'Wine: so the client gets nothing');
    }
    t.equal(value(shown, 'wsadup_exit'), '0', 'WSADuplicateSocketW for the worker: it serves');
    t.equal(value(shown, 'wsadup_banner'), 'yes', 'and the client reads its banner');
  },
};
