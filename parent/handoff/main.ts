/**
 * `npm run handoff`: a master that listens on 127.0.0.1 and hands each connection to a
 * worker process, by one of three techniques (docs/handoff.md). The master is the
 * project's parent loop (parent/relay.ts) plus a listener: the workers are its children,
 * their output labelled `[worker PID][info]: ...`.
 */
import { writeSync } from 'node:fs';
import { StopSignals } from '../stop-signals.ts';
import { HANDOFF_USAGE, parseHandoffArgs, UsageError, type HandoffOptions } from './options.ts';

// Caught from the first line, as parent/main.ts does: Ctrl-C during start-up still
// stops and reaps what was started.
const signals = new StopSignals();

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

function say(text: string): void {
  writeSync(2, `handoff: ${text}\n`);
}

async function loadMaster() {
  const [native, output, relay, trace, variants, clients, inherit, send, libuv] = await Promise.all([
    import('../native.ts'),
    import('../output.ts'),
    import('../relay.ts'),
    import('../trace.ts'),
    import('../variants/index.ts'),
    import('./clients.ts'),
    import('./inherit.ts'),
    import('./send.ts'),
    import('./libuv.ts'),
  ]);
  return { ...native, ...output, ...relay, ...trace, ...variants, ...clients, ...inherit, ...send, ...libuv };
}
type Master = Awaited<ReturnType<typeof loadMaster>>;

type Trace = ReturnType<Master['makeTrace']>;

/** The technique, and what the relay needs for it: the send and inherit workers are
 * started by the techniques through the socketpair variant; the libuv ones are the
 * relay's initial children, started by Node. */
function makeTechnique(m: Master, o: HandoffOptions, listener: { fd: number; port: number }, trace: Trace) {
  if (o.technique === 'libuv') {
    const libuv = new m.LibuvTechnique(listener, o.workers, trace);
    return { technique: libuv, variant: libuv.variant, specs: libuv.specs() };
  }
  const variant = m.chooseVariant('socketpair', undefined);
  if (o.technique === 'inherit') return { technique: new m.InheritTechnique(listener, o.worker, trace), variant, specs: [] };
  return { technique: new m.SendTechnique(listener, o.workers, o.worker, trace), variant, specs: [] };
}

async function main(args: readonly string[]): Promise<number> {
  let o: HandoffOptions;
  try {
    o = parseHandoffArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    say(`${e.message} (see --help)`);
    return EXIT_USAGE;
  }
  if (o.help) {
    writeSync(1, HANDOFF_USAGE);
    return 0;
  }
  const m = await loadMaster();
  const native = m.handoffNative();
  let listener;
  try {
    listener = native.listen(o.port, 128);
  } catch (e) {
    if (m.isNativeError(e) && (e.code === 'EADDRINUSE' || e.code === 'EACCES')) {
      say(`--port ${o.port}: ${e.code === 'EADDRINUSE' ? 'already in use' : 'not allowed'} (${e.code})`);
      return EXIT_USAGE;
    }
    throw e;
  }
  const trace = m.makeTrace(o.trace || m.traceFromEnvironment());
  const { technique, variant, specs } = makeTechnique(m, o, listener, trace);
  if (technique instanceof m.LibuvTechnique) {
    try {
      await technique.ready; // on Windows Node listens itself (parent/handoff/libuv.ts)
    } catch (e) {
      say(`--port ${listener.port}: Node cannot listen there: ${(e as Error).message}`);
      return EXIT_FAILURE;
    }
  }
  writeSync(1, `listening on 127.0.0.1:${listener.port}\n`);
  const relay = new m.Relay({
    specs,
    variant,
    output: new m.Output(),
    trace,
    durationMs: null,
    signals,
    host: technique,
  });
  const running = relay.run();
  try {
    technique.begin(relay);
  } catch (e) {
    say(`cannot start the workers: ${(e as Error).message}`);
    technique.finish();
    await running;
    return EXIT_FAILURE;
  }
  if (o.clients === null) return running;
  const result = await m.runClients(listener.port, o.clients);
  technique.finish();
  const status = await running;
  if (status > 128) return status; // stopped by a signal meanwhile
  for (const failure of result.failures) say(failure);
  const workers = new Set(result.pids.filter((p) => p !== undefined)).size;
  writeSync(1, `handoff: ${result.served} of ${o.clients} connections served by ${workers} workers (technique ${o.technique})\n`);
  return result.failures.length === 0 ? 0 : EXIT_FAILURE;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    say(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exitCode = EXIT_FAILURE;
  },
);
