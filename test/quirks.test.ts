/**
 * The quirk catalogue's regression tests: one per quirk (scripts/quirks/<id>.ts), each
 * running the quirk's demonstration and asserting on what it observed. A quirk whose
 * demonstration cannot run on this platform is skipped with the reason in its name: the
 * Windows ones run in the Wine suite (`npm run test:wine`), where this file runs too.
 */
import { readFileSync } from 'node:fs';
import test from 'tape';
import { checkObserved, documentWith, QUIRKS_DOC, renderCatalogue } from '../scripts/quirk.ts';
import { loadQuirks } from '../scripts/quirks/index.ts';
import { currentContext, type Quirk } from '../scripts/quirks/quirk.ts';

const ctx = currentContext();

// No top-level await: tape require()s .ts test files through tsx, and require() of an ES
// module that awaits at top level fails (ERR_REQUIRE_ASYNC_MODULE). The catalogue is loaded
// inside one outer test, and every quirk is a subtest of it.
test('quirk catalogue', async (outer) => {
  const quirks = await loadQuirks();

  for (const q of quirks) {
    const here = (q.showsOn as readonly string[]).includes(ctx.platform);
    const where = q.showsOn.includes('win32') && !here ? 'Windows: runs in npm run test:wine' : `shown on ${q.showsOn.join(', ')} only`;
    outer.test(`quirk ${q.id}: ${q.title}${here ? '' : ` (${where})`}`, { skip: !here }, async (t) => {
      const shown = await q.show(ctx);
      t.ok(shown.sides.length > 0, `the demonstration observed something (${shown.sides.map((s) => s.kind).join(', ')})`);
      q.verify(t, shown, ctx);
    });
  }

  outer.test('quirks: the catalogue has its ids in order, kebab-case, unique, and docs/quirks.md is current', (t) => {
    const ids = quirks.map((q) => q.id);
    t.deepEqual(ids.filter((id) => !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(id)), [], 'every id is kebab-case');
    t.equal(new Set(ids).size, ids.length, 'ids are unique');
    t.deepEqual(quirks.map((q) => q.order), [...quirks.map((q) => q.order)].sort((a, b) => a - b), 'ordered');
    const doc = readFileSync(QUIRKS_DOC, 'utf8').replaceAll('\r\n', '\n');
    t.equal(doc, documentWith(quirks).replaceAll('\r\n', '\n'), 'docs/quirks.md matches scripts/quirks/*.ts (regenerate with npm run quirk -- --doc)');
    t.end();
  });

  outer.test('quirks: the generator refuses an entry that does not say where it was observed, or claims an unrun platform', (t) => {
    const base = quirks[0]!;
    for (const q of quirks) t.doesNotThrow(() => checkObserved(q), `quirk ${q.id} says where it was observed`);
    const without = { ...base } as Partial<Quirk>;
    delete without.observed;
    t.throws(() => renderCatalogue([without as Quirk]), /no 'observed'/, 'an entry without observed is refused');
    const noMac = { ...base, observed: { ...base.observed, macos: undefined } } as unknown as Quirk;
    t.throws(() => renderCatalogue([noMac]), /says nothing about macOS/, 'an entry silent about one platform is refused');
    const claimsWindows = { ...base, observed: { ...base.observed, windows: { kind: 'measured', test: 'quirk x' } } } as Quirk;
    t.throws(() => renderCatalogue([claimsWindows]), /nothing in this project has run on Windows/, 'a measurement on real Windows is refused');
    const claimsMac = { ...base, observed: { ...base.observed, macos: { kind: 'measured', test: 'quirk x' } } } as Quirk;
    t.throws(() => renderCatalogue([claimsMac]), /nothing in this project has run on macOS/, 'a measurement on macOS is refused');
    const noSource = { ...base, observed: { ...base.observed, windows: { kind: 'documented', source: ' ' } } } as Quirk;
    t.throws(() => renderCatalogue([noSource]), /names no source/, 'documented without a source is refused');
    t.ok(renderCatalogue([base]).includes('- **Observed.**'), 'the Observed field is rendered');
    t.end();
  });
});
