#!/usr/bin/env bash
# The machine's measured peaks, run to run, and how close a small ladder comes to them.
# 1. `mpt-gguf peaks --refresh` N times, each into an empty cache (a cache keeps the best of its measurements): the peak FLOPs/s (fastest ggml kernel) and the
#    streaming-read bandwidth at each buffer size per run, and the spread max/min - 1 of each (target <= 10%).
# 2. `mpt-gguf bench` (pp512, tg128) on F16, Q8_0, Q4_K_M and Q2_K of SmolLM2-135M against the last peaks:
#    MFU and bandwidth use per test (each must be <= 100%).
# usage: scripts/bench-machine.sh [-t THREADS] [-n RUNS] [-r BENCH_REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc); runs=5; reps=3
while [ $# -gt 0 ]; do
  case $1 in
    -t) threads=$2; shift 2;;
    -n) runs=$2; shift 2;;
    -r) reps=$2; shift 2;;
    *) echo "unknown $1" >&2; exit 2;;
  esac
done
source scripts/mpt-binary.sh
q41=$(bash scripts/fetch-model.sh)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for i in $(seq 1 "$runs"); do
  MPT_CACHE_DIR=$work/cache-$i "$mpt" peaks -t "$threads" --refresh --json > "$work/peaks-$i.json" 2>/dev/null
done
export MPT_CACHE_DIR=$work/cache-$runs
python3 - "$work" "$runs" <<'PY'
import json, sys
work, runs = sys.argv[1], int(sys.argv[2])
peaks = [json.load(open(f"{work}/peaks-{i}.json")) for i in range(1, runs + 1)]
print(f"device: {peaks[0]['device']}")
rows = [("peak TFLOP/s", [p["flops"]["value"] / 1e12 for p in peaks], "{:.3f}")]
for j, point in enumerate(peaks[0]["bandwidth_curve"]):
    rows.append((f"read GB/s, {point['bytes'] >> 20} MiB", [p["bandwidth_curve"][j]["bytes_per_s"] / 1e9 for p in peaks], "{:.1f}"))
print("| figure | " + " | ".join(f"run {i}" for i in range(1, runs + 1)) + " | spread |")
print("|---|" + "---:|" * (runs + 1))
for name, values, fmt in rows:
    spread = max(values) / min(values) - 1
    print(f"| {name} | " + " | ".join(fmt.format(v) for v in values) + f" | {spread * 100:.1f}% |")
fastest = [max(p["kernels"], key=lambda k: k["flops_per_s"])["ggml_type"] for p in peaks]
print(f"fastest kernel per run: {', '.join(fastest)}")
PY

"$mpt" quantize --allow-requantize "$q41" "$work/F16.gguf" F16 >/dev/null
for t in Q8_0 Q4_K_M Q2_K; do "$mpt" quantize "$work/F16.gguf" "$work/$t.gguf" "$t" >/dev/null; done
echo
echo "| model | test | t/s | GFLOP/token | MFU | MB/token | BW use | bandwidth peak |"
echo "|---|---|---:|---:|---:|---:|---:|---|"
for t in F16 Q8_0 Q4_K_M Q2_K; do
  "$mpt" bench -m "$work/$t.gguf" -t "$threads" -r "$reps" -o json 2>/dev/null > "$work/bench-$t.json"
  python3 - "$work/bench-$t.json" "$t" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1])):
    test = f"pp{r['n_prompt']}" if r["n_gen"] == 0 else f"tg{r['n_gen']}"
    print(f"| {sys.argv[2]} | {test} | {r['avg_ts']:.1f} | {r['flops_per_token'] / 1e9:.3f} | {r['mfu'] * 100:.1f}% "
          f"| {r['bytes_per_token'] / 1e6:.1f} | {r['bandwidth_use'] * 100:.1f}% | {r['peak_gbps']:.1f} GB/s |")
    assert r["mfu"] <= 1 and r["bandwidth_use"] <= 1, "above 100%: the model of the work is wrong"
PY
done
