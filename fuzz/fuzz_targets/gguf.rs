//! The GGUF reader: `inspect`, and the check every model passes before llama.cpp sees it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::gguf::{show, GgufFile, Summary};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes("fuzz.gguf", data.to_vec()) else {
        return;
    };
    // What inspect prints: the summary, every key's value, every tensor's bytes.
    let _ = Summary::of(&file);
    for (_, value) in file.metadata() {
        let _ = show::value_line(value, 8, 200);
        let _ = show::value_json(value, 8);
    }
    for t in file.tensors() {
        let _ = file.tensor_data(t);
        let _ = t.layer();
    }
});
