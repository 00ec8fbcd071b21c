//! mpt-gguf: find where a language model breaks under GGUF quantization.
//!
//! The sweep is a pipeline of stages, each a module usable on its own:
//! `gguf` (native format), `engine` (the only llama.cpp FFI), `quant` (types, quantize, imatrix),
//! `measure` (perplexity, KL-divergence, bench), `prune` (depth and sparsity pruning), `sweep` (plan, run, manifest), `report` (tables, charts, fit).
//! Below them all, `logits` (log-softmax of a row, shared by calibration, measurement and the tasks)
//! and `util`.

pub mod engine;
pub mod gguf;
pub mod logits;
pub mod measure;
pub mod prune;
pub mod quant;
pub mod recipe;
pub mod report;
pub mod results;
pub mod sweep;
pub mod tasks;
pub mod util;
