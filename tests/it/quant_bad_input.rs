//! `quantize` and `imatrix` on bad input, as a user meets it: one line naming the file and what is
//! wrong, exit status 2, nothing half-written left behind.

use crate::support;
use crate::support::{mpt, refused};

use std::path::Path;

use mpt_gguf::quant::imatrix::{Imatrix, ImatrixEntry};
use mpt_gguf::quant::imatrix_file::{self, ImatrixFormat};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn only_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn non_gguf_and_truncated_models() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.gguf");
    std::fs::write(&text, "this is not a model\n").unwrap();
    let out = dir.path().join("out.gguf");
    refused(
        &mpt(["quantize", s(&text), s(&out), "Q4_K_M"]),
        &["notes.gguf", "not a GGUF file"],
    );
    let cut = dir.path().join("cut.gguf");
    let bytes = std::fs::read(support::model_q4_1()).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    refused(
        &mpt(["quantize", "--allow-requantize", s(&cut), s(&out), "Q8_0"]),
        &["cut.gguf", "offset"],
    );
    refused(
        &mpt(["imatrix", s(&cut), "-f", s(&text), "-o", s(&out)]),
        &["cut.gguf"],
    );
    assert_eq!(only_files(dir.path()), ["cut.gguf", "notes.gguf"]);
}

#[test]
fn unknown_type_suggests_close_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.gguf");
    let o = mpt(["quantize", s(&support::model_q4_1()), s(&out), "Q4_K_X"]);
    refused(&o, &["Q4_K_X", "Q4_K_M"]);
    // Without an output file (llama-quantize's `IN TYPE`) the misspelt type is still named.
    let o = mpt(["quantize", s(&support::model_q4_1()), "Q4_K_X"]);
    refused(&o, &["Q4_K_X", "Q4_K_M"]);
    assert!(!out.exists());
}

#[test]
fn misplaced_positional_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let q41 = support::model_q4_1();
    let out = dir.path().join("out.gguf");
    refused(
        &mpt(["quantize", s(&q41), s(&out)]),
        &["missing TYPE", "out.gguf"],
    );
    refused(
        &mpt(["quantize", s(&q41), s(&out), "Q8_0", "two"]),
        &["invalid NTHREADS 'two'"],
    );
    refused(
        &mpt(["quantize", s(&q41), s(&out), "Q8_0", "0"]),
        &["invalid NTHREADS '0'"],
    );
    refused(
        &mpt(["quantize", s(&q41), "Q8_0", s(&out)]),
        &["out.gguf", "the output file goes before TYPE"],
    );
    refused(
        &mpt(["quantize", "-t", "3", s(&q41), s(&out), "Q8_0", "2"]),
        &["threads given twice", "NTHREADS 2", "-t 3"],
    );
    assert_eq!(
        only_files(dir.path()),
        Vec::<String>::new(),
        "nothing written"
    );
}

#[test]
fn imatrix_from_another_model() {
    let dir = tempfile::tempdir().unwrap();
    let f16 = support::model_f16();
    let out = dir.path().join("out.gguf");
    // A tensor this model does not have.
    let mut foreign = Imatrix::default();
    foreign.entries.insert(
        "blk.0.attn_q_a.weight".into(),
        ImatrixEntry {
            sums: vec![1.0; 576],
            counts: vec![10],
        },
    );
    let p = dir.path().join("foreign.gguf");
    imatrix_file::save(&p, &foreign, ImatrixFormat::Gguf).unwrap();
    refused(
        &mpt(["quantize", "--imatrix", s(&p), s(&f16), s(&out), "IQ2_XS"]),
        &["foreign.gguf", "blk.0.attn_q_a.weight", "another model"],
    );
    // The right name, the wrong width (a model with another hidden size), in the legacy format.
    let mut wide = Imatrix::default();
    wide.entries.insert(
        "blk.0.attn_q.weight".into(),
        ImatrixEntry {
            sums: vec![1.0; 2048],
            counts: vec![10],
        },
    );
    let p = dir.path().join("wide.dat");
    imatrix_file::save(&p, &wide, ImatrixFormat::Dat).unwrap();
    refused(
        &mpt(["quantize", "--imatrix", s(&p), s(&f16), s(&out), "IQ2_XS"]),
        &["wide.dat", "2048", "576"],
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn unwritable_output_paths() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/folder/out.gguf");
    refused(
        &mpt([
            "quantize",
            "--allow-requantize",
            s(&support::model_q4_1()),
            s(&missing),
            "Q8_0",
        ]),
        &["no/such/folder"],
    );
    // A folder where the file should go.
    let taken = dir.path().join("taken.gguf");
    std::fs::create_dir(&taken).unwrap();
    refused(
        &mpt([
            "quantize",
            "--allow-requantize",
            s(&support::model_q4_1()),
            s(&taken),
            "Q8_0",
        ]),
        &["taken.gguf"],
    );
    assert_eq!(only_files(dir.path()), ["taken.gguf"], "no temporary left");
}
