//! The native reader and writer on the real SmolLM2 file: byte-identical write-back, a fuzz-style
//! sweep of damaged copies of its header, and the `inspect` command as a user runs it.

use crate::support;
use crate::support::mpt;

use mpt_gguf::engine::open_gguf;
use mpt_gguf::gguf::{writer, GgmlType, GgufFile, Summary};

#[test]
fn write_back_is_byte_identical() {
    let src = support::model_q4_1();
    let file = open_gguf(&src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("copy.gguf");
    let written = writer::write_back(&file, &out).unwrap();
    assert_eq!(written, file.file_size());
    let a = std::fs::read(&src).unwrap();
    let b = std::fs::read(&out).unwrap();
    assert_eq!(a.len(), b.len());
    let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
    assert_eq!(first_diff, None, "copy differs from the original");
}

#[test]
fn summary_matches_an_independent_count() {
    let file = open_gguf(&support::model_q4_1()).unwrap();
    let s = Summary::of(&file);
    // Independent count: elements from the shapes, bytes from the offsets of consecutive tensors.
    let params: u64 = file
        .tensors()
        .iter()
        .map(|t| t.dims.iter().product::<u64>())
        .sum();
    assert_eq!(s.parameters, params);
    assert_eq!(s.parameters, 134_515_008);
    let q8: Vec<_> = file
        .tensors()
        .iter()
        .filter(|t| t.ggml_type == GgmlType::from_name("q8_0").unwrap())
        .collect();
    assert_eq!(q8.len(), 1, "SmolLM2 Q4_1 keeps its embedding in Q8_0");
    // 34 bytes per 32 weights.
    assert_eq!(
        file.tensor_data(q8[0]).len() as u64,
        q8[0].n_elements() / 32 * 34
    );
    let bpw = s.tensor_bytes as f64 * 8.0 / s.parameters as f64;
    assert!((s.bits_per_weight - bpw).abs() < 1e-12);
    assert!((bpw - 5.7437).abs() < 1e-3, "{bpw}");
}

/// Truncating or flipping bytes of the real header anywhere gives an `Err` (or a valid file), never a panic.
#[test]
fn damaged_headers_are_errors_not_panics() {
    let mut bytes = std::fs::read(support::model_q4_1()).unwrap();
    let file = GgufFile::from_bytes("real.gguf", bytes.clone()).unwrap();
    let header = file.data_offset() as usize;
    // Tensor infos follow the metadata: the last 64 bytes per tensor of the header hold them.
    let infos = header.saturating_sub(file.tensors().len() * 64);
    drop(file);
    let path = std::path::Path::new("real.gguf");
    for cut in (0..header).step_by(4099).chain([header - 1, 3, 7, 15, 23]) {
        let e = GgufFile::check_bytes(path, &bytes[..cut])
            .expect_err("a truncated header must not parse");
        let msg = e.to_string();
        assert!(msg.contains("real.gguf") && msg.contains("offset"), "{msg}");
    }
    // Every byte of the fixed header and first keys, the tensor infos densely, the rest sparsely.
    let positions: Vec<usize> = (0..256)
        .chain((256..infos).step_by(4099))
        .chain((infos..header).step_by(5))
        .collect();
    let mut rejected = 0;
    for &pos in &positions {
        for mask in [0x01u8, 0x80, 0xff] {
            bytes[pos] ^= mask;
            let r = std::panic::catch_unwind(|| GgufFile::check_bytes(path, &bytes).is_err());
            bytes[pos] ^= mask;
            match r {
                Ok(true) => rejected += 1,
                Ok(false) => {}
                Err(_) => panic!("panic on a flip at byte {pos} mask {mask:#x}"),
            }
        }
    }
    // Most damage is caught (a flip inside a string or a float value can leave a valid file).
    assert!(
        rejected * 2 > positions.len() * 3,
        "{rejected} of {}",
        positions.len() * 3
    );
}

#[test]
fn inspect_json_describes_the_file() {
    let src = support::model_q4_1();
    let out = mpt(["inspect", "--json", "--tensors", src.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["architecture"], "llama");
    assert_eq!(v["tensor_count"], 272);
    assert_eq!(v["parameters"], 134_515_008u64);
    assert_eq!(v["file_size"], 98_362_432u64);
    assert_eq!(v["tensors"].as_array().unwrap().len(), 272);
    assert_eq!(v["layers"].as_array().unwrap().len(), 30);
    let types: Vec<&str> = v["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"Q4_1") && types.contains(&"Q8_0"),
        "{types:?}"
    );
}

#[test]
fn inspect_text_summarises_long_arrays() {
    let src = support::model_q4_1();
    let out = mpt(["inspect", "--meta", src.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bits/weight"), "{text}");
    let vocab = text
        .lines()
        .find(|l| l.contains("tokenizer.ggml.tokens"))
        .expect("vocab key listed");
    assert!(
        vocab.len() < 400,
        "vocab dumped instead of summarised: {vocab}"
    );
    assert!(vocab.contains("49152"), "{vocab}");
}

#[test]
fn inspect_of_a_broken_file_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.gguf");
    let bytes = std::fs::read(support::model_q4_1()).unwrap();
    std::fs::write(&bad, &bytes[..5000]).unwrap();
    let out = mpt(["inspect", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("broken.gguf") && err.contains("offset"),
        "{err}"
    );
}
