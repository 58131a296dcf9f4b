/** What is measured: the parent in its four variants and the C relays, as command lines. */
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../parent/native.ts';
import type { Sizes } from './options.ts';
import { LOAD, nodeTs, PARENT_MAIN, RELAY } from './procs.ts';

export type RowId = 'socketpair' | 'pipe-thread' | 'posix' | 'libuv' | 'c-relay' | 'socketpair-other';

export interface Row {
  id: RowId;
  label: string;
  argv(children: number, command: readonly string[]): string[];
}

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

export function parentRow(id: Exclude<RowId, 'c-relay'>, label: string): Row {
  return {
    id,
    label,
    argv: (children, command) => parentArgv(['--variant', id, '--children', String(children), '--', ...command]),
  };
}

export const ROWS: readonly Row[] = [
  parentRow('socketpair', 'parent, socketpair (default)'),
  parentRow('pipe-thread', 'parent, pipe-thread'),
  parentRow('posix', 'parent, posix (fork+exec, pipes)'),
  parentRow('libuv', 'parent, libuv = plain Node child_process'),
  {
    id: 'c-relay',
    label: 'C relay (poll+read+label+write): the limit',
    argv: (children, command) => [RELAY, '--children', String(children), '--', ...command],
  },
];

/** Only in the start-up table: the socketpair parent the way `npm start` runs it, through
 * tsx's loader, next to the compiled one (or the other way round under --tsx). */
export const TSX_ROW: Row = {
  id: 'socketpair-other',
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
