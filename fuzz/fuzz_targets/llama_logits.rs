//! llama.cpp's `--kl-divergence-base` logits file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mpt_gguf::measure::llama_file::LlamaLogitsReader;

fuzz_target!(|data: &[u8]| {
    let path = mpt_gguf_fuzz::file_with("logits.bin", data);
    let Ok(mut reader) = LlamaLogitsReader::open(&path) else {
        return;
    };
    let mut rows = Vec::new();
    for _ in 0..reader.n_chunk {
        if reader.read_chunk(&mut rows).is_err() {
            break;
        }
    }
});
