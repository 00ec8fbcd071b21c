//! mpt-gguf's quantize and imatrix against llama.cpp's own llama-quantize and llama-imatrix.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use mpt_gguf::quant::imatrix_file;

fn mpt(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mpt-gguf"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Both tools' importance matrices on the F16 baseline, 4 chunks of the calibration text.
fn imatrices() -> (PathBuf, PathBuf) {
    let f16 = common::model_f16();
    let cal = common::shared_data("calibration/groups_merged.txt");
    let ours = common::fixture("imatrix-mpt.gguf", |out| {
        ok(
            &mpt(&[
                "imatrix",
                s(&f16),
                "-f",
                s(&cal),
                "-o",
                s(out),
                "--chunks",
                "4",
                "-t",
                "2",
            ]),
            "mpt-gguf imatrix",
        );
    });
    let theirs = common::fixture("imatrix-ref.gguf", |out| {
        let o = Command::new(common::require_reference("llama-imatrix"))
            .args([
                "-m",
                s(&f16),
                "-f",
                s(&cal),
                "-o",
                s(out),
                "--chunks",
                "4",
                "-t",
                "2",
                "--output-format",
                "gguf",
            ])
            .output()
            .unwrap();
        ok(&o, "llama-imatrix");
    });
    (ours, theirs)
}

#[test]
fn imatrix_matches_llama_imatrix() {
    let (ours, theirs) = imatrices();
    let a = imatrix_file::load(&ours).unwrap();
    let b = imatrix_file::load(&theirs).unwrap();
    assert_eq!(a.entries.len(), b.entries.len(), "entry count");
    assert_eq!(a.chunk_count, b.chunk_count);
    assert_eq!(a.chunk_size, b.chunk_size);
    let (qa, qb) = (a.for_quantize(), b.for_quantize());
    for ((na, va), (nb, vb)) in qa.iter().zip(&qb) {
        assert_eq!(na, nb);
        assert_eq!(a.entries[na].counts, b.entries[nb].counts, "{na}: counts");
        let diff: f64 = va
            .iter()
            .zip(vb)
            .map(|(x, y)| ((x - y) as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = vb.iter().map(|y| (*y as f64).powi(2)).sum::<f64>().sqrt();
        assert!(
            diff / norm < 1e-3,
            "{na}: relative difference {}",
            diff / norm
        );
    }
}

fn sha(p: &Path) -> String {
    mpt_gguf::util::sha256_file(p).unwrap()
}

#[test]
fn quantize_is_byte_identical_to_llama_quantize() {
    let f16 = common::model_f16();
    let (imatrix, _) = imatrices();
    let dir = tempfile::tempdir().unwrap();
    for (ty, with_imatrix) in [("Q4_K_M", false), ("IQ2_XS", true)] {
        let ours = dir.path().join(format!("ours-{ty}.gguf"));
        let theirs = dir.path().join(format!("theirs-{ty}.gguf"));
        let mut args = vec!["quantize", "-t", "2"];
        if with_imatrix {
            args.extend(["--imatrix", s(&imatrix)]);
        }
        args.extend([s(&f16), s(&ours), ty]);
        ok(&mpt(&args), "mpt-gguf quantize");
        let mut cmd = Command::new(common::require_reference("llama-quantize"));
        if with_imatrix {
            cmd.args(["--imatrix", s(&imatrix)]);
        }
        ok(
            &cmd.args([s(&f16), s(&theirs), ty, "2"]).output().unwrap(),
            "llama-quantize",
        );
        assert_eq!(sha(&ours), sha(&theirs), "{ty}: outputs differ");
    }
}

/// The sweep's importance matrix: one chunk per decode (`-b 512`) in half-size ubatches, to hold
/// less memory. Its statistics are those of `llama-imatrix -b 512` bit for bit.
#[test]
fn one_chunk_per_decode_in_small_ubatches_equals_llama_imatrix_bit_for_bit() {
    let f16 = common::model_f16();
    let cal = common::shared_data("calibration/groups_merged.txt");
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours.gguf"), dir.path().join("theirs.gguf"));
    let common_args = ["--chunks", "2", "-t", "2", "-b", "512"];
    let mut args = vec![
        "imatrix",
        s(&f16),
        "-f",
        s(&cal),
        "-o",
        s(&ours),
        "-ub",
        "256",
    ];
    args.extend(common_args);
    ok(&mpt(&args), "mpt-gguf imatrix");
    let o = Command::new(common::require_reference("llama-imatrix"))
        .args(["-m", s(&f16), "-f", s(&cal), "-o", s(&theirs)])
        .args(common_args)
        .args(["--output-format", "gguf"])
        .output()
        .unwrap();
    ok(&o, "llama-imatrix");
    let (a, b) = (
        imatrix_file::load(&ours).unwrap(),
        imatrix_file::load(&theirs).unwrap(),
    );
    assert_eq!(a.entries.len(), b.entries.len());
    for (name, e) in &a.entries {
        assert_eq!(e, &b.entries[name], "{name}");
    }
}
