//! KL-divergence statistics: the sums llama-perplexity's `--kl-divergence` keeps per token and the
//! report it prints (same formulas for the errors, the percentiles and the correlation).

use serde::{Deserialize, Serialize};

pub use super::percentiles::Percentiles;

/// What one scored position contributes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenKld {
    /// −ln p_quant(correct token).
    pub nll: f64,
    /// −ln p_base(correct token).
    pub nll_base: f64,
    /// KL(base ‖ quant) at this position.
    pub kld: f64,
    /// p_quant(correct) − p_base(correct).
    pub p_diff: f64,
    /// The most likely token is the same in both models.
    pub same_top: bool,
}

/// Running sums over tokens, as llama-perplexity's `kl_divergence_result`, plus the per-token values
/// the percentiles need.
#[derive(Debug, Clone, Default)]
pub struct KldAccumulator {
    sum_nll: f64,
    sum_nll2: f64,
    sum_nll_base: f64,
    sum_nll_base2: f64,
    sum_nll_nll_base: f64,
    sum_kld: f64,
    sum_kld2: f64,
    sum_p_diff: f64,
    sum_p_diff2: f64,
    sum_p_diff4: f64,
    n_same_top: u64,
    count: u64,
    kld_values: Vec<f64>,
    p_diff_values: Vec<f64>,
    /// Percentiles in f32 as llama-perplexity computes them (for its logits files).
    f32_percentiles: bool,
}

/// Mean and its standard error, llama.cpp's `mean_and_uncertainty` (no error below 11 values).
fn mean_and_err(sum: f64, sum2: f64, count: u64) -> (f64, f64) {
    if count < 1 {
        return (0.0, 0.0);
    }
    let n = count as f64;
    let f = sum / n;
    let df = sum2 / n - f * f;
    let err = if df > 0.0 && count > 10 {
        (df / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (f, err)
}

fn covariance(suma: f64, sumb: f64, sumab: f64, count: u64) -> f64 {
    if count < 10 {
        return 0.0;
    }
    let n = count as f64;
    (sumab / n - (suma / n) * (sumb / n)) / (n - 1.0)
}

/// Everything llama-perplexity's `--kl-divergence` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KldStats {
    pub n_tokens: u64,
    pub ppl: f64,
    pub ppl_err: f64,
    pub ppl_base: f64,
    pub ppl_base_err: f64,
    /// Cor(ln PPL(Q), ln PPL(base)) over tokens, as a fraction.
    pub ln_ppl_correlation: f64,
    pub ln_ppl_ratio: f64,
    pub ln_ppl_ratio_err: f64,
    pub ppl_ratio: f64,
    pub ppl_ratio_err: f64,
    pub ppl_diff: f64,
    pub ppl_diff_err: f64,
    pub kld_mean: f64,
    pub kld_mean_err: f64,
    pub kld: Percentiles,
    /// Δp as a fraction (the report prints percent).
    pub dp_mean: f64,
    pub dp_mean_err: f64,
    pub dp: Percentiles,
    pub dp_rms: f64,
    pub dp_rms_err: f64,
    pub same_top: f64,
    pub same_top_err: f64,
}

/// Running values for a progress line (llama-perplexity's per-chunk KLD columns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct KldRunning {
    pub ln_ppl_ratio: f64,
    pub kld_mean: f64,
    pub dp_rms: f64,
    pub same_top: f64,
}

impl KldAccumulator {
    /// Percentiles computed as llama-perplexity does (f32), so its printed report is reproduced
    /// digit for digit from its own logits files.
    pub fn llama_compatible() -> Self {
        Self {
            f32_percentiles: true,
            ..Self::default()
        }
    }

    pub fn add(&mut self, t: &TokenKld) {
        self.sum_nll += t.nll;
        self.sum_nll2 += t.nll * t.nll;
        self.sum_nll_base += t.nll_base;
        self.sum_nll_base2 += t.nll_base * t.nll_base;
        self.sum_nll_nll_base += t.nll * t.nll_base;
        self.sum_kld += t.kld;
        self.sum_kld2 += t.kld * t.kld;
        self.sum_p_diff += t.p_diff;
        let d2 = t.p_diff * t.p_diff;
        self.sum_p_diff2 += d2;
        self.sum_p_diff4 += d2 * d2;
        self.n_same_top += t.same_top as u64;
        self.count += 1;
        self.kld_values.push(t.kld);
        self.p_diff_values.push(t.p_diff);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    fn ln_ppl_ratio(&self) -> (f64, f64, f64) {
        let (lq, lq_err) = mean_and_err(self.sum_nll, self.sum_nll2, self.count);
        let (lb, lb_err) = mean_and_err(self.sum_nll_base, self.sum_nll_base2, self.count);
        let cov = covariance(
            self.sum_nll,
            self.sum_nll_base,
            self.sum_nll_nll_base,
            self.count,
        );
        // Rounding can push the variance of a perfectly correlated pair below zero: clamp (llama.cpp prints nan).
        let err = (lq_err * lq_err + lb_err * lb_err - 2.0 * cov)
            .max(0.0)
            .sqrt();
        (lq - lb, err, cov)
    }

    fn dp_rms(&self) -> (f64, f64) {
        let (mse, mse_err) = mean_and_err(self.sum_p_diff2, self.sum_p_diff4, self.count);
        let rms = mse.sqrt();
        (rms, 0.5 / rms * mse_err)
    }

    fn same_top(&self) -> (f64, f64) {
        let n = self.count as f64;
        let p = self.n_same_top as f64 / n;
        (p, (p * (1.0 - p) / (n - 1.0)).sqrt())
    }

    pub fn running(&self) -> KldRunning {
        KldRunning {
            ln_ppl_ratio: self.ln_ppl_ratio().0,
            kld_mean: mean_and_err(self.sum_kld, self.sum_kld2, self.count).0,
            dp_rms: self.dp_rms().0,
            same_top: self.same_top().0,
        }
    }

    pub fn stats(&self) -> KldStats {
        let (lq, lq_err) = mean_and_err(self.sum_nll, self.sum_nll2, self.count);
        let (lb, lb_err) = mean_and_err(self.sum_nll_base, self.sum_nll_base2, self.count);
        let (ppl, ppl_base) = (lq.exp(), lb.exp());
        let (ppl_err, ppl_base_err) = (ppl * lq_err, ppl_base * lb_err);
        let (ratio, ratio_err, cov) = self.ln_ppl_ratio();
        let ppl_cov = ppl * ppl_base * cov;
        let (kld_mean, kld_mean_err) = mean_and_err(self.sum_kld, self.sum_kld2, self.count);
        let (dp_mean, dp_mean_err) = mean_and_err(self.sum_p_diff, self.sum_p_diff2, self.count);
        let (dp_rms, dp_rms_err) = self.dp_rms();
        let (same_top, same_top_err) = self.same_top();
        let dist = |v: &[f64]| {
            if self.f32_percentiles {
                Percentiles::of_f32(v)
            } else {
                Percentiles::of(v)
            }
        };
        KldStats {
            n_tokens: self.count,
            ppl,
            ppl_err,
            ppl_base,
            ppl_base_err,
            ln_ppl_correlation: cov / (lq_err * lb_err),
            ln_ppl_ratio: ratio,
            ln_ppl_ratio_err: ratio_err,
            ppl_ratio: ratio.exp(),
            ppl_ratio_err: ratio.exp() * ratio_err,
            ppl_diff: ppl - ppl_base,
            ppl_diff_err: (ppl_err * ppl_err + ppl_base_err * ppl_base_err - 2.0 * ppl_cov)
                .max(0.0)
                .sqrt(),
            kld_mean,
            kld_mean_err,
            kld: dist(&self.kld_values),
            dp_mean,
            dp_mean_err,
            dp: dist(&self.p_diff_values),
            dp_rms,
            dp_rms_err,
            same_top,
            same_top_err,
        }
    }
}

impl KldStats {
    /// The report in llama-perplexity's layout and number formats.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        line("====== Perplexity statistics ======".into());
        line(format!(
            "Mean PPL(Q)                   : {:10.6} ± {:10.6}",
            self.ppl, self.ppl_err
        ));
        line(format!(
            "Mean PPL(base)                : {:10.6} ± {:10.6}",
            self.ppl_base, self.ppl_base_err
        ));
        line(format!(
            "Cor(ln(PPL(Q)), ln(PPL(base))): {:6.2}%",
            100.0 * self.ln_ppl_correlation
        ));
        line(format!(
            "Mean ln(PPL(Q)/PPL(base))     : {:10.6} ± {:10.6}",
            self.ln_ppl_ratio, self.ln_ppl_ratio_err
        ));
        line(format!(
            "Mean PPL(Q)/PPL(base)         : {:10.6} ± {:10.6}",
            self.ppl_ratio, self.ppl_ratio_err
        ));
        line(format!(
            "Mean PPL(Q)-PPL(base)         : {:10.6} ± {:10.6}",
            self.ppl_diff, self.ppl_diff_err
        ));
        line(String::new());
        line("====== KL divergence statistics ======".into());
        line(format!(
            "Mean    KLD: {:10.6} ± {:10.6}",
            self.kld_mean, self.kld_mean_err
        ));
        let k = &self.kld;
        for (name, v) in [
            ("Maximum KLD", k.max),
            ("99.9%   KLD", k.p99_9),
            ("99.0%   KLD", k.p99),
            ("95.0%   KLD", k.p95),
            ("90.0%   KLD", k.p90),
            ("Median  KLD", k.median),
            ("10.0%   KLD", k.p10),
            (" 5.0%   KLD", k.p5),
            (" 1.0%   KLD", k.p1),
            (" 0.1%   KLD", k.p0_1),
            ("Minimum KLD", k.min),
        ] {
            line(format!("{name}: {v:10.6}"));
        }
        line(String::new());
        line("====== Token probability statistics ======".into());
        line(format!(
            "Mean    Δp: {:6.3} ± {:5.3} %",
            100.0 * self.dp_mean,
            100.0 * self.dp_mean_err
        ));
        let d = &self.dp;
        for (name, v) in [
            ("Maximum Δp", d.max),
            ("99.9%   Δp", d.p99_9),
            ("99.0%   Δp", d.p99),
            ("95.0%   Δp", d.p95),
            ("90.0%   Δp", d.p90),
            ("75.0%   Δp", d.p75),
            ("Median  Δp", d.median),
            ("25.0%   Δp", d.p25),
            ("10.0%   Δp", d.p10),
            (" 5.0%   Δp", d.p5),
            (" 1.0%   Δp", d.p1),
            (" 0.1%   Δp", d.p0_1),
            ("Minimum Δp", d.min),
        ] {
            line(format!("{name}: {:6.3}%", 100.0 * v));
        }
        line(format!(
            "RMS Δp    : {:6.3} ± {:5.3} %",
            100.0 * self.dp_rms,
            100.0 * self.dp_rms_err
        ));
        line(format!(
            "Same top p: {:6.3} ± {:5.3} %",
            100.0 * self.same_top,
            100.0 * self.same_top_err
        ));
        s
    }
}

/// 20 tokens whose statistics are known by hand: nll_base alternates 1 and 3, the quantized model adds a
/// fixed 0.1; kld i/100; Δp -0.01 then +0.01; the top token differs on every fourth.
#[cfg(test)]
pub(crate) fn hand_computed_accumulator() -> KldAccumulator {
    let mut acc = KldAccumulator::default();
    for i in 0..20 {
        let nll_base = if i % 2 == 0 { 1.0 } else { 3.0 };
        acc.add(&TokenKld {
            nll: nll_base + 0.1,
            nll_base,
            kld: i as f64 / 100.0,
            p_diff: if i < 10 { -0.01 } else { 0.01 },
            same_top: i % 4 != 0,
        });
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_follow_llama_perplexity_by_hand() {
        let s = hand_computed_accumulator().stats();
        assert_eq!(s.n_tokens, 20);
        assert!((s.ln_ppl_ratio - 0.1).abs() < 1e-12);
        // Identical spread in both: the ratio has no uncertainty and the correlation is 1.
        assert!(s.ln_ppl_ratio_err.abs() < 1e-6, "{}", s.ln_ppl_ratio_err);
        assert!((s.ln_ppl_correlation - 1.0).abs() < 1e-9);
        assert!((s.ppl_base - 2f64.exp()).abs() < 1e-12);
        // var of {1,3} = 1 → err = sqrt(1/19) in ln space.
        assert!((s.ppl_base_err - 2f64.exp() * (1.0f64 / 19.0).sqrt()).abs() < 1e-12);
        assert!((s.kld_mean - 0.095).abs() < 1e-12);
        assert_eq!(s.kld.max, 0.19);
        assert_eq!(s.kld.min, 0.0);
        assert!((s.kld.median - 0.095).abs() < 1e-12);
        // 0.99 · 19 = 18.81 → 0.18 + 0.81 · 0.01.
        assert!((s.kld.p99 - 0.1881).abs() < 1e-12);
        assert!(s.dp_mean.abs() < 1e-15);
        assert!((s.dp_rms - 0.01).abs() < 1e-12);
        assert!((s.same_top - 0.75).abs() < 1e-12);
        assert!((s.same_top_err - (0.75f64 * 0.25 / 19.0).sqrt()).abs() < 1e-12);
        assert!(s.render().contains("Mean    KLD:   0.095000 ±"));
    }
}
