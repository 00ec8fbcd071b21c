#!/usr/bin/env bash
# How the sensitivity analysis's cost grows with the model: `mpt-gguf sensitivity` on the 135M test model
# and on a model of SmolLM2-360M's shape with random F16 weights (`mpt-gguf synth`: 32 layers, width 960,
# 362 M parameters; its outputs are noise, its time that of a real model of its size), each with per-tensor
# and per-kind groups, default candidates, no importance matrix. Prints, per run: parameters, layers, groups,
# decodes, the seconds the command predicted before starting (decodes and quantizing), the seconds it took, and seconds per decode.
# usage: scripts/bench-sensitivity.sh [--groups tensor,kind] [-c CTX] [-t THREADS] [--keep DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
groups=tensor,kind; ctx=256; threads=$(nproc); keep=
while [ $# -gt 0 ]; do
  case $1 in
    --groups) groups=$2; shift 2;;
    -c) ctx=$2; shift 2;;
    -t) threads=$2; shift 2;;
    --keep) keep=$2; shift 2;;
    *) echo "unknown $1" >&2; exit 2;;
  esac
done
source scripts/mpt-binary.sh
q41=$(bash scripts/fetch-model.sh)
source scripts/texts.sh
if [ -n "$keep" ]; then work=$keep; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
[ -s "$work/smollm2-135m.gguf" ] || "$mpt" quantize --allow-requantize "$q41" "$work/smollm2-135m.gguf" F16 >/dev/null
[ -s "$work/random-362m.gguf" ] || "$mpt" synth "$work/smollm2-135m.gguf" -o "$work/random-362m.gguf" \
  --layers 32 --width 960 --ffn 2560 --heads 15 --kv-heads 5 2>/dev/null

for model in smollm2-135m random-362m; do
  for group in ${groups//,/ }; do
    run=$work/$model-$group
    [ -s "$run.json" ] && continue
    s=$(date +%s.%N)
    "$mpt" sensitivity "$work/$model.gguf" --calib "$cal" -c "$ctx" --group "$group" -t "$threads" \
      -o "$run.json" 2> "$run.log"
    e=$(date +%s.%N)
    awk -v a="$s" -v b="$e" 'BEGIN{printf "%.1f", b-a}' > "$run.seconds"
  done
done

python3 - "$work" "$groups" <<'PY'
import json, re, sys
work, groups = sys.argv[1], sys.argv[2].split(",")
print("| model | parameters | layers | groups | grouping | decodes | predicted | measured | s / decode |")
print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
for model in ("smollm2-135m", "random-362m"):
    for group in groups:
        run = f"{work}/{model}-{group}"
        table = json.load(open(run + ".json"))
        seconds = float(open(run + ".seconds").read())
        log = open(run + ".log").read()
        # The command's own estimate, printed before its first candidate.
        plan = re.search(r"(\d+) candidates to measure.*: about (\d+) s", log)
        decodes, predicted = int(plan.group(1)), float(plan.group(2))
        layers = len({t["name"].split(".")[1] for t in table["model"]["tensors"] if t["name"].startswith("blk.")})
        params = table["model"]["n_params"] / 1e6
        print(f"| {model} | {params:.0f} M | {layers} | {len(table['groups'])} | {group} | {decodes} | "
              f"{predicted:.0f} s | {seconds:.0f} s | {seconds / decodes:.3f} |")
PY
