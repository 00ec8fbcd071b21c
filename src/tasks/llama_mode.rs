//! llama.cpp mode: HellaSwag, WinoGrande and multiple-choice scored exactly as llama-perplexity's
//! `hellaswag_score`, `winogrande_score` and `multiple_choice_score` do (tools/perplexity/perplexity.cpp):
//! the same task selection, the same batches (tasks packed into `n_parallel × n_ctx` cells, at most
//! 32 or 128 tasks a batch), the same single-precision log-softmax and the same score per task.

use anyhow::{bail, Context as _, Result};

use super::item::{Item, ItemBody};
use super::sample::{llama_hellaswag_order, llama_scaled_selection};
use super::template::hellaswag_preprocess;
use crate::engine::{Batch, Context, ContextOptions, Model, Token};

/// Which of llama-perplexity's scorers an item goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scorer {
    HellaSwag,
    WinoGrande,
    MultipleChoice,
}

#[derive(Debug, Clone)]
pub struct LlamaOptions {
    /// Cells per sequence (`-c`, default 512); the context holds `n_parallel` times as many.
    pub n_ctx: u32,
    /// `-b`, default 2048 (capped at the context).
    pub n_batch: u32,
    /// `-np`, at least 4 as llama-perplexity enforces.
    pub n_parallel: u32,
    pub n_threads: u32,
}

/// Per selected task: its index in `items`, the per-choice scores llama.cpp compares, its pick.
pub struct LlamaScores {
    pub order: Vec<usize>,
    pub scores: Vec<Vec<f64>>,
    pub picks: Vec<usize>,
    pub tokens_decoded: u64,
    /// Tokens of all choices' sequences, as if nothing were shared.
    pub tokens_unshared: u64,
}

pub fn scorer_for(items: &[Item]) -> Result<Scorer> {
    let first = items.first().context("no items")?;
    Ok(match &first.body {
        ItemBody::HellaSwag { .. } | ItemBody::HellaSwagText { .. } => Scorer::HellaSwag,
        ItemBody::WinoGrande { .. } => Scorer::WinoGrande,
        ItemBody::Choice { .. } => Scorer::MultipleChoice,
        ItemBody::Arc { .. } | ItemBody::Mmlu { .. } => bail!(
            "{}: --mode llama.cpp scores hellaswag, winogrande and llama.cpp multiple-choice files; \
             these rows are scored in the harness mode",
            first.at.file.display()
        ),
    })
}

/// The strings llama-perplexity tokenizes for a HellaSwag-like task: context and endings.
fn context_and_endings(body: &ItemBody) -> (String, Vec<String>) {
    match body {
        ItemBody::HellaSwagText { context, endings } => (context.clone(), endings.clone()),
        // Hugging Face rows become the lines of llama.cpp's file: label + ": " + ctx, preprocessed.
        ItemBody::HellaSwag {
            activity_label,
            ctx_a,
            ctx_b,
            endings,
        } => {
            let ctx = if ctx_b.is_empty() {
                ctx_a.clone()
            } else {
                format!("{ctx_a} {ctx_b}")
            };
            let context = hellaswag_preprocess(&format!("{activity_label}: {ctx}"))
                .trim()
                .to_string();
            (
                context,
                endings
                    .iter()
                    .map(|e| hellaswag_preprocess(e).trim().to_string())
                    .collect(),
            )
        }
        ItemBody::Choice { question, answers } => (question.clone(), answers.clone()),
        _ => (String::new(), Vec::new()),
    }
}

/// `common_tokenize(ctx, text, true)`: BOS as the vocabulary asks, no special-token parsing.
fn tok(model: &Model, text: &str) -> Result<Vec<Token>> {
    model.tokenize(text, true, false)
}

/// A task ready for batching: token sequences, shared prefix, cells needed.
struct Task {
    seqs: Vec<Vec<Token>>,
    common: usize,
    cells: usize,
    /// WinoGrande: tokens of `first + choice` per choice.
    n_base: Vec<usize>,
}

fn prepare(model: &Model, scorer: Scorer, item: &Item) -> Result<Task> {
    let seqs: Vec<Vec<Token>> = match (&item.body, scorer) {
        (
            ItemBody::WinoGrande {
                before,
                after,
                options,
            },
            _,
        ) => options
            .iter()
            .map(|o| tok(model, &format!("{before}{o}{after}")))
            .collect::<Result<_>>()?,
        (body, _) => {
            let (context, endings) = context_and_endings(body);
            endings
                .iter()
                .map(|e| tok(model, &format!("{context} {e}")))
                .collect::<Result<_>>()?
        }
    };
    let shortest = seqs.iter().map(Vec::len).min().unwrap_or(0);
    let common = (0..shortest)
        .take_while(|&k| seqs.iter().all(|s| s[k] == seqs[0][k]))
        .count();
    if common == 0 || seqs.iter().any(|s| s.len() <= common) {
        bail!(
            "{}: llama.cpp's scorer needs a shared first token and a token of each choice after it",
            item.at
        );
    }
    let cells = common + seqs.iter().map(|s| s.len() - common).sum::<usize>();
    let n_base = match &item.body {
        ItemBody::WinoGrande {
            before, options, ..
        } => options
            .iter()
            .map(|o| tok(model, &format!("{before}{o}")).map(|t| t.len()))
            .collect::<Result<_>>()?,
        _ => Vec::new(),
    };
    Ok(Task {
        seqs,
        common,
        cells,
        n_base,
    })
}

/// llama-perplexity's `compute_logprobs`, all in single precision.
fn logprob_f32(row: &[f32], token: Token) -> f32 {
    let mut max = row[0];
    for &v in &row[1..] {
        max = if max < v { v } else { max };
    }
    let mut sum = 0.0f32;
    for &v in row {
        sum += (v - max).exp();
    }
    row[token as usize] - max - sum.ln()
}

/// `std::log(softmax(logits)[token])`: f32 exponentials summed in f64, probability rounded to f32.
fn first_logprob_f32(row: &[f32], token: Token) -> f32 {
    let mut max = row[0];
    for &v in row {
        max = if max < v { v } else { max };
    }
    let mut sum = 0.0f64;
    for &v in row {
        sum += (v - max).exp() as f64;
    }
    let p = ((row[token as usize] - max).exp() as f64 / sum) as f32;
    p.ln()
}

/// What one output row of a round is used for.
enum Use {
    /// Last shared token: log-probabilities of each choice's first own token (task in round).
    First(usize),
    /// A log-probability llama.cpp collects in `eval_results` (its place there).
    Pair(usize, Token),
}

/// Scores `items` as llama-perplexity would; `progress` gets the number of tasks done after each batch.
pub fn score(
    model: &Model,
    items: &[Item],
    limit: Option<usize>,
    opts: &LlamaOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<LlamaScores> {
    let scorer = scorer_for(items)?;
    let order = match scorer {
        Scorer::HellaSwag => llama_hellaswag_order(items.len(), limit.unwrap_or(items.len())),
        _ => llama_scaled_selection(items.len(), limit.unwrap_or(0)),
    };
    let tasks: Vec<Task> = order
        .iter()
        .map(|&i| prepare(model, scorer, &items[i]))
        .collect::<Result<_>>()?;
    let n_parallel = opts.n_parallel.max(4);
    let n_ctx = n_parallel * opts.n_ctx;
    let n_batch = opts.n_batch.min(n_ctx);
    let mut copts = ContextOptions::new(n_ctx, n_batch, opts.n_threads);
    copts.n_seq_max = n_parallel;
    copts.kv_unified = true;
    let mut ctx = Context::new(model, &copts)?;
    // llama-perplexity packs against the context size llama.cpp reports.
    let n_cells = ctx.n_ctx() as usize;
    let max_choices = tasks.iter().map(|t| t.seqs.len()).max().unwrap_or(1);
    let mut batch = Batch::new(n_batch as usize, max_choices);
    let per_task = if scorer == Scorer::WinoGrande {
        2 * 128
    } else {
        4 * 32
    };
    let max_seq = per_task.min(n_parallel as usize);

    let mut scores = Vec::with_capacity(tasks.len());
    let mut tokens_decoded = 0u64;
    let mut i0 = 0;
    while i0 < tasks.len() {
        crate::util::check_interrupted()?;
        // Pack tasks [i0, i1) as llama.cpp does; `outputs` lists what each output row is for.
        let (mut n_cur, mut s0, mut i1) = (0usize, 0usize, i0);
        let mut entries: Vec<(Token, i32, Vec<i32>, bool)> = Vec::new();
        let mut outputs: Vec<Vec<Use>> = Vec::new();
        let mut firsts = Vec::new();
        while i1 < tasks.len() && n_cur + tasks[i1].cells <= n_cells {
            let t = &tasks[i1];
            let k = t.seqs.len();
            if s0 + k > max_seq {
                if s0 == 0 {
                    bail!("a task has {k} choices: llama.cpp mode needs -np of at least {k}");
                }
                break;
            }
            let first_out = outputs.len();
            for p in 0..t.common {
                let seqs = (0..k).map(|s| (s0 + s) as i32).collect();
                entries.push((t.seqs[0][p], p as i32, seqs, p + 1 == t.common));
            }
            outputs.push(Vec::new());
            for (s, seq) in t.seqs.iter().enumerate() {
                for (p, &token) in seq.iter().enumerate().skip(t.common) {
                    let out = scorer == Scorer::WinoGrande || p + 1 < seq.len();
                    entries.push((token, p as i32, vec![(s0 + s) as i32], out));
                    if out {
                        outputs.push(Vec::new());
                    }
                }
            }
            firsts.push(first_out);
            s0 += k;
            n_cur += t.cells;
            i1 += 1;
        }
        if i0 == i1 {
            bail!(
                "task {} does not fit in the context window (needs {} cells of {n_cells}; raise -c)",
                i0,
                tasks[i0].cells
            );
        }
        let mut n_pairs = 0;
        for (r, &o) in firsts.iter().enumerate() {
            let t = &tasks[i0 + r];
            if scorer != Scorer::WinoGrande {
                outputs[o].push(Use::First(r));
            }
            for (li, token) in pair_list(scorer, t)? {
                outputs[o + li].push(Use::Pair(n_pairs, token));
                n_pairs += 1;
            }
        }
        // Decode in n_batch pieces, computing each output row's values while it is current.
        let mut results = vec![0.0f32; n_pairs];
        let mut first_lp: Vec<Vec<f32>> = vec![Vec::new(); i1 - i0];
        let mut out_idx = 0;
        ctx.clear_memory();
        for chunk in entries.chunks(n_batch as usize) {
            batch.clear();
            for (token, pos, seqs, out) in chunk {
                batch.add(*token, *pos, seqs, *out)?;
            }
            ctx.decode(&mut batch)?;
            for (j, e) in chunk.iter().enumerate() {
                if !e.3 {
                    continue;
                }
                let row = ctx.logits(j)?;
                for u in &outputs[out_idx] {
                    match *u {
                        Use::First(r) => {
                            let t = &tasks[i0 + r];
                            first_lp[r] = t
                                .seqs
                                .iter()
                                .map(|s| first_logprob_f32(row, s[t.common]))
                                .collect();
                        }
                        Use::Pair(i, token) => results[i] = logprob_f32(row, token),
                    }
                }
                out_idx += 1;
            }
        }
        tokens_decoded += entries.len() as u64;
        let mut ir = 0;
        for (r, first) in first_lp.iter().enumerate() {
            scores.push(task_scores(
                scorer,
                &tasks[i0 + r],
                first,
                &results,
                &mut ir,
            )?);
        }
        i0 = i1;
        progress(i0);
    }
    let picks = scores.iter().map(|s| pick(scorer, s)).collect();
    Ok(LlamaScores {
        order,
        scores,
        picks,
        tokens_decoded,
        tokens_unshared: tasks
            .iter()
            .flat_map(|t| t.seqs.iter().map(|s| s.len() as u64))
            .sum(),
    })
}

/// The (output row within the task, token) pairs llama.cpp evaluates for a task, in its order.
fn pair_list(scorer: Scorer, t: &Task) -> Result<Vec<(usize, Token)>> {
    let mut pairs = Vec::new();
    if scorer != Scorer::WinoGrande {
        let mut li = 1;
        for s in &t.seqs {
            for j in t.common..s.len() - 1 {
                pairs.push((li, s[j + 1]));
                li += 1;
            }
        }
        return Ok(pairs);
    }
    let (s0, s1) = (&t.seqs[0], &t.seqs[1]);
    for (c, seq) in [s0, s1].into_iter().enumerate() {
        let (n_base, last) = wino_span(t, c)?;
        // The second choice starts from the row the first choice's part ends at (llama.cpp's FIXME).
        let offset = if c == 0 { 0 } else { s0.len() - t.common };
        let start = (offset + n_base)
            .checked_sub(t.common)
            .context("WinoGrande choice tokens do not fit llama.cpp's layout")?;
        for (k, j) in (n_base - 1..seq.len() - 1 - last).enumerate() {
            pairs.push((start + k, seq[j + 1]));
        }
    }
    Ok(pairs)
}

/// WinoGrande's scored span of choice `c`: after `first + choice` when both sequences have more
/// than 3 tokens past the shared prefix, else after the prefix; the last token dropped if it can be.
fn wino_span(t: &Task, c: usize) -> Result<(usize, usize)> {
    const MIN_TRAILING: usize = 3;
    let skip_choice = t.seqs.iter().all(|s| s.len() - t.common > MIN_TRAILING);
    let n_base = if skip_choice { t.n_base[c] } else { t.common };
    let len = t.seqs[c].len();
    if n_base == 0 || n_base > len {
        bail!("WinoGrande choice tokens do not fit llama.cpp's layout");
    }
    let last = usize::from(len - n_base > 1);
    Ok((n_base, last))
}

fn task_scores(
    scorer: Scorer,
    t: &Task,
    first: &[f32],
    results: &[f32],
    ir: &mut usize,
) -> Result<Vec<f64>> {
    let mut next = || {
        let v = results[*ir];
        *ir += 1;
        v
    };
    Ok(match scorer {
        // hellaswag_score: double accumulation of float log-probs, mean over the ending's tokens.
        Scorer::HellaSwag => t
            .seqs
            .iter()
            .zip(first)
            .map(|(s, &f)| {
                let mut sum = f as f64;
                for _ in t.common..s.len() - 1 {
                    sum += next() as f64;
                }
                sum / (s.len() - t.common) as f64
            })
            .collect(),
        // multiple_choice_score: the same in single precision.
        Scorer::MultipleChoice => t
            .seqs
            .iter()
            .zip(first)
            .map(|(s, &f)| {
                let mut sum = f;
                for _ in t.common..s.len() - 1 {
                    sum += next();
                }
                (sum / (s.len() - t.common) as f32) as f64
            })
            .collect(),
        Scorer::WinoGrande => (0..2)
            .map(|c| {
                let (n_base, last) = wino_span(t, c)?;
                let n = t.seqs[c].len() - 1 - last;
                let mut sum = 0.0f32;
                for _ in n_base - 1..n {
                    sum += next();
                }
                Ok((sum / (t.seqs[c].len() - n_base - last) as f32) as f64)
            })
            .collect::<Result<_>>()?,
    })
}

/// llama.cpp's choice: the first strictly highest score; WinoGrande picks 1 only if strictly above 2.
fn pick(scorer: Scorer, scores: &[f64]) -> usize {
    if scorer == Scorer::WinoGrande {
        return if scores[0] > scores[1] { 0 } else { 1 };
    }
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate().skip(1) {
        if s > scores[best] {
            best = i;
        }
    }
    best
}
