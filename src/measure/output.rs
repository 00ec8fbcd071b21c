//! Machine-readable perplexity results: JSON (everything) and CSV (one row per chunk).

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::perplexity::{ChunkResult, KldRun, PerplexityRun};

/// A perplexity run as written by `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct PerplexityReport<'a> {
    pub model: String,
    pub text: Option<String>,
    pub n_ctx: u32,
    pub n_batch: u32,
    pub n_chunks: u32,
    pub n_tokens: usize,
    pub n_scored: u64,
    pub ppl: f64,
    pub ppl_err: f64,
    pub seconds: f64,
    pub kld: Option<&'a KldRun>,
    pub chunks: &'a [ChunkResult],
    pub mpt_gguf_version: &'static str,
    pub llama_cpp: &'static str,
}

impl<'a> PerplexityReport<'a> {
    pub fn new(run: &'a PerplexityRun, model: &Path, text: Option<&Path>, n_batch: u32) -> Self {
        Self {
            model: model.display().to_string(),
            text: text.map(|t| t.display().to_string()),
            n_ctx: run.n_ctx,
            n_batch,
            n_chunks: run.n_chunks,
            n_tokens: run.n_tokens,
            n_scored: run.n_scored,
            ppl: run.ppl,
            ppl_err: run.ppl_err,
            seconds: run.seconds,
            kld: run.kld.as_ref(),
            chunks: &run.chunks,
            mpt_gguf_version: crate::engine::build_info::MPT_VERSION,
            llama_cpp: crate::engine::build_info::LLAMA_REVISION,
        }
    }

    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }

    /// One row per chunk; the KL-divergence columns only when the run compared against a base.
    pub fn to_csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let with_kld = self.kld.is_some();
        let mut header = vec!["chunk", "ppl", "ppl_chunk", "nll"];
        if with_kld {
            header.extend([
                "kld",
                "ln_ppl_ratio",
                "same_top",
                "kld_running",
                "ln_ppl_ratio_running",
                "dp_rms_running",
                "same_top_running",
            ]);
        }
        w.write_record(&header)?;
        for c in self.chunks {
            let mut row = vec![
                c.chunk.to_string(),
                c.ppl.to_string(),
                c.ppl_chunk.to_string(),
                c.nll.to_string(),
            ];
            if let (true, Some(k)) = (with_kld, &c.kld) {
                row.extend(
                    [
                        k.kld,
                        k.ln_ppl_ratio,
                        k.same_top,
                        k.running.kld_mean,
                        k.running.ln_ppl_ratio,
                        k.running.dp_rms,
                        k.running.same_top,
                    ]
                    .map(|v| v.to_string()),
                );
            }
            w.write_record(&row)?;
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8(bytes)?)
    }
}

/// Writes `text` to `path` atomically, or to stdout for `-`.
pub fn write_output(path: &Path, text: &str) -> Result<()> {
    if path.as_os_str() == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .context("cannot write to stdout")
    } else {
        crate::util::write_atomic(path, text.as_bytes())
    }
}
