//! Measuring one model of the sweep: perplexity and KL-divergence against the saved base, throughput,
//! and the multiple-choice tasks, all on one loaded model.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use super::config::SweepConfig;
use super::events::{Observer, SweepEvent};
use crate::engine::{open_gguf, Model, ModelOptions, Token};
use crate::measure::energy::EnergySource;
use crate::measure::peaks::Peaks;
use crate::measure::work::ModelWork;
use crate::measure::{self, BaseCapture, Eval, KldBase, PerplexityOptions, PerplexityRun};
use crate::results::{KldSummary, RungResult, TaskScore};
use crate::tasks::TaskSet;

/// What every rung is measured against, loaded once.
pub struct Shared<'a> {
    pub kld_base: &'a KldBase,
    pub tasks: &'a [TaskSet],
    pub limits: &'a MachineLimits,
}

/// The machine's peaks and energy counter every rung's bench is compared with.
#[derive(Debug, Clone, Default)]
pub struct MachineLimits {
    pub peaks: Option<Peaks>,
    pub energy: Option<EnergySource>,
}

pub fn model_options(cfg: &SweepConfig) -> ModelOptions {
    ModelOptions {
        n_gpu_layers: cfg.n_gpu_layers,
        ..Default::default()
    }
}

pub fn perplexity_options(cfg: &SweepConfig) -> PerplexityOptions {
    PerplexityOptions {
        n_ctx: cfg.n_ctx,
        n_batch: cfg.eval_batch(),
        n_chunks: cfg.n_chunks,
        n_threads: cfg.n_threads,
        n_workers: cfg.n_workers,
    }
}

fn chunk_progress<'o>(
    on: &'o mut dyn FnMut(SweepEvent<'_>),
) -> impl FnMut(&measure::ChunkProgress) + 'o {
    move |p| {
        on(SweepEvent::Progress(
            p.done as u64,
            p.total as u64,
            "chunks",
            format!("PPL {:.4} ± {:.4}", p.chunk.ppl, p.ppl_err),
        ))
    }
}

/// The base: perplexity of the text, capturing the compact base every rung's KL-divergence uses.
pub fn measure_base(
    cfg: &SweepConfig,
    tokens: &[Token],
    model: &Model,
    r: &mut RungResult,
    tasks: &[TaskSet],
    limits: &MachineLimits,
    on: Observer<'_>,
) -> Result<KldBase> {
    on(SweepEvent::Stage("base perplexity"));
    // The base is the sweep's largest model. On the CPU it decodes a quarter chunk per call: each
    // context then holds half as many rows of vocabulary-wide logits as with whole chunks, so two
    // contexts side by side (faster than one context with both threads) take no more memory than
    // one did. The numbers are the same at any batch size (the captured base is byte for byte the
    // same).
    let mut opts = perplexity_options(cfg);
    if cfg.n_gpu_layers == 0 {
        opts.n_batch = opts.n_batch.min((cfg.n_ctx / 4).max(1));
    }
    let run = measure::perplexity(
        model,
        Eval::Text {
            tokens,
            capture: BaseCapture::compact(),
        },
        &opts,
        &mut chunk_progress(on),
    )?;
    record_perplexity(r, &run);
    r.ln_ppl_ratio = Some(0.0);
    let base = run
        .base
        .expect("a compact capture returns the base it captured");
    bench_and_tasks(cfg, model, r, tasks, limits, on)?;
    Ok(base)
}

/// A quantized (or pruned) rung: loads `path` once and measures everything on it.
pub fn measure_file(
    cfg: &SweepConfig,
    path: &Path,
    shared: &Shared<'_>,
    r: &mut RungResult,
    on: Observer<'_>,
) -> Result<()> {
    let model = Model::load(path, &model_options(cfg))?;
    shared.kld_base.check_model(&model)?;
    on(SweepEvent::Stage("perplexity + KLD"));
    let run = measure::perplexity(
        &model,
        Eval::AgainstBase(shared.kld_base),
        &perplexity_options(cfg),
        &mut chunk_progress(on),
    )?;
    record_perplexity(r, &run);
    if let Some(k) = &run.kld {
        r.ln_ppl_ratio = Some(k.stats.ln_ppl_ratio);
        r.ln_ppl_ratio_err = Some(k.stats.ln_ppl_ratio_err);
        r.kld = Some(KldSummary::from(&k.stats));
    }
    bench_and_tasks(cfg, &model, r, shared.tasks, shared.limits, on)
}

/// The model's work per token from its shapes; without it the bench runs, its machine use is
/// left out, and the sweep says why.
fn model_work(model: &Model, on: Observer<'_>) -> Option<ModelWork> {
    let counted = open_gguf(model.path())
        .map_err(anyhow::Error::from)
        .and_then(|f| ModelWork::from_gguf(&f));
    match counted {
        Ok(w) => Some(w),
        Err(e) => {
            on(SweepEvent::Warning(format!(
                "{e:#}; MFU and bandwidth use are left out"
            )));
            None
        }
    }
}

fn record_perplexity(r: &mut RungResult, run: &PerplexityRun) {
    r.ppl = Some(run.ppl);
    r.ppl_err = Some(run.ppl_err);
    r.times.perplexity_s = Some(run.seconds);
}

fn bench_and_tasks(
    cfg: &SweepConfig,
    model: &Model,
    r: &mut RungResult,
    tasks: &[TaskSet],
    limits: &MachineLimits,
    on: Observer<'_>,
) -> Result<()> {
    if let Some(b) = &cfg.bench {
        on(SweepEvent::Stage("bench"));
        on(SweepEvent::Progress(
            0,
            1,
            "runs",
            format!("pp{} tg{} ×{}", b.n_prompt, b.n_gen, b.reps),
        ));
        let t0 = Instant::now();
        let res = measure::bench::bench_model(
            model,
            &measure::bench::BenchPoint {
                n_prompt: b.n_prompt,
                n_gen: b.n_gen,
                reps: b.reps,
                n_threads: cfg.n_threads,
                n_batch: cfg.bench_batch(),
                // The perplexity pass has just run every weight through the same kernels; a
                // warm-up run would add a pp of n_prompt tokens per rung and change nothing.
                warmup: false,
                energy: limits.energy.clone(),
                work: model_work(model, on),
                peaks: limits.peaks.clone(),
            },
        )?;
        r.pp_ts = res.pp_ts;
        r.pp_ts_sd = res.pp_ts_sd;
        r.tg_ts = res.tg_ts;
        r.tg_ts_sd = res.tg_ts_sd;
        r.peak_rss_bytes = res.peak_rss_bytes;
        r.pp_use = res.pp_use;
        r.tg_use = res.tg_use;
        r.times.bench_s = Some(t0.elapsed().as_secs_f64());
    }
    if !tasks.is_empty() {
        let t0 = Instant::now();
        let opts = crate::tasks::EvalOptions {
            limit: cfg.task_limit,
            seed: cfg.task_seed,
            n_threads: cfg.n_threads,
            ..Default::default()
        };
        for set in tasks {
            crate::util::check_interrupted()?;
            on(SweepEvent::Stage(set.name()));
            let report = crate::tasks::evaluate(model, set, &opts, &mut |done, total| {
                on(SweepEvent::Progress(
                    done as u64,
                    total as u64,
                    "items",
                    String::new(),
                ))
            })?;
            r.tasks.push(TaskScore::from(&report));
        }
        r.times.tasks_s = Some(t0.elapsed().as_secs_f64());
    }
    Ok(())
}
