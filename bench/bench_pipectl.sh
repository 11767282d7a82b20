#!/usr/bin/env bash
# bench_pipectl.sh — records/s through pipectl-run pipelines (the stage
# runtime: least-loaded fan-out, fan-in, commit after emit, control-file
# checks) beside the raw shared-memory queue between two processes
# (tests/tools/shmq_peer), in the same run.  Never asserts; prints a table.
#
#   BUILD=build bash bench/bench_pipectl.sh        (N=2000000 records by default)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
n=${N:-2000000}
tmp=$(mktemp -d /tmp/tcgl-bench-pipectl-XXXXXX)
trap 'rm -rf "$tmp"; rm -f /dev/shm/tcgl-bench-pipectl-$$' EXIT
export TCGL_BUILD="$build"

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

# reference: one queue, one producer process, one consumer process, 16-byte payloads
q=/dev/shm/tcgl-bench-pipectl-$$
"$build/tests/tools/shmq_peer" create "$q" $((4 << 20))
t0=$(now)
"$build/tests/tools/shmq_peer" consume "$q" "$tmp/effects" &
cons=$!
"$build/tests/tools/shmq_peer" produce "$q" "$n" 16
wait "$cons"
t1=$(now)
raw=$(rate "$n" "$t0" "$t1")

run_pipeline() {   # name, stages+edges yaml
    cat > "$tmp/$1.yaml" <<YAML
pipeline: bench-$1
output: {dir: $tmp/$1}
defaults: {queue_size: 4M}
$2
YAML
    local a b
    a=$(now)
    "$build/bin/pipectl" start "$tmp/$1.yaml" --interval 3600 >/dev/null 2>&1
    b=$(now)
    grep -q "^missing 0" "$tmp/$1/report/seq_sink.0.txt" || { echo "bench_pipectl: $1: the sink did not see every record" >&2; exit 1; }
    rate "$n" "$a" "$b"
}

direct=$(run_pipeline direct "stages:
  - {name: source, executable: $build/tests/tools/seq_source, args: [--count, '$n', --payload, '16']}
  - {name: sink, executable: $build/tests/tools/seq_sink, args: [--expect, '$n']}
edges:
  - {from: source, to: sink}")
relay1=$(run_pipeline relay1 "stages:
  - {name: source, executable: $build/tests/tools/seq_source, args: [--count, '$n', --payload, '16']}
  - {name: relay, executable: $build/tests/tools/relay}
  - {name: sink, executable: $build/tests/tools/seq_sink, args: [--expect, '$n']}
edges:
  - {from: source, to: relay}
  - {from: relay, to: sink}")
relay2=$(run_pipeline relay2 "stages:
  - {name: source, executable: $build/tests/tools/seq_source, args: [--count, '$n', --payload, '16']}
  - {name: relay, executable: $build/tests/tools/relay, workers: 2}
  - {name: sink, executable: $build/tests/tools/seq_sink, args: [--expect, '$n']}
edges:
  - {from: source, to: relay}
  - {from: relay, to: sink}")

printf '%-52s %14s\n' "path ($n TEST_SEQ records, 16-byte payload)" "records/s"
printf '%-52s %14s\n' "reference: raw shmq, shmq_peer produce -> consume" "$raw"
printf '%-52s %14s\n' "pipectl: source -> sink (stage runtime, 1 hop)" "$direct"
printf '%-52s %14s\n' "pipectl: source -> relay -> sink (2 hops)" "$relay1"
printf '%-52s %14s\n' "pipectl: source -> relay x2 -> sink (fan-out/in)" "$relay2"
echo "(pipectl figures include starting and stopping the processes; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
