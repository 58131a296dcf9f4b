/**
 * `npm start`: the article's demo. Three children (C, TS, C) write to stdout and stderr at
 * random moments; the parent shows every line, labelled, as it arrives.
 *
 * Only light modules are imported up front: the stop signals are caught from the first
 * line (stop-signals.ts says why), and `--help` and usage errors work without the native
 * addon. Everything that needs the addon is loaded after that; a missing addon is one
 * plain message and status 1.
 */
import { writeSync } from 'node:fs';
import { StopSignals } from './stop-signals.ts';
import { AddonMissingError } from './addon-error.ts';
import { breakList, breakWarning, checkBreak, checkBreakVariant, releaseHeldWriteEnds, type BreakName } from './break.ts';
import { parseParentArgs, PARENT_USAGE, UsageError, type ParentOptions } from './cli.ts';
import { decideColour } from './colour.ts';
import type { RelayOptions } from './relay.ts';
import type { ChildSpec } from './variants/variant.ts';

const signals = new StopSignals();

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
const EXIT_NOT_EXECUTABLE = 126;
const EXIT_NOT_FOUND = 127;

function say(text: string): void {
  writeSync(2, `parent: ${text}\n`);
}

/** The modules that need the addon (native.ts loads it as it is imported). */
async function loadRelay() {
  const [children, config, lines, native, output, relay, timeline, trace, variants] = await Promise.all([
    import('./children.ts'),
    import('./config.ts'),
    import('./lines.ts'),
    import('./native.ts'),
    import('./output.ts'),
    import('./relay.ts'),
    import('./timeline.ts'),
    import('./trace.ts'),
    import('./variants/index.ts'),
  ]);
  return { ...children, ...config, ...lines, ...native, ...output, ...relay, ...timeline, ...trace, ...variants };
}
type RelayModules = Awaited<ReturnType<typeof loadRelay>>;

function childSpecs(m: RelayModules, o: ParentOptions): ChildSpec[] {
  if (o.config !== null) return m.readConfig(o.config);
  const detached = o.detached ? { detached: true } : {};
  if (o.command !== null) {
    const command = o.command;
    return Array.from({ length: o.children }, () => ({ name: 'child', argv: [...command], ...detached }));
  }
  return m.builtInChildren(o.child, o.children, o.childArgs).map((spec) => ({ ...spec, ...detached }));
}

async function main(args: readonly string[]): Promise<number> {
  let o: ParentOptions;
  try {
    o = parseParentArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    say(`${e.message} (see --help)`);
    return EXIT_USAGE;
  }
  if (o.help) {
    writeSync(1, PARENT_USAGE);
    return 0;
  }
  if (o.breakStep === 'list') {
    writeSync(1, breakList());
    return 0;
  }
  let breakStep: BreakName | null = null;
  try {
    if (o.breakStep !== null) breakStep = checkBreak(o.breakStep);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    say(e.message);
    return EXIT_USAGE;
  }
  let m: RelayModules;
  try {
    m = await loadRelay();
  } catch (e) {
    if (!(e instanceof AddonMissingError)) throw e;
    say(e.message);
    say(e.hint);
    return EXIT_FAILURE;
  }
  let variant;
  let specs: ChildSpec[];
  try {
    // Everything is checked before the first child starts.
    variant = m.chooseVariant(o.variant, process.env.IPC_VARIANT);
    specs = childSpecs(m, o);
    if (breakStep !== null) {
      checkBreakVariant(breakStep, variant.name);
      const b = breakStep;
      specs = specs.map((spec) => ({ ...spec, breakStep: b }));
    }
    m.checkCapacity(variant, specs.length, m.ipc.FD_SETSIZE);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    say(`${e.message} (see --help)`);
    return EXIT_USAGE;
  }
  // The warning comes before anything starts, so it is never missed in the output.
  if (breakStep !== null) say(breakWarning(breakStep));
  let timeline = m.NO_TIMELINE;
  if (o.timeline !== null) {
    try {
      timeline = m.openTimeline({ path: o.timeline, limit: o.timelineLimit, variant: variant.name });
    } catch (e) {
      say(`cannot write --timeline '${o.timeline}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return EXIT_FAILURE;
    }
  }
  const output = new m.Output();
  if (o.durationS === null && o.command === null && o.config === null && o.childOptions.lines === null) {
    output.write('Running forever, hit CTRL-C to stop.\n');
  }
  const relayOptions: RelayOptions = {
    specs,
    variant,
    output,
    trace: m.makeTrace(o.trace || m.traceFromEnvironment()),
    timeline,
    durationMs: o.durationS === null ? null : Math.round(o.durationS * 1000),
    signals,
    labels: new m.Labels(decideColour(o.colour, process.env, process.stdout)),
    loop: o.loop,
    ...(breakStep === 'inherit-all' && { afterStart: () => void releaseHeldWriteEnds() }),
  };
  const refusal = o.loop === 'native' ? m.nativeLoopRefusal(relayOptions) : null;
  if (refusal !== null) {
    say(`--loop native: ${refusal}`);
    timeline.close();
    return EXIT_USAGE;
  }
  const relay = new m.Relay(relayOptions);
  try {
    return await relay.run();
  } catch (e) {
    if (!m.isNativeError(e)) throw e;
    const what = e.path ?? '';
    if (e.code === 'ENOENT' && e.syscall !== 'chdir') {
      say(`cannot run '${what}': command not found (${e.code})`);
      return EXIT_NOT_FOUND;
    }
    if (e.code === 'EACCES' || e.code === 'ENOEXEC') {
      say(`cannot run '${what}': not executable (${e.code})`);
      return EXIT_NOT_EXECUTABLE;
    }
    say(e.message);
    return EXIT_FAILURE;
  } finally {
    // --break keep-write-ends: the parent let go of its copies only now.
    releaseHeldWriteEnds();
    // Complete JSON whatever ended the run (the children's end, a stop, a failed spawn).
    timeline.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    say(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exitCode = EXIT_FAILURE;
  },
);
