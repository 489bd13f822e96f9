#!/usr/bin/env bash
# Runs one libFuzzer target for a while against a scratch copy of its corpus,
# so fuzzing never dirties the checked-in fuzz/corpus/fuzz_TARGET.
#
# Usage: fuzz/run.sh TARGET SECONDS [--merge]
#   TARGET   packet, props, topic, ... (with or without the "fuzz_" prefix)
#   SECONDS  how long to fuzz
#   --merge  afterwards, add to fuzz/corpus/fuzz_TARGET only the inputs that bring
#            new coverage (libFuzzer -merge=1); review and commit them
#
# Needs the fuzz preset: cmake --preset fuzz && cmake --build build/fuzz
# Environment: FMQ_FUZZ_BUILD   build directory (default build/fuzz)
#              FMQ_FUZZ_FLAGS   extra libFuzzer flags, e.g. "-seed=1 -use_value_profile=1"
# Crash reproducers go to fuzz/crashes/ (ignored by git).
set -euo pipefail

usage() {
    sed -n '5,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
target=${1#fuzz_}
seconds=$2
merge=0
case "${3:-}" in
--merge) merge=1 ;;
"") ;;
*) usage ;;
esac
case "$seconds" in
'' | *[!0-9]*) echo "run.sh: SECONDS must be a whole number" >&2 && exit 2 ;;
esac
corpus=$here/corpus/fuzz_$target
if [ ! -d "$corpus" ]; then
    echo "run.sh: no corpus $corpus for target '$target'" >&2
    exit 2
fi
build=${FMQ_FUZZ_BUILD:-$root/build/fuzz}
bin=$build/fuzz/fuzz_$target
if [ ! -x "$bin" ]; then
    echo "run.sh: $bin is missing: cmake --preset fuzz && cmake --build build/fuzz" >&2
    exit 2
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/fmq-fuzz-$target.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/corpus"
cp "$corpus"/* "$scratch/corpus/"
mkdir -p "$here/crashes"
log=$scratch/fuzz.log

set +e
# shellcheck disable=SC2086 # FMQ_FUZZ_FLAGS is a list of flags
"$bin" -max_len=4096 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$here/crashes/$target-" ${FMQ_FUZZ_FLAGS:-} \
    "$scratch/corpus" >"$log" 2>&1
rc=$?
set -e

if [ $rc -ne 0 ]; then
    echo "run.sh: fuzz_$target stopped with status $rc; the end of its log:" >&2
    tail -n 60 "$log" >&2
    grep -h "Test unit written to" "$log" >&2 || true
    exit $rc
fi

# The last status line, e.g. "#123456 DONE cov: 812 ft: 2901 corp: 410/18Kb ...".
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
echo "$last"
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
eps=$(sed -n 's/.* exec\/s: \([0-9]*\).*/\1/p' <<<"$last")
echo "fuzz_$target seconds=$seconds execs=${execs:-?} exec/s=${eps:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?}"

if [ $merge -eq 1 ]; then
    before=$(find "$corpus" -type f | wc -l)
    "$bin" -merge=1 -max_len=4096 "$corpus" "$scratch/corpus" >"$scratch/merge.log" 2>&1 || {
        tail -n 20 "$scratch/merge.log" >&2
        exit 1
    }
    after=$(find "$corpus" -type f | wc -l)
    echo "merged $((after - before)) input(s) with new coverage into fuzz/corpus/fuzz_$target ($after files)"
    if [ "$after" -gt 150 ]; then
        echo "run.sh: $after files: keep each corpus small (a -merge=1 into an empty directory minimises it)" >&2
    fi
fi
