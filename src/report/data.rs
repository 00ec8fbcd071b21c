//! Reading the numbers out of saved results the same way everywhere: which rungs count, their bits,
//! sparsity, throughput, task accuracies.

use crate::results::{RungResult, SweepResults};

use super::format::trim_float;
use super::options::Throughput;
use super::task_names::task_key;

/// The base (if it is not already a rung of the same name) followed by every rung, failed ones included.
pub fn all_rows(r: &SweepResults) -> Vec<&RungResult> {
    let mut rows = Vec::with_capacity(r.rungs.len() + 1);
    if let Some(base) = &r.base {
        if !r.rungs.iter().any(|x| x.rung == base.rung) {
            rows.push(base);
        }
    }
    rows.extend(r.rungs.iter());
    rows
}

/// The reference everything is compared with: the measured base, else the unpruned measured rung
/// with the most bits (an F16 rung of a sweep whose base record is missing).
pub fn base_of(r: &SweepResults) -> Option<&RungResult> {
    if let Some(b) = r.base.as_ref().filter(|b| b.ok()) {
        return Some(b);
    }
    r.rungs
        .iter()
        .filter(|x| x.ok() && !is_pruned(x) && x.ppl.is_some())
        .max_by(|a, b| bits(a).unwrap_or(0.0).total_cmp(&bits(b).unwrap_or(0.0)))
}

/// Bits per weight for plotting and fitting: measured from the file, else the type's nominal value.
pub fn bits(r: &RungResult) -> Option<f64> {
    r.bpw
        .or(r.nominal_bpw)
        .filter(|b| b.is_finite() && *b > 0.0)
}

/// The bit-width column (Table 5's 1-bit ... 16-bit): recorded, else from the type table.
pub fn bit_width(r: &RungResult) -> Option<u32> {
    r.bit_width
        .or_else(|| crate::quant::types::find(&r.quant).map(|t| t.bits))
}

/// Pruned grid cell (level above zero); unpruned rungs make the quantization ladder.
pub fn is_pruned(r: &RungResult) -> bool {
    r.prune.as_ref().is_some_and(|p| p.level > 0.0)
}

/// Fraction of weights removed: the achieved sparsity if recorded, else the target level of weight
/// pruning; `None` for depth pruning without a recorded fraction. Unpruned rungs are 0.
pub fn sparsity(r: &RungResult) -> Option<f64> {
    match &r.prune {
        None => Some(0.0),
        Some(p) if p.level == 0.0 => Some(0.0),
        Some(p) => p
            .achieved_sparsity
            .or((p.method != "depth").then_some(p.level)),
    }
}

/// Bits per original weight if zeroed weights cost nothing: bpw × (1 − sparsity).
pub fn effective_bpw(r: &RungResult) -> Option<f64> {
    Some(bits(r)? * (1.0 - sparsity(r)?))
}

/// Bits of the quantization for the theoretical compression rate: the type's nominal bits per weight
/// (F16 is exactly 16), else the measured value, else the bit-width column.
pub fn quant_bits(r: &RungResult) -> Option<f64> {
    r.nominal_bpw
        .or(r.bpw)
        .or_else(|| bit_width(r).map(f64::from))
        .filter(|b| b.is_finite() && *b > 0.0)
}

pub fn throughput(r: &RungResult, which: Throughput) -> (Option<f64>, Option<f64>) {
    match which {
        Throughput::Tg => (r.tg_ts, r.tg_ts_sd),
        Throughput::Pp => (r.pp_ts, r.pp_ts_sd),
    }
}

/// Perplexity usable on a log axis and in the fit.
pub fn ppl(r: &RungResult) -> Option<f64> {
    r.ppl.filter(|p| p.is_finite() && *p > 0.0)
}

/// Accuracy on a task, matching names loosely.
pub fn task_acc(r: &RungResult, name: &str) -> Option<(f64, f64)> {
    let key = task_key(name);
    r.tasks
        .iter()
        .find(|t| task_key(&t.task) == key)
        .map(|t| (t.acc, t.acc_err))
}

/// Every task measured in any rung of any result, in first-seen order.
pub fn all_tasks(results: &[SweepResults]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for r in results {
        for row in all_rows(r) {
            for t in &row.tasks {
                if !seen.iter().any(|s| task_key(s) == task_key(&t.task)) {
                    seen.push(t.task.clone());
                }
            }
        }
    }
    seen
}

/// Legend and table name of each result: the model name, numbered when two results share it.
pub fn model_names(results: &[SweepResults]) -> Vec<String> {
    results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let base = if r.model.name.is_empty() {
                format!("model {}", i + 1)
            } else {
                r.model.name.clone()
            };
            let same = results[..i]
                .iter()
                .filter(|o| o.model.name == r.model.name)
                .count();
            if same == 0 {
                base
            } else {
                format!("{base} ({})", same + 1)
            }
        })
        .collect()
}

/// Pruning label of a grid cell: `wanda 0.5 2:4`, `depth 4`.
pub fn prune_label(r: &RungResult) -> Option<String> {
    let p = r.prune.as_ref()?;
    let mut s = format!("{} {}", p.method, trim_float(p.level, 3));
    if let Some(pat) = &p.pattern {
        s.push(' ');
        s.push_str(pat);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::PruneInfo;

    #[test]
    fn sparsity_and_effective_bits() {
        let mut r = RungResult::new("Q4_K_M+wanda0.5", "Q4_K_M");
        r.bpw = Some(4.8);
        assert_eq!(sparsity(&r), Some(0.0));
        r.prune = Some(PruneInfo {
            method: "wanda".into(),
            level: 0.5,
            ..Default::default()
        });
        assert!(is_pruned(&r));
        assert_eq!(effective_bpw(&r), Some(2.4));
        r.prune.as_mut().unwrap().achieved_sparsity = Some(0.25);
        assert!((effective_bpw(&r).unwrap() - 3.6).abs() < 1e-12);
        r.prune = Some(PruneInfo {
            method: "depth".into(),
            level: 4.0,
            ..Default::default()
        });
        assert_eq!(sparsity(&r), None);
    }
}
