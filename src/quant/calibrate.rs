//! Runs a model over calibration text and collects its importance matrix (llama-imatrix's loop).

use std::time::Instant;

use anyhow::{bail, Result};
use rayon::prelude::*;

use super::imatrix::{Collector, Imatrix};
use crate::engine::{Batch, Context, ContextOptions, Model};
use crate::logits::nll_and_prob;

#[derive(Debug, Clone)]
pub struct ImatrixOptions {
    /// Tokens per chunk (`-c`).
    pub n_ctx: u32,
    /// Logical batch (`-b`); chunks are evaluated `n_batch / n_ctx` at a time.
    pub n_batch: u32,
    pub n_ubatch: u32,
    /// Stop after this many chunks (`--chunks`).
    pub n_chunks: Option<u32>,
    pub n_threads: u32,
    /// Also collect `output.weight` (`--process-output`).
    pub process_output: bool,
    /// Compute the perplexity of the calibration text while collecting (llama-imatrix does by default).
    pub compute_ppl: bool,
}

impl Default for ImatrixOptions {
    fn default() -> Self {
        Self {
            n_ctx: 512,
            n_batch: 2048,
            n_ubatch: 512,
            n_chunks: None,
            n_threads: crate::util::default_threads() as u32,
            process_output: false,
            compute_ppl: true,
        }
    }
}

/// Progress after each chunk: (chunks done, chunks total, running perplexity).
pub type ChunkProgress<'a> = &'a mut dyn FnMut(u32, u32, Option<f64>);

#[derive(Debug, Clone)]
pub struct ImatrixRun {
    pub imatrix: Imatrix,
    /// Perplexity of the calibration text and its ± (llama-imatrix's "Final estimate").
    pub ppl: Option<(f64, f64)>,
    pub n_tokens: usize,
    pub seconds: f64,
}

pub fn compute_imatrix(
    model: &Model,
    text: &str,
    dataset: &str,
    opts: &ImatrixOptions,
    progress: ChunkProgress<'_>,
) -> Result<ImatrixRun> {
    let t0 = Instant::now();
    let n_ctx = opts.n_ctx as usize;
    if n_ctx < 2 {
        bail!("context size must be at least 2 tokens");
    }
    if opts.n_ctx > model.n_ctx_train() && model.n_ctx_train() > 0 {
        bail!(
            "-c {} is larger than the model's training context ({})",
            opts.n_ctx,
            model.n_ctx_train()
        );
    }
    let mut tokens = model.tokenize(text, true, false)?;
    if tokens.len() < 2 * n_ctx {
        bail!(
            "{dataset}: tokenizes to {} tokens; an importance matrix with -c {} needs at least {}",
            tokens.len(),
            n_ctx,
            2 * n_ctx
        );
    }
    let n_chunk_max = tokens.len() / n_ctx;
    let n_chunk = opts
        .n_chunks
        .map_or(n_chunk_max, |c| (c as usize).min(n_chunk_max));
    let n_seq = (opts.n_batch as usize / n_ctx).max(1);
    let n_batch = (opts.n_batch as usize).min(n_seq * n_ctx);
    if n_batch < n_ctx && !n_ctx.is_multiple_of(n_batch) && !n_batch.is_multiple_of(n_ctx) {
        bail!(
            "-b {} must divide -c {} or be a multiple of it",
            n_batch,
            n_ctx
        );
    }
    let num_batches = n_ctx.div_ceil(n_batch);

    let skip_output_head = (!opts.compute_ppl).then(|| model.n_layer());
    let (collector, stats) = Collector::new(opts.process_output, skip_output_head);
    let mut cparams = ContextOptions::new((n_seq * n_ctx) as u32, n_batch as u32, opts.n_threads);
    cparams.n_ubatch = opts.n_ubatch.min(n_batch as u32);
    cparams.n_seq_max = n_seq as u32;
    let mut ctx = Context::with_observer(model, &cparams, Box::new(collector))?;
    let mut batch = Batch::new(n_batch, 1);
    let add_bos = model.adds_bos();
    let n_vocab = model.n_vocab();

    let (mut nll_sum, mut nll2_sum, mut count) = (0f64, 0f64, 0usize);
    let mut chunk_logits: Vec<f32> = Vec::new();
    let first = n_ctx / 2;
    let mut done = 0u32;
    let mut i = 0;
    while i < n_chunk {
        crate::util::check_interrupted()?;
        let start = i * n_ctx;
        let n_seq_batch = n_seq.min(n_chunk - i);
        ctx.clear_memory();
        chunk_logits.clear();
        for j in 0..num_batches {
            let batch_start = start + j * n_batch;
            let batch_size = n_batch.min(start + n_ctx - batch_start);
            batch.clear();
            for seq in 0..n_seq_batch {
                let seq_start = batch_start + seq * n_ctx;
                let original = tokens[seq_start];
                if add_bos && j == 0 {
                    tokens[seq_start] = model.bos();
                }
                for k in 0..batch_size {
                    batch.add(
                        tokens[seq_start + k],
                        (j * n_batch + k) as i32,
                        &[seq as i32],
                        true,
                    )?;
                }
                tokens[seq_start] = original;
            }
            ctx.decode(&mut batch)?;
            if opts.compute_ppl && num_batches > 1 {
                for k in 0..batch_size {
                    chunk_logits.extend_from_slice(ctx.logits(k)?);
                }
            }
        }
        if opts.compute_ppl {
            for seq in 0..n_seq_batch {
                let rows: Vec<&[f32]> = if num_batches > 1 {
                    chunk_logits.chunks(n_vocab).collect()
                } else {
                    (0..n_ctx)
                        .map(|k| ctx.logits(seq * n_ctx + k))
                        .collect::<Result<_>>()?
                };
                let base = start + seq * n_ctx;
                let nlls: Vec<f64> = (first..n_ctx - 1)
                    .into_par_iter()
                    .map(|k| nll_and_prob(rows[k], tokens[base + k + 1] as usize).0)
                    .collect();
                for v in nlls {
                    nll_sum += v;
                    nll2_sum += v * v;
                    count += 1;
                }
            }
        }
        i += n_seq_batch;
        done += n_seq_batch as u32;
        let running = (count > 0).then(|| (nll_sum / count as f64).exp());
        progress(done, n_chunk as u32, running);
    }
    drop(ctx);

    let ppl = (opts.compute_ppl && count > 1).then(|| {
        let mean = nll_sum / count as f64;
        let var = nll2_sum / count as f64 - mean * mean;
        let ppl = mean.exp();
        (ppl, (var.max(0.0) / (count - 1) as f64).sqrt() * ppl)
    });
    let entries = std::mem::take(
        &mut *stats
            .lock()
            .map_err(|_| anyhow::anyhow!("imatrix collector poisoned"))?,
    );
    let chunk_count = entries
        .values()
        .flat_map(|e| e.counts.iter().copied())
        .max()
        .map_or(0, |c| (c / n_ctx as u64) as u32);
    Ok(ImatrixRun {
        imatrix: Imatrix {
            entries,
            datasets: vec![dataset.to_string()],
            chunk_count,
            chunk_size: n_ctx as u32,
            is_legacy: false,
        },
        ppl,
        n_tokens: tokens.len(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
