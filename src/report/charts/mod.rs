//! Charts: each is built as plain data ([`spec::Figure`]) from results and fits, then drawn twice,
//! as PNG and as SVG. Quality charts mark the 3-bit threshold, the fitted transition with its
//! confidence band, and shade the safe zone.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::results::SweepResults;

use super::data;
use super::fit::{Axis as FitAxis, PhaseFit};
use super::options::ReportOptions;

pub mod draw;
mod fig7;
mod heat;
mod prune;
mod quality;
pub mod spec;

use spec::{color, Figure, Mark, GREY, SAFE_GREEN};

/// The bit width the MPT study found quality collapsing below.
pub const THRESHOLD_BITS: f64 = 3.0;
const FIT_RED: spec::Rgb = (200, 30, 30);

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

/// Everything the chart builders read.
pub(crate) struct Ctx<'a> {
    pub results: &'a [SweepResults],
    pub names: Vec<String>,
    pub fits: &'a [PhaseFit],
    pub opts: &'a ReportOptions,
}

impl Ctx<'_> {
    pub fn single(&self) -> bool {
        self.results.len() == 1
    }

    pub fn bits_fit(&self, model: usize) -> Option<&PhaseFit> {
        let name = &self.names[model];
        self.fits
            .iter()
            .find(|f| f.axis == FitAxis::Bits && &f.model == name)
    }

    /// `Model: what` with several models, `what` with one.
    pub fn label(&self, model: usize, what: &str) -> String {
        if self.single() {
            what.to_string()
        } else {
            format!("{}: {what}", self.names[model])
        }
    }

    /// Subtitle: the verdict in short for one model, the model count otherwise.
    pub fn subtitle(&self) -> Option<String> {
        if self.single() {
            self.bits_fit(0)
                .map(|f| format!("{}: {}", self.names[0], f.short_verdict()))
        } else {
            Some(format!(
                "{} models: {}",
                self.names.len(),
                self.names.join(", ")
            ))
        }
    }

    /// Threshold, transition, its band and the safe zone of every model, placed on an x axis by
    /// `to_x(model, bits)` (identity for bits axes, size for size axes).
    pub fn quality_marks(&self, to_x: &dyn Fn(usize, f64) -> Option<f64>) -> Vec<Mark> {
        let mut bands = Vec::new();
        let mut lines = Vec::new();
        for m in 0..self.results.len() {
            if let Some(x) = to_x(m, THRESHOLD_BITS) {
                lines.push(Mark::VLine {
                    x,
                    color: GREY,
                    dashed: true,
                    label: "3-bit threshold".into(),
                });
            }
            let Some(fit) = self.bits_fit(m) else {
                continue;
            };
            fit_marks(self, m, fit, to_x, &mut bands, &mut lines);
        }
        bands.extend(lines);
        bands
    }
}

/// The transition line, its band and the safe zone of one fit.
pub(crate) fn fit_marks(
    ctx: &Ctx,
    m: usize,
    fit: &PhaseFit,
    to_x: &dyn Fn(usize, f64) -> Option<f64>,
    bands: &mut Vec<Mark>,
    lines: &mut Vec<Mark>,
) {
    let single = ctx.single();
    let (safe_color, fit_color) = if single {
        (SAFE_GREEN, FIT_RED)
    } else {
        (color(m), color(m))
    };
    let unit = fit.axis.unit();
    let sym = if fit.axis == FitAxis::Bits {
        "b0"
    } else {
        "p0"
    };
    if let Some(limit) = fit.safe_limit.and_then(|l| to_x(m, l)) {
        let (from, to) = match fit.axis {
            FitAxis::Bits => (limit, f64::INFINITY),
            FitAxis::Sparsity => (f64::NEG_INFINITY, limit),
        };
        bands.push(Mark::VBand {
            from,
            to,
            color: safe_color,
            alpha: if single { 0.10 } else { 0.06 },
            label: ctx.label(
                m,
                &format!(
                    "safe zone: PPL within {:.0}% of base",
                    100.0 * fit.tolerance
                ),
            ),
        });
    }
    if let super::fit::FitOutcome::Unresolved { between, .. } = &fit.outcome {
        if let (Some(a), Some(b)) = (to_x(m, between.0), to_x(m, between.1)) {
            bands.push(Mark::VBand {
                from: a.min(b),
                to: a.max(b),
                color: fit_color,
                alpha: 0.16,
                label: ctx.label(
                    m,
                    &format!("collapse lies here ({sym} not placed: one rung)"),
                ),
            });
        }
    }
    if let Some(t) = fit.transition() {
        if let (Some(a), Some(b)) = (to_x(m, t.ci_low), to_x(m, t.ci_high)) {
            bands.push(Mark::VBand {
                from: a.min(b),
                to: a.max(b),
                color: fit_color,
                alpha: 0.16,
                label: ctx.label(m, &format!("{:.0}% CI of {sym}", 100.0 * t.ci_level)),
            });
        }
        if let Some(x) = to_x(m, t.critical) {
            lines.push(Mark::VLine {
                x,
                color: fit_color,
                dashed: false,
                label: ctx.label(
                    m,
                    &format!(
                        "fitted {sym} = {} {unit}",
                        super::format::sig(t.critical, 3)
                    ),
                ),
            });
        }
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

/// A file-name-safe form of a model name.
pub(crate) fn slug(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_matches('_').to_string()
}
