/**
 * Quirk 17: narrow text on Windows is in a code page, not UTF-8: μ does not survive.
 */
import { spawnSync } from 'node:child_process';
import { C_CHILD_PATH } from '../../parent/native.ts';
import { measuredBy, type Quirk, runQuirkC, side, value } from './quirk.ts';

const CP_UTF8 = '65001';

export const quirk: Quirk = {
  order: 17,
  id: 'console-code-page',
  title: 'Narrow output goes through a code page: "μ" does not survive a Windows console',
  showsOn: ['win32'],
  wine: 'differs',
  observed: {
    linux: { kind: 'never', why: 'Linux passes bytes; a UTF-8 terminal shows them' },
    wine: measuredBy('console-code-page', 'ANSI code page from the Unix locale (1252 under C.UTF-8); no console'),
    windows: { kind: 'documented', source: 'Microsoft docs, "Code Pages", `GetACP`, `GetConsoleOutputCP`' },
    macos: { kind: 'never', why: 'a Windows quirk' },
  },
  doc: {
    problem: 'A child that prints the UTF-8 bytes of `μs` (CE BC 73) shows `╬╝s` in a Windows console using code page 437 or 850, and `Î¼s` wherever the bytes are read as code page 1252; text converted to the ANSI code page turns μ (U+03BC) into a best-fit µ (U+00B5) or `?`.',
    why: 'Narrow (char) text on Windows is interpreted in the ANSI code page (`GetACP`, argv and the A functions) or the console\'s output code page (`GetConsoleOutputCP`), which are legacy single-byte pages unless the system or the program chose UTF-8 (65001); only the wide (UTF-16) APIs carry every character.',
    platforms: 'Windows (all versions; UTF-8 as the ANSI code page only when opted in, Windows 10 1903+).',
    handled: 'The C child prints `us` instead of `μs` on Windows (c/child.c, `MICROSECONDS`), as the article\'s child did; the parent relays bytes unchanged and the addon starts children with the wide `CreateProcessW` from UTF-8 (c/spawn_win.c, `widen`).',
    source: 'The article (its Windows child prints "us"); Microsoft docs, "Code Pages" and `GetConsoleOutputCP`.',
    alsoGuardedBy: '"c child: the article\'s line format, alternating stdout and stderr" in test/children.test.ts (expects `us` on Windows)',
    wineNote: 'Wine takes the ANSI code page from the Unix locale (C.UTF-8 gave 1252, a UTF-8 LANG can give 65001) and has no console here (GetConsoleOutputCP returns 0), where Windows uses the system setting and the console\'s page; the test accepts whatever page it finds and checks the conversion against it.',
  },
  async show(ctx) {
    const shown = runQuirkC('console-code-page');
    const right = side(shown, 'right', "the project's C child prints \"us\" on Windows (c/child.c)");
    const r = spawnSync(C_CHILD_PATH, ['--lines', '1', '--max-sleep-ms', '1', '--streams', 'stdout'], { timeout: 30_000 });
    if (r.error) throw r.error;
    const line = r.stdout.toString('latin1').trimEnd();
    const unit = / sleeping \d+ (\S+)\.$/.exec(line)?.[1];
    right.push(`child_c wrote ${r.stdout.length} bytes: ${JSON.stringify(line)}`);
    right.push(`the unit's bytes: ${unit === undefined ? '(no unit found)' : Buffer.from(unit, 'latin1').toString('hex')}`);
    shown.values.child_unit_hex = unit === undefined ? 'none' : Buffer.from(unit, 'latin1').toString('hex');
    if (ctx.underWine) shown.notes.push('Under Wine the code pages come from the Unix locale and there is no console: Windows differs (system code page, console code page 437/850/...).');
    return shown;
  },
  verify(t, shown, ctx) {
    const acp = value(shown, 'acp');
    t.comment(`ANSI code page ${acp}, console output code page ${value(shown, 'console_output_cp')}${ctx.underWine ? ' (Wine: from the Unix locale)' : ''}`);
    if (acp === CP_UTF8) {
      t.equal(value(shown, 'mu_acp_bytes'), '2', 'a UTF-8 ANSI code page keeps μ as two bytes');
    } else {
      t.equal(value(shown, 'utf8_mu_as_acp_chars'), '2', 'the UTF-8 bytes of μ read as two characters in the code page');
      t.equal(value(shown, 'mu_acp_bytes'), '1', 'μ becomes one byte in the code page');
      t.notEqual(value(shown, 'mu_acp_first_byte'), '0xce', 'which is not the UTF-8 lead byte');
      if (acp === '1252') t.equal(value(shown, 'mu_acp_first_byte'), '0xb5', 'code page 1252: the best-fit micro sign µ (0xb5)');
      t.equal(value(shown, 'mu_acp_no_best_fit_first_byte'), '0x3f', 'without best fit: "?"');
    }
    t.equal(value(shown, 'child_unit_hex'), Buffer.from('us').toString('hex'), 'the C child prints "us" on Windows');
  },
};
