//! The cached machine peaks (`~/.cache/mpt-gguf/peaks/*.json`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = mpt_gguf_fuzz::file_with("peaks.json", data);
    if let Some(p) = mpt_gguf::measure::peaks::Peaks::load(&path) {
        let _ = p.bandwidth_for(1e8);
    }
});
