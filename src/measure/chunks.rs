//! llama-perplexity's evaluation loop: the text cut into chunks of `n_ctx` tokens, each evaluated from
//! an empty cache with BOS in front, `n_batch / n_ctx` chunks per decode call as parallel sequences,
//! logits requested only for the scored second half of each chunk.

use std::sync::mpsc;

use anyhow::{anyhow, bail, Result};

use crate::engine::{Batch, Context, ContextOptions, Model, Token};

/// How a token stream is cut and batched.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkPlan {
    pub n_ctx: usize,
    pub n_chunk: usize,
    /// Chunks evaluated together, one sequence each.
    pub n_seq: usize,
    /// Tokens per decode call.
    pub n_batch: usize,
    /// Decode calls per chunk (more than one only when `n_batch < n_ctx`).
    pub num_batches: usize,
    /// First position whose logits are scored (`n_ctx / 2`).
    pub first: usize,
}

impl ChunkPlan {
    /// llama-perplexity's arithmetic: `n_seq = max(1, n_batch / n_ctx)`, context `n_seq·n_ctx`,
    /// batch `min(n_batch, n_seq·n_ctx)` (so any `-b` works; below `-c` a chunk takes several calls).
    pub fn new(n_ctx: u32, n_batch: u32, n_chunk: usize) -> Result<Self> {
        let (n_ctx, n_batch) = (n_ctx as usize, n_batch as usize);
        if n_ctx < 4 {
            bail!("-c {n_ctx} is too small: a chunk needs at least 4 tokens");
        }
        if n_batch == 0 {
            bail!("-b must be at least 1");
        }
        let n_seq = (n_batch / n_ctx).max(1);
        let n_batch = n_batch.min(n_seq * n_ctx);
        Ok(Self {
            n_ctx,
            n_chunk,
            n_seq,
            n_batch,
            num_batches: n_ctx.div_ceil(n_batch),
            first: n_ctx / 2,
        })
    }

    /// Positions scored per chunk: `first .. n_ctx − 1`, each predicting the next token.
    pub fn scored_per_chunk(&self) -> usize {
        self.n_ctx - 1 - self.first
    }

    /// The plan of one of `n_workers` contexts sharing the chunks: `n_seq / n_workers` chunks per
    /// decode (at least one). The numbers do not depend on how chunks are grouped.
    pub fn per_worker(&self, n_workers: usize) -> ChunkPlan {
        let n_seq = (self.n_seq / n_workers.max(1)).max(1);
        ChunkPlan {
            n_seq,
            n_batch: if self.n_seq > 1 {
                n_seq * self.n_ctx
            } else {
                self.n_batch
            },
            ..self.clone()
        }
    }

    /// Groups of chunks evaluated together: (first chunk, chunk count).
    pub fn groups(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.n_chunk)
            .step_by(self.n_seq)
            .map(|i| (i, self.n_seq.min(self.n_chunk - i)))
    }
}

/// Takes a decode call's scored rows: `(sequence, first scored row index, rows)`.
pub type RowSink<'a> = dyn FnMut(usize, usize, &[&[f32]]) -> Result<()> + 'a;

/// A context evaluating chunk groups of one model.
pub struct ChunkRunner<'m> {
    ctx: Context<'m>,
    batch: Batch,
    plan: ChunkPlan,
    bos: Option<Token>,
    n_vocab: usize,
    /// Scored rows gathered over several decode calls (only when a chunk needs more than one).
    gathered: Vec<f32>,
}

impl<'m> ChunkRunner<'m> {
    pub fn new(model: &'m Model, plan: &ChunkPlan, n_threads: u32) -> Result<Self> {
        let mut opts = ContextOptions::new(
            (plan.n_seq * plan.n_ctx) as u32,
            plan.n_batch as u32,
            n_threads,
        );
        opts.n_seq_max = plan.n_seq as u32;
        Ok(Self {
            ctx: Context::new(model, &opts)?,
            batch: Batch::new(plan.n_batch, 1),
            plan: plan.clone(),
            bos: model.adds_bos().then(|| model.bos()),
            n_vocab: model.n_vocab(),
            gathered: Vec::new(),
        })
    }

    /// Evaluates chunks `first_chunk .. first_chunk + n_seq_batch` of `tokens` from an empty cache,
    /// keeping their scored rows for [`ChunkRunner::rows`].
    pub fn eval(&mut self, tokens: &[Token], first_chunk: usize, n_seq_batch: usize) -> Result<()> {
        // A chunk decoded in several calls has its rows copied out as they come; in one call they
        // stay in the context.
        let mut gathered = std::mem::take(&mut self.gathered);
        gathered.clear();
        let gather = self.plan.num_batches > 1;
        let result = self.eval_rows(tokens, first_chunk, n_seq_batch, &mut |_, _, rows| {
            if gather {
                rows.iter().for_each(|r| gathered.extend_from_slice(r));
            }
            Ok(())
        });
        self.gathered = gathered;
        result
    }

    /// Evaluates chunks like [`ChunkRunner::eval`], handing each decode call's scored rows to
    /// `sink(seq, k, rows)` while they are in the context: `rows[i]` is scored row `k + i` of
    /// sequence `seq` (position `first + k + i`). Nothing is copied.
    pub fn eval_rows(
        &mut self,
        tokens: &[Token],
        first_chunk: usize,
        n_seq_batch: usize,
        sink: &mut RowSink<'_>,
    ) -> Result<()> {
        let p = &self.plan;
        let start = first_chunk * p.n_ctx;
        let scored_end = p.first + p.scored_per_chunk();
        self.ctx.clear_memory();
        for j in 0..p.num_batches {
            crate::util::check_interrupted()?;
            let batch_start = start + j * p.n_batch;
            let batch_size = p.n_batch.min(start + p.n_ctx - batch_start);
            self.batch.clear();
            for seq in 0..n_seq_batch {
                let seq_start = batch_start + seq * p.n_ctx;
                for k in 0..batch_size {
                    let pos = j * p.n_batch + k;
                    let token = match self.bos {
                        Some(bos) if j == 0 && k == 0 => bos,
                        _ => tokens[seq_start + k],
                    };
                    self.batch
                        .add(token, pos as i32, &[seq as i32], pos >= p.first)?;
                }
            }
            self.ctx.decode(&mut self.batch)?;
            // Scored positions of this call (the chunk's last position is output, never scored).
            let (lo, hi) = (
                p.first.max(j * p.n_batch),
                scored_end.min(j * p.n_batch + batch_size),
            );
            if lo >= hi {
                continue;
            }
            for seq in 0..n_seq_batch {
                let rows = (lo..hi)
                    .map(|pos| self.ctx.logits(seq * batch_size + pos - j * p.n_batch))
                    .collect::<Result<Vec<_>>>()?;
                sink(seq, lo - p.first, &rows)?;
            }
        }
        Ok(())
    }

    /// Logit rows of sequence `seq` of the last [`ChunkRunner::eval`]: row `k` is position
    /// `first + k` and predicts token `first + k + 1` of the chunk.
    pub fn rows(&self, seq: usize) -> Result<Vec<&[f32]>> {
        let p = &self.plan;
        let n = p.scored_per_chunk();
        if p.num_batches > 1 {
            return Ok(self.gathered.chunks_exact(self.n_vocab).take(n).collect());
        }
        (0..n)
            .map(|k| self.ctx.logits(seq * p.n_ctx + p.first + k))
            .collect()
    }
}

/// Evaluates every chunk group of `plan` on `n_workers` contexts side by side, `n_threads` threads
/// each, worker `w` taking groups `w, w + n_workers, ...`. `work(runner, first, n_seq)` decodes a
/// group on the worker's runner and scores it there (while the rows are in its context); `take` gets
/// the results on the calling thread in group order, so sums come out in the order one context would
/// give. Small batches scale badly over threads (every graph node ends in a barrier); separate
/// contexts need none between them.
pub fn eval_side_by_side<T: Send>(
    model: &Model,
    plan: &ChunkPlan,
    (n_workers, n_threads): (usize, u32),
    work: &(dyn Fn(&mut ChunkRunner<'_>, usize, usize) -> Result<T> + Sync),
    take: &mut dyn FnMut(usize, usize, T) -> Result<()>,
) -> Result<()> {
    let groups: Vec<(usize, usize)> = plan.groups().collect();
    let n_workers = n_workers.clamp(1, groups.len().max(1));
    std::thread::scope(|s| {
        let receivers: Vec<mpsc::Receiver<Result<T>>> = (0..n_workers)
            .map(|w| {
                // One result waiting per worker: a worker runs at most one group ahead.
                let (tx, rx) = mpsc::sync_channel(1);
                let mine: Vec<(usize, usize)> =
                    groups.iter().copied().skip(w).step_by(n_workers).collect();
                s.spawn(move || {
                    let mut runner = match ChunkRunner::new(model, plan, n_threads) {
                        Ok(r) => r,
                        Err(e) => return drop(tx.send(Err(e))),
                    };
                    for (first, n_seq) in mine {
                        let result = work(&mut runner, first, n_seq);
                        let failed = result.is_err();
                        // A closed channel: the caller stopped (an error or Ctrl-C elsewhere).
                        if tx.send(result).is_err() || failed {
                            return;
                        }
                    }
                });
                rx
            })
            .collect();
        for (g, &(first, n_seq)) in groups.iter().enumerate() {
            let result = receivers[g % n_workers]
                .recv()
                .map_err(|_| anyhow!("a chunk worker stopped without a result"))?;
            take(first, n_seq, result?)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_follow_llama_perplexity() {
        let p = ChunkPlan::new(512, 2048, 10).unwrap();
        assert_eq!(
            (p.n_seq, p.n_batch, p.num_batches, p.first),
            (4, 2048, 1, 256)
        );
        assert_eq!(p.scored_per_chunk(), 255);
        assert_eq!(p.groups().collect::<Vec<_>>(), vec![(0, 4), (4, 4), (8, 2)]);
        let p = ChunkPlan::new(512, 128, 3).unwrap();
        assert_eq!((p.n_seq, p.n_batch, p.num_batches), (1, 128, 4));
        let p = ChunkPlan::new(512, 1000, 3).unwrap();
        assert_eq!((p.n_seq, p.n_batch, p.num_batches), (1, 512, 1));
        let p = ChunkPlan::new(512, 300, 3).unwrap();
        assert_eq!((p.n_seq, p.n_batch, p.num_batches), (1, 300, 2));
        let p = ChunkPlan::new(512, 2000, 3).unwrap();
        assert_eq!((p.n_seq, p.n_batch, p.num_batches), (3, 1536, 1));
        assert!(ChunkPlan::new(2, 512, 3).is_err());
        // Shared by two contexts: half the chunks per decode each, or one when there is one.
        let p = ChunkPlan::new(512, 2048, 10).unwrap().per_worker(2);
        assert_eq!((p.n_seq, p.n_batch, p.num_batches), (2, 1024, 1));
        let p = ChunkPlan::new(512, 512, 10).unwrap().per_worker(2);
        assert_eq!((p.n_seq, p.n_batch, p.num_batches), (1, 512, 1));
        let p = ChunkPlan::new(512, 128, 10).unwrap().per_worker(2);
        assert_eq!((p.n_seq, p.n_batch, p.num_batches), (1, 128, 4));
    }
}
