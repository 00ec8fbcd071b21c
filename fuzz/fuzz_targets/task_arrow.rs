//! Task rows: an Arrow IPC file or stream, loaded as `--tasks hellaswag=FILE` loads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::tasks::{LoadOptions, TaskKind, TaskSet};

fuzz_target!(|data: &[u8]| {
    let path = mpt_gguf_fuzz::file_with("validation.arrow", data);
    let opts = LoadOptions {
        skip_bad_rows: true,
        ..Default::default()
    };
    let _ = TaskSet::from_path(TaskKind::HellaSwag, &path, &opts);
});
