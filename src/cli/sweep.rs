use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

use mpt_gguf::sweep::{self, BenchSettings, ImatrixFor, SweepConfig, SweepEvent, SweepPlan};

/// Quantize one F16 model to every rung of a bit-width ladder and measure each rung in-process.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  mpt-gguf sweep model-f16.gguf -o sweep-out -f wiki.test.raw --calib groups_merged.txt
  mpt-gguf sweep model-f16.gguf -o k-out --ladder k -f wiki.test.raw --chunks 40
  mpt-gguf sweep model-f16.gguf -o grid --types Q8_0,Q4_K_M,Q2_K --prune wanda=0.3,0.5 --calib cal.txt -f wiki.test.raw
Without -f/--calib the texts cached by scripts/fetch-demo-text.sh ($MPT_DEMO_DIR) are used.
Re-running the same command resumes: finished rungs are kept, the rest are measured.")]
pub struct SweepArgs {
    /// The unquantized model (F16, BF16 or F32 GGUF): MODEL or -m MODEL.
    #[command(flatten)]
    pub model: super::model_path::ModelPath,
    /// Output folder: manifest, results.csv/json, table5.csv, report.md, charts.
    #[arg(short = 'o', long = "output")]
    pub out_dir: Option<PathBuf>,
    /// Ladder preset: table5 (one rung per bit width), k, iq, legacy, all.
    #[arg(long)]
    pub ladder: Option<String>,
    /// Explicit comma-separated list of types instead of a ladder, e.g. Q4_K_M,IQ2_M.
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// Evaluation text for perplexity and KL-divergence (e.g. wiki.test.raw). Default: the demo
    /// text that scripts/fetch-demo-text.sh caches, when it is there.
    #[arg(short = 'f', long = "file")]
    pub text: Option<PathBuf>,
    /// Calibration text for the importance matrix (IQ types, Wanda) and block importance.
    /// Default: the cached demo calibration text, when it is there.
    #[arg(long)]
    pub calib: Option<PathBuf>,
    /// Use this importance matrix instead of computing one.
    #[arg(long)]
    pub imatrix: Option<PathBuf>,
    /// Rungs quantized with the importance matrix: iq (IQ types only; K and legacy quants as
    /// plain llama-quantize makes them) or all (as `llama-quantize --imatrix` does).
    #[arg(long, value_enum, default_value_t = ImatrixFor::Iq)]
    pub imatrix_for: ImatrixFor,
    /// Chunks of the calibration text for the importance matrix (default: all).
    #[arg(long)]
    pub imatrix_chunks: Option<u32>,
    #[arg(short = 'c', long = "ctx-size", default_value_t = 512)]
    pub ctx: u32,
    /// Tokens per decode (default: the context size for perplexity and the importance matrix,
    /// which holds one chunk's logits at a time; 2048 for the bench, as llama-bench).
    #[arg(short = 'b', long = "batch-size")]
    pub batch: Option<u32>,
    /// Chunks of the evaluation text (default: all).
    #[arg(long)]
    pub chunks: Option<u32>,
    #[arg(short = 't', long, default_value_t = mpt_gguf::util::default_threads() as u32)]
    pub threads: u32,
    /// Perplexity: contexts decoding chunks side by side, -t split among them [default: 2 on the
    /// CPU when -t is even, else 1]; the numbers do not change.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Option<u32>,
    /// Layers to offload to the GPU (`-ngl`; needs a CUDA build).
    #[arg(long = "n-gpu-layers", default_value_t = 0)]
    pub n_gpu_layers: u32,
    /// Bench: prompt tokens (llama-bench -p).
    #[arg(short = 'p', long = "n-prompt", default_value_t = 512)]
    pub n_prompt: u32,
    /// Bench: generated tokens (llama-bench -n).
    #[arg(short = 'n', long = "n-gen", default_value_t = 128)]
    pub n_gen: u32,
    /// Bench: repetitions (llama-bench -r).
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    pub reps: u32,
    /// Skip the throughput benchmark.
    #[arg(long)]
    pub no_bench: bool,
    #[command(flatten)]
    pub machine: super::machine_args::MachineArgs,
    /// Multiple-choice tasks, comma-separated NAME[=PATH]: arc-easy, arc-challenge, mmlu, hellaswag, winogrande.
    #[arg(long, value_delimiter = ',')]
    pub tasks: Vec<String>,
    /// Score at most this many items per task (a seeded sample).
    #[arg(long)]
    pub task_limit: Option<usize>,
    /// Seed of the task sample.
    #[arg(long = "seed", default_value_t = 1234)]
    pub task_seed: u64,
    /// Prune × quantize grid: METHOD=LEVELS, repeatable (magnitude=0.1,0.3,0.5  wanda=0.5,2:4  depth=2,4).
    #[arg(long)]
    pub prune: Vec<String>,
    /// Recipe rungs beside the stock ones: like-stock (one no larger than each quantized stock
    /// rung) or bits-per-weight targets (3,3.5,4,5); needs --calib for the sensitivity run.
    #[arg(long)]
    pub recipes: Option<String>,
    /// Tokens per chunk of the sensitivity run behind --recipes.
    #[arg(long, default_value_t = 256)]
    pub sens_ctx: u32,
    /// Chunks of the sensitivity run behind --recipes.
    #[arg(long, default_value_t = 1)]
    pub sens_chunks: u32,
    /// What the sensitivity run measures alone: each tensor, or each kind over all layers.
    #[arg(long, value_enum, default_value_t = mpt_gguf::recipe::Grouping::Tensor)]
    pub sens_group: mpt_gguf::recipe::Grouping,
    /// Model name in tables and charts (default: the file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Resume an earlier run in the output folder (also what re-running the same command does).
    #[arg(long)]
    pub resume: bool,
    /// Start over in an output folder that holds a sweep with other inputs or settings.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Keep the quantized models (otherwise each is deleted after it is measured).
    #[arg(long)]
    pub keep_models: bool,
    /// Sweep a model that is already quantized (every rung then carries its rounding).
    #[arg(long)]
    pub allow_requantize: bool,
    #[command(flatten)]
    pub report: mpt_gguf::report::ReportOptions,
    /// Run only part of the sweep, for many workers sharing the output folder: prepare (the
    /// shared stages), rungs (this worker's share; prepares first if nobody did), merge.
    #[arg(long, default_value = "all", value_parser = parse_stage)]
    pub stage: sweep::Stage,
    /// This worker's share of the rungs, I/N (1-based). Default with --stage rungs: from
    /// Slurm's SLURM_ARRAY_TASK_ID/COUNT or a Kubernetes JOB_COMPLETION_INDEX (of
    /// MPT_SHARD_COUNT), else every rung.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<sweep::Shard>,
    #[command(flatten)]
    pub plan: super::sweep_plan::PlanArgs,
}

fn parse_stage(s: &str) -> Result<sweep::Stage> {
    sweep::Stage::parse(s)
}

fn parse_shard(s: &str) -> Result<sweep::Shard> {
    sweep::Shard::parse(s)
}

/// The worker's share: given, or from the scheduler's environment for --stage rungs.
fn shard(a: &SweepArgs) -> Result<sweep::Shard> {
    if let Some(s) = a.shard {
        return Ok(s);
    }
    if a.stage != sweep::Stage::Rungs {
        return Ok(sweep::Shard::default());
    }
    let env = |k: &str| std::env::var(k).ok();
    Ok(sweep::Shard::from_env(&env)?.unwrap_or_default())
}

/// The folder scripts/fetch-demo-text.sh fills (eval.txt, calibration.txt).
fn demo_dir() -> Option<PathBuf> {
    std::env::var_os("MPT_DEMO_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(std::env::var_os("HOME")?).join(".cache/mpt-gguf/demo")))
}

/// A demo text, if cached; says so on stderr, since the user did not name it.
fn demo_text(name: &str, flag: &str) -> Option<PathBuf> {
    let p = demo_dir()?.join(name);
    p.is_file().then(|| {
        eprintln!(
            "{flag} not given: using the demo text {} (real comparisons use -f wiki.test.raw)",
            p.display()
        );
        p
    })
}

pub fn run(a: SweepArgs) -> Result<()> {
    let shard = shard(&a)?;
    let Some(model) = a.model.get() else {
        bail!("no model: pass MODEL.gguf (or -m MODEL.gguf)");
    };
    let text = match a.text {
        Some(t) => t,
        None => demo_text("eval.txt", "-f").context(
            "no evaluation text: pass -f TEXT (real comparisons use WikiText-2's wiki.test.raw), \
             or run scripts/fetch-demo-text.sh once to make its demo text the default",
        )?,
    };
    let calib = a.calib.or_else(|| demo_text("calibration.txt", "--calib"));
    let mut prune = Vec::new();
    for p in &a.prune {
        prune.extend(sweep::plan::parse_prune(p)?);
    }
    let mut plan = SweepPlan::new(a.ladder.as_deref(), &a.types, &prune)?;
    if let Some(spec) = &a.recipes {
        plan = plan.with_recipes(&sweep::plan::RecipeSpec::parse(spec)?, a.imatrix_for)?;
    }
    let out_dir = a.out_dir.clone().unwrap_or_else(|| {
        let stem = model.file_stem().unwrap_or_default().to_string_lossy();
        PathBuf::from(format!("sweep-{stem}"))
    });
    let cfg = SweepConfig {
        stage: a.stage,
        shard,
        model,
        out_dir,
        plan,
        text,
        calib,
        imatrix: a.imatrix,
        imatrix_chunks: a.imatrix_chunks,
        imatrix_for: a.imatrix_for,
        n_ctx: a.ctx,
        n_batch: a.batch,
        n_chunks: a.chunks,
        n_threads: a.threads,
        n_workers: a.workers,
        n_gpu_layers: a.n_gpu_layers,
        bench: (!a.no_bench).then_some(BenchSettings {
            n_prompt: a.n_prompt,
            n_gen: a.n_gen,
            reps: a.reps,
        }),
        peak_overrides: a.machine.overrides(),
        tdp_watts: a.machine.tdp_watts,
        tasks: a.tasks,
        task_limit: a.task_limit,
        task_seed: a.task_seed,
        name: a.name,
        keep_models: a.keep_models,
        force: a.force,
        allow_requantize: a.allow_requantize,
        report: a.report,
        sensitivity: sweep::config::SensitivitySettings {
            n_ctx: a.sens_ctx,
            n_chunk: a.sens_chunks,
            grouping: a.sens_group,
        },
    };
    if a.plan.dry_run {
        return super::sweep_plan::dry_run(&cfg, a.plan.json);
    }
    if let Some(scheduler) = &a.plan.emit {
        return super::sweep_plan::emit(&cfg, &a.plan, scheduler);
    }
    mpt_gguf::util::install_interrupt_handler();
    let mut ui = Progress::new();
    let outcome = sweep::run_sweep(&cfg, &mut |e| ui.event(e));
    ui.finish();
    report_outcome(&cfg, &outcome?)
}

/// What the run did, in a line or two; an error when a merge finds rungs nobody measured.
fn report_outcome(cfg: &SweepConfig, o: &sweep::SweepOutcome) -> Result<()> {
    let dir = cfg.out_dir.display();
    let Some(results) = &o.results else {
        match cfg.stage {
            sweep::Stage::Prepare => eprintln!("shared stages done in {dir}"),
            _ => eprintln!(
                "shard {}/{}: {} rung(s) measured here{}",
                cfg.shard.index + 1,
                cfg.shard.count,
                o.measured.len(),
                if o.elsewhere.is_empty() {
                    String::new()
                } else {
                    format!(", {} by other workers", o.elsewhere.len())
                }
            ),
        }
        return Ok(());
    };
    let ok = results.rungs.iter().filter(|r| r.ok()).count();
    eprintln!(
        "{ok} of {} rungs measured; results in {dir} (results.csv, table5.csv, report.md, charts/)",
        cfg.plan.rungs.len()
    );
    let Some(m) = &o.merge else { return Ok(()) };
    for r in &m.refused {
        eprintln!("warning: {}: not used: {}", r.path, r.why);
    }
    if !m.in_progress.is_empty() {
        let who: Vec<String> = m
            .in_progress
            .iter()
            .map(|(r, by)| format!("{r} ({})", by.describe()))
            .collect();
        eprintln!(
            "still being measured: {}; the last worker to finish merges them (or run --stage merge then)",
            who.join(", ")
        );
    }
    if !m.missing.is_empty() {
        bail!(
            "{dir}: no result yet for {}: run the workers for them (mpt-gguf sweep ... --stage rungs, or resubmit their shards) and merge again",
            m.missing.join(", ")
        );
    }
    Ok(())
}

/// Two bars: rungs over the whole sweep (with ETA) and the current stage's progress. Without a
/// terminal (a log file, CI) the bars stay hidden and the lines are printed plainly.
struct Progress {
    multi: MultiProgress,
    rungs: ProgressBar,
    stage: ProgressBar,
    terminal: bool,
}

impl Progress {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let rungs = multi.add(super::progress::bar(
            "rungs [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta} {msg}",
        ));
        let stage = multi.add(super::progress::bar(
            "{spinner} {prefix} [{bar:30}] {pos}/{len} {msg}",
        ));
        stage.enable_steady_tick(Duration::from_millis(200));
        Self {
            multi,
            rungs,
            stage,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn println(&self, line: String) {
        if self.terminal {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    fn event(&mut self, e: SweepEvent<'_>) {
        match e {
            SweepEvent::Stage(name) => {
                if !self.terminal {
                    eprintln!("  {name}");
                }
                self.stage.set_prefix(name.to_string());
                self.stage.set_length(0);
                self.stage.set_position(0);
                self.stage.set_message("");
            }
            SweepEvent::Progress(done, total, unit, msg) => {
                self.stage.set_length(total);
                self.stage.set_position(done);
                self.stage.set_message(format!("{unit} {msg}"));
            }
            SweepEvent::RungStart { index, total, rung } => {
                self.rungs.set_length(total as u64);
                self.rungs.set_position(index.saturating_sub(1) as u64);
                self.rungs.set_message(rung.to_string());
            }
            SweepEvent::RungDone(r) => {
                self.rungs.inc(1);
                self.println(rung_line(r));
            }
            SweepEvent::RungSkipped(name) => {
                self.rungs.inc(1);
                self.println(format!("{name:<18} done in an earlier run"));
            }
            SweepEvent::RungElsewhere(name, by) => {
                self.rungs.inc(1);
                self.println(format!("{name:<18} being measured by {by}"));
            }
            SweepEvent::Warning(w) => {
                self.println(format!("warning: {w}"));
            }
        }
    }

    fn finish(&self) {
        self.stage.finish_and_clear();
        self.rungs.finish_and_clear();
    }
}

/// One line per finished rung, the numbers a user watches for.
fn rung_line(r: &mpt_gguf::results::RungResult) -> String {
    if let Some(e) = &r.error {
        return format!("{:<18} FAILED: {e}", r.rung);
    }
    let f = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
    let kld = r.kld.as_ref().map(|k| k.mean);
    format!(
        "{:<18} {:>6} bpw  PPL {:>9} ± {:<7} KLD {:>8}  pp {:>8} t/s  tg {:>7} t/s",
        r.rung,
        f(r.bpw, 3),
        f(r.ppl, 4),
        f(r.ppl_err, 4),
        f(kld, 5),
        f(r.pp_ts, 1),
        f(r.tg_ts, 1),
    )
}
