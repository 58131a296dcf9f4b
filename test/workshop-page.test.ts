/**
 * docs/workshop.md shows real output, pasted by scripts/workshop.ts. The blocks whose
 * output is the same from run to run once PIDs, times and ports are masked are rerun here:
 * a changed message, option or exit status makes the page stale, and this fails.
 *
 * It reruns the workshop's commands one after another (most of a minute), so it runs in
 * `npm run test:stress` (which CI runs too), keeping `npm test` within its time budget.
 */
import { readFileSync } from 'node:fs';
import test from 'tape';
import { comparable, findRunBlocks, runBlock, WORKSHOP_PAGE } from '../scripts/workshop-page.ts';
import { IS_WINDOWS, STRESS } from './helpers.ts';

const SKIP = IS_WINDOWS ? 'the page is captured and checked on Linux (bash, npm)' : !STRESS && 'runs in npm run test:stress (CI runs it)';

test('docs/workshop.md is not stale: its checkable blocks give the recorded output again', { skip: SKIP }, async (t) => {
  const blocks = findRunBlocks(readFileSync(WORKSHOP_PAGE, 'utf8'));
  t.ok(blocks.length >= 8, `${blocks.length} runnable blocks found`);
  for (const block of blocks) {
    t.ok(block.recorded.trim() !== '', `${block.id}: the page has its output (npx tsx scripts/workshop.ts)`);
    if (block.check === 'none') continue;
    const fresh = await runBlock(block);
    t.deepEqual(comparable(block, fresh), comparable(block, block.recorded), `${block.id} (check=${block.check}): same output now; if not, rerun npx tsx scripts/workshop.ts ${block.id}`);
  }
});
