/**
 * The TypeScript worker of the handoff demo (docs/handoff.md); c/worker.c is the C one,
 * with the same contract:
 *
 *   worker --socket N    (inherit, the Winsock FAQ) serve the connection inherited as
 *                        descriptor N, then exit;
 *   worker --channel N   (send, the libuv guide) receive connections over the socket pair
 *                        end N (SCM_RIGHTS, through the addon) until the master closes it;
 *   worker --ipc         (libuv) receive them as Node handles: process.on('message', (m,
 *                        socket) => ...), what subprocess.send(msg, socket) delivers.
 *
 * Per connection: `worker PID serving 127.0.0.1:CLIENTPORT\n` to the client, then every
 * line it sends back as `PID: LINE\n` until it closes; one line on stdout per connection,
 * problems on stderr (fs.writeSync, for the reason child/child.ts gives).
 *
 * On Windows N is a SOCKET, which net.Socket cannot wrap: --socket and --channel go to
 * child/worker-win.ts, which serves it through the addon (the fenced part of main).
 */
import { writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { banner, LineEcho } from './echo.ts';

const EXIT_USAGE = 2;

function say(fd: 1 | 2, line: string): void {
  writeSync(fd, `${line}\n`);
}

/** Echoes every line with `PID: ` in front, byte for byte (child/echo.ts). Resolves when
 * the client has closed and the socket is done. */
function serve(socket: Socket): Promise<void> {
  const port = socket.remotePort ?? 0;
  const echo = new LineEcho();
  socket.write(banner(port));
  socket.on('data', (chunk: Buffer) => socket.write(echo.reply(chunk)));
  return new Promise((resolve) => {
    socket.on('end', () => {
      const last = echo.finish();
      if (last !== null) socket.write(last);
      socket.end();
    });
    socket.on('error', (e) => say(2, `connection from 127.0.0.1:${port}: ${e.message}`));
    socket.on('close', (hadError) => {
      if (!hadError) say(1, `served 127.0.0.1:${port} (${echo.lines} lines)`);
      resolve();
    });
  });
}

/** The libuv guide's worker loop over the addon: each message brings one connection. */
async function serveChannel(channel: number): Promise<void> {
  const { ipc, handoffNative } = await import('../parent/native.ts');
  const native = handoffNative();
  const byte = Buffer.alloc(1);
  ipc.setNonBlocking(channel);
  for (;;) {
    await ipc.select([channel], -1);
    let got;
    try {
      got = native.receiveFd(channel, byte);
    } catch (e) {
      // EMSGSIZE (MSG_CTRUNC): that connection is lost, its descriptor already closed.
      say(2, (e as Error).message);
      continue;
    }
    if (got.bytes === 0) return; // the master closed the channel: no more work
    if (got.bytes === -1) continue;
    if (got.fd === -1) {
      say(2, 'a message without a descriptor on the channel');
      continue;
    }
    void serve(new Socket({ fd: got.fd, readable: true, writable: true }));
  }
}

function serveIpc(): void {
  process.on('message', (message: unknown, handle: unknown) => {
    if (message === 'connection' && handle instanceof Socket) void serve(handle);
    else say(2, `unexpected message ${JSON.stringify(message)}`);
  });
  // The master disconnecting is the end of work; open connections finish first.
  process.on('disconnect', () => process.channel?.unref());
}

function descriptor(text: string | undefined): number | null {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : null;
}

async function main(args: readonly string[]): Promise<number> {
  const fd = descriptor(args[1]);
  // ---------- Windows: N is a SOCKET, which Node cannot wrap (child/worker-win.ts) ----------
  if (process.platform === 'win32' && args.length === 2 && fd !== null && (args[0] === '--socket' || args[0] === '--channel')) {
    const { serveOnWindows } = await import('./worker-win.ts');
    await (args[0] === '--channel' ? serveOnWindows(fd, []) : serveOnWindows(null, [fd]));
    return 0;
  }
  // ---------- POSIX (and --ipc everywhere): N is a descriptor net.Socket takes ----------
  if (args.length === 2 && args[0] === '--socket' && fd !== null) {
    await serve(new Socket({ fd, readable: true, writable: true }));
    return 0;
  }
  if (args.length === 2 && args[0] === '--channel' && fd !== null) {
    await serveChannel(fd);
    return 0;
  }
  if (args.length === 1 && args[0] === '--ipc' && process.send !== undefined) {
    serveIpc();
    return 0;
  }
  say(2, 'usage: worker --socket N | --channel N | --ipc');
  return EXIT_USAGE;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    say(2, e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  },
);
