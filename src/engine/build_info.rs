//! What this binary was built with, recorded by `build.rs`.

/// The llama.cpp this binary carries, e.g. `llama-cpp-sys-2 0.1.160 (llama-cpp-rs 0dd5814c9b06, ggml 0.26.0)`.
pub const LLAMA_REVISION: &str = env!("MPT_LLAMA_REVISION");
/// Backends compiled in, comma-separated (`cpu`, `cpu,cuda`).
pub const BACKENDS: &str = env!("MPT_BACKENDS");
/// `native` when llama.cpp was compiled for this machine's CPU (AVX2 and friends), else `generic`.
pub const TARGET_CPU: &str = env!("MPT_TARGET_CPU");
pub const MPT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The text `mpt-gguf --version` prints after the program name.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nllama.cpp: ",
    env!("MPT_LLAMA_REVISION"),
    "\nbackends: ",
    env!("MPT_BACKENDS"),
    " (target-cpu ",
    env!("MPT_TARGET_CPU"),
    ")"
);

pub fn backends() -> Vec<String> {
    BACKENDS.split(',').map(String::from).collect()
}
