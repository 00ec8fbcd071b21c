//! Log-softmax over one row of logits, computed the way llama-perplexity does (f32 logits,
//! f64 sum of f32 exponentials) so that numbers agree to the printed digits. Plain arithmetic on
//! rows, used by every stage that reads logits: the imatrix's calibration (`quant`), perplexity and
//! KL-divergence (`measure`) and the tasks.

/// Max logit, the first token holding it, and log of Σ exp(l − max): enough to get any token's
/// log-probability and the most likely token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogSumExp {
    pub max: f32,
    /// The first index holding `max` (llama.cpp's strict `>` scan).
    pub argmax: usize,
    /// Σ exp(l − max), each term an f32 `expf` summed in f64.
    pub sum: f64,
    pub log_sum: f64,
}

impl LogSumExp {
    pub fn of(logits: &[f32]) -> Self {
        let max = max_of(logits);
        let argmax = first_index_of(logits, max);
        let sum = sum_of_terms(logits, max);
        Self {
            max,
            argmax,
            sum,
            log_sum: sum.ln(),
        }
    }

    /// ln p(token) = (l_token − max) − ln Σ.
    pub fn log_prob(&self, logit: f32) -> f64 {
        (logit - self.max) as f64 - self.log_sum
    }

    /// The f32 term `exp(l − max)` exactly as it entered `sum`.
    pub fn term(&self, logit: f32) -> f64 {
        exp_term(logit - self.max) as f64
    }

    /// Σ of the terms of a stretch of the row (a vectorized pass, like `sum`).
    pub fn terms(&self, logits: &[f32]) -> f64 {
        sum_of_terms(logits, self.max)
    }
}

/// Σ exp(l − max) in f64 over eight partial sums, so a row is one vectorized pass rather than a
/// chain of dependent adds.
fn sum_of_terms(logits: &[f32], max: f32) -> f64 {
    let mut lanes = [0f64; 8];
    let mut chunks = logits.chunks_exact(8);
    for c in &mut chunks {
        for (s, &l) in lanes.iter_mut().zip(c) {
            *s += exp_term(l - max) as f64;
        }
    }
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|&l| exp_term(l - max) as f64)
        .sum();
    lanes.iter().sum::<f64>() + tail
}

/// e^x in f32 for the terms of a softmax (x = logit − max ≤ 0), within one ulp of libm's `expf`
/// (llama.cpp's), branch-free so a loop over a row vectorizes: a perplexity pass sums over the
/// whole vocabulary for every scored token, and a call to `expf` per logit would keep that loop
/// scalar. Below −87 it returns e^−87 (2^−125.5, nothing next to the max's term of 1); NaN stays
/// NaN.
#[inline(always)]
pub fn exp_term(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to the nearest integer
    const LN2_HI: f32 = 0.693_359_4; // ln 2 in few mantissa bits, so n · LN2_HI is exact
    const LN2_LO: f32 = -2.121_944_4e-4; // ln 2 − LN2_HI
    let x = x.clamp(-87.0, 88.0);
    // x = n ln 2 + r, |r| ≤ ln 2 / 2; e^x = 2^n e^r.
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let k = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // e^r by its Taylor series to r^7 (the r^8 term is under 0.1 ulp at |r| = ln 2 / 2).
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r * r + r + 1.0;
    p * f32::from_bits(((k + 127) << 23) as u32)
}

/// Index of the first element equal to `value` (0 if none): a branch-free test per block of 64
/// (vectorized), then a scan of the block that holds it.
fn first_index_of(row: &[f32], value: f32) -> usize {
    let block = row
        .chunks(64)
        .position(|c| c.iter().fold(false, |hit, &v| hit | (v == value)))
        .unwrap_or(0);
    let start = block * 64;
    row[start..]
        .iter()
        .position(|&v| v == value)
        .map_or(0, |i| start + i)
}

/// Largest value (NaN-free rows); eight lanes so the compiler vectorizes it.
pub fn max_of(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = if v > *m { v } else { *m };
        }
    }
    let mut max = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &v in chunks.remainder() {
        max = max.max(v);
    }
    max
}

/// Negative log-likelihood of `token` and its probability, as llama-perplexity's `log_softmax`.
pub fn nll_and_prob(logits: &[f32], token: usize) -> (f64, f64) {
    let lse = LogSumExp::of(logits);
    let logit = logits.get(token).copied().unwrap_or(f32::NEG_INFINITY);
    let lp = lse.log_prob(logit);
    (-lp, lp.exp())
}

/// The `k` largest logits' indices, most likely first (ties: lower index first).
pub fn top_k(row: &[f32], k: usize) -> Vec<u32> {
    let k = k.min(row.len());
    if k == 0 {
        return Vec::new();
    }
    // Keep candidates above a rising threshold; compact to the best k whenever 4k are held.
    let mut cand: Vec<(f32, u32)> = Vec::with_capacity(4 * k + 1);
    let mut threshold = f32::NEG_INFINITY;
    let by_rank = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    for (i, &l) in row.iter().enumerate() {
        if l >= threshold {
            cand.push((l, i as u32));
            if cand.len() >= 4 * k {
                cand.select_nth_unstable_by(k - 1, by_rank);
                cand.truncate(k);
                threshold = cand.iter().map(|c| c.0).fold(f32::INFINITY, f32::min);
            }
        }
    }
    cand.sort_unstable_by(by_rank);
    cand.truncate(k);
    cand.into_iter().map(|c| c.1).collect()
}

/// Full-vocabulary KL(base ‖ quant) of one position in f64: the reference the compact base is measured
/// against. Terms with base probability zero contribute nothing.
pub fn kld_full(base: &[f32], base_lse: &LogSumExp, quant: &[f32], quant_lse: &LogSumExp) -> f64 {
    let shift = quant_lse.log_sum - base_lse.log_sum;
    let mut kld = 0.0f64;
    for (&b, &q) in base.iter().zip(quant) {
        let e = exp_term(b - base_lse.max);
        if e > 0.0 {
            let diff = (b - base_lse.max) as f64 - (q - quant_lse.max) as f64 + shift;
            kld += e as f64 * diff;
        }
    }
    kld / base_lse.sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_direct_softmax() {
        let logits = [1.0f32, 2.0, 3.0, -1.0];
        let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        for (t, &l) in logits.iter().enumerate() {
            let (nll, p) = nll_and_prob(&logits, t);
            assert!((p - (l as f64).exp() / z).abs() < 1e-7);
            assert!((nll + ((l as f64).exp() / z).ln()).abs() < 1e-6);
        }
        assert_eq!(LogSumExp::of(&logits).argmax, 2);
    }

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(LogSumExp::of(&[0.0, 5.0, 1.0, 5.0]).argmax, 1);
        for (first, second) in [(0, 1), (63, 64), (64, 700), (130, 131), (999, 999)] {
            let mut row = vec![-1.0f32; 1000];
            row[first] = 3.0;
            row[second] = 3.0;
            assert_eq!(LogSumExp::of(&row).argmax, first);
        }
    }

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_term_is_within_one_ulp_of_libm() {
        // Every 61st float from 0 down to −87 (about 18 million), and a stretch of positive ones.
        let mut bits = 0.0f32.to_bits();
        let (mut worst, mut checked) = (0, 0u64);
        loop {
            let x = -f32::from_bits(bits);
            if x < -87.0 {
                break;
            }
            worst = worst.max(ulps(exp_term(x), x.exp()));
            checked += 1;
            bits += 61;
        }
        for i in 0..100_000 {
            let x = i as f32 * 8.8e-4;
            worst = worst.max(ulps(exp_term(x), x.exp()));
        }
        assert!(checked > 15_000_000);
        assert!(worst <= 1, "{worst} ulps");
        assert_eq!(exp_term(0.0), 1.0);
        assert_eq!(exp_term(-1e30), (-87.0f32).exp());
        assert!(exp_term(f32::NAN).is_nan());
    }

    #[test]
    fn sum_agrees_with_libm_terms() {
        // A vocabulary-sized row: the sum of expf terms in order, as llama-perplexity adds them.
        let row: Vec<f32> = (0..49_157u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).rotate_left(11) % 100_000) as f32 * 2e-4 - 12.0)
            .collect();
        let lse = LogSumExp::of(&row);
        let libm: f64 = row.iter().map(|&l| (l - lse.max).exp() as f64).sum();
        // One ulp per term bounds the relative error by 2^−23; it is far smaller in practice.
        assert!(
            ((lse.sum - libm) / libm).abs() < 1e-8,
            "{} vs {libm}",
            lse.sum
        );
        let mut nan_row = row.clone();
        nan_row[777] = f32::NAN;
        assert!(LogSumExp::of(&nan_row).sum.is_nan());
    }

    #[test]
    fn top_k_equals_a_full_sort() {
        let row: Vec<f32> = (0..10_000u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 5000) as f32 * 0.01)
            .collect();
        for k in [1, 5, 32, 200] {
            let mut idx: Vec<u32> = (0..row.len() as u32).collect();
            idx.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
            assert_eq!(top_k(&row, k), idx[..k].to_vec(), "k = {k}");
        }
        assert_eq!(top_k(&[1.0, 2.0], 5), vec![1, 0]);
    }

    #[test]
    fn full_kld_matches_the_definition() {
        let p = [0.5f32, 1.5, -2.0, 0.0];
        let q = [0.7f32, 1.0, -1.0, 0.2];
        let soft = |l: &[f32]| -> Vec<f64> {
            let z: f64 = l.iter().map(|&x| (x as f64).exp()).sum();
            l.iter().map(|&x| (x as f64).exp() / z).collect()
        };
        let (ps, qs) = (soft(&p), soft(&q));
        let want: f64 = ps.iter().zip(&qs).map(|(a, b)| a * (a / b).ln()).sum();
        let got = kld_full(&p, &LogSumExp::of(&p), &q, &LogSumExp::of(&q));
        assert!((got - want).abs() < 1e-7, "{got} vs {want}");
        assert!(kld_full(&p, &LogSumExp::of(&p), &p, &LogSumExp::of(&p)).abs() < 1e-12);
    }
}
