//! llama.cpp's quantizer (`llama_model_quantize`), called in-process with llama-quantize's options.

use std::ffi::{c_char, CString};
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use llama_cpp_sys_2 as sys;

use super::model::path_cstring;

/// A metadata override written into the output (llama-quantize records the imatrix this way).
#[derive(Debug, Clone)]
pub enum KvOverride {
    Int(String, i64),
    Str(String, String),
}

#[derive(Debug, Clone, Default)]
pub struct QuantizeJob {
    /// llama.cpp `llama_ftype` id of the target.
    pub ftype: u32,
    pub n_threads: u32,
    /// ggml type id for `output.weight`, if forced.
    pub output_tensor_type: Option<u32>,
    /// ggml type id for the token embedding, if forced.
    pub token_embedding_type: Option<u32>,
    pub allow_requantize: bool,
    /// false = `--leave-output-tensor`.
    pub quantize_output_tensor: bool,
    pub pure: bool,
    pub dry_run: bool,
    /// Per weight name, the importance values (already divided by counts, as llama-quantize does).
    pub imatrix: Vec<(String, Vec<f32>)>,
    pub kv_overrides: Vec<KvOverride>,
    /// (regex pattern over tensor names, ggml type id), as `--tensor-type`.
    pub tensor_types: Vec<(String, u32)>,
    pub prune_layers: Vec<i32>,
}

/// Runs the quantizer from `input` to `output`. The caller owns atomicity (pass a temporary path).
pub fn quantize(input: &Path, output: &Path, job: &QuantizeJob) -> Result<()> {
    super::init();
    let inp = path_cstring(input)?;
    let out = path_cstring(output)?;

    // Keep every C string and array alive until the call returns.
    let names: Vec<CString> = job
        .imatrix
        .iter()
        .map(|(n, _)| CString::new(n.as_str()))
        .collect::<Result<_, _>>()
        .context("imatrix tensor name contains a NUL byte")?;
    let mut imatrix: Vec<sys::llama_model_imatrix_data> = job
        .imatrix
        .iter()
        .zip(&names)
        .map(|((_, v), n)| sys::llama_model_imatrix_data {
            name: n.as_ptr(),
            data: v.as_ptr(),
            size: v.len(),
        })
        .collect();
    imatrix.push(sys::llama_model_imatrix_data {
        name: std::ptr::null(),
        data: std::ptr::null(),
        size: 0,
    });

    let patterns: Vec<CString> = job
        .tensor_types
        .iter()
        .map(|(p, _)| CString::new(p.as_str()))
        .collect::<Result<_, _>>()
        .context("tensor-type pattern contains a NUL byte")?;
    let mut overrides: Vec<sys::llama_model_tensor_override> = job
        .tensor_types
        .iter()
        .zip(&patterns)
        .map(|((_, t), p)| sys::llama_model_tensor_override {
            pattern: p.as_ptr(),
            type_: *t,
        })
        .collect();
    overrides.push(sys::llama_model_tensor_override {
        pattern: std::ptr::null(),
        type_: sys::GGML_TYPE_COUNT,
    });

    let mut kvs: Vec<sys::llama_model_kv_override> = job
        .kv_overrides
        .iter()
        .map(kv_override)
        .collect::<Result<_>>()?;
    // SAFETY: an all-zero override (empty key) is the array terminator llama.cpp looks for.
    kvs.push(unsafe { std::mem::zeroed() });

    let mut prune = job.prune_layers.clone();
    prune.push(-1);

    // SAFETY: default params are plain data; every pointer stored below points into a vector
    // or C string that lives until the end of this function, after the call returns.
    let rc = unsafe {
        let mut p = sys::llama_model_quantize_default_params();
        p.nthread = job.n_threads as i32;
        p.ftype = job.ftype;
        if let Some(t) = job.output_tensor_type {
            p.output_tensor_type = t;
        }
        if let Some(t) = job.token_embedding_type {
            p.token_embedding_type = t;
        }
        p.allow_requantize = job.allow_requantize;
        p.quantize_output_tensor = job.quantize_output_tensor;
        p.pure_ = job.pure;
        p.dry_run = job.dry_run;
        if !job.imatrix.is_empty() {
            p.imatrix = imatrix.as_ptr();
        }
        if !job.kv_overrides.is_empty() {
            p.kv_overrides = kvs.as_ptr();
        }
        if !job.tensor_types.is_empty() {
            p.tt_overrides = overrides.as_ptr();
        }
        if !job.prune_layers.is_empty() {
            p.prune_layers = prune.as_ptr();
        }
        sys::llama_model_quantize(inp.as_ptr(), out.as_ptr(), &p)
    };
    if rc != 0 {
        let why =
            super::log::take_last_error().unwrap_or_else(|| "see -v for llama.cpp's log".into());
        bail!("{}: llama.cpp quantization failed ({why})", input.display());
    }
    Ok(())
}

fn kv_override(kv: &KvOverride) -> Result<sys::llama_model_kv_override> {
    // SAFETY: the struct is plain data; all-zero is a valid starting value.
    let mut o: sys::llama_model_kv_override = unsafe { std::mem::zeroed() };
    let key = match kv {
        KvOverride::Int(k, v) => {
            o.tag = sys::LLAMA_KV_OVERRIDE_TYPE_INT;
            o.__bindgen_anon_1.val_i64 = *v;
            k
        }
        KvOverride::Str(k, v) => {
            o.tag = sys::LLAMA_KV_OVERRIDE_TYPE_STR;
            // Like llama-quantize: at most 127 bytes, NUL-terminated.
            // SAFETY: writing the string member of a zeroed union.
            copy_c_chars(unsafe { &mut o.__bindgen_anon_1.val_str }, v);
            k
        }
    };
    if key.len() >= 128 {
        bail!("metadata key '{key}' is longer than llama.cpp's 127 bytes");
    }
    copy_c_chars(&mut o.key, key);
    Ok(o)
}

fn copy_c_chars(dst: &mut [c_char; 128], s: &str) {
    for (d, b) in dst.iter_mut().zip(s.bytes().take(127)) {
        *d = b as c_char;
    }
}
