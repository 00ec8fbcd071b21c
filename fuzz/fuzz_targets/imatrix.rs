//! Importance matrices: GGUF (llama-imatrix's current format) and the legacy .dat.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = mpt_gguf_fuzz::file_with("imatrix.gguf", data);
    let _ = mpt_gguf::quant::imatrix_file::load(&path);
});
