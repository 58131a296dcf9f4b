/**
 * Quirk 14: FD_SETSIZE means a different thing on each platform. quirk_c fd-setsize shows
 * the platform's side (POSIX: descriptor numbers past it exist; Windows: the 65th socket
 * is silently left out of a default fd_set); then the project's ipc.select is given the
 * same situation.
 */
import { ipc } from '../../parent/native.ts';
import { checkCapacity, chooseVariant } from '../../parent/variants/index.ts';
import { measuredBy, type Quirk, runQuirkC, side, value } from './quirk.ts';

/** Winsock's default FD_SETSIZE, plus one. */
const WINDOWS_PAIRS = 65;

export const quirk: Quirk = {
  order: 14,
  id: 'fd-setsize',
  title: 'FD_SETSIZE: a descriptor-number limit on POSIX, a socket-count limit on Windows',
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'same',
  observed: {
    linux: measuredBy('fd-setsize', 'descriptors at or past FD_SETSIZE; the addon falls back to poll()'),
    wine: measuredBy('fd-setsize', 'FD_SET ignores the 65th socket with the default 64'),
    windows: { kind: 'documented', source: 'Microsoft docs, Winsock `select` (FD_SETSIZE)' },
    macos: { kind: 'documented', source: 'POSIX `select` (FD_SETSIZE); macOS `select(2)` man page' },
  },
  doc: {
    problem:
      'On POSIX, `FD_SET(fd, &set)` with a descriptor number of FD_SETSIZE (1024 on Linux) or more writes past the end of the fd_set: a ' +
      'parent with a few hundred children gets such numbers and corrupts its stack. On Windows the limit is a count, 64 by default: ' +
      '`FD_SET` of a 65th socket is silently ignored, and select() never reports that child\'s output.',
    why:
      'POSIX fd_set is a bitmap indexed by descriptor number; Winsock\'s fd_set is a count plus an array of FD_SETSIZE sockets, and its ' +
      'FD_SET macro stops adding when the array is full. The article raises FD_SETSIZE to 1024 before including winsock2.h.',
    platforms: 'All: Linux/macOS (number limit, 1024) and Windows (count limit, 64 unless redefined).',
    handled:
      'c/select_posix.c `ipc_wait_readable` switches to poll() when any descriptor is at or past FD_SETSIZE; on Windows binding.gyp compiles ' +
      'the addon with FD_SETSIZE=1024, c/io_win.c `ipc_select_check` refuses more sockets than that, and parent/variants/index.ts ' +
      '`checkCapacity` refuses too many children before any starts.',
    source: "The article's `#define FD_SETSIZE 1024` before winsock2.h; Microsoft docs for select (\"FD_SETSIZE ... default 64\"); POSIX select(2).",
    alsoGuardedBy:
      'native `select: beyond FD_SETSIZE, Windows refuses (a count limit) and POSIX falls back to poll()`, reliability `7 scale` and ' +
      '`7 scale on Windows`, variants `Windows: more children than select() can hold are refused` in test/*.test.ts',
  },
  async show(ctx) {
    const shown = runQuirkC('fd-setsize');
    const obs = side(shown, 'right', `the project's ipc.select (addon built with FD_SETSIZE ${ipc.FD_SETSIZE})`);
    const pairs: [number, number][] = [];
    try {
      if (ctx.platform === 'win32') {
        for (let i = 0; i < WINDOWS_PAIRS; i++) pairs.push(ipc.socketpair());
      } else {
        // Open pairs until the descriptor numbers pass FD_SETSIZE.
        while (pairs.length === 0 || pairs[pairs.length - 1]![0] < ipc.FD_SETSIZE) pairs.push(ipc.socketpair());
      }
      const [last, lastPeer] = pairs[pairs.length - 1]!;
      ipc.write(lastPeer, Buffer.from('x'));
      const watched = pairs.map((p) => p[0]);
      const ready = await ipc.select(watched, 1000);
      obs.push(`${watched.length} read ends watched, the last one ${ctx.platform === 'win32' ? `(socket #${watched.length})` : `descriptor ${last}`} holding one byte`);
      obs.push(`ipc.select reported ${ready.length} ready: ${ready.includes(last) ? 'the last one' : 'not the last one'}`);
      shown.values.addon_fd_setsize = String(ipc.FD_SETSIZE);
      shown.values.addon_watched = String(watched.length);
      shown.values.addon_last_fd = String(last);
      shown.values.addon_reports_last = ready.includes(last) ? '1' : '0';
    } finally {
      for (const [a, b] of pairs) {
        ipc.close(a);
        ipc.close(b);
      }
    }
    // The parent's capacity check, as it runs on Windows (platform injected: pure logic).
    const cap = side(shown, 'info', 'parent/variants/index.ts checkCapacity on Windows, FD_SETSIZE 1024');
    const tooMany = 600;
    try {
      checkCapacity(chooseVariant('socketpair', undefined, 'win32'), tooMany, 1024, 'win32');
      cap.push(`${tooMany} children: accepted`);
      shown.values.capacity_refused = '0';
    } catch (e) {
      cap.push(`${tooMany} children: refused before any starts: ${(e as Error).message}`);
      shown.values.capacity_refused = '1';
    }
    return shown;
  },
  verify(t, shown, ctx) {
    if (ctx.platform === 'win32') {
      t.equal(value(shown, 'fd_setsize'), '64', "quirk_c, built without defining it, has Winsock's default FD_SETSIZE");
      t.equal(value(shown, 'fd_count'), '64', 'FD_SET of 65 sockets: the 65th silently left out (fd_count stays 64)');
      t.equal(value(shown, 'select_full_set'), '0', 'select() over that set never reports the 65th, though it holds a byte');
      t.equal(value(shown, 'select_small_set'), '1', 'the same socket in a set of its own is reported');
      t.equal(value(shown, 'addon_fd_setsize'), '1024', 'the addon is compiled with FD_SETSIZE 1024');
    } else {
      const limit = Number(value(shown, 'fd_setsize'));
      t.ok(Number(value(shown, 'high_fd')) >= limit, `a descriptor numbered ${value(shown, 'high_fd')} exists, past FD_SETSIZE ${limit}`);
      t.equal(value(shown, 'poll_reports_high'), '1', 'poll() watches it');
      t.ok(Number(value(shown, 'addon_last_fd')) >= Number(value(shown, 'addon_fd_setsize')), `the addon got descriptor ${value(shown, 'addon_last_fd')}, past FD_SETSIZE`);
    }
    t.equal(value(shown, 'addon_reports_last'), '1', `ipc.select reports the last of ${value(shown, 'addon_watched')} read ends`);
    t.equal(value(shown, 'capacity_refused'), '1', 'checkCapacity refuses more children than one select() can hold on Windows');
  },
};
