/**
 * The variants by name, and the choice between them: `--variant NAME` or IPC_VARIANT
 * (the flag wins; default socketpair).
 */
import { UsageError } from '../../child/options.ts';
import { libuvVariant } from './libuv.ts';
import { pipeThreadVariant } from './pipe-thread.ts';
import { POSIX_REFUSAL, posixVariant } from './posix.ts';
import { socketpairVariant } from './socketpair.ts';
import type { Variant } from './variant.ts';

export const VARIANTS: Readonly<Record<string, Variant>> = {
  socketpair: socketpairVariant,
  'pipe-thread': pipeThreadVariant,
  posix: posixVariant,
  libuv: libuvVariant,
};

export const VARIANT_NAMES = Object.keys(VARIANTS);

/**
 * Windows select() holds at most FD_SETSIZE sockets (a count, 1024 here) and the parent
 * selects on two per child plus its wakeup socket: more children are refused before any
 * starts, rather than failing midway. (POSIX falls back to poll() past FD_SETSIZE.)
 */
export function checkCapacity(variant: Variant, children: number, fdSetSize: number, platform: NodeJS.Platform = process.platform): void {
  if (platform !== 'win32' || variant.mode !== 'descriptors') return;
  const sockets = 2 * children + 1;
  if (sockets > fdSetSize) {
    throw new UsageError(
      `${children} children need ${sockets} sockets in one select(), but Windows select() holds at most FD_SETSIZE (${fdSetSize}); ` +
        `use at most ${Math.floor((fdSetSize - 1) / 2)} children, or --variant libuv`,
    );
  }
}

/** Picks the variant; unknown names and posix on Windows are usage errors. */
export function chooseVariant(flag: string | null, env: string | undefined, platform: NodeJS.Platform = process.platform): Variant {
  const name = flag ?? (env !== undefined && env !== '' ? env : 'socketpair');
  const from = flag !== null ? '--variant' : 'IPC_VARIANT';
  const variant = VARIANTS[name];
  if (variant === undefined) {
    throw new UsageError(`unknown variant '${name}' (from ${from}); valid: ${VARIANT_NAMES.join(', ')}`);
  }
  if (variant === posixVariant && platform === 'win32') throw new UsageError(POSIX_REFUSAL);
  return variant;
}
