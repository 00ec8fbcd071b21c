use std::path::PathBuf;

use anyhow::{Context as _, Result};

use mpt_gguf::gguf::GgmlType;
use mpt_gguf::recipe::sensitivity::{Event, DEFAULT_CANDIDATES};
use mpt_gguf::recipe::{measure, Grouping, SensitivityOptions};

/// Measure each tensor's quantization cost on the running model: KL-divergence with only that
/// tensor (or group) quantized, for every type it can take.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The model is loaded once (it must be F16, BF16 or F32). Then `mpt-gguf recipe sens.json --like Q4_K_M` solves for a mix.\n\nExamples:\n  mpt-gguf sensitivity model-f16.gguf --calib groups_merged.txt --imatrix imatrix.gguf -o sens.json\n  mpt-gguf sensitivity model-f16.gguf --calib calib.txt --group kind -c 512 --chunks 2"
)]
pub struct SensitivityArgs {
    #[command(flatten)]
    pub model: super::model_path::ModelPath,
    /// Calibration text the costs are measured on.
    #[arg(long = "calib", visible_alias = "file", short = 'f')]
    pub calib: PathBuf,
    /// Importance matrix to quantize every candidate with (the recipe is then quantized with it too).
    #[arg(long)]
    pub imatrix: Option<PathBuf>,
    #[arg(short = 'o', long = "output", default_value = "sens.json")]
    pub output: PathBuf,
    /// Tokens per sequence (the first quarter gives context and is not compared).
    #[arg(short = 'c', long = "ctx-size", default_value_t = 256)]
    pub ctx: u32,
    /// Sequences decoded for each measurement.
    #[arg(long, default_value_t = 1)]
    pub chunks: u32,
    /// What is measured alone: each tensor, or each kind over all layers.
    #[arg(long, value_enum, default_value_t = Grouping::Tensor)]
    pub group: Grouping,
    /// Candidate types (comma list) instead of the default set, each where it suits the rows (K-quants
    /// for rows of whole 256-blocks, 32-wide types for the others); the stock types' choices are
    /// always measured too.
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// Stock types to record and compare against (comma list) [default: the K-quant mixes and Q8_0].
    #[arg(long, value_delimiter = ',')]
    pub stock: Vec<String>,
    #[arg(short = 't', long, default_value_t = mpt_gguf::util::default_threads() as u32)]
    pub threads: u32,
    /// Layers to offload to the GPU (`-ngl`; needs a CUDA build).
    #[arg(long = "n-gpu-layers", default_value_t = 0)]
    pub n_gpu_layers: u32,
}

pub fn run(a: SensitivityArgs) -> Result<()> {
    let model = a
        .model
        .get()
        .context("give the model: mpt-gguf sensitivity MODEL --calib TEXT")?;
    let types = (!a.types.is_empty())
        .then(|| {
            a.types
                .iter()
                .map(|t| {
                    GgmlType::from_name(t).with_context(|| {
                        format!(
                            "--types: unknown ggml type '{t}' (e.g. {})",
                            DEFAULT_CANDIDATES
                                .iter()
                                .map(|t| t.ggml_name())
                                .collect::<Vec<_>>()
                                .join(",")
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let stock = (!a.stock.is_empty())
        .then(|| {
            a.stock
                .iter()
                .map(|t| mpt_gguf::quant::types::parse(t))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let opts = SensitivityOptions {
        stock,
        calibration: a.calib,
        imatrix: a.imatrix,
        n_ctx: a.ctx,
        n_chunk: a.chunks,
        grouping: a.group,
        types,
        n_threads: a.threads,
        n_gpu_layers: a.n_gpu_layers,
    };
    mpt_gguf::util::install_interrupt_handler();
    let bar = super::progress::bar(
        "{spinner} measuring [{bar:30}] {pos}/{len} candidates, {elapsed} spent, about {eta} left {msg}",
    );
    let b = bar.clone();
    let mut on_event = move |e: Event<'_>| match e {
        Event::Plan {
            evaluations,
            seconds_each,
            quantize_seconds,
        } => {
            // The decodes also compare every row with the base's: a little over the base's time.
            let seconds = evaluations as f64 * seconds_each * 1.15 + quantize_seconds;
            b.suspend(|| {
                eprintln!(
                    "{evaluations} candidates to measure, one decode each ({seconds_each:.2} s for the base), {quantize_seconds:.0} s quantizing: about {seconds:.0} s ({:.0} min)",
                    (seconds / 60.0).ceil()
                )
            });
            b.set_length(evaluations as u64);
        }
        Event::Measured {
            group,
            ggml_type,
            kld,
        } => {
            b.inc(1);
            b.set_message(format!("{group} {}: KLD {kld:.5}", ggml_type.ggml_name()));
        }
    };
    let table = measure(&model, &opts, &mut on_event);
    bar.finish_and_clear();
    let table = table?;
    table.save(&a.output)?;
    let n: usize = table.groups.iter().map(|g| g.choices.len() - 1).sum();
    println!(
        "{}: {} groups, {n} candidates measured on {} tokens in {:.0} s",
        a.output.display(),
        table.groups.len(),
        table.calibration.n_scored,
        table.seconds
    );
    print_most_sensitive(&table);
    Ok(())
}

/// The groups that cost most at their smallest type.
fn print_most_sensitive(table: &mpt_gguf::recipe::SensitivityTable) {
    let mut at_smallest: Vec<(&str, &str, f64)> = table
        .groups
        .iter()
        .filter_map(|g| {
            let c = g.choices.iter().min_by_key(|c| c.bytes)?;
            Some((g.name.as_str(), c.ggml_type.ggml_name(), c.kld))
        })
        .collect();
    at_smallest.sort_by(|a, b| b.2.total_cmp(&a.2));
    println!("most sensitive at their smallest type:");
    for (name, ty, kld) in at_smallest.iter().take(5) {
        println!("  {name:<32} {ty:<8} KLD {kld:.5}");
    }
}
