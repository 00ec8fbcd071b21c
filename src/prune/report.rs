//! What a prune did, as serde data (the sweep records it) and as text for the terminal.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::importance::BlockScores;
use super::sparsity::TensorSparsity;
use super::spec::PruneSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneReport {
    pub input: String,
    pub output: String,
    pub architecture: String,
    pub spec: PruneSpec,
    pub block_count_before: u32,
    pub block_count_after: u32,
    /// Blocks removed, as numbered in the input.
    pub removed_blocks: Vec<u32>,
    /// Block Influence per input block, when blocks were chosen by importance.
    pub block_scores: Option<BlockScores>,
    /// Metadata keys rewritten (block count, per-layer arrays).
    pub metadata_changed: Vec<String>,
    pub tensors_before: usize,
    pub tensors_after: usize,
    /// Stored weights (dense: zeroed weights still count).
    pub parameters_before: u64,
    pub parameters_after: u64,
    /// `parameters_after` less the zeros in the sparsified tensors.
    pub nonzero_parameters_after: u64,
    /// One row per sparsified tensor (output names), in file order.
    pub tensors: Vec<TensorSparsity>,
    /// Zeros / weights over the sparsified tensors (the achieved sparsity).
    pub sparsity: f64,
    /// Zeros in the sparsified tensors / all parameters of the output.
    pub sparsity_of_all_parameters: f64,
    pub file_size_before: u64,
    pub file_size_after: u64,
    pub seconds: f64,
}

impl PruneReport {
    /// A terminal summary: removed blocks, scores, per-tensor sparsity grouped by tensor kind, totals.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} -> {}", self.input, self.output);
        if let Some(s) = &self.block_scores {
            let _ = writeln!(
                out,
                "block influence (1 - cos, mean over {} tokens of {}, {} chunks):",
                s.tokens, s.calibration, s.chunks
            );
            for (b, v) in s.scores.iter().enumerate() {
                let mark = if self.removed_blocks.contains(&(b as u32)) {
                    "  removed"
                } else {
                    ""
                };
                let _ = writeln!(out, "  blk.{b:<3} {v:.5}{mark}");
            }
        }
        if !self.removed_blocks.is_empty() {
            let list: Vec<String> = self.removed_blocks.iter().map(u32::to_string).collect();
            let _ = writeln!(
                out,
                "removed blocks: {} ({} -> {} blocks); metadata updated: {}",
                list.join(","),
                self.block_count_before,
                self.block_count_after,
                self.metadata_changed.join(", ")
            );
        }
        if !self.tensors.is_empty() {
            let _ = writeln!(
                out,
                "{:<20} {:>7} {:>14} {:>14} {:>9} {:>9}",
                "tensor kind", "tensors", "weights", "zeros", "min", "max"
            );
            for g in self.groups() {
                let _ = writeln!(
                    out,
                    "{:<20} {:>7} {:>14} {:>14} {:>8.2}% {:>8.2}%",
                    g.kind,
                    g.tensors,
                    g.weights,
                    g.zeros,
                    g.min * 100.0,
                    g.max * 100.0
                );
            }
            let _ = writeln!(
                out,
                "sparsity: {:.2}% of the {} pruned tensors, {:.2}% of all parameters",
                self.sparsity * 100.0,
                self.tensors.len(),
                self.sparsity_of_all_parameters * 100.0
            );
        }
        let _ = writeln!(
            out,
            "tensors {} -> {}; parameters {} -> {} ({} nonzero); file {:.1} MiB -> {:.1} MiB ({:.1} s)",
            self.tensors_before,
            self.tensors_after,
            self.parameters_before,
            self.parameters_after,
            self.nonzero_parameters_after,
            self.file_size_before as f64 / 1048576.0,
            self.file_size_after as f64 / 1048576.0,
            self.seconds
        );
        out
    }

    /// Per-tensor rows summarised by kind (`attn_q.weight` over all blocks).
    fn groups(&self) -> Vec<KindRow> {
        let mut rows: Vec<KindRow> = Vec::new();
        for t in &self.tensors {
            let kind = kind_of(&t.name);
            let weights = t.row_len * t.rows;
            match rows.iter_mut().find(|r| r.kind == kind) {
                Some(r) => {
                    r.tensors += 1;
                    r.weights += weights;
                    r.zeros += t.zeros;
                    r.min = r.min.min(t.sparsity);
                    r.max = r.max.max(t.sparsity);
                }
                None => rows.push(KindRow {
                    kind,
                    tensors: 1,
                    weights,
                    zeros: t.zeros,
                    min: t.sparsity,
                    max: t.sparsity,
                }),
            }
        }
        rows
    }
}

struct KindRow {
    kind: String,
    tensors: usize,
    weights: u64,
    zeros: u64,
    min: f64,
    max: f64,
}

/// `blk.12.attn_q.weight` → `attn_q.weight`.
fn kind_of(name: &str) -> String {
    match name.strip_prefix("blk.").and_then(|r| r.split_once('.')) {
        Some((_, rest)) => rest.to_string(),
        None => name.to_string(),
    }
}
