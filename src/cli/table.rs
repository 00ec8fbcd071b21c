//! `mpt-gguf table RESULTS... -o table5.csv`: Table 5 (or the tidy per-rung table) from saved results.

use std::path::PathBuf;

use anyhow::{bail, Result};
use mpt_gguf::report::{self, ReportOptions, Table5};

#[derive(clap::Args, Debug)]
pub struct TableArgs {
    /// Saved results: sweep folders, results.json or manifest.json files (one block per model).
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<PathBuf>,
    /// Output file (standard output when not given).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// csv, or md for the README's Markdown layout (default: from the output's extension, else csv).
    #[arg(long, value_enum)]
    pub format: Option<TableFormat>,
    /// table5: the published layout; rungs: results.csv, one tidy row per rung with the composite scores.
    #[arg(long, value_enum, default_value_t = TableKind::Table5)]
    pub kind: TableKind,
    #[command(flatten)]
    pub report: ReportOptions,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Md,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    Table5,
    Rungs,
}

pub fn run(args: TableArgs) -> Result<()> {
    let results = report::load_all(&args.results)?;
    let format = args.format.unwrap_or_else(|| {
        match args
            .output
            .as_ref()
            .and_then(|p| p.extension())
            .and_then(|e| e.to_str())
        {
            Some("md") => TableFormat::Md,
            _ => TableFormat::Csv,
        }
    });
    let series = report::with_recipe_series(&results);
    let bytes = match (args.kind, format) {
        (TableKind::Table5, TableFormat::Csv) => Table5::build(&series, &args.report).to_csv()?,
        (TableKind::Table5, TableFormat::Md) => Table5::build(&series, &args.report).to_markdown().into_bytes(),
        (TableKind::Rungs, TableFormat::Csv) => report::tidy::results_csv(&results, &args.report)?,
        (TableKind::Rungs, TableFormat::Md) => bail!("--format md is for --kind table5; the per-rung table is CSV (report.md has it in Markdown)"),
    };
    match &args.output {
        Some(path) => {
            mpt_gguf::util::write_atomic(path, &bytes)?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(())
}
