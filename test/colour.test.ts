/**
 * Colour in a terminal (issue 14, section 3): which runs are coloured (--color, FORCE_COLOR,
 * NO_COLOR, a terminal or not), what is coloured (labels and status lines only), and that
 * the children's bytes and uncoloured output stay exactly as they were.
 *
 * A terminal is made with util-linux `script`, which runs a command on a new
 * pseudo-terminal; `stty -onlcr` inside it stops the terminal turning "\n" into "\r\n", so
 * the bytes read are the bytes the parent wrote.
 */
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import tty from 'node:tty';
import { inspect, styleText } from 'node:util';
import test from 'tape';
import { decideColour, type ColourTarget } from '../parent/colour.ts';
import { CHILD_COLOURS } from '../parent/lines.ts';
import { VARIANT_NAMES } from '../parent/variants/index.ts';
import { IS_WINDOWS, parentArgv, parseParentOutput, run, runParent, type Finished } from './helpers.ts';

const ESC = '\x1b';
const sgr = (name: string): [string, string] => {
  const [open, close] = inspect.colors[name]!;
  return [`${ESC}[${open}m`, `${ESC}[${close}m`];
};
const [RED, DEFAULT_COLOUR] = sgr('red');
const [YELLOW] = sgr('yellow');
const [DIM, NORMAL] = sgr('dim');
/** Every SGR sequence, to take the parent's colour out again. */
const ANY_SGR = /\x1b\[[0-9;]*m/g;

/** Labels are made in the relay's shared core; every variant is checked once. */
const VARIANTS = IS_WINDOWS ? ['socketpair', 'pipe-thread'] : VARIANT_NAMES;

const HAS_SCRIPT = !IS_WINDOWS && spawnSync('script', ['--version']).status === 0;
const NO_PTY = IS_WINDOWS ? 'POSIX only: uses util-linux script for a pseudo-terminal'
  : !HAS_SCRIPT ? 'util-linux script not found' : false;

/** The test run's environment without the variables under test; a known colour terminal. */
function envWith(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
  delete env.FORCE_COLOR;
  delete env.NO_COLOR;
  delete env.NODE_DISABLE_COLORS;
  // Node (and so --color auto) gives no colour on a terminal when CI is set by a CI it does
  // not know; .ci/run sets CI=true. Seen failing in CI: 8 checks expected colour.
  delete env.CI;
  return { ...env, ...extra };
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The parent with its stdout on a pseudo-terminal. */
function runOnTerminal(args: readonly string[], env: Record<string, string> = {}): Promise<Finished> {
  const command = `stty -onlcr && exec ${parentArgv(args).map(shellQuote).join(' ')}`;
  return run(['script', '-qefc', command, '/dev/null'], { env: envWith(env), timeoutMs: 60_000 });
}

/** The parent with its stdout on a pipe. */
function runOnPipe(args: readonly string[], env: Record<string, string> = {}): Promise<Finished> {
  return runParent(args, { env: envWith(env), timeoutMs: 60_000 });
}

/** One fast C child: two lines on each stream. */
const ONE_CHILD = ['--children', '1', '--child', 'c', '--lines', '4', '--max-sleep-ms', '0', '--seq'];

const coloured = (r: Finished): boolean => r.stdout.includes(ESC);

// ---- the decision, against Node's own ----

test('colour: --color always/never override FORCE_COLOR, NO_COLOR and the terminal', (t) => {
  const ttyTarget: ColourTarget = { isTTY: true, hasColors: () => true };
  t.equal(decideColour('never', { FORCE_COLOR: '1' }, ttyTarget), false, 'never beats FORCE_COLOR=1 on a terminal');
  t.equal(decideColour('always', { NO_COLOR: '1' }, {}), true, 'always beats NO_COLOR on a pipe');
  t.equal(decideColour('always', { FORCE_COLOR: '0' }, {}), true, 'always beats FORCE_COLOR=0');
  t.equal(decideColour('auto', {}, {}), false, 'auto: a pipe is plain');
  t.equal(decideColour('auto', {}, ttyTarget), true, 'auto: a terminal with colours is coloured');
  t.end();
});

/** Node 20.12+ styleText checks the stream (validateStream); older ones cannot be asked. */
function styleTextChecksStream(): boolean {
  try {
    return styleText('red', 'x', { stream: new PassThrough() }) === 'x';
  } catch {
    return false;
  }
}

test('colour: --color auto decides as Node\'s util.styleText does, for every FORCE_COLOR/NO_COLOR/TERM/TTY mix',
  { skip: !styleTextChecksStream() && 'this Node has no util.styleText with a stream check (20.12+)' }, (t) => {
    const saved = { ...process.env };
    const values = [undefined, '', '0', '1', '3', 'true', 'false'];
    const disagreements: string[] = [];
    let cases = 0;
    try {
      for (const isTTY of [false, true]) {
        for (const TERM of [undefined, 'dumb', 'xterm-256color']) {
          for (const FORCE_COLOR of values) {
            for (const NO_COLOR of [undefined, '', '1']) {
              const env: Record<string, string | undefined> = { TERM, FORCE_COLOR, NO_COLOR };
              for (const k of ['TERM', 'FORCE_COLOR', 'NO_COLOR', 'NODE_DISABLE_COLORS']) delete process.env[k];
              for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
              // A stream Node takes for a terminal: its own getColorDepth/hasColors.
              const stream = Object.assign(new PassThrough(), isTTY ? {
                isTTY: true,
                getColorDepth: tty.WriteStream.prototype.getColorDepth,
                hasColors: tty.WriteStream.prototype.hasColors,
              } : {});
              // (With both variables set, Node warns once that NO_COLOR is ignored.)
              const node = styleText('red', 'x', { stream }) !== 'x';
              const ours = decideColour('auto', { ...process.env }, stream as ColourTarget);
              cases++;
              if (node !== ours) disagreements.push(`${JSON.stringify({ isTTY, ...env })}: node ${node}, ours ${ours}`);
            }
          }
        }
      }
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    t.deepEqual(disagreements, [], `agrees with Node in all ${cases} cases`);
    t.end();
  });

// ---- through a pseudo-terminal ----

test('colour: on a terminal each child\'s label has a colour of its own, the same on every line; [error] red; exits dim',
  { skip: NO_PTY }, async (t) => {
    const r = await runOnTerminal(['--lines', '6', '--max-sleep-ms', '0', '--seq']);
    t.equal(r.code, 0, 'status 0');
    const text = r.stdout.toString('utf8');
    const plain = parseParentOutput(text.replace(ANY_SGR, ''));
    t.equal(plain.lines.length, 18, 'with the colour taken out: 18 labelled lines');
    t.equal(plain.exits.length, 3, 'and 3 exit lines');
    t.deepEqual(plain.other, [], 'nothing else');

    const colourOf = new Map<number, Set<string>>();
    let labelled = 0;
    for (const line of text.split('\n')) {
      const m = /^(\x1b\[\d+m)\[child (\d+)\]\x1b\[39m(\[info\]|\x1b\[31m\[error\]\x1b\[39m): /.exec(line);
      if (!m) continue;
      labelled++;
      const pid = Number(m[2]);
      if (!colourOf.has(pid)) colourOf.set(pid, new Set());
      colourOf.get(pid)!.add(m[1]!);
    }
    t.equal(labelled, 18, 'every labelled line: [child PID] in a colour, [info] plain or [error] red');
    t.ok([...colourOf.values()].every((s) => s.size === 1), 'each child keeps one colour on all its lines, both streams');
    const used = [...colourOf.values()].map((s) => [...s][0]!);
    t.equal(new Set(used).size, 3, 'three children, three colours');
    t.deepEqual(new Set(used), new Set(CHILD_COLOURS.slice(0, 3).map((c) => sgr(c)[0])), 'the first three of the palette');
    t.ok(!used.includes(RED) && !used.includes(YELLOW), 'no child is red or yellow (kept for [error] and signals)');
    const errorLines = text.split('\n').filter((l) => l.includes('[error]'));
    t.ok(errorLines.length === 9 && errorLines.every((l) => l.includes(`${RED}[error]${DEFAULT_COLOUR}: `)), '[error] is red on all 9 stderr lines');
    for (const e of plain.exits) {
      t.ok(text.includes(`${DIM}[child ${e.pid}] exited with code 0${NORMAL}\n`), `pid ${e.pid}: exit line dim, newline outside`);
    }
  });

test('colour: on a terminal NO_COLOR (even empty), FORCE_COLOR=0, TERM=dumb or --color never give plain output',
  { skip: NO_PTY }, async (t) => {
    const plainRuns: [string, string[], Record<string, string>][] = [
      ['NO_COLOR=1', ONE_CHILD, { NO_COLOR: '1' }],
      ['NO_COLOR= (empty)', ONE_CHILD, { NO_COLOR: '' }],
      ['FORCE_COLOR=0', ONE_CHILD, { FORCE_COLOR: '0' }],
      ['TERM=dumb', ONE_CHILD, { TERM: 'dumb' }],
      ['--color never with FORCE_COLOR=1', ['--color', 'never', ...ONE_CHILD], { FORCE_COLOR: '1' }],
    ];
    for (const [what, args, env] of plainRuns) {
      const r = await runOnTerminal(args, env);
      const out = parseParentOutput(r.stdout.toString('utf8').replace(ANY_SGR, ''));
      t.ok(r.code === 0 && out.lines.length === 4 && out.exits.length === 1, `${what}: the run is complete`);
      t.notOk(coloured(r), `${what}: no escape sequence`);
    }
    const control = await runOnTerminal(ONE_CHILD);
    t.ok(coloured(control), 'control: the same run without them is coloured');
  });

// ---- on a pipe ----

/** A child whose stdout is known byte for byte, escape sequences and invalid UTF-8 included. */
const CHILD_STDOUT = Buffer.concat([
  Buffer.from(`${ESC}[31mred from the child${ESC}[0m\n`),
  Buffer.from(`${ESC}[1mbold, never reset\n`),
  Buffer.from([0x61, 0x0d, 0x62, 0xff, 0xfe, 0x0a]),
  Buffer.from('last, no newline'),
]);
const CHILD_STDERR = Buffer.from(`${ESC}[32mgreen on stderr${ESC}[39m\nplain on stderr\n`);
const EXACT_CHILD = ['--children', '1', '--', process.execPath, '-e',
  `const fs = require('fs'); fs.writeSync(1, Buffer.from('${CHILD_STDOUT.toString('hex')}', 'hex'));` +
  ` fs.writeSync(2, Buffer.from('${CHILD_STDERR.toString('hex')}', 'hex'));`];

/** The lines the parent printed for one stream, its label (as given) taken off each. */
function linesAfter(stdout: Buffer, label: Buffer): Buffer[] {
  const found: Buffer[] = [];
  let at = 0;
  while (at < stdout.length) {
    const nl = stdout.indexOf(0x0a, at);
    const line = stdout.subarray(at, nl === -1 ? stdout.length : nl + 1);
    if (line.subarray(0, label.length).equals(label)) found.push(line.subarray(label.length));
    at += line.length;
  }
  return found;
}

const splitLines = (b: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  for (let at = 0; at < b.length;) {
    const nl = b.indexOf(0x0a, at);
    const end = nl === -1 ? b.length : nl + 1;
    out.push(Buffer.concat([b.subarray(at, end), nl === -1 ? Buffer.from('\n') : Buffer.alloc(0)]));
    at = end;
  }
  return out;
};

test('colour: on a pipe the output is byte for byte what it was before colour existed, and what --color never gives', async (t) => {
  // stdout only, so the whole output has one possible order.
  const stdoutOnly = ['--children', '1', '--', process.execPath, '-e',
    `require('fs').writeSync(1, Buffer.from('${CHILD_STDOUT.toString('hex')}', 'hex'))`];
  const expected = (pid: number): Buffer => Buffer.concat([
    ...splitLines(CHILD_STDOUT).map((l) => Buffer.concat([Buffer.from(`[child ${pid}][info]: `), l])),
    Buffer.from(`[child ${pid}] exited with code 0\n`),
  ]);
  for (const [what, args] of [['by default', stdoutOnly], ['with --color never', ['--color', 'never', ...stdoutOnly]]] as const) {
    const r = await runOnPipe(args);
    const pid = parseParentOutput(r.stdout).exits[0]?.pid ?? -1;
    t.equal(r.code, 0, `${what}: status 0`);
    // Only the PID differs from run to run; it is read from the output's exit line.
    t.ok(r.stdout.equals(expected(pid)), `${what}: exactly \`[child PID][info]: \` + the child's bytes per line, then the plain exit line`);
  }
});

test('colour: on a pipe FORCE_COLOR=1 colours (even with NO_COLOR, as in Node); --color never beats it; --color always beats NO_COLOR', async (t) => {
  const cases: [string, string[], Record<string, string>, boolean][] = [
    ['FORCE_COLOR=1', ONE_CHILD, { FORCE_COLOR: '1' }, true],
    ['FORCE_COLOR= (empty)', ONE_CHILD, { FORCE_COLOR: '' }, true],
    ['FORCE_COLOR=1 NO_COLOR=1', ONE_CHILD, { FORCE_COLOR: '1', NO_COLOR: '1' }, true],
    ['FORCE_COLOR=0', ONE_CHILD, { FORCE_COLOR: '0' }, false],
    ['--color never FORCE_COLOR=1', ['--color', 'never', ...ONE_CHILD], { FORCE_COLOR: '1' }, false],
    ['--color always NO_COLOR=1', ['--color', 'always', ...ONE_CHILD], { NO_COLOR: '1' }, true],
    ['--color auto FORCE_COLOR=1', ['--color', 'auto', ...ONE_CHILD], { FORCE_COLOR: '1' }, true],
    ['nothing set', ONE_CHILD, {}, false],
  ];
  for (const [what, args, env, expected] of cases) {
    const r = await runOnPipe(args, env);
    t.equal(r.code, 0, `${what}: status 0`);
    t.equal(coloured(r), expected, `${what}: ${expected ? 'coloured' : 'plain'}`);
  }
});

for (const variant of VARIANTS) {
  test(`colour: ${variant}: the child's own bytes, its escape sequences included, are untouched by a coloured label`, async (t) => {
    const r = await runOnPipe(['--variant', variant, '--color', 'always', ...EXACT_CHILD]);
    t.equal(r.code, 0, 'status 0');
    const pid = parseParentOutput(r.stdout.toString('latin1').replace(ANY_SGR, '')).exits[0]?.pid;
    const [first, close] = sgr(CHILD_COLOURS[0]!);
    const info = Buffer.from(`${first}[child ${pid}]${close}[info]: `);
    const error = Buffer.from(`${first}[child ${pid}]${close}${RED}[error]${DEFAULT_COLOUR}: `);
    t.deepEqual(linesAfter(r.stdout, info), splitLines(CHILD_STDOUT), 'after the coloured [info] label: the child\'s stdout lines, byte for byte');
    t.deepEqual(linesAfter(r.stdout, error), splitLines(CHILD_STDERR), 'after the coloured [error] label: its stderr lines, byte for byte');
    t.ok(r.stdout.includes(`${DIM}[child ${pid}] exited with code 0${NORMAL}\n`), 'the exit line dim');
  });
}

test('colour: a killed-by line is yellow', { skip: IS_WINDOWS && 'a signal exit is POSIX only' }, async (t) => {
  const r = await runOnPipe(['--color', 'always', '--children', '1', '--', process.execPath, '-e', 'process.kill(process.pid, "SIGKILL")']);
  const pid = parseParentOutput(r.stdout.toString('latin1').replace(ANY_SGR, '')).exits[0]?.pid;
  t.ok(pid !== undefined, 'the child was reported');
  t.equal(r.stdout.toString('latin1'), `${YELLOW}[child ${pid}] killed by SIGKILL${DEFAULT_COLOUR}\n`, 'the whole line yellow, newline outside');
});

test('colour: a bad --color value is one line naming it, status 2, nothing started', async (t) => {
  const r = await runOnPipe(['--color', 'sometimes', ...ONE_CHILD]);
  t.equal(r.code, 2, 'status 2');
  t.equal(r.stdout.length, 0, 'nothing on stdout: no child ran');
  const err = r.stderr.toString();
  t.equal(err.split('\n').filter(Boolean).length, 1, 'one line on stderr');
  t.ok(err.includes("'sometimes'") && err.includes('auto, always or never'), `it names the value and the choices: ${err.trim()}`);
  const missing = await runOnPipe(['--color']);
  t.equal(missing.code, 2, '--color without a value: status 2');
  t.ok(missing.stderr.toString().includes('missing value for --color'), 'and says so');
});
