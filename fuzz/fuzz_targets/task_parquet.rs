//! Task rows: Parquet (the Hub's files), loaded as `--tasks arc-challenge=FILE` loads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::tasks::TaskKind;

fuzz_target!(|data: &[u8]| mpt_gguf_fuzz::load_task(
    TaskKind::ArcChallenge,
    "validation.parquet",
    data
));
