use std::path::PathBuf;

use anyhow::{bail, Result};

use mpt_gguf::prune::{
    parse_layers, prune_file_with_progress, DepthSpec, NmPattern, PruneMethod, PruneOptions,
    PruneSpec, SparsitySpec,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DropBy {
    /// Block Influence: 1 − cos(block input, block output) on calibration text (ShortGPT).
    Importance,
}

/// Remove transformer blocks and/or zero weights of a GGUF model; writes a new file.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  mpt-gguf prune model-f16.gguf out.gguf --layers 20-27\n  mpt-gguf prune model-f16.gguf out.gguf --drop 6 --by importance -f calibration.txt --chunks 20\n  mpt-gguf prune model-f16.gguf out.gguf --sparsity 0.5 --method magnitude\n  mpt-gguf prune model-f16.gguf out.gguf --method wanda --imatrix imatrix.gguf --pattern 2:4"
)]
pub struct PruneArgs {
    /// Model to prune (F16/BF16/F32 for sparsity; any type for depth pruning).
    pub input: PathBuf,
    /// Pruned model to write.
    pub output: PathBuf,
    /// Blocks to remove, e.g. `20-27` or `3,5,10-12` (input numbering).
    #[arg(long, conflicts_with = "drop")]
    pub layers: Option<String>,
    /// Remove this many blocks, the least important first (with --by importance -f TEXT).
    #[arg(long, requires = "calibration")]
    pub drop: Option<u32>,
    /// How --drop ranks blocks.
    #[arg(long, value_enum, default_value_t = DropBy::Importance)]
    pub by: DropBy,
    /// Calibration text for --drop.
    #[arg(short = 'f', long = "file")]
    pub calibration: Option<PathBuf>,
    /// Use at most this many chunks of the calibration text.
    #[arg(long)]
    pub chunks: Option<u32>,
    /// Tokens per calibration chunk.
    #[arg(short = 'c', long = "ctx-size", default_value_t = 512)]
    pub ctx: u32,
    /// Fraction of each weight row to zero, in [0, 1).
    #[arg(long, allow_negative_numbers = true)]
    pub sparsity: Option<f64>,
    /// How weights are ranked within a row.
    #[arg(long, value_enum)]
    pub method: Option<PruneMethod>,
    /// Importance matrix of this model (`mpt-gguf imatrix`), for --method wanda.
    #[arg(long)]
    pub imatrix: Option<PathBuf>,
    /// Semi-structured sparsity: zero N of every M consecutive weights (2:4, 4:8).
    #[arg(long)]
    pub pattern: Option<String>,
    /// Regular expression choosing the tensors to sparsify (default: 2-D weights of the blocks).
    #[arg(long)]
    pub tensors: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[arg(short = 't', long, default_value_t = mpt_gguf::util::default_threads() as u32)]
    pub threads: u32,
    /// Layers to offload to the GPU for the importance run (`-ngl`; needs a CUDA build).
    #[arg(long = "n-gpu-layers", default_value_t = 0)]
    pub n_gpu_layers: u32,
}

pub fn run(a: PruneArgs) -> Result<()> {
    let spec = spec_of(&a)?;
    mpt_gguf::util::install_interrupt_handler();
    let opts = PruneOptions {
        n_threads: a.threads,
        n_gpu_layers: a.n_gpu_layers,
    };
    let bar =
        super::progress::bar("{spinner} block importance [{bar:30}] {pos}/{len} chunks {elapsed}");
    let report = prune_file_with_progress(&a.input, &a.output, &spec, &opts, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let report = report?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}

fn spec_of(a: &PruneArgs) -> Result<PruneSpec> {
    let file = a.input.display();
    let depth = match (&a.layers, a.drop) {
        (Some(list), _) => Some(DepthSpec::Layers {
            layers: parse_layers(list).map_err(|e| anyhow::anyhow!("{file}: {e}"))?,
        }),
        (None, Some(n)) => match (a.by, &a.calibration) {
            (DropBy::Importance, Some(calibration)) => Some(DepthSpec::DropByImportance {
                n,
                calibration: calibration.clone(),
                n_ctx: a.ctx,
                chunks: a.chunks,
            }),
            (DropBy::Importance, None) => bail!("{file}: --drop needs calibration text (-f TEXT)"),
        },
        (None, None) => None,
    };
    let method = a.method.unwrap_or(PruneMethod::Magnitude);
    let pattern = a
        .pattern
        .as_deref()
        .map(|s| {
            s.parse::<NmPattern>()
                .map_err(|e| anyhow::anyhow!("{file}: {e}"))
        })
        .transpose()?;
    let sparsity = match (a.sparsity, pattern) {
        (None, None) => {
            if a.method.is_some() || a.imatrix.is_some() || a.tensors.is_some() {
                bail!(
                    "{file}: --method, --imatrix and --tensors need --sparsity P or --pattern N:M"
                );
            }
            None
        }
        (p, Some(pat)) => {
            let mut sp = SparsitySpec::semi_structured(pat, method);
            // A contradicting --sparsity is reported by the library's check.
            sp.sparsity = p.unwrap_or(sp.sparsity);
            Some(sp)
        }
        (Some(p), None) => Some(SparsitySpec::unstructured(p, method)),
    }
    .map(|mut sp| {
        sp.imatrix = a.imatrix.clone();
        sp.tensors = a.tensors.clone();
        sp
    });
    Ok(PruneSpec { depth, sparsity })
}
