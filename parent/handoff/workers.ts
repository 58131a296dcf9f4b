/** The two workers of the handoff demo and how each is started. */
import { join } from 'node:path';
import { tsxLoader } from '../children.ts';
import { PROJECT_ROOT, RUNNING_COMPILED, WORKER_C_PATH } from '../native.ts';
import type { WorkerChoice } from './options.ts';

export type WorkerKind = 'c' | 'ts';

export const TS_WORKER_PATH = join(PROJECT_ROOT, 'child', 'worker.ts');
const TS_WORKER_JS_PATH = join(PROJECT_ROOT, 'build', 'js', 'child', 'worker.js');

/** `mixed`: C, TS, C, TS, ... by the n-th worker started. */
export function workerKind(choice: WorkerChoice, n: number): WorkerKind {
  return choice === 'mixed' ? (n % 2 === 0 ? 'c' : 'ts') : choice;
}

export function workerArgv(kind: WorkerKind, args: readonly string[]): string[] {
  if (kind === 'c') return [WORKER_C_PATH, ...args];
  if (RUNNING_COMPILED) return [process.execPath, TS_WORKER_JS_PATH, ...args];
  return [process.execPath, '--import', tsxLoader(), TS_WORKER_PATH, ...args];
}
