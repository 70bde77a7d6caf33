#!/usr/bin/env bash
# Runs every test (unit, fuzz corpora, end-to-end) of a meson build dir and
# ends with "N passed, N failed, N skipped".  Exit status 1 if any failed.
set -u
builddir=${1:-build-asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
meson test -C "$builddir" --print-errorlogs --num-processes 2 "${@:2}" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# one line per test: " 12/36 hoist:unit / layout   OK   3.03s"
python3 - "$out" "$rc" <<'PY'
import re, sys
passed = failed = skipped = 0
results = {}  # meson repeats failures in its summary: one result per test
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"\s*\d+/\d+\s+(\S+\s+/\s+\S+)\s+(OK|EXPECTEDFAIL|SKIP|FAIL|TIMEOUT|UNEXPECTEDPASS|ERROR)\b", line)
    if m:
        results[m.group(1)] = m.group(2)
for r in results.values():
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
if sys.argv[2] != "0" and failed == 0:
    failed = 1  # meson failed without a test line saying so (build error)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit "$rc"
