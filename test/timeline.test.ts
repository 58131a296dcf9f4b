/**
 * `--timeline FILE` (issue 14, section 1): real runs of every variant write a Chrome trace
 * whose line events are exactly the lines the parent printed; writing it changes nothing
 * that is relayed; --timeline-limit cuts it and the file says so.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'tape';
import { PROJECT_ROOT, RUNNING_COMPILED } from '../parent/native.ts';
import type { TraceEvent } from '../scripts/timeline/model.ts';
import { IS_WINDOWS, parseParentOutput, run, runParent, TSX_LOADER } from './helpers.ts';

const VARIANTS = IS_WINDOWS ? ['socketpair', 'pipe-thread', 'libuv'] : ['socketpair', 'pipe-thread', 'posix', 'libuv'];

interface TraceFile {
  traceEvents: TraceEvent[];
  displayTimeUnit: string;
  otherData: { cut: boolean; dropped: number; limit: number; events: number };
}

const dir = mkdtempSync(join(tmpdir(), 'timeline-test-'));
test.onFinish(() => rmSync(dir, { recursive: true, force: true }));

/** `npm run timeline -- ARGS` as a direct child: tsc's JavaScript when the suite runs
 * compiled (under Wine), else the TypeScript through tsx's loader. */
function timelineArgv(args: readonly string[]): string[] {
  if (RUNNING_COMPILED) return [process.execPath, join(PROJECT_ROOT, 'build', 'js', 'scripts', 'timeline.js'), ...args];
  return [process.execPath, '--import', TSX_LOADER, join(PROJECT_ROOT, 'scripts', 'timeline.ts'), ...args];
}

function readTrace(path: string): TraceFile {
  return JSON.parse(readFileSync(path, 'utf8')) as TraceFile;
}

/** What the parent printed, cut as the trace cuts it, per child and stream. */
function printedLines(stdout: Buffer): Map<string, string[]> {
  const per = new Map<string, string[]>();
  for (const l of parseParentOutput(stdout).lines) {
    const key = `${l.pid}/${l.kind === 'info' ? 1 : 2}`;
    const cut = Buffer.from(l.text).subarray(0, 200).toString('utf8');
    per.set(key, [...(per.get(key) ?? []), cut]);
  }
  return per;
}

function traceLines(trace: TraceFile): Map<string, string[]> {
  const per = new Map<string, string[]>();
  for (const e of trace.traceEvents) {
    if (e.cat !== 'line') continue;
    const key = `${e.pid}/${e.tid}`;
    per.set(key, [...(per.get(key) ?? []), String(e.args?.text)]);
  }
  return per;
}

for (const variant of VARIANTS) {
  test(`timeline (${variant}): valid JSON; its line events per child and stream are the lines printed`, async (t) => {
    const file = join(dir, `run-${variant}.json`);
    const r = await runParent(['--variant', variant, '--lines', '30', '--max-sleep-ms', '3', '--seq', '--stamp', '--timeline', file], { timeoutMs: 60_000 });
    t.equal(r.code, 0, 'exit status 0');
    const trace = readTrace(file);
    t.equal(trace.displayTimeUnit, 'ms', 'displayTimeUnit ms');
    const printed = printedLines(r.stdout);
    const traced = traceLines(trace);
    t.equal(printed.size, 6, 'printed: 3 children x 2 streams');
    t.deepEqual([...traced.keys()].sort(), [...printed.keys()].sort(), 'the same children and streams');
    for (const [key, lines] of printed) t.deepEqual(traced.get(key), lines, `${key}: the same ${lines.length} lines, in order`);

    const lineEvents = trace.traceEvents.filter((e) => e.cat === 'line');
    t.ok(lineEvents.every((e) => e.ph === 'i' && typeof e.args?.written === 'number'), 'each line: an instant event carrying the child\'s stamp');
    // One clock: the stamp was taken before the write, the read after it.
    const latenciesMs = lineEvents.map((e) => (e.ts! - (e.args!.written as number)) / 1000);
    t.ok(latenciesMs.every((ms) => ms > -5 && ms < 30_000), `latency from the same clock (${Math.min(...latenciesMs).toFixed(3)}..${Math.max(...latenciesMs).toFixed(3)} ms)`);

    const names = trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => String(e.args?.name));
    const pids = parseParentOutput(r.stdout).exits.map((e) => e.pid);
    t.equal(names.filter((n) => /^child \d+ \(C\)$/.test(n)).length, 2, 'two processes named "child PID (C)"');
    t.equal(names.filter((n) => /^child \d+ \(TS\)$/.test(n)).length, 1, 'one named "child PID (TS)"');
    t.ok(names.some((n) => n.startsWith('parent ') && n.includes(`(${variant})`)), 'the parent named with its variant');
    const threads = trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name' && pids.includes(e.pid));
    t.equal(threads.filter((e) => e.tid === 1 && e.args?.name === 'stdout').length, 3, 'tid 1 is stdout');
    t.equal(threads.filter((e) => e.tid === 2 && e.args?.name === 'stderr').length, 3, 'tid 2 is stderr');

    const cat = (c: string): TraceEvent[] => trace.traceEvents.filter((e) => e.cat === c);
    t.deepEqual(cat('spawn').map((e) => e.args?.pid).sort(), [...pids].sort(), 'a spawn event per child');
    t.deepEqual(cat('exit').map((e) => e.args?.pid).sort(), [...pids].sort(), 'an exit event per child');
    t.ok(cat('exit').every((e) => e.args?.code === 0), 'exits with code 0');
    const writes = cat('write');
    t.equal(writes.reduce((n, e) => n + (e.args!.bytes as number), 0), r.stdout.length, 'the writes add up to every byte printed');
    t.equal(writes.reduce((n, e) => n + (e.args!.lines as number), 0), r.stdout.toString().split('\n').length - 1, 'and to every line printed');
    t.ok(writes.every((e) => e.ph === 'X' && (e.dur ?? -1) >= 0), 'writes are complete events');
    if (variant === 'libuv') {
      t.equal(cat('select').length, 0, 'libuv: no select rounds');
      t.ok(cat('read').some((e) => e.name === 'data'), 'libuv: its stream data events instead');
    } else {
      const selects = cat('select');
      t.ok(selects.length > 0 && selects.every((e) => e.ph === 'X' && Array.isArray(e.args?.ready)), 'select rounds: complete events with args.ready');
      t.ok(cat('read').some((e) => (e.args!.bytes as number) > 0), 'reads with their bytes');
    }
    t.equal(trace.otherData.cut, false, 'not cut');
  });
}

/** The run's pid out of labels and texts (and the padding, whose length follows the
 * pid's digits), so two runs compare. */
function withoutPids(stdout: Buffer): string {
  return stdout.toString('latin1').replace(/\[child \d+\]/g, '[child #]').replace(/pid \d+ /g, 'pid # ').replace(/\.+$/gm, '');
}

test('timeline: what is relayed is byte-identical with and without --timeline', async (t) => {
  // One child, one stream: the output's order is the child's, so whole runs compare.
  const args = ['--children', '1', '--child', 'c', '--streams', 'stdout', '--lines', '20000', '--max-sleep-ms', '0', '--seq', '--line-bytes', '300'];
  const file = join(dir, 'same.json');
  const plain = await runParent(args, { timeoutMs: 60_000 });
  const traced = await runParent([...args, '--timeline', file], { timeoutMs: 60_000 });
  t.equal(plain.code, 0, 'without: status 0');
  t.equal(traced.code, 0, 'with: status 0');
  t.equal(traced.stdout.length, plain.stdout.length, `the same length (${plain.stdout.length} bytes)`);
  t.ok(withoutPids(traced.stdout) === withoutPids(plain.stdout), 'the same bytes (pids aside)');
  t.equal(traced.stderr.toString(), '', 'nothing on stderr');
  const trace = readTrace(file);
  const lines = trace.traceEvents.filter((e) => e.cat === 'line');
  t.equal(lines.length, 20000, '20000 line events');
  t.ok(lines.every((e) => Buffer.byteLength(String(e.args?.text)) === 200 && e.args?.bytes === 299), 'text cut at 200 bytes; args.bytes the full length');
});

test('timeline: --timeline-limit cuts the file, which says so; nothing relayed is lost', async (t) => {
  const file = join(dir, 'cut.json');
  const r = await runParent(['--lines', '200', '--max-sleep-ms', '0', '--timeline', file, '--timeline-limit', '50'], { timeoutMs: 60_000 });
  t.equal(r.code, 0, 'exit status 0');
  t.equal(parseParentOutput(r.stdout).lines.length, 600, 'all 600 lines printed');
  const trace = readTrace(file);
  const counted = trace.traceEvents.filter((e) => e.ph !== 'M' && e.cat !== 'cut');
  t.equal(counted.length, 50, '50 events kept');
  t.equal(trace.otherData.cut, true, 'otherData.cut');
  t.ok(trace.otherData.dropped > 550, `otherData.dropped counts the rest (${trace.otherData.dropped})`);
  t.equal(trace.traceEvents.filter((e) => e.name === 'timeline cut').length, 1, 'one "timeline cut" event where it happened');
});

test('timeline: a run stopped by --duration records the signals and how each child ended', { skip: IS_WINDOWS && 'SIGTERM is TerminateProcess on Windows' }, async (t) => {
  const file = join(dir, 'stopped.json');
  const r = await runParent(['--duration', '1', '--max-sleep-ms', '50', '--timeline', file], { timeoutMs: 60_000 });
  t.equal(r.code, 0, 'exit status 0 (stopped on time)');
  const exits = parseParentOutput(r.stdout).exits;
  t.equal(exits.length, 3, '3 exit lines');
  const trace = readTrace(file);
  const signals = trace.traceEvents.filter((e) => e.cat === 'signal');
  for (const e of exits) {
    t.ok(signals.some((s) => s.args?.pid === e.pid && s.args?.signal === 'SIGTERM'), `SIGTERM -> ${e.pid} recorded`);
    const exit = trace.traceEvents.find((x) => x.cat === 'exit' && x.args?.pid === e.pid);
    const how = exit === undefined ? 'none' : exit.args?.signal !== null ? `killed by ${String(exit.args?.signal)}` : `exited with code ${String(exit.args?.code)}`;
    t.equal(how, e.how, `its exit event says what the parent printed: ${e.how}`);
  }
});

test('timeline: bad --timeline values are one-line errors, before any child starts', async (t) => {
  const zero = await runParent(['--lines', '1', '--timeline', join(dir, 'x.json'), '--timeline-limit', '0']);
  t.equal(zero.code, 2, '--timeline-limit 0: usage error');
  t.match(zero.stderr.toString(), /invalid value for --timeline-limit: '0'/, 'names the bad value');
  const missing = await runParent(['--timeline']);
  t.equal(missing.code, 2, '--timeline without a file: usage error');
  const nowhere = join(dir, 'no-such-dir', 'x.json');
  const r = await runParent(['--lines', '1', '--timeline', nowhere]);
  t.equal(r.code, 1, 'an unwritable file: status 1');
  t.match(r.stderr.toString(), /cannot write --timeline '.*no-such-dir.*': ENOENT/, 'names the file and the error');
  t.equal(r.stdout.length, 0, 'no child ran');
  t.notOk(existsSync(nowhere), 'nothing written');
});

/*
 * The page (issue 14, section 2), in a real browser: Debian's Chromium driven by
 * playwright-core (which drives the system's browser; it downloads none). Without
 * Chromium the test skips, except in CI (CI=true), where that is a failure.
 */
const CHROMIUM = process.env.IPC_CHROMIUM ?? '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true';
// On Windows (and under Wine) the page is not drawn: it is tested with Debian's Chromium on
// Linux, and the traces it reads have the same format on every platform.
const NO_BROWSER = IS_WINDOWS ? 'the page is tested in Chromium on Linux'
  : !existsSync(CHROMIUM) && !IN_CI && `no Chromium at ${CHROMIUM} (apt-get install chromium)`;

test('timeline page: every variant\'s trace drawn in Chromium - line markers per lane, hover, zoom', { skip: NO_BROWSER }, async (t) => {
  t.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM}`);
  if (!existsSync(CHROMIUM)) return;
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'timeline-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    // --no-sandbox: Chromium refuses to run as root with its sandbox (CI runs as root).
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  });
  try {
    mkdirSync(join(PROJECT_ROOT, 'build'), { recursive: true });
    for (const variant of VARIANTS) {
      const json = join(dir, `page-${variant}.json`);
      const html = join(dir, `page-${variant}.html`);
      const r = await runParent(['--variant', variant, '--lines', '24', '--max-sleep-ms', '20', '--stamp', '--timeline', json], { timeoutMs: 60_000 });
      t.equal(r.code, 0, `${variant}: the run exited 0`);
      const g = await run(timelineArgv([json, '-o', html]), { timeoutMs: 60_000 });
      t.equal(g.code, 0, `${variant}: npm run timeline exited 0 ${g.stderr.toString().trim()}`);
      const trace = readTrace(json);
      const expected = new Map<string, TraceEvent[]>();
      for (const e of trace.traceEvents) if (e.cat === 'line') expected.set(`${e.pid}/${e.tid}`, [...(expected.get(`${e.pid}/${e.tid}`) ?? []), e]);
      t.equal(expected.size, 6, `${variant}: 6 streams with lines in the trace`);

      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (req) => { if (!req.url().startsWith('file:')) requests.push(req.url()); });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(pathToFileURL(html).href);
      for (const [key, events] of expected) {
        const [pid, tid] = key.split('/');
        const n = await page.locator(`g.lane[data-pid="${pid}"][data-tid="${tid}"] .line`).count();
        t.equal(n, events.length, `${variant} ${key}: ${events.length} line markers in its lane`);
      }
      t.equal(await page.locator('.line').count(), [...expected.values()].reduce((n, e) => n + e.length, 0), `${variant}: no other line markers`);
      t.ok(await page.locator('.exit').count() === 3, `${variant}: 3 exits marked`);

      // Hover a marker nothing covers, and read the tooltip.
      const target = await page.evaluate(() => {
        const all = Array.from(document.querySelectorAll('rect.line'));
        for (let i = 0; i < all.length; i++) {
          const b = all[i]!.getBoundingClientRect();
          if (document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2) === all[i]) {
            const lane = all[i]!.parentElement!;
            return { index: i, key: `${lane.getAttribute('data-pid')}/${lane.getAttribute('data-tid')}`, nth: Array.from(lane.querySelectorAll('rect.line')).indexOf(all[i]!) };
          }
        }
        return null;
      });
      t.ok(target !== null, `${variant}: a line marker can be hovered`);
      if (target !== null) {
        await page.locator('rect.line').nth(target.index).hover();
        const tip = await page.locator('#tip').innerText();
        const event = expected.get(target.key)![target.nth]!;
        t.ok(tip.includes(String(event.args!.text)), `${variant}: the tooltip shows the line's text ("${String(event.args!.text).slice(0, 40)}...")`);
        t.match(tip, /latency -?\d+\.\d{3} ms/, `${variant}: and its latency`);
      }
      await page.screenshot({ path: join(PROJECT_ROOT, 'build', `timeline-${variant}.png`) });

      // Zoom: a drag over the middle fifth shows a fifth of the run.
      const before = await page.locator('#span').innerText();
      const box = (await page.locator('svg.timeline').boundingBox())!;
      const y = box.y + box.height / 2;
      await page.mouse.move(box.x + 240 + (box.width - 256) * 0.4, y);
      await page.mouse.down();
      await page.mouse.move(box.x + 240 + (box.width - 256) * 0.6, y, { steps: 4 });
      await page.mouse.up();
      const after = await page.locator('#span').innerText();
      t.notEqual(after, before, `${variant}: dragging zooms (${before} -> ${after})`);
      const outside = await page.evaluate(() => Array.from(document.querySelectorAll('rect.line')).filter((el) => Number(el.getAttribute('x')) < 240).length);
      t.ok(outside > 0, `${variant}: markers before the range moved out of view (${outside})`);
      await page.mouse.wheel(0, -300);
      t.deepEqual(errors, [], `${variant}: no script errors`);
      t.deepEqual(requests, [], `${variant}: no network request`);
      await page.close();
    }
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test('npm run timeline: bad input is a one-line error naming it', async (t) => {
  const gen = (args: string[]) => run(timelineArgv(args), { timeoutMs: 60_000 });
  const missing = await gen([join(dir, 'no-such.json')]);
  t.equal(missing.code, 2, 'a missing file: status 2');
  t.match(missing.stderr.toString(), /^timeline: cannot read '.*no-such\.json': ENOENT\n$/, 'names the file and ENOENT');
  const notTrace = join(dir, 'not-a-trace.json');
  writeFileSync(notTrace, '{"events": []}');
  const wrong = await gen([notTrace]);
  t.equal(wrong.code, 1, 'JSON that is no trace: status 1');
  t.match(wrong.stderr.toString(), /no "traceEvents" array/, 'says what is missing');
  const usage = await gen([]);
  t.equal(usage.code, 2, 'no file: status 2');
  t.match(usage.stderr.toString(), /usage: npm run timeline -- FILE\.json/, 'prints the usage');
  t.notOk(existsSync(join(dir, 'no-such.html')) || existsSync(join(dir, 'not-a-trace.html')), 'no page written');
});
