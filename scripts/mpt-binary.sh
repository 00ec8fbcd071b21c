# Sourced by the benchmark and comparison scripts: builds the release binary (into $CARGO_TARGET_DIR,
# ~/.cache/mpt-gguf/target unless it is set) and sets $mpt to it.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/mpt-gguf/target}
# llama.cpp is built by cmake inside the sys crate; without this it compiles one file at a time.
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
cargo build --release -q
mpt=$CARGO_TARGET_DIR/release/mpt-gguf
