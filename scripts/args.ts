/**
 * Command-line parsing for the project's scripts: `node:util`'s parseArgs, with bad input
 * turned into the project's one-line error (`SCRIPT: what is wrong (usage)`) and exit
 * status 2, the status a shell uses for a usage error. The children in child/ keep their
 * own hand-written tables: their error messages are part of their contract.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** One line on stderr, status 2. */
export function usageError(script: string, message: string, usage: string): never {
  process.stderr.write(`${script}: ${message} (${usage})\n`);
  process.exit(2);
}

/**
 * parseArgs (strict: its default). Its own messages go on with advice in further sentences ("Unknown
 * option '--x'. To specify a positional argument starting with a '-', ..."): the first
 * sentence names the value, and is all that is kept.
 */
export function parseArgsOrExit<T extends ParseArgsConfig>(
  script: string,
  usage: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS')) throw e;
    const first = (e as Error).message.split(/\.\s/)[0]!.replace(/\s+/g, ' ').replace(/\.$/, '');
    usageError(script, first.charAt(0).toLowerCase() + first.slice(1), usage);
  }
}

/** A whole number ≥ 1, or the usage error naming the option and the value. */
export function positiveInt(script: string, usage: string, option: string, value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) usageError(script, `${option} '${value}' is not a whole number ≥ 1`, usage);
  return Number(value);
}

/** One of `allowed`, or the usage error listing them. */
export function oneOf<const A extends readonly string[]>(script: string, usage: string, option: string, value: string, allowed: A): A[number] {
  if (!(allowed as readonly string[]).includes(value)) usageError(script, `${option} '${value}' is not one of ${allowed.join(', ')}`, usage);
  return value as A[number];
}
