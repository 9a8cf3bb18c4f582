# Shared by the benchmark scripts (ab.sh, bench.sh, listen-cost.sh, soak.sh):
# sourced, not run.

# needs WHO TOOL...: the run needs root (it makes private network namespaces)
# and these tools, or stops with status 2 saying what to do.
needs() {
	local who=$1 tool
	shift
	[ "$(id -u)" -eq 0 ] || { echo "$who: needs root (private network namespaces)" >&2; exit 2; }
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "$who: $tool missing; run scripts/deps.sh" >&2; exit 2; }
	done
}

# whole_numbers WHO VAR...: each variable named holds a whole number, or the
# run stops with status 2 saying which does not.
whole_numbers() {
	local who=$1 v
	shift
	for v in "$@"; do
		case ${!v} in '' | *[!0-9]*) echo "$who: $v=${!v} is not a whole number" >&2; exit 2 ;; esac
	done
}

# median prints the median of the numbers on standard input, one a line.
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# make_room WHO N MAXFILE OLD_MAX: a namespace of N entries needs the global
# nf_conntrack_max above N with room to spare; with RAISE_MAX=1 it is raised
# to N x 5/4 for the run (RAISED_TO says to what; the caller's exit calls
# restore_max), else the script stops with status 2, saying why.
RAISED_TO=
make_room() {
	local who=$1 n=$2 maxfile=$3 old=$4
	[ "$n" -gt $((old * 9 / 10)) ] || return 0
	if [ "${RAISE_MAX:-0}" = 1 ]; then
		echo "$who: raising nf_conntrack_max from $old to $((n * 5 / 4)) for this run" >&2
		RAISED_TO=$((n * 5 / 4))
		echo "$RAISED_TO" >"$maxfile"
		return 0
	fi
	echo "$who: a table of $n entries exceeds 90% of nf_conntrack_max=$old; set RAISE_MAX=1 to raise it for the run (make bench-1m does)" >&2
	exit 2
}

# restore_max WHO MAXFILE OLD_MAX: puts nf_conntrack_max back to OLD_MAX if
# make_room raised it and it still holds what make_room set. A limit
# something else changed meanwhile (another run that raised it too) is left
# as it is, with a word: restoring a value read while another run had raised
# the limit would leave it raised for good.
restore_max() {
	local who=$1 maxfile=$2 old=$3
	[ -n "$RAISED_TO" ] || return 0
	if [ "$(cat "$maxfile")" = "$RAISED_TO" ]; then
		echo "$who: restoring nf_conntrack_max=$old" >&2
		echo "$old" >"$maxfile"
	else
		echo "$who: nf_conntrack_max is $(cat "$maxfile"), not the $RAISED_TO this run set: something else changed it; left as it is" >&2
	fi
}

# end_run WHO: what every script's exit does (trap 'end_run WHO' EXIT), on
# every exit path: stops the churn (CHURN_PID, when the script started
# one), the tmux server (TMUX_SOCK), deletes the namespace (NS), puts
# nf_conntrack_max back (restore_max) and removes the scratch folder (WORK).
end_run() {
	if [ -n "${CHURN_PID:-}" ]; then
		kill -TERM "$CHURN_PID" 2>/dev/null || true
		wait "$CHURN_PID" 2>/dev/null || true
	fi
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	restore_max "$1" "$MAXFILE" "$OLD_MAX"
	rm -rf "$WORK"
}
