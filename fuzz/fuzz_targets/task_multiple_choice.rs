//! Task rows: llama-perplexity's binary multiple-choice file, loaded as `--tasks truthfulqa=FILE` loads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::tasks::TaskKind;

fuzz_target!(|data: &[u8]| mpt_gguf_fuzz::load_task(TaskKind::TruthfulQa, "validation.bin", data));
