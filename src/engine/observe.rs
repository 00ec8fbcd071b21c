//! llama.cpp's eval callback, turned into a safe view of each matrix multiplication's inputs.

use std::ffi::CStr;

use llama_cpp_sys_2 as sys;

use super::eval_callback::{tensor_data, NodeHandler};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatMulOp {
    /// `GGML_OP_MUL_MAT`: a dense weight times activations.
    Dense,
    /// `GGML_OP_MUL_MAT_ID`: mixture-of-experts weights chosen per token by routing ids.
    Expert,
}

/// One matrix multiplication as llama.cpp computes it: weight `src0`, activations `src1`,
/// and for experts the routing ids `src2`. Shapes use ggml's order (ne[0] is the row length).
pub struct MatMul<'a> {
    pub op: MatMulOp,
    /// The weight tensor's name as the graph names it (may carry `#...#` decorations).
    pub weight_name: &'a str,
    pub weight_ne: [i64; 4],
    pub input_ne: [i64; 4],
    input: &'a [f32],
    input_nb: [usize; 4],
    ids: &'a [i32],
    ids_ne: [i64; 4],
    ids_nb: [usize; 4],
}

impl MatMul<'_> {
    /// Row `(i1, i2, i3)` of the activations: `input_ne[0]` floats.
    pub fn input_row(&self, i1: i64, i2: i64, i3: i64) -> &[f32] {
        let off = (i1 as usize * self.input_nb[1]
            + i2 as usize * self.input_nb[2]
            + i3 as usize * self.input_nb[3])
            / 4;
        let len = self.input_ne[0] as usize;
        self.input.get(off..off + len).unwrap_or(&[])
    }

    /// For experts: the expert chosen in slot `slot` for token `token`.
    pub fn expert_id(&self, slot: i64, token: i64) -> Option<i32> {
        let off = (slot as usize * self.ids_nb[0] + token as usize * self.ids_nb[1]) / 4;
        self.ids.get(off).copied()
    }

    pub fn ids_ne(&self) -> [i64; 4] {
        self.ids_ne
    }
}

/// Receives matrix multiplications during decode.
pub trait MatMulObserver: Send {
    /// Asked before the multiplication is computed: does the observer want its inputs?
    fn wants(
        &mut self,
        op: MatMulOp,
        weight_name: &str,
        input_ne: [i64; 4],
        input_is_f32: bool,
    ) -> bool;
    fn observe(&mut self, mm: &MatMul<'_>);
    /// Asked for every other graph node by name: stop the decode's graph once this node is
    /// computed, because the observer has seen all it needs (llama.cpp leaves what follows, such
    /// as the output head, uncomputed; logits of that decode are then meaningless).
    fn stop_after(&mut self, _node_name: &str) -> bool {
        false
    }
}

pub(crate) struct ObserverSlot {
    observer: Box<dyn MatMulObserver>,
    input: Vec<f32>,
    ids: Vec<i32>,
    /// The node `stop_after` chose was scheduled: end the graph when it is computed.
    stopping: bool,
}

impl ObserverSlot {
    pub(crate) fn new(observer: Box<dyn MatMulObserver>) -> Self {
        Self {
            observer,
            input: Vec::new(),
            ids: Vec::new(),
            stopping: false,
        }
    }
}

impl NodeHandler for ObserverSlot {
    unsafe fn node(&mut self, t: &sys::ggml_tensor, ask: bool) -> bool {
        // SAFETY (caller): `t` and its sources are live nodes of the graph being computed.
        unsafe {
            let op = match t.op {
                sys::GGML_OP_MUL_MAT => MatMulOp::Dense,
                sys::GGML_OP_MUL_MAT_ID => MatMulOp::Expert,
                _ if ask => {
                    let name = CStr::from_ptr(t.name.as_ptr()).to_string_lossy();
                    self.stopping = self.observer.stop_after(&name);
                    return self.stopping;
                }
                // Only the node chosen to stop at is ever handed back computed.
                _ => return !std::mem::take(&mut self.stopping),
            };
            let (src0, src1) = (t.src[0], t.src[1]);
            if src0.is_null() || src1.is_null() {
                return !ask;
            }
            let name = CStr::from_ptr((*src0).name.as_ptr()).to_string_lossy();
            if ask {
                return self.observer.wants(
                    op,
                    &name,
                    (*src1).ne,
                    (*src1).type_ == sys::GGML_TYPE_F32,
                );
            }
            if (*src1).type_ != sys::GGML_TYPE_F32 {
                return true;
            }
            let input = tensor_data(src1, &mut self.input);
            let (mut ids, mut ids_ne, mut ids_nb): (&[i32], _, _) = (&[], [0i64; 4], [0usize; 4]);
            if op == MatMulOp::Expert && !t.src[2].is_null() {
                ids = tensor_data(t.src[2], &mut self.ids);
                ids_ne = (*t.src[2]).ne;
                ids_nb = (*t.src[2]).nb;
            }
            let mm = MatMul {
                op,
                weight_name: &name,
                weight_ne: (*src0).ne,
                input_ne: (*src1).ne,
                input,
                input_nb: (*src1).nb,
                ids,
                ids_ne,
                ids_nb,
            };
            self.observer.observe(&mm);
            true
        }
    }
}
