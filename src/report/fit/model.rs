//! The piecewise degradation model and its least-squares fit.
//!
//! With capacity c (bits per weight, or density 1 − sparsity) and y = ln PPL:
//!
//! ```text
//! y = a − α·ln c                      c ≥ c0   (power law: the safe zone)
//! y = a − α·ln c0 + β·(c0 − c)        c < c0   (exponential collapse)
//! ```
//!
//! continuous at c0. For a fixed c0 the model is linear in (a, α, β), so c0 is found by a grid over
//! the measured range, refined by golden-section search, with ordinary least squares at each c0.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Piecewise {
    pub c0: f64,
    pub a: f64,
    pub alpha: f64,
    pub beta: f64,
    /// Sum of squared residuals in ln PPL.
    pub sse: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PowerLaw {
    pub a: f64,
    pub alpha: f64,
    pub sse: f64,
}

impl Piecewise {
    pub fn ln_ppl(&self, c: f64) -> f64 {
        if c >= self.c0 {
            self.a - self.alpha * c.ln()
        } else {
            self.a - self.alpha * self.c0.ln() + self.beta * (self.c0 - c)
        }
    }
}

impl PowerLaw {
    pub fn ln_ppl(&self, c: f64) -> f64 {
        self.a - self.alpha * c.ln()
    }
}

/// Grid points for c0 in the full fit; the bootstrap uses fewer.
pub const GRID: usize = 400;
const BOOT_GRID: usize = 120;

/// Smallest number of points on each side of c0 for the collapse and the power law to be identified:
/// with one point below, any c0 fits it exactly by trading c0 against β.
pub const MIN_SIDE: usize = 2;

/// The range c0 may take: more than `MIN_SIDE` points below it and at least `MIN_SIDE` at or above.
pub fn c0_range(x: &[f64]) -> Option<(f64, f64)> {
    let mut s: Vec<f64> = x.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n < 2 * MIN_SIDE {
        return None;
    }
    let (lo, hi) = (s[MIN_SIDE - 1], s[n - MIN_SIDE]);
    (hi > lo).then_some((lo, hi))
}

pub fn fit_power_law(x: &[f64], y: &[f64]) -> Option<PowerLaw> {
    let n = x.len() as f64;
    if x.len() < 2 {
        return None;
    }
    let lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let mx = lx.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = lx.iter().map(|v| (v - mx).powi(2)).sum();
    if sxx <= 1e-300 {
        return None;
    }
    let sxy: f64 = lx.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let a = my - slope * mx;
    let alpha = -slope;
    let sse = lx
        .iter()
        .zip(y)
        .map(|(l, v)| (v - (a - alpha * l)).powi(2))
        .sum();
    Some(PowerLaw { a, alpha, sse })
}

/// Least squares at a fixed c0; `None` if the design is singular.
pub fn fit_at(x: &[f64], y: &[f64], c0: f64) -> Option<Piecewise> {
    let rows: Vec<[f64; 3]> = x
        .iter()
        .map(|&c| [1.0, -(c.max(c0)).ln(), (c0 - c).max(0.0)])
        .collect();
    let mut ata = [[0.0f64; 3]; 3];
    let mut aty = [0.0f64; 3];
    for (r, &yi) in rows.iter().zip(y) {
        for i in 0..3 {
            aty[i] += r[i] * yi;
            for j in 0..3 {
                ata[i][j] += r[i] * r[j];
            }
        }
    }
    let p = solve3(ata, aty)?;
    let fit = Piecewise {
        c0,
        a: p[0],
        alpha: p[1],
        beta: p[2],
        sse: 0.0,
    };
    let sse = x
        .iter()
        .zip(y)
        .map(|(&c, &yi)| (yi - fit.ln_ppl(c)).powi(2))
        .sum();
    Some(Piecewise { sse, ..fit })
}

/// Best fit with a collapse (β > 0) over c0 in [`c0_range`]; `None` when no c0 gives one.
pub fn fit_piecewise(x: &[f64], y: &[f64]) -> Option<Piecewise> {
    fit_grid(x, y, GRID)
}

fn fit_grid(x: &[f64], y: &[f64], grid: usize) -> Option<Piecewise> {
    let (lo, hi) = c0_range(x)?;
    let step = (hi - lo) / grid as f64;
    let collapse = |c0: f64| fit_at(x, y, c0).filter(|f| f.beta > 0.0 && f.sse.is_finite());
    let mut best: Option<(usize, Piecewise)> = None;
    for k in 1..=grid {
        if let Some(f) = collapse(lo + step * k as f64) {
            if best.is_none_or(|(_, b)| f.sse < b.sse) {
                best = Some((k, f));
            }
        }
    }
    let (k, mut best) = best?;
    // Golden-section refinement between the neighbours of the best grid point.
    let (mut a, mut b) = (
        lo + step * (k as f64 - 1.0),
        (lo + step * (k as f64 + 1.0)).min(hi),
    );
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let sse = |c0: f64| collapse(c0).map_or(f64::INFINITY, |f| f.sse);
    for _ in 0..40 {
        let (c, d) = (b - g * (b - a), a + g * (b - a));
        if sse(c) < sse(d) {
            b = d;
        } else {
            a = c;
        }
    }
    if let Some(f) = collapse(((a + b) / 2.0).max(lo + step * 1e-6)) {
        if f.sse < best.sse {
            best = f;
        }
    }
    Some(best)
}

/// Residual bootstrap of c0: refit on fitted values plus resampled residuals (inflated by
/// √(n/(n−4)) for the four fitted parameters). Returns the c0 of every resample that kept a collapse.
pub fn bootstrap_c0(x: &[f64], y: &[f64], fit: &Piecewise, reps: u32, seed: u64) -> Vec<f64> {
    let n = x.len();
    let fitted: Vec<f64> = x.iter().map(|&c| fit.ln_ppl(c)).collect();
    let inflate = (n as f64 / (n as f64 - 4.0).max(1.0)).sqrt();
    let resid: Vec<f64> = y
        .iter()
        .zip(&fitted)
        .map(|(a, b)| (a - b) * inflate)
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(reps as usize);
    let mut ys = vec![0.0; n];
    for _ in 0..reps {
        for (i, v) in ys.iter_mut().enumerate() {
            *v = fitted[i] + resid[rng.gen_range(0..n)];
        }
        if let Some(f) = fit_grid(x, &ys, BOOT_GRID) {
            out.push(f.c0);
        }
    }
    out
}

/// Solves a 3×3 system by Gaussian elimination with partial pivoting; `None` if (nearly) singular.
fn solve3(mut m: [[f64; 3]; 3], mut v: [f64; 3]) -> Option<[f64; 3]> {
    let scale = m
        .iter()
        .flatten()
        .fold(0.0f64, |s, x| s.max(x.abs()))
        .max(1e-300);
    for col in 0..3 {
        let piv = (col..3).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[piv][col].abs() < 1e-12 * scale {
            return None;
        }
        m.swap(col, piv);
        v.swap(col, piv);
        let pivot = m[col];
        for r in col + 1..3 {
            let f = m[r][col] / pivot[col];
            for (cell, p) in m[r].iter_mut().zip(pivot).skip(col) {
                *cell -= f * p;
            }
            v[r] -= f * v[col];
        }
    }
    let mut x = [0.0; 3];
    for r in (0..3).rev() {
        let s: f64 = (r + 1..3).map(|c| m[r][c] * x[c]).sum();
        x[r] = (v[r] - s) / m[r][r];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(c0: f64, x: &[f64]) -> Vec<f64> {
        let truth = Piecewise {
            c0,
            a: 3.2,
            alpha: 0.08,
            beta: 1.4,
            sse: 0.0,
        };
        x.iter().map(|&c| truth.ln_ppl(c)).collect()
    }

    #[test]
    fn exact_data_gives_back_the_parameters() {
        let x = [1.75, 2.2, 2.6, 3.0, 3.5, 3.9, 4.9, 5.7, 6.6, 8.5, 16.0];
        let y = curve(3.2, &x);
        let f = fit_piecewise(&x, &y).unwrap();
        assert!((f.c0 - 3.2).abs() < 1e-3, "{f:?}");
        assert!((f.alpha - 0.08).abs() < 1e-6 && (f.beta - 1.4).abs() < 1e-4);
        assert!(f.sse < 1e-10);
    }

    #[test]
    fn power_law_fit_and_range() {
        let x = [2.0, 4.0, 8.0, 16.0];
        let y: Vec<f64> = x.iter().map(|c: &f64| 3.0 - 0.1 * c.ln()).collect();
        let p = fit_power_law(&x, &y).unwrap();
        assert!((p.alpha - 0.1).abs() < 1e-12 && p.sse < 1e-20);
        assert_eq!(c0_range(&x), Some((4.0, 8.0)));
        assert_eq!(c0_range(&[1.0, 2.0, 3.0]), None);
        assert_eq!(c0_range(&[1.0, 2.0, 2.0, 3.0]), None);
    }

    #[test]
    fn singular_design_is_refused() {
        assert!(solve3(
            [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]],
            [1.0; 3]
        )
        .is_none());
        let x = solve3(
            [[2.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 8.0]],
            [2.0; 3],
        )
        .unwrap();
        assert_eq!(x, [1.0, 0.5, 0.25]);
    }
}
