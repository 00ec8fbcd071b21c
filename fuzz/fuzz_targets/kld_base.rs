//! The compact KL-divergence base a sweep saves (`base.kld`, `--kld-base`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = mpt_gguf_fuzz::file_with("base.kld", data);
    if let Ok(base) = mpt_gguf::measure::KldBase::open(&path) {
        let _ = base.tokens().len();
    }
});
