//! Task rows: Hugging Face JSON lines, loaded as `--tasks arc-easy=FILE` loads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::tasks::{LoadOptions, TaskKind, TaskSet};

fuzz_target!(|data: &[u8]| {
    let path = mpt_gguf_fuzz::file_with("validation.jsonl", data);
    let opts = LoadOptions {
        skip_bad_rows: true,
        ..Default::default()
    };
    let _ = TaskSet::from_path(TaskKind::ArcEasy, &path, &opts);
});
