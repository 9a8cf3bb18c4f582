# Shared by the benchmark scripts (ab.sh, bench.sh, listen-cost.sh): sourced,
# not run.

# median prints the median of the numbers on standard input, one a line.
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# make_room WHO N MAXFILE OLD_MAX: a namespace of N entries needs the global
# nf_conntrack_max above N with room to spare; with RAISE_MAX=1 it is raised
# to N x 5/4 for the run (the caller restores OLD_MAX on exit), else the
# script stops with status 2, saying why.
make_room() {
	local who=$1 n=$2 maxfile=$3 old=$4
	[ "$n" -gt $((old * 9 / 10)) ] || return 0
	if [ "${RAISE_MAX:-0}" = 1 ]; then
		echo "$who: raising nf_conntrack_max from $old to $((n * 5 / 4)) for this run" >&2
		echo $((n * 5 / 4)) >"$maxfile"
		return 0
	fi
	echo "$who: a table of $n entries exceeds 90% of nf_conntrack_max=$old; set RAISE_MAX=1 to raise it for the run (make bench-1m does)" >&2
	exit 2
}
