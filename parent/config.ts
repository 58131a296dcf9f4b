/**
 * `--config FILE`: several different helpers instead of N copies of one command (the
 * article's Qgoda runs bundlers and dev servers this way):
 *
 *   [{ "name": "bundler", "argv": ["node", "build.js", "--watch"], "cwd": "web", "env": { "NODE_ENV": "dev" } },
 *    { "name": "db", "argv": ["./start-db.sh"], "detached": true }]
 *
 * Everything is checked before anything is spawned; an error names the entry. An entry
 * runs in the config file's folder unless it gives a cwd; a relative cwd is taken from
 * that folder too, so a config means the same whatever folder the parent starts in.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../child/options.ts';
import type { ChildSpec } from './variants/variant.ts';

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function checkEntry(file: string, raw: unknown, i: number): ChildSpec {
  const label = (name?: unknown): string =>
    `--config ${file}: entry ${i + 1}${typeof name === 'string' ? ` ("${name}")` : ''}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new UsageError(`${label()}: must be an object with "name" and "argv"`);
  }
  const e = raw as Record<string, unknown>;
  const unknownKeys = Object.keys(e).filter((k) => !['name', 'argv', 'cwd', 'env', 'detached'].includes(k));
  if (unknownKeys.length > 0) throw new UsageError(`${label(e.name)}: unknown key "${unknownKeys[0]}"`);
  if (typeof e.name !== 'string' || !NAME.test(e.name)) {
    throw new UsageError(`${label(e.name)}: "name" must be 1-64 letters, digits, '.', '_' or '-' (it goes into the label)`);
  }
  if (!isStringArray(e.argv) || e.argv.length === 0 || e.argv[0] === '') {
    throw new UsageError(`${label(e.name)}: "argv" must be a non-empty array of strings`);
  }
  if (e.argv.some((a) => a.includes('\0'))) throw new UsageError(`${label(e.name)}: "argv" must not contain NUL characters`);
  // Without a cwd the helper runs in the config file's folder (issue 14: relative paths in
  // argv, such as "../child.pl", were resolved against wherever the parent was started).
  const spec: ChildSpec = { name: e.name, argv: [...e.argv], cwd: resolve(dirname(file)) };
  if (e.cwd !== undefined) {
    if (typeof e.cwd !== 'string' || e.cwd === '') throw new UsageError(`${label(e.name)}: "cwd" must be a non-empty string`);
    const cwd = resolve(dirname(file), e.cwd);
    let isDir = false;
    try {
      isDir = statSync(cwd).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) throw new UsageError(`${label(e.name)}: "cwd" ${cwd} is not a directory`);
    spec.cwd = cwd;
  }
  if (e.env !== undefined) {
    const env = e.env;
    if (typeof env !== 'object' || env === null || Array.isArray(env) ||
        !Object.values(env).every((v) => typeof v === 'string')) {
      throw new UsageError(`${label(e.name)}: "env" must be an object of strings`);
    }
    spec.env = { ...(env as Record<string, string>) };
  }
  if (e.detached !== undefined) {
    if (typeof e.detached !== 'boolean') throw new UsageError(`${label(e.name)}: "detached" must be true or false`);
    if (e.detached) spec.detached = true;
  }
  return spec;
}

export function readConfig(file: string): ChildSpec[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--config ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--config ${file}: invalid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new UsageError(`--config ${file}: must be a non-empty JSON array of helpers`);
  }
  return parsed.map((entry, i) => checkEntry(file, entry, i));
}
