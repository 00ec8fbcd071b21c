//! One matrix multiplication timed through ggml on a compute device: what a measured FLOPs peak is
//! made of. The weight goes into the buffer type llama.cpp's model loader would pick for it (on the
//! CPU, a repacked layout where one exists), so the kernels timed are the ones a model runs.

use std::ffi::CStr;
use std::ptr;
use std::time::Instant;

use anyhow::{bail, Result};
use llama_cpp_sys_2 as sys;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `y = W·x`: `W` has `rows` rows of `cols` weights, `x` is `tokens` columns of `cols` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatMulShape {
    pub rows: usize,
    pub cols: usize,
    pub tokens: usize,
}

impl MatMulShape {
    /// Multiply-adds counted as two FLOPs each.
    pub fn flops(&self) -> f64 {
        2.0 * self.rows as f64 * self.cols as f64 * self.tokens as f64
    }
}

/// Which device runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputeDevice {
    Cpu,
    Gpu,
}

/// Owns what one timing allocates, freed in reverse order however the timing ends.
struct Session {
    backend: sys::ggml_backend_t,
    weight_ctx: *mut sys::ggml_context,
    graph_ctx: *mut sys::ggml_context,
    buffers: Vec<sys::ggml_backend_buffer_t>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or was returned by the matching ggml constructor, once.
        unsafe {
            for &b in self.buffers.iter().rev() {
                if !b.is_null() {
                    sys::ggml_backend_buffer_free(b);
                }
            }
            for ctx in [self.graph_ctx, self.weight_ctx] {
                if !ctx.is_null() {
                    sys::ggml_free(ctx);
                }
            }
            if !self.backend.is_null() {
                sys::ggml_backend_free(self.backend);
            }
        }
    }
}

/// A ggml type's name (`Q4_0`), for messages.
fn type_name(type_id: u32) -> String {
    super::ggml_type_layout(type_id)
        .map(|(_, _, n)| n)
        .unwrap_or_else(|| format!("type {type_id}"))
}

/// Seconds of each of `reps` timed multiplications (after one untimed warm-up), or an error when the
/// device or the type cannot run it.
pub fn time_matmul(
    device: ComputeDevice,
    type_id: u32,
    shape: MatMulShape,
    n_threads: u32,
    reps: u32,
) -> Result<Vec<f64>> {
    super::init();
    let (blck, _, _) = super::ggml_type_layout(type_id)
        .ok_or_else(|| anyhow::anyhow!("ggml does not know type {type_id}"))?;
    if !(shape.cols as u64).is_multiple_of(blck) || shape.rows == 0 || shape.tokens == 0 {
        bail!(
            "a {}x{} {} matrix does not fit the type's blocks",
            shape.rows,
            shape.cols,
            type_name(type_id)
        );
    }
    let weights = quantized_weights(type_id, shape);
    let activations: Vec<f32> = random_values(shape.cols * shape.tokens, 2);
    // SAFETY: every ggml object is created and freed through `Session`; tensors are used only while
    // their contexts and buffers live; data copied in matches the tensors' byte sizes (checked).
    unsafe {
        let dev = sys::ggml_backend_dev_by_type(match device {
            ComputeDevice::Cpu => sys::GGML_BACKEND_DEVICE_TYPE_CPU,
            ComputeDevice::Gpu => sys::GGML_BACKEND_DEVICE_TYPE_GPU,
        });
        if dev.is_null() {
            bail!("this build of llama.cpp has no {device:?} device");
        }
        let mut s = Session {
            backend: sys::ggml_backend_dev_init(dev, ptr::null()),
            weight_ctx: new_context(1),
            graph_ctx: new_context(3),
            buffers: Vec::new(),
        };
        if s.backend.is_null() || s.weight_ctx.is_null() || s.graph_ctx.is_null() {
            bail!("ggml could not start its {device:?} backend");
        }
        if device == ComputeDevice::Cpu {
            sys::ggml_backend_cpu_set_n_threads(s.backend, n_threads.max(1) as i32);
        }
        let (k, m, n) = (shape.cols as i64, shape.rows as i64, shape.tokens as i64);
        let w = sys::ggml_new_tensor_2d(s.weight_ctx, type_id, k, m);
        let x = sys::ggml_new_tensor_2d(s.graph_ctx, sys::GGML_TYPE_F32, k, n);
        let y = sys::ggml_mul_mat(s.graph_ctx, w, x);
        let graph = sys::ggml_new_graph(s.graph_ctx);
        sys::ggml_build_forward_expand(graph, y);

        let weight_buft = weight_buffer_type(dev, y);
        let wbuf = sys::ggml_backend_alloc_ctx_tensors_from_buft(s.weight_ctx, weight_buft);
        s.buffers.push(wbuf);
        let gbuf = sys::ggml_backend_alloc_ctx_tensors(s.graph_ctx, s.backend);
        s.buffers.push(gbuf);
        if wbuf.is_null() || gbuf.is_null() {
            bail!(
                "ggml could not allocate a {}x{} matrix",
                shape.rows,
                shape.cols
            );
        }
        if sys::ggml_nbytes(w) != weights.len() || sys::ggml_nbytes(x) != activations.len() * 4 {
            bail!(
                "ggml's size of a {} matrix differs from ours",
                type_name(type_id)
            );
        }
        // A backend aborts the process on an operation it does not support: ask first.
        if !sys::ggml_backend_dev_supports_op(dev, y) {
            bail!("{device:?} cannot multiply {} weights", type_name(type_id));
        }
        sys::ggml_backend_tensor_set(w, weights.as_ptr().cast(), 0, weights.len());
        sys::ggml_backend_tensor_set(x, activations.as_ptr().cast(), 0, activations.len() * 4);

        let mut seconds = Vec::with_capacity(reps as usize);
        for i in 0..=reps {
            crate::util::check_interrupted()?;
            let t0 = Instant::now();
            if sys::ggml_backend_graph_compute(s.backend, graph) != sys::GGML_STATUS_SUCCESS {
                bail!("ggml failed to multiply a {} matrix", type_name(type_id));
            }
            sys::ggml_backend_synchronize(s.backend);
            if i > 0 {
                seconds.push(t0.elapsed().as_secs_f64());
            }
        }
        Ok(seconds)
    }
}

/// A context for `n_tensors` tensor headers and one graph, with no tensor data of its own.
unsafe fn new_context(n_tensors: usize) -> *mut sys::ggml_context {
    sys::ggml_init(sys::ggml_init_params {
        mem_size: n_tensors * sys::ggml_tensor_overhead() + sys::ggml_graph_overhead(),
        mem_buffer: ptr::null_mut(),
        no_alloc: true,
    })
}

/// The first of the device's extra buffer types (the CPU's repacked layouts) that supports this
/// multiplication, as llama.cpp's loader chooses; else the device's default buffer type.
unsafe fn weight_buffer_type(
    dev: sys::ggml_backend_dev_t,
    op: *mut sys::ggml_tensor,
) -> sys::ggml_backend_buffer_type_t {
    let default = sys::ggml_backend_dev_buffer_type(dev);
    let reg = sys::ggml_backend_dev_backend_reg(dev);
    if reg.is_null() {
        return default;
    }
    let name = c"ggml_backend_dev_get_extra_bufts";
    let proc_addr = sys::ggml_backend_reg_get_proc_address(reg, name.as_ptr());
    if proc_addr.is_null() {
        return default;
    }
    let get_extra: unsafe extern "C" fn(
        sys::ggml_backend_dev_t,
    ) -> *mut sys::ggml_backend_buffer_type_t = std::mem::transmute(proc_addr);
    let mut list = get_extra(dev);
    let weight = (*op).src[0];
    while !list.is_null() && !(*list).is_null() {
        let buft = *list;
        let probe = sys::ggml_backend_buft_alloc_buffer(buft, 0);
        if !probe.is_null() {
            (*weight).buffer = probe;
            let ok = sys::ggml_backend_dev_supports_op(dev, op);
            (*weight).buffer = ptr::null_mut();
            sys::ggml_backend_buffer_free(probe);
            if ok {
                return buft;
            }
        }
        list = list.add(1);
    }
    default
}

/// Name of the buffer type a weight of this type would be timed in (`CPU_REPACK`, `CPU`, ...).
pub fn weight_buffer_name(device: ComputeDevice, type_id: u32, shape: MatMulShape) -> String {
    super::init();
    // SAFETY: a throwaway context holds the probe tensors; it is freed before returning.
    unsafe {
        let dev = sys::ggml_backend_dev_by_type(match device {
            ComputeDevice::Cpu => sys::GGML_BACKEND_DEVICE_TYPE_CPU,
            ComputeDevice::Gpu => sys::GGML_BACKEND_DEVICE_TYPE_GPU,
        });
        let fits = super::ggml_type_layout(type_id)
            .is_some_and(|(blck, _, _)| (shape.cols as u64).is_multiple_of(blck));
        if dev.is_null() || !fits || shape.rows == 0 || shape.tokens == 0 {
            return String::new();
        }
        let ctx = new_context(3);
        if ctx.is_null() {
            return String::new();
        }
        let (k, m, n) = (shape.cols as i64, shape.rows as i64, shape.tokens as i64);
        let w = sys::ggml_new_tensor_2d(ctx, type_id, k, m);
        let x = sys::ggml_new_tensor_2d(ctx, sys::GGML_TYPE_F32, k, n);
        let y = sys::ggml_mul_mat(ctx, w, x);
        let buft = weight_buffer_type(dev, y);
        let name = sys::ggml_backend_buft_name(buft);
        let name = if name.is_null() {
            String::new()
        } else {
            CStr::from_ptr(name).to_string_lossy().into_owned()
        };
        sys::ggml_free(ctx);
        name
    }
}

/// Rows of random weights quantized by ggml itself; the speed of a multiplication does not depend
/// on the values, so a few rows are quantized and repeated.
const QUANTIZED_ROWS: usize = 16;

/// Random weights in `type_id`'s layout, through ggml's own quantizer (with a flat importance
/// matrix for the types that need one).
fn quantized_weights(type_id: u32, shape: MatMulShape) -> Vec<u8> {
    let n_rows = shape.rows.min(QUANTIZED_ROWS);
    let values = random_values(n_rows * shape.cols, 1);
    let importance = vec![1.0f32; shape.cols];
    // SAFETY: ggml_row_size gives the bytes of one row and `tile` holds n_rows of them; the
    // importance matrix has one value per column, as ggml reads it.
    let (row, tile) = unsafe {
        let row = sys::ggml_row_size(type_id, shape.cols as i64);
        let mut tile = vec![0u8; row * n_rows];
        sys::ggml_quantize_chunk(
            type_id,
            values.as_ptr(),
            tile.as_mut_ptr().cast(),
            0,
            n_rows as i64,
            shape.cols as i64,
            importance.as_ptr(),
        );
        (row, tile)
    };
    let mut out = Vec::with_capacity(row * shape.rows);
    while out.len() < row * shape.rows {
        let take = (row * shape.rows - out.len()).min(tile.len());
        out.extend_from_slice(&tile[..take]);
    }
    out
}

/// Seconds ggml's quantizer takes for `rows` rows of `cols` random weights in `type_id`, on one
/// thread, with or without an importance matrix (the K-quants search harder with one).
pub fn time_quantize(type_id: u32, rows: usize, cols: usize, importance: bool) -> Result<f64> {
    super::init();
    let (blck, _, _) = super::ggml_type_layout(type_id)
        .ok_or_else(|| anyhow::anyhow!("ggml does not know type {type_id}"))?;
    if !(cols as u64).is_multiple_of(blck) || rows == 0 {
        bail!(
            "{rows}x{cols} weights do not fit {}'s blocks",
            type_name(type_id)
        );
    }
    // SAFETY: a lookup in ggml's static table of types, for an id ggml knows (checked above).
    if !importance && unsafe { sys::ggml_quantize_requires_imatrix(type_id) } {
        bail!(
            "{} cannot be made without an importance matrix",
            type_name(type_id)
        );
    }
    let values = random_values(rows * cols, 3);
    let weights = vec![1.0f32; cols];
    // SAFETY: `out` holds `rows` rows of ggml_row_size bytes, as ggml_quantize_chunk writes them;
    // the importance matrix has one value per column.
    unsafe {
        let row = sys::ggml_row_size(type_id, cols as i64);
        let mut out = vec![0u8; row * rows];
        sys::ggml_quantize_init(type_id);
        // The better of two: the first pays for touching the buffers.
        let mut best = f64::INFINITY;
        for _ in 0..2 {
            let t0 = Instant::now();
            sys::ggml_quantize_chunk(
                type_id,
                values.as_ptr(),
                out.as_mut_ptr().cast(),
                0,
                rows as i64,
                cols as i64,
                if importance {
                    weights.as_ptr()
                } else {
                    ptr::null()
                },
            );
            best = best.min(t0.elapsed().as_secs_f64());
        }
        Ok(best)
    }
}

fn random_values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quantizer_is_timed_and_types_that_need_an_importance_matrix_are_refused_without_one() {
        for t in [
            sys::GGML_TYPE_Q4_K,
            sys::GGML_TYPE_Q8_0,
            sys::GGML_TYPE_IQ2_XXS,
        ] {
            assert!(time_quantize(t, 4, 256, true).unwrap() > 0.0);
        }
        assert!(time_quantize(sys::GGML_TYPE_Q4_K, 4, 256, false).unwrap() > 0.0);
        let e = time_quantize(sys::GGML_TYPE_IQ2_XXS, 4, 256, false).unwrap_err();
        assert!(e.to_string().contains("importance matrix"), "{e}");
        assert!(time_quantize(sys::GGML_TYPE_Q4_K, 4, 100, true).is_err());
    }

    #[test]
    fn a_small_multiplication_runs_on_the_cpu_for_common_types() {
        let shape = MatMulShape {
            rows: 64,
            cols: 256,
            tokens: 8,
        };
        for t in [
            sys::GGML_TYPE_F32,
            sys::GGML_TYPE_F16,
            sys::GGML_TYPE_Q8_0,
            sys::GGML_TYPE_Q4_0,
            sys::GGML_TYPE_Q4_K,
        ] {
            let s = time_matmul(ComputeDevice::Cpu, t, shape, 1, 2).unwrap();
            assert_eq!(s.len(), 2);
            assert!(s.iter().all(|&v| v > 0.0), "{s:?}");
        }
    }

    #[test]
    fn types_that_need_an_importance_matrix_run_and_shapes_that_do_not_fit_are_refused() {
        let shape = MatMulShape {
            rows: 40,
            cols: 256,
            tokens: 1,
        };
        let s = time_matmul(ComputeDevice::Cpu, sys::GGML_TYPE_IQ2_XXS, shape, 1, 1).unwrap();
        assert_eq!(s.len(), 1);
        let odd = MatMulShape { cols: 100, ..shape };
        let e = time_matmul(ComputeDevice::Cpu, sys::GGML_TYPE_Q4_K, odd, 1, 1).unwrap_err();
        assert!(e.to_string().contains("blocks"), "{e}");
    }
}
