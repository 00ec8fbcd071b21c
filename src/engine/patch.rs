//! A loaded model whose weight tensors can be rewritten between decodes: what measuring one tensor's
//! quantization cost on the running model needs (the model is loaded once, a tensor is replaced by
//! its quantized-and-dequantized values, the text is decoded, the original is put back).
//!
//! llama.cpp has no public call that returns a model's tensors, so they are found the way the graph
//! uses them: one decode with an eval callback records every source tensor that lives in a weight
//! buffer. The model is loaded without a memory map, so those buffers are writable copies.

use std::collections::HashMap;
use std::ffi::CStr;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use anyhow::{bail, ensure, Context as _, Result};
use llama_cpp_sys_2 as sys;
use rayon::prelude::*;

use super::context::{Batch, Context, ContextOptions};
use super::eval_callback::NodeHandler;
use super::model::{Model, ModelOptions};

/// One weight tensor of the loaded model.
struct WeightSlot {
    tensor: NonNull<sys::ggml_tensor>,
    ggml_type: u32,
    n_elements: usize,
}

/// A model loaded for in-place weight edits, with one inference context on it.
pub struct PatchableModel {
    // Declared first so it is dropped before the model it points into.
    ctx: Context<'static>,
    model: Box<Model>,
    weights: HashMap<String, WeightSlot>,
}

// SAFETY: the tensor pointers are only dereferenced through &mut self, on one thread at a time.
unsafe impl Send for PatchableModel {}

impl PatchableModel {
    /// Loads `path` (no memory map), finds its weight tensors and opens a context with `opts`.
    pub fn load(path: &Path, n_gpu_layers: u32, opts: &ContextOptions) -> Result<Self> {
        let model = Box::new(Model::load(
            path,
            &ModelOptions {
                n_gpu_layers,
                use_mmap: false,
            },
        )?);
        let weights = find_weights(&model)?;
        let ctx = Context::new(&model, opts)?;
        // SAFETY: the context borrows the boxed model, whose address never changes; the struct
        // drops the context first, and never hands the 'static lifetime out (see with_context).
        let ctx = unsafe { std::mem::transmute::<Context<'_>, Context<'static>>(ctx) };
        Ok(Self {
            ctx,
            model,
            weights,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The ggml type a weight is stored in, if the model has a weight of that name.
    pub fn weight_type(&self, name: &str) -> Option<u32> {
        self.weights.get(name).map(|w| w.ggml_type)
    }

    /// Runs `f` with the model's context. The context cannot leave `f`, so no decode can overlap a
    /// weight edit (which takes `&mut self` too).
    pub fn with_context<R>(&mut self, f: impl for<'a> FnOnce(&'a mut Context<'a>) -> R) -> R {
        // SAFETY: shortening the context's lifetime to this borrow of self; see load.
        let ctx = unsafe { &mut *(&mut self.ctx as *mut Context<'static>).cast::<Context<'_>>() };
        f(ctx)
    }

    /// Replaces weight `name` with `values` (row-major, as the file stores it), converted to the
    /// tensor's own type (F32, F16 or BF16).
    pub fn set_weight(&mut self, name: &str, values: &[f32]) -> Result<()> {
        let slot = self
            .weights
            .get(name)
            .with_context(|| format!("the model has no weight tensor named {name}"))?;
        ensure!(
            values.len() == slot.n_elements,
            "weight {name} has {} elements, {} given",
            slot.n_elements,
            values.len()
        );
        let bytes: Vec<u8> = match slot.ggml_type {
            sys::GGML_TYPE_F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            sys::GGML_TYPE_F16 | sys::GGML_TYPE_BF16 => {
                let mut out = vec![0u16; values.len()];
                // SAFETY: both buffers hold values.len() elements.
                unsafe {
                    if slot.ggml_type == sys::GGML_TYPE_F16 {
                        sys::ggml_fp32_to_fp16_row(values.as_ptr(), out.as_mut_ptr(), out.len() as i64);
                    } else {
                        sys::ggml_fp32_to_bf16_row(
                            values.as_ptr(),
                            out.as_mut_ptr().cast(),
                            out.len() as i64,
                        );
                    }
                }
                out.iter().flat_map(|v| v.to_le_bytes()).collect()
            }
            other => bail!(
                "weight {name} is stored as {}; weights can only be rewritten in an F32, F16 or BF16 model",
                super::ggml_types::type_name(other)
            ),
        };
        // SAFETY: the tensor is a live weight of self.model with exactly this many bytes (its
        // element count and type were checked), and no decode runs while &mut self is held.
        unsafe {
            let t = slot.tensor.as_ptr();
            ensure!(
                sys::ggml_nbytes(t) == bytes.len(),
                "weight {name}: size mismatch"
            );
            sys::ggml_backend_tensor_set(t, bytes.as_ptr().cast(), 0, bytes.len());
        }
        Ok(())
    }
}

/// Decodes one token with a callback that records every source tensor living in a weight buffer.
fn find_weights(model: &Model) -> Result<HashMap<String, WeightSlot>> {
    let found = Arc::new(Mutex::new(Vec::new()));
    let capture = WeightCapture {
        found: Arc::clone(&found),
    };
    {
        let mut ctx = Context::create(
            model,
            &ContextOptions::new(8, 8, 1),
            Some(Box::new(Box::new(capture))),
        )?;
        let mut batch = Batch::new(1, 1);
        batch.add(model.bos().max(0), 0, &[0], true)?;
        ctx.decode(&mut batch)?;
    }
    let found = std::mem::take(&mut *found.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let mut weights = HashMap::new();
    for (name, addr) in found {
        let Some(tensor) = NonNull::new(addr as *mut sys::ggml_tensor) else {
            continue;
        };
        // SAFETY: the address is a weight tensor of `model`, which outlives this read.
        let (ggml_type, n_elements) = unsafe {
            let t = tensor.as_ptr();
            ((*t).type_, sys::ggml_nelements(t).max(0) as usize)
        };
        weights.insert(
            name,
            WeightSlot {
                tensor,
                ggml_type,
                n_elements,
            },
        );
    }
    Ok(weights)
}

/// Records (name, address) of the weight tensors the graph reads.
struct WeightCapture {
    found: Arc<Mutex<Vec<(String, usize)>>>,
}

impl NodeHandler for WeightCapture {
    unsafe fn node(&mut self, t: &sys::ggml_tensor, ask: bool) -> bool {
        if !ask {
            return true;
        }
        let Ok(mut found) = self.found.lock() else {
            return false;
        };
        for &src in t.src.iter().filter(|s| !s.is_null()) {
            // SAFETY (caller): the node's sources are live tensors of the graph or the model.
            unsafe {
                // A view of a weight (some graphs slice one) stands for the weight itself.
                let src = if (*src).view_src.is_null() {
                    src
                } else {
                    (*src).view_src
                };
                let buffer = (*src).buffer;
                if buffer.is_null()
                    || sys::ggml_backend_buffer_get_usage(buffer)
                        != sys::GGML_BACKEND_BUFFER_USAGE_WEIGHTS
                {
                    continue;
                }
                let name = CStr::from_ptr((*src).name.as_ptr()).to_string_lossy();
                found.push((name.into_owned(), src as usize));
            }
        }
        false
    }
}

/// `values` (rows of `n_per_row`) quantized to ggml type `ggml_type` exactly as llama.cpp's quantizer
/// does it (`ggml_quantize_chunk`, with the importance values of one matrix if given), then
/// dequantized back to f32.
pub fn quantize_roundtrip(
    ggml_type: u32,
    values: &[f32],
    n_per_row: usize,
    imatrix: Option<&[f32]>,
) -> Result<Vec<f32>> {
    ensure!(
        ggml_type < sys::GGML_TYPE_COUNT,
        "unknown ggml type {ggml_type}"
    );
    // SAFETY: plain queries of ggml's type table for a valid type id.
    let (traits, block, needs_imatrix) = unsafe {
        (
            &*sys::ggml_get_type_traits(ggml_type),
            sys::ggml_blck_size(ggml_type).max(1) as usize,
            sys::ggml_quantize_requires_imatrix(ggml_type),
        )
    };
    let name = super::ggml_types::type_name(ggml_type);
    let Some(to_float) = traits.to_float else {
        bail!("ggml type {name} cannot be converted back to f32");
    };
    ensure!(
        n_per_row > 0 && n_per_row.is_multiple_of(block) && values.len().is_multiple_of(n_per_row),
        "rows of {n_per_row} values cannot be stored as {name} (blocks of {block})"
    );
    ensure!(
        !needs_imatrix || imatrix.is_some(),
        "{name} needs an importance matrix"
    );
    if let Some(im) = imatrix {
        ensure!(
            im.len() == n_per_row,
            "importance matrix has {} values per row, the tensor {n_per_row}",
            im.len()
        );
    }
    // SAFETY: ggml_quantize_init builds the lookup tables some types need; not thread-safe, so
    // called here once before the parallel rows.
    unsafe { sys::ggml_quantize_init(ggml_type) };
    let row_bytes = unsafe { sys::ggml_row_size(ggml_type, n_per_row as i64) };
    let rows_per_job = (1 << 16) / n_per_row + 1;
    let mut out = vec![0f32; values.len()];
    out.par_chunks_mut(rows_per_job * n_per_row)
        .zip(values.par_chunks(rows_per_job * n_per_row))
        .for_each(|(dst, src)| {
            let nrows = src.len() / n_per_row;
            let mut packed = vec![0u8; nrows * row_bytes];
            let im = imatrix.map_or(std::ptr::null(), |v| v.as_ptr());
            // SAFETY: src holds nrows·n_per_row floats, packed nrows·row_bytes bytes, dst as many
            // floats as src; the type's tables were initialised above.
            unsafe {
                sys::ggml_quantize_chunk(
                    ggml_type,
                    src.as_ptr(),
                    packed.as_mut_ptr().cast(),
                    0,
                    nrows as i64,
                    n_per_row as i64,
                    im,
                );
                to_float(packed.as_ptr().cast(), dst.as_mut_ptr(), dst.len() as i64);
            }
        });
    Ok(out)
}
