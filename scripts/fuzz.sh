#!/usr/bin/env bash
# A short coverage-guided fuzzing campaign over every reader of a file a user hands mpt-gguf (fuzz/).
# cargo-fuzz drives libFuzzer; it needs unstable rustc flags, which a stable toolchain accepts with
# RUSTC_BOOTSTRAP=1 (or run it with nightly: CARGO=cargo +nightly is not needed).
#
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 s for each target, every target)
#        scripts/fuzz.sh --runs N [TARGET...]      (N executions per target instead of a time)
#
# Seeds come from real files: the test model's header, an importance matrix and a KL-divergence base made
# by mpt-gguf from it, a small sweep's manifest and results, the fetched task rows in every format. They
# are made once into ~/.cache/mpt-gguf/fuzz/seeds; corpora grow in ~/.cache/mpt-gguf/fuzz/corpus; crashes
# land in fuzz/artifacts/TARGET. Limits: inputs up to 1 MiB, 10 s per input, 1 GiB per allocation, 2 GiB RSS.
# Prints one line per target (executions, seconds, coverage, findings) and writes them to
# ~/.cache/mpt-gguf/fuzz/summary.tsv. Targets run side by side, one per core. CI does not run this.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60; runs=""
if [ "${1:-}" = "--runs" ]; then runs=$2; shift 2
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
cache=$HOME/.cache/mpt-gguf
fuzz=$cache/fuzz
export CARGO_TARGET_DIR=${MPT_FUZZ_TARGET_DIR:-$cache/fuzz-target}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cargo fuzz build -O >&2
bin=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(cargo fuzz list))

make_seeds() {
  local s=$fuzz/seeds
  [ -f "$s/.complete-2" ] && return
  echo "fuzz: making seeds from real files (a minute)" >&2
  rm -rf "$s"; mkdir -p "$s"
  export CARGO_TARGET_DIR_MAIN=${CARGO_TARGET_DIR_MAIN:-$cache/target}
  CARGO_TARGET_DIR=$CARGO_TARGET_DIR_MAIN RUSTC_BOOTSTRAP= cargo build --release -q
  local mpt=$CARGO_TARGET_DIR_MAIN/release/mpt-gguf
  local model; model=$(bash scripts/fetch-model.sh)
  local data; data=$(bash scripts/fetch-test-data.sh)
  local py=$cache/demo/venv/bin/python
  local w; w=$(mktemp -d)
  mkdir -p "$s"/{gguf,imatrix,kld_base,llama_logits,manifest,results,peaks,record}
  mkdir -p "$s"/task_{jsonl,json,parquet,arrow,arrow_folder,mmlu_csv,hellaswag,winogrande,multiple_choice}
  head -c 1048576 "$model" > "$s/gguf/model-head.gguf"
  "$mpt" imatrix "$model" -f "$data/calibration.txt" -c 128 --chunks 1 -o "$w/imatrix.gguf" >/dev/null 2>&1
  "$mpt" imatrix "$model" -f "$data/calibration.txt" -c 128 --chunks 1 -o "$w/imatrix.dat" --format dat >/dev/null 2>&1
  cp "$w/imatrix.gguf" "$s/gguf/imatrix.gguf"; cp "$w/imatrix.gguf" "$w/imatrix.dat" "$s/imatrix/"
  "$mpt" perplexity -m "$model" -f "$data/eval.txt" -c 64 --chunks 2 --save-kld-base "$s/kld_base/base.kld" >/dev/null 2>&1
  "$mpt" perplexity -m "$model" -f "$data/eval.txt" -c 8 --chunks 1 --kl-divergence-base "$w/logits.bin" >/dev/null 2>&1
  head -c 1048576 "$w/logits.bin" > "$s/llama_logits/logits.bin"
  "$mpt" quantize --allow-requantize "$model" "$w/f16.gguf" F16 >/dev/null 2>&1
  "$mpt" sweep "$w/f16.gguf" -o "$w/sweep" -f "$data/eval.txt" --types Q8_0 -c 128 --chunks 1 -p 16 -n 4 -r 1 >/dev/null 2>&1
  cp "$w/sweep/manifest.json" "$s/manifest/"; cp "$w/sweep/results.json" "$s/results/"
  cp "$w"/sweep/rungs/*.json "$s/record/"
  cp "$w/sweep/manifest.json" "$s/results/"
  cp "$cache"/peaks/*.json "$s/peaks/" 2>/dev/null || MPT_CACHE_DIR=$w "$mpt" peaks --json > "$s/peaks/peaks.json"
  local t=$data/tasks
  head -n 20 "$t/arc_easy_validation.jsonl" > "$s/task_jsonl/arc_easy.jsonl"
  head -n 20 "$t/winogrande_xl_validation.jsonl" > "$s/task_jsonl/winogrande.jsonl"
  head -n 40 "$t/llama.cpp/hellaswag_val_full.txt" > "$s/task_hellaswag/hellaswag.txt"
  head -n 20 "$t/llama.cpp/winogrande_dev.csv" > "$s/task_winogrande/winogrande.csv"
  local arrow=$t/hf-arrow/ARC-Easy/validation
  cp "$arrow/data-00000-of-00001.arrow" "$s/task_arrow/arc_easy.arrow"
  { cat "$arrow/state.json"; printf '\0'; cat "$arrow/dataset_info.json"; printf '\0'; cat "$arrow/data-00000-of-00001.arrow"; } \
    > "$s/task_arrow_folder/arc_easy"
  "$py" - "$t" "$s" <<'PY'
import csv, json, struct, sys
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.ipc as ipc
t, s = sys.argv[1:]
rows = [json.loads(l) for l in open(f"{t}/arc_challenge_validation.jsonl")][:20]
json.dump(rows, open(f"{s}/task_json/arc_challenge.json", "w"))
table = pa.Table.from_pylist(rows)
pq.write_table(table, f"{s}/task_parquet/arc_challenge.parquet")
with ipc.new_file(f"{s}/task_arrow/arc_challenge-file.arrow", table.schema) as w:
    w.write_table(table)
with ipc.new_stream(f"{s}/task_arrow/arc_challenge-stream.arrow", table.schema) as w:
    w.write_table(table)
mmlu = [json.loads(l) for l in open(f"{t}/mmlu_validation.jsonl")][:20]
with open(f"{s}/task_mmlu_csv/abstract_algebra_val.csv", "w", newline="") as f:
    out = csv.writer(f)
    for r in mmlu:
        out.writerow([r["question"], *r["choices"], "ABCD"[r["answer"]]])
def put(b, text):
    data = text.encode()
    b += struct.pack("<I", len(data)) + data
body, offsets = bytearray(), []
header = 4 + 4 * len(rows)
for r in rows:
    offsets.append(header + len(body))
    put(body, r["question"])
    answers = r["choices"]["text"]
    body += struct.pack("<I", len(answers))
    for a in answers:
        put(body, a)
    for label in r["choices"]["label"]:
        body += struct.pack("<i", int(label == r["answerKey"]))
    body += struct.pack("<I", 0)
with open(f"{s}/task_multiple_choice/arc_challenge.bin", "wb") as f:
    f.write(struct.pack("<I", len(rows)) + b"".join(struct.pack("<I", o) for o in offsets) + body)
PY
  rm -rf "$w"
  touch "$s/.complete-2"
}
make_seeds

mkdir -p "$fuzz/logs"
run_target() {
  local t=$1 corpus=$fuzz/corpus/$1 log=$fuzz/logs/$1.log
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  local limit=(-max_total_time="$seconds"); [ -n "$runs" ] && limit=(-runs="$runs")
  "$bin/$t" "$corpus" "$fuzz/seeds/$t" "${limit[@]}" -max_len=1048576 -timeout=10 \
    -malloc_limit_mb=1024 -rss_limit_mb=2048 -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 \
    > "$log" 2>&1 || true
}
export -f run_target; export bin fuzz seconds runs
printf '%s\n' "${targets[@]}" | xargs -P "$(nproc)" -I{} bash -c 'run_target {}'

summary=$fuzz/summary.tsv
printf 'target\texecutions\tseconds\tcoverage\tfeatures\tcorpus\tfindings\n' > "$summary"
for t in "${targets[@]}"; do
  log=$fuzz/logs/$t.log
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | awk '{print $5}' | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
  corpus=$(ls "$fuzz/corpus/$t" | wc -l)
  findings=$(ls "fuzz/artifacts/$t" 2>/dev/null | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${execs:-0}" "${secs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$findings" >> "$summary"
done
column -t -s $'\t' "$summary"
if grep -qv $'\t0$' <(tail -n +2 "$summary"); then
  echo "findings in fuzz/artifacts/ (reproduce: $bin/TARGET FILE; minimize: cargo fuzz tmin TARGET FILE)" >&2
  exit 1
fi
