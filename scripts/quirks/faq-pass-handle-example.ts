/**
 * Quirk 35: two details of the Winsock FAQ's own example, "How to Pass a Socket Handle".
 * quirk_c faq-pass-handle-example re-creates its parent (not its code): `_pipe` with
 * O_BINARY, `_spawnl` of a child given the read descriptor's number (quirk_c faq-child),
 * a few problems written; then its failure check on a child that exits with code 3.
 */
import { measuredBy, runQuirkC, value, type Quirk } from './quirk.ts';

export const quirk: Quirk = {
  order: 35,
  id: 'faq-pass-handle-example',
  title: "The Winsock FAQ's example: its child inherits the pipe's write end too, and `termstat & 0x0` never detects a failed child",
  showsOn: ['win32'],
  wine: 'same',
  observed: {
    linux: { kind: 'never', why: 'the example is Windows C runtime code (_pipe, spawnl, cwait); the POSIX form of the first half is quirk inherited-write-end' },
    wine: measuredBy('faq-pass-handle-example', "with the FAQ's _pipe the child was still blocked in _read 5 s after the parent closed its write end; with O_NOINHERIT it ended; termstat 3, termstat & 0x0 = 0"),
    windows: { kind: 'documented', source: 'Microsoft docs, `_pipe` (without _O_NOINHERIT the descriptors are inheritable) and `_cwait` (termstat)' },
    macos: { kind: 'never', why: 'Windows C runtime only' },
  },
  doc: {
    problem:
      'The FAQ\'s example opens a pipe with `_pipe(hpipe, 256, O_BINARY)`, starts the child with `spawnl(P_NOWAIT, ...)` and the read ' +
      'descriptor\'s number as its argument, writes 8 problems and waits. Two things are wrong in it. The pipe\'s two ends are both ' +
      'inheritable, so the child inherits the write end as well: the example works only because the child reads exactly 8 problems; a child ' +
      'that reads until end of stream (or a parent that stops early) waits forever, since the child itself keeps a write end open (the ' +
      'inherited-write-end quirk, inside the FAQ). And its failure check `if (termstat & 0x0)` is `x & 0`, which is 0 for every exit code: ' +
      '"Child failed" can never be printed.',
    why:
      '`_pipe` without `_O_NOINHERIT` creates both handles inheritable, and `spawnl` hands every inheritable CRT descriptor to the child. ' +
      'The mask 0x0 keeps no bit. The check meant is `termstat != 0` (a non-zero exit code; `_cwait` puts the child\'s exit code in termstat).',
    platforms: 'Windows (the C runtime\'s _pipe, _spawnl, _cwait), measured under Wine.',
    handled:
      'The project never lets a child inherit a write end it does not own (PROC_THREAD_ATTRIBUTE_HANDLE_LIST on Windows, close-on-exec on ' +
      'POSIX: quirk inherited-write-end) and reports every non-zero exit code. The FAQ also says sockets pass the same way as these pipe ' +
      'descriptors; under Wine an inherited SOCKET is refused by Winsock (quirk master-keeps-copy). This demonstration stands alone: quirk_c ' +
      '`faq-pass-handle-example` (c/quirks/quirk_win.c).',
    source: 'The Winsock FAQ, "Example: How to Pass a Socket Handle" (itself based on the example of Microsoft\'s `_pipe` documentation); Microsoft docs, `_pipe` and `_cwait`.',
  },
  async show() {
    return runQuirkC('faq-pass-handle-example');
  },
  verify(t, shown) {
    t.equal(value(shown, 'faq_pipe'), 'blocked', "the FAQ's pipe: the child, holding an inherited write end, never sees end of stream");
    t.equal(value(shown, 'noinherit_pipe'), 'ended', 'with O_NOINHERIT and only the read end inherited, the child sees end of stream and ends');
    t.equal(value(shown, 'termstat'), '3', '_cwait reports the failed child\'s exit code 3');
    t.equal(value(shown, 'termstat_and_0'), '0', 'termstat & 0x0 is 0: the FAQ\'s check does not fire');
    t.equal(value(shown, 'termstat_nonzero'), 'true', 'termstat != 0 sees the failure');
  },
};
