/**
 * docs/workshop.md's runnable blocks: finding them, running them, normalising what varies.
 * Used by scripts/workshop.ts (which rewrites the page's output sections from a real run)
 * and by test/break.test.ts (which checks the page against a fresh run).
 *
 * A runnable block in the page:
 *
 *   <!-- run id=NAME check=MODE [time] -->
 *   ```sh
 *   npm start -- ...          (one command per line; lines starting with # are comments)
 *   ```
 *   <!-- output NAME -->
 *   ```text
 *   $ npm start -- ...        (rewritten by scripts/workshop.ts)
 *   ...
 *   [exit status 0]
 *   ```
 *   <!-- /output -->
 *
 * check=lines: the test reruns it and compares the normalised lines as a sorted list (the
 * children's lines interleave differently from run to run); check=status: only the exit
 * statuses and the warnings; check=none: not rerun by the test (long, or timing is the
 * point). `time` prefixes every output line with the seconds since the command started.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's root (the folder with binding.gyp), from scripts/ or build/js/scripts/. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'binding.gyp')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export const PROJECT_ROOT = projectRoot();
export const WORKSHOP_PAGE = join(PROJECT_ROOT, 'docs', 'workshop.md');

export type CheckMode = 'lines' | 'status' | 'none';

export interface RunBlock {
  id: string;
  check: CheckMode;
  time: boolean;
  commands: string[];
  /** The output section's text as it is in the page (between the ```text fences). */
  recorded: string;
  /** Where the output section's text starts and ends in the page. */
  start: number;
  end: number;
}

const RUN_RE = /<!-- run id=(\S+) check=(lines|status|none)( time)? -->\n```sh\n([\s\S]*?)```\n<!-- output (\S+) -->\n```text\n([\s\S]*?)```\n<!-- \/output -->/g;

export function findRunBlocks(page: string): RunBlock[] {
  const blocks: RunBlock[] = [];
  for (const m of page.matchAll(RUN_RE)) {
    const [whole, id, check, time, sh, outId, recorded] = m as unknown as string[];
    if (id !== outId) throw new Error(`docs/workshop.md: run block '${id}' is followed by the output of '${outId}'`);
    const commands = sh!.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    const textStart = m.index! + whole!.indexOf('```text\n') + '```text\n'.length;
    blocks.push({ id: id!, check: check as CheckMode, time: time !== undefined, commands, recorded: recorded!, start: textStart, end: textStart + recorded!.length });
  }
  return blocks;
}

/** Runs one command as a user would type it (through bash, stdout and stderr merged in the
 * order they were written), with npm's own banner silenced. */
export function runCommand(command: string, time: boolean, timeoutMs = 60_000): Promise<{ text: string; status: number | null; seconds: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    // bash with pipefail: a command cut short by `| cut` still reports the parent's status.
    const p = spawn('bash', ['-c', `set -o pipefail; exec 2>&1; ${command}`], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, npm_config_loglevel: 'silent', FORCE_COLOR: '0' },
    });
    let text = '';
    let partial = '';
    p.stdout!.on('data', (b: Buffer) => {
      if (!time) {
        text += b.toString();
        return;
      }
      const stamp = `[+${((Date.now() - t0) / 1000).toFixed(1)} s] `;
      const lines = (partial + b.toString()).split('\n');
      partial = lines.pop()!;
      for (const l of lines) text += `${stamp}${l}\n`;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (partial !== '') text += `${partial}\n`;
      resolve({ text, status: signal === null ? code : null, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

/** The text of an output section: each command, what it printed, its exit status. */
export async function runBlock(block: RunBlock): Promise<string> {
  let out = '';
  for (const command of block.commands) {
    const r = await runCommand(command, block.time);
    const end = block.time ? `[+${r.seconds.toFixed(1)} s] ` : '';
    out += `$ ${command}\n${r.text}${r.text.endsWith('\n') || r.text === '' ? '' : '\n'}${end}[exit status ${r.status ?? 'killed'}]\n`;
  }
  return out;
}

/** What varies from run to run: PIDs, times, descriptor numbers, random sleeps. */
export function normalise(text: string): string {
  return text
    .replace(/\[(\S+) \d+\]/g, '[$1 PID]')
    .replace(/\bpids? \d+/g, 'pid PID')
    .replace(/\[\+[0-9.]+ s\]/g, '[+T s]')
    .replace(/\[trace [0-9.]+ ms\]/g, '[trace T ms]')
    .replace(/\bt=\d+/g, 't=T')
    .replace(/sleeping \d+ (μs|ms)/g, 'sleeping N $1')
    .replace(/\b(fd|end|ends|descriptors?) \d+( and \d+)?/g, '$1 N')
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT')
    .replace(/\b(port|expected) \d+/g, '$1 N')
    .replace(/\d+(\.\d+)? ms\b/g, 'N ms');
}

/** The lines the test compares for a block, per its check mode. */
export function comparable(block: RunBlock, text: string): string[] {
  const lines = normalise(text).split('\n').filter((l) => l !== '');
  if (block.check === 'lines') return lines.sort();
  // status: the commands, their exit statuses and the parent's own messages.
  return lines.filter((l) => /^\$ |^(\[\+T s\] )?(\[exit status |parent: )/.test(l));
}
