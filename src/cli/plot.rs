//! `mpt-gguf plot RESULTS... -o DIR`: every chart (PNG and SVG) from saved results, no model runs.

use std::path::PathBuf;

use anyhow::Result;
use mpt_gguf::report::{self, ReportOptions};

#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// Saved results: sweep folders, results.json or manifest.json files (one line per model).
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<PathBuf>,
    /// Folder for the charts (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR", required = true)]
    pub out_dir: PathBuf,
    /// Also write results.csv, table5.csv and report.md, as a sweep does.
    #[arg(long)]
    pub report: bool,
    #[command(flatten)]
    pub options: ReportOptions,
}

pub fn run(args: PlotArgs) -> Result<()> {
    let results = report::load_all(&args.results)?;
    let written = if args.report {
        report::render_all_with(&results, &args.out_dir, &args.options)?
    } else {
        std::fs::create_dir_all(&args.out_dir)
            .map_err(anyhow::Error::from)
            .map_err(|e| {
                e.context(format!(
                    "{}: cannot create the output folder",
                    args.out_dir.display()
                ))
            })?;
        let series = report::with_recipe_series(&results);
        let fits = report::fit_all(&series, &args.options);
        let rendered = report::charts::render_charts(&series, &fits, &args.out_dir, &args.options)?;
        for s in &rendered.skipped {
            eprintln!("not drawn: {s}");
        }
        rendered.files()
    };
    for f in &written {
        println!("{}", f.display());
    }
    Ok(())
}
