//! Composite scores of the compression studies, per rung against the base:
//!
//! - compression ratio `size_base / size` and size reduction `1 − size / size_base`;
//! - theoretical compression rate `1 − (1 − p)·b/16` (sparsity p, quantization bits b);
//! - `D_i = 100·(B_i,base − B_i)/B_i,base` per benchmark and `D_overall` = their mean;
//! - `Q = w_B·Σ w_i·B_i − w_PPL·PPL + w_TPS·TPS` with B_i in percent, PPL and tokens/s as measured;
//! - semantic retention `R = mean_i B_i / B_i,base` over tasks measured in both (PPL_base / PPL when
//!   no task was measured) and retention per unit of compression `R / rate`.

use serde::Serialize;

use crate::results::RungResult;

use super::data;
use super::options::ReportOptions;
use super::task_names::{task_key, task_label};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CompositeScores {
    /// Base file size over this file's size (2.0 = half the size).
    pub compression_ratio: Option<f64>,
    /// 1 − size / base size, as a fraction.
    pub size_reduction: Option<f64>,
    /// 1 − (1 − p)·b/16.
    pub theoretical_rate: Option<f64>,
    pub effective_bpw: Option<f64>,
    /// D_i in percent per task measured in both this rung and the base (task name, D_i).
    pub drops: Vec<(String, f64)>,
    /// Mean of the D_i.
    pub drop_overall: Option<f64>,
    pub q: Option<f64>,
    /// Terms of Q that were left out and why.
    pub q_notes: Vec<String>,
    pub retention: Option<f64>,
    /// `tasks` or `ppl`: what the retention was computed from.
    pub retention_basis: Option<&'static str>,
    /// Retention divided by the theoretical compression rate (none at rate 0).
    pub retention_per_compression: Option<f64>,
}

/// Scores of `r` against `base` (the uncompressed model of the same sweep).
pub fn composite_scores(
    r: &RungResult,
    base: Option<&RungResult>,
    opts: &ReportOptions,
) -> CompositeScores {
    let mut s = CompositeScores {
        effective_bpw: data::effective_bpw(r),
        ..Default::default()
    };
    if let (Some(size), Some(base_size)) = (r.size_bytes, base.and_then(|b| b.size_bytes)) {
        if size > 0 && base_size > 0 {
            s.compression_ratio = Some(base_size as f64 / size as f64);
            s.size_reduction = Some(1.0 - size as f64 / base_size as f64);
        }
    }
    if let (Some(p), Some(b)) = (data::sparsity(r), data::quant_bits(r)) {
        s.theoretical_rate = Some(theoretical_rate(p, b));
    }
    if let Some(base) = base {
        let mut ratios = Vec::new();
        for t in &r.tasks {
            if let Some((base_acc, _)) = data::task_acc(base, &t.task) {
                if base_acc > 0.0 {
                    s.drops
                        .push((t.task.clone(), 100.0 * (base_acc - t.acc) / base_acc));
                    ratios.push(t.acc / base_acc);
                }
            }
        }
        s.drop_overall = mean(s.drops.iter().map(|d| d.1));
        if !ratios.is_empty() {
            s.retention = mean(ratios.into_iter());
            s.retention_basis = Some("tasks");
        } else if let (Some(p), Some(pb)) = (data::ppl(r), data::ppl(base)) {
            s.retention = Some(pb / p);
            s.retention_basis = Some("ppl");
        }
    }
    if let (Some(ret), Some(rate)) = (s.retention, s.theoretical_rate) {
        if rate > 1e-9 {
            s.retention_per_compression = Some(ret / rate);
        }
    }
    let (q, notes) = quality_score(r, opts);
    s.q = q;
    s.q_notes = notes;
    s
}

/// 1 − (1 − p)·b/16: the fraction of FP16 storage saved by sparsity p and b-bit weights.
pub fn theoretical_rate(sparsity: f64, bits: f64) -> f64 {
    1.0 - (1.0 - sparsity) * bits / 16.0
}

/// Q and the notes on what it left out. `None` when none of its terms was measured.
pub fn quality_score(r: &RungResult, opts: &ReportOptions) -> (Option<f64>, Vec<String>) {
    let w = &opts.weights;
    let mut notes = Vec::new();
    let mut total = 0.0;
    let mut any = false;

    let mut bench = 0.0;
    let mut any_bench = false;
    for (task, wi) in w.bench_weights() {
        match data::task_acc(r, &task) {
            Some((acc, _)) => {
                bench += wi * 100.0 * acc;
                any_bench = true;
            }
            None => notes.push(format!("{} not measured", task_label(&task))),
        }
    }
    if any_bench {
        total += w.w_bench * bench;
        any = true;
    }
    match data::ppl(r) {
        Some(p) => {
            total -= w.w_ppl * p;
            any = true;
        }
        None => notes.push("PPL not measured".into()),
    }
    match data::throughput(r, opts.throughput).0 {
        Some(t) => {
            total += w.w_tps * t;
            any = true;
        }
        None => notes.push(format!("{} t/s not measured", opts.throughput.label())),
    }
    (any.then_some(total), notes)
}

/// Whether `task` carries weight in Q under these options.
pub fn weighted(task: &str, opts: &ReportOptions) -> bool {
    let k = task_key(task);
    opts.weights
        .bench_weights()
        .iter()
        .any(|(n, _)| task_key(n) == k)
}

fn mean(it: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = it.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{PruneInfo, TaskScore};

    fn task(name: &str, acc: f64) -> TaskScore {
        TaskScore {
            task: name.into(),
            n: 100,
            acc,
            acc_err: 0.05,
            ..Default::default()
        }
    }

    fn base() -> RungResult {
        let mut b = RungResult::new("F16", "F16");
        b.nominal_bpw = Some(16.0);
        b.size_bytes = Some(1_000_000);
        b.ppl = Some(10.0);
        b.tasks = vec![task("hellaswag", 0.6), task("arc-easy", 0.8)];
        b
    }

    #[test]
    fn hand_computed_scores() {
        let mut r = RungResult::new("Q4_K_M+wanda0.5", "Q4_K_M");
        r.nominal_bpw = Some(4.5);
        r.bpw = Some(4.8);
        r.size_bytes = Some(250_000);
        r.ppl = Some(12.0);
        r.tg_ts = Some(100.0);
        r.prune = Some(PruneInfo {
            method: "wanda".into(),
            level: 0.5,
            ..Default::default()
        });
        r.tasks = vec![task("hellaswag", 0.5), task("arc-easy", 0.6)];
        let s = composite_scores(&r, Some(&base()), &ReportOptions::default());
        assert_eq!(s.compression_ratio, Some(4.0));
        assert_eq!(s.size_reduction, Some(0.75));
        // 1 − 0.5·4.5/16 = 0.859375
        assert!((s.theoretical_rate.unwrap() - 0.859375).abs() < 1e-12);
        assert!((s.effective_bpw.unwrap() - 2.4).abs() < 1e-12);
        // D: hellaswag 100·0.1/0.6 = 16.667, arc-easy 100·0.2/0.8 = 25
        assert!((s.drops[0].1 - 16.666_666_666).abs() < 1e-6);
        assert!((s.drops[1].1 - 25.0).abs() < 1e-12);
        assert!((s.drop_overall.unwrap() - 20.833_333_333).abs() < 1e-6);
        // Q = 0.8·(0.7·50) − 0.7·12 + 0.2·100 = 28 − 8.4 + 20 = 39.6 (IFEval, TruthfulQA skipped)
        assert!((s.q.unwrap() - 39.6).abs() < 1e-9, "{:?}", s.q);
        assert_eq!(
            s.q_notes,
            vec!["IFEval not measured", "TruthfulQA not measured"]
        );
        // R = mean(0.5/0.6, 0.6/0.8) = 0.791667; per rate 0.791667/0.859375 = 0.921212
        assert_eq!(s.retention_basis, Some("tasks"));
        assert!((s.retention.unwrap() - 0.791_666_666_7).abs() < 1e-9);
        assert!((s.retention_per_compression.unwrap() - 0.921_212_121).abs() < 1e-6);
    }

    #[test]
    fn reweighted_q_and_ppl_retention() {
        let mut r = RungResult::new("Q8_0", "Q8_0");
        r.nominal_bpw = Some(8.5);
        r.ppl = Some(12.5);
        r.tasks = vec![task("truthfulqa", 0.4)];
        let mut opts = ReportOptions::default();
        opts.weights.w_bench = 1.0;
        opts.weights.w_ppl = 2.0;
        opts.weights.bench_overrides = vec![("truthfulqa".into(), 2.0)];
        // Q = 1·(2·40) − 2·12.5 = 55, no t/s
        let (q, notes) = quality_score(&r, &opts);
        assert_eq!(q, Some(55.0));
        assert!(notes.contains(&"tg t/s not measured".to_string()));
        // No task shared with a base that has none: retention from perplexity, 10/12.5.
        let mut b = base();
        b.tasks.clear();
        let s = composite_scores(&r, Some(&b), &opts);
        assert_eq!(s.retention_basis, Some("ppl"));
        assert!((s.retention.unwrap() - 0.8).abs() < 1e-12);
        // 1 − 8.5/16 = 0.46875
        assert!((s.retention_per_compression.unwrap() - 0.8 / 0.46875).abs() < 1e-12);
        assert!(s.drops.is_empty() && s.drop_overall.is_none());
    }

    #[test]
    fn nothing_measured_gives_no_q() {
        let r = RungResult::new("IQ1_S", "IQ1_S");
        let (q, notes) = quality_score(&r, &ReportOptions::default());
        assert_eq!(q, None);
        assert_eq!(notes.len(), 5);
        // The base itself: rate 0, no retention per compression.
        let b = base();
        let s = composite_scores(&b, Some(&b), &ReportOptions::default());
        assert_eq!(s.theoretical_rate, Some(0.0));
        assert_eq!(s.retention, Some(1.0));
        assert_eq!(s.retention_per_compression, None);
    }
}
