//! The one module that talks to llama.cpp, and the only place with `unsafe`: the FFI, and the memory
//! map of a GGUF file ([`open_gguf`], which needs nothing of llama.cpp).
//!
//! Everything above it (quantization, measurement, sweeps) works with the safe types here.

mod backend;
pub mod build_info;
mod ggml_types;

mod context;
mod eval_callback;
#[cfg(wrap_iq4)]
mod iq4;
pub mod log;
pub mod matmul_bench;
mod mmap;
mod model;
pub mod observe;
mod patch;
mod qsort;
mod quantize;
pub mod tap;

pub use backend::{backend_names, devices, init, system_info, DeviceInfo, DeviceKind};
pub use context::{Batch, Context, ContextOptions};
pub use ggml_types::{ftype_name, ggml_type_layout};
pub use log::{set_verbose, verbose};
pub use mmap::open_gguf;
pub use model::{Model, ModelOptions, Token};
pub use observe::{MatMul, MatMulObserver, MatMulOp};
pub use patch::{quantize_roundtrip, PatchableModel};
pub use quantize::{quantize, KvOverride, QuantizeJob};
pub use tap::{NamedTensor, TensorObserver};
