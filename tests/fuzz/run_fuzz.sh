#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh BUILD SECONDS — run every fuzz target BUILD/fuzz/fuzz_*
# for SECONDS each (libFuzzer -max_total_time), starting from a copy of its seed
# corpus tests/fuzz/corpus/<target>/ in a temporary directory (the committed
# corpus is never modified).  Crash inputs are kept in BUILD/fuzz-artifacts/.
# Exit status: non-zero when any target crashed or could not run.  Used by
# `make fuzz` (FUZZ_SECONDS, default 300).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: run_fuzz.sh BUILD SECONDS}
secs=${2:?usage: run_fuzz.sh BUILD SECONDS}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
art="$build/fuzz-artifacts"
mkdir -p "$art"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0 ran=0
for bin in "$build"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    corpus=$(mktemp -d)
    if [ -d "$root/tests/fuzz/corpus/$name" ]; then cp -r "$root/tests/fuzz/corpus/$name/." "$corpus/"; fi
    echo "fuzz: $name for ${secs}s (seeds: $(ls "$corpus" | wc -l))"
    "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$art/$name-" "$corpus" >"$art/$name.log" 2>&1
    rc=$?
    ran=$((ran + 1))
    if [ "$rc" -ne 0 ]; then
        status=1
        echo "fuzz: $name FAILED (exit $rc); log $art/$name.log, crash inputs $art/$name-*"
        tail -n 30 "$art/$name.log"
    else
        echo "fuzz: $name ok ($(grep -h 'stat::number_of_executed_units' "$art/$name.log" | awk '{print $2}') runs)"
    fi
    rm -rf "$corpus"
done
if [ "$ran" -eq 0 ]; then echo "fuzz: no fuzz target in $build/fuzz (build them with make BUILD=$build SAN=1 test-build)"; exit 1; fi
exit $status
