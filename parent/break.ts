/**
 * `--break NAME`: "break it yourself" (docs/workshop.md). Each name switches off one step
 * of the article in the real parent, so that a learner can see what the step is for: the
 * symptom the step prevents shows up in an ordinary run. A teaching switch, never a mode
 * to run in: the parent says so on stderr before it starts anything.
 *
 * Where a step lives in TypeScript (closing the write ends, non-blocking mode) the break
 * is done here and in parent/variants/channels.ts; where it lives in the native spawn or
 * the socket pair (inheritance, STARTUPINFO, the overlapped flag) the addon takes a
 * narrowly named option (SpawnOptions.breakStep, SocketpairOptions.breakStep).
 */
import { UsageError } from '../child/options.ts';

export interface BreakInfo {
  /** One line for `--break list`. */
  description: string;
  /** What is switched off, for the warning: `parent: --break NAME: <this>`. */
  switchedOff: string;
  /** Where the break can be shown; elsewhere it is refused (status 2). */
  platforms: readonly ('posix' | 'win32')[];
  /** The variants whose steps it changes. */
  variants: readonly string[];
}

export const BREAKS = {
  'keep-write-ends': {
    description: 'the parent keeps its copies of the children\'s write ends: no end of file, the run ends only at --duration or Ctrl-C',
    switchedOff: 'step 3 (the parent closes its copies of the write ends); the streams never reach end of file',
    platforms: ['posix', 'win32'],
    variants: ['socketpair', 'posix'],
  },
  'inherit-all': {
    description: 'every child inherits every write end (no close-on-exec / no HANDLE_LIST): a sibling holds a child\'s stream open',
    switchedOff: 'close-on-exec (POSIX) / PROC_THREAD_ATTRIBUTE_HANDLE_LIST (Windows), and the parent closes write ends only after every child has started',
    platforms: ['posix', 'win32'],
    variants: ['socketpair'],
  },
  'blocking-read': {
    description: 'the read ends stay blocking: a read select() did not vouch for stalls the whole loop',
    switchedOff: 'step 4 (non-blocking read ends); a read with nothing to read waits, and the whole loop with it',
    platforms: ['posix', 'win32'],
    variants: ['socketpair', 'posix'],
  },
  'nonblocking-write-end': {
    description: 'O_NONBLOCK is set on the child\'s end too: the flag is shared, the child\'s writes fail with EAGAIN',
    switchedOff: 'non-blocking mode on the parent\'s end only; the child\'s write ends are non-blocking too',
    platforms: ['posix'],
    variants: ['socketpair', 'posix'],
  },
  'overlapped-socket': {
    description: 'Windows: the socket pair is made with socket() (overlapped) instead of WSASocket(..., 0)',
    switchedOff: 'WSASocket(..., 0): the socket pair is made with socket(), overlapped sockets become the child\'s stdout and stderr',
    platforms: ['win32'],
    variants: ['socketpair'],
  },
  'no-startf': {
    description: 'Windows: CreateProcess without STARTF_USESTDHANDLES, so hStdOutput and hStdError are ignored',
    switchedOff: 'STARTF_USESTDHANDLES: the child\'s std handles in STARTUPINFO are ignored',
    platforms: ['win32'],
    variants: ['socketpair'],
  },
} as const satisfies Record<string, BreakInfo>;

export type BreakName = keyof typeof BREAKS;
export const BREAK_NAMES = Object.keys(BREAKS) as BreakName[];

/** `--break list`: one name and one line each. */
export function breakList(): string {
  const width = Math.max(...BREAK_NAMES.map((n) => n.length));
  return BREAK_NAMES.map((n) => `${n.padEnd(width)}  ${BREAKS[n].description}\n`).join('');
}

/** Checks the name against the table and the platform; the name, or a UsageError. */
export function checkBreak(name: string, platform: NodeJS.Platform = process.platform): BreakName {
  if (!Object.hasOwn(BREAKS, name)) {
    throw new UsageError(`unknown --break '${name}'; valid: ${BREAK_NAMES.join(', ')} (or list)`);
  }
  const b = name as BreakName;
  const here = platform === 'win32' ? 'win32' : 'posix';
  if (!(BREAKS[b].platforms as readonly string[]).includes(here)) {
    throw new UsageError(
      here === 'posix'
        ? `--break ${b} is a Windows step (it changes a Windows call); it cannot be shown on ${platform}`
        : `--break ${b} changes a POSIX-only step; it cannot be shown on Windows`,
    );
  }
  return b;
}

/** Checks the break against the chosen variant (after --variant / IPC_VARIANT). */
export function checkBreakVariant(b: BreakName, variant: string): void {
  const variants: readonly string[] = BREAKS[b].variants;
  if (!variants.includes(variant)) {
    throw new UsageError(`--break ${b} changes a step of the ${variants.join(' and ')} variant${variants.length > 1 ? 's' : ''}, not of '${variant}'`);
  }
}

export function breakWarning(b: BreakName): string {
  return `--break ${b}: ${BREAKS[b].switchedOff}`;
}

/**
 * Write ends the parent did not close at step 3 because of a break: kept for good
 * (keep-write-ends) or until every child has started (inherit-all). Closed by
 * releaseHeldWriteEnds, at the latest when the run ends.
 */
const held: { fd: number; close: (fd: number) => void }[] = [];

export function holdWriteEnd(fd: number, close: (fd: number) => void): void {
  held.push({ fd, close });
}

export function releaseHeldWriteEnds(): number {
  const n = held.length;
  for (const { fd, close } of held.splice(0)) close(fd);
  return n;
}
