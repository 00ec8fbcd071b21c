//! llama.cpp's eval callback (`cb_eval`): the one `extern "C"` entry that hands each scheduled graph
//! node to a Rust handler, and reading a computed node's elements. The handlers turn nodes into
//! safe views: matrix-multiplication inputs (`observe`), named hidden states (`tap`).

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use llama_cpp_sys_2 as sys;

/// What llama.cpp's eval callback does with each graph node, as a context's callback user data.
pub(crate) trait NodeHandler {
    /// `ask`: the node is about to be scheduled; the answer is whether to hand it back once
    /// computed. Otherwise the node has been computed; the answer is whether the graph goes on.
    ///
    /// # Safety
    /// `t` is the node llama.cpp is scheduling, with its sources; when `ask` is false it has been
    /// computed and its data stays untouched until this returns.
    unsafe fn node(&mut self, t: &sys::ggml_tensor, ask: bool) -> bool;
}

/// A handler of any kind, boxed twice so that the inner box has a fixed address to hand to C.
pub(crate) type BoxedHandler = Box<Box<dyn NodeHandler + Send>>;

impl NodeHandler for Box<dyn NodeHandler + Send> {
    unsafe fn node(&mut self, t: &sys::ggml_tensor, ask: bool) -> bool {
        // SAFETY (caller): forwarded unchanged.
        unsafe { (**self).node(t, ask) }
    }
}

/// Points the eval callback of context parameters `p` at `handler`, which must stay where it is
/// (boxed) for as long as the context lives.
pub(crate) fn install<H: NodeHandler>(p: &mut sys::llama_context_params, handler: &mut H) {
    p.cb_eval = Some(trampoline::<H>);
    p.cb_eval_user_data = (handler as *mut H).cast::<c_void>();
}

/// The `cb_eval` of a context whose `cb_eval_user_data` points to an `H`.
unsafe extern "C" fn trampoline<H: NodeHandler>(
    t: *mut sys::ggml_tensor,
    ask: bool,
    user: *mut c_void,
) -> bool {
    if t.is_null() || user.is_null() {
        return false;
    }
    // SAFETY: llama.cpp passes the node being scheduled and the context's boxed handler as user
    // data (the context owns the box and frees the context first).
    let result = catch_unwind(AssertUnwindSafe(|| unsafe {
        (*user.cast::<H>()).node(&*t, ask)
    }));
    // A panic must not unwind into C: stop the graph instead.
    result.unwrap_or(false)
}

/// A computed tensor's elements (f32 activations, i32 expert ids): read in place from host
/// memory (the CPU case, where copying every multiplication's input would be a noticeable share
/// of an importance-matrix run), else copied into `out`.
///
/// # Safety
/// `t` is a live tensor whose data is computed and stays untouched while the callback runs.
pub(crate) unsafe fn tensor_data<T: Copy + Default>(
    t: *const sys::ggml_tensor,
    out: &mut Vec<T>,
) -> &[T] {
    // SAFETY (caller): see above; host data is read only if aligned for T, else out is resized to
    // hold it all.
    unsafe {
        let nbytes = sys::ggml_nbytes(t);
        let size = std::mem::size_of::<T>();
        let data = (*t).data;
        let on_host = !(*t).buffer.is_null() && sys::ggml_backend_buffer_is_host((*t).buffer);
        if on_host && !data.is_null() && data.align_offset(std::mem::align_of::<T>()) == 0 {
            return std::slice::from_raw_parts(data.cast::<T>(), nbytes / size);
        }
        out.clear();
        out.resize(nbytes.div_ceil(size), T::default());
        sys::ggml_backend_tensor_get(t.cast_mut(), out.as_mut_ptr().cast(), 0, nbytes);
        out
    }
}
