/**
 * Usage: npx tsx scripts/workshop-hijack.ts
 *
 * docs/workshop.md, block 3: the hijack window of the Windows socket-pair emulation
 * (c/socketpair.c), shown on this machine. The emulation listens on 127.0.0.1 at a port
 * the system picks, then connects to it, then accepts. Here a stranger connects in the
 * gap, through the addon's test seam (beforeConnect): the listener's backlog then holds
 * the stranger first, accept() returns the stranger's connection, and the emulation must
 * notice (it compares the peer addresses both ways) and refuse the pair.
 */
import { spawnSync } from 'node:child_process';
import { ipc, isNativeError } from '../parent/native.ts';

function pair(label: string, intrude: boolean): void {
  try {
    const [a, b] = ipc.socketpair({
      emulate: true,
      beforeConnect: (port) => {
        process.stdout.write(`${label}: listening on 127.0.0.1:${port}; the pair's own connector has not connected yet\n`);
        if (!intrude) return;
        // Another process connects in the gap and exits once connected: its connection
        // waits in the listener's backlog, ahead of the pair's own.
        const r = spawnSync(process.execPath, ['-e', `require('net').connect(${port}, '127.0.0.1', () => process.exit(0));`]);
        process.stdout.write(`${label}: a stranger connected first (it exited with status ${r.status})\n`);
      },
    });
    process.stdout.write(`${label}: pair made (descriptors ${a} and ${b}), peer addresses checked both ways\n`);
    ipc.close(a);
    ipc.close(b);
  } catch (e) {
    process.stdout.write(`${label}: refused: ${isNativeError(e) ? `${e.code} from ${e.syscall}: ${e.message}` : String(e)}\n`);
  }
}

pair('alone', false);
pair('with a stranger', true);
