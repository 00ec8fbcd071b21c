//! Task rows: Hugging Face JSON lines, loaded as `--tasks arc-easy=FILE` loads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::tasks::TaskKind;

fuzz_target!(|data: &[u8]| mpt_gguf_fuzz::load_task(TaskKind::ArcEasy, "validation.jsonl", data));
