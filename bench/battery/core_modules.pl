# perl with core modules: Data::Dumper, List::Util, POSIX, Storable, sorting.
use strict;
use warnings;
use Data::Dumper;
use List::Util qw(sum max shuffle);
use POSIX qw(floor);
use Storable qw(dclone);
$Data::Dumper::Sortkeys = 1;
my %h;
for my $i (1 .. 20000) {
    push @{ $h{ $i % 97 } }, { id => $i, name => "n$i", f => floor($i / 3) };
}
my $copy = dclone(\%h);
my $text = Dumper($copy->{5});
my @sorted = sort { $a->{id} <=> $b->{id} } map { @$_ } values %h;
print sum(map { $_->{f} } @sorted[0 .. 999]), " ", length($text), " ", max(keys %h), "\n";
