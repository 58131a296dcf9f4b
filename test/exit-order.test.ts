/**
 * A child's exit line comes after everything it wrote (docs/reliability.md, "exit line
 * last"): its last unterminated line included, whatever the variant, however the exit and
 * the end of its streams race. Before the exit line waited for the streams' end, the exit
 * was printed before `tail` in 1/10 runs (socketpair), 4/10 (posix), 7/10 (pipe-thread),
 * and pipe-thread put it some 10,000 lines early after `seq 1 200000`.
 *
 * `npm test` runs each case a few times; `npm run test:stress` 200 times.
 */
import test from 'tape';
import { VARIANT_NAMES } from '../parent/variants/index.ts';
import { compiledParentArgv, IS_WINDOWS, run, STRESS, UNDER_WINE } from './helpers.ts';

const RUNS = STRESS ? 200 : UNDER_WINE ? 3 : 6;
const VARIANTS = IS_WINDOWS ? ['socketpair', 'pipe-thread'] : VARIANT_NAMES;
const LINES = 200_000;

/** What the last lines of one run must be, and what they were. */
interface Case {
  name: string;
  argv: string[];
  /** The labelled texts expected just before the exit line, in order. */
  lastTexts: string[];
}

const CASES: Case[] = [
  { name: 'partial last line', argv: ['sh', '-c', `seq 1 ${LINES}; printf tail`], lastTexts: [String(LINES), 'tail'] },
  { name: 'many lines', argv: ['seq', '1', String(LINES)], lastTexts: [String(LINES - 1), String(LINES)] },
];

for (const variant of VARIANTS) {
  for (const c of CASES) {
    test(`exit line last (${variant}, ${c.name}): ${c.argv.join(' ')}, ${RUNS} runs, never misordered`, { skip: IS_WINDOWS && 'needs sh and seq' }, async (t) => {
      t.timeoutAfter(RUNS * 30_000);
      let misordered = 0;
      let incomplete = 0;
      const examples: string[] = [];
      for (let i = 0; i < RUNS; i++) {
        const r = await run(compiledParentArgv(['--variant', variant, '--children', '1', '--', ...c.argv]), { timeoutMs: 60_000 });
        const lines = r.stdout.toString('latin1').split('\n');
        if (lines.at(-1) === '') lines.pop();
        const exitAt = lines.findIndex((l) => /^\[child \d+\] exited with code 0$/.test(l));
        const texts = lines.filter((l) => /^\[child \d+\]\[info\]: /.test(l)).map((l) => l.slice(l.indexOf(']: ') + 3));
        if (texts.length !== LINES + (c.lastTexts.includes('tail') ? 1 : 0) || r.code !== 0) incomplete++;
        const expectedTail = c.lastTexts.map((s) => `: ${s}`);
        const before = lines.slice(Math.max(0, exitAt - expectedTail.length), exitAt);
        const ok = exitAt === lines.length - 1 && before.every((l, k) => l.endsWith(expectedTail[k]!));
        if (!ok) {
          misordered++;
          if (examples.length < 3) examples.push(`run ${i + 1}: exit line at ${exitAt + 1} of ${lines.length}, before it: ${JSON.stringify(before)}`);
        }
      }
      t.equal(incomplete, 0, `every run: status 0 and all lines relayed`);
      t.equal(misordered, 0, `exit line after the last line in ${RUNS - misordered}/${RUNS} runs${examples.length ? `: ${examples.join('; ')}` : ''}`);
    });
  }
}
