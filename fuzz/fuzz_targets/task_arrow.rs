//! Task rows: an Arrow IPC file or stream, loaded as `--tasks hellaswag=FILE` loads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::tasks::TaskKind;

fuzz_target!(|data: &[u8]| mpt_gguf_fuzz::load_task(TaskKind::HellaSwag, "validation.arrow", data));
