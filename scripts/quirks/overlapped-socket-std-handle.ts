/**
 * Quirk 5: only non-overlapped sockets work as a child's std handles; socket() makes
 * overlapped ones. Wine accepts both, so under Wine this shows only the working side.
 */
import { runQuirkC, value, type Quirk } from './quirk.ts';

export const quirk: Quirk = {
  order: 5,
  id: 'overlapped-socket-std-handle',
  title: 'Only non-overlapped sockets (WSASocket with dwFlags 0) work as a child\'s stdout',
  showsOn: ['win32'],
  wine: 'differs',
  doc: {
    problem: "A socket made with `socket()` and handed to `CreateProcess` as the child's stdout: the child's C runtime cannot write to it, and its output never reaches the parent.",
    why: "`socket()` creates sockets with the overlapped attribute; the C runtime and the console APIs do plain synchronous `WriteFile` on std handles, which Microsoft supports only on non-overlapped sockets (KB Q131623). `WSASocket(..., dwFlags 0)` creates a non-overlapped one.",
    platforms: 'Windows (all versions).',
    handled: "Every socket of the pair is made with `WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT)` in c/io_win.c (`ipc_tcp_socket`), never `socket()`.",
    source: 'The article (its Windows socket pair uses WSASocket without WSA_FLAG_OVERLAPPED); Microsoft KB Q131623, "How to spawn console processes with redirected standard handles".',
    alsoGuardedBy: '"socketpair x c child: 3 x 20 lines, each stream complete and in order, 3 exits" in test/variants.test.ts (the C child writes through such sockets)',
    wineNote: 'Wine cannot show this quirk: its sockets are Unix sockets underneath and a child writes to an overlapped socket as well as to a non-overlapped one. Under Wine the demonstration shows both working and says that Windows differs; the test checks the non-overlapped side.',
  },
  async show(ctx) {
    const shown = runQuirkC('overlapped-socket-std-handle');
    if (ctx.underWine) shown.notes.push('Windows differs: there the overlapped socket() end does not work as the child\'s stdout. Wine cannot show this quirk.');
    return shown;
  },
  verify(t, shown, ctx) {
    t.equal(value(shown, 'nonoverlapped_exit'), '0', 'the child with a non-overlapped socket as stdout exits 0');
    t.ok(Number(value(shown, 'nonoverlapped_bytes')) > 0, `its line arrives (${value(shown, 'nonoverlapped_bytes')} bytes)`);
    const bytes = value(shown, 'overlapped_bytes');
    const exit = value(shown, 'overlapped_exit');
    if (ctx.underWine) {
      t.equal(bytes, value(shown, 'nonoverlapped_bytes'), `Wine: the overlapped socket works too (${bytes} bytes, exit ${exit}); Windows would not`);
      t.comment('saw Wine\'s behaviour: both socket kinds work (Windows refuses the overlapped one)');
    } else {
      t.ok(bytes === '0' || exit !== '0', `Windows: the overlapped socket fails the child (${bytes} bytes, exit ${exit})`);
    }
  },
};
