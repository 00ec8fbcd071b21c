#!/usr/bin/env bash
# kill -9 at moments spread over a whole sweep, then the same command again: does every trial finish with
# the numbers of an uninterrupted run, and no file more or less?
#
# A small sweep of SmolLM2-135M that passes through every stage (validating, task rows, hashing, importance
# matrix, base perplexity, bench, tasks, then per rung quantizing, perplexity + KLD, bench, tasks, and
# rendering) runs once uninterrupted for reference and to time it. Trial i then starts the same command
# in a fresh folder, kills it with SIGKILL at (i - 0.5)/N of the reference's wall time (so the trials
# spread over every stage), notes the stage it was in, runs the command again to the end, and compares:
# every measured number of the base and each rung (PPL ±, KLD statistics, task accuracy, size, bpw; not
# throughput, which is timed), and the folder's file names (no leftover temporary files).
# usage: scripts/fault-kill.sh [-n TRIALS]      (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
trials=20
while [ $# -gt 0 ]; do
  case $1 in
    -n) trials=$2; shift 2;;
    *) echo "unknown $1" >&2; exit 2;;
  esac
done
source scripts/mpt-binary.sh
q41=$(bash scripts/fetch-model.sh)
data=$(bash scripts/fetch-test-data.sh)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
kept=${MPT_FAULT_KEEP:-$HOME/.cache/mpt-gguf/fault-kill}   # failed trials are kept here
rm -rf "$kept"
"$mpt" quantize --allow-requantize "$q41" "$work/f16.gguf" F16 >/dev/null 2>&1
sweep() { # OUT  (exec: in the background, $! is mpt-gguf itself, which kill -9 must hit)
  exec "$mpt" sweep "$work/f16.gguf" -o "$1" -f "$data/eval.txt" --calib "$data/calibration.txt" \
    --types Q8_0,Q4_K_M,IQ2_XS --imatrix-chunks 2 -c 128 --chunks 4 -p 32 -n 8 -r 1 \
    --tasks "arc-easy=$data/tasks/arc_easy_validation.jsonl" --task-limit 8
}

start=$(date +%s.%N)
(sweep "$work/ref" >/dev/null 2>"$work/ref.log")
total=$(echo "$(date +%s.%N) - $start" | bc)
echo "reference sweep: ${total} s" >&2

numbers() { # FOLDER -> the measured numbers of results.json, one line per rung, timings left out
  python3 - "$1/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
keep = ("rung", "bpw", "size_bytes", "ppl", "ppl_err", "ln_ppl_ratio", "ln_ppl_ratio_err", "kld", "tasks", "error", "imatrix")
for rung in [r["base"]] + r["rungs"]:
    print(json.dumps({k: rung.get(k) for k in keep}, sort_keys=True))
PY
}
files() { (cd "$1" && find . -type f | sed 's/model-[^/]*\.gguf$/model.gguf/' | sort); }
numbers "$work/ref" > "$work/ref.numbers"
files "$work/ref" > "$work/ref.files"

echo "| trial | killed at (s) | stage | resumed | same numbers | same files |"
echo "|---:|---:|---|---|---|---|"
failed=0
for i in $(seq 1 "$trials"); do
  out=$work/t$i
  at=$(echo "scale=2; $total * ($i - 0.5) / $trials" | bc)
  (sweep "$out" >/dev/null 2>"$work/t$i.log") &
  pid=$!
  sleep "$at"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # The last stage the sweep announced (stderr is not a terminal: one "  stage" line each) and the rungs
  # it had finished.
  stage=$(grep -E '^  [a-z]' "$work/t$i.log" | tail -1 | sed 's/^ *//' || true)
  stage="${stage:-(before the first stage)}, $(grep -c ' bpw ' "$work/t$i.log" || true) rungs done"
  if (sweep "$out" >/dev/null 2>"$work/t$i.resume.log"); then resumed=yes; else resumed=no; fi
  same_numbers=no; same_files=no
  if [ -f "$out/results.json" ] && diff -q <(numbers "$out") "$work/ref.numbers" >/dev/null; then same_numbers=yes; fi
  if diff -q <(files "$out") "$work/ref.files" >/dev/null; then same_files=yes; fi
  if [ "$resumed$same_numbers$same_files" != yesyesyes ]; then
    failed=$((failed + 1))
    mkdir -p "$kept"; cp -r "$out" "$kept/t$i"; cp "$work/t$i.log" "$work/t$i.resume.log" "$kept/"
  fi
  echo "| $i | $at | $stage | $resumed | $same_numbers | $same_files |"
  rm -rf "$out"
done
echo
echo "$((trials - failed)) of $trials trials resumed to the reference's numbers and files"
[ "$failed" -eq 0 ]
