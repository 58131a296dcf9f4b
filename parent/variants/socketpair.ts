/**
 * The article's main branch: a socket pair per stream. The child writes to one end (its
 * stdout or stderr), the parent select()s on the other. Sockets, because Windows select()
 * accepts nothing else; on POSIX a real socketpair(2), on Windows the loopback emulation.
 * The child starts with posix_spawn on POSIX and CreateProcessW on Windows.
 */
import { ipc } from '../native.ts';
import { startOverChannels } from './channels.ts';
import type { DescriptorVariant } from './variant.ts';

export const socketpairVariant: DescriptorVariant = {
  name: 'socketpair',
  mode: 'descriptors',
  start: (spec, trace) =>
    startOverChannels(spec, trace, {
      name: 'socketpair',
      // break: overlapped-socket makes the pair with socket() (Windows only).
      open: (spec) => (spec.breakStep === 'overlapped-socket' ? ipc.socketpair({ breakStep: 'overlapped-socket' }) : ipc.socketpair()),
      close: (fd) => ipc.close(fd),
      spawn: (argv, options) => ipc.spawn(argv, options),
    }),
};
