//! Log-softmax over one row of logits, computed the way llama-perplexity does (f32 logits,
//! f64 sum of exponentials) so that numbers agree to the printed digits.

/// Max logit and log of Σ exp(l − max): enough to get any token's log-probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogSumExp {
    pub max: f32,
    pub log_sum: f64,
}

impl LogSumExp {
    pub fn of(logits: &[f32]) -> Self {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = logits.iter().map(|&l| (l - max).exp() as f64).sum();
        Self {
            max,
            log_sum: sum.ln(),
        }
    }

    /// ln p(token) = l_token − max − ln Σ.
    pub fn log_prob(&self, logit: f32) -> f64 {
        (logit - self.max) as f64 - self.log_sum
    }
}

/// Negative log-likelihood of `token` and its probability, as llama-perplexity's `log_softmax`.
pub fn nll_and_prob(logits: &[f32], token: usize) -> (f64, f64) {
    let lse = LogSumExp::of(logits);
    let logit = logits.get(token).copied().unwrap_or(f32::NEG_INFINITY);
    let lp = lse.log_prob(logit);
    (-lp, lp.exp())
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
    }
}
