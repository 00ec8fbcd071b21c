use std::path::PathBuf;

use anyhow::{bail, Result};

use mpt_gguf::quant::tensor_type_file;
use mpt_gguf::recipe::target::{meta_path, parse_size};
use mpt_gguf::recipe::{make_recipe, SensitivityTable, Target};

/// Solve a sensitivity table for the mix with the least predicted KL-divergence within a size, and
/// write it as llama-quantize's --tensor-type-file (plus its predictions as JSON beside it).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Then: mpt-gguf quantize MODEL OUT.gguf TYPE --recipe recipe.txt (or llama-quantize --tensor-type-file recipe.txt), with the importance matrix the table was measured with.\n\nExamples:\n  mpt-gguf recipe sens.json --like Q4_K_M -o q4km-recipe.txt\n  mpt-gguf recipe sens.json --target-bpw 4.5\n  mpt-gguf recipe sens.json --target-size 80MB"
)]
pub struct RecipeArgs {
    /// Sensitivity table from `mpt-gguf sensitivity`.
    pub table: PathBuf,
    /// No larger than this stock type's file of the same model.
    #[arg(long, group = "target")]
    pub like: Option<String>,
    /// Bits per weight (tensor data over all parameters).
    #[arg(long, group = "target")]
    pub target_bpw: Option<f64>,
    /// File size: bytes, or with a unit (80MB, 76MiB, 1.5GB).
    #[arg(long, group = "target")]
    pub target_size: Option<String>,
    /// The recipe (its predictions go to the same name with .json).
    #[arg(short = 'o', long = "output", default_value = "recipe.txt")]
    pub output: PathBuf,
    /// The model the table was measured on, to check it is the same one.
    #[arg(short = 'm', long = "model")]
    pub model: Option<PathBuf>,
}

pub fn run(a: RecipeArgs) -> Result<()> {
    let target = match (&a.like, a.target_bpw, &a.target_size) {
        (Some(t), None, None) => Target::Like(mpt_gguf::quant::types::parse(t)?.name.to_string()),
        (None, Some(b), None) => Target::BitsPerWeight(b),
        (None, None, Some(s)) => Target::FileBytes(parse_size(s)?),
        _ => bail!("give one target: --like TYPE, --target-bpw B or --target-size SIZE"),
    };
    let table = SensitivityTable::open(&a.table)?;
    if let Some(model) = &a.model {
        table.check_model(&mpt_gguf::engine::open_gguf(model)?, &a.table)?;
    }
    let (solution, meta) = make_recipe(&table, &a.table, &target)?;
    let meta_file = meta_path(&a.output);
    if meta_file == a.output {
        bail!(
            "{}: the recipe needs a name that does not end in .json",
            a.output.display()
        );
    }
    mpt_gguf::util::write_atomic(
        &a.output,
        tensor_type_file::render(&solution.types).as_bytes(),
    )?;
    mpt_gguf::util::write_atomic(&meta_file, &serde_json::to_vec_pretty(&meta)?)?;
    println!(
        "{}: {} tensors, {:.2} MiB of tensors ({:.3} bpw), predicted KLD {:.5} ({})",
        a.output.display(),
        solution.types.len(),
        meta.tensor_bytes as f64 / 1048576.0,
        meta.predicted_bpw,
        meta.predicted_kld,
        meta.source
    );
    for s in &meta.stock_within_budget {
        println!(
            "  stock {:<8} {:>9.2} MiB  predicted KLD {:.5}",
            s.name,
            s.tensor_bytes as f64 / 1048576.0,
            s.predicted_kld
        );
    }
    let imatrix = meta
        .imatrix
        .as_ref()
        .map(|p| format!(" --imatrix {p}"))
        .unwrap_or_default();
    println!(
        "quantize with: mpt-gguf quantize {} OUT.gguf {} --recipe {}{imatrix}",
        table.model.file,
        meta.base_type,
        a.output.display()
    );
    Ok(())
}
