//! A sweep's per-rung records (`rungs/*.json`), read when a damaged manifest is rebuilt.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::sweep::records;

fuzz_target!(|data: &[u8]| {
    let dir = mpt_gguf_fuzz::folder_with("sweep", &[]);
    std::fs::create_dir_all(dir.join(records::RECORDS_DIR)).expect("the records folder");
    let path = dir.join(records::RECORDS_DIR).join("rung-Q4_K_M.json");
    std::fs::write(&path, data).expect("writing a fuzz input");
    let _ = records::read(&path);
    let _ = records::read_matching(&dir, "0123456789abcdef", &[]);
});
