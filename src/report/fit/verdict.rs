//! The fit's wording: the verdict paragraph (terminal and report) and its one-line form (chart
//! subtitles), so that every rendering says the same thing.

use std::fmt::Write as _;

use super::super::format::{sig, sig_decimals, trim_float};
use super::outcome::{Axis, FitOutcome, PhaseFit, Transition};

impl Transition {
    /// The critical point and its interval with enough decimals to tell the bounds apart.
    pub fn critical_with_ci(&self) -> (String, String, String) {
        let mut d = sig_decimals(self.critical, 3);
        let f = |v: f64, d: usize| format!("{v:.d$}");
        while d < 4 && f(self.ci_low, d) == f(self.ci_high, d) && self.ci_high > self.ci_low {
            d += 1;
        }
        (f(self.critical, d), f(self.ci_low, d), f(self.ci_high, d))
    }
}

impl PhaseFit {
    /// One line: where it collapses (or why no number), and the safe zone.
    pub fn short_verdict(&self) -> String {
        let head = match &self.outcome {
            FitOutcome::Transition(t) => {
                let (c, lo, hi) = t.critical_with_ci();
                format!(
                    "collapse {} {} = {c} {} (95% CI {lo}–{hi})",
                    if self.axis == Axis::Bits {
                        "below"
                    } else {
                        "beyond"
                    },
                    if self.axis == Axis::Bits { "b0" } else { "p0" },
                    self.axis.unit(),
                )
            }
            FitOutcome::NoCollapse { .. } => "no collapse in the measured range".into(),
            FitOutcome::Unresolved { between, .. } => format!(
                "collapse between {} and {} {}, not placed (one rung)",
                sig(between.0, 3),
                sig(between.1, 3),
                self.axis.unit()
            ),
            FitOutcome::TooFewRungs { .. } => "too few rungs to fit".into(),
        };
        let dir = if self.axis == Axis::Bits {
            "down to"
        } else {
            "up to"
        };
        match (self.base_ppl, self.safe_limit) {
            (Some(_), Some(l)) => {
                format!("{head}; safe zone {dir} {} {}", sig(l, 3), self.axis.unit())
            }
            (Some(_), None) => format!(
                "{head}; no rung within {:.0}% of the base",
                100.0 * self.tolerance
            ),
            _ => head,
        }
    }

    /// One paragraph for the terminal and the report: the outcome with its numbers, the safe zone
    /// and the notes.
    pub fn verdict(&self) -> String {
        let mut s = format!("{} — {}: ", self.model, self.subject);
        match &self.outcome {
            FitOutcome::Transition(t) => {
                let shape = if self.axis == Axis::Bits {
                "Above it perplexity follows a power law in bits (α = {a}); below it ln PPL rises by β = {b} per bit removed"
            } else {
                "Below it perplexity follows a power law in density 1 − p (α = {a}); beyond it ln PPL rises by β = {b} per unit of sparsity added"
            }
            .replace("{a}", &sig(t.curve.alpha, 3))
            .replace("{b}", &sig(t.curve.beta, 3));
                let (c, lo, hi) = t.critical_with_ci();
                let _ = write!(
                s,
                "phase transition at {} = {c} {} (95% bootstrap CI {lo}–{hi}, {} resamples). {shape}. \
                 Fit error: RMSE {:.2}% in PPL (largest {:.2}%), R² = {:.4}; \
                 the collapse term beats a single power law (F = {}, p {}).",
                if self.axis == Axis::Bits { "b0" } else { "p0" },
                self.axis.unit(),
                t.boot_n,
                100.0 * t.rmse_log,
                100.0 * t.max_residual_log,
                t.r2,
                if t.f_stat.is_finite() { sig(t.f_stat, 3) } else { "∞".into() },
                if t.p_value < 1e-4 { "< 0.0001".to_string() } else { format!("= {:.4}", t.p_value) },
            );
            }
            FitOutcome::NoCollapse { reason, .. } => {
                let _ = write!(s, "no phase transition reported: {reason}.");
            }
            FitOutcome::Unresolved { reason, .. } => {
                let _ = write!(s, "collapse seen but not placed: {reason}.");
            }
            FitOutcome::TooFewRungs { reason } => {
                let _ = write!(s, "no fit: {reason}.");
            }
        }
        if let Some(b) = self.base_ppl {
            let _ = write!(
                s,
                " Safe zone (PPL ≤ base {} × {}): {} of {} rungs",
                sig(b, 5),
                trim_float(1.0 + self.tolerance, 4),
                self.safe_rungs.len(),
                self.points.len()
            );
            match self.safe_limit {
                Some(l) => {
                    let edge = self
                        .points
                        .iter()
                        .rev()
                        .find(|p| p.x == l)
                        .map(|p| p.rung.as_str())
                        .unwrap_or("");
                    let dir = if self.axis == Axis::Bits {
                        "down to"
                    } else {
                        "up to"
                    };
                    let _ = write!(s, ", {dir} {edge} ({} {}).", sig(l, 3), self.axis.unit());
                }
                None => s.push('.'),
            }
        }
        for n in &self.notes {
            let _ = write!(s, " Note: {n}.");
        }
        s
    }
}
