#!/usr/bin/env bash
# tests/run_tests.sh BUILD_DIR — run every test of the project and summarise.
#
# Runs, in order:
#   1. every cmocka test binary BUILD_DIR/tests/test_*  (unit and integration);
#   2. every script tests/integration/test_*.sh         (exit 0 pass, 77 skip);
#   3. every fuzz target BUILD_DIR/fuzz/fuzz_* for a short run
#      (TCGL_FUZZ_QUICK_SECONDS, default 10) over its seed corpus.
# Each cmocka test case counts once; a script or a fuzz run counts once.  A
# binary that dies (signal, sanitizer report) counts as a failure even if the
# cases it printed had passed.  Logs go to BUILD_DIR/test-logs/.
#
# The last line is "N passed, N failed, N skipped"; the exit status is
# non-zero when anything failed or nothing ran.
#
# Environment given to the tests: TCGL_ROOT (repository root), TCGL_BUILD
# (the build directory, absolute).  TCGL_TEST_FILTER=REGEX runs only matching
# names; TCGL_TEST_TIMEOUT (seconds, default 900) bounds each binary.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build/test}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
export TCGL_ROOT="$root" TCGL_BUILD="$build"
logs="$build/test-logs"
mkdir -p "$logs"
timeout_s=${TCGL_TEST_TIMEOUT:-900}
filter=${TCGL_TEST_FILTER:-}
fuzz_s=${TCGL_FUZZ_QUICK_SECONDS:-10}
# ASan: leaks are reported (and fail) only where we own the memory; Z3 and
# libyaml keep global caches that LeakSanitizer would otherwise flag.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0 skipped=0
failed_names=()

is_tty=0; [ -t 1 ] && is_tty=1
note() { printf '%s\n' "$*"; }

# Count cmocka per-case lines in a log: prints "pass fail skip unfinished".
count_cmocka() {
    awk '
        /^\[==========\] .* test\(s\) run\./ { done=1 }
        done { next }
        /^\[ RUN      \] /  { running=1; next }
        /^\[       OK \] /  { p++; running=0; next }
        /^\[  FAILED  \] /  { f++; running=0; next }
        /^\[  SKIPPED \] /  { s++; running=0; next }
        END { printf "%d %d %d %d\n", p, f, s, running }
    ' "$1"
}

run_binary() {   # name, command...
    local name=$1; shift
    local log="$logs/$name.log" t0 t1 rc p f s u
    t0=$(date +%s.%N)
    # The outer braces swallow bash's own "Aborted"/"Segmentation fault" notice;
    # the crash itself is in the log and counted below.
    { (cd "$root" && exec timeout --kill-after=10 "$timeout_s" "$@") >"$log" 2>&1; } 2>/dev/null
    rc=$?
    t1=$(date +%s.%N)
    read -r p f s u < <(count_cmocka "$log")
    # A crash mid-case, a sanitizer abort or a non-zero exit with no failing
    # case printed is still a failure.
    if [ "$u" -gt 0 ] || { [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; }; then f=$((f + 1)); fi
    if [ "$rc" -eq 124 ]; then echo "[runner] $name: timed out after ${timeout_s}s" >>"$log"; fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    local secs; secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    if [ "$f" -gt 0 ]; then
        failed_names+=("$name")
        note "FAIL  $name  ($p passed, $f failed, $s skipped, ${secs}s, exit $rc) — log: $log"
        tail -n 25 "$log" | sed 's/^/      | /'
    else
        note "ok    $name  ($p passed, $s skipped, ${secs}s)"
        if [ "$s" -gt 0 ]; then grep -h '^\[  SKIPPED \]\|SKIP:' "$log" | sort -u | sed 's/^/      /' | head -n 10; fi
    fi
}

run_script() {   # name, script
    local name=$1 script=$2 log="$logs/$1.log" rc
    (cd "$root" && timeout --kill-after=10 "$timeout_s" bash "$script") >"$log" 2>&1
    rc=$?
    case $rc in
        0)  passed=$((passed + 1)); note "ok    $name" ;;
        77) skipped=$((skipped + 1)); note "skip  $name: $(grep -h 'SKIP:' "$log" | tail -n 1)" ;;
        *)  failed=$((failed + 1)); failed_names+=("$name")
            note "FAIL  $name (exit $rc) — log: $log"; tail -n 25 "$log" | sed 's/^/      | /' ;;
    esac
}

run_fuzz() {     # name, binary
    local name=$1 bin=$2 log="$logs/$1.log" corpus rc
    corpus=$(mktemp -d)
    if [ -d "$root/tests/fuzz/corpus/$name" ]; then cp -r "$root/tests/fuzz/corpus/$name/." "$corpus/"; fi
    (cd "$root" && timeout --kill-after=10 $((fuzz_s + 120)) "$bin" -max_total_time="$fuzz_s" \
        -print_final_stats=1 "$corpus") >"$log" 2>&1
    rc=$?
    rm -rf "$corpus"
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        note "ok    $name (fuzzed ${fuzz_s}s, $(grep -h 'stat::number_of_executed_units' "$log" | awk '{print $2}') runs)"
    else
        failed=$((failed + 1)); failed_names+=("$name")
        note "FAIL  $name (exit $rc) — log: $log"; tail -n 25 "$log" | sed 's/^/      | /'
    fi
}

selected() { [ -z "$filter" ] || [[ "$1" =~ $filter ]]; }

for bin in "$build"/tests/test_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin"); selected "$name" || continue
    run_binary "$name" "$bin"
done
for script in "$root"/tests/integration/test_*.sh; do
    [ -f "$script" ] || continue
    name=$(basename "$script" .sh); selected "$name" || continue
    run_script "$name" "$script"
done
for bin in "$build"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin"); selected "$name" || continue
    run_fuzz "$name" "$bin"
done

total=$((passed + failed + skipped))
if [ "${#failed_names[@]}" -gt 0 ]; then note "failed: ${failed_names[*]}"; fi
if [ "$total" -eq 0 ]; then note "no test ran (build dir: $build)"; fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$total" -gt 0 ]
