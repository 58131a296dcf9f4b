/**
 * Quirk 21: a buffered read (Perl's readline, C's fgets on a FILE) takes more from the
 * descriptor than the line it returns, and select() only knows about the descriptor. Shown
 * in Perl, the article's other language: two lines arrive in one write; after readline has
 * returned the first, select() says nothing is ready, although the second line is there,
 * in Perl's buffer.
 */
import { spawnSync } from 'node:child_process';
import { measuredBy, parseQuirkOutput, value, type Quirk } from './quirk.ts';

/**
 * Prints in quirk_c's format (c/quirks/quirk.h), so parseQuirkOutput reads it. Both sides
 * get the same two lines in one syswrite on a fresh socket pair.
 */
const PERL = String.raw`
use strict;
use warnings;
use Socket;
use IO::Handle;
use IO::Select;
$| = 1;

sub pair {
    socketpair(my $r, my $w, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!\n";
    defined syswrite($w, "one\ntwo\n") or die "syswrite: $!\n";
    return ($r, $w);
}
sub show { my $s = shift; $s =~ s/\n/\\n/g; return "\"$s\""; }

print "## wrong: select(), then readline (<\$fh>, buffered)\n";
my ($r, $w) = pair();
my $sel = IO::Select->new($r);
my $ready = scalar $sel->can_read(5);
my $first = <$r>;
my $again = scalar $sel->can_read(0.5);
print "select: $ready ready; readline returned " . show($first) . "\n";
print "select again (0.5 s): " . ($again ? "ready" : "nothing ready") . ", though the second line was sent in the same write\n";
print "= readline_first " . show($first) . "\n";
print "= readline_select_again " . ($again ? "ready" : "none") . "\n";
my $second = <$r>;
print "readline without asking select: " . show($second) . ": it was in Perl's buffer all along\n";
print "= readline_second " . show($second) . "\n";

print "## right: select(), then sysread (unbuffered), then split the lines yourself\n";
($r, $w) = pair();
$sel = IO::Select->new($r);
$ready = scalar $sel->can_read(5);
my $n = sysread($r, my $buf, 65536);
defined $n or die "sysread: $!\n";
my @lines = split /(?<=\n)/, $buf;
$again = scalar $sel->can_read(0.5);
print "select: $ready ready; sysread returned $n bytes: " . show($buf) . ", " . scalar(@lines) . " lines\n";
print "select again (0.5 s): " . ($again ? "ready" : "nothing ready") . ", and nothing is owed: both lines are in hand\n";
print "= sysread_lines " . scalar(@lines) . "\n";
print "= sysread_select_again " . ($again ? "ready" : "none") . "\n";
`;

export const quirk: Quirk = {
  order: 21,
  id: 'buffered-read-hides-data',
  title: 'A buffered read hides data from select(): readline and fgets read ahead',
  showsOn: ['linux', 'darwin'],
  observed: {
    linux: measuredBy('buffered-read-hides-data', 'Perl 5: readline then IO::Select'),
    wine: { kind: 'never', why: 'no Windows Perl here' },
    windows: { kind: 'documented', source: 'the article ("Read Asynchronously from Children with Select": use sysread); perlfunc, `select`' },
    macos: { kind: 'documented', source: 'perlfunc, `select` (do not mix buffered I/O with select); the article, tested with Perl on macOS' },
  },
  doc: {
    problem:
      'A parent that asks select() which child has output and then reads a line with a buffered call (Perl\'s `<$fh>`/readline, C\'s `fgets` ' +
      'on a `FILE`) gets the first line; the rest of what the child wrote went into the buffer. The next select() asks the kernel, which has ' +
      'nothing left for that descriptor, so the parent waits, and the child\'s lines sit unseen until it writes again (or forever, if it is done).',
    why:
      'The buffered layer reads a whole block from the descriptor to find one line and keeps the rest in memory, where select() cannot see it. ' +
      'select() reports on kernel buffers only.',
    platforms: 'All: any buffered I/O layer over a descriptor watched by select() or poll().',
    handled:
      'The relay reads raw bytes (`ipc.read`: `read`/`recv`, no buffering layer) until "would block" and splits lines itself ' +
      '(parent/lines.ts `LineAssembler`), so nothing is held where select() cannot see it.',
    source:
      'The article ("Read Asynchronously from Children with Select": bypass Perl\'s buffered I/O, use sysread); perlfunc, `select` (mixing ' +
      'buffered I/O with select is warned against); POSIX `fgets` (reads through the stream\'s buffer).',
  },
  async show() {
    const r = spawnSync('perl', ['-e', PERL], { encoding: 'utf8', timeout: 30_000 });
    if (r.error) throw new Error(`perl: ${r.error.message} (this demonstration runs the article's other language, Perl 5)`);
    if (r.status !== 0) throw new Error(`perl exited with ${r.status ?? r.signal}: ${r.stderr.trim()}`);
    const shown = parseQuirkOutput(r.stdout);
    shown.notes.push("C's fgets on a FILE from fdopen() does the same; so does any language's buffered line reader.");
    return shown;
  },
  verify(t, shown) {
    t.equal(value(shown, 'readline_first'), '"one\\n"', 'readline returns the first line');
    t.equal(value(shown, 'readline_select_again'), 'none', 'then select() reports nothing ready');
    t.equal(value(shown, 'readline_second'), '"two\\n"', 'although the second line was in the buffer');
    t.equal(value(shown, 'sysread_lines'), '2', 'sysread takes both lines in one read');
    t.equal(value(shown, 'sysread_select_again'), 'none', 'and select() owes nothing afterwards');
  },
};
