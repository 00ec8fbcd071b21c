//! The solver: one type per group, least predicted KL-divergence under a byte budget. The prediction
//! adds the groups' measured costs (each measured with only that group quantized); the choice is a
//! multiple-choice knapsack solved exactly by dynamic programming over the budget cut into at most
//! [`MAX_STEPS`] steps, each choice's bytes rounded up to whole steps, so a solution never exceeds
//! the budget. Every stock mix that fits the budget is compared too, and the better one is kept.

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use super::stock::TensorTypes;
use super::table::{SensitivityTable, TensorShape};
use crate::gguf::GgmlType;

/// Steps the budget is cut into; each choice then wastes under one step of the budget.
pub const MAX_STEPS: u64 = 50_000;

#[derive(Debug, Clone, Serialize)]
pub struct Solution {
    /// Every grouped tensor's type (ggml names, as llama-quantize's `--tensor-type` spells them).
    pub types: TensorTypes,
    /// Tensor data bytes, padded as in the file, all tensors included.
    pub tensor_bytes: u64,
    pub predicted_kld: f64,
    /// `solver`, or `stock TYPE` when a stock mix predicted no worse was the better choice.
    pub source: String,
}

/// The best assignment within `budget` padded tensor bytes.
pub fn solve(table: &SensitivityTable, budget: u64) -> Result<Solution> {
    let (lo, hi) = size_range(table);
    if budget < lo {
        bail!(
            "the target ({budget} tensor bytes) is below the smallest this model allows with the measured types ({lo} bytes: every group at its smallest type)"
        );
    }
    if budget > hi {
        bail!(
            "the target ({budget} tensor bytes) is above the largest this model takes with the measured types ({hi} bytes: every group at its largest type); ask for {hi} bytes or less"
        );
    }
    let solved = knapsack(table, budget - table.fixed_bytes())?;
    let best_stock = table
        .stock
        .iter()
        .filter_map(|(name, types)| {
            let bytes = table.bytes_of(types).ok()?;
            let kld = predicted_kld(table, types).ok()?;
            (bytes <= budget).then(|| Solution {
                types: grouped_only(table, types),
                tensor_bytes: bytes,
                predicted_kld: kld,
                source: format!("stock {name}"),
            })
        })
        .min_by(|a, b| a.predicted_kld.total_cmp(&b.predicted_kld));
    Ok(match best_stock {
        Some(stock) if stock.predicted_kld < solved.predicted_kld => stock,
        _ => solved,
    })
}

/// (smallest, largest) padded tensor bytes the measured choices allow.
pub fn size_range(table: &SensitivityTable) -> (u64, u64) {
    let fixed = table.fixed_bytes();
    let pick = |f: fn(u64, u64) -> u64| -> u64 {
        table
            .groups
            .iter()
            .map(|g| g.choices.iter().map(|c| c.bytes).reduce(f).unwrap_or(0))
            .sum()
    };
    (fixed + pick(u64::min), fixed + pick(u64::max))
}

/// Exact multiple-choice knapsack on a grid of `unit`-byte steps: `best[w]` is the least summed KLD
/// of the groups so far within `w` steps.
fn knapsack(table: &SensitivityTable, free: u64) -> Result<Solution> {
    let unit = free.div_ceil(MAX_STEPS).max(1);
    let steps = (free / unit) as usize;
    let mut best = vec![0.0f64; steps + 1];
    let mut picks: Vec<Vec<u8>> = Vec::with_capacity(table.groups.len());
    for g in &table.groups {
        let costs: Vec<(usize, f64)> = g
            .choices
            .iter()
            .map(|c| (c.bytes.div_ceil(unit) as usize, c.kld))
            .collect();
        let mut next = vec![f64::INFINITY; steps + 1];
        let mut pick = vec![u8::MAX; steps + 1];
        for (i, &(w, kld)) in costs.iter().enumerate() {
            for total in w..=steps {
                let v = best[total - w] + kld;
                if v < next[total] {
                    next[total] = v;
                    pick[total] = i as u8;
                }
            }
        }
        best = next;
        picks.push(pick);
    }
    if !best[steps].is_finite() {
        bail!("no assignment fits the budget once sizes are rounded to {unit}-byte steps; ask for a little more");
    }
    let mut types = TensorTypes::new();
    let mut total = steps;
    for (g, pick) in table.groups.iter().zip(&picks).rev() {
        let c = &g.choices[pick[total] as usize];
        total -= c.bytes.div_ceil(unit) as usize;
        for t in &g.tensors {
            types.insert(t.clone(), c.ggml_type.ggml_name().to_string());
        }
    }
    Ok(Solution {
        tensor_bytes: table.bytes_of(&types)?,
        predicted_kld: predicted_kld(table, &types)?,
        types,
        source: "solver".into(),
    })
}

/// The sum of the groups' measured costs for an assignment. A group whose tensors take different
/// types (a stock mix under per-kind groups) is charged each tensor's share of its type's cost,
/// by weights; a tensor left in its input type costs nothing.
pub fn predicted_kld(table: &SensitivityTable, types: &TensorTypes) -> Result<f64> {
    let mut sum = 0.0;
    for g in &table.groups {
        let shapes: Vec<&TensorShape> = g
            .tensors
            .iter()
            .map(|t| {
                table
                    .model
                    .tensor(t)
                    .context("table names an unknown tensor")
            })
            .collect::<Result<_>>()?;
        let weights: Vec<f64> = shapes
            .iter()
            .map(|t| t.dims.iter().product::<u64>() as f64)
            .collect();
        let all: f64 = weights.iter().sum();
        for (t, w) in shapes.iter().zip(&weights) {
            let ty = match types.get(&t.name) {
                Some(n) => GgmlType::from_name(n).with_context(|| format!("unknown type {n}"))?,
                None => t.ggml_type,
            };
            if ty == t.ggml_type {
                continue;
            }
            let c = g
                .choices
                .iter()
                .find(|c| c.ggml_type == ty)
                .with_context(|| {
                    format!(
                        "{} as {} was not measured; measure with that type among the candidates",
                        t.name,
                        ty.ggml_name()
                    )
                })?;
            sum += c.kld * w / all;
        }
    }
    Ok(sum)
}

/// The grouped tensors' entries of a whole-model assignment (what a recipe file lists).
fn grouped_only(table: &SensitivityTable, types: &TensorTypes) -> TensorTypes {
    table
        .groups
        .iter()
        .flat_map(|g| g.tensors.iter())
        .filter_map(|t| types.get(t).map(|ty| (t.clone(), ty.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::table::{
        Calibration, Choice, Group, Grouping, ModelShape, SENSITIVITY_VERSION,
    };

    /// Three 256×64 F16 tensors and one norm; costs chosen so that the cheapest types are not the best.
    fn table(costs: &[[f64; 3]; 3]) -> SensitivityTable {
        let types = [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0];
        let mut tensors: Vec<TensorShape> = (0..3)
            .map(|i| TensorShape {
                name: format!("blk.{i}.ffn_down.weight"),
                dims: vec![256, 64],
                ggml_type: GgmlType::F16,
            })
            .collect();
        tensors.push(TensorShape {
            name: "output_norm.weight".into(),
            dims: vec![256],
            ggml_type: GgmlType::F32,
        });
        let model = ModelShape {
            file: "m.gguf".into(),
            n_params: 3 * 256 * 64 + 256,
            data_offset: 4096,
            alignment: 32,
            tensors,
        };
        let groups = (0..3)
            .map(|i| {
                let name = format!("blk.{i}.ffn_down.weight");
                let t = model.tensor(&name).unwrap().clone();
                Group {
                    tensors: vec![name.clone()],
                    name,
                    choices: types
                        .iter()
                        .zip(costs[i])
                        .map(|(&ty, kld)| Choice {
                            ggml_type: ty,
                            bytes: model.padded_bytes(&t, ty).unwrap(),
                            kld,
                            proxy: 0.0,
                        })
                        .collect(),
                }
            })
            .collect();
        SensitivityTable {
            version: SENSITIVITY_VERSION,
            model,
            imatrix: None,
            calibration: Calibration {
                file: "c.txt".into(),
                n_ctx: 64,
                n_chunk: 1,
                n_scored: 31,
                tokens_sha256: String::new(),
            },
            grouping: Grouping::Tensor,
            groups,
            stock: Default::default(),
            seconds: 0.0,
            mpt_gguf_version: String::new(),
            llama_cpp: String::new(),
        }
    }

    /// Every assignment, by brute force: the least KLD within the budget.
    fn brute_force(t: &SensitivityTable, budget: u64) -> Option<f64> {
        let mut best: Option<f64> = None;
        for code in 0..27usize {
            let picks = [code % 3, (code / 3) % 3, code / 9];
            let bytes: u64 = t.fixed_bytes()
                + picks
                    .iter()
                    .zip(&t.groups)
                    .map(|(&p, g)| g.choices[p].bytes)
                    .sum::<u64>();
            let kld: f64 = picks
                .iter()
                .zip(&t.groups)
                .map(|(&p, g)| g.choices[p].kld)
                .sum();
            if bytes <= budget && best.is_none_or(|b| kld < b) {
                best = Some(kld);
            }
        }
        best
    }

    #[test]
    fn finds_the_brute_force_optimum_at_every_budget() {
        let t = table(&[[0.30, 0.05, 0.0], [0.02, 0.01, 0.0], [0.10, 0.04, 0.001]]);
        let (lo, hi) = size_range(&t);
        for budget in (lo..=hi).step_by(((hi - lo) / 40) as usize) {
            let s = solve(&t, budget).unwrap();
            assert!(s.tensor_bytes <= budget, "{} > {budget}", s.tensor_bytes);
            let best = brute_force(&t, budget).unwrap();
            assert!(
                (s.predicted_kld - best).abs() < 1e-12,
                "{budget}: {} vs {best}",
                s.predicted_kld
            );
        }
    }

    #[test]
    fn a_stock_mix_that_predicts_better_is_kept() {
        let mut t = table(&[[0.30, 0.05, 0.0], [0.02, 0.01, 0.0], [0.10, 0.04, 0.001]]);
        let stock: TensorTypes = (0..3)
            .map(|i| (format!("blk.{i}.ffn_down.weight"), "q6_K".to_string()))
            .collect();
        t.stock.insert("Q6_K".into(), stock.clone());
        let budget = t.bytes_of(&stock).unwrap();
        let s = solve(&t, budget).unwrap();
        assert!(s.predicted_kld <= predicted_kld(&t, &stock).unwrap());
        assert!(s.tensor_bytes <= budget);
    }

    #[test]
    fn targets_outside_the_measured_sizes_are_refused() {
        let t = table(&[[0.3, 0.05, 0.0], [0.02, 0.01, 0.0], [0.1, 0.04, 0.001]]);
        let (lo, hi) = size_range(&t);
        assert!(solve(&t, lo - 1)
            .unwrap_err()
            .to_string()
            .contains("below the smallest"));
        assert!(solve(&t, hi + 1)
            .unwrap_err()
            .to_string()
            .contains("above the largest"));
    }
}
