//! How each kind of perplexity run scores a chunk's logits: plain NLL, NLL while capturing a base, or
//! NLL and KL-divergence against a compact base, llama.cpp's logits file or a base model run
//! alongside. [`super::perplexity`] picks the scorer for its [`super::perplexity::Eval`].

use anyhow::{bail, Result};
use rayon::prelude::*;

use super::chunks::ChunkRunner;
use super::kld::TokenKld;
use super::kld_base::{KldBase, RecordShape};
use super::kld_record::BaseRecord;
use super::llama_file::{self, LlamaLogitsReader, LlamaLogitsWriter};
use crate::engine::Token;
use crate::logits::{kld_full, nll_and_prob, LogSumExp};

/// How a run scores its chunks, with what it writes or reads along the way.
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

/// Scores rows without touching a scorer's state, so workers decoding side by side can score their
/// own chunks; [`Scorer::commit`] then takes the results in chunk order.
#[derive(Clone, Copy)]
pub(super) enum RowScorer<'a> {
    Plain,
    Capture {
        shape: Option<RecordShape>,
        encode: bool,
    },
    Compact(&'a KldBase),
}

/// One chunk scored by a [`RowScorer`]: per token its NLL and KL-divergence values, and what a
/// capturing run keeps.
#[derive(Default)]
pub(super) struct ScoredChunk {
    per_token: Vec<(f64, Option<TokenKld>)>,
    records: Vec<BaseRecord>,
    encoded: Vec<Vec<u16>>,
}

impl ScoredChunk {
    /// Adds the chunk's next rows, scored by the same scorer.
    pub fn append(&mut self, mut next: ScoredChunk) {
        self.per_token.append(&mut next.per_token);
        self.records.append(&mut next.records);
        self.encoded.append(&mut next.encoded);
    }
}

impl RowScorer<'_> {
    /// `first_scored` is the index of the chunk's first scored token over the whole run.
    pub fn score(&self, rows: &[&[f32]], targets: &[Token], first_scored: usize) -> ScoredChunk {
        let mut out = ScoredChunk::default();
        match *self {
            RowScorer::Plain => {
                out.per_token = rows
                    .par_iter()
                    .zip(targets)
                    .map(|(row, &tok)| (nll_and_prob(row, tok as usize).0, None))
                    .collect();
            }
            RowScorer::Capture { shape, encode } => {
                let n_vocab = rows.first().map_or(0, |r| r.len());
                let scored: Vec<(f64, Option<BaseRecord>, Option<Vec<u16>>)> = rows
                    .par_iter()
                    .zip(targets)
                    .enumerate()
                    .map(|(k, (row, &tok))| {
                        let tok = tok as usize;
                        let lse = LogSumExp::of(row);
                        let index = (first_scored + k) as u64;
                        let record = shape.map(|s| s.capture(index, row, &lse, tok));
                        let encoded = encode.then(|| {
                            let mut buf = vec![0u16; llama_file::row_len(n_vocab)];
                            llama_file::encode_row(row, tok, &mut buf);
                            buf
                        });
                        (-lse.log_prob(row[tok]), record, encoded)
                    })
                    .collect();
                for (nll, record, encoded) in scored {
                    out.per_token.push((nll, None));
                    out.records.extend(record);
                    out.encoded.extend(encoded);
                }
            }
            RowScorer::Compact(base) => {
                out.per_token = rows
                    .par_iter()
                    .zip(targets)
                    .enumerate()
                    .map(|(k, (row, &tok))| {
                        let t = base.compare_at(first_scored + k, row, tok as usize);
                        (t.nll, Some(t))
                    })
                    .collect();
            }
        }
        out
    }
}

impl<'a> Scorer<'a> {
    /// The stateless part of this scorer, if it has one (comparisons that read a file or run a
    /// second model go chunk by chunk).
    pub fn rows_only(&self) -> Option<RowScorer<'a>> {
        match self {
            Scorer::Plain => Some(RowScorer::Plain),
            Scorer::Capture { base, writer } => Some(RowScorer::Capture {
                shape: base.as_ref().map(|b| b.shape()),
                encode: writer.is_some(),
            }),
            Scorer::Compact(base) => Some(RowScorer::Compact(base)),
            Scorer::Llama(..) | Scorer::Full(_) => None,
        }
    }

    /// Keeps what a scored chunk captured (in chunk order); returns its per-token values.
    pub fn commit(&mut self, chunk: ScoredChunk) -> Result<Vec<(f64, Option<TokenKld>)>> {
        if let Scorer::Capture { base, writer } = self {
            if let Some(b) = base.as_mut() {
                chunk.records.iter().for_each(|r| b.push(r));
            }
            if let Some(w) = writer.as_mut() {
                for e in &chunk.encoded {
                    w.write_row(e)?;
                }
            }
        }
        Ok(chunk.per_token)
    }

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
            Scorer::Plain | Scorer::Capture { .. } | Scorer::Compact(_) => {
                let Some(r) = self.rows_only() else {
                    bail!("internal error: a stateless scorer without its row scorer");
                };
                let chunk = r.score(rows, targets, first_scored);
                return self.commit(chunk);
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
