//! One small crafted file per kind of malformed input: each must give a one-line error naming the
//! file, the problem and the byte offset, and never a panic.

use std::path::PathBuf;

use crate::support::gguf::{minimal, Raw};
use mpt_gguf::engine::open_gguf;
use mpt_gguf::gguf::GgufFile;

/// Writes `raw` as `<name>.gguf` in a fresh folder and returns the error `open` gives for it.
fn open_err(name: &str, raw: &Raw) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join(format!("{name}.gguf"));
    std::fs::write(&path, &raw.0).unwrap();
    let msg = match open_gguf(&path) {
        Ok(_) => panic!("{name}: a malformed file was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(!msg.contains('\n'), "{name}: error is not one line: {msg}");
    assert!(
        msg.starts_with(&format!("{}: ", path.display())),
        "{name}: error does not name the file: {msg}"
    );
    msg
}

/// The error mentions every fragment (the offset as `(offset N)`).
fn expect(name: &str, raw: Raw, fragments: &[&str]) {
    let msg = open_err(name, &raw);
    for f in fragments {
        assert!(msg.contains(f), "{name}: expected '{f}' in: {msg}");
    }
}

#[test]
fn minimal_file_is_valid() {
    let raw = minimal();
    assert_eq!(raw.len(), 256);
    let f = GgufFile::from_bytes("minimal.gguf", raw.0).unwrap();
    assert_eq!((f.data_offset(), f.tensors().len()), (128, 1));
    assert_eq!(f.architecture(), Some("llama"));
}

#[test]
fn bad_magic() {
    expect(
        "magic",
        Raw::default().bytes(b"GGML").u32(3).u64(0).u64(0),
        &["not a GGUF file", "\"GGML\"", "(offset 0)"],
    );
    expect(
        "elf",
        Raw::default().bytes(b"\x7fELF\x02\x01"),
        &["not a GGUF file", "\\x7fELF"],
    );
    expect(
        "two_bytes",
        Raw::default().bytes(b"PK"),
        &["not a GGUF file"],
    );
}

#[test]
fn empty_and_tiny_files() {
    expect(
        "empty",
        Raw::default(),
        &["the file ends while reading the magic", "(offset 0)"],
    );
    expect(
        "magic_only",
        Raw::default().bytes(b"GGUF"),
        &["the file ends while reading the version", "(offset 4)"],
    );
    expect(
        "no_counts",
        Raw::default().bytes(b"GGUF").u32(3).u32(0),
        &["tensor count", "(offset 8)"],
    );
}

#[test]
fn unsupported_versions() {
    expect(
        "v1",
        Raw::header(1, 0, 0),
        &["GGUF version 1 is not supported", "(offset 4)"],
    );
    expect(
        "v4",
        Raw::header(4, 0, 0),
        &["GGUF version 4 is not supported"],
    );
    expect("v0", Raw::header(0, 0, 0), &["byte-swapped"]);
    expect(
        "big_endian",
        Raw::header(0x0300_0000, 0, 0),
        &["big-endian"],
    );
}

#[test]
fn version_2_is_read() {
    let mut raw = minimal();
    raw.0[4] = 2;
    assert_eq!(GgufFile::from_bytes("v2.gguf", raw.0).unwrap().version(), 2);
}

#[test]
fn truncation_anywhere_is_an_error() {
    let full = minimal();
    for cut in 0..full.len() {
        let raw = Raw(full.0[..cut].to_vec());
        let msg = open_err(&format!("cut{cut}"), &raw);
        assert!(
            msg.contains("(offset "),
            "cut at {cut}: no offset in: {msg}"
        );
    }
    // A cut inside a string value names what was being read and where.
    expect(
        "cut_value",
        Raw(full.0[..60].to_vec()),
        &["key 'general.architecture'", "string", "(offset 56)"],
    );
    // A cut inside the tensor data: the tensor no longer fits.
    expect(
        "cut_data",
        Raw(full.0[..200].to_vec()),
        &[
            "tensor 't'",
            "outside the 72-byte data section",
            "(offset 94)",
        ],
    );
}

#[test]
fn counts_larger_than_the_file() {
    // The header alone (40 bytes with padding) claims 2^32 tensors: refused before any allocation.
    let huge = Raw::header(3, 1 << 32, 0).zeros(16);
    assert_eq!(huge.len(), 40);
    expect(
        "tensor_count",
        huge,
        &["tensor count 4294967296 needs more bytes than the file has (offset 8)"],
    );
    expect(
        "kv_count",
        Raw::header(3, 0, u64::MAX),
        &["metadata count 18446744073709551615", "(offset 16)"],
    );
    let key_len = Raw::header(3, 0, 1).u64(u64::MAX).zeros(8);
    expect(
        "key_len",
        key_len,
        &[
            "key length 18446744073709551615 needs more bytes",
            "(offset 24)",
        ],
    );
    let str_len = Raw::header(3, 0, 1).str(b"k").u32(8).u64(1 << 40);
    expect(
        "string_len",
        str_len,
        &["key 'k'", "string length 1099511627776", "(offset 37)"],
    );
    let arr_len = Raw::header(3, 0, 1).str(b"k").u32(9).u32(8).u64(1 << 40);
    expect(
        "array_len",
        arr_len,
        &["key 'k'", "array length 1099511627776", "(offset 41)"],
    );
    let name_len = Raw::header(3, 1, 0).u64(1 << 50).zeros(40);
    expect(
        "tensor_name_len",
        name_len,
        &["tensor #0", "tensor name length", "(offset 24)"],
    );
}

#[test]
fn sizes_that_would_overflow() {
    // count × 8 bytes wraps around 2^64.
    let arr = Raw::header(3, 0, 1)
        .str(b"k")
        .u32(9)
        .u32(10)
        .u64(1 << 61)
        .zeros(64);
    expect(
        "array_bytes",
        arr,
        &["array length 2305843009213693952 needs more bytes"],
    );
    let elements = Raw::header(3, 1, 0)
        .tensor("t", &[1 << 32, 1 << 32], 0, 0)
        .pad(32)
        .zeros(32);
    expect(
        "elements",
        elements,
        &["tensor 't'", "element count overflows"],
    );
    let bytes = Raw::header(3, 1, 0)
        .tensor("t", &[1 << 62], 0, 0)
        .pad(32)
        .zeros(32);
    expect(
        "tensor_bytes",
        bytes,
        &["tensor 't'", "tensor size overflows"],
    );
}

#[test]
fn non_utf8_text() {
    expect(
        "key",
        Raw::header(3, 0, 1).str(b"\xff\xfe").u32(4).u32(0),
        &["key is not valid UTF-8", "(offset 24)"],
    );
    let value = Raw::header(3, 0, 1).str(b"k").u32(8).str(b"caf\xe9");
    expect(
        "value",
        value,
        &["key 'k'", "string is not valid UTF-8", "(offset 37)"],
    );
    let name = Raw::header(3, 1, 0)
        .str(b"blk\xc0")
        .u32(1)
        .u64(32)
        .u32(0)
        .u64(0)
        .pad(32)
        .zeros(128);
    expect(
        "tensor_name",
        name,
        &["tensor #0", "tensor name is not valid UTF-8"],
    );
}

#[test]
fn unknown_value_types() {
    expect(
        "value_type",
        Raw::header(3, 0, 1).str(b"k").u32(13).u32(0),
        &["key 'k'", "unknown metadata value type 13", "(offset 33)"],
    );
    let elem = Raw::header(3, 0, 1).str(b"k").u32(9).u32(99).u64(0);
    expect(
        "array_type",
        elem,
        &["unknown metadata value type 99", "(offset 37)"],
    );
}

#[test]
fn nested_arrays() {
    // Two levels (an array of arrays of u8) are fine …
    let ok = Raw::header(3, 0, 1)
        .str(b"k")
        .u32(9)
        .u32(9)
        .u64(2)
        .u32(0)
        .u64(1)
        .u8(7)
        .u32(0)
        .u64(0);
    let f = GgufFile::from_bytes("nested.gguf", ok.0).unwrap();
    assert_eq!(
        f.get("k").and_then(|v| v.as_array()).map(|a| a.len()),
        Some(2)
    );
    // … a thousand are refused without recursing that deep.
    let mut deep = Raw::header(3, 0, 1).str(b"k").u32(9);
    for _ in 0..1000 {
        deep = deep.u32(9).u64(1);
    }
    expect("deep", deep.u32(0).u64(0), &["nested more than 8 deep"]);
}

#[test]
fn duplicate_keys_and_names() {
    let keys = Raw::header(3, 0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2);
    expect(
        "dup_key",
        keys,
        &["key 'a.b'", "duplicate metadata key", "(offset 43)"],
    );
    let names = Raw::header(3, 2, 0)
        .tensor("w", &[32], 0, 0)
        .tensor("w", &[32], 0, 128)
        .pad(32)
        .zeros(256);
    expect(
        "dup_tensor",
        names,
        &["tensor 'w'", "duplicate tensor name", "(offset 57)"],
    );
    expect(
        "empty_key",
        Raw::header(3, 0, 1).str(b"").u32(4).u32(0),
        &["key is empty", "(offset 24)"],
    );
    let long = "x".repeat(64);
    let raw = Raw::header(3, 1, 0)
        .tensor(&long, &[32], 0, 0)
        .pad(32)
        .zeros(128);
    expect("long_name", raw, &["name is 64 bytes long"]);
}

#[test]
fn bad_alignment() {
    let file = |align_kv: Raw| align_kv.tensor("t", &[32], 0, 0).pad(64).zeros(128);
    expect(
        "align48",
        file(Raw::header(3, 1, 1).kv_u32("general.alignment", 48)),
        &["alignment 48 is not a nonzero power of two", "(offset 49)"],
    );
    expect(
        "align0",
        file(Raw::header(3, 1, 1).kv_u32("general.alignment", 0)),
        &["alignment 0 is not"],
    );
    let as_u64 = Raw::header(3, 1, 1)
        .str(b"general.alignment")
        .u32(10)
        .u64(32);
    expect(
        "align_u64",
        file(as_u64),
        &["general.alignment must be a u32, not u64"],
    );
    // A valid non-default alignment moves the data section.
    let ok = Raw::header(3, 1, 1)
        .kv_u32("general.alignment", 64)
        .tensor("t", &[32], 0, 0)
        .pad(64)
        .zeros(128);
    let f = GgufFile::from_bytes("align64.gguf", ok.0).unwrap();
    assert_eq!((f.alignment(), f.data_offset()), (64, 128));
}

#[test]
fn bad_tensor_types() {
    let with_type = |ty: u32| {
        Raw::header(3, 1, 0)
            .tensor("t", &[256], ty, 0)
            .pad(32)
            .zeros(1024)
    };
    expect(
        "type99",
        with_type(99),
        &["tensor 't'", "unknown ggml type 99", "(offset 45)"],
    );
    expect("type43", with_type(43), &["unknown ggml type 43"]);
    expect(
        "q4_2",
        with_type(4),
        &["ggml type 4 (Q4_2) has been removed from llama.cpp"],
    );
    expect(
        "q4_0_4_4",
        with_type(31),
        &["ggml type 31 (Q4_0_4_4) has been removed"],
    );
    let partial = Raw::header(3, 1, 0)
        .tensor("t", &[31], 2, 0)
        .pad(32)
        .zeros(64);
    expect(
        "partial_block",
        partial,
        &["31 elements per row is not a multiple of the Q4_0 block size 32"],
    );
}

#[test]
fn bad_dimensions() {
    let dims = |d: &[u64]| Raw::header(3, 1, 0).tensor("t", d, 0, 0).pad(32).zeros(128);
    expect(
        "five_dims",
        dims(&[1, 1, 1, 1, 32]),
        &["tensor 't'", "5 dimensions, at most 4", "(offset 33)"],
    );
    expect(
        "zero_dim",
        dims(&[32, 0]),
        &["dimension 1 is 0, must be at least 1", "(offset 45)"],
    );
    expect("negative_dim", dims(&[u64::MAX]), &["dimension 0 is -1"]);
    expect(
        "above_i64",
        dims(&[1 << 63]),
        &["dimension 0 is -9223372036854775808"],
    );
    // Up to four dimensions, and none (a scalar), are fine.
    let four = Raw::header(3, 1, 0)
        .tensor("t", &[8, 2, 1, 2], 0, 0)
        .pad(32)
        .zeros(128);
    assert_eq!(
        GgufFile::from_bytes("four.gguf", four.0).unwrap().tensors()[0].n_elements(),
        32
    );
}

#[test]
fn bad_tensor_extents() {
    let one = |offset: u64| {
        Raw::header(3, 1, 0)
            .tensor("t", &[32], 0, offset)
            .pad(32)
            .zeros(192)
    };
    expect(
        "outside",
        one(96),
        &[
            "tensor 't'",
            "data at 96..224 lies outside the 192-byte data section",
            "(offset 49)",
        ],
    );
    expect(
        "misaligned",
        one(4),
        &[
            "data offset 4 is not a multiple of the alignment 32",
            "(offset 49)",
        ],
    );
    expect("far", one(u64::MAX - 31), &["tensor 't'"]);
    let two = |b: u64| {
        Raw::header(3, 2, 0)
            .tensor("a", &[32], 0, 0)
            .tensor("b", &[32], 0, b)
            .pad(32)
            .zeros(256)
    };
    expect(
        "overlap",
        two(96),
        &["tensor 'b'", "data at 96..224 overlaps tensor 'a'"],
    );
    expect("same_start", two(0), &["overlaps tensor"]);
    // Out of order but disjoint is fine.
    let swapped = Raw::header(3, 2, 0)
        .tensor("a", &[32], 0, 128)
        .tensor("b", &[32], 0, 0)
        .pad(32)
        .zeros(256);
    assert!(GgufFile::from_bytes("swapped.gguf", swapped.0).is_ok());
}

#[test]
fn not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let msg = open_gguf(dir.path()).err().unwrap().to_string();
    assert!(msg.contains("not a regular file"), "{msg}");
    let missing = dir.path().join("missing.gguf");
    let msg = open_gguf(&missing).err().unwrap().to_string();
    assert!(
        msg.starts_with(&missing.display().to_string()) && msg.contains("cannot read"),
        "{msg}"
    );
}
