//! What every chart builder reads ([`Ctx`]: the results, the model names, the fits, the options)
//! and the marks they share: the 3-bit threshold, a fit's transition with its band, the safe zone.

use crate::results::SweepResults;

use super::super::fit::{Axis as FitAxis, FitOutcome, PhaseFit};
use super::super::format::sig;
use super::super::options::ReportOptions;
use super::spec::{self, color, Mark, GREY, SAFE_GREEN};

/// The bit width the MPT study found quality collapsing below.
pub const THRESHOLD_BITS: f64 = 3.0;
const FIT_RED: spec::Rgb = (200, 30, 30);

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
    if let FitOutcome::Unresolved { between, .. } = &fit.outcome {
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
                label: ctx.label(m, &format!("fitted {sym} = {} {unit}", sig(t.critical, 3))),
            });
        }
    }
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
