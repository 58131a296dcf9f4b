/**
 * The article's `unix` branch: pipe + fork + dup2 + exec, then select() directly on the
 * pipes' read ends. POSIX only: Windows has no fork, and its select() accepts only sockets
 * (WSAENOTSOCK), so the parent refuses this variant there before starting anything.
 */
import { ipc } from '../native.ts';
import { startOverChannels } from './channels.ts';
import type { DescriptorVariant } from './variant.ts';

export const POSIX_REFUSAL =
  'the posix variant cannot run on Windows: there is no fork(), and Windows select() accepts only sockets, not pipes (WSAENOTSOCK); use --variant socketpair or pipe-thread';

export const posixVariant: DescriptorVariant = {
  name: 'posix',
  mode: 'descriptors',
  start: (spec, trace) =>
    startOverChannels(spec, trace, {
      name: 'pipe',
      open: () => ipc.pipe(),
      close: (fd) => ipc.closePipe(fd),
      // fork() + dup2() + execve() in c/fork_exec_posix.c
      spawn: (argv, options) => ipc.forkExec(argv, options),
    }),
};
