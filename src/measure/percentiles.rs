//! Percentiles of per-token values, llama-perplexity's way: linear between the two nearest ranks.

use serde::{Deserialize, Serialize};

/// llama-perplexity's percentile of sorted values: linear between the two nearest ranks.
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let (Some(&first), Some(&last)) = (sorted.first(), sorted.last()) else {
        return f64::NAN;
    };
    if fraction <= 0.0 {
        return first;
    }
    if fraction >= 1.0 {
        return last;
    }
    let p = fraction * (sorted.len() - 1) as f64;
    let ip = p as usize;
    let frac = p - ip as f64;
    (1.0 - frac) * sorted[ip] + frac * sorted[(ip + 1).min(sorted.len() - 1)]
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n.is_multiple_of(2) => 0.5 * (sorted[n / 2] + sorted[n / 2 - 1]),
        _ => sorted[n / 2],
    }
}

/// Extremes, percentiles and median of a distribution of per-token values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub max: f64,
    pub p99_9: f64,
    pub p99: f64,
    pub p95: f64,
    pub p90: f64,
    pub p75: f64,
    pub median: f64,
    pub p25: f64,
    pub p10: f64,
    pub p5: f64,
    pub p1: f64,
    pub p0_1: f64,
    pub min: f64,
}

/// llama-perplexity's percentile, in its float arithmetic.
fn percentile_f32(sorted: &[f32], fraction: f32) -> f32 {
    let (Some(&first), Some(&last)) = (sorted.first(), sorted.last()) else {
        return f32::NAN;
    };
    if fraction <= 0.0 {
        return first;
    }
    if fraction >= 1.0 {
        return last;
    }
    let mut p = fraction * (sorted.len() - 1) as f32;
    let ip = p as usize;
    p -= ip as f32;
    (1.0 - p) * sorted[ip] + p * sorted[(ip + 1).min(sorted.len() - 1)]
}

impl Percentiles {
    /// As llama-perplexity computes them from its float values (its logits-file reports).
    pub fn of_f32(values: &[f64]) -> Self {
        let mut v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
        v.sort_by(f32::total_cmp);
        let n = v.len();
        let pc = |f: f32| percentile_f32(&v, f) as f64;
        let median = match n {
            0 => f32::NAN,
            _ if n.is_multiple_of(2) => 0.5 * (v[n / 2] + v[n / 2 - 1]),
            _ => v[n / 2],
        };
        Self {
            max: v.last().map_or(f64::NAN, |&x| x as f64),
            p99_9: pc(0.999),
            p99: pc(0.99),
            p95: pc(0.95),
            p90: pc(0.90),
            p75: pc(0.75),
            median: median as f64,
            p25: pc(0.25),
            p10: pc(0.10),
            p5: pc(0.05),
            p1: pc(0.01),
            p0_1: pc(0.001),
            min: v.first().map_or(f64::NAN, |&x| x as f64),
        }
    }

    pub fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        Self {
            max: v.last().copied().unwrap_or(f64::NAN),
            p99_9: percentile(&v, 0.999),
            p99: percentile(&v, 0.99),
            p95: percentile(&v, 0.95),
            p90: percentile(&v, 0.90),
            p75: percentile(&v, 0.75),
            median: median(&v),
            p25: percentile(&v, 0.25),
            p10: percentile(&v, 0.10),
            p5: percentile(&v, 0.05),
            p1: percentile(&v, 0.01),
            p0_1: percentile(&v, 0.001),
            min: v.first().copied().unwrap_or(f64::NAN),
        }
    }
}
