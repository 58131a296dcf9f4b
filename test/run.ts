/**
 * `npm test`: runs the tape suites (test/*.test.ts, or the files named) in one Node with
 * tsx's loader, passes TAP through, and ends with the line CI reads:
 * `N passed, N failed[, N skipped]`.
 *
 * It also checks that the run left nothing behind: every process started under it carries
 * IPC_TEST_RUN in its environment, and any such process still alive afterwards is listed,
 * killed, and counted as a failure (Linux only: it reads /proc).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { closingLine, countTapLine, newTally } from './tap.ts';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const tsx = pathToFileURL(require.resolve('tsx')).href;
const tapeBin = join(dirname(require.resolve('tape/package.json')), 'bin', 'tape');

const files = process.argv.slice(2).length > 0
  ? process.argv.slice(2)
  : readdirSync(here).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join(here, f));

const runId = `${process.pid}-${Date.now()}`;
const child = spawn(process.execPath, ['--import', tsx, tapeBin, ...files], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, IPC_TEST_RUN: runId },
});

const tally = newTally();
createInterface({ input: child.stdout! }).on('line', (line) => {
  process.stdout.write(`${line}\n`);
  countTapLine(line, tally);
});

/** Processes of this run still alive: their environment names the run. */
function leftovers(): string[] {
  if (process.platform !== 'linux') return [];
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'latin1');
      if (!env.split('\0').includes(`IPC_TEST_RUN=${runId}`)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z') continue; // a zombie whose parent already exited is init's to reap
      found.push(`${entry} ${readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ').trim()}`);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

child.on('close', (code, signal) => {
  const left = leftovers();
  if (left.length > 0) {
    tally.failed++;
    process.stdout.write(`not ok - processes left running after the suite:\n${left.map((l) => `#   ${l}`).join('\n')}\n`);
    for (const l of left) {
      try {
        process.kill(Number(l.split(' ')[0]), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  if (code !== 0 && tally.failed === 0) {
    tally.failed++;
    process.stdout.write(`not ok - tape exited with ${signal ?? `code ${code}`}\n`);
  }
  process.stdout.write(`${closingLine(tally)}\n`);
  process.exitCode = tally.failed > 0 ? 1 : 0;
});
