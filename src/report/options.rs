//! The one options struct every rendering shares (`table`, `plot`, `fit` and the sweep flatten it
//! into their arguments), so a score or a verdict means the same thing wherever it is printed.

use serde::{Deserialize, Serialize};

use super::task_names::task_key;

/// Default per-benchmark weights of the quality score Q, from the study that proposed it.
pub const DEFAULT_BENCH_WEIGHTS: &[(&str, f64)] =
    &[("hellaswag", 0.7), ("ifeval", 1.0), ("truthfulqa", 0.5)];

#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
pub struct ReportOptions {
    /// Safe zone: rungs whose perplexity is within this fraction of the base's (0.05 = 5%).
    #[arg(long = "ppl-tolerance", value_name = "FRACTION", default_value_t = 0.05, value_parser = parse_tolerance)]
    pub tolerance: f64,
    /// Bootstrap resamples for the confidence interval of the transition point.
    #[arg(long = "bootstrap", value_name = "N", default_value_t = 1000)]
    pub bootstrap: u32,
    /// Seed of the bootstrap, so that a re-render prints the same interval.
    #[arg(long = "bootstrap-seed", value_name = "SEED", default_value_t = 7)]
    pub seed: u64,
    /// Throughput shown as Tokens/s and used in Q: token generation (tg) or prompt processing (pp).
    #[arg(long = "tps", value_enum, default_value_t = Throughput::Tg)]
    pub throughput: Throughput,
    #[command(flatten)]
    pub weights: QualityWeights,
}

/// Weights of Q = w_B·Σ w_i·B_i − w_PPL·PPL + w_TPS·TPS.
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
pub struct QualityWeights {
    /// Weight w_B of the benchmark term of the quality score Q.
    #[arg(long = "w-bench", value_name = "W", default_value_t = 0.8)]
    pub w_bench: f64,
    /// Weight w_PPL of perplexity in Q (subtracted).
    #[arg(long = "w-ppl", value_name = "W", default_value_t = 0.7)]
    pub w_ppl: f64,
    /// Weight w_TPS of tokens/s in Q.
    #[arg(long = "w-tps", value_name = "W", default_value_t = 0.2)]
    pub w_tps: f64,
    /// Per-benchmark weight w_i in Q, TASK=W, repeatable. Overrides the defaults
    /// (hellaswag=0.7, ifeval=1.0, truthfulqa=0.5); other tasks count only when given; 0 drops one.
    #[arg(long = "bench-weight", value_name = "TASK=W", value_parser = parse_bench_weight)]
    pub bench_overrides: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Throughput {
    /// Token generation (llama-bench `tg`): what a user waits for, bound by memory bandwidth.
    Tg,
    /// Prompt processing (llama-bench `pp`).
    Pp,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            tolerance: 0.05,
            bootstrap: 1000,
            seed: 7,
            throughput: Throughput::Tg,
            weights: QualityWeights::default(),
        }
    }
}

impl Default for QualityWeights {
    fn default() -> Self {
        Self {
            w_bench: 0.8,
            w_ppl: 0.7,
            w_tps: 0.2,
            bench_overrides: Vec::new(),
        }
    }
}

impl QualityWeights {
    /// The defaults with the overrides applied, in a stable order; zero weights removed.
    pub fn bench_weights(&self) -> Vec<(String, f64)> {
        let mut w: Vec<(String, f64)> = DEFAULT_BENCH_WEIGHTS
            .iter()
            .map(|(n, v)| (n.to_string(), *v))
            .collect();
        for (name, value) in &self.bench_overrides {
            let key = task_key(name);
            match w.iter_mut().find(|(n, _)| task_key(n) == key) {
                Some(slot) => slot.1 = *value,
                None => w.push((name.clone(), *value)),
            }
        }
        w.retain(|(_, v)| *v != 0.0);
        w
    }
}

impl Throughput {
    pub fn label(self) -> &'static str {
        match self {
            Throughput::Tg => "tg",
            Throughput::Pp => "pp",
        }
    }
}

fn parse_tolerance(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !(v.is_finite() && v > 0.0 && v < 10.0) {
        return Err(format!(
            "{v} is outside (0, 10): give a fraction such as 0.05 for 5%"
        ));
    }
    Ok(v)
}

fn parse_bench_weight(s: &str) -> Result<(String, f64), String> {
    let (name, w) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected TASK=WEIGHT, e.g. hellaswag=0.7"))?;
    let w: f64 = w
        .trim()
        .parse()
        .map_err(|_| format!("'{s}': the weight '{w}' is not a number"))?;
    if !w.is_finite() {
        return Err(format!("'{s}': the weight must be finite"));
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("'{s}': the task name is empty"));
    }
    Ok((name.to_string(), w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        opts: ReportOptions,
    }

    #[test]
    fn clap_defaults_equal_default() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.opts, ReportOptions::default());
    }

    #[test]
    fn bench_weights_override_add_and_drop() {
        let cli = Cli::try_parse_from([
            "x",
            "--bench-weight",
            "HellaSwag=0.2",
            "--bench-weight",
            "arc-easy=0.4",
            "--bench-weight",
            "ifeval=0",
            "--w-ppl",
            "1.5",
        ])
        .unwrap();
        assert_eq!(cli.opts.weights.w_ppl, 1.5);
        assert_eq!(
            cli.opts.weights.bench_weights(),
            vec![
                ("hellaswag".to_string(), 0.2),
                ("truthfulqa".to_string(), 0.5),
                ("arc-easy".to_string(), 0.4)
            ]
        );
        assert!(Cli::try_parse_from(["x", "--bench-weight", "mmlu"]).is_err());
        assert!(Cli::try_parse_from(["x", "--ppl-tolerance", "-1"]).is_err());
    }
}
