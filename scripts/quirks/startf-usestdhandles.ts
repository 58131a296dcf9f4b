/**
 * Quirk 6: STARTUPINFO's hStd* fields are ignored unless dwFlags has STARTF_USESTDHANDLES.
 */
import { measuredBy, type Quirk, runQuirkC, value } from './quirk.ts';

export const quirk: Quirk = {
  order: 6,
  id: 'startf-usestdhandles',
  title: 'Without STARTF_USESTDHANDLES, hStdOutput is silently ignored',
  showsOn: ['win32'],
  wine: 'same',
  observed: {
    linux: { kind: 'never', why: 'a Windows quirk' },
    wine: measuredBy('startf-usestdhandles', "without the flag the line reached the parent's stdout, which Wine has instead of a console"),
    windows: { kind: 'documented', source: 'Microsoft docs, `STARTUPINFOW` (members ignored without the flag; the console buffer by default)' },
    macos: { kind: 'never', why: 'a Windows quirk' },
  },
  doc: {
    problem: "The parent fills `STARTUPINFO.hStdOutput` with its socket but forgets `STARTF_USESTDHANDLES`: `CreateProcess` succeeds, the socket receives nothing, and the child's lines go elsewhere (under Wine: to the parent's own stdout).",
    why:
      '`CreateProcess` reads `hStdInput`, `hStdOutput` and `hStdError` only when `dwFlags` contains `STARTF_USESTDHANDLES`. Without it, ' +
      "Microsoft documents the child's standard output as the console window's buffer; what that means for a parent without a console, or " +
      "whether the parent's own handles are passed on, is not documented. Under Wine (no console) the child wrote to the parent's stdout. No error says so.",
    platforms: 'Windows (all versions).',
    handled: 'c/spawn_win.c `create_process` sets `si.StartupInfo.dwFlags = STARTF_USESTDHANDLES` next to the three handles.',
    source: 'Microsoft docs, `STARTUPINFOW` structure (the hStd* members are read only with STARTF_USESTDHANDLES; otherwise standard output defaults to the console window\'s buffer); the article ("C - Set STARTUPINFO") sets the flag.',
    alsoGuardedBy: '"socketpair x c child: 3 x 20 lines, each stream complete and in order, 3 exits" in test/variants.test.ts',
  },
  async show() {
    const shown = runQuirkC('startf-usestdhandles');
    shown.notes.push("For the measurement the parent's own stdout is a pipe it installed with SetStdHandle, so what lands there can be counted.");
    return shown;
  },
  verify(t, shown) {
    t.equal(value(shown, 'without_flag_socket_bytes'), '0', 'without the flag the socket receives nothing');
    t.ok(Number(value(shown, 'without_flag_parent_stdout_bytes')) > 0, `the line went to the parent's stdout (${value(shown, 'without_flag_parent_stdout_bytes')} bytes)`);
    t.ok(Number(value(shown, 'with_flag_socket_bytes')) > 0, `with the flag it arrives on the socket (${value(shown, 'with_flag_socket_bytes')} bytes)`);
    t.equal(value(shown, 'with_flag_parent_stdout_bytes'), '0', "and not on the parent's stdout");
  },
};
