//! The one module that talks to llama.cpp, and the only place with `unsafe`.
//!
//! Everything above it (quantization, measurement, sweeps) works with the safe types here.

pub mod build_info;
pub mod mmap;

use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Shows llama.cpp's own log (otherwise only its errors are kept, for our error messages).
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::SeqCst);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::SeqCst)
}

/// Block size (elements), block size in bytes and name of a ggml type, as llama.cpp itself reports
/// them; `None` for ids it does not know or has retired.
pub fn ggml_type_layout(type_id: u32) -> Option<(u64, u64, String)> {
    if type_id >= llama_cpp_sys_2::GGML_TYPE_COUNT {
        return None;
    }
    // SAFETY: the id is below GGML_TYPE_COUNT, so it indexes ggml's static type-traits table.
    let (blck, size, name) = unsafe {
        let blck = llama_cpp_sys_2::ggml_blck_size(type_id);
        let size = llama_cpp_sys_2::ggml_type_size(type_id);
        let name = llama_cpp_sys_2::ggml_type_name(type_id);
        let name = if name.is_null() {
            String::new()
        } else {
            CStr::from_ptr(name).to_string_lossy().into_owned()
        };
        (blck, size, name)
    };
    if blck <= 0 || size == 0 {
        return None;
    }
    Some((blck as u64, size as u64, name))
}

mod context;
mod eval_callback;
#[cfg(wrap_iq4)]
mod iq4;
pub mod log;
mod model;
pub mod observe;
mod qsort;
mod quantize;
pub mod tap;

pub use context::{Batch, Context, ContextOptions};
pub use model::{Model, ModelOptions, Token};
pub use observe::{MatMul, MatMulObserver, MatMulOp};
pub use quantize::{quantize, KvOverride, QuantizeJob};
pub use tap::{NamedTensor, TensorObserver};

static BACKEND: std::sync::OnceLock<Option<llama_cpp_2::llama_backend::LlamaBackend>> =
    std::sync::OnceLock::new();

/// Initialises llama.cpp once per process (backends, log routing). Called by every entry point.
pub fn init() {
    BACKEND.get_or_init(|| {
        log::install();
        // Fails only if something else initialised llama.cpp already, which is just as good.
        let backend = llama_cpp_2::llama_backend::LlamaBackend::init().ok();
        log::install();
        backend
    });
}

/// llama.cpp's description of the CPU features and backends it runs with.
pub fn system_info() -> String {
    init();
    // SAFETY: returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(llama_cpp_sys_2::llama_print_system_info()) }
        .to_string_lossy()
        .into_owned()
}

/// llama.cpp's own name for a file type, e.g. `Q4_K - Medium`.
pub fn ftype_name(ftype: u32) -> String {
    // SAFETY: llama_ftype_name returns a static string for any value ("unknown, may not work" otherwise).
    unsafe { CStr::from_ptr(llama_cpp_sys_2::llama_ftype_name(ftype)) }
        .to_string_lossy()
        .into_owned()
}

/// Kind of a compute device llama.cpp can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Cpu,
    Gpu,
    IntegratedGpu,
    Accelerator,
    Other,
}

/// A compute device as llama.cpp's backend registry describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub name: String,
    pub description: String,
    pub kind: DeviceKind,
    pub memory_free: u64,
    pub memory_total: u64,
}

fn c_string(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null NUL-terminated strings owned by ggml's static registry.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Every device llama.cpp found (what llama-bench reports as `cpu_info` / `gpu_info`).
pub fn devices() -> Vec<DeviceInfo> {
    init();
    // SAFETY: indices below ggml_backend_dev_count name live devices of the static registry;
    // memory queries write two usize values through valid pointers.
    unsafe {
        (0..llama_cpp_sys_2::ggml_backend_dev_count())
            .filter_map(|i| {
                let dev = llama_cpp_sys_2::ggml_backend_dev_get(i);
                if dev.is_null() {
                    return None;
                }
                let kind = match llama_cpp_sys_2::ggml_backend_dev_type(dev) {
                    llama_cpp_sys_2::GGML_BACKEND_DEVICE_TYPE_CPU => DeviceKind::Cpu,
                    llama_cpp_sys_2::GGML_BACKEND_DEVICE_TYPE_GPU => DeviceKind::Gpu,
                    llama_cpp_sys_2::GGML_BACKEND_DEVICE_TYPE_IGPU => DeviceKind::IntegratedGpu,
                    llama_cpp_sys_2::GGML_BACKEND_DEVICE_TYPE_ACCEL => DeviceKind::Accelerator,
                    _ => DeviceKind::Other,
                };
                let (mut free, mut total) = (0usize, 0usize);
                llama_cpp_sys_2::ggml_backend_dev_memory(dev, &mut free, &mut total);
                Some(DeviceInfo {
                    name: c_string(llama_cpp_sys_2::ggml_backend_dev_name(dev)),
                    description: c_string(llama_cpp_sys_2::ggml_backend_dev_description(dev)),
                    kind,
                    memory_free: free as u64,
                    memory_total: total as u64,
                })
            })
            .collect()
    }
}

/// Names of the backend registries other than the CPU's, as llama-bench's `backends` field
/// (`CPU` when there are none).
pub fn backend_names() -> String {
    init();
    // SAFETY: indices below ggml_backend_reg_count name live registries with static names.
    let names: Vec<String> = unsafe {
        (0..llama_cpp_sys_2::ggml_backend_reg_count())
            .map(|i| {
                c_string(llama_cpp_sys_2::ggml_backend_reg_name(
                    llama_cpp_sys_2::ggml_backend_reg_get(i),
                ))
            })
            .filter(|n| n != "CPU")
            .collect()
    };
    if names.is_empty() {
        "CPU".into()
    } else {
        names.join(",")
    }
}
