#!/usr/bin/env bash
# Installs what building mpt-gguf needs on a fresh Debian machine, only what is missing; safe to run twice.
# llama.cpp is compiled by the llama-cpp-sys-2 crate with cmake and a C++ compiler; bindgen needs libclang;
# plotters renders chart text with fontconfig/freetype and a TTF font; the fetch scripts need Python.
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v c++ >/dev/null || need+=(g++)
command -v clang >/dev/null || need+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
pkg-config --exists fontconfig 2>/dev/null || need+=(libfontconfig1-dev pkg-config)
pkg-config --exists freetype2 2>/dev/null || need+=(libfreetype6-dev)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
# The fetch scripts download the model, texts and reference sources from PyPI with pip, into venvs.
command -v python3 >/dev/null || need+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) first" >&2; exit 1; }
echo "setup: build dependencies present" >&2
