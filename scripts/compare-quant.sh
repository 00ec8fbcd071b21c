#!/usr/bin/env bash
# Speed of mpt-gguf's in-process quantize and imatrix against llama.cpp's llama-quantize and llama-imatrix,
# same input, same threads, same machine, in one run, the two tools alternating. Prints each wall time (median
# of -r runs) and the ratio mpt-gguf / llama.cpp (target: <= 1.05). Also checks that the quantized files are
# byte-identical.
# usage: scripts/compare-quant.sh [-t THREADS] [-r REPS] [--chunks N]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc); reps=3; chunks=8
while [ $# -gt 0 ]; do
  case $1 in -t) threads=$2; shift 2;; -r) reps=$2; shift 2;; --chunks) chunks=$2; shift 2;; *) echo "unknown $1" >&2; exit 2;; esac
done
source scripts/mpt-binary.sh
ref=$(bash scripts/build-reference.sh)
q41=$(bash scripts/fetch-model.sh)
source scripts/texts.sh
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
f16=$work/f16.gguf
"$mpt" quantize --allow-requantize "$q41" "$f16" F16 >/dev/null

# Wall seconds of one run of "$@" after deleting the file $1 names (each tool then writes a new file:
# llama-quantize truncates an existing output, mpt-gguf replaces it by rename; both cost differently).
once() {
  local out=$1; shift
  rm -f "$out"
  sync  # the previous run's output is still being written back: not this run's cost
  local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
  awk -v a="$s" -v b="$e" 'BEGIN{print b-a}'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# The two tools run alternately, $reps times each; prints "median_ref median_mpt".
# usage: pair OUT_REF OUT_MPT -- REF_CMD... -- MPT_CMD...
pair() {
  local out_ref=$1 out_mpt=$2; shift 3
  local ref_cmd=() mpt_cmd=()
  while [ "$1" != -- ]; do ref_cmd+=("$1"); shift; done; shift
  mpt_cmd=("$@")
  : >"$work/t.ref"; : >"$work/t.mpt"
  for i in $(seq "$reps"); do  # who goes first alternates too
    if [ $((i % 2)) = 1 ]; then
      once "$out_ref" "${ref_cmd[@]}" >>"$work/t.ref"; once "$out_mpt" "${mpt_cmd[@]}" >>"$work/t.mpt"
    else
      once "$out_mpt" "${mpt_cmd[@]}" >>"$work/t.mpt"; once "$out_ref" "${ref_cmd[@]}" >>"$work/t.ref"
    fi
  done
  echo "$(median <"$work/t.ref") $(median <"$work/t.mpt")"
}
row() { printf '%-28s %10.3f %10.3f %8.3f\n' "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN{print b/a}')"; }

printf '%-28s %10s %10s %8s\n' "task ($threads threads)" "llama.cpp" "mpt-gguf" "ratio"
read -r t_ref t_mpt < <(pair "$work/ref-imatrix.gguf" "$work/mpt-imatrix.gguf" -- \
  "$ref/llama-imatrix" -m "$f16" -f "$cal" -o "$work/ref-imatrix.gguf" --chunks "$chunks" -t "$threads" -- \
  "$mpt" imatrix "$f16" -f "$cal" -o "$work/mpt-imatrix.gguf" --chunks "$chunks" -t "$threads")
row "imatrix ($chunks chunks)" "$t_ref" "$t_mpt"
# IQ2_XS and IQ1_M sort with qsort (src/engine/qsort.rs); IQ4_XS, and the IQ4_NL that the IQ types fall back to
# for SmolLM2's rows of 576, are quantized by src/engine/iq4.
for ty in Q8_0 Q4_K_M Q2_K IQ2_XS IQ1_M IQ4_XS; do
  im=(); case $ty in IQ*) im=(--imatrix "$work/mpt-imatrix.gguf");; esac
  read -r t_ref t_mpt < <(pair "$work/ref-$ty.gguf" "$work/mpt-$ty.gguf" -- \
    "$ref/llama-quantize" "${im[@]}" "$f16" "$work/ref-$ty.gguf" "$ty" "$threads" -- \
    "$mpt" quantize -t "$threads" "${im[@]}" "$f16" "$work/mpt-$ty.gguf" "$ty")
  same=$(cmp -s "$work/ref-$ty.gguf" "$work/mpt-$ty.gguf" && echo identical || echo DIFFERENT)
  row "quantize $ty ($same)" "$t_ref" "$t_mpt"
done
