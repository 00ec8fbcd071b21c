use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use mpt_gguf::engine::{Model, ModelOptions};
use mpt_gguf::measure::kld_base::DEFAULT_TAIL_SAMPLES;
use mpt_gguf::measure::output::{write_output, PerplexityReport};
use mpt_gguf::measure::perplexity::{check_tokens_match, plan_text};
use mpt_gguf::measure::{
    perplexity, text, BaseCapture, ChunkProgress, Eval, KldBase, PerplexityOptions, PerplexityRun,
    DEFAULT_TOP_K,
};

/// Perplexity of a text, and KL-divergence against a base (llama-perplexity's algorithm and numbers).
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  mpt-gguf perplexity -m model-q4_k_m.gguf -f wiki.test.raw
  mpt-gguf perplexity -m model-q4_k_m.gguf -f wiki.test.raw --base model-f16.gguf
  mpt-gguf perplexity -m model-f16.gguf -f wiki.test.raw --save-kld-base f16.kld
  mpt-gguf perplexity -m model-q4_k_m.gguf --kld-base f16.kld
  mpt-gguf perplexity -m model-f16.gguf -f wiki.test.raw --kl-divergence-base f16.logits
  mpt-gguf perplexity -m model-q4_k_m.gguf --kl-divergence-base f16.logits --kl-divergence")]
pub struct PerplexityArgs {
    /// Model to evaluate.
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// Evaluation text (optional with --kld-base / --kl-divergence, whose files hold the tokens).
    #[arg(short = 'f', long = "file")]
    pub text: Option<PathBuf>,
    /// Tokens per chunk [default: 512, or the base file's].
    #[arg(short = 'c', long = "ctx-size")]
    pub ctx: Option<u32>,
    /// Tokens per decode call; batch/ctx chunks are evaluated together.
    #[arg(short = 'b', long = "batch-size", default_value_t = 2048)]
    pub batch: u32,
    /// Use at most this many chunks.
    #[arg(long)]
    pub chunks: Option<u32>,
    /// Threads for llama.cpp [default: all cores].
    #[arg(short = 't', long, default_value_t = mpt_gguf::util::default_threads() as u32, hide_default_value = true)]
    pub threads: u32,
    /// Contexts decoding chunks side by side, -t split among them [default: 2 on the CPU when -t
    /// is even, else 1]; the numbers do not change.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Option<u32>,
    /// Layers to offload to the GPU (`-ngl`; needs a CUDA build).
    #[arg(long = "n-gpu-layers", default_value_t = 0)]
    pub n_gpu_layers: u32,
    /// KL-divergence against this base model, over the full vocabulary (both models loaded).
    #[arg(long, conflicts_with_all = ["kld_base", "kl_divergence", "save_kld_base", "kl_divergence_base"])]
    pub base: Option<PathBuf>,
    /// Save a compact KL-divergence base of this model (520 bytes per scored token with the defaults).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kld_base", "kl_divergence"])]
    pub save_kld_base: Option<PathBuf>,
    /// KL-divergence against a compact base saved with --save-kld-base.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kl_divergence", "kl_divergence_base"])]
    pub kld_base: Option<PathBuf>,
    /// Top tokens per position kept by --save-kld-base.
    #[arg(long, default_value_t = DEFAULT_TOP_K)]
    pub kld_top_k: usize,
    /// Tail tokens sampled per position by --save-kld-base.
    #[arg(long, default_value_t = DEFAULT_TAIL_SAMPLES)]
    pub kld_tail_samples: usize,
    /// llama.cpp's logits file: written (like llama-perplexity --kl-divergence-base), or read with --kl-divergence.
    #[arg(long, value_name = "FILE")]
    pub kl_divergence_base: Option<PathBuf>,
    /// KL-divergence against the --kl-divergence-base file (llama-perplexity --kl-divergence).
    #[arg(long, requires = "kl_divergence_base")]
    pub kl_divergence: bool,
    /// Write the results with per-chunk values as JSON (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write per-chunk values as CSV (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

pub fn run(a: PerplexityArgs) -> Result<()> {
    let t0 = Instant::now();
    let text = match &a.text {
        Some(p) => Some(text::read_text(p)?),
        None if a.kld_base.is_none() && !a.kl_divergence => {
            bail!("-f TEXT is needed (only --kld-base and --kl-divergence runs take their tokens from the base file)")
        }
        None => None,
    };
    // A compact base fixes -c; read it first so -c can default to it.
    let kld_base = match &a.kld_base {
        Some(p) => Some(KldBase::open(p)?),
        None => None,
    };
    let n_ctx = a.ctx.unwrap_or_else(|| {
        kld_base.as_ref().map(|b| b.meta.n_ctx).unwrap_or_else(|| {
            a.kl_divergence_base
                .as_deref()
                .filter(|_| a.kl_divergence)
                .and_then(|p| mpt_gguf::measure::llama_file::LlamaLogitsReader::open(p).ok())
                .map_or(512, |r| r.n_ctx)
        })
    });
    let opts = PerplexityOptions {
        n_ctx,
        n_batch: a.batch,
        n_chunks: a.chunks,
        n_threads: a.threads,
        n_workers: a.workers,
    };
    mpt_gguf::util::install_interrupt_handler();
    let model_opts = ModelOptions {
        n_gpu_layers: a.n_gpu_layers,
        ..Default::default()
    };
    let model = Model::load(&a.model, &model_opts)?;
    let tokens = match (&text, &a.text) {
        (Some(t), Some(p)) => {
            let tokens = text::tokenize(&model, t)?;
            if kld_base.is_none() && !a.kl_divergence {
                plan_text(tokens.len(), &opts).with_context(|| p.display().to_string())?;
            }
            tokens
        }
        _ => Vec::new(),
    };
    let base_model = match &a.base {
        Some(p) => Some(Model::load(p, &model_opts)?),
        None => None,
    };

    let eval = if let Some(base) = &kld_base {
        if let Some(p) = &a.text {
            check_tokens_match(&tokens, base.tokens()).with_context(|| {
                format!(
                    "{} and {}",
                    p.display(),
                    a.kld_base.as_deref().unwrap_or(Path::new("")).display()
                )
            })?;
        }
        Eval::AgainstBase(base)
    } else if let (true, Some(p)) = (a.kl_divergence, &a.kl_divergence_base) {
        Eval::AgainstLlamaFile(p)
    } else if let Some(base) = &base_model {
        Eval::AgainstModel {
            tokens: &tokens,
            base,
        }
    } else {
        Eval::Text {
            tokens: &tokens,
            capture: BaseCapture {
                top_k: a.save_kld_base.as_ref().map(|_| a.kld_top_k),
                tail_samples: a.kld_tail_samples,
                llama_file: a.kl_divergence_base.as_deref(),
            },
        }
    };

    let bar = super::progress::bar(
        "{spinner} perplexity [{bar:30}] {pos}/{len} chunks {elapsed} eta {eta} {msg}",
    );
    let run = perplexity(&model, eval, &opts, &mut |p: &ChunkProgress| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        let mut msg = format!("PPL {:.4} ± {:.4}", p.chunk.ppl, p.ppl_err);
        if let Some(k) = &p.chunk.kld {
            msg += &format!(
                "  KLD {:.5}  same top {:.2}%",
                k.running.kld_mean,
                100.0 * k.running.same_top
            );
        }
        bar.set_message(msg);
    });
    bar.finish_and_clear();
    let run = run?;
    if let (Some(path), Some(base)) = (&a.save_kld_base, &run.base) {
        base.save(path)?;
        eprintln!(
            "{}: KL-divergence base of {} scored tokens (top {}), {:.1} MiB",
            path.display(),
            base.meta.n_scored,
            base.meta.top_k,
            base.file_size() as f64 / (1 << 20) as f64
        );
    }
    if let (Some(path), false) = (&a.kl_divergence_base, a.kl_divergence) {
        eprintln!("{}: llama.cpp logits file written", path.display());
    }
    write_reports(&a, &run)?;
    // Machine-readable output on stdout keeps the human summary off it.
    let to_stdout = [&a.json, &a.csv]
        .iter()
        .any(|p| p.as_deref().is_some_and(|p| p.as_os_str() == "-"));
    print_summary(&run, t0.elapsed().as_secs_f64(), !to_stdout);
    Ok(())
}

fn write_reports(a: &PerplexityArgs, run: &PerplexityRun) -> Result<()> {
    let report = PerplexityReport::new(run, &a.model, a.text.as_deref(), a.batch);
    if let Some(p) = &a.json {
        write_output(p, &report.to_json()?)?;
    }
    if let Some(p) = &a.csv {
        write_output(p, &report.to_csv()?)?;
    }
    Ok(())
}

fn print_summary(run: &PerplexityRun, wall: f64, stdout: bool) {
    let say = |s: String| {
        if stdout {
            println!("{s}")
        } else {
            eprintln!("{s}")
        }
    };
    if let Some(k) = &run.kld {
        say(format!("KL-divergence against {}", k.against));
        say(k.stats.render());
    }
    eprintln!(
        "{} chunks of {} tokens, {} tokens scored, {:.2} s ({:.2} s total)",
        run.n_chunks, run.n_ctx, run.n_scored, run.seconds, wall
    );
    say(format!("PPL = {:.4} ± {:.5}", run.ppl, run.ppl_err));
}
