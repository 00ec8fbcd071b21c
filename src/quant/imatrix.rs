//! The importance matrix: per weight matrix, the sum of squared input activations per column and the
//! number of rows seen, collected through llama.cpp's eval callback exactly as llama-imatrix does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};

use crate::engine::{MatMul, MatMulObserver, MatMulOp};

/// One weight matrix's statistics. For MoE expert tensors there is one count (and one row of
/// `sums`) per expert; dense tensors have one count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImatrixEntry {
    /// Σ x² per input column, `counts.len()` rows of `sums.len() / counts.len()` values.
    pub sums: Vec<f32>,
    /// Activation rows (tokens) accumulated, per matrix/expert.
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imatrix {
    pub entries: BTreeMap<String, ImatrixEntry>,
    /// Calibration files it was computed on.
    pub datasets: Vec<String>,
    pub chunk_count: u32,
    /// Tokens per chunk (0 when unknown, as in legacy files).
    pub chunk_size: u32,
    /// Loaded from the legacy `.dat` format, whose sums are already scaled per call.
    pub is_legacy: bool,
}

impl Imatrix {
    /// The per-column importance llama-quantize hands to the quantizer: sums divided by counts
    /// (1 where a matrix saw no data), or for legacy files sums divided by the call count.
    pub fn for_quantize(&self) -> Vec<(String, Vec<f32>)> {
        self.entries
            .iter()
            .map(|(name, e)| {
                let ncounts = e.counts.len().max(1);
                let ne0 = e.sums.len() / ncounts;
                let mut out = vec![0f32; e.sums.len()];
                if self.is_legacy {
                    let ncall = e.counts.first().copied().unwrap_or(0) as f32;
                    for (o, s) in out.iter_mut().zip(&e.sums) {
                        *o = if ncall > 0.0 { s / ncall } else { *s };
                    }
                } else {
                    for (j, &count) in e.counts.iter().enumerate() {
                        let count = count as f32;
                        for i in 0..ne0 {
                            let k = j * ne0 + i;
                            out[k] = if count > 0.0 { e.sums[k] / count } else { 1.0 };
                        }
                    }
                }
                (name.clone(), out)
            })
            .collect()
    }

    /// Checks that every entry names a weight of `tensors` (name → ggml dims) with matching width.
    pub fn check_against(
        &self,
        tensors: &BTreeMap<String, Vec<u64>>,
        imatrix_path: &str,
    ) -> Result<()> {
        for (name, e) in &self.entries {
            let Some(dims) = tensors.get(name) else {
                bail!("{imatrix_path}: entry '{name}' names no tensor of the model (an imatrix from another model?)");
            };
            let ne0 = dims.first().copied().unwrap_or(0);
            let nmat: u64 = dims.iter().skip(2).product::<u64>().max(1);
            let want = ne0 * nmat;
            let got = e.sums.len() as u64;
            // Legacy files and older GGUF files store expert tensors with a single count.
            if got != want && got != ne0 {
                bail!("{imatrix_path}: entry '{name}' has {got} values but the model's tensor needs {want} (an imatrix from another model?)");
            }
        }
        Ok(())
    }
}

/// The name of the weight a graph node multiplies, without llama.cpp's `#...#` decorations.
pub fn weight_name(raw: &str) -> &str {
    match raw.split_once('#') {
        Some((_, rest)) => rest.split_once('#').map_or(rest, |(inner, _)| inner),
        None => raw,
    }
}

/// Accumulates statistics from the matrix multiplications of a decode, as llama-imatrix's
/// collector does (same filters, same f32 accumulation order).
pub struct Collector {
    pub stats: Arc<Mutex<BTreeMap<String, ImatrixEntry>>>,
    pub process_output: bool,
    /// `blk.N.` of the last block when nothing after it is needed (no output statistics, no
    /// logits): the graph stops at the output norm once that block was seen, skipping the
    /// output head (a large share of a small model's compute when its vocabulary is large).
    last_block: Option<String>,
    last_block_seen: bool,
}

impl Collector {
    /// `skip_output_head_after`: the model's block count, when the decode's logits are not used.
    pub fn new(
        process_output: bool,
        skip_output_head_after: Option<u32>,
    ) -> (Self, Arc<Mutex<BTreeMap<String, ImatrixEntry>>>) {
        let stats = Arc::new(Mutex::new(BTreeMap::new()));
        let last_block = skip_output_head_after
            .filter(|&n| n > 0 && !process_output)
            .map(|n| format!("blk.{}.", n - 1));
        (
            Self {
                stats: stats.clone(),
                process_output,
                last_block,
                last_block_seen: false,
            },
            stats,
        )
    }

    fn accept_name(&self, name: &str) -> bool {
        name.starts_with("blk.") || (self.process_output && name == "output.weight")
    }
}

impl MatMulObserver for Collector {
    fn wants(
        &mut self,
        op: MatMulOp,
        weight: &str,
        input_ne: [i64; 4],
        input_is_f32: bool,
    ) -> bool {
        match op {
            MatMulOp::Expert => true,
            // llama-imatrix ignores small batches (< 16 tokens): they are not from the calibration text.
            MatMulOp::Dense => {
                input_ne[1] >= 16 && input_is_f32 && self.accept_name(weight_name(weight))
            }
        }
    }

    fn stop_after(&mut self, node_name: &str) -> bool {
        // llama.cpp names the final norm `result_norm`; its output head follows.
        node_name == "result_norm" && std::mem::take(&mut self.last_block_seen)
    }

    fn observe(&mut self, mm: &MatMul<'_>) {
        let name = weight_name(mm.weight_name).to_string();
        if let Some(last) = &self.last_block {
            self.last_block_seen |= name.starts_with(last.as_str());
        }
        let Ok(mut stats) = self.stats.lock() else {
            return;
        };
        let e = stats.entry(name).or_default();
        let ne0 = mm.input_ne[0].max(0) as usize;
        match mm.op {
            MatMulOp::Expert => {
                let n_as = mm.weight_ne[2].max(1) as usize;
                let n_ids = mm.ids_ne()[0];
                let n_tokens = mm.input_ne[2];
                if e.sums.is_empty() {
                    e.sums = vec![0.0; ne0 * n_as];
                    e.counts = vec![0; n_as];
                } else if e.sums.len() != ne0 * n_as || e.counts.len() != n_as {
                    return;
                }
                for idx in 0..n_ids {
                    for row in 0..n_tokens {
                        let Some(ex) = mm.expert_id(idx, row) else {
                            continue;
                        };
                        let ex = ex as usize;
                        if ex >= n_as {
                            continue;
                        }
                        let x = mm.input_row(idx % mm.input_ne[1].max(1), row, 0);
                        let acc = &mut e.sums[ex * ne0..(ex + 1) * ne0];
                        e.counts[ex] += 1;
                        for (a, v) in acc.iter_mut().zip(x) {
                            *a += v * v;
                        }
                    }
                }
            }
            MatMulOp::Dense => {
                let n_mat = (mm.weight_ne[2] * mm.weight_ne[3]).max(1) as usize;
                if e.sums.is_empty() {
                    e.sums = vec![0.0; ne0 * n_mat];
                    e.counts = vec![0; 1];
                } else if e.sums.len() != ne0 * n_mat {
                    return;
                }
                let [_, ne1, ne2, ne3] = mm.input_ne;
                for i3 in 0..ne3 {
                    for i2 in 0..ne2 {
                        let mat = ((i3 % mm.weight_ne[3].max(1)) * mm.weight_ne[2].max(1)
                            + (i2 % mm.weight_ne[2].max(1)))
                            as usize;
                        let acc = &mut e.sums[mat * ne0..(mat + 1) * ne0];
                        for row in 0..ne1 {
                            for (a, v) in acc.iter_mut().zip(mm.input_row(row, i2, i3)) {
                                *a += v * v;
                            }
                        }
                    }
                }
                let rows = (ne1 * ne2 * ne3).max(0) as u64 / n_mat as u64;
                for c in e.counts.iter_mut() {
                    *c += rows;
                }
            }
        }
    }
}
