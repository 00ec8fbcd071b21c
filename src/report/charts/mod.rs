//! Charts: each is built as plain data ([`spec::Figure`]) from results and fits, then drawn twice,
//! as PNG and as SVG. Quality charts mark the 3-bit threshold, the fitted transition with its
//! confidence band, and shade the safe zone.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::results::SweepResults;

use super::data;
use super::fit::PhaseFit;
use super::options::ReportOptions;

mod context;
pub mod draw;
mod fig7;
mod heat;
mod machine;
mod primitives;
mod prune;
mod quality;
pub mod spec;

use context::Ctx;
use spec::Figure;

pub use context::THRESHOLD_BITS;

#[derive(Debug, Clone, Serialize)]
pub struct ChartFile {
    pub name: String,
    pub title: String,
    pub png: PathBuf,
    pub svg: PathBuf,
}

/// What `render_charts` wrote and what it left out (and why).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rendered {
    pub charts: Vec<ChartFile>,
    pub skipped: Vec<String>,
}

impl Rendered {
    pub fn files(&self) -> Vec<PathBuf> {
        self.charts
            .iter()
            .flat_map(|c| [c.png.clone(), c.svg.clone()])
            .collect()
    }
}

pub fn render_charts(
    results: &[SweepResults],
    fits: &[PhaseFit],
    out_dir: &Path,
    opts: &ReportOptions,
) -> Result<Rendered> {
    let ctx = Ctx {
        results,
        names: data::model_names(results),
        fits,
        opts,
    };
    let mut skipped = Vec::new();
    let mut figures: Vec<Figure> = Vec::new();
    let builders: Vec<(&str, Option<Figure>)> = vec![
        (
            "ppl_vs_bpw: no rung has both a perplexity and bits per weight",
            quality::ppl_vs_bpw(&ctx),
        ),
        (
            "ppl_vs_size: no rung has both a perplexity and a file size",
            quality::ppl_vs_size(&ctx),
        ),
        (
            "kld_vs_bpw: no KL-divergence measured",
            quality::kld_vs_bpw(&ctx),
        ),
        (
            "tps_vs_bits: no throughput measured",
            quality::tps_vs_bits(&ctx),
        ),
        (
            "machine_use_vs_bits: no MFU or bandwidth use measured",
            machine::machine_use_vs_bits(&ctx),
        ),
        (
            "accuracy_vs_bits: no task accuracy measured",
            quality::accuracy_vs_bits(&ctx),
        ),
        (
            "fig7_schemes: no perplexity or accuracy to show by scheme",
            fig7::fig7(&ctx),
        ),
    ];
    for (why, fig) in builders {
        match fig {
            Some(f) => figures.push(f),
            None => skipped.push(why.to_string()),
        }
    }
    figures.extend(prune::prune_figures(&ctx, &mut skipped));

    if !figures.is_empty() {
        std::fs::create_dir_all(out_dir)
            .with_context(|| format!("{}: cannot create the chart folder", out_dir.display()))?;
    }
    let mut charts = Vec::new();
    for fig in figures {
        let png = out_dir.join(format!("{}.png", fig.name));
        let svg = out_dir.join(format!("{}.svg", fig.name));
        draw::write_png(&fig, &png)
            .with_context(|| format!("{}: cannot draw the chart", png.display()))?;
        draw::write_svg(&fig, &svg)
            .with_context(|| format!("{}: cannot draw the chart", svg.display()))?;
        charts.push(ChartFile {
            name: fig.name.clone(),
            title: fig.title.clone(),
            png,
            svg,
        });
    }
    Ok(Rendered { charts, skipped })
}
