//! Block Influence (ShortGPT, Men et al. 2024): for each transformer block, 1 − cos(x_in, x_out)
//! between the hidden state entering the block and the one leaving it, averaged over calibration
//! tokens. A block that barely turns the residual stream scores near 0 and is the first to go.
//!
//! The hidden states come from llama.cpp's graph: `embd` enters block 0 and `l_out-N` leaves block N.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::engine::{
    Batch, Context, ContextOptions, Model, ModelOptions, NamedTensor, TensorObserver,
};

#[derive(Debug, Clone)]
pub struct ImportanceOptions {
    /// Tokens per chunk.
    pub n_ctx: u32,
    /// Use at most this many chunks.
    pub n_chunks: Option<u32>,
    pub n_threads: u32,
    pub n_gpu_layers: u32,
}

impl Default for ImportanceOptions {
    fn default() -> Self {
        Self {
            n_ctx: 512,
            n_chunks: None,
            n_threads: crate::util::default_threads() as u32,
            n_gpu_layers: 0,
        }
    }
}

/// Block Influence per block of the model it was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockScores {
    /// `scores[n]`: mean of 1 − cos over the tokens, for block `n`; in [0, 2].
    pub scores: Vec<f64>,
    pub tokens: u64,
    pub chunks: u32,
    pub calibration: String,
    pub seconds: f64,
}

impl BlockScores {
    /// The `n` blocks with the lowest scores, in block order (ties: the later block goes first,
    /// as later blocks are the usual redundant ones).
    pub fn least_important(&self, n: usize) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.scores.len() as u32).collect();
        order.sort_by(|&a, &b| {
            self.scores[a as usize]
                .total_cmp(&self.scores[b as usize])
                .then(b.cmp(&a))
        });
        let mut out: Vec<u32> = order.into_iter().take(n).collect();
        out.sort_unstable();
        out
    }
}

/// Running sums of 1 − cos per block.
#[derive(Default)]
struct Sums {
    influence: Vec<f64>,
    counts: Vec<u64>,
    /// Blocks whose input and output had a different number of rows (not comparable).
    mismatched: Vec<u32>,
}

struct Collector {
    sums: Arc<Mutex<Sums>>,
    /// The last hidden state seen, by the block it leaves (-1: the embeddings).
    held: HashMap<i64, (i64, i64, Vec<f32>)>,
}

/// `embd` → -1, `l_out-N` → N.
fn boundary(name: &str) -> Option<i64> {
    if name == "embd" {
        return Some(-1);
    }
    name.strip_prefix("l_out-")?.parse().ok()
}

impl TensorObserver for Collector {
    fn wants(&mut self, name: &str, _ne: [i64; 4]) -> bool {
        boundary(name).is_some()
    }

    fn observe(&mut self, t: &NamedTensor<'_>) {
        let Some(at) = boundary(t.name) else { return };
        let rows = t.n_rows();
        let width = t.ne[0];
        if let Some((w, n, prev)) = self.held.remove(&(at - 1)) {
            let Ok(mut sums) = self.sums.lock() else {
                return;
            };
            let block = at as usize;
            if sums.influence.len() <= block {
                sums.influence.resize(block + 1, 0.0);
                sums.counts.resize(block + 1, 0);
            }
            if w != width || n != rows {
                sums.mismatched.push(at as u32);
            } else {
                for r in 0..rows {
                    let x = &prev[(r * w) as usize..((r + 1) * w) as usize];
                    if let Some(c) = cosine(x, t.flat_row(r)) {
                        sums.influence[block] += 1.0 - c;
                        sums.counts[block] += 1;
                    }
                }
            }
        }
        let mut copy = Vec::with_capacity((rows * width).max(0) as usize);
        for r in 0..rows {
            copy.extend_from_slice(t.flat_row(r));
        }
        self.held.insert(at, (width, rows, copy));
    }
}

/// cos(a, b) in f64; `None` when either is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (aa > 0.0 && bb > 0.0 && a.len() == b.len())
        .then(|| (ab / (aa.sqrt() * bb.sqrt())).clamp(-1.0, 1.0))
}

/// Runs `model_path` over `text` chunk by chunk and scores every block.
pub fn block_influence(
    model_path: &Path,
    text: &str,
    calibration: &str,
    opts: &ImportanceOptions,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<BlockScores> {
    let t0 = Instant::now();
    let model = Model::load(
        model_path,
        &ModelOptions {
            n_gpu_layers: opts.n_gpu_layers,
            ..Default::default()
        },
    )?;
    let n_ctx = opts.n_ctx as usize;
    if n_ctx < 2 {
        bail!("block importance needs chunks of at least 2 tokens");
    }
    if model.n_ctx_train() > 0 && opts.n_ctx > model.n_ctx_train() {
        bail!(
            "{}: chunks of {n_ctx} tokens are longer than the model's training context ({})",
            model_path.display(),
            model.n_ctx_train()
        );
    }
    let tokens = model.tokenize(text, true, false)?;
    let available = tokens.len() / n_ctx;
    if available == 0 {
        bail!(
            "{calibration}: tokenizes to {} tokens; block importance with chunks of {n_ctx} needs at least {n_ctx}",
            tokens.len()
        );
    }
    let n_chunks = opts
        .n_chunks
        .map_or(available, |c| (c as usize).clamp(1, available));
    let n_layer = model.n_layer() as usize;
    let sums = Arc::new(Mutex::new(Sums::default()));
    let collector = Collector {
        sums: sums.clone(),
        held: HashMap::new(),
    };
    let cparams = ContextOptions::new(opts.n_ctx, opts.n_ctx, opts.n_threads);
    let mut ctx = Context::with_tensor_observer(&model, &cparams, Box::new(collector))?;
    let mut batch = Batch::new(n_ctx, 1);
    for c in 0..n_chunks {
        crate::util::check_interrupted()?;
        ctx.clear_memory();
        batch.clear();
        for (k, &tok) in tokens[c * n_ctx..(c + 1) * n_ctx].iter().enumerate() {
            // Each chunk starts with BOS as llama-perplexity's chunks do; every token is an output
            // so the last block's output keeps all rows.
            let tok = if k == 0 && model.adds_bos() {
                model.bos()
            } else {
                tok
            };
            batch.add(tok, k as i32, &[0], true)?;
        }
        ctx.decode(&mut batch)?;
        progress(c as u32 + 1, n_chunks as u32);
    }
    drop(ctx);
    let sums = std::mem::take(
        &mut *sums
            .lock()
            .map_err(|_| anyhow!("importance collector poisoned"))?,
    );
    if let Some(b) = sums.mismatched.first() {
        bail!(
            "{}: block {b}'s input and output hidden states have different shapes",
            model_path.display()
        );
    }
    let scores: Vec<f64> = (0..n_layer)
        .map(|b| {
            let n = sums.counts.get(b).copied().unwrap_or(0);
            (n > 0).then(|| sums.influence[b] / n as f64)
        })
        .collect::<Option<_>>()
        .with_context(|| {
            format!(
                "{}: llama.cpp's graph for this architecture does not expose the hidden state of every block (embd, l_out-N); block importance needs them",
                model_path.display()
            )
        })?;
    Ok(BlockScores {
        scores,
        tokens: sums.counts.first().copied().unwrap_or(0),
        chunks: n_chunks as u32,
        calibration: calibration.to_string(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_basics() {
        assert!((cosine(&[1., 0.], &[0., 1.]).unwrap()).abs() < 1e-12);
        assert!((cosine(&[1., 2.], &[2., 4.]).unwrap() - 1.0).abs() < 1e-12);
        assert!((cosine(&[1., 2.], &[-1., -2.]).unwrap() + 1.0).abs() < 1e-12);
        assert!(cosine(&[0., 0.], &[1., 2.]).is_none());
    }

    #[test]
    fn least_important_picks_the_lowest_scores() {
        let s = BlockScores {
            scores: vec![0.5, 0.1, 0.3, 0.1, 0.9],
            tokens: 0,
            chunks: 0,
            calibration: String::new(),
            seconds: 0.0,
        };
        assert_eq!(s.least_important(1), vec![3]);
        assert_eq!(s.least_important(3), vec![1, 2, 3]);
    }

    #[test]
    fn boundaries() {
        assert_eq!(boundary("embd"), Some(-1));
        assert_eq!(boundary("l_out-12"), Some(12));
        assert_eq!(boundary("l_out"), None);
        assert_eq!(boundary("ffn_out-3"), None);
    }
}
