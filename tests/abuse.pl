#!/usr/bin/perl
# abuse.pl - slow and abusive HTTP clients, for tests/test_slow.sh.
#
#   perl abuse.pl --port P [--host 127.0.0.1] [--from 127.0.0.2]
#                 [--idle N] [--trickle N] [--every S] [--nobody N]
#                 [--pipeline N] [--seconds S]
#
# Opens, from the --from address, N connections of each kind and keeps them
# for --seconds (default 20), reopening any the server closes, as a real
# attacker would:
#   idle      connect and send nothing;
#   trickle   send one byte of a request that never ends every --every
#             seconds (default 10), so the server's idle timer keeps resetting;
#   nobody    send a POST's headers (Content-Length: 1 MB) and never the body;
#   pipeline  send 64 requests in one write (the answers are read, and
#             the connection reopened when the server closes it).
# Prints "ready" once every connection has been tried, then one line per
# kind when done:
#   KIND opened N open M closed C failed F
# (opened: connections made, reopenings included; open: still open at the
# end; closed: closed by the server; failed: connects that did not complete
# within 2 s).  Exits when the time is up, on SIGTERM, or if its parent dies.
#
#   perl abuse.pl --port P --check-pipeline K
# sends K pipelined GET /api/v1/health from 127.0.0.1 on one connection (the
# last with Connection: close) and prints how many answers were 200.
use strict;
use warnings;
use Getopt::Long;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my %opt = (host => '127.0.0.1', from => '127.0.0.2', idle => 0, trickle => 0,
	   every => 10, nobody => 0, pipeline => 0, seconds => 20);
GetOptions(\%opt, 'port=i', 'host=s', 'from=s', 'idle=i', 'trickle=i',
	   'every=f', 'nobody=i', 'pipeline=i', 'seconds=f', 'check-pipeline=i')
	or die "abuse.pl: bad arguments\n";
die "abuse.pl: --port is required\n" unless $opt{port};

my $health = "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

if ($opt{'check-pipeline'}) {
	my $k = $opt{'check-pipeline'};
	my $s = IO::Socket::INET->new(PeerAddr => $opt{host}, PeerPort => $opt{port},
				      Timeout => 2) or die "abuse.pl: connect: $!\n";
	my $last = "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	print $s ($health x ($k - 1)) . $last;
	my $all = '';
	my $sel = IO::Select->new($s);
	my $end = time + 5;
	while (time < $end && $sel->can_read($end - time)) {
		my $n = sysread($s, my $buf, 65536);
		last unless $n;
		$all .= $buf;
	}
	my $ok = () = $all =~ m{HTTP/1\.1 200 }g;
	print "$ok\n";
	exit 0;
}

# What each kind sends on connect, and the byte it trickles afterwards.
my %first = (
	idle => '',
	trickle => "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
	nobody => "POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		. "Content-Type: image/png\r\nContent-Length: 1048576\r\n\r\n",
	pipeline => $health x 64,
);
my (%stat, %conn); # conn: fileno => [socket, kind, next trickle time]
my $sel = IO::Select->new;

my $end = time + $opt{seconds};

sub open_one {
	my ($kind) = @_;
	return if time >= $end; # a server that stops accepting cannot hold us
	my $s = IO::Socket::INET->new(PeerAddr => $opt{host}, PeerPort => $opt{port},
				      LocalAddr => $opt{from}, Proto => 'tcp', Timeout => 2);
	if (!$s) {
		$stat{$kind}{failed}++;
		return;
	}
	$stat{$kind}{opened}++;
	$s->blocking(0);
	syswrite($s, $first{$kind}) if length $first{$kind};
	$conn{fileno $s} = [$s, $kind, time + $opt{every}];
	$sel->add($s);
}

my $stop = 0;
$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };
$SIG{PIPE} = 'IGNORE';
my $parent = getppid;
for my $kind (qw(idle trickle nobody pipeline)) {
	$stat{$kind} = {opened => 0, closed => 0, failed => 0};
	open_one($kind) for 1 .. $opt{$kind};
}
$| = 1;
print "ready\n";
while (!$stop && time < $end && getppid == $parent) {
	# A readable socket is one the server answered or closed: read what it
	# sent (pipelined answers pile up otherwise) and reopen it if closed.
	for my $s ($sel->can_read(0.5)) {
		my $n = sysread($s, my $buf, 65536);
		next if !defined $n || $n > 0;
		my $kind = $conn{fileno $s}[1];
		$stat{$kind}{closed}++;
		$sel->remove($s);
		delete $conn{fileno $s};
		close $s;
		open_one($kind);
	}
	my $now = time;
	for my $c (values %conn) {
		next unless $c->[1] eq 'trickle' && $now >= $c->[2];
		syswrite($c->[0], 'a');
		$c->[2] = $now + $opt{every};
	}
}
my %open;
$open{$_->[1]}++ for values %conn;
for my $kind (qw(idle trickle nobody pipeline)) {
	next unless $opt{$kind};
	printf "%s opened %d open %d closed %d failed %d\n", $kind,
		$stat{$kind}{opened}, $open{$kind} // 0, $stat{$kind}{closed},
		$stat{$kind}{failed};
}
