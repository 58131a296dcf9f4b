/** What is measured: the parent in its four variants and the C relays, as command lines. */
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../parent/native.ts';
import type { Sizes } from './options.ts';
import { LOAD, nodeTs, PARENT_MAIN, RELAY } from './procs.ts';

export type RelayId = 'c-relay' | 'c-relay-pipe';
export type RowId = 'socketpair' | 'pipe-thread' | 'posix' | 'libuv' | 'socketpair-js' | 'posix-js' | RelayId | 'socketpair-other';

/** What the parent reads the children's output from. */
export type Transport = 'socket pairs' | 'pipes';

export interface Row {
  id: RowId;
  label: string;
  transport: Transport;
  argv(children: number, command: readonly string[]): string[];
}

/** The C relay of each transport: every row's ratio is taken against the relay that
 * moves the bytes the same way (issue 15: a socket-pair relay as the only yardstick hid
 * how far the posix variant is from a pipe relay). */
export const RELAY_OF: Readonly<Record<Transport, RelayId>> = { 'socket pairs': 'c-relay', pipes: 'c-relay-pipe' };

export const PARENT_MAIN_JS = join(PROJECT_ROOT, 'build', 'js', 'parent', 'main.js');
/** The parents run as tsc output (default) or, with --tsx, through tsx's loader. */
let runCompiled = true;

/** Set once from the options, before the first row runs. */
export function setRunCompiled(compiled: boolean): void {
  runCompiled = compiled;
}

export function runsCompiled(): boolean {
  return runCompiled;
}

/** `node [flags] <parent> ARGS`, through tsx's loader or as compiled JavaScript. */
export function parentArgv(args: readonly string[], nodeFlags: readonly string[] = []): string[] {
  return runCompiled ? [process.execPath, ...nodeFlags, PARENT_MAIN_JS, ...args] : nodeTs(PARENT_MAIN, args, nodeFlags);
}

export function parentRow(id: Exclude<RowId, RelayId>, label: string, transport: Transport): Row {
  return {
    id,
    label,
    transport,
    argv: (children, command) => parentArgv(['--variant', id, '--children', String(children), '--', ...command]),
  };
}

/** The same variant with the TypeScript loop (`--loop js`): the article's steps as the
 * reference reads them, next to the native loop the variant runs by default. */
function typeScriptLoopRow(id: 'socketpair-js' | 'posix-js', variant: 'socketpair' | 'posix', label: string, transport: Transport): Row {
  return {
    id,
    label,
    transport,
    argv: (children, command) => parentArgv(['--variant', variant, '--loop', 'js', '--children', String(children), '--', ...command]),
  };
}

/** W4's rows: the scale workload compares the variants as they run by default, so the
 * TypeScript-loop rows (W1, W2 and the start-up table show them) are left out of it. */
export function scaleRows(): readonly Row[] {
  return ROWS.filter((r) => r.id !== 'socketpair-js' && r.id !== 'posix-js');
}

export const ROWS: readonly Row[] = [
  parentRow('socketpair', 'parent, socketpair (default)', 'socket pairs'),
  // The children write into pipes; the parent reads the socket pairs its thread copies into.
  parentRow('pipe-thread', 'parent, pipe-thread', 'socket pairs'),
  parentRow('posix', 'parent, posix (fork+exec, pipes)', 'pipes'),
  typeScriptLoopRow('socketpair-js', 'socketpair', 'parent, socketpair, TypeScript loop (--loop js)', 'socket pairs'),
  typeScriptLoopRow('posix-js', 'posix', 'parent, posix, TypeScript loop (--loop js)', 'pipes'),
  // child_process's 'pipe' is a socket pair on Linux: libuv's uv_spawn creates one for
  // UV_CREATE_PIPE (src/unix/process.c); /proc/PID/fd of such a child shows socket:[...].
  parentRow('libuv', 'parent, libuv = plain Node child_process', 'socket pairs'),
  {
    id: 'c-relay',
    label: 'C relay over socket pairs (poll+read+label+write): the limit',
    transport: 'socket pairs',
    argv: (children, command) => [RELAY, '--children', String(children), '--', ...command],
  },
  {
    id: 'c-relay-pipe',
    label: 'C relay over pipes: the limit for the posix variant',
    transport: 'pipes',
    argv: (children, command) => [RELAY, '--pipes', '--children', String(children), '--', ...command],
  },
];

export function isRelay(row: Row): boolean {
  return row.id === 'c-relay' || row.id === 'c-relay-pipe';
}

/** Only in the start-up table: the socketpair parent the way `npm start` runs it, through
 * tsx's loader, next to the compiled one (or the other way round under --tsx). */
export const TSX_ROW: Row = {
  id: 'socketpair-other',
  transport: 'socket pairs',
  get label(): string {
    return runCompiled ? 'parent, socketpair, through tsx (as `npm start`)' : 'parent, socketpair, compiled (build/js)';
  },
  argv: (children, command) => {
    const args = ['--variant', 'socketpair', '--children', String(children), '--', ...command];
    return runCompiled ? nodeTs(PARENT_MAIN, args) : [process.execPath, PARENT_MAIN_JS, ...args];
  },
};

export function loadWrite(lines: number, sizes: Sizes, mode: 'line' | 'buffered' | 'stamp'): string[] {
  const argv = [LOAD, 'write', '--lines', String(lines), '--line-bytes', String(sizes.lineBytes), '--mode', mode];
  if (mode === 'stamp') argv.push('--interval-ms', String(sizes.w2IntervalMs));
  return argv;
}
