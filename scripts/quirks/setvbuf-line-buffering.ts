/**
 * Quirk 3: there is no line buffering on Windows: setvbuf(_IOLBF) is refused without a size
 * and means full buffering with one.
 */
import { measuredBy, type Quirk, runQuirkC, value } from './quirk.ts';

export const quirk: Quirk = {
  order: 3,
  id: 'setvbuf-line-buffering',
  title: 'setvbuf(stdout, NULL, _IOLBF, 0) fails, and _IOLBF is full buffering anyway',
  showsOn: ['win32'],
  wine: 'same',
  observed: {
    linux: { kind: 'never', why: 'a Windows quirk: glibc line-buffers with size 0' },
    wine: measuredBy('setvbuf-line-buffering', 'msvcrt build: -1/EINVAL for size 0, full buffering with 4096'),
    windows: { kind: 'documented', source: 'Microsoft docs, `setvbuf`; the article' },
    macos: { kind: 'never', why: 'a Windows C runtime quirk' },
  },
  doc: {
    problem: "A child that asks for line buffering with `setvbuf(stdout, NULL, _IOLBF, 0)` gets -1 and EINVAL on Windows; with a size it gets 0 but its lines still sit in the buffer until it fills or is flushed, so the parent sees them late and in lumps.",
    why: "The Microsoft C runtime accepts only sizes from 2 to INT_MAX (0, fine on POSIX, is an invalid parameter: under the Universal CRT a fast-fail unless a handler is installed) and documents `_IOLBF` as the same as `_IOFBF`.",
    platforms: 'Windows (msvcrt.dll and the Universal CRT).',
    handled: "The C child does not use stdio for its lines: c/child.c `write_some` hands each whole line to one `_write()` (`write()` on POSIX) as soon as it exists.",
    source: 'Microsoft docs, `setvbuf` (the accepted sizes; `_IOLBF` behaves as `_IOFBF` on Win32); the article ("The Child Code": setvbuf returns EOF on Windows).',
    alsoGuardedBy: '"the article\'s line format, alternating stdout and stderr" in test/children.test.ts (lines arrive one by one from the C child)',
  },
  async show() {
    return runQuirkC('setvbuf-line-buffering');
  },
  verify(t, shown) {
    t.equal(value(shown, 'iolbf_size0_rc'), '-1', 'setvbuf(_IOLBF, size 0) returns -1');
    t.equal(value(shown, 'iolbf_size0_errno'), '22', 'and sets errno EINVAL (22)');
    t.equal(value(shown, 'iolbf_4096_rc'), '0', 'setvbuf(_IOLBF, 4096) is accepted');
    t.equal(value(shown, 'bytes_after_line'), '0', 'but a complete line stays in the buffer (full buffering)');
    t.equal(value(shown, 'bytes_after_flush'), '9', 'it arrives only with fflush');
    t.equal(value(shown, 'write_new_bytes'), '9', 'one _write per line arrives at once');
  },
};
