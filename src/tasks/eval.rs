//! Evaluating a loaded task set on a model: pick the items, build the prompts, score, summarise.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::{bail, Result};

use super::accuracy::{argmax, Accuracy, ItemResult, Mode, SubjectScore, TaskReport};
use super::item::Item;
use super::kind::TaskKind;
use super::llama_mode::{self, LlamaOptions};
use super::load::TaskSet;
use super::sample::seeded_sample;
use super::shared::{self, Question, SharedOptions};
use super::template::{encode_pair_cached, harness_request, Request};
use crate::engine::Model;

#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Evaluate a seeded sample of this many items (harness mode) or llama-perplexity's own
    /// selection of this many tasks (llama.cpp mode).
    pub limit: Option<usize>,
    pub seed: u64,
    /// MMLU few-shot exemplars from the dev split (harness mode).
    pub shots: usize,
    /// Harness mode: KV cells per round (default 2048, grown to fit the longest question).
    /// llama.cpp mode: `-c`, cells per sequence (default 512).
    pub n_ctx: Option<u32>,
    /// Tokens per decode call (default 512 harness, 2048 llama.cpp as llama-perplexity).
    pub n_batch: Option<u32>,
    /// Parallel sequences (default 64 harness; llama.cpp mode `-np`, default 4).
    pub n_parallel: Option<u32>,
    pub n_threads: u32,
    pub mode: Mode,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            limit: None,
            seed: 1234,
            shots: 0,
            n_ctx: None,
            n_batch: None,
            n_parallel: None,
            n_threads: crate::util::default_threads() as u32,
            mode: Mode::Harness,
        }
    }
}

/// Scores `set` on `model`. `progress(done, total)` is called as items finish.
pub fn evaluate(
    model: &Model,
    set: &TaskSet,
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<TaskReport> {
    if opts.limit == Some(0) {
        bail!("--limit must be at least 1");
    }
    let start = Instant::now();
    let mut report = match opts.mode {
        Mode::Harness => harness(model, set, opts, progress)?,
        Mode::LlamaCpp => llama(model, set, opts, progress)?,
    };
    report.seconds = start.elapsed().as_secs_f64();
    report.items_per_s = report.n as f64 / report.seconds.max(1e-9);
    Ok(report)
}

fn empty_report(set: &TaskSet, opts: &EvalOptions) -> TaskReport {
    TaskReport {
        task: set.kind.name().to_string(),
        mode: opts.mode,
        shots: opts.shots,
        source: set.source.display().to_string(),
        split: set.split.clone(),
        n: 0,
        acc: Accuracy::default(),
        acc_norm: None,
        subjects: Vec::new(),
        macro_acc: None,
        skipped_rows: set.skipped.len(),
        tokens_decoded: 0,
        tokens_unshared: 0,
        seconds: 0.0,
        items_per_s: 0.0,
        items: Vec::new(),
    }
}

/// MMLU's first `shots` dev exemplars of each subject (the harness's `first_n` sampler).
fn exemplars<'a>(
    set: &'a TaskSet,
    items: &[&Item],
    shots: usize,
) -> Result<HashMap<String, Vec<&'a Item>>> {
    let mut out: HashMap<String, Vec<&Item>> = HashMap::new();
    if shots == 0 {
        return Ok(out);
    }
    if set.kind != TaskKind::Mmlu {
        bail!("--shots is supported for mmlu only (from its dev split)");
    }
    if set.fewshot.is_empty() {
        bail!(
            "{}: --shots {shots} needs MMLU's dev split and none was found beside it; pass --fewshot-from PATH",
            set.source.display()
        );
    }
    for ex in &set.fewshot {
        let subject = ex.subject.clone().unwrap_or_default();
        let list = out.entry(subject).or_default();
        if list.len() < shots {
            list.push(ex);
        }
    }
    for item in items {
        let subject = item.subject.as_deref().unwrap_or_default();
        let have = out.get(subject).map_or(0, Vec::len);
        if have < shots {
            bail!(
                "{}: --shots {shots} needs {shots} dev exemplars of `{subject}`; the dev split has {have}",
                set.fewshot_files
                    .first()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        }
    }
    Ok(out)
}

fn harness(
    model: &Model,
    set: &TaskSet,
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<TaskReport> {
    let chosen: Vec<&Item> = seeded_sample(set.items.len(), opts.limit, opts.seed)
        .into_iter()
        .map(|i| &set.items[i])
        .collect();
    let shots = exemplars(set, &chosen, opts.shots)?;
    let no_shots = Vec::new();
    let mut requests: Vec<Request> = Vec::with_capacity(chosen.len());
    for item in &chosen {
        let subject = item.subject.as_deref().unwrap_or_default();
        requests.push(harness_request(
            item,
            shots.get(subject).unwrap_or(&no_shots),
        )?);
    }
    let questions = tokenize(model, &requests)?;
    let total = questions.len();
    let sopts = SharedOptions {
        n_ctx: opts.n_ctx.unwrap_or(2048),
        n_batch: opts.n_batch.unwrap_or(512),
        n_seq: opts.n_parallel.unwrap_or(64),
        n_threads: opts.n_threads,
    };
    let (lls, stats) =
        shared::loglikelihoods(model, &questions, &sopts, &mut |done| progress(done, total))?;

    let mut report = empty_report(set, opts);
    for ((item, req), ll) in chosen.iter().zip(&requests).zip(lls) {
        let pred = argmax(ll.iter().copied());
        let pred_norm = req
            .norm_chars
            .as_ref()
            .map(|chars| argmax(ll.iter().zip(chars).map(|(l, &c)| l / c as f64)));
        report.items.push(ItemResult {
            row: item.at.to_string(),
            subject: item.subject.clone(),
            gold: item.gold,
            scores: ll,
            pred,
            pred_norm,
        });
    }
    report.n = report.items.len();
    report.acc = Accuracy::of(report.items.iter().map(|r| r.pred == r.gold));
    if requests.first().is_some_and(|r| r.norm_chars.is_some()) {
        report.acc_norm = Some(Accuracy::of(
            report.items.iter().map(|r| r.pred_norm == Some(r.gold)),
        ));
    }
    report.tokens_decoded = stats.tokens_decoded;
    report.tokens_unshared = stats.tokens_unshared;
    if report.items.iter().any(|r| r.subject.is_some()) {
        by_subject(&mut report);
    }
    Ok(report)
}

/// Tokenizes every (context, continuation) pair the harness way; a context shared by a question's
/// choices is tokenized once.
fn tokenize(model: &Model, requests: &[Request]) -> Result<Vec<Question>> {
    requests
        .iter()
        .map(|req| {
            let mut cache = HashMap::new();
            let pairs = req
                .pairs
                .iter()
                .map(|(context, continuation)| {
                    encode_pair_cached(model, context, continuation, &mut cache)
                })
                .collect::<Result<_>>()?;
            Ok(Question { pairs })
        })
        .collect()
}

/// MMLU: per-subject accuracy, micro average with the harness's pooled stderr, macro average.
fn by_subject(report: &mut TaskReport) {
    let mut groups: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for r in &report.items {
        groups
            .entry(r.subject.clone().unwrap_or_default())
            .or_default()
            .push(r.pred == r.gold);
    }
    report.subjects = groups
        .into_iter()
        .map(|(subject, c)| SubjectScore {
            subject,
            n: c.len(),
            acc: Accuracy::of(c),
        })
        .collect();
    let parts: Vec<(usize, Accuracy)> = report.subjects.iter().map(|s| (s.n, s.acc)).collect();
    report.acc.stderr = Accuracy::pooled_stderr(&parts);
    let k = report.subjects.len().max(1) as f64;
    report.macro_acc = Some(report.subjects.iter().map(|s| s.acc.value).sum::<f64>() / k);
}

fn llama(
    model: &Model,
    set: &TaskSet,
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<TaskReport> {
    if opts.shots > 0 {
        bail!("--shots applies to the harness mode only");
    }
    let lopts = LlamaOptions {
        n_ctx: opts.n_ctx.unwrap_or(512),
        n_batch: opts.n_batch.unwrap_or(2048),
        n_parallel: opts.n_parallel.unwrap_or(4),
        n_threads: opts.n_threads,
    };
    let items: Vec<Item> = set
        .items
        .iter()
        .filter(|i| !set.llama_cpp_unread.contains(&i.at))
        .cloned()
        .collect();
    let total = opts.limit.map_or(items.len(), |l| l.min(items.len()));
    let scored = llama_mode::score(model, &items, opts.limit, &lopts, &mut |done| {
        progress(done, total)
    })?;
    let mut report = empty_report(set, opts);
    for ((&i, scores), pred) in scored.order.iter().zip(scored.scores).zip(scored.picks) {
        let item = &items[i];
        report.items.push(ItemResult {
            row: item.at.to_string(),
            subject: item.subject.clone(),
            gold: item.gold,
            scores,
            pred,
            pred_norm: None,
        });
    }
    report.n = report.items.len();
    report.acc = Accuracy::of(report.items.iter().map(|r| r.pred == r.gold));
    report.tokens_decoded = scored.tokens_decoded;
    report.tokens_unshared = scored.tokens_unshared;
    Ok(report)
}
