/**
 * Quirk 25: every bug of the article's code, listed once (the table in the entry), and the
 * ones a program can show, shown: quirk_c article-bugs runs them on POSIX (an end-of-stream
 * descriptor left in the set, select() and SIGCHLD) and on Windows (SOCKET's type, errno
 * after CreateProcess, ERROR_BROKEN_PIPE at end of stream).
 */
import { measuredBy, runQuirkC, value, type Quirk } from './quirk.ts';

const REPO = "the article's repository (not quoted in the article; not re-checked here)";

export const quirk: Quirk = {
  order: 25,
  id: 'article-code-bugs',
  title: "The article's code, bug by bug: what each does, and where this project avoids it",
  showsOn: ['linux', 'darwin', 'win32'],
  wine: 'partly',
  observed: {
    linux: measuredBy('article-code-bugs', 'an end-of-stream descriptor left in the set: a busy loop; SIGCHLD interrupting select()'),
    wine: measuredBy('article-code-bugs', "SOCKET's type, errno after a failed CreateProcessW, ERROR_BROKEN_PIPE at end of stream"),
    windows: { kind: 'documented', source: 'Microsoft docs, `SOCKET` and INVALID_SOCKET ("Socket Data Type"), `CreateProcessW`, `ReadFile` (ERROR_BROKEN_PIPE)' },
    macos: { kind: 'documented', source: 'POSIX `select` (EINTR) and `read` (0 at end of file, every time)' },
  },
  doc: {
    problem:
      "The article's code was written to show the technique, not to be copied, and it has slips a reader would copy with it. The table below " +
      'lists each once, with what it does and where it is shown; the demonstration runs the ones a program can show: a read end at end of stream ' +
      'left in the select() set makes the loop spin (tens of thousands of rounds in 100 ms here), a child exiting interrupts select() with EINTR, ' +
      '`listener < 0` cannot catch INVALID_SOCKET, `strerror(errno)` after a failed `CreateProcess` prints errno\'s stale value, and a pipe\'s end ' +
      'of stream arrives from `ReadFile` as the error ERROR_BROKEN_PIPE.',
    why:
      'End of file is a permanent "readable" state; select() is never restarted after a signal handler runs; SOCKET is an unsigned integer as ' +
      'wide as a pointer and INVALID_SOCKET is its largest value; Win32 calls report through GetLastError(), not errno; an anonymous pipe has ' +
      'no way to say "end" other than a failed read once every write handle is closed.',
    platforms: 'POSIX (the unix branch and the shared loop) and Windows (the main branch and commit e9c71ac).',
    handled:
      'parent/relay-select.ts closes a read end at its first end of stream and drops it from the set; c/select.c `ipc_select` reports EINTR as "nothing ' +
      'ready"; c/io_win.c compares with INVALID_SOCKET and keeps SOCKETs in `ipc_fd` (64 bits); c/errors_win.c reads GetLastError() and ' +
      'WSAGetLastError(); c/io_win.c (the pipe read of the relay thread) treats ERROR_BROKEN_PIPE as end of stream; each variant closes its copies of the write ends.',
    source: "The article's text and excerpts; " + REPO + '; Microsoft docs for SOCKET, `CreateProcessW`, `ReadFile`; POSIX `select`, `read` and "Signal Concepts" (async-signal-safe functions).',
    table: [
      ['bug', 'where', 'what it does', 'shown by'],
      ['the child prints its "writing to stderr" line with `fprintf(stdout, ...)`', "the article's child.c excerpt", 'the parent never receives anything on stderr', 'documented (the article\'s text)'],
      ["the child's stderr `dup2`ed onto the stdout pipe; `sleep(1)` after each round", "the article's C parent, unix branch", '`[info]` for every stderr line; up to a second per line', '`quirk article-c-parent` (Linux)'],
      ['`listener < 0`, `acceptor < 0` on a SOCKET', "the article's socket-pair excerpt", 'never true: INVALID_SOCKET is the largest unsigned value', '`quirk article-code-bugs` (Wine)'],
      ['a SOCKET kept in an `int`', REPO, 'cuts a 64-bit handle to 32 bits; works only while handle values stay small', '`quirk article-code-bugs` (Wine: INVALID_SOCKET becomes -1)'],
      ['`strerror(errno)` after `CreateProcess` fails', "the article's CreateProcess excerpt", "prints errno's stale value; the reason is in GetLastError()", '`quirk article-code-bugs` (Wine)'],
      ['`PROCESSINFO`', "the article's CreateProcess excerpt", 'no such type: it is PROCESS_INFORMATION (does not compile)', 'documented (Microsoft docs)'],
      ['a string literal as the command line', "the article's CreateProcess excerpt", "fine for CreateProcessA; CreateProcessW may write into the buffer, a literal's crashes", 'documented (Microsoft docs, `CreateProcessW`)'],
      ['`execl` with argv[0] NULL', REPO, 'the child starts with argc 0 (Linux 5.18 and later insert an empty argv[0])', 'documented (Linux `execve`)'],
      ['`FD_CLR` on a set just cleared with `memset`', REPO, 'does nothing: the descriptor was never in the set', 'documented'],
      ['read ends at end of stream never closed', REPO, 'select() returns at once for ever: a busy loop', '`quirk article-code-bugs` (Linux)'],
      ["select()'s EINTR, on each SIGCHLD, treated as an error", REPO, 'the loop ends when the first child exits', '`quirk article-code-bugs` (Linux)'],
      ['signal handlers calling functions that are not async-signal-safe', REPO, 'undefined behaviour: a deadlock if the signal lands inside malloc or stdio', 'documented (POSIX "Signal Concepts")'],
      ["commit e9c71ac: ReadFile's ERROR_BROKEN_PIPE at end of stream treated as an error", REPO, 'every normal end reported as a failure', '`quirk article-code-bugs` (Wine: ReadFile gives 109)'],
      ["commit e9c71ac: the pipe's write end never closed in the parent", REPO, "the copying thread's ReadFile never sees end of stream", '`quirk parent-keeps-write-end` (the same mechanism)'],
    ],
  },
  async show() {
    return runQuirkC('article-bugs');
  },
  verify(t, shown, ctx) {
    if (ctx.platform === 'win32') {
      t.equal(value(shown, 'socket_bytes'), '8', 'SOCKET is 8 bytes wide on 64-bit Windows');
      t.equal(value(shown, 'invalid_socket'), '18446744073709551615', 'INVALID_SOCKET is its largest unsigned value: `< 0` is never true');
      t.equal(value(shown, 'invalid_as_int'), '-1', 'only cut to an int does it look like -1');
      t.equal(value(shown, 'errno_after_createprocess'), '0', 'CreateProcessW failing leaves errno alone (strerror reports nothing useful)');
      t.equal(value(shown, 'getlasterror_after_createprocess'), '2', 'the reason is in GetLastError(): ERROR_FILE_NOT_FOUND');
      t.equal(value(shown, 'pipe_eof_error'), '109', 'ReadFile at end of stream: ERROR_BROKEN_PIPE (109)');
    } else {
      t.ok(Number(value(shown, 'eof_rounds_100ms')) > 100, `an end-of-stream descriptor left in the set: select() spun ${value(shown, 'eof_rounds_100ms')} times in 100 ms`);
      t.equal(value(shown, 'sigchld_select'), 'EINTR', 'a child exiting interrupts select() with EINTR');
    }
  },
};
