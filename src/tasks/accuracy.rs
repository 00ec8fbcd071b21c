//! What an evaluation produced: accuracy with its standard error, per item and (MMLU) per subject,
//! and how fast. Plain serde data; a sweep keeps `results::TaskScore` of it per rung.

use serde::{Deserialize, Serialize};

/// How items are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Mode {
    /// lm-evaluation-harness: summed log-likelihood of each continuation (acc) and the same per
    /// character of the choice (acc_norm), with the harness's prompt templates.
    #[default]
    #[serde(rename = "harness")]
    Harness,
    /// llama-perplexity's own algorithms (`--hellaswag`, `--winogrande`, `--multiple-choice`).
    #[serde(rename = "llama.cpp")]
    LlamaCpp,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Harness => "harness",
            Mode::LlamaCpp => "llama.cpp",
        }
    }
}

/// A fraction correct and its standard error, sqrt(p(1-p)/(n-1)) (the harness's `mean_stderr`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Accuracy {
    pub value: f64,
    pub stderr: f64,
}

impl Accuracy {
    pub fn of(correct: impl IntoIterator<Item = bool>) -> Self {
        let (mut n, mut k) = (0usize, 0usize);
        for c in correct {
            n += 1;
            k += usize::from(c);
        }
        if n == 0 {
            return Self::default();
        }
        let p = k as f64 / n as f64;
        // One item has no spread to estimate; report 0 rather than NaN (which JSON cannot hold).
        let stderr = if n > 1 {
            (p * (1.0 - p) / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Self { value: p, stderr }
    }

    /// The harness's group stderr (`pooled_sample_stderr`) over subtasks of `sizes` items.
    pub fn pooled_stderr(parts: &[(usize, Accuracy)]) -> f64 {
        let total: usize = parts.iter().map(|(n, _)| n).sum();
        if total <= parts.len() {
            return 0.0;
        }
        let var: f64 = parts
            .iter()
            .map(|(n, a)| (*n as f64 - 1.0) * a.stderr * a.stderr * *n as f64)
            .sum::<f64>()
            / (total - parts.len()) as f64;
        (var / total as f64).sqrt()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectScore {
    pub subject: String,
    pub n: usize,
    pub acc: Accuracy,
}

/// One scored item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    /// `file: row N` of the item.
    pub row: String,
    pub subject: Option<String>,
    pub gold: usize,
    /// Per choice: summed continuation log-probability (harness mode) or llama.cpp's score.
    pub scores: Vec<f64>,
    pub pred: usize,
    /// The pick by log-probability per character (harness acc_norm), where the task reports it.
    pub pred_norm: Option<usize>,
}

/// One task evaluated on one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    pub task: String,
    pub mode: Mode,
    pub shots: usize,
    /// File or folder the items came from, and its split.
    pub source: String,
    pub split: String,
    pub n: usize,
    /// acc; for MMLU the micro average over all items (the harness's group number).
    pub acc: Accuracy,
    pub acc_norm: Option<Accuracy>,
    /// MMLU: per subject, sorted by name.
    pub subjects: Vec<SubjectScore>,
    /// MMLU: mean of the subjects' accuracies.
    pub macro_acc: Option<f64>,
    /// Bad rows skipped while loading (`--skip-bad-rows`).
    pub skipped_rows: usize,
    /// Tokens decoded, and what one sequence per choice would have decoded.
    pub tokens_decoded: u64,
    pub tokens_unshared: u64,
    pub seconds: f64,
    pub items_per_s: f64,
    pub items: Vec<ItemResult>,
}

/// numpy's `argmax`: the first of the highest values.
pub fn argmax(values: impl IntoIterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.into_iter().enumerate() {
        if v > best.1 || i == 0 {
            best = (i, v);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_is_the_sample_standard_error_of_the_mean() {
        let a = Accuracy::of([true, false, true, true]);
        // Sample variance of (1,0,1,1) is 0.25; its mean's standard error is sqrt(0.25/4).
        assert!((a.value - 0.75).abs() < 1e-12 && (a.stderr - 0.25).abs() < 1e-12);
        // Pooling one part gives that part's stderr back.
        assert!((Accuracy::pooled_stderr(&[(4, a)]) - a.stderr).abs() < 1e-12);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax([1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax([f64::NEG_INFINITY, f64::NEG_INFINITY]), 0);
    }
}
