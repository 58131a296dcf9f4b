/**
 * Usage: npx tsx scripts/workshop.ts [ID...]
 *
 * Runs the commands of every runnable block of docs/workshop.md (or only the blocks
 * named) on this machine and writes what they printed into the page's output sections,
 * so that the page shows a real run, not a remembered one. scripts/workshop-page.ts
 * describes the markers; test/break.test.ts checks the page against a fresh run.
 *
 * Run it on Linux after `npm install`, from anywhere; the blocks that need Wine are not
 * runnable blocks (the page says where their output came from).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { findRunBlocks, runBlock, WORKSHOP_PAGE } from './workshop-page.ts';

async function main(ids: readonly string[]): Promise<number> {
  let page = readFileSync(WORKSHOP_PAGE, 'utf8');
  const blocks = findRunBlocks(page);
  const unknown = ids.filter((id) => !blocks.some((b) => b.id === id));
  if (unknown.length > 0) {
    process.stderr.write(`workshop: no runnable block '${unknown[0]}' in docs/workshop.md; there are: ${blocks.map((b) => b.id).join(', ')}\n`);
    return 2;
  }
  // From the last block to the first, so that earlier offsets stay valid.
  for (const block of [...blocks].reverse()) {
    if (ids.length > 0 && !ids.includes(block.id)) continue;
    const t0 = Date.now();
    const text = await runBlock(block);
    page = page.slice(0, block.start) + text + page.slice(block.end);
    process.stdout.write(`workshop: ${block.id}: ${block.commands.length} command(s), ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  writeFileSync(WORKSHOP_PAGE, page);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
