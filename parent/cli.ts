/**
 * The parent's command line. Children's options (--lines, --seq, ...) are accepted here
 * too and passed on to the built-in children; after `--`, a command replaces them.
 */
import {
  childOptionArgs,
  DEFAULT_CHILD_OPTIONS,
  parseWholeNumber,
  takeChildOption,
  UsageError,
  type ChildOptions,
} from '../child/options.ts';
import type { ChildChoice } from './children.ts';
import { parseColourMode, type ColourMode } from './colour.ts';

export { UsageError };

/** Far beyond what select() can serve; the multiplexer refuses what it cannot watch. */
export const MAX_CHILDREN = 100_000;
const MAX_DURATION_S = 365 * 24 * 3600;

export interface ParentOptions {
  children: number;
  child: ChildChoice;
  /** Seconds; null: until the children exit (forever, for the default children). */
  durationS: number | null;
  trace: boolean;
  help: boolean;
  childOptions: ChildOptions;
  /** Set when the child options were given explicitly (they apply to built-in children). */
  childArgs: string[];
  /** After `--`: run N copies of this instead of the built-in child. */
  command: string[] | null;
  /** `--variant NAME`; null: IPC_VARIANT or the default. */
  variant: string | null;
  /** `--config FILE`: a JSON list of helpers to run instead. */
  config: string | null;
  /** `--detached`: the children are started detached (outside the parent's tree). */
  detached: boolean;
  /** `--color`: auto (the default) follows FORCE_COLOR, NO_COLOR and the terminal. */
  colour: ColourMode;
  /** `--break NAME` (or `list`): switch one step of the article off, to teach. */
  breakStep: string | null;
  /** `--timeline FILE`: the run as a Chrome trace; null: none. */
  timeline: string | null;
  /** `--timeline-limit N`: at most N events in it. */
  timelineLimit: number;
  /** `--loop`: who runs the select() loop (parent/relay-native.ts). */
  loop: 'auto' | 'js' | 'native';
}

/** The default --timeline-limit: some 200 MB of JSON in a flood of 100-byte lines, about
 * what a browser still opens; memory does not depend on it (parent/timeline.ts). */
export const DEFAULT_TIMELINE_LIMIT = 1_000_000;
const MAX_TIMELINE_LIMIT = 1_000_000_000;

export const PARENT_USAGE = `Usage: npm start -- [options] [-- command [args...]]
Runs N children and prints each line of their stdout and stderr as it arrives:
  [child PID][info]: LINE     (stdout)      [child PID][error]: LINE    (stderr)
Both kinds of line go to the parent's stdout (its stderr carries only its own errors
and --trace). A child's stdin is /dev/null (NUL on Windows): it can read nothing.
Options:
  --children N        how many children (default 3)
  --child KIND        c, ts or mixed (default: mixed, i.e. C, TS, C)
  --duration S        stop the children after S seconds (decimals allowed)
  --variant NAME      socketpair (default), pipe-thread, posix or libuv (or IPC_VARIANT)
  --config FILE       run the helpers listed in FILE (JSON) instead, labelled by name;
                      each runs in FILE's folder unless its entry gives a "cwd"
  --detached          start the children detached: not stopped with the parent, left
                      running when it ends ("[child PID] detached, still running");
                      a detached child does not keep the parent running
  --color WHEN        colour the labels: auto (default: on a terminal, unless NO_COLOR;
                      FORCE_COLOR=1 turns it on for pipes, FORCE_COLOR=0 off), always, never
  --trace             print every step to stderr (or DEBUG_IO_MULTIPLEXING=1)
  --loop WHO          who runs the select() loop: js (the TypeScript loop, the article's
                      steps as you read them), native (the same loop in C on a thread:
                      faster; POSIX, not with --trace, --timeline or --break), or auto
                      (default: native where it can run)
  --break NAME        switch off one step of the article to see what it is for
                      (teaching only; --break list names them; docs/workshop.md)
  --timeline FILE     write the run to FILE as a Chrome trace (Perfetto UI opens it;
                      so does: npm run timeline -- FILE -o FILE.html)
  --timeline-limit N  at most N events in it (default ${DEFAULT_TIMELINE_LIMIT}); the file says if cut
  --help              this text
Passed on to the built-in children:
  --lines N  --max-sleep-ms M  --seed S  --line-bytes B  --streams both|stdout|stderr
  --seq  --stamp  --exit-code C   (see: npx tsx child/child.ts --help)
After --, a command and its arguments replace the built-in child, N copies of it:
  npm start -- --children 2 -- perl docs/examples/child.pl
--config FILE: a JSON array of helpers, one object each (other keys are refused):
  "name"  required: 1-64 letters, digits, '.', '_' or '-'; the label, in place of "child"
  "argv"  required: non-empty array of strings, the program and its arguments
  "cwd"   optional: its working folder; a relative one is taken from FILE's folder
  "env"   optional: object of strings; replaces the whole environment
  e.g. [{ "name": "web", "argv": ["node", "server.js"], "cwd": "site", "env": { "PORT": "8080" } }]
  (docs/examples/helpers.json is one to try)
Exit status: 0 if every child exited 0, 1 otherwise, 2 for bad usage, 127 command not
found, 126 not executable, 128+N when stopped by signal N.
`;

function parseSeconds(flag: string, text: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text)) {
    throw new UsageError(`invalid value for ${flag}: '${text}' (expected seconds, e.g. 5 or 0.5)`);
  }
  const s = Number(text);
  if (s > MAX_DURATION_S) throw new UsageError(`invalid value for ${flag}: '${text}' (at most ${MAX_DURATION_S})`);
  return s;
}

export function parseParentArgs(args: readonly string[]): ParentOptions {
  const o: ParentOptions = {
    children: 3,
    child: 'mixed',
    durationS: null,
    trace: false,
    help: false,
    childOptions: { ...DEFAULT_CHILD_OPTIONS },
    childArgs: [],
    command: null,
    variant: null,
    config: null,
    detached: false,
    colour: 'auto',
    breakStep: null,
    timeline: null,
    timelineLimit: DEFAULT_TIMELINE_LIMIT,
    loop: 'auto',
  };
  let childrenGiven = false;
  let i = 0;
  while (i < args.length) {
    const a = args[i]!;
    if (a === '--') {
      o.command = args.slice(i + 1);
      if (o.command.length === 0) throw new UsageError("'--' must be followed by a command to run");
      break;
    }
    const value = (): string => {
      const v = args[i + 1];
      if (v === undefined) throw new UsageError(`missing value for ${a}`);
      return v;
    };
    if (a === '--help' || a === '-h') {
      o.help = true;
      i += 1;
    } else if (a === '--trace') {
      o.trace = true;
      i += 1;
    } else if (a === '--detached') {
      o.detached = true;
      i += 1;
    } else if (a === '--children') {
      o.children = parseWholeNumber(a, value(), MAX_CHILDREN, 1);
      childrenGiven = true;
      i += 2;
    } else if (a === '--variant') {
      o.variant = value();
      i += 2;
    } else if (a === '--break') {
      o.breakStep = value();
      i += 2;
    } else if (a === '--timeline') {
      o.timeline = value();
      if (o.timeline === '') throw new UsageError("invalid value for --timeline: '' (expected a file name)");
      i += 2;
    } else if (a === '--timeline-limit') {
      o.timelineLimit = parseWholeNumber(a, value(), MAX_TIMELINE_LIMIT, 1);
      i += 2;
    } else if (a === '--config') {
      o.config = value();
      i += 2;
    } else if (a === '--loop') {
      const v = value();
      if (v !== 'auto' && v !== 'js' && v !== 'native') {
        throw new UsageError(`invalid value for --loop: '${v}' (expected auto, js or native)`);
      }
      o.loop = v;
      i += 2;
    } else if (a === '--color') {
      o.colour = parseColourMode(value());
      i += 2;
    } else if (a === '--child') {
      const v = value();
      if (v !== 'c' && v !== 'ts' && v !== 'mixed') {
        throw new UsageError(`invalid value for --child: '${v}' (expected c, ts or mixed)`);
      }
      o.child = v;
      i += 2;
    } else if (a === '--duration') {
      o.durationS = parseSeconds(a, value());
      i += 2;
    } else {
      const used = takeChildOption(o.childOptions, args, i);
      if (used === 0) throw new UsageError(`unknown option '${a}'`);
      i += used;
    }
  }
  o.childArgs = childOptionArgs(o.childOptions);
  if (o.command !== null && o.childArgs.length > 0) {
    throw new UsageError(`child options (${o.childArgs[0]}) apply to the built-in children, not to a command after --`);
  }
  if (o.config !== null) {
    if (o.command !== null) throw new UsageError('--config and a command after -- cannot be combined');
    if (o.childArgs.length > 0) throw new UsageError(`child options (${o.childArgs[0]}) apply to the built-in children, not to --config helpers`);
    if (childrenGiven) throw new UsageError('--children does not apply to --config: the file lists the helpers');
    if (o.detached) throw new UsageError('--detached does not apply to --config: set "detached": true in the entries');
  }
  return o;
}
