//! Task rows: llama.cpp's HellaSwag text, loaded as `--tasks hellaswag=FILE` loads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::tasks::TaskKind;

fuzz_target!(|data: &[u8]| mpt_gguf_fuzz::load_task(TaskKind::HellaSwag, "validation.txt", data));
