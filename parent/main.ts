/**
 * `npm start`: the article's demo. Three children (C, TS, C) write to stdout and stderr at
 * random moments; the parent shows every line, labelled, as it arrives.
 */
import { writeSync } from 'node:fs';
import { builtInChildren } from './children.ts';
import { parseParentArgs, PARENT_USAGE, UsageError, type ParentOptions } from './cli.ts';
import { ipc, isNativeError } from './native.ts';
import { Output } from './output.ts';
import { Relay } from './relay.ts';
import { makeTrace, traceFromEnvironment } from './trace.ts';
import { readConfig } from './config.ts';
import { checkCapacity, chooseVariant } from './variants/index.ts';
import type { ChildSpec, Variant } from './variants/variant.ts';

const EXIT_USAGE = 2;
const EXIT_NOT_EXECUTABLE = 126;
const EXIT_NOT_FOUND = 127;

function say(text: string): void {
  writeSync(2, `parent: ${text}\n`);
}

function childSpecs(o: ParentOptions): ChildSpec[] {
  if (o.config !== null) return readConfig(o.config);
  if (o.command !== null) {
    return Array.from({ length: o.children }, () => ({ name: 'child', argv: [...o.command!] }));
  }
  return builtInChildren(o.child, o.children, o.childArgs);
}

async function main(args: readonly string[]): Promise<number> {
  let o: ParentOptions;
  let variant: Variant;
  let specs: ChildSpec[];
  try {
    o = parseParentArgs(args);
    if (o.help) {
      writeSync(1, PARENT_USAGE);
      return 0;
    }
    // Everything is checked before the first child starts.
    variant = chooseVariant(o.variant, process.env.IPC_VARIANT);
    specs = childSpecs(o);
    checkCapacity(variant, specs.length, ipc.FD_SETSIZE);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    say(`${e.message} (see --help)`);
    return EXIT_USAGE;
  }
  const output = new Output();
  if (o.durationS === null && o.command === null && o.config === null && o.childOptions.lines === null) {
    output.write('Running forever, hit CTRL-C to stop.\n');
  }
  const relay = new Relay({
    specs,
    variant,
    output,
    trace: makeTrace(o.trace || traceFromEnvironment()),
    durationMs: o.durationS === null ? null : Math.round(o.durationS * 1000),
  });
  try {
    return await relay.run();
  } catch (e) {
    if (!isNativeError(e)) throw e;
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
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    say(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exitCode = 1;
  },
);
