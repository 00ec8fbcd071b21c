//! How each kind of run scores a chunk's logits: plain NLL, NLL while capturing a base, or NLL and
//! KL-divergence against a compact base, llama.cpp's logits file or a base model run alongside.

use std::borrow::Cow;

use anyhow::{bail, Result};
use rayon::prelude::*;

use super::chunks::{ChunkPlan, ChunkRunner};
use super::kld::TokenKld;
use super::kld_base::KldBase;
use super::kld_record::BaseRecord;
use super::llama_file::{self, LlamaLogitsReader, LlamaLogitsWriter};
use super::logits::{kld_full, nll_and_prob, LogSumExp};
use super::perplexity::{check_same_vocab, plan_stored, plan_text, Eval, PerplexityOptions};
use crate::engine::{Model, Token};

pub(super) enum Scorer<'a> {
    Plain,
    Capture {
        base: Option<Box<KldBase>>,
        writer: Option<LlamaLogitsWriter>,
    },
    Compact(&'a KldBase),
    Llama(LlamaLogitsReader, Vec<u16>),
    Full(ChunkRunner<'a>),
}

/// Everything a run needs before its first decode.
pub(super) struct Setup<'a> {
    pub tokens: Cow<'a, [Token]>,
    pub plan: ChunkPlan,
    pub scorer: Scorer<'a>,
    /// What a KL-divergence run compares against, in words (`None`: no comparison).
    pub against: Option<String>,
}

/// Checks `eval` against the model and options, and opens what it reads or writes.
pub(super) fn setup<'a>(
    model: &Model,
    eval: Eval<'a>,
    opts: &PerplexityOptions,
) -> Result<Setup<'a>> {
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

impl Scorer<'_> {
    /// Scores one chunk's rows: per token its NLL and, in comparison modes, its KL-divergence values.
    /// `seq` is the chunk's sequence in its decode group, `first_scored` the index of its first scored
    /// token over the whole run.
    pub fn score_chunk(
        &mut self,
        rows: &[&[f32]],
        targets: &[Token],
        seq: usize,
        first_scored: usize,
    ) -> Result<Vec<(f64, Option<TokenKld>)>> {
        let with_kld = |t: TokenKld| (t.nll, Some(t));
        Ok(match self {
            Scorer::Plain => rows
                .par_iter()
                .zip(targets)
                .map(|(row, &tok)| (nll_and_prob(row, tok as usize).0, None))
                .collect(),
            Scorer::Capture { base, writer } => {
                let (keep, encode) = (base.as_ref(), writer.is_some());
                let n_vocab = rows.first().map_or(0, |r| r.len());
                let out: Vec<(f64, Option<BaseRecord>, Option<Vec<u16>>)> = rows
                    .par_iter()
                    .zip(targets)
                    .enumerate()
                    .map(|(k, (row, &tok))| {
                        let tok = tok as usize;
                        let lse = LogSumExp::of(row);
                        let index = (first_scored + k) as u64;
                        let record = keep.map(|b| b.capture(index, row, &lse, tok));
                        let encoded = encode.then(|| {
                            let mut buf = vec![0u16; llama_file::row_len(n_vocab)];
                            llama_file::encode_row(row, tok, &mut buf);
                            buf
                        });
                        (-lse.log_prob(row[tok]), record, encoded)
                    })
                    .collect();
                let mut nlls = Vec::with_capacity(out.len());
                for (nll, record, encoded) in out {
                    if let (Some(b), Some(r)) = (base.as_mut(), record) {
                        b.push(&r);
                    }
                    if let (Some(w), Some(e)) = (writer.as_mut(), encoded) {
                        w.write_row(&e)?;
                    }
                    nlls.push((nll, None));
                }
                nlls
            }
            Scorer::Compact(base) => rows
                .par_iter()
                .zip(targets)
                .enumerate()
                .map(|(k, (row, &tok))| {
                    with_kld(base.compare_at(first_scored + k, row, tok as usize))
                })
                .collect(),
            Scorer::Llama(reader, buf) => {
                reader.read_chunk(buf)?;
                let nv = llama_file::row_len(reader.n_vocab);
                rows.par_iter()
                    .zip(targets)
                    .zip(buf.par_chunks_exact(nv))
                    .map(|((row, &tok), base)| {
                        with_kld(llama_file::compare_row(row, base, tok as usize))
                    })
                    .collect()
            }
            Scorer::Full(base_runner) => {
                let base_rows = base_runner.rows(seq)?;
                rows.par_iter()
                    .zip(&base_rows)
                    .zip(targets)
                    .map(|((row, base), &tok)| with_kld(compare_full(base, row, tok as usize)))
                    .collect()
            }
        })
    }

    /// Finishes what the run wrote; returns the captured base with the run's perplexity recorded.
    pub fn finish(self, ppl: f64, ppl_err: f64) -> Result<Option<KldBase>> {
        let Scorer::Capture { base, writer } = self else {
            return Ok(None);
        };
        if let Some(w) = writer {
            w.finish()?;
        }
        Ok(base.map(|mut b| {
            b.meta.ppl = ppl;
            b.meta.ppl_err = ppl_err;
            *b
        }))
    }
}

/// Exact full-vocabulary comparison of one position.
pub fn compare_full(base: &[f32], quant: &[f32], token: usize) -> TokenKld {
    let (bl, ql) = (LogSumExp::of(base), LogSumExp::of(quant));
    let nll = -ql.log_prob(quant[token]);
    let nll_base = -bl.log_prob(base[token]);
    TokenKld {
        nll,
        nll_base,
        kld: kld_full(base, &bl, quant, &ql),
        p_diff: (-nll).exp() - (-nll_base).exp(),
        same_top: bl.argmax == ql.argmax,
    }
}
