/**
 * The parent's stdout, with backpressure: when the reader is slow, the parent stops
 * reading from the children (so they block on full buffers) instead of queueing their
 * output in memory.
 */
import type { Writable } from 'node:stream';

export class Output {
  private broken: Error | null = null;

  /** 1 when this is the process's own stdout, which a native thread may write to
   * directly (the native loop, parent/relay-native.ts); null for any other stream. */
  readonly fd: number | null;

  constructor(private readonly stream: Writable = process.stdout) {
    this.fd = stream === process.stdout ? 1 : null;
    // A reader that went away (EPIPE) is reported once, not thrown from an event.
    stream.on('error', (e: Error) => {
      this.broken = e;
    });
  }

  get error(): Error | null {
    return this.broken;
  }

  /** Writes; false means "wait for drained() before writing more". `written` runs once
   * the stream is done with data (its memory may then be reused). */
  write(data: Uint8Array | string, written?: () => void): boolean {
    if (this.broken || data.length === 0) {
      written?.();
      return true;
    }
    return this.stream.write(data, written);
  }

  /** Resolves when the reader has caught up (or gone away). */
  drained(): Promise<void> {
    if (this.broken || !this.stream.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('error', done);
        this.stream.off('close', done);
        resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('error', done);
      this.stream.on('close', done);
    });
  }

  /** Resolves when everything written so far has reached the operating system. */
  flush(): Promise<void> {
    if (this.broken) return Promise.resolve();
    return new Promise((resolve) => this.stream.write('', () => resolve()));
  }
}
