//! Renderings of saved results: one list of [`SweepResults`], many outputs (`results.csv`,
//! `table5.csv`, `report.md`, charts), the phase-transition fit and the composite scores.
//! Nothing here runs a model: `plot`, `table` and `fit` re-render from saved files.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::results::SweepResults;

pub mod charts;
pub mod composite;
pub mod data;
pub mod fit;
pub mod format;
pub mod machine;
pub mod markdown;
mod options;
pub mod recipes;
pub mod table5;
pub mod task_names;
pub mod tidy;

pub use composite::{composite_scores, CompositeScores};
pub use fit::{fit_all, Axis, FitOutcome, FitSubject, PhaseFit};
pub use options::{QualityWeights, ReportOptions, Throughput, DEFAULT_BENCH_WEIGHTS};
pub use recipes::with_recipe_series;
pub use table5::Table5;

pub const RESULTS_CSV: &str = "results.csv";
pub const TABLE5_CSV: &str = "table5.csv";
pub const REPORT_MD: &str = "report.md";
pub const CHARTS_DIR: &str = "charts";

/// Everything with the default options: `results.csv`, `table5.csv`, charts (PNG and SVG),
/// `report.md`. Returns the files written.
pub fn render_all(results: &[SweepResults], out_dir: &Path) -> Result<Vec<PathBuf>> {
    render_all_with(results, out_dir, &ReportOptions::default())
}

/// [`render_all`] with chosen options (tolerance, bootstrap, Q-score weights, throughput).
pub fn render_all_with(
    results: &[SweepResults],
    out_dir: &Path,
    opts: &ReportOptions,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("{}: cannot create the output folder", out_dir.display()))?;
    // One row per rung in results.csv; everything else sees recipe rungs as a series of their own.
    let series = with_recipe_series(results);
    let fits = fit_all(&series, opts);
    let mut written = Vec::new();

    let csv_path = out_dir.join(RESULTS_CSV);
    crate::util::write_atomic(&csv_path, &tidy::results_csv(results, opts)?)?;
    written.push(csv_path);

    let table_path = out_dir.join(TABLE5_CSV);
    crate::util::write_atomic(&table_path, &Table5::build(&series, opts).to_csv()?)?;
    written.push(table_path);

    // Charts in their own folder; report.md links them relative to itself.
    let rendered = charts::render_charts(&series, &fits, &out_dir.join(CHARTS_DIR), opts)?;
    let recipes = recipes::recipes_md(results, &fits);
    let md = markdown::report_md(&series, &fits, &rendered, opts, out_dir, &recipes);
    written.extend(rendered.files());

    let md_path = out_dir.join(REPORT_MD);
    crate::util::write_atomic(&md_path, md.as_bytes())?;
    written.push(md_path);
    Ok(written)
}

/// Loads every path (sweep folder, `results.json` or `manifest.json`); the first bad one is the error.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<SweepResults>> {
    anyhow::ensure!(
        !paths.is_empty(),
        "no results given: pass sweep folders, results.json or manifest.json files"
    );
    paths.iter().map(|p| SweepResults::load(p)).collect()
}
