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
    // The IQ types go through llama.cpp's qsort calls, which bind to our own (src/engine/qsort.rs):
    // the grid searches (IQ2_XS, IQ1_M) and IQ1's sorting of blocks with tied values.
    for (ty, with_imatrix) in [("Q4_K_M", false), ("IQ2_XS", true), ("IQ1_M", true)] {
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

/// The sweep's importance matrix: one chunk per decode (`-b 512`) without the calibration
/// perplexity, so each decode stops before the output head; also in half-size ubatches. Its
/// statistics are those of `llama-imatrix -b 512` bit for bit.
#[test]
fn sweep_imatrix_without_output_head_equals_llama_imatrix_bit_for_bit() {
    let f16 = common::model_f16();
    let cal = common::shared_data("calibration/groups_merged.txt");
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs.gguf");
    let common_args = ["--chunks", "2", "-t", "2", "-b", "512"];
    let o = Command::new(common::require_reference("llama-imatrix"))
        .args(["-m", s(&f16), "-f", s(&cal), "-o", s(&theirs)])
        .args(common_args)
        .args(["--output-format", "gguf"])
        .output()
        .unwrap();
    ok(&o, "llama-imatrix");
    let b = imatrix_file::load(&theirs).unwrap();
    for ubatch in ["512", "256"] {
        let ours = dir.path().join(format!("ours-{ubatch}.gguf"));
        let mut args = vec!["imatrix", s(&f16), "-f", s(&cal), "-o", s(&ours)];
        args.extend(["-ub", ubatch, "--no-ppl"]);
        args.extend(common_args);
        ok(&mpt(&args), "mpt-gguf imatrix");
        let a = imatrix_file::load(&ours).unwrap();
        assert_eq!(a.entries.len(), b.entries.len(), "-ub {ubatch}");
        for (name, e) in &a.entries {
            assert_eq!(e, &b.entries[name], "-ub {ubatch}: {name}");
        }
    }
}
