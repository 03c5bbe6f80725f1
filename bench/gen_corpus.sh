#!/usr/bin/env bash
# Generates the pipeline benchmarks' corpus, deterministically (fixed seeds):
#
#   gen_corpus.sh DIR [SCALE]        SCALE defaults to 1; 0.01 makes a tiny one for CI
#
#   DIR/mixed/text/shard-NNN.jsonl   JSONL records (ids, timestamps, labels, Zipf-distributed
#                                    words): compressible, ~400 MB at SCALE=1 (8 x 50 MB)
#   DIR/mixed/images/dNN/img-*.jpg   incompressible image-like bytes (JPEG markers around
#                                    AES-CTR output), 8 KiB-512 KiB each (2% 1-4 MiB), ~400 MB at SCALE=1
#   DIR/mixed/floats/emb-NNN.f32     little-endian float32 arrays: smooth random walks with
#                                    quantised steps (zstd -1 gets ~1.2-2x), ~200 MB at SCALE=1
#   DIR/mixed/fashion-mnist/         the raw (gunzipped) idx files of Debian's
#                                    dataset-fashion-mnist, if installed and SCALE >= 1
#   DIR/small/dNNN/fNNNNNN.{json,txt,bin}
#                                    100,000 small files (100 B-8 KiB, log-uniform sizes) in
#                                    100 directories at SCALE=1; text, JSON and random bytes
#
# The same DIR and SCALE give the same bytes and names on every machine (perl's rand is
# drand48 with an explicit seed; the random bytes are AES-128-CTR keystreams with fixed keys).
# DIR must not exist or be empty. Uses perl, openssl and gzip only.
set -euo pipefail

dir=${1:?usage: gen_corpus.sh DIR [SCALE]}
scale=${2:-1}
awk -v s="$scale" 'BEGIN { exit !(s + 0 > 0 && s + 0 <= 100) }' ||
	{ echo "gen_corpus.sh: SCALE must be a number in (0, 100]" >&2; exit 2; }
if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
	echo "gen_corpus.sh: $dir exists and is not empty" >&2
	exit 2
fi
mkdir -p "$dir/mixed/text" "$dir/mixed/images" "$dir/mixed/floats" "$dir/small"
dir=$(cd "$dir" && pwd)

# sizes at this scale (integers)
calc() { awk -v s="$scale" "BEGIN { v = $1; printf \"%d\", (v < $2 ? $2 : v) }"; }
text_shards=8
text_bytes=$(calc "50000000 * s" 4096)    # per shard
image_bytes=$(calc "400000000 * s" 65536) # in total
float_files=4
float_count=$(calc "12500000 * s" 1024)   # floats per file (4 bytes each)
small_files=$(calc "100000 * s" 100)
small_dirs=$(calc "100 * s" 1)

start=$(date +%s.%N)

# One perl program, several modes; the program text goes on the command line (-e) so
# that stdin stays free.
gen_pl=$(cat <<'PERL'
use strict; use warnings;
my ($mode, @a) = @ARGV;

# A vocabulary of pseudo-words and a Zipf-ish lookup table (65536 slots) over it.
sub vocab {
	my @syl = qw(ka lo mi ne ra su ti vo ze ba de fi go hu ja ke li mo nu pe qi ro sa te
	             un ve wa xi yo zu an el in or st tr ch sh th ph gr pl);
	my (@w, @tab);
	for my $i (0 .. 2999) {
		my $n = 1 + int(rand(3)) + ($i > 500 ? 1 : 0);
		push @w, join('', map { $syl[int rand @syl] } 1 .. $n);
	}
	my @wt = map { 1 / ($_ + 8) } 0 .. $#w;
	my $sum = 0; $sum += $_ for @wt;
	my $k = 0; my $acc = 0;
	for my $i (0 .. $#w) {
		$acc += $wt[$i] / $sum * 65536;
		while ($k < $acc && $k < 65536) { $tab[$k++] = $w[$i]; }
	}
	$tab[$k++] = $w[-1] while $k < 65536;
	return \@tab;
}

my @langs = qw(en en en en de fr es it pt nl pl ja zh);
my @splits = qw(train train train train train train train train val test);
sub record {
	my ($tab, $id) = @_;
	my $nw = 8 + int(rand(40));
	my $text = join(' ', map { $tab->[int rand 65536] } 1 .. $nw);
	my $t = 1700000000 + int($id * 0.5) + int(rand(60));
	my @g = gmtime($t);
	return sprintf('{"id":%d,"ts":"%04d-%02d-%02dT%02d:%02d:%02dZ","user":"u_%05d","lang":"%s",'
		. '"split":"%s","label":%d,"score":%.4f,"tokens":%d,"text":"%s"}' . "\n",
		$id, $g[5] + 1900, $g[4] + 1, $g[3], $g[2], $g[1], $g[0], int(rand(50000)),
		$langs[int rand @langs], $splits[int rand @splits], int(rand(1000)), rand(),
		$nw, $text);
}

if ($mode eq 'text') {            # text FILE SEED BYTES
	my ($file, $seed, $bytes) = @a;
	srand($seed);
	my $tab = vocab();
	open(my $o, '>', $file) or die "$file: $!";
	my ($n, $id, $buf) = (0, ($seed % 1000) * 10000000, "");
	while ($n < $bytes) {
		my $r = record($tab, $id++);
		$r = substr($r, 0, $bytes - $n) if $n + length($r) > $bytes;
		$buf .= $r; $n += length($r);
		if (length($buf) >= 1 << 20) { print $o $buf or die; $buf = ''; }
	}
	print $o $buf or die;
	close($o) or die "$file: $!";
} elsif ($mode eq 'images') {     # images DIR SEED TOTAL (random bytes on stdin)
	my ($d, $seed, $total) = @a;
	srand($seed);
	binmode(STDIN);
	my ($n, $i) = (0, 0);
	while ($n < $total) {
		# log-uniform 8 KiB .. 512 KiB (mean ~120 KB, like ImageNet JPEGs); 2% are 1-4 MiB,
		# over the 1 MiB pack threshold, so that both paths are exercised
		my $sz = int(8192 * exp(rand() * log(64)));
		$sz = 1048576 + int(rand(3 << 20)) if rand() < 0.02;
		$sz = $total - $n if $n + $sz > $total;
		$sz = 64 if $sz < 64;
		my $sub = sprintf('%s/d%02d', $d, $i % 32);
		mkdir $sub unless -d $sub;
		my $body = '';
		my $want = $sz - 24;
		while (length($body) < $want) {
			my $got = read(STDIN, $body, $want - length($body), length($body));
			die "random stream ended\n" unless $got;
		}
		my $f = sprintf('%s/img-%06d.jpg', $sub, $i);
		open(my $o, '>', $f) or die "$f: $!";
		binmode($o);
		print $o "\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", $body,
			"\xFF\xD9\x00\x00" or die;
		close($o) or die "$f: $!";
		$n += $sz; $i++;
	}
} elsif ($mode eq 'floats') {     # floats FILE SEED COUNT
	my ($file, $seed, $count) = @a;
	srand($seed);
	open(my $o, '>', $file) or die "$file: $!";
	binmode($o);
	# 64 interleaved channels, each a random walk with steps quantised to 1/1024 plus a
	# slow sine: neighbouring values share sign, exponent and high mantissa bits, the low
	# mantissa bits are mostly zero, like quantised sensor data or embeddings
	my @v = map { rand(4) - 2 } 0 .. 63;
	my $ch = 0;
	my $left = $count;
	while ($left > 0) {
		my $blk = $left < 65536 ? $left : 65536;
		my @out;
		for (1 .. $blk) {
			$v[$ch] += (int(rand(9)) - 4) / 1024;
			push @out, $v[$ch];
			$ch = ($ch + 1) & 63;
		}
		print $o pack('f<*', @out) or die;
		$left -= $blk;
	}
	close($o) or die "$file: $!";
} elsif ($mode eq 'small') {      # small DIR SEED FILES DIRS (random bytes on stdin)
	my ($d, $seed, $files, $dirs) = @a;
	srand($seed);
	binmode(STDIN);
	my $tab = vocab();
	my $rnd = '';
	read(STDIN, $rnd, 8 << 20) == 8 << 20 or die "random stream too short\n";
	for my $k (0 .. $dirs - 1) { mkdir sprintf('%s/d%03d', $d, $k) or die "$!"; }
	for my $i (0 .. $files - 1) {
		my $sz = int(100 * exp(rand() * log(8192 / 100)));
		my $kind = rand();
		my ($ext, $body);
		if ($kind < 0.4) {           # JSON annotation
			$ext = 'json'; $body = '';
			$body .= record($tab, $i) while length($body) < $sz;
		} elsif ($kind < 0.7) {      # caption / label text
			$ext = 'txt'; $body = '';
			$body .= $tab->[int rand 65536] . (rand() < 0.1 ? "\n" : ' ') while length($body) < $sz;
		} else {                      # binary (thumbnail, feature vector)
			$ext = 'bin';
			$body = substr($rnd, int(rand(length($rnd) - $sz)), $sz);
		}
		$body = substr($body, 0, $sz);
		my $f = sprintf('%s/d%03d/f%06d.%s', $d, $i % $dirs, $i, $ext);
		open(my $o, '>', $f) or die "$f: $!";
		binmode($o);
		print $o $body or die;
		close($o) or die "$f: $!";
	}
} else { die "unknown mode $mode\n"; }
PERL
)

# deterministic pseudo-random bytes: AES-128-CTR keystream under a fixed key
randstream() { openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$1")" -iv 00000000000000000000000000000000 </dev/zero 2>/dev/null; }

# Run the generators two at a time (they are CPU-bound perl); each job is one line. No
# pipefail: openssl dies of SIGPIPE when perl has read enough; perl's status is the job's.
jobs_file=$(mktemp)
trap 'rm -f "$jobs_file"' EXIT
for i in $(seq 0 $((text_shards - 1))); do
	printf 'perl -e "$GEN_PL" text %q %d %d\n' "$dir/mixed/text/shard-$(printf %03d "$i").jsonl" $((1000 + i)) "$text_bytes"
done >>"$jobs_file"
for i in $(seq 0 $((float_files - 1))); do
	printf 'perl -e "$GEN_PL" floats %q %d %d\n' "$dir/mixed/floats/emb-$(printf %03d "$i").f32" $((2000 + i)) "$float_count"
done >>"$jobs_file"
printf 'randstream 3000 | perl -e "$GEN_PL" images %q 3001 %d\n' "$dir/mixed/images" "$image_bytes" >>"$jobs_file"
printf 'randstream 4000 | perl -e "$GEN_PL" small %q 4001 %d %d\n' "$dir/small" "$small_files" "$small_dirs" >>"$jobs_file"

export GEN_PL=$gen_pl
export -f randstream
# longest jobs first (images, small), so that two workers finish together
tac "$jobs_file" | tr '\n' '\0' | xargs -0 -P "$(nproc)" -I{} bash -c '{}' ||
	{ echo "gen_corpus.sh: a generator failed" >&2; exit 1; }

fm=/usr/share/datasets/fashion-mnist
if [ -d "$fm" ] && awk -v s="$scale" 'BEGIN { exit !(s >= 1) }'; then
	mkdir -p "$dir/mixed/fashion-mnist"
	for f in "$fm"/*.gz; do
		gzip -dc "$f" >"$dir/mixed/fashion-mnist/$(basename "$f" .gz)"
	done
	fm_note="included (raw idx files from $fm)"
else
	fm_note="not included (needs the dataset-fashion-mnist package and SCALE >= 1)"
fi

end=$(date +%s.%N)
count() { find "$1" -type f | wc -l; }
bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }'; }
echo "corpus in $dir (SCALE=$scale), generated in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
printf '  %-22s %6d files %14d bytes\n' \
	mixed/text "$(count "$dir/mixed/text")" "$(bytes "$dir/mixed/text")" \
	mixed/images "$(count "$dir/mixed/images")" "$(bytes "$dir/mixed/images")" \
	mixed/floats "$(count "$dir/mixed/floats")" "$(bytes "$dir/mixed/floats")"
[ -d "$dir/mixed/fashion-mnist" ] &&
	printf '  %-22s %6d files %14d bytes\n' mixed/fashion-mnist "$(count "$dir/mixed/fashion-mnist")" \
		"$(bytes "$dir/mixed/fashion-mnist")"
printf '  %-22s %6d files %14d bytes\n' small "$(count "$dir/small")" \
	"$(bytes "$dir/small")"
echo "  fashion-mnist: $fm_note"
