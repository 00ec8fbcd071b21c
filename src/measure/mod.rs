//! Measurement: perplexity, KL-divergence against a base, throughput.
//!
//! A sweep reads and tokenizes its text once ([`text`]), measures the base with
//! [`perplexity`]`(Eval::Text { capture: .. })` to keep a compact [`KldBase`], then every rung with
//! `Eval::AgainstBase`, and [`bench::bench_model`] on the same loaded model.

pub mod bench;
pub mod bench_output;
mod chunk_scorer;
pub mod chunks;
pub mod energy;
pub mod kld;
pub mod kld_base;
pub mod kld_record;
pub mod llama_file;
pub mod machine_use;
mod nvml;
pub mod output;
pub mod peaks;
pub mod percentiles;
pub mod perplexity;
pub mod text;
pub mod work;

pub use chunk_scorer::compare_full;
pub use kld::{KldStats, TokenKld};
pub use kld_base::{KldBase, DEFAULT_TAIL_SAMPLES, DEFAULT_TOP_K};
pub use perplexity::{
    perplexity, BaseCapture, ChunkProgress, ChunkResult, Eval, KldRun, PerplexityOptions,
    PerplexityRun,
};
