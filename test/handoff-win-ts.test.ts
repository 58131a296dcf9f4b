/**
 * The socket handoff on Windows with TypeScript workers (docs/handoff.md), run under Wine
 * by `npm run test:wine -- test/handoff-win-ts.test.ts`:
 *  - `libuv`: Node's own handle passing, subprocess.send('connection', socket) on an
 *    'ipc' channel (WSADuplicateSocketW underneath, libuv's src/win/tcp.c);
 *  - `send` with `--worker ts` and `--worker mixed`: the TS worker serves the SOCKET the
 *    master hands over through the addon (child/worker-win.ts), because Node cannot wrap
 *    it - the last test shows why.
 * Everything here skips off Windows (test/handoff.test.ts covers Linux).
 */
import test from 'tape';
import { connect } from 'node:net';
import { handoffNative, ipc, isNativeError } from '../parent/native.ts';
import { closingLine, handoffArgv, manyClients } from './handoff-clients.ts';
import { IS_WINDOWS, run, sleep } from './helpers.ts';

const SKIP = IS_WINDOWS ? false : 'Windows only (run by npm run test:wine)';
/** Each client's wait for end of file: Wine on a busy machine starts processes slowly, a
 * Node worker more slowly than a C one. */
const CLIENT_TIMEOUT_MS = 120_000;

test('libuv, TS workers: 20 clients, each answered on its own port, echoes byte-exact, round-robin, end of file', { skip: SKIP }, async (t) => {
  await manyClients(t, ['--technique', 'libuv'], 20, CLIENT_TIMEOUT_MS);
});

test('libuv, TS workers: --clients 20 prints the closing line, every worker exits 0', { skip: SKIP }, async (t) => {
  await closingLine(t, ['--technique', 'libuv'], 'libuv');
});

for (const worker of ['ts', 'mixed']) {
  test(`send, --worker ${worker}: 20 clients, each answered on its own port, echoes byte-exact, round-robin, end of file`, { skip: SKIP }, async (t) => {
    await manyClients(t, ['--technique', 'send', '--worker', worker], 20, CLIENT_TIMEOUT_MS);
  });

  test(`send, --worker ${worker}: --clients 20 prints the closing line, every worker exits 0`, { skip: SKIP }, async (t) => {
    await closingLine(t, ['--technique', 'send', '--worker', worker], 'send');
  });
}

test('libuv with C workers is refused on Windows too: one line, status 2, nothing started', { skip: SKIP }, async (t) => {
  const r = await run(handoffArgv(['--technique', 'libuv', '--worker', 'c', '--clients', '1']), { timeoutMs: 120_000 });
  t.equal(r.code, 2, 'status 2');
  const err = r.stderr.toString().replaceAll('\r', '');
  t.ok(err.includes('--worker c') && err.split('\n').length === 2, `one line naming the value: ${err.trim()}`);
  t.equal(r.stdout.length, 0, 'nothing on stdout');
});

// Not skipped on Linux: the primitive has a POSIX part too (c/listen_posix.c).
test("peerPort: the client's own port of an accepted connection (getpeername)", async (t) => {
  const native = handoffNative();
  const listener = native.listen(0, 4);
  const socket = connect({ host: '127.0.0.1', port: listener.port });
  await new Promise<void>((resolve) => socket.on('connect', resolve));
  let conn = null;
  for (let i = 0; i < 200 && (conn = native.accept(listener.fd)) === null; i++) await sleep(10);
  if (conn === null) {
    t.fail('accept: no connection');
  } else {
    t.equal(native.peerPort(conn.fd), socket.localPort, `the client's port: ${socket.localPort}`);
    ipc.close(conn.fd);
  }
  try {
    native.peerPort(listener.fd);
    t.fail('peerPort on a listener went through');
  } catch (e) {
    t.ok(isNativeError(e) && e.syscall === 'getpeername', `a listener has no peer: ${(e as Error).message}`);
  }
  socket.destroy();
  ipc.close(listener.fd);
});

/** Everything on the given sockets until each has ended; the child is then reaped. */
async function drain(fds: readonly number[], pid: number, timeoutMs: number): Promise<string[]> {
  const got = fds.map(() => [] as Buffer[]);
  const open = new Set(fds);
  const buffer = Buffer.alloc(4096);
  const deadline = Date.now() + timeoutMs;
  while (open.size > 0 && Date.now() < deadline) {
    for (const fd of await ipc.select([...open], 1000)) {
      const n = ipc.read(fd, buffer);
      if (n > 0) got[fds.indexOf(fd)]!.push(Buffer.from(buffer.subarray(0, n)));
      if (n === 0) open.delete(fd);
    }
  }
  for (let i = 0; i < 300 && ipc.wait(pid) === null; i++) await sleep(100);
  return got.map((parts) => Buffer.concat(parts).toString());
}

// Why child/worker-win.ts exists. A Node process whose stdout is a socket has, as its C
// runtime descriptor 1, exactly what _open_osfhandle makes of a SOCKET. Node's
// net.Socket({ fd: 1 }) asks libuv what it is (uv_guess_handle: GetFileType says
// FILE_TYPE_PIPE, so a pipe) and opens it as a pipe; uv_pipe_open then treats it as a named
// pipe (SetNamedPipeHandleState), which a socket is not. If this ever passes a byte through,
// the TS worker could wrap its SOCKETs in net.Socket instead.
test('why the TS worker serves SOCKETs through the addon: net.Socket({ fd }) cannot adopt a descriptor that stands for a SOCKET', { skip: SKIP }, async (t) => {
  const script = [
    "const fs = require('fs'), net = require('net');",
    'let s;',
    "try { s = new net.Socket({ fd: 1, readable: false, writable: true }); }",
    "catch (e) { fs.writeSync(2, 'threw ' + e.code + ' ' + e.syscall + '\\n'); process.exit(0); }",
    "s.on('error', (e) => { fs.writeSync(2, 'error ' + e.code + ' ' + e.syscall + '\\n'); });",
    "s.end('through net.Socket\\n', () => fs.writeSync(2, 'written\\n'));",
  ].join('\n');
  const [outMine, outTheirs] = ipc.socketpair();
  const [errMine, errTheirs] = ipc.socketpair();
  let pid: number;
  try {
    pid = ipc.spawn([process.execPath, '-e', script], { stdout: outTheirs, stderr: errTheirs });
  } finally {
    ipc.close(outTheirs);
    ipc.close(errTheirs);
  }
  const [out, err] = await drain([outMine, errMine], pid, 60_000);
  ipc.close(outMine);
  ipc.close(errMine);
  t.equal(out, '', 'nothing reached the socket through net.Socket');
  t.match(err.replaceAll('\r', ''), /^(threw|error) \S+ \S+\n/m, `net.Socket failed: ${JSON.stringify(err)}`);
});
