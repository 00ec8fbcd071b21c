//! One scored position of a compact KL-divergence base, and the estimator that compares a quantized
//! model's logits with it.
//!
//! With δᵢ = ln pᵢ − ln qᵢ (base p, quant q), KL(p‖q) = Σ pᵢδᵢ. The record keeps p exactly on the
//! base's `k` most likely tokens and represents the rest of the vocabulary (the tail, mass P_T) by `m`
//! tokens drawn from it in proportion to p (systematic sampling, each standing for P_T/m), so
//! (P_T/m)·Σ δ_s estimates the tail's Σ pᵢδᵢ without bias. Its noise is cut with the control variate
//! pᵢ(e^−δᵢ − 1), whose tail sum Q_T − P_T is known exactly from the quant's full row: with weight 1
//! the per-sample term is δ + e^−δ − 1 = O(δ²), nearly noiseless for a good quant. Where the quant has
//! moved mass into the base's tail (Q_T > P_T) the ratio q/p there is heavy-tailed and 32 samples miss
//! the tokens that carry it, so the weight falls as (P_T/Q_T)². The weight depends only on known
//! quantities, never on the samples, so the estimate stays unbiased for every model. (An earlier
//! ln-of-sampled-mass form was biased on collapsed quants.) Small models have heavy tails: lumping
//! the tail into one bucket instead underestimates the KLD by far.

use super::kld::TokenKld;
use crate::logits::{top_k, LogSumExp};

/// A stored position, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseRecord {
    /// ln p_base(correct token).
    pub correct_logp: f32,
    /// ln P_T: the base's probability outside its top `k` (−∞ when the top holds everything).
    pub tail_logp: f32,
    /// The top `k` tokens, most likely first, and their ln p.
    pub top_ids: Vec<u32>,
    pub top_logp: Vec<f32>,
    /// Tokens sampled from the tail (repeats possible) and their ln p.
    pub sample_ids: Vec<u32>,
    pub sample_logp: Vec<f32>,
}

/// A stored position, borrowed from a base's flat arrays; ids of `u32::MAX` are padding.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub correct_logp: f32,
    pub tail_logp: f32,
    pub top_ids: &'a [u32],
    pub top_logp: &'a [f32],
    pub sample_ids: &'a [u32],
    pub sample_logp: &'a [f32],
}

/// A reproducible offset in [0, 1) for the systematic sample of scored position `i`.
pub fn sample_offset(i: u64) -> f64 {
    // splitmix64
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl BaseRecord {
    /// Summarizes the base's logits at a position whose correct next token is `token`: the top `k`,
    /// and `m` tail tokens at offsets `(j + u)·P_T/m` of the tail's cumulative mass (token-id order).
    pub fn capture(row: &[f32], lse: &LogSumExp, token: usize, k: usize, m: usize, u: f64) -> Self {
        let top_ids = top_k(row, k);
        debug_assert!(top_ids.first().is_none_or(|&i| i as usize == lse.argmax));
        // One bit per token of the vocabulary, a word per block of 64 ids: which are in the top.
        let mut top_bits = vec![0u64; row.len().div_ceil(64)];
        let mut top_mass = 0.0f64;
        let top_logp = top_ids
            .iter()
            .map(|&i| {
                top_bits[i as usize / 64] |= 1 << (i % 64);
                top_mass += lse.term(row[i as usize]);
                lse.log_prob(row[i as usize]) as f32
            })
            .collect();
        // Same f32 terms on both sides of the subtraction: the tail mass has no cancellation error.
        let tail = lse.sum - top_mass;
        let mut sample_ids = Vec::with_capacity(m);
        if tail > 0.0 && m > 0 {
            let step = tail / m as f64;
            let mut next = u * step;
            let mut cum = 0.0f64;
            for (block, (ids, bits)) in row.chunks(64).zip(&top_bits).enumerate() {
                // A block no sample falls in is passed by its sum (one vectorized pass): only the m
                // blocks that hold a sample are walked token by token.
                let mut mass = lse.terms(ids);
                let mut top_here = *bits;
                while top_here != 0 {
                    mass -= lse.term(ids[top_here.trailing_zeros() as usize]);
                    top_here &= top_here - 1;
                }
                if cum + mass <= next {
                    cum += mass;
                    continue;
                }
                for (j, &l) in ids.iter().enumerate() {
                    if bits >> j & 1 == 1 {
                        continue;
                    }
                    cum += lse.term(l);
                    while cum > next && sample_ids.len() < m {
                        sample_ids.push((block * 64 + j) as u32);
                        next += step;
                    }
                }
                if sample_ids.len() == m {
                    break;
                }
            }
        }
        let sample_logp = sample_ids
            .iter()
            .map(|&i| lse.log_prob(row[i as usize]) as f32)
            .collect();
        Self {
            correct_logp: lse.log_prob(row.get(token).copied().unwrap_or(f32::NEG_INFINITY)) as f32,
            tail_logp: if tail > 0.0 {
                (tail.ln() - lse.log_sum) as f32
            } else {
                f32::NEG_INFINITY
            },
            top_ids,
            top_logp,
            sample_ids,
            sample_logp,
        }
    }

    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            correct_logp: self.correct_logp,
            tail_logp: self.tail_logp,
            top_ids: &self.top_ids,
            top_logp: &self.top_logp,
            sample_ids: &self.sample_ids,
            sample_logp: &self.sample_logp,
        }
    }

    pub fn compare(&self, row: &[f32], token: usize) -> TokenKld {
        self.as_ref().compare(row, token)
    }
}

impl RecordRef<'_> {
    /// Compares the quantized model's logits at the same position with this record.
    pub fn compare(&self, row: &[f32], token: usize) -> TokenKld {
        let lse = LogSumExp::of(row);
        let nll = -lse.log_prob(row.get(token).copied().unwrap_or(f32::NEG_INFINITY));
        let nll_base = -(self.correct_logp as f64);
        let entries = |ids: &'_ [u32], lps: &'_ [f32]| {
            ids.iter()
                .zip(lps)
                .filter_map(|(&id, &lp)| row.get(id as usize).map(|&q| (q, lp as f64)))
                .collect::<Vec<_>>()
        };
        // f(δ) = δ + e^−δ − 1, accurate near δ = 0 where most tokens of a good quant are.
        let f = |lp: f64, lq: f64| {
            let d = lp - lq;
            (d + (-d).exp_m1()).max(0.0)
        };
        // Top k: exact. `q_top_terms` in the units of `lse.sum`, for the lumped tail below.
        let (mut kld, mut q_top_terms) = (0.0f64, 0.0f64);
        for (q, lp) in entries(self.top_ids, self.top_logp) {
            kld += lp.exp() * f(lp, lse.log_prob(q));
            q_top_terms += lse.term(q);
        }
        let lp_tail = self.tail_logp as f64;
        let samples = entries(self.sample_ids, self.sample_logp);
        if lp_tail > f64::NEG_INFINITY && samples.is_empty() {
            // No samples (m = 0): the tail as one bucket, a lower bound.
            let q_tail = (lse.sum - q_top_terms).max(f64::MIN_POSITIVE);
            kld += lp_tail.exp() * f(lp_tail, q_tail.ln() - lse.log_sum);
        } else if lp_tail > f64::NEG_INFINITY {
            // The head's terms above are p·f(δ) = pδ + (q − p): they carry Q_H − P_H, and the tail
            // adds Q_T − P_T in expectation, which sums to zero.
            let (p_tail, q_tail) = (lp_tail.exp(), (1.0 - q_top_terms / lse.sum).max(0.0));
            let beta = (p_tail / q_tail).min(1.0).powi(2);
            let w = p_tail / samples.len() as f64;
            let sampled: f64 = samples
                .into_iter()
                .map(|(q, lp)| {
                    let d = lp - lse.log_prob(q);
                    d + beta * (-d).exp_m1()
                })
                .sum();
            kld += w * sampled + (1.0 - beta) * (q_tail - p_tail);
        }
        TokenKld {
            nll,
            nll_base,
            kld: kld.max(0.0),
            p_diff: (-nll).exp() - (-nll_base).exp(),
            same_top: self.top_ids.first() == Some(&(lse.argmax as u32)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logits::kld_full;

    fn row(seed: u32, n: usize) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                let h = (i ^ seed).wrapping_mul(2_654_435_761).rotate_left(13);
                (h % 10_000) as f32 / 1500.0
            })
            .collect()
    }

    fn pair(seed: u32, noise: f32) -> (Vec<f32>, Vec<f32>) {
        let base = row(seed, 2000);
        let quant = base
            .iter()
            .zip(row(seed + 99, 2000))
            .map(|(b, n)| b + noise * (n - 3.3))
            .collect();
        (base, quant)
    }

    fn capture(base: &[f32], k: usize, m: usize, u: f64) -> BaseRecord {
        BaseRecord::capture(base, &LogSumExp::of(base), 5, k, m, u)
    }

    #[test]
    fn keeping_the_whole_vocabulary_is_exact() {
        let (base, quant) = pair(1, 0.5);
        let full = kld_full(&base, &LogSumExp::of(&base), &quant, &LogSumExp::of(&quant));
        let all = capture(&base, base.len(), 0, 0.5).compare(&quant, 5);
        // Exact up to the f32 storage of log-probabilities.
        assert!(
            (all.kld - full).abs() < 1e-6 * full,
            "{} vs {full}",
            all.kld
        );
    }

    #[test]
    fn sampled_tail_is_unbiased_where_the_lumped_tail_is_not() {
        // A flat synthetic vocabulary (97% of the mass outside the top 8): the lumped bucket loses almost
        // all of the divergence; the sampled tail keeps it (the real-model check is tests/it/measure_kld.rs).
        let (mut full, mut lumped, mut sampled) = (0.0, 0.0, 0.0);
        // Unbiased, not exact: the sample's noise shrinks over positions, hence many of them.
        for pos in 0..2000u32 {
            let (base, quant) = pair(pos * 7 + 3, 0.2);
            full += kld_full(&base, &LogSumExp::of(&base), &quant, &LogSumExp::of(&quant));
            lumped += capture(&base, 8, 0, 0.0).compare(&quant, 5).kld;
            let u = sample_offset(pos as u64);
            sampled += capture(&base, 8, 32, u).compare(&quant, 5).kld;
        }
        assert!(lumped < 0.8 * full, "lumped {lumped} vs full {full}");
        assert!(
            (sampled - full).abs() < 0.01 * full,
            "sampled {sampled} vs full {full}"
        );
    }

    #[test]
    fn top_token_and_correct_token_do_not_depend_on_k() {
        let (base, quant) = pair(4, 0.3);
        let a = capture(&base, 1, 4, 0.2).compare(&quant, 5);
        let b = capture(&base, 64, 64, 0.7).compare(&quant, 5);
        assert_eq!(a.same_top, b.same_top);
        assert_eq!((a.nll, a.nll_base, a.p_diff), (b.nll, b.nll_base, b.p_diff));
    }

    #[test]
    fn samples_follow_the_tail_distribution() {
        let base = row(9, 2000);
        let r = capture(&base, 16, 64, 0.5);
        assert_eq!(r.sample_ids.len(), 64);
        assert!(r.sample_ids.iter().all(|i| !r.top_ids.contains(i)));
        assert!(r.sample_ids.windows(2).all(|w| w[0] <= w[1]), "id order");
        assert!((0.0..1.0).contains(&sample_offset(3)) && sample_offset(3) != sample_offset(4));
    }
}
