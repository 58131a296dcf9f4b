/**
 * Quirk 13: two behaviours of the article's C parent on POSIX, re-created in
 * quirk_c article-c-parent (c/quirks/quirk_posix.c): stderr dup2'ed onto the stdout pipe,
 * and a 1 s sleep per select() round. The same time-stamped child (quirk_c stamp-child)
 * runs under the re-creation and under the project's parent (parent/main.ts); this side
 * measures, per line, the label it got and how long it took to arrive.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT, QUIRK_C_PATH, RUNNING_COMPILED } from '../../parent/native.ts';
import { measuredBy, newShown, type Quirk, side, value } from './quirk.ts';

const LINES = 8;
const GAP_MS = 250;
const RUN_LIMIT_MS = 30_000;

interface Arrival {
  label: string;
  stream: string;
  latencyMs: number;
}

/** Runs argv, timing each `[child PID][LABEL]: stamp=MS n=K stream=S` line as it arrives. */
function timeLines(argv: readonly string[]): Promise<{ arrivals: Arrival[]; code: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], timeout: RUN_LIMIT_MS, killSignal: 'SIGKILL' });
    const arrivals: Arrival[] = [];
    let pending = '';
    p.stdout.setEncoding('latin1');
    p.stdout.on('data', (text: string) => {
      const now = Date.now();
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const m = /^\[child \d+\]\[(info|error)\]: stamp=(\d+) n=\d+ stream=(out|err)$/.exec(line);
        if (m) arrivals.push({ label: m[1]!, stream: m[3]!, latencyMs: now - Number(m[2]) });
      }
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ arrivals, code }));
  });
}

function projectParentArgv(args: readonly string[]): string[] {
  if (RUNNING_COMPILED) return [process.execPath, join(PROJECT_ROOT, 'build', 'js', 'parent', 'main.js'), ...args];
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [process.execPath, '--import', tsx, join(PROJECT_ROOT, 'parent', 'main.ts'), ...args];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? -1 : s[Math.floor(s.length / 2)]!;
}

function report(shown: ReturnType<typeof newShown>, key: string, r: { arrivals: Arrival[]; code: number | null }, obs: string[]): void {
  const errLines = r.arrivals.filter((a) => a.stream === 'err');
  const errLabelled = r.arrivals.filter((a) => a.label === 'error').length;
  const lat = r.arrivals.map((a) => a.latencyMs);
  obs.push(`${r.arrivals.length} lines arrived (${errLines.length} written to stderr); ${errLabelled} labelled [error]; exit status ${r.code}`);
  obs.push(`stderr lines labelled: ${errLines.map((a) => a.label).join(', ') || 'none'}`);
  obs.push(`latency per line (ms): ${lat.map((x) => x.toFixed(0)).join(', ')}; median ${median(lat)}, max ${Math.max(-1, ...lat)}`);
  shown.values[`${key}_lines`] = String(r.arrivals.length);
  shown.values[`${key}_stderr_lines`] = String(errLines.length);
  shown.values[`${key}_error_labelled`] = String(errLabelled);
  shown.values[`${key}_median_ms`] = String(median(lat));
  shown.values[`${key}_max_ms`] = String(Math.max(-1, ...lat));
}

export const quirk: Quirk = {
  order: 13,
  id: 'article-c-parent',
  title: "The article's C parent: stderr labelled as stdout, a second's delay per line",
  showsOn: ['linux', 'darwin'],
  observed: {
    linux: measuredBy('article-c-parent', 'a re-creation of the article\'s C parent, not its code'),
    wine: { kind: 'never', why: 'the slip is in its POSIX branch' },
    windows: { kind: 'never', why: 'the slip is in its POSIX branch' },
    macos: { kind: 'never', why: 'not run here; the article ran its code on macOS' },
  },
  doc: {
    problem:
      "The article's C parent on POSIX dup2s the child's stderr onto the *stdout* pipe, so every stderr line comes out labelled `[info]` and " +
      'its stderr pipe never carries anything; and after each select() round it sleeps a second, so a line waits up to a second to be shown ' +
      '(and a busy child is read 8 KiB per second).',
    why: "A slip in the child's setup (`dup2(out[1], 2)` where the stderr pipe was meant), and `sleep(1)` used as the loop's pacing instead of select()'s own wait.",
    platforms: "POSIX (the article's C parent's fork/exec branch).",
    handled:
      'c/spawn_posix.c `file_actions` dup2s stdout and stderr to their own descriptors; parent/relay-select.ts waits only in `ipc.select` ' +
      '(no sleep) and reads each ready descriptor until it would block.',
    source: "The article's C parent (its POSIX fork/exec branch and main loop); re-created in c/quirks/quirk_posix.c, not copied.",
    alsoGuardedBy:
      "parent `--lines 20 with 3 children -> 60 labelled lines` and children `the article's line format, alternating stdout and stderr` in " +
      'test/parent.test.ts and test/children.test.ts',
  },
  async show() {
    const shown = newShown();
    const child = [QUIRK_C_PATH, 'stamp-child', String(LINES), String(GAP_MS)];
    const article = await timeLines([QUIRK_C_PATH, 'article-c-parent', ...child]);
    report(shown, 'article', article, side(shown, 'wrong', "a re-creation of the article's C parent (quirk_c article-c-parent)"));
    const project = await timeLines(projectParentArgv(['--children', '1', '--', ...child]));
    report(shown, 'project', project, side(shown, 'right', "the project's parent (parent/main.ts), same child"));
    shown.values.lines = String(LINES);
    shown.notes.push(`the child writes ${LINES} lines alternating stdout and stderr, ${GAP_MS} ms apart, each stamped with the time it was written`);
    return shown;
  },
  verify(t, shown) {
    const n = Number(value(shown, 'lines'));
    const num = (k: string): number => Number(value(shown, k));
    t.equal(num('article_lines'), n, `the re-creation shows all ${n} lines`);
    t.ok(num('article_stderr_lines') > 0, `${num('article_stderr_lines')} of them were written to stderr`);
    t.equal(num('article_error_labelled'), 0, 'the article\'s dup2: no line is labelled [error]');
    t.ok(num('article_max_ms') >= 500, `the article's sleep(1): some line waited ${num('article_max_ms')} ms`);
    t.equal(num('project_lines'), n, `the project's parent shows all ${n} lines`);
    t.equal(num('project_error_labelled'), num('project_stderr_lines'), `the project labels every stderr line [error] (${num('project_error_labelled')})`);
    t.ok(num('project_median_ms') < Math.max(250, num('article_median_ms') / 2), `the project's median latency is low (${num('project_median_ms')} ms vs ${num('article_median_ms')} ms)`);
  },
};
