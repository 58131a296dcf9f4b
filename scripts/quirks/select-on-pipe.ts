/**
 * Quirk 2: Windows' select() is Winsock's and accepts sockets only, which is why the article
 * needs socket pairs instead of pipes.
 */
import { ipc, isNativeError } from '../../parent/native.ts';
import { measuredBy, type Quirk, runQuirkC, side, value } from './quirk.ts';

const WSAENOTSOCK = '10038';
const WSAEOPNOTSUPP = '10045';

export const quirk: Quirk = {
  order: 2,
  id: 'select-on-pipe',
  title: 'select() accepts only sockets: a pipe handle is refused',
  showsOn: ['win32'],
  wine: 'partly',
  observed: {
    linux: { kind: 'never', why: 'POSIX select() accepts pipes; test/variants.test.ts checks that it does' },
    wine: measuredBy('select-on-pipe', 'refused with WSAEOPNOTSUPP 10045, not WSAENOTSOCK'),
    windows: { kind: 'documented', source: 'Microsoft docs, Winsock `select` (WSAENOTSOCK); the article' },
    macos: { kind: 'never', why: 'POSIX select() accepts pipes' },
  },
  doc: {
    problem: 'The POSIX parent puts pipe read ends in `select()`. On Windows the same call fails with `SOCKET_ERROR` and `WSAENOTSOCK`: nothing is ever multiplexed.',
    why: '`select()` on Windows belongs to Winsock and only knows SOCKETs; pipes, files and consoles are other kinds of HANDLE (waiting on those takes other means). An anonymous pipe cannot even be read overlapped (Microsoft, "Anonymous Pipe Operations"), so the real choices are a thread that blocks on the pipe (the article\'s commit e9c71ac, our `pipe-thread` variant), polling with `PeekNamedPipe`, or a named pipe opened for overlapped I/O (what libuv does).',
    platforms: 'Windows (all versions).',
    handled: 'The children write into loopback socket pairs (c/socketpair.c, `ipc_socketpair_emulated`) and the parent selects on those (c/select.c, `ipc_select`); the `posix` variant is refused on Windows before anything starts (c/fork_exec_win.c).',
    source: 'The article ("Traditional Child Process IPC", reason 3); Microsoft docs, Winsock `select` function (WSAENOTSOCK) and "Anonymous Pipe Operations" (no overlapped I/O); libuv, src/win/pipe.c (named pipes for child stdio).',
    alsoGuardedBy: "\"select() on a pipe: Windows refuses it (the reason the article needs sockets), POSIX accepts it\" in test/variants.test.ts",
    wineNote: 'Wine refuses the pipe too, but with WSAEOPNOTSUPP (10045) instead of WSAENOTSOCK (10038); the test accepts either under Wine and says which it saw.',
  },
  async show() {
    const shown = runQuirkC('select-on-pipe');
    // The same two cases through the project's addon: what the parent would actually get.
    const wrong = side(shown, 'wrong', "the project's ipc.select() on an ipc.pipe() read end");
    const [pr, pw] = ipc.pipe();
    try {
      await ipc.select([pr], 0);
      wrong.push('ipc.select resolved: the pipe was accepted');
      shown.values.addon_pipe_code = 'accepted';
    } catch (e) {
      const code = isNativeError(e) ? e.code : String(e);
      wrong.push(`ipc.select rejected: ${code} (errno ${isNativeError(e) ? e.errno : '?'}): ${(e as Error).message}`);
      shown.values.addon_pipe_code = code;
    } finally {
      ipc.closePipe(pr);
      ipc.closePipe(pw);
    }
    const right = side(shown, 'right', "the project's ipc.select() on an ipc.socketpair() read end");
    const [r, w] = ipc.socketpair();
    try {
      const written = ipc.write(w, Buffer.from('x'));
      const ready = await ipc.select([r], 1000);
      right.push(`wrote ${written} byte, ipc.select returned [${ready.join(', ')}] (the read end is ${r})`);
      shown.values.addon_socket_ready = ready.includes(r) ? 'yes' : 'no';
    } finally {
      ipc.close(r);
      ipc.close(w);
    }
    return shown;
  },
  verify(t, shown, ctx) {
    t.equal(value(shown, 'pipe_select_rc'), '-1', 'select() on a pipe returns SOCKET_ERROR');
    const code = value(shown, 'pipe_select_error');
    const allowed = ctx.underWine ? [WSAENOTSOCK, WSAEOPNOTSUPP] : [WSAENOTSOCK];
    t.ok(allowed.includes(code), `the error is ${code} (${value(shown, 'pipe_select_error_name')})`);
    t.comment(code === WSAENOTSOCK ? 'saw WSAENOTSOCK, as Windows answers' : "saw WSAEOPNOTSUPP, Wine's answer (Windows says WSAENOTSOCK)");
    const addon = value(shown, 'addon_pipe_code');
    t.ok(addon === 'ENOTSOCK' || (ctx.underWine && addon === 'EOPNOTSUPP'), `ipc.select on a pipe is refused with ${addon}`);
    t.equal(value(shown, 'socket_select_rc'), '1', 'select() on the socket pair returns 1');
    t.equal(value(shown, 'socket_readable'), 'yes', 'the socket read end is readable');
    t.equal(value(shown, 'addon_socket_ready'), 'yes', 'ipc.select reports the socket pair readable');
  },
};
