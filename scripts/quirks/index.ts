/**
 * The catalogue: every `scripts/quirks/<id>.ts` that exports `quirk`, in the catalogue's
 * order. Found by listing this folder, so that adding a quirk is adding one file (the same
 * code runs from scripts/ through tsx and from build/js/scripts/ after tsc).
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Quirk } from './quirk.ts';

const here = dirname(fileURLToPath(import.meta.url));
const NOT_QUIRKS = new Set(['quirk', 'index']);

export async function loadQuirks(): Promise<Quirk[]> {
  const ext = import.meta.url.endsWith('.js') ? '.js' : '.ts';
  const files = readdirSync(here).filter((f) => f.endsWith(ext) && !f.endsWith('.d.ts') && !NOT_QUIRKS.has(f.slice(0, -ext.length)));
  const quirks: Quirk[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(here, f)).href)) as { quirk?: Quirk };
    if (!mod.quirk) throw new Error(`scripts/quirks/${f} exports no 'quirk'`);
    if (`${mod.quirk.id}${ext}` !== f) throw new Error(`scripts/quirks/${f}: its id is '${mod.quirk.id}'; the file must be named after it`);
    quirks.push(mod.quirk);
  }
  return quirks.sort((a, b) => a.order - b.order || a.id.localeCompare(b.id));
}
