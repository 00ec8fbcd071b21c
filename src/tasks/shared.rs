//! Log-likelihoods of continuations, the lm-evaluation-harness quantity, computed with shared
//! prefixes: the choices of one question are parallel sequences, and the tokens they have in
//! common (the question) are decoded once and belong to all of them (as llama-perplexity does for
//! HellaSwag). Several questions go into one round while their tokens fit the context.

use anyhow::{bail, Result};
use rayon::prelude::*;

use crate::engine::{Batch, Context, ContextOptions, Model, Token};
use crate::logits::LogSumExp;

/// One question: per choice, the context tokens (with BOS) and the continuation tokens.
#[derive(Debug, Clone)]
pub struct Question {
    pub pairs: Vec<(Vec<Token>, Vec<Token>)>,
}

#[derive(Debug, Clone)]
pub struct SharedOptions {
    /// KV cells for one round (grown to fit the longest question).
    pub n_ctx: u32,
    /// Most tokens per decode call.
    pub n_batch: u32,
    /// Most parallel sequences (choices) per round.
    pub n_seq: u32,
    pub n_threads: u32,
}

/// What sharing saved.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SharedStats {
    pub tokens_decoded: u64,
    /// Tokens a one-sequence-per-choice evaluation would decode.
    pub tokens_unshared: u64,
    pub rounds: u64,
    pub n_ctx: u32,
}

struct Plan {
    /// Context + continuation of each choice.
    full: Vec<Vec<Token>>,
    ctx_len: Vec<usize>,
    /// Tokens all choices' inputs share (an input is its full sequence minus the last token).
    common: usize,
    /// KV cells the question takes: the shared part once, each choice's own part.
    cells: usize,
}

fn plan(q: &Question) -> Plan {
    let full: Vec<Vec<Token>> = q
        .pairs
        .iter()
        .map(|(c, k)| c.iter().chain(k).copied().collect())
        .collect();
    let inputs: Vec<&[Token]> = full
        .iter()
        .map(|f| &f[..f.len().saturating_sub(1)])
        .collect();
    let shortest = inputs.iter().map(|i| i.len()).min().unwrap_or(0);
    let common = (0..shortest)
        .take_while(|&p| inputs.iter().all(|i| i[p] == inputs[0][p]))
        .count();
    let cells = common + inputs.iter().map(|i| i.len() - common).sum::<usize>();
    Plan {
        ctx_len: q.pairs.iter().map(|(c, _)| c.len()).collect(),
        full,
        common,
        cells,
    }
}

/// A batch entry and the continuation tokens its logits predict: (question in round, choice, token).
struct Entry {
    token: Token,
    pos: i32,
    seqs: Vec<i32>,
    targets: Vec<(usize, usize, Token)>,
}

fn entries_of(p: &Plan, q: usize, seq0: i32, out: &mut Vec<Entry>) {
    let k = p.full.len();
    // Position `pos` of choice `c` predicts token pos+1, wanted when it lies in the continuation.
    let target = |c: usize, pos: usize| {
        (pos + 1 >= p.ctx_len[c] && pos + 1 < p.full[c].len()).then(|| (q, c, p.full[c][pos + 1]))
    };
    for pos in 0..p.common {
        out.push(Entry {
            token: p.full[0][pos],
            pos: pos as i32,
            seqs: (0..k as i32).map(|c| seq0 + c).collect(),
            targets: (0..k).filter_map(|c| target(c, pos)).collect(),
        });
    }
    for c in 0..k {
        for pos in p.common..p.full[c].len().saturating_sub(1) {
            out.push(Entry {
                token: p.full[c][pos],
                pos: pos as i32,
                seqs: vec![seq0 + c as i32],
                targets: target(c, pos).into_iter().collect(),
            });
        }
    }
}

/// Sum of log-probabilities of each continuation given its context, per question and choice.
/// `progress` gets the number of questions done after each round.
pub fn loglikelihoods(
    model: &Model,
    questions: &[Question],
    opts: &SharedOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<(Vec<Vec<f64>>, SharedStats)> {
    let plans: Vec<Plan> = questions.iter().map(plan).collect();
    let max_cells = plans.iter().map(|p| p.cells).max().unwrap_or(1);
    let max_choices = plans.iter().map(|p| p.full.len()).max().unwrap_or(1);
    if max_choices > 256 {
        bail!("a question with {max_choices} choices: llama.cpp allows at most 256 parallel sequences");
    }
    let n_ctx = (opts.n_ctx as usize).max(max_cells.next_multiple_of(256)) as u32;
    let n_batch = opts.n_batch.max(max_choices as u32).min(n_ctx);
    let n_seq = opts.n_seq.clamp(max_choices as u32, 256).min(n_batch);
    let mut copts = ContextOptions::new(n_ctx, n_batch, opts.n_threads);
    copts.n_seq_max = n_seq;
    copts.kv_unified = true;
    copts.n_ubatch = n_batch;
    let mut ctx = Context::new(model, &copts)?;
    let mut batch = Batch::new(n_batch as usize, max_choices);

    let mut lls: Vec<Vec<f64>> = plans.iter().map(|p| vec![0.0; p.full.len()]).collect();
    let mut stats = SharedStats {
        n_ctx,
        tokens_unshared: plans
            .iter()
            .flat_map(|p| p.full.iter().map(|f| f.len().saturating_sub(1) as u64))
            .sum(),
        ..Default::default()
    };
    let mut q0 = 0;
    while q0 < plans.len() {
        crate::util::check_interrupted()?;
        let (mut cells, mut seqs, mut q1) = (0usize, 0usize, q0);
        let mut entries = Vec::new();
        while q1 < plans.len() {
            let p = &plans[q1];
            if q1 > q0 && (cells + p.cells > n_ctx as usize || seqs + p.full.len() > n_seq as usize)
            {
                break;
            }
            entries_of(p, q1 - q0, seqs as i32, &mut entries);
            cells += p.cells;
            seqs += p.full.len();
            q1 += 1;
        }
        ctx.clear_memory();
        // Even pieces: llama.cpp's CPU attention switches kernels below 64 tokens a batch (which
        // moves log-probabilities), so no piece is left small when the round is not.
        let pieces = entries.len().div_ceil(n_batch as usize).max(1);
        for chunk in entries.chunks(entries.len().div_ceil(pieces).max(1)) {
            batch.clear();
            for e in chunk {
                batch.add(e.token, e.pos, &e.seqs, !e.targets.is_empty())?;
            }
            ctx.decode(&mut batch)?;
            let rows = chunk
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.targets.is_empty())
                .map(|(j, e)| Ok((ctx.logits(j)?, &e.targets)))
                .collect::<Result<Vec<_>>>()?;
            let scored: Vec<(usize, usize, f64)> = rows
                .par_iter()
                .flat_map_iter(|(row, targets)| {
                    let lse = LogSumExp::of(row);
                    targets
                        .iter()
                        .map(move |&(q, c, t)| (q, c, lse.log_prob(row[t as usize])))
                })
                .collect();
            for (q, c, lp) in scored {
                lls[q0 + q][c] += lp;
            }
        }
        stats.tokens_decoded += entries.len() as u64;
        stats.rounds += 1;
        q0 = q1;
        progress(q0);
    }
    Ok((lls, stats))
}
