#!/usr/bin/env bash
# mpt-gguf's in-process perplexity and bench against llama.cpp's llama-perplexity and llama-bench: same models
# (the F16 SmolLM2 baseline and a Q4_K_M of it), same text, same settings, same machine, in one run.
# Prints PPL ± from each tool, wall times and the ratio mpt-gguf / llama.cpp (target <= 1.05), and pp512/tg128
# tokens/s with the ratio mpt-gguf / llama-bench (target within 5%).
#
# The reference tools come from the llama-cpp-python 0.3.36 sdist, a slightly different llama.cpp than the one
# mpt-gguf links (llama-cpp-sys-2 0.1.160). To tell a difference of method from one of library version, the
# script also compiles the same two tool sources against mpt-gguf's own llama.cpp build ("same-lib" column;
# skipped when that fails). Runs are interleaved; each time is the median of -r runs (min in brackets): on a
# busy machine the minimum is the steadier estimate. With GNU time installed the CPU seconds (user + sys) are
# printed too: run with OMP_WAIT_POLICY=passive on a busy machine and they measure the work done, free of the
# time threads spend spinning at barriers while other processes hold the cores.
# usage: scripts/compare-measure.sh [-t THREADS] [--chunks N] [-r RUNS] [--bench-reps N]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc); chunks=20; runs=3; bench_reps=5
while [ $# -gt 0 ]; do
  case $1 in
    -t) threads=$2; shift 2;;
    --chunks) chunks=$2; shift 2;;
    -r) runs=$2; shift 2;;
    --bench-reps) bench_reps=$2; shift 2;;
    *) echo "unknown $1" >&2; exit 2;;
  esac
done
source scripts/mpt-binary.sh
ref=$(bash scripts/build-reference.sh)
refsrc=$(dirname "$(dirname "$ref")")/src
q41=$(bash scripts/fetch-model.sh)
source scripts/texts.sh
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$mpt" quantize --allow-requantize "$q41" "$work/f16.gguf" F16 >/dev/null
"$mpt" quantize "$work/f16.gguf" "$work/q4_k_m.gguf" Q4_K_M >/dev/null

# The reference tool sources linked against mpt-gguf's llama.cpp (static libraries of its build).
same=""
out=$(ls -td "$CARGO_TARGET_DIR"/release/build/llama-cpp-sys-2-*/out 2>/dev/null | head -n1 || true)
sys=$(ls -d "$HOME"/.cargo/registry/src/*/llama-cpp-sys-2-0.1.160/llama.cpp 2>/dev/null | head -n1 || true)
if [ -n "$out" ] && [ -n "$sys" ] && [ -f "$out/build/common/libllama-common.a" ]; then
  libs=(-L"$out/build/common" -L"$out/build/src" -L"$out/build/ggml/src" -L"$out/build/vendor/hash"
        -L"$out/build/vendor/cpp-httplib" -lllama-common -lllama-common-base -lllama -lggml -lggml-cpu
        -lggml-base -lvendor-hash -lcpp-httplib -lssl -lcrypto -lpthread -ldl)
  inc=(-I"$sys/include" -I"$sys/common" -I"$sys/ggml/include" -I"$sys/vendor")
  echo 'int llama_bench(int, char **); int main(int c, char ** v) { return llama_bench(c, v); }' >"$work/mb.cpp"
  echo 'int llama_perplexity(int, char **); int main(int c, char ** v) { return llama_perplexity(c, v); }' >"$work/mp.cpp"
  if g++ -O3 -march=native -std=c++17 -fopenmp "${inc[@]}" "$refsrc/tools/llama-bench/llama-bench.cpp" "$work/mb.cpp" \
       -o "$work/same-llama-bench" "${libs[@]}" >/dev/null 2>&1 &&
     g++ -O3 -march=native -std=c++17 -fopenmp "${inc[@]}" "$refsrc/tools/perplexity/perplexity.cpp" "$work/mp.cpp" \
       -o "$work/same-llama-perplexity" "${libs[@]}" >/dev/null 2>&1; then
    same=$work/same-
  fi
fi
[ -n "$same" ] || echo "(could not build the same-library reference tools; that column is left out)"

# Runs "$@" with its output in $work/last; prints its wall seconds and appends its CPU seconds to $work/cpu.
secs() {
  local s e; s=$(date +%s.%N)
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%U %S" -o "$work/rusage" "$@" >"$work/last" 2>&1
    awk '{print $1 + $2}' "$work/rusage" >>"$work/cpu"
  else
    "$@" >"$work/last" 2>&1
  fi
  e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN{print b-a}'
}
stats() { sort -g | awk '{a[NR]=$1} END {printf "%.2f [%.2f]", a[int((NR+1)/2)], a[1]}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b/a}'; }
ref_ppl() { grep -o 'Final estimate: PPL = [0-9.]* +/- [0-9.]*' "$work/last" | sed 's/Final estimate: PPL = //; s| +/- | ± |'; }

echo "perplexity: -c 512 --chunks $chunks -t $threads, $(basename "$text"); wall seconds, median [min] of $runs interleaved runs"
for m in f16 q4_k_m; do
  args=(-m "$work/$m.gguf" -f "$text" -c 512 --chunks "$chunks" -t "$threads")
  for f in t.ref t.same t.mpt c.ref c.same c.mpt; do : >"$work/$f"; done
  for _ in $(seq "$runs"); do
    : >"$work/cpu"; secs "$ref/llama-perplexity" "${args[@]}" >>"$work/t.ref"; p_ref=$(ref_ppl)
    cat "$work/cpu" >>"$work/c.ref"
    if [ -n "$same" ]; then
      : >"$work/cpu"; secs "${same}llama-perplexity" "${args[@]}" >>"$work/t.same"; p_same=$(ref_ppl)
      cat "$work/cpu" >>"$work/c.same"
    fi
    : >"$work/cpu"; secs "$mpt" perplexity "${args[@]}" >>"$work/t.mpt"
    cat "$work/cpu" >>"$work/c.mpt"
    p_mpt=$(grep -o 'PPL = [0-9.]* ± [0-9.]*' "$work/last" | sed 's/PPL = //')
  done
  echo "  $m: PPL llama-perplexity $p_ref | mpt-gguf $p_mpt${same:+ | same-lib $p_same}"
  printf '    time  llama-perplexity %s  mpt-gguf %s' "$(stats <"$work/t.ref")" "$(stats <"$work/t.mpt")"
  [ -n "$same" ] && printf '  same-lib %s' "$(stats <"$work/t.same")"
  printf '\n    ratio mpt-gguf / llama-perplexity %s (min %s)' \
    "$(ratio "$(median <"$work/t.ref")" "$(median <"$work/t.mpt")")" \
    "$(ratio "$(sort -g "$work/t.ref" | head -n1)" "$(sort -g "$work/t.mpt" | head -n1)")"
  [ -n "$same" ] && printf ', mpt-gguf / same-lib %s (min %s)' \
    "$(ratio "$(median <"$work/t.same")" "$(median <"$work/t.mpt")")" \
    "$(ratio "$(sort -g "$work/t.same" | head -n1)" "$(sort -g "$work/t.mpt" | head -n1)")"
  echo
  if [ -s "$work/c.mpt" ]; then
    printf '    cpu   llama-perplexity %s  mpt-gguf %s' "$(stats <"$work/c.ref")" "$(stats <"$work/c.mpt")"
    [ -n "$same" ] && printf '  same-lib %s' "$(stats <"$work/c.same")"
    printf '  (cpu ratio mpt-gguf / llama-perplexity %s)\n' "$(ratio "$(median <"$work/c.ref")" "$(median <"$work/c.mpt")")"
  fi
done

echo
echo "bench: q4_k_m, -p 512 -n 128 -r $bench_reps -t $threads; tokens/s mean ± sample stddev, best of $runs interleaved runs"
bench_args=(-m "$work/q4_k_m.gguf" -p 512 -n 128 -r "$bench_reps" -t "$threads" -o jsonl)
for i in $(seq "$runs"); do
  "$ref/llama-bench" "${bench_args[@]}" 2>/dev/null >>"$work/b.ref"
  [ -n "$same" ] && "${same}llama-bench" "${bench_args[@]}" 2>/dev/null >>"$work/b.same"
  "$mpt" bench "${bench_args[@]}" 2>/dev/null >>"$work/b.mpt"
done
python3 - "$work/b.ref" "$work/b.mpt" "$work/b.same" <<'PY'
import json, os, sys
def best(path):
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    out = {}
    for line in open(path):
        r = json.loads(line)
        name = f"pp{r['n_prompt']}" if r["n_gen"] == 0 else f"tg{r['n_gen']}"
        if name not in out or r["avg_ts"] > out[name]["avg_ts"]:
            out[name] = r
    return out
ref, mpt, same = (best(p) for p in sys.argv[1:])
cols = [("llama-bench", ref), ("mpt-gguf", mpt)] + ([("same-lib", same)] if same else [])
print(f"  {'test':7}" + "".join(f"{n:>22}" for n, _ in cols) + "   mpt/llama-bench" + ("   mpt/same-lib" if same else ""))
for name in ref:
    cells = "".join(f"{c[name]['avg_ts']:>13.2f} ± {c[name]['stddev_ts']:6.2f}" for _, c in cols)
    line = f"  {name:7}{cells}   {mpt[name]['avg_ts'] / ref[name]['avg_ts']:15.3f}"
    if same:
        line += f"   {mpt[name]['avg_ts'] / same[name]['avg_ts']:12.3f}"
    print(line)
PY
