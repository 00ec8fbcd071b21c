//! Task rows: a Hugging Face `save_to_disk` folder (state.json, dataset_info.json, Arrow shards).
//! The input is split at the first two NUL bytes into state.json, dataset_info.json and the shard.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::tasks::{LoadOptions, TaskKind, TaskSet};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let state = parts.next().unwrap_or_default();
    let info = parts.next().unwrap_or_default();
    let shard = parts.next().unwrap_or_default();
    let dir = mpt_gguf_fuzz::folder_with(
        "validation",
        &[
            ("state.json", state),
            ("dataset_info.json", info),
            ("data-00000-of-00001.arrow", shard),
        ],
    );
    let opts = LoadOptions {
        skip_bad_rows: true,
        ..Default::default()
    };
    let _ = TaskSet::from_path(TaskKind::ArcEasy, &dir, &opts);
});
