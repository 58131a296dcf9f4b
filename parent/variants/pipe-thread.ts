/**
 * The article's older commit: the child writes to anonymous pipes, which Windows select()
 * cannot watch, so a native helper thread per stream copies each pipe into a socket pair,
 * and the parent select()s on the sockets exactly as in the socketpair variant.
 *
 *   child stdout -> pipe -> [relay thread: read, send] -> socket pair -> select() in the parent
 *
 * Cost per child: 2 threads, 2 pipes + 2 socket pairs, and every byte copied once more.
 */
import { ipc } from '../native.ts';
import type { Trace } from '../trace.ts';
import { spawnOptions, type ChildSpec, type DescriptorChild, type DescriptorVariant } from './variant.ts';

export const pipeThreadVariant: DescriptorVariant = {
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
    // Step 4: one thread per stream copies pipe -> socket; from here it owns both ends.
    const relays = [ipc.startRelay(outPipe[0], outPair[1]), ipc.startRelay(errPipe[0], errPair[1])];
    trace(`relay threads ${relays.join(', ')} copy pipe ${outPipe[0]} -> socket ${outPair[1]}, pipe ${errPipe[0]} -> socket ${errPair[1]}`);
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
        { fd: outPair[0], kind: 'info', onEnd: join(relays[0]!) },
        { fd: errPair[0], kind: 'error', onEnd: join(relays[1]!) },
      ],
    };
  },
};
