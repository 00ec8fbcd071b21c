//! Activation statistics of an importance matrix: how much each tensor and layer contributes,
//! the raw material of sensitivity analysis (`imatrix --show-statistics`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::imatrix::Imatrix;

#[derive(Debug, Clone, Serialize)]
pub struct TensorStats {
    pub name: String,
    /// `blk.N` layer, if any.
    pub layer: Option<u32>,
    pub columns: usize,
    /// Σ over columns of the mean squared activation (sums / count).
    pub sum_sq: f64,
    /// Share of the whole matrix's Σ, in percent.
    pub share_pct: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Coefficient of variation across columns: how peaked the importance is.
    pub cv: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerStats {
    pub layer: u32,
    pub tensors: usize,
    pub sum_sq: f64,
    pub share_pct: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImatrixStats {
    pub tensors: Vec<TensorStats>,
    pub layers: Vec<LayerStats>,
}

pub fn layer_of(name: &str) -> Option<u32> {
    name.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

pub fn compute(imatrix: &Imatrix) -> ImatrixStats {
    let mut tensors: Vec<TensorStats> = imatrix
        .for_quantize()
        .into_iter()
        .map(|(name, values)| {
            let n = values.len().max(1) as f64;
            let sum: f64 = values.iter().map(|&v| v as f64).sum();
            let mean = sum / n;
            let var = values
                .iter()
                .map(|&v| (v as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            TensorStats {
                layer: layer_of(&name),
                name,
                columns: values.len(),
                sum_sq: sum,
                share_pct: 0.0,
                mean,
                min: values.iter().copied().fold(f32::INFINITY, f32::min) as f64,
                max: values.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64,
                cv: if mean > 0.0 { var.sqrt() / mean } else { 0.0 },
            }
        })
        .collect();
    let total: f64 = tensors.iter().map(|t| t.sum_sq).sum();
    let mut layers: BTreeMap<u32, LayerStats> = BTreeMap::new();
    for t in &mut tensors {
        t.share_pct = if total > 0.0 {
            100.0 * t.sum_sq / total
        } else {
            0.0
        };
        if let Some(l) = t.layer {
            let e = layers.entry(l).or_insert(LayerStats {
                layer: l,
                tensors: 0,
                sum_sq: 0.0,
                share_pct: 0.0,
            });
            e.tensors += 1;
            e.sum_sq += t.sum_sq;
        }
    }
    let mut layers: Vec<LayerStats> = layers.into_values().collect();
    for l in &mut layers {
        l.share_pct = if total > 0.0 {
            100.0 * l.sum_sq / total
        } else {
            0.0
        };
    }
    ImatrixStats { tensors, layers }
}

impl ImatrixStats {
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "{:<36} {:>6} {:>14} {:>8} {:>12} {:>12} {:>12} {:>7}\n",
            "tensor", "cols", "sum x^2", "share%", "mean", "min", "max", "cv"
        ));
        for t in &self.tensors {
            s.push_str(&format!(
                "{:<36} {:>6} {:>14.4} {:>8.3} {:>12.5} {:>12.5} {:>12.5} {:>7.3}\n",
                t.name, t.columns, t.sum_sq, t.share_pct, t.mean, t.min, t.max, t.cv
            ));
        }
        s.push_str(&format!(
            "\n{:<8} {:>8} {:>14} {:>8}\n",
            "layer", "tensors", "sum x^2", "share%"
        ));
        for l in &self.layers {
            s.push_str(&format!(
                "{:<8} {:>8} {:>14.4} {:>8.3}\n",
                l.layer, l.tensors, l.sum_sq, l.share_pct
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::imatrix::ImatrixEntry;

    #[test]
    fn shares_add_up_and_layers_group() {
        let mut im = Imatrix::default();
        im.entries.insert(
            "blk.0.a.weight".into(),
            ImatrixEntry {
                sums: vec![2.0, 2.0],
                counts: vec![2],
            },
        );
        im.entries.insert(
            "blk.1.a.weight".into(),
            ImatrixEntry {
                sums: vec![6.0, 0.0],
                counts: vec![2],
            },
        );
        let st = compute(&im);
        assert_eq!(st.layers.len(), 2);
        assert!((st.layers[0].share_pct - 40.0).abs() < 1e-9);
        assert!((st.layers[1].share_pct - 60.0).abs() < 1e-9);
        assert_eq!(st.tensors[1].max, 3.0);
        assert!((st.tensors[1].cv - 1.0).abs() < 1e-9);
    }
}
