/**
 * The article's older commit: the child writes to anonymous pipes, which Windows select()
 * cannot watch, so a native helper thread per stream copies each pipe into a socket pair,
 * and the parent select()s on the sockets exactly as in the socketpair variant.
 *
 *   child stdout -> pipe -> [relay thread: read, send] -> socket pair -> select() in the parent
 *
 * Cost per child: 2 threads, 2 pipes + 2 socket pairs, and every byte copied once more.
 */
import { ipc, signalNumber, type NativeIpc } from '../native.ts';
import type { Trace } from '../trace.ts';
import { spawnOptions, type ChildSpec, type DescriptorChild, type DescriptorVariant } from './variant.ts';

/** How long abandon() waits for the killed child to be reapable. */
const REAP_WAIT_MS = 2000;
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * A relay thread could not be started after the child was: nothing may outlive the
 * failure. The child's tree is killed and reaped, which closes the pipes' write ends, so a
 * relay thread already running reads end of file, closes its two ends and returns; it is
 * joined. Then the descriptors still ours are closed.
 */
function abandon(pid: number, pipes: number[], sockets: number[], runningRelay: number | null, trace: Trace): void {
  try {
    ipc.killTree(pid, signalNumber('SIGKILL'));
  } catch (e) {
    trace(`killTree(${pid}): ${(e as Error).message}`);
  }
  const deadline = Date.now() + REAP_WAIT_MS;
  while (ipc.wait(pid) === null && Date.now() < deadline) Atomics.wait(PAUSE, 0, 0, 1);
  pipes.forEach(ipc.closePipe);
  // Closing our read ends before the join also ends a thread blocked sending into a full
  // socket.
  sockets.forEach(ipc.close);
  if (runningRelay !== null) {
    try {
      ipc.joinRelay(runningRelay);
    } catch (e) {
      trace(`relay thread ${runningRelay}: ${(e as Error).message}`);
    }
  }
  trace(`relay thread failed to start: child ${pid} killed and reaped, descriptors closed`);
}

/** The native calls whose failure the variant must survive; a test may wrap them
 * (test/lifetime.test.ts makes the second startRelay fail, as pthread_create or
 * CreateThread can under memory or thread limits, which no test can bring about reliably). */
export type PipeThreadNative = Pick<NativeIpc, 'startRelay'>;

export const pipeThreadVariant: DescriptorVariant = makePipeThreadVariant(ipc);

export function makePipeThreadVariant(native: PipeThreadNative): DescriptorVariant {
    return {
    name: 'pipe-thread',
    mode: 'descriptors',
    start(spec: ChildSpec, trace: Trace): DescriptorChild {
      const pipes: [number, number][] = [];
      const pairs: [number, number][] = [];
      try {
        // Step 1: per stream an anonymous pipe (the child's end) and a socket pair (ours).
        for (let i = 0; i < 2; i++) {
          pipes.push(ipc.pipe());
          pairs.push(ipc.socketpair());
        }
      } catch (e) {
        pipes.flat().forEach(ipc.closePipe);
        pairs.flat().forEach(ipc.close);
        throw e;
      }
      const [outPipe, errPipe] = pipes as [[number, number], [number, number]];
      const [outPair, errPair] = pairs as [[number, number], [number, number]];
      trace(`pipes: stdout ${outPipe.join('->')}, stderr ${errPipe.join('->')}; socket pairs ${outPair.join('/')}, ${errPair.join('/')}`);
      // Step 2: spawn with the pipes' write ends as stdout and stderr.
      let pid: number;
      try {
        pid = ipc.spawn(spec.argv, spawnOptions(spec, outPipe[1], errPipe[1]));
      } catch (e) {
        pipes.flat().forEach(ipc.closePipe);
        pairs.flat().forEach(ipc.close);
        throw e;
      }
      trace(`spawned ${spec.argv.join(' ')} as pid ${pid}`);
      // Step 3: the parent's copies of the pipes' write ends go, or the threads never see EOF.
      ipc.closePipe(outPipe[1]);
      ipc.closePipe(errPipe[1]);
      // Step 4: one thread per stream copies pipe -> socket; from here it owns both ends
      // (startRelay closes them itself when it fails).
      let outRelay: number;
      try {
        outRelay = native.startRelay(outPipe[0], outPair[1]);
      } catch (e) {
        abandon(pid, [errPipe[0]], [outPair[0], errPair[0], errPair[1]], null, trace);
        throw e;
      }
      let errRelay: number;
      try {
        errRelay = native.startRelay(errPipe[0], errPair[1]);
      } catch (e) {
        abandon(pid, [], [outPair[0], errPair[0]], outRelay, trace);
        throw e;
      }
      trace(`relay threads ${outRelay}, ${errRelay} copy pipe ${outPipe[0]} -> socket ${outPair[1]}, pipe ${errPipe[0]} -> socket ${errPair[1]}`);
      ipc.setNonBlocking(outPair[0]);
      ipc.setNonBlocking(errPair[0]);
      // At end of stream the thread has closed its socket end and is about to return, so
      // joining it then is immediate.
      const join = (id: number) => (): void => {
        try {
          trace(`relay thread ${id} joined after copying ${ipc.joinRelay(id)} bytes`);
        } catch (e) {
          trace(`relay thread ${id} ended with an error: ${(e as Error).message}`);
        }
      };
      return {
        pid,
        streams: [
          { fd: outPair[0], kind: 'info', onEnd: join(outRelay) },
          { fd: errPair[0], kind: 'error', onEnd: join(errRelay) },
        ],
      };
    },
  };
}
