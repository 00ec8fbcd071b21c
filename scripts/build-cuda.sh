#!/usr/bin/env bash
# Builds mpt-gguf with the `cuda` feature on a machine without a CUDA installation: the toolkit's pieces
# come from PyPI (nvcc, NVVM, the CUDA runtime, cuBLAS and CCCL's headers, CUDA 13, which all install
# into one nvidia/cu13 tree), for one GPU architecture to keep the build short. llama.cpp is built as
# shared libraries (the wheels ship cuBLAS only as a shared library), and linked against a stub of the
# driver library (libcuda.so comes with the NVIDIA driver on a GPU machine). Not run by CI.
# usage: scripts/build-cuda.sh [ARCH]      (default 90: H100; 89: L4/RTX 40xx, 80: A100, 86: RTX 30xx)
# Prints the path of the built binary, and the LD_LIBRARY_PATH it runs with (llama.cpp's libraries and
# the CUDA ones); without a GPU it runs on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-90}
cache=$HOME/.cache/mpt-gguf/cuda
venv=$cache/venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q "nvidia-cuda-nvcc>=13,<14" "nvidia-nvvm>=13,<14" "nvidia-cuda-runtime>=13,<14" \
  "nvidia-cublas>=13,<14" "nvidia-cuda-cccl>=13,<14" >&2
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cuda=$site/nvidia/cu13
[ -x "$cuda/bin/nvcc" ] || { echo "build-cuda.sh: no nvcc in $cuda/bin" >&2; exit 1; }
# The layout CMake's FindCUDAToolkit expects: lib64, unversioned libraries, a driver stub.
[ -e "$cuda/lib64" ] || ln -s lib "$cuda/lib64"
for lib in cudart cublas cublasLt; do
  so=$(ls "$cuda"/lib/lib$lib.so.* 2>/dev/null | head -1)
  [ -n "$so" ] && ln -sf "$(basename "$so")" "$cuda/lib/lib$lib.so"
done
mkdir -p "$cuda/lib/stubs"
if [ ! -e "$cuda/lib/stubs/libcuda.so" ]; then
  echo 'void mpt_gguf_cuda_driver_stub(void) {}' > "$cache/stub.c"
  cc -shared -fPIC -o "$cuda/lib/stubs/libcuda.so" "$cache/stub.c"
fi
export CUDA_PATH=$cuda CUDAToolkit_ROOT=$cuda CUDACXX=$cuda/bin/nvcc
export PATH=$cuda/bin:$PATH
export LIBRARY_PATH=$cuda/lib:$cuda/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}
export CMAKE_CUDA_ARCHITECTURES=$arch CUDAARCHS=$arch
export LLAMA_BUILD_SHARED_LIBS=1
export CARGO_TARGET_DIR=${MPT_CUDA_TARGET_DIR:-$HOME/.cache/mpt-gguf/target-cuda}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
cargo build --release --features cuda >&2
libs=$(dirname "$(ls -t "$CARGO_TARGET_DIR"/release/build/llama-cpp-sys-2-*/out/build/bin/libggml-base.so.0 | head -1)")
echo "run it with: LD_LIBRARY_PATH=$libs:$cuda/lib $CARGO_TARGET_DIR/release/mpt-gguf --version" >&2
echo "$CARGO_TARGET_DIR/release/mpt-gguf"
