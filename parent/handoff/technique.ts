/**
 * One technique per file (send.ts, inherit.ts, libuv.ts), behind one interface: the relay
 * serves a technique as its RelayHost (parent/relay.ts) - the listener joins the relay's
 * select(), and the technique starts workers as the relay's children, so their output is
 * labelled `[worker PID][info]: ...` like any child's.
 */
import type { Relay, RelayHost } from '../relay.ts';
import type { TechniqueName } from './options.ts';

export interface Technique extends RelayHost {
  readonly name: TechniqueName;
  /** Once the relay runs: starts the workers that live for the whole run (send). Throws
   * if one cannot start. */
  begin(relay: Relay): void;
  /** No more connections: close the listener (at the next round) and let the workers end. */
  finish(): void;
}

/** The one byte of ordinary data each SCM_RIGHTS message carries (a hand-over with no
 * data carries no descriptor). */
export const HANDOVER_PAYLOAD = Buffer.from('c');

export function note(line: string): void {
  process.stderr.write(`handoff: ${line}\n`);
}
