/**
 * The matrix's cell runner (scripts/matrix-run.ts): what `npm run matrix` reports must be
 * what happened. Runs natively and in the Wine suite, where the posix cell is refused.
 */
import test from 'tape';
import { runCell } from '../scripts/matrix-run.ts';
import { IS_WINDOWS } from './helpers.ts';

test('matrix: a socketpair cell with C children works, every line timed', async (t) => {
  const cell = await runCell('socketpair', 'c', 4);
  t.equal(cell.outcome, 'works', `outcome (${cell.detail || 'no detail'})`);
  t.equal(cell.lines, 12, '3 children x 4 lines arrived');
  t.ok(cell.medianLatencyMs !== null && cell.medianLatencyMs >= 0, `a median latency was measured (${cell.medianLatencyMs} ms)`);
});

test('matrix: the posix cell works on POSIX and is refused, with its reason, on Windows', async (t) => {
  const cell = await runCell('posix', 'ts', 2);
  if (IS_WINDOWS) {
    t.equal(cell.outcome, 'refused', 'refused');
    t.match(cell.detail, /posix variant cannot run on Windows/, `reason: ${cell.detail}`);
    t.equal(cell.lines, 0, 'nothing ran');
  } else {
    t.equal(cell.outcome, 'works', `outcome (${cell.detail || 'no detail'})`);
    t.equal(cell.lines, 6, 'every line arrived');
  }
});

test('matrix: a parent that fails is reported as refused or failed, never as working', async (t) => {
  const refused = await runCell('no-such-variant', 'c', 2);
  t.equal(refused.outcome, 'refused', 'an unknown variant is refused (exit status 2)');
  t.match(refused.detail, /no-such-variant/, `the reason names the bad value: ${refused.detail}`);
});
