//! What a fit says: the axis, the points, the safe zone and the outcome (a transition with its
//! interval and curve, or why there is none).

use std::fmt;

use serde::{Serialize, Serializer};

use super::model::{Piecewise, PowerLaw};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    /// Measured bits per weight; collapse below the critical point.
    Bits,
    /// Fraction of weights removed; collapse above the critical point.
    Sparsity,
}

/// What a fit follows along its axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitSubject {
    /// The quantization ladder (the unpruned rungs), along bits per weight.
    Quantization,
    /// The cells of one pruning method at one quantization type, along sparsity.
    Pruning { method: String, quant: String },
}

impl FitSubject {
    /// The pruning method and quantization type of a pruning fit.
    pub fn pruning(&self) -> Option<(&str, &str)> {
        match self {
            FitSubject::Quantization => None,
            FitSubject::Pruning { method, quant } => Some((method, quant)),
        }
    }
}

/// `quantization`, or `wanda pruning at F16`.
impl fmt::Display for FitSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitSubject::Quantization => f.write_str("quantization"),
            FitSubject::Pruning { method, quant } => write!(f, "{method} pruning at {quant}"),
        }
    }
}

/// Written as its words, as in the verdict.
impl Serialize for FitSubject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitPoint {
    pub rung: String,
    /// In the axis's units.
    pub x: f64,
    pub ppl: f64,
    /// Standard error of the perplexity, where measured.
    pub ppl_err: Option<f64>,
    /// Within the tolerance of the base (None without a base).
    pub safe: Option<bool>,
    /// The rung with less capacity that beats this one by more than the tolerance and the
    /// measurement error, which leaves this one out of the fit (None: fitted).
    pub beaten_by: Option<String>,
}

impl FitPoint {
    pub fn fitted(&self) -> bool {
        self.beaten_by.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseFit {
    pub model: String,
    pub axis: Axis,
    pub subject: FitSubject,
    pub points: Vec<FitPoint>,
    pub base_ppl: Option<f64>,
    pub tolerance: f64,
    /// Rungs within the tolerance of the base perplexity.
    pub safe_rungs: Vec<String>,
    /// Edge of the contiguous safe zone: fewest bits (or most sparsity) before the first rung outside it.
    pub safe_limit: Option<f64>,
    pub outcome: FitOutcome,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FitOutcome {
    Transition(Transition),
    NoCollapse {
        reason: String,
        power_law: Option<PowerLaw>,
    },
    /// Quality collapses, but only at the last rung: the transition lies between it and its
    /// neighbour (`between`, axis units) and one rung cannot place it.
    Unresolved {
        reason: String,
        between: (f64, f64),
    },
    TooFewRungs {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// The critical point in the axis's units (bits per weight, or sparsity).
    pub critical: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub ci_level: f64,
    /// Standard deviation of the bootstrap estimates and how many resamples kept a collapse.
    pub boot_se: f64,
    pub boot_n: usize,
    /// The model in capacity units (bits, or 1 − sparsity).
    pub curve: Piecewise,
    /// Root mean square residual in ln PPL (≈ relative error of PPL) and the largest one.
    pub rmse_log: f64,
    pub max_residual_log: f64,
    pub r2: f64,
    /// F test of the collapse term against a single power law.
    pub f_stat: f64,
    pub p_value: f64,
    pub power_law_rmse_log: f64,
}

impl Axis {
    /// Capacity at `x` on this axis: the bits themselves, or the density 1 − p.
    pub(super) fn capacity(self, x: f64) -> f64 {
        match self {
            Axis::Bits => x,
            Axis::Sparsity => 1.0 - x,
        }
    }
    pub fn unit(self) -> &'static str {
        match self {
            Axis::Bits => "bpw",
            Axis::Sparsity => "sparsity",
        }
    }

    /// What a rung with less capacity has on this axis.
    pub(super) fn less_capacity(self) -> &'static str {
        match self {
            Axis::Bits => "fewer bits",
            Axis::Sparsity => "more sparsity",
        }
    }
}

impl PhaseFit {
    pub fn transition(&self) -> Option<&Transition> {
        match &self.outcome {
            FitOutcome::Transition(t) => Some(t),
            _ => None,
        }
    }

    /// The fitted perplexity at `x` (axis units), if a curve was fitted.
    pub fn predict_ppl(&self, x: f64) -> Option<f64> {
        let c = self.axis.capacity(x);
        match &self.outcome {
            FitOutcome::Transition(t) => Some(t.curve.ln_ppl(c).exp()),
            FitOutcome::NoCollapse {
                power_law: Some(p), ..
            } => Some(p.ln_ppl(c).exp()),
            _ => None,
        }
        .filter(|v| v.is_finite())
    }
}
