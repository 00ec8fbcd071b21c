use std::path::PathBuf;

use anyhow::{bail, Result};

use mpt_gguf::engine::{Model, ModelOptions};
use mpt_gguf::quant::calibrate::{compute_imatrix, ImatrixOptions};
use mpt_gguf::quant::imatrix_file::{self, ImatrixFormat};
use mpt_gguf::quant::stats;

/// Compute an importance matrix in-process (llama-imatrix's statistics and file formats).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  mpt-gguf imatrix model-f16.gguf -f calibration.txt -o imatrix.gguf\n  mpt-gguf imatrix --in-file imatrix.gguf --show-statistics"
)]
pub struct ImatrixArgs {
    /// Model to run (F16 or F32 preferably): MODEL or -m MODEL.
    #[command(flatten)]
    pub model: super::model_path::ModelPath,
    /// Calibration text.
    #[arg(short = 'f', long = "file", required_unless_present = "in_file")]
    pub text: Option<PathBuf>,
    /// Output file.
    #[arg(short = 'o', long = "output", default_value = "imatrix.gguf")]
    pub output: PathBuf,
    /// gguf (what current llama-quantize reads) or dat (the legacy format).
    #[arg(long = "format", alias = "output-format", value_enum, default_value_t = ImatrixFormat::Gguf)]
    pub format: ImatrixFormat,
    #[arg(short = 'c', long = "ctx-size", default_value_t = 512)]
    pub ctx: u32,
    #[arg(short = 'b', long = "batch-size", default_value_t = 2048)]
    pub batch: u32,
    #[arg(long = "ubatch-size", default_value_t = 512)]
    pub ubatch: u32,
    /// Use at most this many chunks of the text.
    #[arg(long)]
    pub chunks: Option<u32>,
    /// Also collect statistics for output.weight.
    #[arg(long)]
    pub process_output: bool,
    /// Skip the perplexity of the calibration text.
    #[arg(long)]
    pub no_ppl: bool,
    /// Print per-tensor and per-layer activation statistics.
    #[arg(long)]
    pub show_statistics: bool,
    /// Read an existing imatrix instead of computing one (with --show-statistics, or to convert with -o/--format).
    #[arg(long)]
    pub in_file: Option<PathBuf>,
    #[arg(short = 't', long, default_value_t = mpt_gguf::util::default_threads() as u32)]
    pub threads: u32,
    /// Layers to offload to the GPU (`-ngl`; needs a CUDA build).
    #[arg(long = "n-gpu-layers", default_value_t = 0)]
    pub n_gpu_layers: u32,
}

pub fn run(a: ImatrixArgs) -> Result<()> {
    let model = a.model.get();
    if let Some(inf) = &a.in_file {
        let im = imatrix_file::load(inf)?;
        if a.show_statistics {
            print!("{}", stats::compute(&im).render());
        }
        if model.is_none() && !a.show_statistics {
            imatrix_file::save(&a.output, &im, a.format)?;
            println!(
                "{}: {} entries written",
                a.output.display(),
                im.entries.len()
            );
        }
        return Ok(());
    }
    let (Some(model_path), Some(text_path)) = (&model, &a.text) else {
        bail!("a model and -f TEXT are needed to compute an imatrix");
    };
    let text = mpt_gguf::measure::text::read_text(text_path)?;
    mpt_gguf::util::install_interrupt_handler();
    let model = Model::load(
        model_path,
        &ModelOptions {
            n_gpu_layers: a.n_gpu_layers,
            ..Default::default()
        },
    )?;
    let opts = ImatrixOptions {
        n_ctx: a.ctx,
        n_batch: a.batch,
        n_ubatch: a.ubatch,
        n_chunks: a.chunks,
        n_threads: a.threads,
        process_output: a.process_output,
        compute_ppl: !a.no_ppl,
    };
    let bar = super::progress::bar(
        "{spinner} imatrix [{bar:30}] {pos}/{len} chunks {elapsed} eta {eta} {msg}",
    );
    let dataset = text_path.display().to_string();
    let run = compute_imatrix(&model, &text, &dataset, &opts, &mut |done, total, ppl| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        if let Some(p) = ppl {
            bar.set_message(format!("PPL {p:.4}"));
        }
    });
    bar.finish_and_clear();
    let run = run?;
    imatrix_file::save(&a.output, &run.imatrix, a.format)?;
    if let Some((ppl, err)) = run.ppl {
        println!("Final estimate: PPL = {ppl:.4} +/- {err:.5}");
    }
    println!(
        "{}: {} entries from {} chunks of {} tokens ({:.1} s)",
        a.output.display(),
        run.imatrix.entries.len(),
        run.imatrix.chunk_count,
        a.ctx,
        run.seconds
    );
    if a.show_statistics {
        print!("{}", stats::compute(&run.imatrix).render());
    }
    Ok(())
}
