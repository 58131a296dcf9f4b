/**
 * Quirk 27: how CreateProcess finds a program named without a folder. quirk_c
 * program-lookup puts three copies of itself, all named quirk-lookup-probe.exe, in its own
 * folder, the current folder and a folder on PATH, and removes them one by one; then gives
 * PATH in the child's environment only.
 */
import { measuredBy, runQuirkC, value, type Quirk } from './quirk.ts';

export const quirk: Quirk = {
  order: 27,
  id: 'program-lookup',
  title: "CreateProcess looks in the parent's folder and the current folder before PATH, and adds .exe",
  showsOn: ['win32'],
  wine: 'same',
  observed: {
    linux: { kind: 'never', why: 'POSIX posix_spawnp/execvp search PATH only (an empty entry is the current folder)' },
    wine: measuredBy('program-lookup', "the parent's folder, then the current folder, then PATH; the child's own PATH is not searched"),
    windows: { kind: 'documented', source: 'Microsoft docs, `CreateProcessW` (lpCommandLine: the search order; .exe appended)' },
    macos: { kind: 'never', why: 'POSIX searches PATH only' },
  },
  doc: {
    problem:
      'A parent that starts `["node", "x.js"]` on Windows may not run the `node` its PATH names: with no folder in the name, CreateProcess first ' +
      "looks in the folder of the parent's own program (node.exe's folder, for a Node parent), then in the current folder, then in the system " +
      "folders, and only then along PATH, adding `.exe` to the name. A program planted in the current folder wins over PATH. And the PATH it " +
      "searches is the parent's: a PATH set only in the child's environment is not used. `.bat` and `.cmd` files are run through cmd.exe, with " +
      "cmd.exe's own quoting rules (the BatBadBut injection, CVE-2024-27980).",
    why:
      'CreateProcess is given the whole command line and lpApplicationName NULL, so it takes the first word as the program and applies its own ' +
      'search order, which predates PATH-only conventions. The search happens in the parent, before the child or its environment exists.',
    platforms: "Windows (all versions). POSIX's execvp and posix_spawnp search PATH only, and an empty PATH entry means the current folder.",
    handled:
      "c/spawn_win.c no longer leaves the search to CreateProcessW. It resolves argv[0] itself, by the rules of libuv's `search_path`: a bare name " +
      "along the PATH of the child's own environment, as given if it has an extension, then with `.com` and `.exe` appended; a name with a folder " +
      "only there, relative to the child's working folder, tried exactly as given first. The file found goes to CreateProcessW as lpApplicationName, " +
      "so the parent program's folder, the current folder and the system folders are searched only when PATH names them. One difference from libuv: " +
      "a bare name is never looked up in the current folder first (write `.\\name` for that). A `.bat` or `.cmd` file (any case, also `x.bat.`) " +
      "is refused with EINVAL naming BatBadBut / CVE-2024-27980, as Node's spawn refuses it since April 2024. Seen under Wine (test/windows.test.ts): " +
      "before this, a PATH given only to the child was not searched, a bare name in the current folder ran, and a batch file's injected command ran.",
    source:
      'Microsoft docs, `CreateProcessW` (the search order for lpCommandLine; ".exe" appended; batch files need cmd.exe); libuv src/win/process.c ' +
      '`search_path`; CVE-2024-27980 (BatBadBut); Node.js security releases of April 2024 (batch files refused by `spawn`).',
  },
  async show() {
    return runQuirkC('program-lookup');
  },
  verify(t, shown) {
    t.equal(value(shown, 'first'), 'application', "with copies everywhere, the one in the parent program's folder ran");
    t.equal(value(shown, 'second'), 'current', 'without it, the one in the current folder');
    t.equal(value(shown, 'third'), 'path', 'without that one too, the one on PATH (".exe" added each time)');
    t.equal(value(shown, 'child_env_path'), 'ERROR_FILE_NOT_FOUND', "a PATH only in the child's environment is not searched");
  },
};
