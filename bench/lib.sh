# shellcheck shell=bash disable=SC2034
# Shared helpers for the benchmarks in bench/ (source this file).
#
#   bench_init NAME "$@"   parses [--quick] HOIST, makes the work dir $W,
#                          installs the cleanup trap, prints the machine
#                          and the load average
#   timed NAME CMD...      runs CMD once, appends its wall time (s) and peak
#                          RSS (KiB) to the series NAME
#   median NAME / ...      statistics of a series
#   start_registry NAME    a private docker-registry on 127.0.0.1
#   private CMD...         CMD with a private containers blob-info cache
#
# Everything lives in $W, which the EXIT trap deletes after stopping the
# servers the script started.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUNS=${BENCH_RUNS:-5}
QUICK=0
_PIDS=()
W=

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
say() { printf '== %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

bench_cleanup() {
	local rc=$? p
	set +e
	for p in "${_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	for p in "${_PIDS[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null
	done
	if [ -n "$W" ] && [ -d "$W" ]; then
		if [ $rc -ne 0 ] && [ -f "$W/cmd.log" ]; then
			echo "--- last lines of the command log:" >&2
			tail -20 "$W/cmd.log" >&2
		fi
		rm -rf "$W"
	fi
	exit $rc
}

# bench_init NAME ARGS...: ARGS are [--quick] HOIST in any order.
bench_init() {
	local name=$1 a
	shift
	HOIST=
	for a in "$@"; do
		case $a in
		--quick) QUICK=1 ;;
		-*) die "unknown option '$a' (usage: $0 [--quick] HOIST)" ;;
		*) [ -z "$HOIST" ] || die "usage: $0 [--quick] HOIST"; HOIST=$a ;;
		esac
	done
	[ -n "$HOIST" ] || die "usage: $0 [--quick] HOIST"
	[ -x "$HOIST" ] || die "'$HOIST' is not an executable (run 'make build')"
	HOIST=$(cd "$(dirname "$HOIST")" && pwd)/$(basename "$HOIST")
	[ -x /usr/bin/time ] && /usr/bin/time -f '%M' true >/dev/null 2>&1 ||
		die "GNU time is needed for peak memory: apt-get install time"
	[ "$RUNS" -ge 1 ] 2>/dev/null || die "BENCH_RUNS must be a positive number"
	W=$(mktemp -d "${TMPDIR:-/tmp}/hoist-bench-$name.XXXXXX")
	chmod 0755 "$W"
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkdir -p "$W/series" "$W/home"
	export HOIST_HOME="$W/home"
	unset REGISTRY_AUTH_FILE
	# never let a proxy setting route the loopback traffic
	export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
	export NO_PROXY="$no_proxy"
	say "$name benchmark$([ $QUICK = 1 ] && echo ' (--quick)'), $RUNS runs per tool, alternating"
	say "hoist:   $HOIST ($("$HOIST" --version 2>/dev/null | head -1 || true)," \
		"sha256 $(sha256sum "$HOIST" | cut -c1-12), built $(date -u -r "$HOIST" '+%Y-%m-%d %H:%M UTC'))"
	# a private copy: a rebuild of the tree during the run cannot change
	# the binary under test
	mkdir -p "$W/bin"
	cp "$HOIST" "$W/bin/hoist"
	HOIST="$W/bin/hoist"
	say "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM," \
		"$(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r)"
	say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# ---------------------------------------------------------------- timing

# timed NAME CMD...: runs CMD (output to $W/cmd.log) and appends to the
# series NAME its wall seconds, to NAME.rss its peak RSS in KiB, to
# NAME.cpu its CPU seconds (user + system, children included) and, when
# CPU_PIDS lists server processes, to NAME.pcpu the CPU seconds those used
# meanwhile.  A shell function has no RSS or CPU of its own: it records 0,
# or what the file $RSS_FROM holds when that is set (the function had
# /usr/bin/time -f "$TIME_FMT" -o "$RSS_FROM" write it).
TIME_FMT='%M %U %S'
_time_file() { # FILE: sets _rss (KiB) and _cpu (s) from a TIME_FMT line
	local l
	l=$(tail -1 "$1" 2>/dev/null || true)
	_rss=$(echo "$l" | awk '{ print ($1 ~ /^[0-9]+$/) ? $1 : 0 }')
	_cpu=$(echo "$l" | awk '{ printf "%.2f", $2 + $3 }')
}
# pids_cpu PID...: CPU seconds the processes used so far
pids_cpu() {
	local p t=0 tck
	tck=$(getconf CLK_TCK)
	for p in "$@"; do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	awk -v t="$t" -v k="$tck" 'BEGIN { printf "%.2f", t / k }'
}
timed() {
	local name=$1 t0 t1 rc=0 p0=0 p1=0
	shift
	_rss=0 _cpu=0
	[ -z "${CPU_PIDS:-}" ] || p0=$(pids_cpu $CPU_PIDS)
	t0=$(date +%s%N)
	if [ "$(type -t "$1")" = function ]; then
		[ -z "${RSS_FROM:-}" ] || rm -f "$RSS_FROM"
		"$@" >>"$W/cmd.log" 2>&1 || rc=$?
		[ -z "${RSS_FROM:-}" ] || _time_file "$RSS_FROM"
	else
		/usr/bin/time -o "$W/.time" -f "$TIME_FMT" "$@" >>"$W/cmd.log" 2>&1 || rc=$?
		_time_file "$W/.time"
	fi
	t1=$(date +%s%N)
	[ -z "${CPU_PIDS:-}" ] || p1=$(pids_cpu $CPU_PIDS)
	if [ $rc -ne 0 ]; then
		printf 'bench: command failed (exit %s): %s\n' "$rc" "$*" >&2
		tail -15 "$W/cmd.log" >&2
		return 1
	fi
	LAST_SEC=$(secs "$t0" "$t1")
	LAST_RSS=$_rss LAST_CPU=$_cpu
	record "$name" "$LAST_SEC" "$_rss" "$_cpu"
	[ -z "${CPU_PIDS:-}" ] || calc "$p1 - $p0" >>"$W/series/$name.pcpu"
}
# record NAME SECONDS [RSS_KIB [CPU_S]]: adds one measurement to a series
record() {
	echo "$2" >>"$W/series/$1"
	echo "${3:-0}" >>"$W/series/$1.rss"
	echo "${4:-0}" >>"$W/series/$1.cpu"
}

_series() { [ -s "$W/series/$1" ] || die "no measurements for '$1'"; sort -g "$W/series/$1"; }
median() {
	_series "$1" | awk '{ v[NR] = $1 } END {
		if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2];
		else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
smin() { _series "$1" | head -1; }
smax() { _series "$1" | tail -1; }
count() { _series "$1" | wc -l; }
# median_of NAME.EXT: the median of a side series (cpu, pcpu), or -
median_of() {
	if [ -s "$W/series/$1" ] && sort -g "$W/series/$1" | tail -1 | awk '{ exit !($1 > 0) }'; then
		median "$1"
	else
		echo -
	fi
}
# max_rss_mib NAME: the largest peak RSS of series NAME, in MiB
max_rss_mib() { sort -g "$W/series/$1.rss" | tail -1 | awk '{ printf "%.1f", $1 / 1024 }'; }
has_series() { [ -s "$W/series/$1" ]; }

# secs NS0 NS1: seconds between two `date +%s%N` stamps
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'; }
# calc EXPR: floating-point arithmetic with awk
calc() { awk "BEGIN { printf \"%.2f\\n\", $* }"; }
# ge A B: A >= B (floats)
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
met() { if ge "$1" "$2"; then echo met; else echo "NOT MET"; fi; }

# row LABEL SERIES BYTES: one line of a results table.  CPU s: user +
# system seconds of the command (median); server CPU s: those of the
# servers in CPU_PIDS during the command (median).
row_header() {
	printf '%-34s %9s %8s %8s %8s %8s %8s %8s %4s\n' "$1" "median s" "min s" "max s" "MB/s" \
		"RSS MiB" "CPU s" "srv CPU" runs
}
row() {
	local label=$1 s=$2 bytes=${3:-0} med rss
	med=$(median "$s")
	rss=$(max_rss_mib "$s")
	[ "$rss" = 0.0 ] && rss=-
	printf '%-34s %9s %8s %8s %8s %8s %8s %8s %4s\n' "$label" "$med" "$(smin "$s")" "$(smax "$s")" \
		"$(awk -v b="$bytes" -v t="$med" 'BEGIN { if (b > 0 && t > 0) printf "%.1f", b / t / 1e6; else print "-" }')" \
		"$rss" "$(median_of "$s.cpu")" "$(median_of "$s.pcpu")" "$(count "$s")"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ------------------------------------------------------------ registries

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_registry NAME: Debian's docker-registry on a free 127.0.0.1 port;
# sets REG_NAME (host:port), REG_NAME_LOG (its log, with one access-log
# line per request) and REG_NAME_PID.  Call it directly, not in $(...).
start_registry() {
	local name=$1 port dir i
	have docker-registry || die "docker-registry is not installed"
	port=$(free_port)
	dir="$W/registry-$name"
	mkdir -p "$dir/data"
	cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
YML
	# docker-registry reads REGISTRY_* variables as configuration
	env -u REGISTRY_AUTH_FILE docker-registry serve "$dir/config.yml" </dev/null >"$dir/log" 2>&1 &
	local pid=$!
	_PIDS+=("$pid")
	for i in $(seq 1 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then
			eval "REG_${name}=127.0.0.1:$port REG_${name}_LOG=$dir/log REG_${name}_PID=$pid"
			return 0
		fi
		sleep 0.1
	done
	cat "$dir/log" >&2
	die "registry $name did not start"
}

# requests LOG: the number of requests in a registry log so far
requests() { grep -cE '^[0-9.:]+ - .*"[A-Z]+ /v2/' "$1" || true; }
# requests_by_method LOG SKIP: "GET 3 HEAD 7 ..." for the lines after SKIP
requests_by_method() {
	grep -E '^[0-9.:]+ - .*"[A-Z]+ /v2/' "$1" | tail -n +"$(($2 + 1))" |
		sed -E 's/.*"([A-Z]+) .*/\1/' | sort | uniq -c | awk '{ s = s (NR > 1 ? ", " : "") $2 " " $1 } END { print s }'
}

# -------------------------------------------- skopeo / buildah isolation

# private CMD...: runs CMD (skopeo, buildah) with a fresh, private
# containers blob-info cache, so that one run cannot reuse or mount blobs
# a previous run saw.  Rootless, the cache is under XDG_DATA_HOME; as root
# it is /var/lib/containers/cache whatever the environment says, so the
# command runs in a private mount namespace with a tmpfs over that
# directory (the system's cache is not touched).  The directories are
# deleted afterwards.
private() {
	local p="$W/private.$RANDOM$RANDOM" rc=0
	mkdir -p "$p/run" "$p/data" "$p/cache"
	chmod 700 "$p/run"
	if [ "$(id -u)" = 0 ]; then
		[ -d /var/lib/containers/cache ] || mkdir -p /var/lib/containers/cache
		XDG_RUNTIME_DIR="$p/run" XDG_DATA_HOME="$p/data" \
			unshare -m sh -c 'mount -t tmpfs -o mode=0700 hoistbench /var/lib/containers/cache && exec "$@"' sh "$@" || rc=$?
	else
		XDG_RUNTIME_DIR="$p/run" XDG_DATA_HOME="$p/data" "$@" || rc=$?
	fi
	rm -rf "$p"
	return $rc
}

# text_file BYTES OUT: BYTES of real text (C headers, Perl, Python
# sources of this machine), in a fixed order
text_file() {
	local want=$1 out=$2
	find /usr/include /usr/share/perl* /usr/lib/python3* -type f \
		\( -name '*.h' -o -name '*.pm' -o -name '*.py' -o -name '*.pod' \) 2>/dev/null |
		LC_ALL=C sort | xargs -r cat 2>/dev/null | head -c "$want" >"$out" || true
	local got
	got=$(stat -c %s "$out")
	# not enough text on this machine: repeat what there is
	while [ "$got" -lt "$want" ] && [ "$got" -gt 0 ]; do
		head -c $((want - got)) "$out" >>"$out.more"
		cat "$out.more" >>"$out"
		rm -f "$out.more"
		got=$(stat -c %s "$out")
	done
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
