/**
 * The one module that touches the native addon: it finds the build, loads it, and gives
 * every native function a type. Nothing else in the project sees the raw binding.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AddonMissingError } from './addon-error.ts';

/** The checkout's root: the folder with binding.gyp, above this file whether it runs as
 * TypeScript (parent/) or as compiled JavaScript (build/js/parent/). */
function findProjectRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the project root (binding.gyp) above ${import.meta.url}`);
  }
}

export const PROJECT_ROOT = findProjectRoot();
/** True when this runs as tsc output (build/js), as the Windows suite under Wine does. */
export const RUNNING_COMPILED = import.meta.url.endsWith('.js');

/** How a child ended: exactly one of code and signal is a number. */
export interface ExitStatus {
  code: number | null;
  signal: number | null;
}

export interface SpawnOptions {
  stdout: number;
  stderr: number;
  /** Omitted: the null device. */
  stdin?: number;
  cwd?: string;
  /** "NAME=value" strings; omitted: the parent's environment. */
  env?: readonly string[];
  /**
   * false or omitted: the child belongs to this parent's tree. POSIX: it leads its own
   * process group (pgid == pid), so killTree reaches its children too, and a watchdog
   * kills that group if this process ends, however it ends (c/guard_posix.c). Windows: it
   * runs in a kill-on-close job of its own, so killTree reaches its grandchildren too.
   * true: detached (the libuv guide's "Detaching processes"): a new session on POSIX
   * (setsid), DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP outside every job on Windows;
   * never guarded, it keeps running after this process ends.
   */
  detached?: boolean;
  /**
   * A teaching switch (`--break`, parent/break.ts), never for real use: the spawn skips
   * one of its steps so the symptom it prevents can be seen.
   * 'inherit-all': POSIX: stdout and stderr stay inheritable in this parent after the
   * spawn and descriptors from 3 up are not closed in the child; Windows: no
   * PROC_THREAD_ATTRIBUTE_HANDLE_LIST, and the handles stay inheritable afterwards. So a
   * later child inherits this child's write ends while this parent still holds them.
   * 'no-startf' (Windows only; ENOTSUP elsewhere): STARTF_USESTDHANDLES is not set.
   */
  breakStep?: NativeSpawnBreak;
  /**
   * Descriptors the child inherits besides 0, 1 and 2, each at the same number as here
   * (the handoff, docs/handoff.md); they stay close-on-exec in this process, so no other
   * child gets them. Windows: SOCKETs added to the spawn's PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
   * inheritable for that one CreateProcessW call only. spawn only: forkExec refuses them.
   */
  extraFds?: readonly number[];
}

/** A descriptor with a port: the listener and the port it is bound to, or an accepted
 * connection and its client's port. */
export interface FdAndPort {
  fd: number;
  port: number;
}

/** The handoff's primitives (docs/handoff.md): c/listen_posix.c and c/fdpass_posix.c, or
 * c/listen_win.c and c/fdpass_win.c. */
export interface HandoffIpc {
  /** A non-blocking, close-on-exec TCP listener on 127.0.0.1; port 0: any free port. */
  listen(port: number, backlog: number): FdAndPort;
  /** The next waiting connection (blocking, close-on-exec), or null when none waits. */
  accept(listener: number): FdAndPort | null;
  /** POSIX: sendmsg with SCM_RIGHTS: fd travels with payload (at least one byte); pid is
   * not needed. Windows: payload (1 to 64 bytes), then the WSAPROTOCOL_INFOW that
   * WSADuplicateSocketW made for process pid (required there). Bytes sent, or -1 when the
   * channel would block; a peer that is gone throws EPIPE (POSIX). */
  sendFd(channel: number, fd: number, payload: Uint8Array, pid?: number): number;
  /** recvmsg: bytes as read() gives them (0 at end, -1 would block) and the descriptor
   * that came with them (close-on-exec), or -1. MSG_CTRUNC throws EMSGSIZE. Windows: the
   * buffer's length must equal the sender's payload length; the SOCKET is rebuilt with
   * WSASocketW(FROM_PROTOCOL_INFO). */
  receiveFd(channel: number, buffer: Uint8Array): { bytes: number; fd: number };
  /** getpeername: the client's port of a connected IPv4 socket (a worker's banner). The
   * TS worker needs it on Windows, where it serves a SOCKET through the addon
   * (child/worker-win.ts). */
  peerPort(fd: number): number;
  /** An `inherit` worker's first step with its --socket N: fd itself on POSIX, and on
   * Windows when Winsock takes the inherited SOCKET as it is; else (Wine 8) a SOCKET made
   * in this process from it, the inherited handle closed (c/fdpass_win.c). */
  claimInherited(fd: number): number;
}

export type NativeSpawnBreak = 'inherit-all' | 'no-startf';

/** What the Windows tests read instead of /proc (c/spawn_win.c, ipc_measure_process). */
export interface ProcessInfo {
  handles: number;
  threads: number;
  /** Bytes. */
  workingSet: number;
  /** Bytes, the most since the process started. */
  peakWorkingSet: number;
}

export interface SocketpairOptions {
  /** Use the loopback emulation Windows needs, even where a real socketpair exists. */
  emulate?: boolean;
  /**
   * A teaching switch (`--break overlapped-socket`), Windows only (ENOTSUP elsewhere):
   * the emulation makes its sockets with socket(), which gives overlapped sockets,
   * instead of WSASocket(..., 0).
   */
  breakStep?: 'overlapped-socket';
  /** Test seam: called with the listener's port before the pair connects to it. */
  beforeConnect?: (port: number) => void;
}

/** A running native loop (c/loop_posix.c): opaque, only passed back to the loop* calls. */
declare const nativeLoopBrand: unique symbol;
export type NativeLoop = { readonly [nativeLoopBrand]: true };

/** What the native loop reports, in order (c/loop_posix.c). */
export type NativeLoopEvent =
  /** A source ended and its descriptor was closed: eof true at end of file, false when
   * ended by loopClose. */
  | { kind: 'end'; fd: number; eof: boolean; error?: NativeError }
  /** Writing the output failed; later output is dropped. */
  | { kind: 'output-error'; error: NativeError }
  /** select() failed: nothing more is read. */
  | { kind: 'failed'; error: NativeError }
  /** After loopFinish: everything is written; call loopJoin. */
  | { kind: 'finished' };

/** The native loop's calls: POSIX only (undefined on Windows). */
export interface NativeLoopIpc {
  /** Starts the loop's thread, writing to outFd; onEvents gets the events on the main
   * thread. */
  loopStart(outFd: number, onEvents: (events: NativeLoopEvent[]) => void): NativeLoop;
  /** The thread owns fd from now on (made non-blocking); lines are labelled `label`. */
  loopAdd(loop: NativeLoop, fd: number, label: Uint8Array): void;
  /** Read what fd holds, end it (a held line too) and close it: an 'end' event follows. */
  loopClose(loop: NativeLoop, fd: number): void;
  /** Text for the output, behind everything labelled so far. */
  loopAppend(loop: NativeLoop, data: Uint8Array): void;
  /** Write what is left; a 'finished' event follows. */
  loopFinish(loop: NativeLoop): void;
  /** Milliseconds since fd last had output (0 while a write waits for the reader); -1 once
   * it ended. */
  loopQuietMs(loop: NativeLoop, fd: number): number;
  /** After 'finished': waits for the thread, frees the loop. */
  loopJoin(loop: NativeLoop): void;
}

/** The addon's functions, one per article step (c/addon.c). */
export interface NativeIpc extends Partial<NativeLoopIpc> {
  /** Two connected stream sockets, close-on-exec / not inheritable. */
  socketpair(options?: SocketpairOptions): [number, number];
  setNonBlocking(fd: number): void;
  /** Bytes read (> 0), 0 at end of stream, -1 when nothing is there yet. */
  read(fd: number, buffer: Uint8Array): number;
  /** Bytes written, or -1 when the descriptor would block. */
  write(fd: number, buffer: Uint8Array): number;
  close(fd: number): void;
  /** The readable subset of fds, off the main thread; timeoutMs < 0 waits forever. */
  select(fds: readonly number[], timeoutMs: number): Promise<number[]>;
  /** Starts argv[0] (searched in PATH) with the given descriptors as 0, 1, 2; its pid.
   * posix_spawn on POSIX, CreateProcessW on Windows. */
  spawn(argv: readonly string[], options: SpawnOptions): number;
  /** The same with pipe + fork + dup2 + execve (the article's unix branch); on Windows it
   * throws ENOSYS with the reason. */
  forkExec(argv: readonly string[], options: SpawnOptions): number;
  /** An anonymous pipe, [read end, write end], not inheritable. On Windows these are
   * HANDLEs: close them with closePipe, never close. */
  pipe(): [number, number];
  closePipe(fd: number): void;
  /** Starts a thread that copies pipeRead into socketWrite until end of stream, then
   * closes both; returns its id. */
  startRelay(pipeRead: number, socketWrite: number): number;
  /** Waits for a relay thread to finish; the bytes it copied (throws the error it met). */
  joinRelay(id: number): number;
  /** Never blocks: null while the child runs. */
  wait(pid: number): ExitStatus | null;
  kill(pid: number, signal: number): void;
  /** Sends the signal to the child's whole tree: POSIX kill(-pid, signal), the process
   * group it leads (a detached child leads one too); Windows its job. Throws ESRCH once
   * nothing of the tree is left (a group outlives its reaped leader while a grandchild
   * lives). */
  killTree(pid: number, signal: number): void;
  /** For children started by someone else as process group leaders (Node's
   * child_process with `detached: true`): POSIX registers the group with the watchdog,
   * which SIGKILLs it when this process ends, and returns true; throws EINVAL when pid
   * leads no group. Windows returns false: libuv's own kill-on-close job covers Node's
   * children already. spawn and forkExec guard their children themselves. */
  guardGroup(pid: number): boolean;
  /** Forgets a guarded group once it is empty, so that its number, when reused, is never
   * signalled: true when forgotten, false when it was not guarded (always on Windows) or
   * still has members. Call it after reaping a guardGroup leader; wait() does it for
   * spawn's children, and the watchdog sweeps empty groups every second regardless. */
  forgetGroup(pid: number): boolean;
  listen?: HandoffIpc['listen'];
  accept?: HandoffIpc['accept'];
  sendFd?: HandoffIpc['sendFd'];
  receiveFd?: HandoffIpc['receiveFd'];
  peerPort?: HandoffIpc['peerPort'];
  claimInherited?: HandoffIpc['claimInherited'];
  /** Windows only: handle and thread counts and memory of any process we may open. */
  processInfo?: (pid: number) => ProcessInfo;
  /** The hot path: appends label + line to out (from outLength) for every complete line
   * in src[0, srcLength); returns how much of src it used and out's new length. */
  labelLines(src: Uint8Array, srcLength: number, label: Uint8Array, out: Uint8Array, outLength: number): { consumed: number; outLength: number };
  /** The command line CreateProcess is given for argv (MSVCRT quoting rules). */
  quoteCommandLine(argv: readonly string[]): string;
  readonly FD_SETSIZE: number;
}

/** A failure from the addon: Node's shape (code, syscall, errno, path). */
export interface NativeError extends Error {
  code: string;
  syscall: string;
  errno: number;
  path?: string;
}

export function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && typeof (e as Partial<NativeError>).code === 'string';
}

/** Where builds may be: node-gyp's folders, then the mingw-w64 cross-build for Windows.
 * IPC_BUILD_DIR is tried first; with IPC_BUILD_DIR_ONLY=1 it is the only place looked in
 * (so that a test can show what happens without an addon, on a machine that has one). */
function candidateDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.IPC_BUILD_DIR) dirs.push(resolve(process.env.IPC_BUILD_DIR));
  if (process.env.IPC_BUILD_DIR && process.env.IPC_BUILD_DIR_ONLY === '1') return dirs;
  dirs.push(join(PROJECT_ROOT, 'build', 'Release'), join(PROJECT_ROOT, 'build', 'Debug'));
  if (process.platform === 'win32') dirs.push(join(PROJECT_ROOT, 'build', 'win32-x64'));
  return dirs;
}

function load(): { ipc: NativeIpc; dir: string } {
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const dir of candidateDirs()) {
    const file = join(dir, 'ipc.node');
    if (!existsSync(file)) {
      tried.push(`${file} (missing)`);
      continue;
    }
    try {
      return { ipc: require(file) as NativeIpc, dir };
    } catch (e) {
      tried.push(`${file} (${(e as Error).message.split('\n')[0]})`);
    }
  }
  const hint =
    process.platform === 'win32'
      ? 'Run `npm install` (it builds with node-gyp: needs Python and Visual Studio Build Tools ' +
        'with "Desktop development with C++"), or `npm run build:win` to cross-build on Linux.'
      : 'Run `npm install` (it builds with node-gyp: needs Python 3, make and a C compiler).';
  // Thrown while this module loads: main.ts loads it lazily and prints this cleanly.
  throw new AddonMissingError(tried, hint);
}

const loaded = load();
export const ipc: NativeIpc = loaded.ipc;
/** The folder the addon came from; the C child was built beside it. */
export const BUILD_DIR: string = loaded.dir;
export const C_CHILD_PATH = join(BUILD_DIR, process.platform === 'win32' ? 'child_c.exe' : 'child_c');
/** The quirk demonstrations (c/quirks/, docs/quirks.md), built beside the addon too. */
export const QUIRK_C_PATH = join(BUILD_DIR, process.platform === 'win32' ? 'quirk_c.exe' : 'quirk_c');
/** POSIX: the watchdog the addon starts at the first guarded spawn (c/guard_posix.c). */
export const WATCHDOG_C_PATH = join(BUILD_DIR, 'watchdog_c');

/** The C worker of the handoff demo (c/worker.c); on Windows it serves --channel only. */
export const WORKER_C_PATH = join(BUILD_DIR, process.platform === 'win32' ? 'worker_c.exe' : 'worker_c');

/** The handoff primitives, or an error saying they are not built on this platform. */
export function handoffNative(): HandoffIpc {
  const { listen, accept, sendFd, receiveFd, peerPort, claimInherited } = ipc;
  if (listen === undefined || accept === undefined || sendFd === undefined || receiveFd === undefined || peerPort === undefined ||
      claimInherited === undefined) {
    throw new Error(`the socket handoff is not built for ${process.platform} yet`);
  }
  return { listen, accept, sendFd, receiveFd, peerPort, claimInherited };
}

const signalNumbers: Record<string, number> = constants.signals as Record<string, number>;

export function signalNumber(name: string): number {
  const n = signalNumbers[name];
  if (n === undefined) throw new Error(`unknown signal ${name}`);
  return n;
}

export function signalName(n: number): string {
  for (const [name, value] of Object.entries(signalNumbers)) if (value === n) return name;
  return `signal ${n}`;
}
