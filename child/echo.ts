/**
 * The handoff workers' echo, shared by the two TS paths (child/worker.ts on net.Socket,
 * child/worker-win.ts on a SOCKET through the addon) so both answer byte for byte alike,
 * and alike with c/worker.c: every line comes back with `PID: ` in front; a last line
 * without its newline gets one.
 */
const NEWLINE = 0x0a;

export class LineEcho {
  private readonly prefix = Buffer.from(`${process.pid}: `);
  private atLineStart = true;
  /** Complete lines echoed so far (the "served ... (N lines)" log line). */
  lines = 0;

  /** What to send back for one chunk from the client: the chunk with the prefix in front
   * of every line that starts in it. */
  reply(chunk: Buffer): Buffer {
    const parts: Buffer[] = [];
    for (let at = 0; at < chunk.length; ) {
      const nl = chunk.indexOf(NEWLINE, at);
      const end = nl === -1 ? chunk.length : nl + 1;
      if (this.atLineStart) parts.push(this.prefix);
      parts.push(chunk.subarray(at, end));
      this.atLineStart = nl !== -1;
      if (nl !== -1) this.lines++;
      at = end;
    }
    return Buffer.concat(parts);
  }

  /** At the client's end of file: the newline a last unterminated line still needs, or
   * null. */
  finish(): Buffer | null {
    if (this.atLineStart) return null;
    this.atLineStart = true;
    this.lines++;
    return Buffer.from('\n');
  }
}

export function banner(clientPort: number): string {
  return `worker ${process.pid} serving 127.0.0.1:${clientPort}\n`;
}
