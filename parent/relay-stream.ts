/**
 * The libuv variant's loop: Node's child_process streams, libuv multiplexing.
 * parent/relay.ts gives the overview of its steps.
 */
import type { Readable } from 'node:stream';
import { BATCH_HIGH_WATER_BYTES, RelayCore, Wakeup, type RelayOptions, type SourceBase } from './relay-core.ts';
import { STDERR_TID, STDOUT_TID, nowUs } from './timeline.ts';
import type { StreamChild, StreamVariant } from './variants/variant.ts';

/** A Node stream libuv delivers chunks from. */
interface StreamSource extends SourceBase {
  readonly stream: Readable;
}

/** The libuv variant: Node's child_process streams; libuv does the multiplexing. */
export class StreamRelay extends RelayCore<StreamSource> {
  private readonly streams = new Set<StreamSource>();
  private readonly wakeup = new Wakeup();

  constructor(opts: RelayOptions, private readonly variant: StreamVariant) {
    super(opts);
  }

  protected async startChildren(): Promise<void> {
    for (const spec of this.opts.specs) {
      if (this.stopReason !== null) break;
      let started: StreamChild;
      const spawnUs = this.timeline.enabled ? nowUs() : 0;
      try {
        started = await this.variant.start(spec, this.opts.trace);
      } catch (e) {
        this.abandonStarted();
        throw e;
      }
      const { pid, kill } = started;
      if (this.timeline.enabled) this.timeline.spawn(spec, pid, spawnUs);
      const child = this.addChild(spec, pid, (signal) => kill(signal));
      for (const s of started.streams) {
        const source: StreamSource = { owner: child, assembler: this.assembler(spec, pid, s.kind), open: true, stream: s.stream };
        child.sources.push(source);
        this.streams.add(source);
        // Steps 2 and 3, as libuv delivers: frame the chunk into the batch.
        const tid = s.kind === 'error' ? STDERR_TID : STDOUT_TID;
        s.stream.on('data', (chunk: Buffer) => {
          if (this.timeline.enabled) this.timeline.stream('data', pid, tid, chunk.length);
          source.assembler.push(chunk, this.batch);
          this.activity(child);
          if (this.batch.length > BATCH_HIGH_WATER_BYTES) this.pauseReading();
          this.wakeUp();
        });
        s.stream.on('end', () => {
          if (this.timeline.enabled) this.timeline.stream('end', pid, tid, 0);
          this.endSource(source);
        });
      }
      void started.exited.then((exit) => {
        this.exited(child, exit);
        this.wakeUp();
      });
    }
  }

  protected async loop(): Promise<void> {
    while (this.running()) {
      // A stream event, an exit, a stop or the next deadline; steps 1-4 happen in the
      // event handlers.
      await this.wakeup.wait(this.nextDeadlineMs());
      this.settle();
      await this.writeBatch(); // step 5
    }
    // libuv's events can add output while the last write waited for the reader, after
    // the last stream ended: nothing may stay behind in the batch.
    await this.writeBatch();
  }

  private endSource(source: StreamSource): void {
    if (!source.open) return;
    this.opts.trace(`EOF on libuv stream ${source.assembler.label.toString().trimEnd()}`);
    source.assembler.end(this.batch);
    source.open = false;
    this.streams.delete(source);
    this.wakeUp();
  }

  protected closeSource(source: StreamSource): void {
    source.stream.destroy();
    this.endSource(source);
  }

  /** libuv streams would go on delivering: pause them while the reader is slow. */
  protected override pauseReading(): void {
    if (this.readingPaused) return;
    super.pauseReading();
    for (const s of this.streams) s.stream.pause();
  }

  protected override resumeReading(): void {
    if (!this.readingPaused) return;
    super.resumeReading();
    for (const s of this.streams) s.stream.resume();
  }

  protected wakeUp(): void {
    this.wakeup.wake();
  }

  /** A spawn failed midway: kill the children already started and drop their streams. */
  private abandonStarted(): void {
    for (const child of this.children) {
      this.signal(child, 'SIGKILL');
      for (const source of child.sources) source.stream.destroy();
    }
  }

  protected dispose(): void {
    // Nothing beyond the streams, which end with their children.
  }
}

