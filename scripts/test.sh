#!/usr/bin/env bash
# The project's test command (README): installs build dependencies if missing, fetches the test model,
# builds llama.cpp's own tools for the parity tests, checks formatting and lints, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/mpt-gguf/target}
# llama.cpp is built by cmake inside the sys crate; without this it compiles one file at a time.
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
bash scripts/setup.sh
bash scripts/fetch-model.sh >/dev/null
if [ -z "${MPT_REFERENCE_BIN:-}" ] && [ -f ../shared/tools/build-reference.sh ]; then
  MPT_REFERENCE_BIN=$(bash ../shared/tools/build-reference.sh)
  export MPT_REFERENCE_BIN
fi
# The tokenizer parity test also needs llama-tokenize from the same reference tree.
if [ -n "${MPT_REFERENCE_BIN:-}" ] && [ ! -x "$MPT_REFERENCE_BIN/llama-tokenize" ]; then
  cmake --build "$MPT_REFERENCE_BIN/.." -j"$(nproc)" --target llama-tokenize >&2
fi
cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release "$@"
