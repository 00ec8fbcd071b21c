//! An inference context: KV memory, batched decode, logits.

use std::ptr::NonNull;

use anyhow::{bail, ensure, Result};
use llama_cpp_sys_2 as sys;

use super::eval_callback::{self, BoxedHandler};
use super::model::{Model, Token};
use super::observe::{MatMulObserver, ObserverSlot};
use super::tap::{TapSlot, TensorObserver};

#[derive(Debug, Clone)]
pub struct ContextOptions {
    /// Total context over all sequences (llama.cpp's `n_ctx` after `n_parallel` scaling).
    pub n_ctx: u32,
    /// Logical batch: the most tokens one `decode` call may take.
    pub n_batch: u32,
    /// Physical batch.
    pub n_ubatch: u32,
    /// Parallel sequences (perplexity's `n_seq`, multiple-choice's `n_parallel`).
    pub n_seq_max: u32,
    pub n_threads: u32,
    pub n_threads_batch: u32,
    /// One KV buffer shared by all sequences (needed when sequences share a prefix).
    pub kv_unified: bool,
}

impl ContextOptions {
    pub fn new(n_ctx: u32, n_batch: u32, n_threads: u32) -> Self {
        Self {
            n_ctx,
            n_batch,
            n_ubatch: n_batch.min(512),
            n_seq_max: 1,
            n_threads,
            n_threads_batch: n_threads,
            kv_unified: false,
        }
    }
}

pub struct Context<'m> {
    ptr: NonNull<sys::llama_context>,
    model: &'m Model,
    n_vocab: usize,
    // Boxed so its address stays fixed while llama.cpp holds it as callback user data.
    _handler: Option<BoxedHandler>,
}

// SAFETY: the context is used from one thread at a time (&mut self for every mutation).
unsafe impl Send for Context<'_> {}

impl<'m> Context<'m> {
    pub fn new(model: &'m Model, opts: &ContextOptions) -> Result<Self> {
        Self::create(model, opts, None)
    }

    /// A context that hands every matrix multiplication's input activations to `observer`
    /// (llama.cpp's eval callback), as llama-imatrix does.
    pub fn with_observer(
        model: &'m Model,
        opts: &ContextOptions,
        observer: Box<dyn MatMulObserver>,
    ) -> Result<Self> {
        Self::create(
            model,
            opts,
            Some(Box::new(Box::new(ObserverSlot::new(observer)))),
        )
    }

    /// A context that hands the graph nodes `observer` asks for by name (e.g. `l_out-N`, the
    /// hidden state after block N) to it as they are computed.
    pub fn with_tensor_observer(
        model: &'m Model,
        opts: &ContextOptions,
        observer: Box<dyn TensorObserver>,
    ) -> Result<Self> {
        Self::create(
            model,
            opts,
            Some(Box::new(Box::new(TapSlot::new(observer)))),
        )
    }

    /// A context whose eval callback hands every graph node to `handler`.
    pub(crate) fn create(
        model: &'m Model,
        opts: &ContextOptions,
        mut handler: Option<BoxedHandler>,
    ) -> Result<Self> {
        ensure!(
            opts.n_ctx > 0 && opts.n_batch > 0,
            "context size and batch size must be positive"
        );
        // llama.cpp asserts (aborts the process) when a batch cannot hold one output per sequence.
        ensure!(
            opts.n_batch >= opts.n_seq_max,
            "batch size {} is smaller than the number of parallel sequences {}",
            opts.n_batch,
            opts.n_seq_max
        );
        // SAFETY: default params are plain data; the callback user data (if any) is boxed and
        // outlives the context because the context owns the box and frees the context first.
        let raw = unsafe {
            let mut p = sys::llama_context_default_params();
            p.n_ctx = opts.n_ctx;
            p.n_batch = opts.n_batch;
            p.n_ubatch = opts.n_ubatch.max(1);
            p.n_seq_max = opts.n_seq_max.max(1);
            p.n_threads = opts.n_threads.max(1) as i32;
            p.n_threads_batch = opts.n_threads_batch.max(1) as i32;
            p.kv_unified = opts.kv_unified;
            p.no_perf = true;
            if let Some(handler) = handler.as_mut() {
                eval_callback::install(&mut p, handler.as_mut());
            }
            sys::llama_init_from_model(model.raw(), p)
        };
        let Some(ptr) = NonNull::new(raw) else {
            let why = super::log::take_last_error().unwrap_or_else(|| "no reason given".into());
            bail!(
                "{}: llama.cpp could not create a context of {} tokens ({why})",
                model.path().display(),
                opts.n_ctx
            );
        };
        Ok(Self {
            ptr,
            model,
            n_vocab: model.n_vocab(),
            _handler: handler,
        })
    }

    pub fn model(&self) -> &'m Model {
        self.model
    }

    pub fn n_ctx(&self) -> u32 {
        // SAFETY: context pointer is live.
        unsafe { sys::llama_n_ctx(self.ptr.as_ptr()) }
    }

    pub fn n_batch(&self) -> u32 {
        // SAFETY: context pointer is live.
        unsafe { sys::llama_n_batch(self.ptr.as_ptr()) }
    }

    /// Forgets every sequence (a fresh KV cache), as llama-perplexity does before each chunk.
    pub fn clear_memory(&mut self) {
        // SAFETY: context pointer is live; memory may be null for models without a cache.
        unsafe {
            let mem = sys::llama_get_memory(self.ptr.as_ptr());
            if !mem.is_null() {
                sys::llama_memory_clear(mem, true);
            }
        }
    }

    /// Removes positions `[p0, p1)` of sequence `seq` (-1 for all sequences / open ends).
    pub fn seq_remove(&mut self, seq: i32, p0: i32, p1: i32) -> bool {
        // SAFETY: context pointer is live.
        unsafe {
            let mem = sys::llama_get_memory(self.ptr.as_ptr());
            !mem.is_null() && sys::llama_memory_seq_rm(mem, seq, p0, p1)
        }
    }

    /// Copies positions `[p0, p1)` of sequence `src` into sequence `dst` (shared prefixes).
    pub fn seq_copy(&mut self, src: i32, dst: i32, p0: i32, p1: i32) {
        // SAFETY: context pointer is live.
        unsafe {
            let mem = sys::llama_get_memory(self.ptr.as_ptr());
            if !mem.is_null() {
                sys::llama_memory_seq_cp(mem, src, dst, p0, p1);
            }
        }
    }

    pub fn decode(&mut self, batch: &mut Batch) -> Result<()> {
        ensure!(!batch.is_empty(), "decode of an empty batch");
        // SAFETY: the batch was built by Batch::add within its capacity.
        let rc = unsafe { sys::llama_decode(self.ptr.as_ptr(), batch.raw) };
        match rc {
            0 => Ok(()),
            1 => bail!(
                "llama.cpp found no KV-cache slot for a batch of {} tokens (context too small)",
                batch.len()
            ),
            2 => Err(crate::util::Interrupted.into()),
            _ => {
                let why = super::log::take_last_error().unwrap_or_default();
                bail!("llama.cpp decode failed with status {rc} {why}")
            }
        }
    }

    /// Logits (vocabulary size) of the batch entry `i` that was added with `logits = true`.
    pub fn logits(&self, i: usize) -> Result<&[f32]> {
        // SAFETY: llama_get_logits_ith returns null for entries without logits; otherwise a row of
        // n_vocab floats owned by the context, valid until the next decode (tied to &self).
        unsafe {
            let p = sys::llama_get_logits_ith(self.ptr.as_ptr(), i as i32);
            if p.is_null() {
                bail!("no logits for batch entry {i}");
            }
            Ok(std::slice::from_raw_parts(p, self.n_vocab))
        }
    }

    pub fn synchronize(&mut self) {
        // SAFETY: context pointer is live.
        unsafe { sys::llama_synchronize(self.ptr.as_ptr()) }
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: pointer from llama_init_from_model, freed once, before the observer boxes drop.
        unsafe { sys::llama_free(self.ptr.as_ptr()) }
    }
}

/// A batch of tokens for `Context::decode`, each with its position, sequences and logits flag.
pub struct Batch {
    raw: sys::llama_batch,
    capacity: usize,
    n_seq_max: usize,
}

// SAFETY: the batch owns its buffers and is only used through &mut self.
unsafe impl Send for Batch {}

impl Batch {
    pub fn new(capacity: usize, n_seq_max: usize) -> Self {
        let capacity = capacity.max(1);
        let n_seq_max = n_seq_max.max(1);
        // SAFETY: llama_batch_init allocates arrays of `capacity` entries, each with room for
        // `n_seq_max` sequence ids.
        let raw = unsafe { sys::llama_batch_init(capacity as i32, 0, n_seq_max as i32) };
        Self {
            raw,
            capacity,
            n_seq_max,
        }
    }

    pub fn len(&self) -> usize {
        self.raw.n_tokens as usize
    }

    pub fn is_empty(&self) -> bool {
        self.raw.n_tokens == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn clear(&mut self) {
        self.raw.n_tokens = 0;
    }

    pub fn add(&mut self, token: Token, pos: i32, seqs: &[i32], logits: bool) -> Result<()> {
        let i = self.len();
        ensure!(i < self.capacity, "batch full ({} tokens)", self.capacity);
        ensure!(
            !seqs.is_empty() && seqs.len() <= self.n_seq_max,
            "bad sequence list for a batch entry"
        );
        // SAFETY: i < capacity and seqs.len() <= n_seq_max, the sizes the arrays were allocated with.
        unsafe {
            *self.raw.token.add(i) = token;
            *self.raw.pos.add(i) = pos;
            *self.raw.n_seq_id.add(i) = seqs.len() as i32;
            let ids = *self.raw.seq_id.add(i);
            for (k, &s) in seqs.iter().enumerate() {
                *ids.add(k) = s;
            }
            *self.raw.logits.add(i) = logits as i8;
        }
        self.raw.n_tokens += 1;
        Ok(())
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: raw came from llama_batch_init and is freed once.
        unsafe { sys::llama_batch_free(self.raw) }
    }
}
