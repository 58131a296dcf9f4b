/**
 * Whether the parent colours its labels: decided once, at the start, from `--color`, the
 * environment and the kind of stdout. The labels themselves are coloured in lines.ts.
 *
 * `--color always` and `--color never` decide alone. `--color auto` (the default) follows
 * the rules Node applies to its own coloured output (`util.styleText` with its stream
 * check, `tty.WriteStream.hasColors`), so that the parent agrees with Node programs run
 * under the same environment (the TS children are such programs):
 *
 *   1. FORCE_COLOR set: it decides, whatever stdout is and even when NO_COLOR is set too.
 *      '', '1', '2', '3' and 'true' mean colour; any other value ('0', 'false', ...) means
 *      none, even on a terminal. (picocolors differs: any FORCE_COLOR, even '0', means
 *      colour, and NO_COLOR wins over it.)
 *   2. NO_COLOR set, to any value, the empty string included: no colour. no-color.org asks
 *      only a non-empty value to count; Node and picocolors both count an empty one too.
 *   3. Otherwise colour only when stdout is a terminal that has colours: Node's
 *      `hasColors()` reads TERM (no colour for 'dumb', nor when TERM is unset on Linux).
 *
 * Seen on Linux with Node 20.20 (test/colour.test.ts compares these rules with Node's own
 * `util.styleText`). On Windows only documented: Node reports colours for a console there.
 */
import { UsageError } from '../child/options.ts';

export type ColourMode = 'auto' | 'always' | 'never';
export const COLOUR_MODES: readonly ColourMode[] = ['auto', 'always', 'never'];

/** The FORCE_COLOR values Node's getColorDepth() takes as "at least 16 colours". */
const FORCE_COLOR_ON: ReadonlySet<string> = new Set(['', '1', '2', '3', 'true']);

export function parseColourMode(text: string): ColourMode {
  const mode = COLOUR_MODES.find((m) => m === text);
  if (mode === undefined) {
    throw new UsageError(`invalid value for --color: '${text}' (expected auto, always or never)`);
  }
  return mode;
}

/** What the decision needs of stdout: process.stdout, or a stand-in in tests. */
export interface ColourTarget {
  isTTY?: boolean;
  /** tty.WriteStream's; absent on pipes and files. */
  hasColors?: (env: Record<string, string | undefined>) => boolean;
}

export function decideColour(mode: ColourMode, env: Record<string, string | undefined>, stdout: ColourTarget): boolean {
  if (mode !== 'auto') return mode === 'always';
  if (env.FORCE_COLOR !== undefined) return FORCE_COLOR_ON.has(env.FORCE_COLOR);
  if (env.NO_COLOR !== undefined) return false;
  if (stdout.isTTY !== true || stdout.hasColors === undefined) return false;
  return stdout.hasColors(env);
}
