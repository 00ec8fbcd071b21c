use std::path::PathBuf;

use anyhow::Result;

use mpt_gguf::engine::{Model, ModelOptions};
use mpt_gguf::tasks::{self, evaluate, EvalOptions, LoadOptions, Mode, TaskReport};

/// Multiple-choice accuracy in-process: ARC-Easy, ARC-Challenge, MMLU, HellaSwag, WinoGrande.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Tasks: arc-easy, arc-challenge, mmlu, hellaswag, winogrande, truthfulqa (llama.cpp binary only).\n\
Without =PATH a task is read from $MPT_TASKS_DIR or ~/.cache/mpt-gguf/tasks (scripts/fetch-tasks.sh fills it).\n\
PATH may be Hugging Face JSONL, Parquet or Arrow (file, save_to_disk folder, datasets cache), a hendrycks\n\
MMLU CSV folder, or llama.cpp's hellaswag_val_full.txt, WinoGrande CSV or binary multiple-choice file.\n\n\
Examples:\n  mpt-gguf eval -m model.gguf --task arc-easy,arc-challenge,mmlu --limit 200\n  \
mpt-gguf eval -m model.gguf --task mmlu=data/mmlu --shots 5\n  \
mpt-gguf eval -m model.gguf --mode llama.cpp --task hellaswag=hellaswag_val_full.txt --limit 400"
)]
pub struct EvalArgs {
    #[arg(short = 'm', long)]
    pub model: PathBuf,
    /// NAME[=PATH], repeatable or comma-separated.
    #[arg(
        long = "task",
        visible_alias = "tasks",
        value_name = "NAME[=PATH]",
        required = true,
        value_delimiter = ','
    )]
    pub tasks: Vec<String>,
    /// Evaluate this many items: a seeded sample (harness mode) or llama-perplexity's own
    /// selection (llama.cpp mode, like --hellaswag-tasks N).
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Few-shot exemplars from MMLU's dev split (harness mode, mmlu only).
    #[arg(long, default_value_t = 0)]
    pub shots: usize,
    /// harness (lm-evaluation-harness prompts and metrics) or llama.cpp (llama-perplexity's algorithms).
    #[arg(long, default_value = "harness", value_parser = parse_mode)]
    pub mode: Mode,
    /// Harness: KV cells per round (default 2048, grown to fit); llama.cpp: per sequence (default 512).
    #[arg(short = 'c', long = "ctx-size")]
    pub ctx: Option<u32>,
    /// Tokens per decode call (default 512 harness, 2048 llama.cpp).
    #[arg(short = 'b', long = "batch-size")]
    pub batch: Option<u32>,
    /// Parallel sequences (`-np`; default 64 harness, 4 llama.cpp).
    #[arg(long = "parallel")]
    pub parallel: Option<u32>,
    #[arg(short = 't', long, default_value_t = mpt_gguf::util::default_threads() as u32)]
    pub threads: u32,
    /// Layers to offload to the GPU (`-ngl`; needs a CUDA build).
    #[arg(long = "n-gpu-layers", default_value_t = 0)]
    pub n_gpu_layers: u32,
    /// Skip unusable rows (no gold, gold out of range, malformed) and report them.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Split to read from folders holding several (default: test for ARC/MMLU, else validation).
    #[arg(long)]
    pub split: Option<String>,
    /// MMLU dev split for --shots, when it is not beside the data.
    #[arg(long)]
    pub fewshot_from: Option<PathBuf>,
    /// Folder for tasks given without a path.
    #[arg(long)]
    pub tasks_dir: Option<PathBuf>,
    /// Print MMLU's per-subject table.
    #[arg(long)]
    pub per_subject: bool,
    /// Write the reports, per-item scores included, as JSON.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s.to_ascii_lowercase().as_str() {
        "harness" | "lm-eval" | "lm-evaluation-harness" => Ok(Mode::Harness),
        "llama.cpp" | "llamacpp" | "llama-cpp" => Ok(Mode::LlamaCpp),
        _ => Err(format!("unknown mode `{s}` (harness or llama.cpp)")),
    }
}

pub fn run(a: EvalArgs) -> Result<()> {
    let lopts = LoadOptions {
        skip_bad_rows: a.skip_bad_rows,
        split: a.split.clone(),
        fewshot: a.fewshot_from.clone(),
        data_dir: a.tasks_dir.clone(),
    };
    // Every task file is read and checked before the model is loaded.
    let sets = tasks::load_all(&a.tasks, &lopts)?;
    for set in &sets {
        let formats: Vec<&str> = set.formats.iter().map(|f| f.name()).collect();
        eprintln!(
            "{}: {} items from {} ({}, split {}){}",
            set.name(),
            set.len(),
            set.source.display(),
            formats.join(", "),
            set.split,
            if set.fewshot.is_empty() {
                String::new()
            } else {
                format!(", {} dev exemplars", set.fewshot.len())
            }
        );
        if !set.skipped.is_empty() {
            eprintln!("{}: skipped {} bad rows:", set.name(), set.skipped.len());
            for s in set.skipped.iter().take(10) {
                eprintln!("  {s}");
            }
            if set.skipped.len() > 10 {
                eprintln!("  ... and {} more", set.skipped.len() - 10);
            }
        }
        for w in &set.warnings {
            eprintln!("warning: {w}");
        }
    }
    mpt_gguf::util::install_interrupt_handler();
    let model = Model::load(
        &a.model,
        &ModelOptions {
            n_gpu_layers: a.n_gpu_layers,
            ..Default::default()
        },
    )?;
    let eopts = EvalOptions {
        limit: a.limit,
        seed: a.seed,
        shots: a.shots,
        n_ctx: a.ctx,
        n_batch: a.batch,
        n_parallel: a.parallel,
        n_threads: a.threads,
        mode: a.mode,
    };
    let mut reports: Vec<TaskReport> = Vec::new();
    for set in &sets {
        let bar = super::progress::bar(
            "{spinner} {prefix} [{bar:30}] {pos}/{len} items {elapsed} eta {eta}",
        );
        bar.set_prefix(set.name());
        let report = evaluate(&model, set, &eopts, &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
        bar.finish_and_clear();
        if a.per_subject && !report.subjects.is_empty() {
            print!("{}", tasks::render::subjects(&report));
        }
        reports.push(report);
    }
    print!("{}", tasks::render::summary(&reports));
    if let Some(out) = &a.output {
        mpt_gguf::util::write_atomic(out, &serde_json::to_vec_pretty(&reports)?)?;
        eprintln!("{}: reports written", out.display());
    }
    Ok(())
}
