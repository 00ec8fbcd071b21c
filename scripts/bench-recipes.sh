#!/usr/bin/env bash
# Recipes against the stock types at equal size, measured on text the recipes never saw.
#   1. The test model in F16; an importance matrix from the calibration text (groups_merged.txt where
#      MPT_DATA_DIR has it); `mpt-gguf sensitivity` on the same calibration text, timed.
#   2. For each stock type: the stock file (llama.cpp's mix, with the importance matrix) and the recipe
#      `recipe --like TYPE` (no larger), quantized with the same importance matrix.
#   3. Both measured on the evaluation text (WikiText-2 where MPT_DATA_DIR has it) against the F16 model's
#      compact KL-divergence base: file size, bits per weight, mean KLD, PPL ±, same-top %; and the
#      recipe's predicted KLD (on the calibration text) beside its measured one.
# usage: scripts/bench-recipes.sh [--types Q3_K_M,Q4_K_M,Q5_K_M] [--sens-types LIST] [--chunks N] [-t THREADS]
#                                 [--keep DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
types=Q3_K_M,Q4_K_M,Q5_K_M; chunks=40; threads=$(nproc); keep=; sens_types=()
while [ $# -gt 0 ]; do
  case $1 in
    --types) types=$2; shift 2;;
    --sens-types) sens_types=(--types "$2"); shift 2;;
    --chunks) chunks=$2; shift 2;;
    -t) threads=$2; shift 2;;
    --keep) keep=$2; shift 2;;
    *) echo "unknown $1" >&2; exit 2;;
  esac
done
source scripts/mpt-binary.sh
q41=$(bash scripts/fetch-model.sh)
source scripts/texts.sh
if [ -n "$keep" ]; then work=$keep; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
f16=$work/f16.gguf
[ -s "$f16" ] || "$mpt" quantize --allow-requantize "$q41" "$f16" F16 >/dev/null
[ -s "$work/imatrix.gguf" ] || "$mpt" imatrix "$f16" -f "$cal" -o "$work/imatrix.gguf" -t "$threads" --no-ppl >/dev/null 2>&1
# With --keep, a folder that already holds the analysis keeps it (and its time).
if [ ! -s "$work/sens.json" ] || [ ! -s "$work/analysis-seconds" ]; then
  s=$(date +%s.%N)
  "$mpt" sensitivity "$f16" --calib "$cal" --imatrix "$work/imatrix.gguf" -t "$threads" "${sens_types[@]}" \
    -o "$work/sens.json" 2>/dev/null
  e=$(date +%s.%N)
  awk -v a="$s" -v b="$e" 'BEGIN{printf "%.0f", b-a}' > "$work/analysis-seconds"
fi
analysis=$(cat "$work/analysis-seconds")
[ -s "$work/base.kld" ] || "$mpt" perplexity -m "$f16" -f "$text" --chunks "$chunks" -t "$threads" \
  --save-kld-base "$work/base.kld" >/dev/null 2>&1

measure() {  # model file → JSON of its perplexity run against the base
  "$mpt" perplexity -m "$1" --kld-base "$work/base.kld" -t "$threads" --json - 2>/dev/null
}
for ty in ${types//,/ }; do
  "$mpt" quantize --imatrix "$work/imatrix.gguf" "$f16" "$work/stock-$ty.gguf" "$ty" -t "$threads" >/dev/null
  "$mpt" recipe "$work/sens.json" --like "$ty" -o "$work/recipe-$ty.txt" >/dev/null
  "$mpt" quantize --imatrix "$work/imatrix.gguf" "$f16" "$work/recipe-$ty.gguf" "$ty" \
    --recipe "$work/recipe-$ty.txt" -t "$threads" >/dev/null
  measure "$work/stock-$ty.gguf" > "$work/stock-$ty.ppl.json"
  measure "$work/recipe-$ty.gguf" > "$work/recipe-$ty.ppl.json"
done

python3 - "$work" "$types" "$analysis" "$mpt" <<'PY'
import json, os, subprocess, sys
work, types, analysis, mpt = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4]
def bpw(path):
    s = json.loads(subprocess.run([mpt, "inspect", path, "--json"], capture_output=True, text=True, check=True).stdout)
    return s["bits_per_weight"]
print(f"sensitivity analysis: {analysis} s")
print("| size of | file | bytes | bpw | mean KLD | PPL | same top | KLD recipe/stock | predicted KLD |")
print("|---|---|---|---|---|---|---|---|---|")
worst = 0.0
for ty in types:
    row = {}
    for side in ("stock", "recipe"):
        f = f"{work}/{side}-{ty}.gguf"
        r = json.load(open(f"{work}/{side}-{ty}.ppl.json"))
        k = r["kld"]["stats"]
        row[side] = (os.path.getsize(f), bpw(f), k["kld_mean"], r["ppl"], r["ppl_err"], k["same_top"] * 100)
    meta = json.load(open(f"{work}/recipe-{ty}.json"))
    ratio = row["recipe"][2] / row["stock"][2]
    worst = max(worst, ratio)
    for side in ("stock", "recipe"):
        size, b, kld, ppl, err, top = row[side]
        extra = [f"{ratio:.3f}", f"{meta['predicted_kld']:.5f}"] if side == "recipe" else ["", ""]
        print(f"| {ty} | {side} | {size} | {b:.3f} | {kld:.5f} | {ppl:.4f} ± {err:.4f} | {top:.2f}% | " + " | ".join(extra) + " |")
    if row["recipe"][0] > row["stock"][0]:
        print(f"error: the {ty} recipe file is larger than the stock file", file=sys.stderr); sys.exit(1)
print(f"\nlargest KLD ratio recipe/stock: {worst:.3f} (target: at most 0.8)")
PY
