/**
 * Quirk 19: a detached child (a new session: libuv's UV_PROCESS_DETACHED, Node's
 * `detached: true`, POSIX setsid) against a child of the tree. Shown standalone, with a
 * small Node parent of its own, not through this project's parent:
 *
 *   this demonstration ── starts, in a process group G of its own ──► parent (node)
 *                                                     ├─ tree child: sleep, in group G
 *                                                     ├─ detached sh: writes a line every 100 ms
 *                                                     └─ detached node: writes a line every 100 ms
 *
 * The parent relays its children's lines to us. Then we send SIGINT to group G, which is
 * what a terminal does on Ctrl-C (it signals its foreground process group), and watch who
 * goes, and what the detached children meet at their next write: nobody reads their
 * pipes any more.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { measuredBy, newShown, side, value, type Quirk } from './quirk.ts';

const STATUS_WAIT_MS = 10_000;
const START_WAIT_MS = 20_000;

/**
 * The parent: starts the three children, prints their pids as JSON, then relays every line
 * they write to its own stdout. It has no SIGINT handler: like most programs, Ctrl-C ends it.
 */
const PARENT = `
const { spawn } = require('child_process');
const { writeSync } = require('fs');
const [shStatus, nodeStatus] = process.argv.slice(1);
const relay = (name, child) => child.stdout.on('data', (d) => writeSync(1, name + ': ' + d));
const tree = spawn('sleep', ['60'], { stdio: ['ignore', 'pipe', 'ignore'] });
// A subshell writes; the outer shell only records how the subshell ended (128+N: signal N).
const sh = spawn('sh', ['-c', '( while :; do echo tick; sleep 0.1; done ); echo "$?" > "$0"', shStatus],
  { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
// Node ignores SIGPIPE, so a write to a pipe without a reader fails with EPIPE instead.
const writer = "const fs = require('fs'); setInterval(() => { try { fs.writeSync(1, 'tock\\\\n'); } " +
  "catch (e) { fs.writeFileSync(process.argv[1], String(e.code)); process.exit(3); } }, 100);";
const node = spawn(process.execPath, ['-e', writer, nodeStatus], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
relay('tree', tree); relay('sh', sh); relay('node', node);
writeSync(1, 'pids ' + JSON.stringify({ tree: tree.pid, sh: sh.pid, node: node.pid }) + '\\n');
`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The process group of pid, from ps (POSIX), or '?' when ps cannot tell. */
function pgid(pid: number): string {
  const r = spawnSync('ps', ['-o', 'pgid=', '-p', String(pid)], { encoding: 'utf8' });
  return r.stdout.trim() || '?';
}

async function waitFor(what: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!what()) {
    if (Date.now() > until) return false;
    await sleep(20);
  }
  return true;
}

export const quirk: Quirk = {
  order: 19,
  id: 'detached-child',
  title: "A detached child: Ctrl-C does not reach it, and once its parent is gone its writes meet SIGPIPE or EPIPE",
  showsOn: ['linux', 'darwin'],
  observed: {
    linux: measuredBy('detached-child', 'SIGINT to the parent\'s group: the tree child goes, detached sh dies of SIGPIPE, detached node gets EPIPE'),
    wine: { kind: 'never', why: 'no console under the Wine test runner, so no Ctrl-C to deliver; Windows detaching (DETACHED_PROCESS) is not demonstrated' },
    windows: {
      kind: 'documented',
      source: 'Microsoft docs, "Process Creation Flags" (DETACHED_PROCESS, CREATE_NEW_PROCESS_GROUP: CTRL+C is off in the new group) and `GenerateConsoleCtrlEvent`',
    },
    macos: { kind: 'documented', source: 'POSIX `setsid`, `kill` to a process group, `write` (EPIPE, SIGPIPE)' },
  },
  doc: {
    problem:
      'A child started detached (a new session) keeps running when its parent is stopped, which is the point; but two things surprise. ' +
      'Ctrl-C in the terminal stops the parent and the children of its tree, not the detached one, so it lives on unasked. And its stdout ' +
      'is still the pipe the parent read: once the parent is gone nobody reads it, so its next write kills it with SIGPIPE (a shell, a C ' +
      'program) or fails with EPIPE (Node, which ignores SIGPIPE). A detached child that must outlive its parent needs its output to go ' +
      'somewhere that outlives the parent too (a file, /dev/null, a log daemon).',
    why:
      "A terminal's Ctrl-C sends SIGINT to every process of its foreground process group; a child of the tree is in the parent's group, " +
      'a detached child made its own session and group with setsid. A write to a pipe or socket that no process has open for reading raises ' +
      'SIGPIPE, whose default action ends the process; with SIGPIPE ignored the write fails with EPIPE instead.',
    platforms:
      'POSIX (setsid, process groups, SIGPIPE). Windows detaches with DETACHED_PROCESS and CREATE_NEW_PROCESS_GROUP (no console; Ctrl-C ' +
      'events do not reach the new group), and a write whose reader is gone fails with an error (ERROR_NO_DATA, or a socket error): no signal.',
    handled:
      "The project's parent keeps its children in its tree and stops them itself, so Ctrl-C and the parent's own end reach them. A child " +
      'started detached is the exception: give it output that outlives the parent. This demonstration stands alone ' +
      '(scripts/quirks/detached-child.ts), with a small parent of its own, so that it shows the mechanism whatever the project\'s parent does.',
    source:
      'libuv\'s guide, "Processes" ("Detaching processes": UV_PROCESS_DETACHED starts a new session); POSIX `setsid`, `kill` (a negative pid is ' +
      'a process group) and `write` (EPIPE, SIGPIPE); Node docs, `child_process.spawn` option `detached`.',
  },
  async show() {
    const shown = newShown();
    const dir = mkdtempSync(join(tmpdir(), 'quirk-detached-'));
    const shStatus = join(dir, 'sh.status');
    const nodeStatus = join(dir, 'node.status');
    const pids: Record<string, number> = {};
    let parent: ChildProcess | null = null;
    try {
      // detached here too: the parent gets a process group of its own, G, which we can
      // signal as a terminal would, without touching the group this test runs in.
      parent = spawn(process.execPath, ['-e', PARENT, shStatus, nodeStatus], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
      const p = parent;
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => p.on('exit', (c, s) => resolve([c, s])));
      let text = '';
      p.stdout!.on('data', (d: Buffer) => void (text += d.toString()));
      const started = await waitFor(() => /^pids /m.test(text) && text.includes('sh: tick') && text.includes('node: tock'), START_WAIT_MS);
      if (!started) throw new Error(`the parent did not start its children and relay their lines within ${START_WAIT_MS} ms; it wrote ${JSON.stringify(text)}`);
      Object.assign(pids, JSON.parse(/^pids (.*)$/m.exec(text)![1]!) as Record<string, number>);

      const info = side(shown, 'info', 'before Ctrl-C: the parent (group G) relays every child');
      const g = String(p.pid);
      info.push(`parent pid ${p.pid}, process group ${pgid(p.pid!)}`);
      for (const k of ['tree', 'sh', 'node']) info.push(`${k === 'tree' ? 'tree child (sleep)' : `detached ${k}`} pid ${pids[k]}, process group ${pgid(pids[k]!)}`);
      info.push(`relayed so far: ${text.split('\n').filter((l) => l.startsWith('sh:') || l.startsWith('node:')).length} lines from the detached children`);
      shown.values.tree_in_parent_group = pgid(pids.tree!) === g ? 'yes' : 'no';
      shown.values.detached_in_parent_group = pgid(pids.sh!) === g || pgid(pids.node!) === g ? 'yes' : 'no';

      // What the terminal does on Ctrl-C: SIGINT to every process of the foreground group.
      process.kill(-p.pid!, 'SIGINT');
      const [code, signal] = await exited;
      const treeGone = await waitFor(() => !alive(pids.tree!), STATUS_WAIT_MS);
      const sint = side(shown, 'wrong', `kill(-${g}, SIGINT), as a terminal's Ctrl-C: who goes`);
      sint.push(`the parent: ${signal ?? `exit code ${code}`}`);
      sint.push(`the tree child: ${treeGone ? 'gone (it was in group G)' : 'still running'}`);
      shown.values.parent_end = signal ?? `code ${code}`;
      shown.values.tree_child = treeGone ? 'gone' : 'running';

      const both = await waitFor(() => existsSync(shStatus) && existsSync(nodeStatus), STATUS_WAIT_MS);
      const streams = side(shown, 'wrong', 'the detached children live on, and their next write finds no reader');
      const read = (f: string): string => (existsSync(f) ? readFileSync(f, 'utf8').trim() : 'nothing recorded');
      const shEnd = read(shStatus);
      const nodeEnd = read(nodeStatus);
      streams.push(`detached sh: its writing subshell ended with status ${shEnd}${shEnd === '141' ? ' = 128 + 13, killed by SIGPIPE' : ''}`);
      streams.push(`detached node: its write failed with ${nodeEnd} (Node ignores SIGPIPE)`);
      streams.push(both ? 'both outlived the Ctrl-C: each recorded how it ended after the parent was gone' : `within ${STATUS_WAIT_MS} ms not both recorded an ending`);
      shown.values.sh_status = shEnd;
      shown.values.node_status = nodeEnd;

      const right = side(shown, 'right', 'what to do instead');
      right.push('a child that must outlive its parent: detach it and give it stdout/stderr that outlive the parent (a file, /dev/null)');
      right.push('a child that must stop with its parent: keep it in the tree (or its own group) and stop it yourself: a terminal reaches only the foreground group');
      shown.notes.push("SIGINT was sent by kill(-G) as a terminal's line discipline does; no terminal is involved, so it runs the same under a test runner.");
    } finally {
      // Nothing may outlive the demonstration: whatever still runs is killed.
      for (const pid of [parent?.pid, pids.tree, pids.sh, pids.node]) {
        if (pid !== undefined && alive(pid)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone in between
          }
        }
      }
      if (parent !== null && parent.exitCode === null && parent.signalCode === null) await new Promise((r) => parent!.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
    return shown;
  },
  verify(t, shown) {
    t.equal(value(shown, 'tree_in_parent_group'), 'yes', 'the tree child is in the parent\'s process group');
    t.equal(value(shown, 'detached_in_parent_group'), 'no', 'the detached children are not (setsid gave them their own)');
    t.equal(value(shown, 'parent_end'), 'SIGINT', 'Ctrl-C (SIGINT to the group) ended the parent');
    t.equal(value(shown, 'tree_child'), 'gone', 'and the child of its tree');
    t.equal(value(shown, 'sh_status'), '141', 'the detached shell survived it, then was killed by SIGPIPE at its next write (status 128+13)');
    t.equal(value(shown, 'node_status'), 'EPIPE', 'the detached Node child survived it, then its next write failed with EPIPE');
  },
};
