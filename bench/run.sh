#!/usr/bin/env bash
# bench/run.sh [--quick] HOIST: runs every benchmark (used by `make bench`):
# copy.sh, layer.sh, build.sh and cache.sh; prints all their summary
# lines at the end.  build.sh and cache.sh create many files: on an ext4
# without a journal run them with TMPDIR on another file system (see
# README.md).
#   --quick        small sizes (~50 MB, 10k files), for a smoke run
#   BENCH_RUNS=N   runs per tool (default 5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
args=()
hoist=
for a in "$@"; do
	case $a in
	--quick) args+=(--quick) ;;
	-h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "usage: $0 [--quick] HOIST" >&2; exit 2 ;;
	*) hoist=$a ;;
	esac
done
[ -n "$hoist" ] || { echo "usage: $0 [--quick] HOIST" >&2; exit 2; }

log=$(mktemp "${TMPDIR:-/tmp}/hoist-bench-run.XXXXXX")
trap 'rm -f "$log"' EXIT
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
failed=()
benches=(copy layer build cache)
for b in "${benches[@]}"; do
	echo
	echo "################ $b"
	# the pipeline's status is that of the benchmark (pipefail)
	if ! "$here/$b.sh" "${args[@]}" "$hoist" 2>&1 | tee -a "$log"; then
		failed+=("$b")
		echo "SUMMARY $b: FAILED (see its output above)" >>"$log"
	fi
done
echo
echo "################ summaries"
grep '^SUMMARY ' "$log" || true
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]}"
	exit 1
fi
