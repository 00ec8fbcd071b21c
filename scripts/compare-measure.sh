#!/usr/bin/env bash
# mpt-gguf's in-process perplexity and bench against llama.cpp's llama-perplexity and llama-bench: same models
# (the F16 SmolLM2 baseline and a Q4_K_M of it), same text, same settings, same machine, in one run.
# Prints PPL ± from each tool, the wall-time ratio mpt-gguf / llama.cpp (target <= 1.05, median of -r runs),
# and the bench ratio of pp/tg tokens/s mpt-gguf / llama.cpp (target within 5%: 0.95 .. 1.05).
# usage: scripts/compare-measure.sh [-t THREADS] [--chunks N] [-r RUNS] [--bench-reps N]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc); chunks=20; runs=1; bench_reps=5
while [ $# -gt 0 ]; do
  case $1 in
    -t) threads=$2; shift 2;;
    --chunks) chunks=$2; shift 2;;
    -r) runs=$2; shift 2;;
    --bench-reps) bench_reps=$2; shift 2;;
    *) echo "unknown $1" >&2; exit 2;;
  esac
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/mpt-gguf/target}
cargo build --release -q
mpt=$CARGO_TARGET_DIR/release/mpt-gguf
ref=$(bash ../shared/tools/build-reference.sh)
q41=$(bash scripts/fetch-model.sh)
text=../shared/data/wikitext-2/wiki.test.raw
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$mpt" quantize --allow-requantize "$q41" "$work/f16.gguf" F16 >/dev/null
"$mpt" quantize "$work/f16.gguf" "$work/q4_k_m.gguf" Q4_K_M >/dev/null

# Runs "$@" $runs times; prints "MEDIAN_SECONDS" and leaves the last run's output in $work/out.
timed() {
  local times=()
  for _ in $(seq "$runs"); do
    local s e; s=$(date +%s.%N); "$@" >"$work/out" 2>&1; e=$(date +%s.%N)
    times+=("$(awk -v a="$s" -v b="$e" 'BEGIN{print b-a}')")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b/a}'; }

echo "perplexity: -c 512 --chunks $chunks -t $threads, $(basename "$text") (wall seconds, median of $runs)"
printf '%-8s %-24s %-24s %9s %9s %7s\n' model "llama-perplexity" "mpt-gguf" "llama.cpp" "mpt-gguf" ratio
for m in f16 q4_k_m; do
  args=(-m "$work/$m.gguf" -f "$text" -c 512 --chunks "$chunks" -t "$threads")
  t_ref=$(timed "$ref/llama-perplexity" "${args[@]}")
  p_ref=$(grep -o 'Final estimate: PPL = [0-9.]* +/- [0-9.]*' "$work/out" | sed 's/Final estimate: PPL = //; s| +/- | ± |')
  t_mpt=$(timed "$mpt" perplexity "${args[@]}")
  p_mpt=$(grep -o 'PPL = [0-9.]* ± [0-9.]*' "$work/out" | sed 's/PPL = //')
  printf '%-8s %-24s %-24s %9.2f %9.2f %7s\n' "$m" "$p_ref" "$p_mpt" "$t_ref" "$t_mpt" "$(ratio "$t_ref" "$t_mpt")"
done

echo
echo "bench: q4_k_m, -p 512 -n 128 -r $bench_reps -t $threads (tokens/s, mean ± sample stddev)"
bench_args=(-m "$work/q4_k_m.gguf" -p 512 -n 128 -r "$bench_reps" -t "$threads" -o json)
"$ref/llama-bench" "${bench_args[@]}" >"$work/ref.json" 2>/dev/null
"$mpt" bench "${bench_args[@]}" >"$work/mpt.json" 2>/dev/null
python3 - "$work/ref.json" "$work/mpt.json" <<'PY'
import json, sys
ref, mpt = (json.load(open(p)) for p in sys.argv[1:])
name = lambda r: f"pp{r['n_prompt']}" if r["n_gen"] == 0 else f"tg{r['n_gen']}"
print(f"{'test':8} {'llama-bench':>20} {'mpt-gguf':>20} {'ratio':>7}")
for a, b in zip(ref, mpt):
    print(f"{name(a):8} {a['avg_ts']:>11.2f} ± {a['stddev_ts']:6.2f} {b['avg_ts']:>11.2f} ± {b['stddev_ts']:6.2f} {b['avg_ts'] / a['avg_ts']:7.3f}")
PY
