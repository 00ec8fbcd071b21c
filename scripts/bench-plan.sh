#!/usr/bin/env bash
# How a sweep's time and peak memory grow with model size, stage by stage, against what
# `mpt-gguf sweep --dry-run` predicted for them on the same machine.
#   1. SmolLM2-135M requantized to F16 (the test model) and a model of SmolLM2-1.7B's shape with random
#      F16 weights (`mpt-gguf synth`: same architecture and tokenizer, 1.71 B parameters).
#   2. For each: the dry run's plan (JSON), then the sweep itself one stage per process (`--stage prepare`,
#      then one `--stage rungs --shard I/N` process per rung), each under /usr/bin/time for its wall time
#      and peak resident memory; the rung's file size from the results.
#      Each rung process runs --repeat times (its record removed in between) and the fastest run counts: a
#      rung of the small model takes seconds, and one slow spell of the machine would be most of it.
#   3. One table row per stage: predicted, measured, and measured / predicted - 1.
# A rung process also hashes the inputs and reads the manifest: its prediction includes the hashing.
# usage: scripts/bench-plan.sh [-t THREADS] [--types LIST] [-c CTX] [--chunks N] [--repeat N]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc); types=Q8_0,Q4_K_M,Q2_K; ctx=512; chunks=2; repeat=2
while [ $# -gt 0 ]; do
  case $1 in
    -t) threads=$2; shift 2;;
    --types) types=$2; shift 2;;
    -c) ctx=$2; shift 2;;
    --chunks) chunks=$2; shift 2;;
    --repeat) repeat=$2; shift 2;;
    *) echo "unknown $1" >&2; exit 2;;
  esac
done
source scripts/mpt-binary.sh
q41=$(bash scripts/fetch-model.sh)
data=$(bash scripts/fetch-test-data.sh)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$mpt" quantize --allow-requantize "$q41" "$work/smollm2-135m-f16.gguf" F16 >/dev/null
"$mpt" synth "$work/smollm2-135m-f16.gguf" -o "$work/random-1.7b-f16.gguf" \
  --layers 24 --width 2048 --ffn 8192 --heads 32 --kv-heads 32 2>/dev/null
n_rungs=$(tr ',' '\n' <<<"$types" | wc -l)

for model in smollm2-135m-f16 random-1.7b-f16; do
  out=$work/sweep-$model
  args=(sweep "$work/$model.gguf" -o "$out" -f "$data/eval.txt" --calib "$data/calibration.txt"
        -c "$ctx" --chunks "$chunks" -t "$threads" --types "$types" -p 128 -n 32 -r 2)
  "$mpt" "${args[@]}" --dry-run --json > "$work/plan-$model.json" 2>/dev/null
  /usr/bin/time -f "%e %M" -o "$work/time-$model-prepare" "$mpt" "${args[@]}" --stage prepare 2>/dev/null
  mapfile -t names < <(python3 -c 'import json, sys
print("\n".join(s["stage"][5:] for s in json.load(open(sys.argv[1]))["stages"] if s["stage"].startswith("rung ")))' \
    "$work/plan-$model.json")
  for i in $(seq 1 "$n_rungs"); do
    for r in $(seq 1 "$repeat"); do
      rm -f "$out/rungs/rung-${names[i-1]}.json"
      /usr/bin/time -f "%e %M" -o "$work/time-$model-rung$i.$r" \
        "$mpt" "${args[@]}" --stage rungs --shard "$i/$n_rungs" 2>/dev/null
    done
    sort -n "$work/time-$model-rung$i".* | head -n1 > "$work/time-$model-rung$i"
  done
  "$mpt" "${args[@]}" --stage merge 2>/dev/null
done

python3 - "$work" "$n_rungs" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
print("| model | stage | time predicted | time measured | error | peak memory predicted | measured | error | disk predicted | measured | error |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
worst = 0.0
for model in ["smollm2-135m-f16", "random-1.7b-f16"]:
    plan = json.load(open(f"{work}/plan-{model}.json"))
    results = json.load(open(f"{work}/sweep-{model}/results.json"))
    stages = {s["stage"]: s for s in plan["stages"]}
    shared = [s for s in plan["stages"] if not s["stage"].startswith("rung ")]
    hashing = stages["hashing inputs"]
    rows = [("shared stages", sum(s["seconds"] for s in shared), max(s["peak_memory_bytes"] for s in shared),
             None, "prepare")]
    rungs = [s for s in plan["stages"] if s["stage"].startswith("rung ")]
    for i, s in enumerate(rungs, 1):
        name = s["stage"][5:]
        size = next(r["size_bytes"] for r in results["rungs"] if r["rung"] == name)
        rows.append((s["stage"], s["seconds"] + hashing["seconds"], s["peak_memory_bytes"], (s["disk_bytes"], size), f"rung{i}"))
    for stage, t_pred, m_pred, disk, key in rows:
        t, rss_kb = open(f"{work}/time-{model}-{key}").read().split()
        t, m = float(t), int(rss_kb) * 1024
        et, em = t / t_pred - 1, m / m_pred - 1
        cells = [model, stage, f"{t_pred:.1f} s", f"{t:.1f} s", f"{et:+.0%}",
                 f"{m_pred / 1e6:.0f} MB", f"{m / 1e6:.0f} MB", f"{em:+.0%}"]
        worst = max(worst, abs(et), abs(em))
        if disk:
            ed = disk[1] / disk[0] - 1
            worst = max(worst, abs(ed))
            cells += [f"{disk[0] / 1e6:.0f} MB", f"{disk[1] / 1e6:.0f} MB", f"{ed:+.0%}"]
        else:
            cells += ["", "", ""]
        print("| " + " | ".join(cells) + " |")
print(f"\nlargest error: {worst:.0%} (target: within 30%)")
PY
