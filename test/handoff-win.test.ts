/**
 * The socket handoff on Windows (docs/handoff.md), run under Wine by
 * `npm run test:wine -- test/handoff-win.test.ts`: what is built there is `send` with C
 * workers - the master duplicates each accepted SOCKET for a worker's PID with
 * WSADuplicateSocketW and writes the WSAPROTOCOL_INFOW on the worker's channel (a socket
 * pair end, inherited through the spawn's handle list); the worker rebuilds it with
 * WSASocketW(FROM_PROTOCOL_INFO). `libuv` and TS workers: test/handoff-win-ts.test.ts;
 * `inherit`: test/handoff-win-inherit.test.ts. Everything here skips off Windows
 * (test/handoff.test.ts covers Linux).
 */
import { connect } from 'node:net';
import test from 'tape';
import { handoffNative, ipc, isNativeError } from '../parent/native.ts';
import { closingLine, killedWorker, manyClients } from './handoff-clients.ts';
import { IS_WINDOWS, sleep } from './helpers.ts';

const SKIP = IS_WINDOWS ? false : 'Windows only (run by npm run test:wine)';
/** Each client's wait for end of file: Wine on a busy machine starts processes slowly. */
const CLIENT_TIMEOUT_MS = 90_000;

test('send, C workers: 50 clients, each answered on its own port, echoes byte-exact, round-robin, end of file', { skip: SKIP }, async (t) => {
  await manyClients(t, ['--technique', 'send', '--worker', 'c'], 50, CLIENT_TIMEOUT_MS);
});

test('send, C workers: a worker killed mid-run is reported; later connections go to the others', { skip: SKIP }, async (t) => {
  // Node's process.kill on Windows is TerminateProcess(handle, 1).
  const master = await killedWorker(t, ['--technique', 'send', '--worker', 'c'], (pid) => `[worker ${pid}] exited with code 1`, CLIENT_TIMEOUT_MS);
  master.run.kill('SIGTERM');
  await master.run.done;
});

test('send, C workers: --clients 20 prints the closing line, every worker exits 0', { skip: SKIP }, async (t) => {
  await closingLine(t, ['--technique', 'send', '--worker', 'c'], 'send');
});

// The Linux suite checks that 500 connections leave the master's descriptor count where it
// was. No Windows port: under Wine 8 GetProcessHandleCount (the addon's processInfo)
// reports 0 for every process, so there is nothing to compare; every client's end of file
// (above) is the observable consequence of the master closing its copies.
test("send: the master's handle count after 500 connections", {
  skip: IS_WINDOWS ? 'no Windows port: under Wine 8 GetProcessHandleCount reports 0 for every process' : 'Windows only',
}, (t) => {
  t.end();
});

test('sendFd / receiveFd on Windows: a SOCKET crosses as WSAPROTOCOL_INFOW and works on the other side; no PID, no hand-over', { skip: SKIP }, async (t) => {
  const native = handoffNative();
  const listener = native.listen(0, 4);
  const socket = connect({ host: '127.0.0.1', port: listener.port });
  const got: Buffer[] = [];
  socket.on('data', (b: Buffer) => got.push(b));
  const ended = new Promise<void>((resolve) => socket.on('end', resolve));
  await new Promise<void>((resolve) => socket.on('connect', resolve));
  let conn = null;
  for (let i = 0; i < 200 && (conn = native.accept(listener.fd)) === null; i++) await sleep(10);
  if (conn === null) {
    t.fail('accept: no connection');
    socket.destroy();
    ipc.close(listener.fd);
    return;
  }
  const [a, b] = ipc.socketpair();
  try {
    native.sendFd(a, conn.fd, Buffer.from('c'));
    t.fail('sendFd without a PID went through');
  } catch (e) {
    t.ok(isNativeError(e) && e.code === 'EINVAL', `without a PID: ${(e as Error).message}`);
  }
  t.equal(native.sendFd(a, conn.fd, Buffer.from('c'), process.pid), 1, 'one payload byte sent, the WSAPROTOCOL_INFOW after it');
  ipc.close(conn.fd); // the duplicate alone keeps the connection
  const payload = Buffer.alloc(1);
  const r = native.receiveFd(b, payload);
  t.equal(r.bytes, 1, 'one byte received');
  t.equal(payload.toString(), 'c', 'the payload byte');
  t.ok(r.fd >= 0, `a SOCKET rebuilt: ${r.fd}`);
  t.equal(ipc.write(r.fd, Buffer.from('through the duplicate\n')), 22, 'written on the rebuilt SOCKET');
  ipc.close(r.fd);
  await ended;
  t.equal(Buffer.concat(got).toString(), 'through the duplicate\n', 'the client read it, then end of file: no copy left open');
  for (const fd of [a, b, listener.fd]) ipc.close(fd);
});
