/**
 * The TS worker's Windows part (docs/handoff.md), used by child/worker.ts for `--channel N`
 * and `--socket N` when process.platform is 'win32'.
 *
 * Why Windows needs its own path: there a connection reaches the worker as a SOCKET (the
 * one c/fdpass_win.c rebuilds with WSASocketW(FROM_PROTOCOL_INFO)), and the channel itself
 * is a SOCKET too. Node cannot adopt either: `new net.Socket({ fd })` takes a C runtime
 * descriptor on Windows, and even a descriptor made for a SOCKET is guessed a pipe by
 * libuv (uv_guess_handle: GetFileType says FILE_TYPE_PIPE), whose uv_pipe_open then
 * fails on it (test/handoff-win-ts.test.ts shows it under Wine). So this worker does what
 * the C worker does, through the project's addon: it waits with select(), reads the
 * hand-over messages and the clients' bytes with recv, answers with send, and closes
 * with closesocket - the same calls the master itself makes on Windows.
 *
 * The connections are served concurrently, like the POSIX TS worker's: one select() over
 * the channel and every open connection. Writes block (the sockets are blocking, as
 * WSASocketW makes them): a client that never reads would stall this worker, as it would
 * stall the C worker.
 */
import { writeSync } from 'node:fs';
import { handoffNative, ipc, type HandoffIpc } from '../parent/native.ts';
import { banner, LineEcho } from './echo.ts';

const READ_SIZE = 16384;

function say(fd: 1 | 2, line: string): void {
  writeSync(fd, `${line}\n`);
}

/** Writes all of data on a blocking SOCKET; send may take part of it. */
function writeAll(socket: number, data: Buffer): void {
  for (let at = 0; at < data.length; ) {
    const n = ipc.write(socket, data.subarray(at));
    if (n <= 0) throw new Error(`send wrote ${n} bytes`);
    at += n;
  }
}

/** One client, from banner to end of file. */
class Connection {
  private readonly echo = new LineEcho();
  readonly port: number;

  constructor(
    readonly socket: number,
    native: HandoffIpc,
  ) {
    this.port = native.peerPort(socket);
    writeAll(socket, Buffer.from(banner(this.port)));
  }

  /** After select() said readable: false once the connection is over (and closed). */
  readable(buffer: Buffer): boolean {
    let n: number;
    try {
      n = ipc.read(this.socket, buffer);
      if (n > 0) {
        writeAll(this.socket, this.echo.reply(buffer.subarray(0, n)));
        return true;
      }
      if (n < 0) return true; // nothing there after all
      const last = this.echo.finish();
      if (last !== null) writeAll(this.socket, last);
    } catch (e) {
      say(2, `connection from 127.0.0.1:${this.port}: ${(e as Error).message}`);
      this.close();
      return false;
    }
    this.close();
    say(1, `served 127.0.0.1:${this.port} (${this.echo.lines} lines)`);
    return false;
  }

  close(): void {
    try {
      ipc.close(this.socket);
    } catch (e) {
      say(2, `closesocket 127.0.0.1:${this.port}: ${(e as Error).message}`);
    }
  }
}

/**
 * Serves the connections that come on `channel` (one hand-over message each) and any
 * `sockets` already here, until the channel ends (or, without one, until the sockets are
 * done). `--channel N`: serve(N, []); `--socket N`: serve(null, [N]).
 */
export async function serveOnWindows(channel: number | null, sockets: readonly number[]): Promise<void> {
  const native = handoffNative();
  const buffer = Buffer.alloc(READ_SIZE);
  const open = new Map<number, Connection>();
  const start = (socket: number): void => {
    try {
      open.set(socket, new Connection(socket, native));
    } catch (e) {
      say(2, `a new connection: ${(e as Error).message}`);
      try {
        ipc.close(socket);
      } catch (closeError) {
        say(2, `closesocket: ${(closeError as Error).message}`);
      }
    }
  };
  // --socket N (inherit): the SOCKET inherited from the master, claimed first where
  // Winsock refuses it as it is (Wine 8; c/fdpass_win.c, ipc_claim_inherited).
  for (const inherited of sockets) {
    let socket: number;
    try {
      socket = native.claimInherited(inherited);
    } catch (e) {
      say(2, `the inherited socket ${inherited}: ${(e as Error).message}`);
      process.exitCode = 1;
      continue;
    }
    start(socket);
  }
  let listening = channel !== null;
  if (channel !== null) ipc.setNonBlocking(channel);
  while (listening || open.size > 0) {
    // Winsock's select() holds FD_SETSIZE sockets: with that many open, new hand-overs
    // wait in the channel until a connection ends.
    const watchChannel = listening && open.size < ipc.FD_SETSIZE - 1;
    const fds = [...(watchChannel && channel !== null ? [channel] : []), ...open.keys()];
    for (const fd of await ipc.select(fds, -1)) {
      if (fd === channel) {
        listening = receive(native, channel, start);
        continue;
      }
      const conn = open.get(fd);
      if (conn !== undefined && !conn.readable(buffer)) open.delete(fd);
    }
  }
  // The channel is not closed here: it was inherited, and under Wine 8 closesocket on an
  // inherited SOCKET fails with WSAENOTSOCK (seen here; recv on it works). The process's
  // exit releases it, as for the C worker.
}

/** One hand-over message: the payload byte and the WSAPROTOCOL_INFOW, the SOCKET rebuilt
 * from it. False once the master has closed the channel. */
function receive(native: HandoffIpc, channel: number, start: (socket: number) => void): boolean {
  let got;
  try {
    got = native.receiveFd(channel, Buffer.alloc(1));
  } catch (e) {
    // The channel is out of step or broken: no later hand-over can be trusted.
    say(2, (e as Error).message);
    return false;
  }
  if (got.bytes === 0) return false;
  if (got.bytes > 0 && got.fd === -1) say(2, 'a message without a socket on the channel');
  if (got.fd !== -1) start(got.fd);
  return true;
}
