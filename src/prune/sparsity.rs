//! Unstructured and N:M sparsity inside dense float tensors: per output row (a row of `ne0`
//! weights, one per input column, as Wanda compares them), the lowest-scoring weights are set to
//! zero. The tensor keeps its type and shape; the other weights keep their exact bits.

use anyhow::{bail, Result};
use half::{bf16, f16};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::spec::NmPattern;
use crate::gguf::GgmlType;

/// The float types whose weights can be zeroed in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Floats {
    F32,
    F16,
    BF16,
}

impl Floats {
    pub fn of(t: GgmlType) -> Option<Floats> {
        match t {
            GgmlType::F32 => Some(Floats::F32),
            GgmlType::F16 => Some(Floats::F16),
            GgmlType::BF16 => Some(Floats::BF16),
            _ => None,
        }
    }

    pub fn width(self) -> usize {
        match self {
            Floats::F32 => 4,
            Floats::F16 | Floats::BF16 => 2,
        }
    }

    /// Element `i` of little-endian `bytes`.
    pub fn get(self, bytes: &[u8], i: usize) -> f32 {
        match self {
            Floats::F32 => {
                let b = &bytes[4 * i..4 * i + 4];
                f32::from_le_bytes([b[0], b[1], b[2], b[3]])
            }
            Floats::F16 => f16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]).to_f32(),
            Floats::BF16 => bf16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]).to_f32(),
        }
    }

    /// Zero is all-zero bits in each of these types.
    fn zero(self, bytes: &mut [u8], i: usize) {
        let w = self.width();
        bytes[w * i..w * (i + 1)].fill(0);
    }
}

/// How many weights of a row of `len` an unstructured sparsity `p` zeroes (Wanda's `int(len * p)`;
/// the epsilon keeps 0.3 × 10 at 3).
pub fn zeros_per_row(p: f64, len: usize) -> usize {
    ((p * len as f64) + 1e-9).floor().min(len as f64) as usize
}

/// Indices of the `k` lowest scores; equal scores go lowest index first.
pub fn lowest(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let k = k.min(idx.len());
    if k == 0 {
        return Vec::new();
    }
    let cmp = |a: &usize, b: &usize| scores[*a].total_cmp(&scores[*b]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, cmp);
    }
    idx.truncate(k);
    idx
}

/// Indices to zero under an N:M pattern: in each group of `m` consecutive weights, the `n` lowest.
pub fn lowest_per_group(scores: &[f32], pat: NmPattern) -> Vec<usize> {
    let m = pat.m as usize;
    scores
        .chunks(m)
        .enumerate()
        .flat_map(|(g, group)| {
            lowest(group, pat.n as usize)
                .into_iter()
                .map(move |i| g * m + i)
        })
        .collect()
}

/// What sparsity did to one tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSparsity {
    /// Name in the output file.
    pub name: String,
    #[serde(rename = "type")]
    pub ggml_type: GgmlType,
    /// Weights per row (`ne0`, the input width) and number of rows.
    pub row_len: u64,
    pub rows: u64,
    /// Zero weights before and after pruning.
    pub zeros_before: u64,
    pub zeros: u64,
    /// zeros / (row_len × rows).
    pub sparsity: f64,
}

/// How to choose the weights of a row.
pub struct RowRule<'a> {
    pub sparsity: f64,
    pub pattern: Option<NmPattern>,
    /// Wanda: per input column, the activation norm ‖X_j‖ (one `ne0` slice per matrix of a 3-D
    /// tensor, or one slice for all). `None`: magnitude.
    pub column_norms: Option<&'a [f32]>,
}

/// Zeroes the chosen weights of every row of a dense tensor; returns the new bytes and counts.
pub fn prune_tensor(
    name: &str,
    ggml_type: GgmlType,
    dims: &[u64],
    data: &[u8],
    rule: &RowRule<'_>,
) -> Result<(Vec<u8>, TensorSparsity)> {
    let Some(floats) = Floats::of(ggml_type) else {
        bail!("tensor {name} is {ggml_type}, not a float type");
    };
    let ne0 = dims.first().copied().unwrap_or(1) as usize;
    let ne1 = dims.get(1).copied().unwrap_or(1).max(1) as usize;
    let rows: usize = dims.iter().skip(1).product::<u64>().max(1) as usize;
    let row_bytes = ne0 * floats.width();
    if data.len() != rows * row_bytes || ne0 == 0 {
        bail!(
            "tensor {name}: {} bytes do not hold {rows} rows of {ne0} {ggml_type} weights",
            data.len()
        );
    }
    if let Some(pat) = rule.pattern {
        if !ne0.is_multiple_of(pat.m as usize) {
            bail!("tensor {name}: rows of {ne0} weights do not split into groups of {} for the {pat} pattern", pat.m);
        }
    }
    if let Some(norms) = rule.column_norms {
        let n_mat = rows / ne1;
        if norms.len() != ne0 && norms.len() != ne0 * n_mat {
            bail!(
                "tensor {name}: the importance matrix has {} columns, the tensor {ne0}",
                norms.len()
            );
        }
    }
    let k = zeros_per_row(rule.sparsity, ne0);
    let mut out = data.to_vec();
    let (zeros_before, zeros) = out
        .par_chunks_mut(row_bytes)
        .enumerate()
        .map(|(r, row)| {
            let norms = rule.column_norms.map(|n| {
                let mat = r / ne1;
                n.get(mat * ne0..(mat + 1) * ne0).unwrap_or(&n[..ne0])
            });
            let scores: Vec<f32> = (0..ne0)
                .map(|j| {
                    let w = floats.get(row, j).abs();
                    norms.map_or(w, |n| w * n[j])
                })
                .collect();
            let before = count_zeros(floats, row, ne0);
            let chosen = match rule.pattern {
                Some(pat) => lowest_per_group(&scores, pat),
                None => lowest(&scores, k),
            };
            for j in chosen {
                floats.zero(row, j);
            }
            (before, count_zeros(floats, row, ne0))
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let total = (rows * ne0) as f64;
    Ok((
        out,
        TensorSparsity {
            name: name.to_string(),
            ggml_type,
            row_len: ne0 as u64,
            rows: rows as u64,
            zeros_before,
            zeros,
            sparsity: zeros as f64 / total,
        },
    ))
}

fn count_zeros(floats: Floats, row: &[u8], len: usize) -> u64 {
    (0..len).filter(|&j| floats.get(row, j) == 0.0).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(v: &[f32]) -> Vec<u8> {
        v.iter()
            .flat_map(|&x| f16::from_f32(x).to_le_bytes())
            .collect()
    }

    #[test]
    fn lowest_breaks_ties_by_index() {
        assert_eq!(lowest(&[3., 1., 2., 1.], 2), vec![1, 3]);
        let mut got = lowest(&[5., 4., 3., 2., 1.], 3);
        got.sort();
        assert_eq!(got, vec![2, 3, 4]);
        assert!(lowest(&[1., 2.], 0).is_empty());
        assert_eq!(lowest(&[1., 2.], 5).len(), 2);
    }

    #[test]
    fn zeros_per_row_rounds_like_wanda() {
        assert_eq!(zeros_per_row(0.5, 576), 288);
        assert_eq!(zeros_per_row(0.3, 10), 3);
        assert_eq!(zeros_per_row(0.0, 10), 0);
        assert_eq!(zeros_per_row(0.99, 10), 9);
    }

    #[test]
    fn magnitude_rows_and_patterns() {
        // Two rows of 4: the two smallest |w| of each row go (0.5, -0.1; -0.25, 0.75).
        let w = [0.5, -0.1, 2.0, -3.0, 1.0, 1.5, -0.25, 0.75];
        let rule = RowRule {
            sparsity: 0.5,
            pattern: None,
            column_norms: None,
        };
        let (out, st) = prune_tensor("t", GgmlType::F16, &[4, 2], &f16_bytes(&w), &rule).unwrap();
        let got: Vec<f32> = (0..8).map(|i| Floats::F16.get(&out, i)).collect();
        assert_eq!(got, [0., 0., 2.0, -3.0, 1.0, 1.5, 0., 0.]);
        assert_eq!((st.zeros_before, st.zeros, st.sparsity), (0, 4, 0.5));

        // 2:4 on one row of 8 = two groups.
        let rule = RowRule {
            sparsity: 0.5,
            pattern: Some(NmPattern { n: 2, m: 4 }),
            column_norms: None,
        };
        let (out, _) = prune_tensor("t", GgmlType::F16, &[8, 1], &f16_bytes(&w), &rule).unwrap();
        let got: Vec<f32> = (0..8).map(|i| Floats::F16.get(&out, i)).collect();
        assert_eq!(got, [0., 0., 2.0, -3.0, 1.0, 1.5, 0., 0.]);
        assert!(prune_tensor("t", GgmlType::F16, &[6, 1], &f16_bytes(&w[..6]), &rule).is_err());
    }

    #[test]
    fn wanda_weighs_columns_by_activation_norm() {
        // Column 3 has tiny activations, so its large weight goes first.
        let w = [1.0f32, 2.0, 3.0, 4.0];
        let norms = [1.0f32, 1.0, 1.0, 0.01];
        let rule = RowRule {
            sparsity: 0.5,
            pattern: None,
            column_norms: Some(&norms),
        };
        let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
        let (out, _) = prune_tensor("t", GgmlType::F32, &[4, 1], &bytes, &rule).unwrap();
        let got: Vec<f32> = (0..4).map(|i| Floats::F32.get(&out, i)).collect();
        assert_eq!(got, [0., 2.0, 3.0, 0.]);
    }

    #[test]
    fn quantized_tensors_are_refused() {
        let rule = RowRule {
            sparsity: 0.5,
            pattern: None,
            column_norms: None,
        };
        let e = prune_tensor("blk.0.x", GgmlType::Q8_0, &[32, 1], &[0; 34], &rule).unwrap_err();
        assert!(e.to_string().contains("Q8_0"), "{e}");
    }
}
