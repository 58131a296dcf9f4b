/**
 * Quirk 22: Winsock's select() keeps POSIX's signature but not all of its meaning: nfds is
 * ignored, three empty sets are an error, and a socket's overlapped attribute says nothing
 * about whether it blocks. quirk_c select-details runs the same calls on each platform.
 */
import { measuredBy, runQuirkC, value, type Quirk } from './quirk.ts';

export const quirk: Quirk = {
  order: 22,
  id: 'winsock-select-details',
  title: "Winsock's select(): nfds ignored, empty sets an error, overlapped not the same as non-blocking",
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'same',
  observed: {
    linux: measuredBy('winsock-select-details', 'the POSIX contrast: nfds 0 watches nothing, empty sets sleep'),
    wine: measuredBy('winsock-select-details', 'nfds ignored, WSAEINVAL for empty sets, socket() blocking until FIONBIO'),
    windows: { kind: 'documented', source: 'Microsoft docs, Winsock `select` (nfds ignored; WSAEINVAL) and "Socket Attribute Flags and Modes" in the Winsock SPI docs' },
    macos: { kind: 'documented', source: 'POSIX `select` (nfds; a timeout with empty sets)' },
  },
  doc: {
    problem:
      'Code ported from POSIX to Winsock meets three surprises. The first argument of `select()` does nothing: `select(0, ...)` watches every ' +
      'socket in the sets (on POSIX it watches none). Three empty sets are refused with WSAEINVAL, so the POSIX idiom "select with no descriptors ' +
      'as a precise sleep" fails, and a parent whose last child just ended, calling select() on an empty set, gets an error instead of its ' +
      'timeout. And "overlapped" is not "non-blocking": a socket from `socket()` is overlapped and still blocks in `recv` until `FIONBIO` is set; ' +
      'a non-overlapped one from `WSASocket(..., 0)` can be non-blocking too.',
    why:
      "Winsock's fd_set is a count and an array of SOCKETs, not a bitmap indexed by number, so there is no highest descriptor to give (the " +
      'parameter exists for compatibility). Select without sockets has nothing Winsock could wait on. The overlapped attribute, fixed when the ' +
      'socket is made, allows overlapped I/O calls; the blocking mode, changed at any time with ioctlsocket, governs the ordinary calls.',
    platforms: 'Windows (all versions); the POSIX behaviour is shown for contrast.',
    handled:
      "parent/relay-select.ts always puts its wakeup socket in the set, so the parent's select() never gets three empty sets; c/select.c " +
      '`ipc_select` still computes nfds, which POSIX needs and Windows ignores; every socket is made non-overlapped (WSASocketW, dwFlags 0) and only the ' +
      "parent's read ends are switched to non-blocking (ioctlsocket FIONBIO in c/io_win.c).",
    source:
      'Microsoft docs, Winsock `select` (nfds is ignored; WSAEINVAL when all three sets are empty) and "Socket Attribute Flags and Modes" ' +
      '(overlapped does not change blocking mode); POSIX `select`.',
  },
  async show() {
    return runQuirkC('select-details');
  },
  verify(t, shown, ctx) {
    if (ctx.platform === 'win32') {
      t.equal(value(shown, 'nfds0_result'), '1', 'Winsock: select(0, ...) still reports the readable socket (nfds ignored)');
      t.equal(value(shown, 'empty_sets_result'), '-1', 'Winsock: three empty sets are refused');
      t.equal(value(shown, 'empty_sets_error'), 'WSAEINVAL', 'with WSAEINVAL');
      t.equal(value(shown, 'ovl_default_error'), 'WSAETIMEDOUT', 'an overlapped socket() socket blocks in recv by default (until SO_RCVTIMEO)');
      t.ok(Number(value(shown, 'ovl_default_ms')) >= 200, `it waited (${value(shown, 'ovl_default_ms')} ms)`);
      t.equal(value(shown, 'ovl_nonblocking_error'), 'WSAEWOULDBLOCK', 'after FIONBIO the overlapped socket is non-blocking');
      t.equal(value(shown, 'nonovl_nonblocking_error'), 'WSAEWOULDBLOCK', 'and a non-overlapped socket can be non-blocking too');
    } else {
      t.equal(value(shown, 'nfds0_result'), '0', 'POSIX: select(0, ...) looks at no descriptor');
      t.equal(value(shown, 'empty_sets_result'), '0', 'POSIX: three empty sets and a timeout are a sleep');
      t.equal(value(shown, 'empty_sets_error'), 'none', 'without an error');
    }
  },
};
