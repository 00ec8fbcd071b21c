//! Multiple-choice accuracy in-process: ARC-Easy, ARC-Challenge, MMLU, HellaSwag, WinoGrande (and
//! TruthfulQA from llama.cpp's binary file), read from the files users already have.
//!
//! Load once, evaluate on every model:
//! ```no_run
//! # use mpt_gguf::tasks::{TaskSet, LoadOptions, EvalOptions, evaluate};
//! # fn f(model: &mpt_gguf::engine::Model) -> anyhow::Result<()> {
//! let set = TaskSet::load("arc-easy=data/arc_easy_validation.jsonl", &LoadOptions::default())?;
//! let report = evaluate(model, &set, &EvalOptions { limit: Some(100), ..Default::default() }, &mut |_, _| {})?;
//! let score = mpt_gguf::results::TaskScore::from(&report);
//! # Ok(()) }
//! ```
//! Two scoring modes: the lm-evaluation-harness way (`Mode::Harness`: its prompt templates, its
//! tokenization of context and continuation, acc and acc_norm), evaluated with shared prefixes;
//! and llama-perplexity's own algorithms (`Mode::LlamaCpp`) for HellaSwag, WinoGrande and its
//! binary multiple-choice files.

mod accuracy;
mod eval;
pub mod formats;
mod item;
mod kind;
mod llama_mode;
mod load;
pub mod render;
mod rows;
pub mod sample;
pub mod shared;
mod subjects;
pub mod template;

pub use accuracy::{argmax, Accuracy, ItemResult, Mode, SubjectScore, TaskReport};
pub use eval::{evaluate, EvalOptions};
pub use formats::Format;
pub use item::{Item, ItemBody, RowError, RowRef};
pub use kind::{default_data_dir, TaskKind};
pub use load::{parse_spec, LoadOptions, TaskSet};
pub use subjects::{subject_words, MMLU_SUBJECTS};

/// Loads several specs (`--tasks arc-easy,mmlu=PATH`), each once.
pub fn load_all(specs: &[String], opts: &LoadOptions) -> anyhow::Result<Vec<TaskSet>> {
    specs.iter().map(|s| TaskSet::load(s, opts)).collect()
}
