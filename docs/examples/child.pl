#!/usr/bin/env perl
# A Perl child for `npm start -- --children 2 -- perl docs/examples/child.pl`: like the
# article's child.pl, a line to stdout, then one to stderr, with a short sleep between,
# but only LINES lines (default 4) so that the run ends by itself.
use strict;
use warnings;
use IO::Handle;
use Time::HiRes qw(sleep);

# Unbuffered: stdout is a socket or a pipe here, which Perl would otherwise buffer fully.
STDOUT->autoflush(1);
STDERR->autoflush(1);

my $lines = $ARGV[0] // 4;
for my $n (1 .. $lines) {
    if ($n % 2) {
        print STDOUT "Perl child pid $$ writing line $n to stdout.\n";
    } else {
        print STDERR "Perl child pid $$ writing line $n to stderr.\n";
    }
    sleep 0.2;
}
exit 0;
