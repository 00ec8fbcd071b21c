#!/usr/bin/env bash
# Builds llama.cpp's own tools (llama-quantize, llama-imatrix, llama-perplexity, llama-bench, llama-tokenize)
# as an independent reference for the parity tests and the benchmark scripts. Source: the llama.cpp tree
# inside the PyPI sdist llama-cpp-python==0.3.36. Cached in $MPT_REFERENCE_DIR (default
# ~/.cache/mpt-gguf/reference); prints the folder holding the binaries. Safe to run again: a finished build
# is reused, an interrupted one is resumed by cmake.
# usage: scripts/build-reference.sh [DIR]
set -euo pipefail
dir=${1:-${MPT_REFERENCE_DIR:-$HOME/.cache/mpt-gguf/reference}}
version=0.3.36
tools=(llama-quantize llama-imatrix llama-perplexity llama-bench llama-tokenize)
bin="$dir/build/bin"
# Built without AMX, as mpt-gguf's own llama.cpp is (.cargo/config.toml says why).
flags=""
[ "$(uname -m)" = x86_64 ] && flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
stamp="$dir/build/.mpt-cflags"
complete=1
for t in "${tools[@]}"; do [ -x "$bin/$t" ] || complete=0; done
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$flags" ] || complete=0
if [ "$complete" = 1 ]; then echo "$bin"; exit 0; fi

command -v cmake >/dev/null && command -v c++ >/dev/null || bash "$(dirname "$0")/setup.sh"
mkdir -p "$dir"
if [ ! -f "$dir/src/CMakeLists.txt" ]; then
  tmp=$(mktemp -d "$dir/.fetch.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
  echo "build-reference: downloading llama-cpp-python==$version (sdist) from PyPI" >&2
  # Only the package itself from source: its build tools come as wheels (pip reads the sdist's metadata).
  python3 -m pip download --no-deps --no-binary llama-cpp-python -q -d "$tmp" "llama-cpp-python==$version" >&2
  tar xzf "$tmp/llama_cpp_python-$version.tar.gz" -C "$tmp"
  rm -rf "$dir/src"
  mv "$tmp/llama_cpp_python-$version/vendor/llama.cpp" "$dir/src"
fi
echo "build-reference: building ${tools[*]} in $dir/build" >&2
cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" >&2
cmake --build "$dir/build" -j"$(nproc)" --target "${tools[@]}" >&2
echo "$flags" > "$stamp"
echo "$bin"
