//! llama.cpp's eval callback, turned into a safe view of named graph nodes (`embd`, `l_out-5`, …):
//! the hidden states between transformer blocks, which block-importance scores need.
//!
//! The graph names a node `NAME-IL` for layer `IL` (llama_context::graph_get_cb), e.g. `l_out-3` is
//! the residual stream after block 3 and `embd` the token embeddings that enter block 0.

use std::ffi::CStr;

use llama_cpp_sys_2 as sys;

use super::eval_callback::{tensor_data, NodeHandler};

/// One computed F32 node. Shapes use ggml's order: `ne[0]` is the row length (the embedding width),
/// `ne[1]` the tokens.
pub struct NamedTensor<'a> {
    pub name: &'a str,
    pub ne: [i64; 4],
    data: &'a [f32],
    nb: [usize; 4],
}

impl NamedTensor<'_> {
    /// Row `(i1, i2, i3)`: `ne[0]` floats (empty if out of range).
    pub fn row(&self, i1: i64, i2: i64, i3: i64) -> &[f32] {
        if [i1, i2, i3].iter().any(|&i| i < 0)
            || i1 >= self.ne[1]
            || i2 >= self.ne[2]
            || i3 >= self.ne[3]
        {
            return &[];
        }
        let off =
            (i1 as usize * self.nb[1] + i2 as usize * self.nb[2] + i3 as usize * self.nb[3]) / 4;
        let len = self.ne[0].max(0) as usize;
        self.data.get(off..off + len).unwrap_or(&[])
    }

    /// Rows in all (`ne[1] * ne[2] * ne[3]`).
    pub fn n_rows(&self) -> i64 {
        self.ne[1] * self.ne[2] * self.ne[3]
    }

    /// Row `i` counting over the three outer dimensions in order.
    pub fn flat_row(&self, i: i64) -> &[f32] {
        let (n1, n2) = (self.ne[1].max(1), self.ne[2].max(1));
        self.row(i % n1, (i / n1) % n2, i / (n1 * n2))
    }
}

/// Receives named graph nodes during decode.
pub trait TensorObserver: Send {
    /// Asked for every node before it is computed: does the observer want its values?
    /// Only F32 nodes are ever handed over.
    fn wants(&mut self, name: &str, ne: [i64; 4]) -> bool;
    fn observe(&mut self, t: &NamedTensor<'_>);
}

pub(crate) struct TapSlot {
    observer: Box<dyn TensorObserver>,
    buf: Vec<f32>,
}

impl TapSlot {
    pub(crate) fn new(observer: Box<dyn TensorObserver>) -> Self {
        Self {
            observer,
            buf: Vec::new(),
        }
    }
}

impl NodeHandler for TapSlot {
    unsafe fn node(&mut self, t: &sys::ggml_tensor, ask: bool) -> bool {
        if t.type_ != sys::GGML_TYPE_F32 {
            return !ask;
        }
        // SAFETY (caller): `t` is a live node; when `ask` is false it has been computed, so its
        // bytes (host or device) can be read.
        unsafe {
            let name = CStr::from_ptr(t.name.as_ptr()).to_string_lossy();
            if ask {
                return self.observer.wants(&name, t.ne);
            }
            let view = NamedTensor {
                name: &name,
                ne: t.ne,
                data: tensor_data(t, &mut self.buf),
                nb: t.nb,
            };
            self.observer.observe(&view);
            true
        }
    }
}
