//! Perplexity of a token stream (llama-perplexity's algorithm and numbers), optionally capturing a
//! KL-divergence base or comparing against one.

use std::borrow::Cow;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use super::chunk_scorer::{ScoredChunk, Scorer};
use super::chunks::{eval_side_by_side, ChunkPlan, ChunkRunner};
use super::kld::{KldAccumulator, KldRunning, KldStats, TokenKld};
use super::kld_base::KldBase;
use super::llama_file::{LlamaLogitsReader, LlamaLogitsWriter};
use crate::engine::{Model, Token};

#[derive(Debug, Clone, PartialEq)]
pub struct PerplexityOptions {
    /// Tokens per chunk (`-c`).
    pub n_ctx: u32,
    /// Tokens per decode call (`-b`): `n_batch / n_ctx` chunks are evaluated together.
    pub n_batch: u32,
    /// Use at most this many chunks (`--chunks`); all the text holds when `None`.
    pub n_chunks: Option<u32>,
    pub n_threads: u32,
    /// Contexts decoding chunks side by side, the threads split among them (`--workers`); `None`
    /// picks ([`PerplexityOptions::workers`]). The numbers are the same for any count.
    pub n_workers: Option<u32>,
}

impl Default for PerplexityOptions {
    fn default() -> Self {
        Self {
            n_ctx: 512,
            n_batch: 2048,
            n_chunks: None,
            n_threads: crate::util::default_threads() as u32,
            n_workers: None,
        }
    }
}

impl PerplexityOptions {
    /// Contexts side by side, threads each, and the plan each context follows. By default two on the
    /// CPU when the threads split evenly and the chunks do too: two contexts of half the threads
    /// decode faster than one of all of them, but one more chunk on one side costs more than the
    /// split saves. One when layers are offloaded, where the GPU does the work. Each context takes
    /// `n_seq / workers` chunks per decode, so the chunks in flight stay those of `-b`.
    pub fn workers(&self, model: &Model, plan: &ChunkPlan) -> (usize, u32, ChunkPlan) {
        let t = self.n_threads.max(1);
        let w = match self.n_workers {
            Some(w) => w.clamp(1, t) as usize,
            None => default_workers(t, model.n_gpu_layers() > 0, plan),
        };
        (w, t / w as u32, plan.per_worker(w))
    }
}

fn default_workers(n_threads: u32, offloaded: bool, plan: &ChunkPlan) -> usize {
    if offloaded || n_threads < 2 || !n_threads.is_multiple_of(2) {
        return 1;
    }
    // At most 5% more decode calls on the busier side than an even split.
    let groups = plan.per_worker(2).groups().count();
    if groups >= 2 && groups.div_ceil(2) * 2 * 20 <= groups * 21 {
        2
    } else {
        1
    }
}

/// What to keep from a plain perplexity run for later KL-divergence runs.
#[derive(Debug, Clone, Copy)]
pub struct BaseCapture<'a> {
    /// Keep a compact base with this many top tokens per position ([`super::DEFAULT_TOP_K`]).
    pub top_k: Option<usize>,
    /// Tail tokens sampled per position in the compact base ([`super::kld_base::DEFAULT_TAIL_SAMPLES`]).
    pub tail_samples: usize,
    /// Also write llama.cpp's `--kl-divergence-base` file here.
    pub llama_file: Option<&'a Path>,
}

impl Default for BaseCapture<'_> {
    /// Nothing kept.
    fn default() -> Self {
        Self {
            top_k: None,
            tail_samples: super::kld_base::DEFAULT_TAIL_SAMPLES,
            llama_file: None,
        }
    }
}

impl BaseCapture<'_> {
    /// A compact base with the default top tokens and tail samples (what a sweep keeps).
    pub fn compact() -> Self {
        Self {
            top_k: Some(super::DEFAULT_TOP_K),
            ..Self::default()
        }
    }
}

/// What a run evaluates.
pub enum Eval<'a> {
    /// Perplexity of tokenized text ([`super::text::tokenize`]), optionally capturing a base.
    Text {
        tokens: &'a [Token],
        capture: BaseCapture<'a>,
    },
    /// KL-divergence against a compact base; its tokens, `n_ctx` and chunk count are used.
    AgainstBase(&'a KldBase),
    /// KL-divergence against llama.cpp's `--kl-divergence-base` file (llama-perplexity's numbers).
    AgainstLlamaFile(&'a Path),
    /// KL-divergence against a base model evaluated alongside, over the full vocabulary.
    AgainstModel {
        tokens: &'a [Token],
        base: &'a Model,
    },
}

/// Per-chunk KL-divergence values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkKld {
    /// Mean KL-divergence of this chunk's scored tokens.
    pub kld: f64,
    /// ln(PPL(Q)/PPL(base)) of this chunk.
    pub ln_ppl_ratio: f64,
    /// Fraction of this chunk's tokens with the same top token.
    pub same_top: f64,
    /// Over all chunks so far (llama-perplexity's per-chunk columns).
    pub running: KldRunning,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkResult {
    /// 1-based, as llama-perplexity prints `[1]`.
    pub chunk: u32,
    /// Perplexity over all chunks so far (what llama-perplexity prints per chunk).
    pub ppl: f64,
    /// Perplexity of this chunk alone.
    pub ppl_chunk: f64,
    /// Mean negative log-likelihood of this chunk's scored tokens.
    pub nll: f64,
    pub kld: Option<ChunkKld>,
}

/// Handed to the progress callback after each chunk.
#[derive(Debug, Clone)]
pub struct ChunkProgress<'a> {
    pub done: u32,
    pub total: u32,
    pub chunk: &'a ChunkResult,
    /// ± of the running perplexity.
    pub ppl_err: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KldRun {
    pub stats: KldStats,
    /// What the quant was compared against, in words.
    pub against: String,
}

#[derive(Debug, Clone)]
pub struct PerplexityRun {
    pub ppl: f64,
    pub ppl_err: f64,
    pub n_ctx: u32,
    pub n_chunks: u32,
    /// Tokens available (the text's, or the base's evaluated tokens).
    pub n_tokens: usize,
    /// Tokens scored: `n_chunks · (n_ctx − 1 − n_ctx/2)`.
    pub n_scored: u64,
    pub chunks: Vec<ChunkResult>,
    /// Wall time of the evaluation (tokenizing excluded).
    pub seconds: f64,
    /// The captured compact base (with [`BaseCapture::top_k`]).
    pub base: Option<KldBase>,
    pub kld: Option<KldRun>,
}

/// Checks that `-c` fits the model (llama-perplexity only warns; a longer context gives meaningless numbers).
pub fn check_context(model: &Model, n_ctx: u32) -> Result<()> {
    let train = model.n_ctx_train();
    if train > 0 && n_ctx > train {
        bail!(
            "{}: -c {n_ctx} is larger than the model's training context ({train} tokens)",
            model.path().display()
        );
    }
    Ok(())
}

/// The chunks a text of `n_tokens` gives, or why it is too short.
pub fn plan_text(n_tokens: usize, opts: &PerplexityOptions) -> Result<ChunkPlan> {
    let n_ctx = opts.n_ctx as usize;
    if opts.n_chunks == Some(0) {
        bail!("--chunks must be at least 1");
    }
    if n_tokens < 2 * n_ctx {
        bail!(
            "the text tokenizes to only {n_tokens} tokens; perplexity with -c {n_ctx} needs at least {} (two chunks)",
            2 * n_ctx
        );
    }
    let max = n_tokens / n_ctx;
    let n_chunk = opts.n_chunks.map_or(max, |c| (c as usize).min(max));
    ChunkPlan::new(opts.n_ctx, opts.n_batch, n_chunk)
}

/// Plan for a stored base: its `n_ctx` and chunk count, which the options must not contradict.
fn plan_stored(
    what: &str,
    n_ctx: u32,
    n_chunk: u32,
    opts: &PerplexityOptions,
) -> Result<ChunkPlan> {
    if opts.n_ctx != n_ctx {
        bail!("{what} was computed with -c {n_ctx}, but this run uses -c {}; use the same context size", opts.n_ctx);
    }
    if let Some(c) = opts.n_chunks.filter(|&c| c != n_chunk) {
        bail!("{what} holds {n_chunk} chunks, but this run asks for --chunks {c}; use the same (or leave --chunks out)");
    }
    ChunkPlan::new(n_ctx, opts.n_batch, n_chunk as usize)
}

/// Everything a run needs before its first decode.
struct Setup<'a> {
    tokens: Cow<'a, [Token]>,
    plan: ChunkPlan,
    scorer: Scorer<'a>,
    /// What a KL-divergence run compares against, in words (`None`: no comparison).
    against: Option<String>,
}

/// Checks `eval` against the model and options, and opens what it reads or writes.
fn setup<'a>(model: &Model, eval: Eval<'a>, opts: &PerplexityOptions) -> Result<Setup<'a>> {
    let (tokens, plan, scorer, against): (Cow<[Token]>, ChunkPlan, Scorer, Option<String>) =
        match eval {
            Eval::Text { tokens, capture } => {
                let plan = plan_text(tokens.len(), opts)?;
                let used = &tokens[..plan.n_chunk * plan.n_ctx];
                let (n_ctx, n_chunk) = (opts.n_ctx, plan.n_chunk as u32);
                let base = capture.top_k.map(|k| {
                    KldBase::new(model, used, n_ctx, n_chunk, k.max(1), capture.tail_samples)
                });
                let writer = match capture.llama_file {
                    Some(p) => Some(LlamaLogitsWriter::create(
                        p,
                        n_ctx,
                        model.n_vocab(),
                        n_chunk,
                        used,
                    )?),
                    None => None,
                };
                let scorer = if base.is_none() && writer.is_none() {
                    Scorer::Plain
                } else {
                    Scorer::Capture {
                        base: base.map(Box::new),
                        writer,
                    }
                };
                (Cow::Borrowed(tokens), plan, scorer, None)
            }
            Eval::AgainstBase(base) => {
                base.check_model(model)?;
                let m = &base.meta;
                let what = format!("the KL-divergence base (of {})", m.model);
                let plan = plan_stored(&what, m.n_ctx, m.n_chunk, opts)?;
                let against = format!(
                    "compact base of {} (top {} tokens, {} tail samples)",
                    m.model, m.top_k, m.tail_samples
                );
                (
                    Cow::Borrowed(base.tokens()),
                    plan,
                    Scorer::Compact(base),
                    Some(against),
                )
            }
            Eval::AgainstLlamaFile(path) => {
                let mut reader = LlamaLogitsReader::open(path)?;
                if reader.n_vocab != model.n_vocab() {
                    bail!(
                        "{}: vocabulary of {} tokens, but the llama.cpp logits file {} has {}; compare models of the same vocabulary",
                        model.path().display(),
                        model.n_vocab(),
                        path.display(),
                        reader.n_vocab
                    );
                }
                let what = path.display().to_string();
                let plan = plan_stored(&what, reader.n_ctx, reader.n_chunk, opts)?;
                let tokens = Cow::Owned(std::mem::take(&mut reader.tokens));
                let against = format!("llama.cpp logits file {}", path.display());
                (
                    tokens,
                    plan,
                    Scorer::Llama(reader, Vec::new()),
                    Some(against),
                )
            }
            Eval::AgainstModel { tokens, base } => {
                check_same_vocab(model, base)?;
                let plan = plan_text(tokens.len(), opts)?;
                let runner = ChunkRunner::new(base, &plan, opts.n_threads)?;
                let against = format!("{} (full vocabulary)", base.path().display());
                (
                    Cow::Borrowed(tokens),
                    plan,
                    Scorer::Full(runner),
                    Some(against),
                )
            }
        };
    Ok(Setup {
        tokens,
        plan,
        scorer,
        against,
    })
}

/// Runs the model over the chunks of `eval` and scores them. `progress` is called after every chunk.
pub fn perplexity(
    model: &Model,
    eval: Eval<'_>,
    opts: &PerplexityOptions,
    progress: &mut dyn FnMut(&ChunkProgress),
) -> Result<PerplexityRun> {
    let t0 = Instant::now();
    check_context(model, opts.n_ctx)?;
    let Setup {
        tokens,
        plan,
        mut scorer,
        against,
    } = setup(model, eval, opts)?;
    let tokens: &[Token] = &tokens;
    let mut tally = Tally {
        n_total: plan.n_chunk as u32,
        with_kld: against.is_some(),
        nll_sum: 0.0,
        nll2_sum: 0.0,
        count: 0,
        acc: match scorer {
            Scorer::Llama(..) => KldAccumulator::llama_compatible(),
            _ => KldAccumulator::default(),
        },
        chunks: Vec::with_capacity(plan.n_chunk),
    };
    let n_scored_chunk = plan.scored_per_chunk();
    let targets = |c: usize| {
        let from = c * plan.n_ctx + plan.first + 1;
        &tokens[from..from + n_scored_chunk]
    };
    let (n_workers, n_threads, worker_plan) = opts.workers(model, &plan);
    match scorer.rows_only().filter(|_| n_workers > 1) {
        Some(row_scorer) => {
            // Each decode call's rows are scored as they come: a chunk decoded in several calls
            // (-b below -c) is never copied out whole.
            let work = |runner: &mut ChunkRunner<'_>, first: usize, n_seq: usize| {
                let mut parts: Vec<ScoredChunk> =
                    (0..n_seq).map(|_| ScoredChunk::default()).collect();
                runner.eval_rows(tokens, first, n_seq, &mut |seq, k, rows| {
                    let c = first + seq;
                    let targets = &targets(c)[k..k + rows.len()];
                    parts[seq].append(row_scorer.score(rows, targets, c * n_scored_chunk + k));
                    Ok(())
                })?;
                Ok(parts)
            };
            let workers = (n_workers, n_threads);
            eval_side_by_side(
                model,
                &worker_plan,
                workers,
                &work,
                &mut |first, _, scored| {
                    for (c, chunk) in (first..).zip(scored) {
                        tally.add(c, scorer.commit(chunk)?, progress);
                    }
                    Ok(())
                },
            )?;
        }
        None => {
            let mut runner = ChunkRunner::new(model, &plan, opts.n_threads)?;
            for (i, n_seq) in plan.groups() {
                runner.eval(tokens, i, n_seq)?;
                if let Scorer::Full(base_runner) = &mut scorer {
                    base_runner.eval(tokens, i, n_seq)?;
                }
                for seq in 0..n_seq {
                    let c = i + seq;
                    let rows = runner.rows(seq)?;
                    let per_token =
                        scorer.score_chunk(&rows, targets(c), seq, c * n_scored_chunk)?;
                    tally.add(c, per_token, progress);
                }
            }
        }
    }
    let (ppl, ppl_err) = tally.ppl();
    let base = scorer.finish(ppl, ppl_err)?;
    Ok(PerplexityRun {
        ppl,
        ppl_err,
        n_ctx: plan.n_ctx as u32,
        n_chunks: plan.n_chunk as u32,
        n_tokens: tokens.len(),
        chunks: tally.chunks,
        n_scored: tally.count,
        seconds: t0.elapsed().as_secs_f64(),
        base,
        kld: against.map(|against| KldRun {
            stats: tally.acc.stats(),
            against,
        }),
    })
}

/// Running sums over the chunks scored so far, in chunk order.
struct Tally {
    n_total: u32,
    with_kld: bool,
    nll_sum: f64,
    nll2_sum: f64,
    count: u64,
    acc: KldAccumulator,
    chunks: Vec<ChunkResult>,
}

impl Tally {
    /// Perplexity over the chunks so far and its ±.
    fn ppl(&self) -> (f64, f64) {
        ppl_and_err(self.nll_sum, self.nll2_sum, self.count)
    }

    /// Adds chunk `c`'s per-token values and reports the chunk.
    fn add(
        &mut self,
        c: usize,
        per_token: Vec<(f64, Option<TokenKld>)>,
        progress: &mut dyn FnMut(&ChunkProgress),
    ) {
        let (mut c_sum, mut c_kld, mut c_base, mut c_same) = (0.0, 0.0, 0.0, 0u64);
        for (nll, kld) in &per_token {
            self.nll_sum += nll;
            self.nll2_sum += nll * nll;
            c_sum += nll;
            self.count += 1;
            if let Some(t) = kld {
                self.acc.add(t);
                c_kld += t.kld;
                c_base += t.nll_base;
                c_same += t.same_top as u64;
            }
        }
        let n = per_token.len() as f64;
        let (ppl, ppl_err) = self.ppl();
        let chunk = ChunkResult {
            chunk: c as u32 + 1,
            ppl,
            ppl_chunk: (c_sum / n).exp(),
            nll: c_sum / n,
            kld: self.with_kld.then(|| ChunkKld {
                kld: c_kld / n,
                ln_ppl_ratio: (c_sum - c_base) / n,
                same_top: c_same as f64 / n,
                running: self.acc.running(),
            }),
        };
        progress(&ChunkProgress {
            done: c as u32 + 1,
            total: self.n_total,
            chunk: &chunk,
            ppl_err,
        });
        self.chunks.push(chunk);
    }
}

/// PPL = exp(mean NLL) and llama-perplexity's ± = PPL·sqrt(var(NLL)/(N−1)).
fn ppl_and_err(sum: f64, sum2: f64, count: u64) -> (f64, f64) {
    let n = count as f64;
    let mean = sum / n;
    let var = sum2 / n - mean * mean;
    let ppl = mean.exp();
    let err = if var > 0.0 && count > 1 {
        (var / (n - 1.0)).sqrt() * ppl
    } else {
        0.0
    };
    (ppl, err)
}

/// Two models are comparable token by token only with the same vocabulary.
pub fn check_same_vocab(model: &Model, base: &Model) -> Result<()> {
    if model.n_vocab() != base.n_vocab() {
        bail!(
            "{}: vocabulary of {} tokens, but the base {} has {}; KL-divergence needs the same vocabulary",
            model.path().display(),
            model.n_vocab(),
            base.path().display(),
            base.n_vocab()
        );
    }
    if super::kld_base::vocab_fingerprint(model) != super::kld_base::vocab_fingerprint(base) {
        bail!(
            "{}: same vocabulary size as the base {} but different tokens; KL-divergence needs the same vocabulary",
            model.path().display(),
            base.path().display()
        );
    }
    Ok(())
}

/// Tokens of `text` must start with the base's evaluated tokens for a comparison to be meaningful.
pub fn check_tokens_match(text_tokens: &[Token], base_tokens: &[Token]) -> Result<()> {
    let n = base_tokens.len();
    if text_tokens.len() < n || text_tokens[..n] != *base_tokens {
        let at = text_tokens
            .iter()
            .zip(base_tokens)
            .position(|(a, b)| a != b)
            .unwrap_or(text_tokens.len().min(n));
        return Err(anyhow::anyhow!(
            "the text does not give the base's tokens (first difference at token {at}); use the text the base was computed from"
        ))
        .context("text and KL-divergence base differ");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_contexts_only_when_threads_and_chunks_split_evenly() {
        let plan = |b, n| ChunkPlan::new(512, b, n).unwrap();
        assert_eq!(default_workers(2, false, &plan(512, 20)), 2);
        assert_eq!(default_workers(8, false, &plan(512, 2)), 2);
        assert_eq!(
            default_workers(2, false, &plan(512, 21)),
            2,
            "11 against 10.5"
        );
        // 3 against 2.5 chunks; -b 2048 gives each context two chunks per decode: 3 against 2
        // groups of 10 chunks, 5 against 5 of 20.
        assert_eq!(default_workers(2, false, &plan(512, 5)), 1);
        assert_eq!(default_workers(2, false, &plan(2048, 10)), 1);
        assert_eq!(default_workers(2, false, &plan(2048, 20)), 2);
        assert_eq!(default_workers(2, false, &plan(512, 1)), 1);
        assert_eq!(default_workers(3, false, &plan(512, 20)), 1, "odd threads");
        assert_eq!(default_workers(1, false, &plan(512, 20)), 1);
        assert_eq!(default_workers(2, true, &plan(512, 20)), 1, "GPU layers");
    }
}
