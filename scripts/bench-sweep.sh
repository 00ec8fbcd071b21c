#!/usr/bin/env bash
# The sweep against the shell pipeline it replaces, same work on the same machine in one run:
#   pipeline: llama-imatrix on the calibration text (if a rung needs it); llama-perplexity
#             --kl-divergence-base on the base; then per rung llama-quantize, llama-perplexity
#             --kl-divergence (PPL and KLD against the saved base), llama-bench (
#             the base's speed is that of the F16 rung).
#   mpt-gguf: one `mpt-gguf sweep` with the same chunks, context, threads and bench settings.
# Both sides decode one chunk at a time (-b 512, the sweep's default: it holds one chunk's logits);
# perplexity is the same number at any -b, and llama-imatrix -b 512 is the sweep's matrix bit for bit.
# Prints both wall times and their ratio (target: sweep <= 0.8x pipeline), peak resident memory, and the
# PPL and mean KLD of every rung from both sides.
# --runs N measures both sides N times in the order pipeline, sweep, sweep, pipeline, ... (a slow drift
# of a shared machine's speed then weighs on both alike) and prints every run's ratio and the ratio
# of the summed times; the per-rung tables are those of the last run.
# usage: scripts/bench-sweep.sh [-t THREADS] [--chunks N] [--imatrix-chunks N] [--types LIST] [-p N] [-n N] [-r N] [--runs N]
set -euo pipefail
shopt -s inherit_errexit  # a failing tool inside $(run_...) stops the script
cd "$(dirname "$0")/.."
threads=$(nproc); chunks=20; ichunks=16; pp=512; tg=128; reps=5; runs=1
# The default is the table5 ladder, what `mpt-gguf sweep` measures when no ladder is named.
types=F16,Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q3_K_M,Q2_K,IQ1_M
while [ $# -gt 0 ]; do
  case $1 in
    -t) threads=$2; shift 2;; --chunks) chunks=$2; shift 2;; --imatrix-chunks) ichunks=$2; shift 2;;
    --types) types=$2; shift 2;; -p) pp=$2; shift 2;; -n) tg=$2; shift 2;; -r) reps=$2; shift 2;;
    --runs) runs=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
[ "$runs" -ge 1 ] 2>/dev/null || { echo "--runs must be a whole number of at least 1" >&2; exit 2; }
source scripts/mpt-binary.sh
ref=$(bash scripts/build-reference.sh)
q41=$(bash scripts/fetch-model.sh)
source scripts/texts.sh
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
f16=$work/base-f16.gguf
"$mpt" quantize --allow-requantize "$q41" "$f16" F16 >/dev/null

needs_imatrix=$("$mpt" types --json | python3 -c '
import json, sys
want = set(sys.argv[1].upper().split(","))
print(int(any(t["name"] in want and (t["needs_imatrix"] or t["name"].startswith("IQ")) for t in json.load(sys.stdin))))' "$types")

now() { date +%s.%N; }
# Runs a command with its output into file $1 and prints its peak resident memory in bytes, sampled
# from /proc every 100 ms (the sweep resets the kernel's high-water mark for each rung's bench window,
# so the kernel's own peak would only cover the last one). The peaks last seconds; a rarer sample loads
# the sweep it watches, from start to end, less.
peak_of() { python3 - "$@" <<'PY'
import resource, subprocess, sys, time
peak = 0
with open(sys.argv[1], "w") as out:
    p = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.STDOUT)
    while p.poll() is None:
        try:
            for line in open(f"/proc/{p.pid}/status"):
                if line.startswith("VmRSS:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.1)
    if p.returncode:
        sys.exit(p.returncode)
print(max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024))
PY
}

# Seconds since the time $1 (from `now`), to a tenth.
since() { python3 -c "print(f'{$(now) - $1:.1f}')"; }
# Runs "$@" and appends "LABEL SECONDS" to the pipeline's stage times.
timed() { local label=$1 s; shift; s=$(now); "$@"; echo "$label $(since "$s")" >>"$work/pipe/times"; }

# The pipeline into $work/pipe; prints its wall seconds and the peak memory of its perplexity runs.
run_pipeline() {
  rm -rf "$work/pipe"; mkdir -p "$work/pipe"
  local t0 peak pipe_peak=0 im=() imq ty s
  t0=$(now)
  if [ "$needs_imatrix" = 1 ]; then
    timed imatrix "$ref/llama-imatrix" -m "$f16" -f "$cal" -o "$work/pipe/imatrix.gguf" --chunks "$ichunks" -t "$threads" \
      -c 512 -b 512 >/dev/null 2>&1
    im=(--imatrix "$work/pipe/imatrix.gguf")
  fi
  timed base-perplexity "$ref/llama-perplexity" -m "$f16" -f "$text" -c 512 -b 512 --chunks "$chunks" -t "$threads" \
    --kl-divergence-base "$work/pipe/base.kld" >"$work/pipe/base.ppl.txt" 2>&1
  for ty in ${types//,/ }; do
    # The sweep's default --imatrix-for iq: only the IQ types (and Q2_K_S, which needs one) get it.
    imq=(); case $ty in IQ*|Q2_K_S) imq=("${im[@]}");; esac
    timed "$ty-quantize" "$ref/llama-quantize" "${imq[@]}" "$f16" "$work/pipe/$ty.gguf" "$ty" "$threads" >/dev/null 2>&1
    s=$(now)
    peak=$(peak_of "$work/pipe/$ty.ppl.txt" "$ref/llama-perplexity" -m "$work/pipe/$ty.gguf" -c 512 -b 512 -t "$threads" \
      --kl-divergence-base "$work/pipe/base.kld" --kl-divergence)
    echo "$ty-perplexity $(since "$s")" >>"$work/pipe/times"
    timed "$ty-bench" "$ref/llama-bench" -m "$work/pipe/$ty.gguf" -p "$pp" -n "$tg" -r "$reps" -t "$threads" -o json \
      >"$work/pipe/$ty.bench.json" 2>/dev/null
    rm -f "$work/pipe/$ty.gguf"
    [ "$peak" -gt "$pipe_peak" ] && pipe_peak=$peak
  done
  echo "$(since "$t0") $pipe_peak"
}

# One `mpt-gguf sweep` into $work/sweep; prints its wall seconds and peak memory.
run_sweep() {
  rm -rf "$work/sweep"
  local t0 peak
  t0=$(now)
  peak=$(peak_of "$work/sweep.log" "$mpt" sweep "$f16" -o "$work/sweep" -f "$text" -c 512 --chunks "$chunks" -t "$threads" \
    --calib "$cal" --imatrix-chunks "$ichunks" --types "$types" -p "$pp" -n "$tg" -r "$reps")
  echo "$(since "$t0") $peak"
}

echo "pipeline of llama.cpp tools against mpt-gguf sweep ($threads threads, $chunks chunks of 512, types $types, $runs run(s))..." >&2
: >"$work/walls"
for ((i = 1; i <= runs; i++)); do
  if ((i % 2)); then order="pipeline sweep"; else order="sweep pipeline"; fi
  for side in $order; do
    out=$("run_$side")
    read -r secs peak <<<"$out"
    echo "run $i: $side $secs s" >&2
    echo "$i $side $secs $peak" >>"$work/walls"
  done
done

python3 - "$work" "$types" <<'PY'
import json, os, re, sys
work, types = sys.argv[1:]
walls = {}  # run -> side -> (seconds, peak bytes)
for line in open(f"{work}/walls"):
    run, side, secs, peak = line.split()
    walls.setdefault(int(run), {})[side] = (float(secs), int(peak))
last = walls[max(walls)]
t_pipe, t_sweep = last["pipeline"][0], last["sweep"][0]
pipe_peak = max(w["pipeline"][1] for w in walls.values())
sweep_peak = max(w["sweep"][1] for w in walls.values())
res = json.load(open(f"{work}/sweep/results.json"))
ours = {r["rung"]: r for r in res["rungs"]}

def grab(path, pattern):
    m = re.search(pattern, open(path, errors="replace").read())
    return float(m.group(1)) if m else float("nan")

def ts(path, n_prompt):
    if not os.path.exists(path):
        return float("nan")
    for row in json.load(open(path)):
        if (row["n_prompt"] > 0) == (n_prompt > 0):
            return row["avg_ts"]
    return float("nan")

print(f"{'rung':<8} {'PPL llama.cpp':>14} {'PPL mpt':>10} {'KLD llama.cpp':>14} {'KLD mpt':>10} "
      f"{'pp t/s ref':>10} {'pp t/s mpt':>10} {'tg t/s ref':>10} {'tg t/s mpt':>10}")
base = res.get("base") or {}
base_bench = f"{work}/pipe/F16.bench.json"  # the pipeline benches the base as its F16 rung
print(f"{'base':<8} {grab(f'{work}/pipe/base.ppl.txt', r'Final estimate: PPL = ([0-9.]+)'):>14.4f} "
      f"{base.get('ppl') or float('nan'):>10.4f} {'-':>14} {'-':>10} "
      f"{ts(base_bench, 1):>10.1f} {base.get('pp_ts') or float('nan'):>10.1f} "
      f"{ts(base_bench, 0):>10.1f} {base.get('tg_ts') or float('nan'):>10.1f}")
ppl_q, kld_q = r"Mean PPL\(Q\)\s*:\s*([0-9.]+)", r"Mean\s+KLD:\s*([0-9.]+)"
rss_after, stages = [], []
for ty in types.split(","):
    r = ours.get(ty, {})
    txt = f"{work}/pipe/{ty}.ppl.txt"
    kld = (r.get("kld") or {}).get("mean", float("nan"))
    bench = f"{work}/pipe/{ty}.bench.json"
    print(f"{ty:<8} {grab(txt, ppl_q):>14.4f} {r.get('ppl') or float('nan'):>10.4f} "
          f"{grab(txt, kld_q):>14.6f} {kld:>10.6f} "
          f"{ts(bench, 1):>10.1f} {r.get('pp_ts') or float('nan'):>10.1f} "
          f"{ts(bench, 0):>10.1f} {r.get('tg_ts') or float('nan'):>10.1f}")
    t = r.get("times") or {}
    stages.append(f"{ty}: " + " ".join(f"{k[:-2]} {v:.1f}" for k, v in t.items() if v))
    rss_after.append(f"{ty} {(r.get('peak_rss_bytes') or 0) / 2**20:.0f}")
print()
for run, w in sorted(walls.items()):
    (p, _), (q, _) = w["pipeline"], w["sweep"]
    print(f"wall time, run {run}: pipeline {p:.1f} s, mpt-gguf sweep {q:.1f} s, ratio {q / p:.3f}")
total_p = sum(w["pipeline"][0] for w in walls.values())
total_s = sum(w["sweep"][0] for w in walls.values())
print(f"wall time, all {len(walls)} run(s): pipeline {total_p:.1f} s, mpt-gguf sweep {total_s:.1f} s, "
      f"ratio {total_s / total_p:.3f} (target <= 0.8)")
print("pipeline stage seconds: " + ", ".join(l.strip() for l in open(f"{work}/pipe/times")))
b = res.get("base") or {}
print("sweep base seconds: " + " ".join(f"{k[:-2]} {v:.1f}" for k, v in (b.get("times") or {}).items() if v))
print("sweep stage seconds: " + "; ".join(stages))
in_stages = sum(v for r in [b] + [ours.get(ty, {}) for ty in types.split(",") if ty != b.get("rung")]
                for v in (r.get("times") or {}).values() if v)
print(f"sweep outside those stages (importance matrix, hashing, tokenizing, loads): {t_sweep - in_stages:.1f} s")
print("sweep peak RSS after each rung (MiB; flat = not growing): " + ", ".join(rss_after))
sizes = [r.get("size_bytes") or 0 for r in res["rungs"] if r["rung"] != (res.get("base") or {}).get("rung")]
base_size = (res.get("model") or {}).get("size_bytes") or 0
limit = 1.25 * (base_size + max(sizes, default=0))
print(f"sweep peak RSS {sweep_peak / 2**20:.0f} MiB; target <= 1.25 x (base {base_size / 2**20:.0f} MiB "
      f"+ largest rung {max(sizes, default=0) / 2**20:.0f} MiB) = {limit / 2**20:.0f} MiB: "
      f"{'met' if sweep_peak <= limit else 'NOT met'}")
print(f"peak RSS: llama-perplexity --kl-divergence {pipe_peak / 2**20:.0f} MiB, sweep {sweep_peak / 2**20:.0f} MiB")
PY
