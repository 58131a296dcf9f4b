/**
 * Quirk 23: the Windows C runtime opens descriptors 0-2 in text mode, so a child's "\n"
 * leaves it as "\r\n". quirk_c emit-mode writes the same two lines with fd 1 in text mode
 * and in binary mode, through the project's socket pair; then the bytes go through the
 * project's line assembler, to show what the parent makes of a foreign helper's CR.
 */
import { LineAssembler, OutputBatch } from '../../parent/lines.ts';
import { ipc, QUIRK_C_PATH } from '../../parent/native.ts';
import { measuredBy, newShown, readUntilQuiet, side, value, waitForExit, type Quirk, type Shown } from './quirk.ts';

/** Bytes as a reader would want to see them: \r and \n spelled out. */
function visible(b: Buffer): string {
  return JSON.stringify(b.toString('latin1'));
}

async function emit(shown: Shown, mode: 'text' | 'binary', observed: string[]): Promise<void> {
  const [r, w] = ipc.socketpair();
  try {
    const pid = ipc.spawn([QUIRK_C_PATH, 'emit-mode', mode], { stdout: w, stderr: w });
    ipc.close(w);
    const bytes = await readUntilQuiet(r);
    const status = await waitForExit(pid);
    const assembler = new LineAssembler(Buffer.from('[helper 1][info]: '));
    const out = new OutputBatch();
    assembler.push(bytes, out);
    assembler.end(out);
    const printed = Buffer.from(out.take().data);
    observed.push(`the child wrote "one\\ntwo\\n" with one _write; the parent received ${bytes.length} bytes: ${visible(bytes)} (exit ${status?.code ?? 'hung'})`);
    observed.push(`the parent prints them unchanged: ${visible(printed)}`);
    shown.values[`${mode}_bytes`] = visible(bytes);
    shown.values[`${mode}_printed_has_cr`] = printed.includes(0x0d) ? 'yes' : 'no';
  } finally {
    ipc.close(r);
  }
}

export const quirk: Quirk = {
  order: 23,
  id: 'crt-text-mode',
  title: 'CRT text mode: a Windows child writes "\\n" as "\\r\\n" unless it sets _O_BINARY',
  showsOn: ['win32'],
  wine: 'same',
  observed: {
    linux: { kind: 'never', why: 'POSIX C libraries have no text mode: "\\n" is written as it is' },
    wine: measuredBy('crt-text-mode', "Wine's msvcrt: CR added in text mode, none after _setmode(_O_BINARY)"),
    windows: { kind: 'documented', source: 'Microsoft docs, "Text and Binary Mode File I/O" and `_setmode`; the Winsock FAQ, "How to Pass a Socket Handle" (_pipe with O_BINARY)' },
    macos: { kind: 'never', why: 'POSIX C libraries have no text mode' },
  },
  doc: {
    problem:
      'A Windows child that writes `"one\\ntwo\\n"` through the C runtime (`printf`, `fwrite`, even `_write`) sends `"one\\r\\ntwo\\r\\n"`: ' +
      'a parent that splits on `\\n` gets lines ending in `\\r`, which it prints as they are (a terminal hides it; a file, `grep one$`, ' +
      'or a byte-exact test does not). Reading works the other way: in text mode a `\\r\\n` read shrinks to `\\n`, and Ctrl-Z (0x1A) ends the file.',
    why:
      'The Microsoft C runtime opens descriptors in text mode unless `_fmode` or the open flags say otherwise, and text mode turns LF into ' +
      'CR LF on output. `_setmode(fd, _O_BINARY)` switches a descriptor to binary; the Winsock FAQ\'s example makes its pipe with `O_BINARY` for ' +
      'the same reason.',
    platforms: 'Windows (msvcrt.dll and the Universal CRT).',
    handled:
      'c/child.c sets `_setmode(_O_BINARY)` on fds 1 and 2, so the project\'s children send `\\n` only. The parent relays bytes unchanged ' +
      "(parent/lines.ts: a line ends at `\\n`, and a `\\r` before it stays part of the line), so a foreign helper's CR reaches the parent's " +
      'output as the helper wrote it: the contract is "the child\'s bytes, unchanged".',
    source: 'Microsoft docs, "Text and Binary Mode File I/O", `_setmode` and `_write`; the Winsock FAQ, "How to Pass a Socket Handle" (`_pipe(..., O_BINARY)`).',
    alsoGuardedBy: '"the article\'s line format, alternating stdout and stderr" in test/children.test.ts (byte-exact lines from the C child on Windows)',
  },
  async show() {
    const shown = newShown();
    await emit(shown, 'text', side(shown, 'wrong', "fd 1 left in the C runtime's default text mode"));
    await emit(shown, 'binary', side(shown, 'right', 'fd 1 switched with _setmode(1, _O_BINARY), as c/child.c does'));
    return shown;
  },
  verify(t, shown) {
    t.equal(value(shown, 'text_bytes'), JSON.stringify('one\r\ntwo\r\n'), 'text mode: every \\n left the child as \\r\\n');
    t.equal(value(shown, 'text_printed_has_cr'), 'yes', 'and the parent prints the \\r as part of the line (bytes unchanged)');
    t.equal(value(shown, 'binary_bytes'), JSON.stringify('one\ntwo\n'), 'binary mode: the bytes as written');
    t.equal(value(shown, 'binary_printed_has_cr'), 'no', 'no \\r in what the parent prints');
  },
};
