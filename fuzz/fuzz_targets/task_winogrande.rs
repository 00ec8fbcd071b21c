//! Task rows: llama.cpp's WinoGrande CSV, loaded as `--tasks winogrande=FILE` loads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::tasks::TaskKind;

fuzz_target!(|data: &[u8]| mpt_gguf_fuzz::load_task(TaskKind::WinoGrande, "validation.csv", data));
