/**
 * Quirk 26: where the spawning API takes no std handles (Perl's Win32::Process::Create,
 * system(), many libraries), the article redirects the parent's own stdout around the
 * spawn and restores it. quirk_c redirect-std does exactly that (dup/dup2 on POSIX,
 * SetStdHandle on Windows) and the right way beside it, and shows where the parent's own
 * output goes meanwhile.
 */
import { measuredBy, runQuirkC, value, type Quirk } from './quirk.ts';

export const quirk: Quirk = {
  order: 26,
  id: 'redirect-own-std-handles',
  title: "Redirecting the parent's own stdout to start a child: the parent's output goes along",
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'partly',
  observed: {
    linux: measuredBy('redirect-own-std-handles', 'dup + dup2 around posix_spawn without file actions'),
    wine: measuredBy('redirect-own-std-handles', 'SetStdHandle around CreateProcessW without STARTF_USESTDHANDLES: the child used the parent\'s std handles'),
    windows: {
      kind: 'documented',
      source: "the article (\"Perl - Redirect Socket Pair to STDOUT/STDERR\", tested on Windows 10); Microsoft docs, `SetStdHandle` and `STARTUPINFOW`",
    },
    macos: { kind: 'documented', source: 'POSIX `dup2` and `posix_spawn` (descriptors without close-on-exec are inherited)' },
  },
  doc: {
    problem:
      "To give a child a socket as stdout through an API that has no place for it, the parent makes the socket its own standard output " +
      '(POSIX: save fd 1 with `dup`, `dup2` the socket onto it; Windows: `SetStdHandle`), starts the child, and restores. For that time ' +
      "everything the parent itself writes there (a log line, another thread's output, a library's warning) lands in the child's stream and " +
      "is labelled as the child's; a second thread that starts a child at the same moment hands it the wrong stream; and a forgotten restore " +
      "sends the parent's own output to the child's reader for good.",
    why:
      "Standard output is per process, not per call: on POSIX fd 1 is shared by every thread; on Windows `SetStdHandle` changes the process's " +
      "standard handle, which CreateProcess passes on when bInheritHandles is TRUE and STARTF_USESTDHANDLES is not set (Wine did so here; " +
      "the article relies on it with Perl on Windows). The C runtime's fd 1 on Windows is opened at startup and does not follow SetStdHandle, " +
      'so `printf` and `WriteFile(GetStdHandle(...))` can even disagree.',
    platforms: 'All: POSIX (dup2 on fd 1) and Windows (SetStdHandle).',
    handled:
      "c/spawn_posix.c gives the socket to the child only (posix_spawn's dup2 file actions), and c/spawn_win.c through STARTUPINFO with " +
      "STARTF_USESTDHANDLES: the parent's own descriptors 1 and 2 never change. The article's C code does the same; only its Perl code redirects.",
    source:
      'The article ("Perl - Redirect Socket Pair to STDOUT/STDERR" and "Restore STDOUT and STDERR"); Microsoft docs, `SetStdHandle`, ' +
      '`STARTUPINFOW`; POSIX `dup2` and `posix_spawn_file_actions_adddup2`.',
    alsoGuardedBy: '"spawn: the child holds exactly descriptors 0, 1 and 2" in test/native.test.ts',
    wineNote:
      "Under Wine a child started without STARTF_USESTDHANDLES used the parent's standard handles, so the redirection worked as the " +
      'article describes for Windows; that part was not observed on Windows itself.',
  },
  async show() {
    return runQuirkC('redirect-std');
  },
  verify(t, shown) {
    t.equal(value(shown, 'own_child_in_socket'), 'yes', "redirecting the parent's own stdout: the child's line reaches the socket");
    t.equal(value(shown, 'own_parent_in_socket'), 'yes', "but so does the parent's own line, written meanwhile");
    t.equal(value(shown, 'child_only_child_in_socket'), 'yes', "the socket given to the child only: the child's line arrives");
    t.equal(value(shown, 'child_only_parent_in_socket'), 'no', "and the parent's own line stays out of it");
  },
};
