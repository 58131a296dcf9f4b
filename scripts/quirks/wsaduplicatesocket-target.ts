/**
 * Quirk 33: WSADuplicateSocketW makes its WSAPROTOCOL_INFOW for one process ID. quirk_c
 * wsaduplicatesocket-target starts two workers first (quirk_c serve-once info), duplicates
 * the accepted socket for worker A, gives the bytes to worker B, then to A; and asks for a
 * process ID of no process.
 */
import { measuredBy, runQuirkC, value, type Quirk } from './quirk.ts';

export const quirk: Quirk = {
  order: 33,
  id: 'wsaduplicatesocket-target',
  title: "WSADuplicateSocketW needs the target's process ID: the worker must exist first, and the duplicate is valid only there",
  showsOn: ['win32'],
  wine: 'partly',
  observed: {
    linux: { kind: 'never', why: 'WSADuplicateSocketW is Winsock; POSIX sends the descriptor itself with SCM_RIGHTS, to whichever process reads it' },
    wine: measuredBy('wsaduplicatesocket-target', 'a PID of no process: WSAEINVAL; the info made for A, used in B: WSASocketW gave a number that is no handle in B, send failed with WSAENOTSOCK; in A it served the client'),
    windows: { kind: 'documented', source: 'Microsoft docs, `WSADuplicateSocketW` (dwProcessId: the target process; the descriptor is for that process only) and "Shared Sockets"' },
    macos: { kind: 'never', why: 'Winsock only' },
  },
  doc: {
    problem:
      'A master that wants to hand a socket to a worker the Winsock 2 way calls `WSADuplicateSocketW(socket, workerPid, &info)` and sends ' +
      'the WSAPROTOCOL_INFOW bytes; the worker rebuilds the socket with `WSASocketW(FROM_PROTOCOL_INFO, ...)`. Two consequences: the worker ' +
      'must already exist (its process ID is an argument), so the socket cannot be named on its command line as with inheritance; and the ' +
      'bytes are good only in that process: a master that picks the worker after duplicating, or a worker that forwards the bytes, hands ' +
      'over nothing usable. Under Wine a process other than the target got a SOCKET number from WSASocketW that is no handle there, so the ' +
      'error appears only at the first `send` (WSAENOTSOCK).',
    why:
      'The duplicate is made into the target process at the time of the call (Wine does it with DuplicateHandle into that process and ' +
      'puts the value in the info); the bytes carry a reference meaningful only there.',
    platforms: 'Windows (Winsock 2; all versions). libuv uses it on Windows for `uv_write2` with a handle.',
    handled:
      'The handoff demo (issue 12, `send` technique on Windows) starts its workers first and duplicates each accepted socket for the worker ' +
      'chosen by the round robin, just before writing to that worker\'s channel. This demonstration stands alone: quirk_c ' +
      '`wsaduplicatesocket-target` (c/quirks/quirk_win.c) with its helper `serve-once info` (c/quirks/both_win.c).',
    source: 'Microsoft docs, `WSADuplicateSocketW` and "Shared Sockets"; libuv\'s guide, "Processes", "Sending file descriptors over pipes".',
    wineNote:
      'Under Wine 8 the info used in a process other than the target made WSASocketW return a number (no error) that is no handle in that ' +
      'process; the failure came at send (WSAENOTSOCK). What real Windows returns there is documented only.',
  },
  async show() {
    return runQuirkC('wsaduplicatesocket-target');
  },
  verify(t, shown) {
    t.equal(value(shown, 'no_process_result'), 'WSAEINVAL', 'a process ID of no process is refused (WSAEINVAL)');
    t.equal(value(shown, 'other_exit'), '1', 'the info made for A fails in worker B');
    t.equal(value(shown, 'other_error'), 'WSAENOTSOCK', 'with WSAENOTSOCK (Wine: at send)');
    t.equal(value(shown, 'other_banner'), 'no', 'and the client gets nothing from B');
    t.equal(value(shown, 'target_exit'), '0', 'the same bytes in worker A work');
    t.equal(value(shown, 'target_banner'), 'yes', 'and the client reads A\'s banner');
  },
};
