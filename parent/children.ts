/**
 * The built-in children: the C one (built by node-gyp beside the addon) and the
 * TypeScript one (run by this same Node through tsx's loader).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { C_CHILD_PATH, PROJECT_ROOT } from './native.ts';
import type { ChildSpec } from './variants/variant.ts';

export type ChildKind = 'c' | 'ts';
export type ChildChoice = ChildKind | 'mixed';

export const TS_CHILD_PATH = join(PROJECT_ROOT, 'child', 'child.ts');

/** tsx's loader as a file URL, so `--import` works whatever the working directory is. */
function tsxLoader(): string {
  const require = createRequire(import.meta.url);
  return pathToFileURL(require.resolve('tsx')).href;
}

export function childArgv(kind: ChildKind, args: readonly string[]): string[] {
  if (kind === 'c') return [C_CHILD_PATH, ...args];
  return [process.execPath, '--import', tsxLoader(), TS_CHILD_PATH, ...args];
}

/** `mixed` is the article's line-up: C, TS, C, TS, ... */
export function builtInChildren(choice: ChildChoice, count: number, args: readonly string[]): ChildSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const kind: ChildKind = choice === 'mixed' ? (i % 2 === 0 ? 'c' : 'ts') : choice;
    return { name: 'child', argv: childArgv(kind, args) };
  });
}
