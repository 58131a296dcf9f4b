/**
 * `libuv`: Node's own handle passing, the reference for the other two. N long-lived
 * TypeScript workers, each started by child_process with an 'ipc' channel; the master's
 * net.Server (over the same listener, c/listen_posix.c, with pauseOnConnect so no byte is
 * read here) hands each connection to the next worker with subprocess.send('connection',
 * socket) - uv_write2 underneath, SCM_RIGHTS on POSIX - and Node closes the master's copy
 * once it is sent. A C worker cannot take part: the channel speaks Node's own protocol.
 *
 * Windows (run under Wine 8 here): subprocess.send(msg, socket) works the same way - libuv
 * duplicates the socket for the worker with WSADuplicateSocketW and writes the
 * WSAPROTOCOL_INFOW on the named pipe (uv__tcp_xfer_export in libuv's src/win/tcp.c) - but
 * the listener cannot be shared by number: a SOCKET is not a C runtime descriptor, and
 * net.Server.listen({ fd }) takes one there (lib/net.js asks guessHandleType, which asks
 * _get_osfhandle). So on Windows the addon's listener only checks that the port is free;
 * it is closed and Node listens on the same port itself. Between the two, another program
 * could take the port: Node's listen then fails and the master says so (status 1).
 */
import type { ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { ipc, type FdAndPort } from '../native.ts';
import type { Relay } from '../relay.ts';
import type { Trace } from '../trace.ts';
import { startWithLibuv } from '../variants/libuv.ts';
import type { ChildSpec, ExitInfo, StreamVariant } from '../variants/variant.ts';
import { note, type Technique } from './technique.ts';
import { workerArgv } from './workers.ts';

export class LibuvTechnique implements Technique {
  readonly name = 'libuv';
  private readonly workers: ChildProcess[] = [];
  private readonly server: Server;
  private relay: Relay | null = null;
  private next = 0;
  private listening = true;
  /** Settles once Node's server listens (or cannot): before that, no listening line. */
  readonly ready: Promise<void>;

  /** The relay's variant for these workers: the libuv one, plus the 'ipc' channel. */
  readonly variant: StreamVariant = {
    name: 'libuv',
    mode: 'streams',
    start: (spec, trace) => startWithLibuv(spec, trace, (child) => this.workers.push(child)),
  };

  constructor(
    listener: FdAndPort,
    private readonly count: number,
    private readonly trace: Trace,
  ) {
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.handOver(socket));
    this.ready = new Promise((resolve, reject) => {
      this.server.once('listening', resolve);
      this.server.once('error', reject);
    });
    this.ready.then(
      () => this.server.on('error', (e) => note(`listener: ${e.message}`)),
      () => {
        this.listening = false;
      },
    );
    if (process.platform === 'win32') {
      ipc.close(listener.fd);
      this.server.listen({ host: '127.0.0.1', port: listener.port, exclusive: true });
    } else {
      this.server.listen({ fd: listener.fd });
    }
  }

  /** The workers, started by the relay itself (they are its initial children). */
  specs(): ChildSpec[] {
    return Array.from({ length: this.count }, () => ({ name: 'worker', argv: workerArgv('ts', ['--ipc']) }));
  }

  begin(relay: Relay): void {
    this.relay = relay;
  }

  private handOver(socket: Socket): void {
    const port = socket.remotePort;
    for (let tries = 0; tries < this.workers.length; tries++) {
      const worker = this.workers[this.next++ % this.workers.length]!;
      if (!worker.connected) continue;
      // Node closes our copy of the socket once the handle is written (keepOpen: false).
      worker.send('connection', socket, (e) => {
        if (e !== null) note(`handing 127.0.0.1:${port} to worker ${worker.pid}: ${e.message}`);
      });
      this.trace(`127.0.0.1:${port} -> worker pid ${worker.pid} (subprocess.send)`);
      return;
    }
    note(`no worker left for 127.0.0.1:${port}: connection closed`);
    socket.destroy();
  }

  fds(): readonly number[] {
    return []; // libuv watches the listener; the stream relay runs no select()
  }

  readable(): void {}

  busy(): boolean {
    return this.listening;
  }

  exited(pid: number, exit: ExitInfo): void {
    void pid;
    void exit;
  }

  stopping(): void {
    this.finish();
  }

  /** Disconnecting is the workers' signal to end once their connections are done. */
  finish(): void {
    if (!this.listening) return;
    this.server.close(() => {
      this.listening = false;
      this.relay?.wake();
    });
    for (const w of this.workers) if (w.connected) w.disconnect();
  }
}
