/**
 * The built-in children: the C one (built by node-gyp beside the addon) and the
 * TypeScript one (run by this same Node through tsx's loader).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { C_CHILD_PATH, PROJECT_ROOT, RUNNING_COMPILED } from './native.ts';
import type { ChildSpec } from './variants/variant.ts';

export type ChildKind = 'c' | 'ts';
export type ChildChoice = ChildKind | 'mixed';

export const TS_CHILD_PATH = join(PROJECT_ROOT, 'child', 'child.ts');
/** The same child compiled by `npm run build:js` (part of `npm install`). */
export const TS_CHILD_JS_PATH = join(PROJECT_ROOT, 'build', 'js', 'child', 'child.js');

/** tsx's loader as a file URL, so `--import` works whatever the working directory is. */
export function tsxLoader(): string {
  const require = createRequire(import.meta.url);
  return pathToFileURL(require.resolve('tsx')).href;
}

export function childArgv(kind: ChildKind, args: readonly string[], platform = process.platform): string[] {
  if (kind === 'c') return [C_CHILD_PATH, ...args];
  // On Windows tsx's loader opens process.stdout while it loads, which fails when stdout
  // is a socket (EINVAL on Windows, EBADF under Wine; nodejs/help#2342) before the child
  // runs a line. The compiled child never touches process.stdout.
  if (platform === 'win32' || RUNNING_COMPILED) return [process.execPath, TS_CHILD_JS_PATH, ...args];
  return [process.execPath, '--import', tsxLoader(), TS_CHILD_PATH, ...args];
}

/** `mixed` is the article's line-up: C, TS, C, TS, ... */
export function builtInChildren(choice: ChildChoice, count: number, args: readonly string[]): ChildSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const kind: ChildKind = choice === 'mixed' ? (i % 2 === 0 ? 'c' : 'ts') : choice;
    return { name: 'child', argv: childArgv(kind, args) };
  });
}
