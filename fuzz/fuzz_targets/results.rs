//! Saved results (results.json, or results inside a manifest) that table, plot and fit read.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = mpt_gguf_fuzz::file_with("results.json", data);
    if let Ok(r) = mpt_gguf::results::SweepResults::load(&path) {
        // What table, plot and fit do with them, short of drawing.
        let _ = mpt_gguf::report::tidy::results_csv(&[r.clone()], &Default::default());
        let _ = mpt_gguf::report::Table5::build(&[r], &Default::default()).to_markdown();
    }
});
