//! A sweep folder's manifest.json, read when a sweep resumes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = mpt_gguf_fuzz::folder_with("sweep", &[("manifest.json", data)]);
    let _ = mpt_gguf::sweep::manifest::Manifest::load(&dir);
});
