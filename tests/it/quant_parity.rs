//! mpt-gguf's quantize and imatrix against llama.cpp's own llama-quantize and llama-imatrix.

use crate::support;
use crate::support::mpt;

use std::path::{Path, PathBuf};
use std::process::Command;

use mpt_gguf::quant::imatrix_file;

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
    let f16 = support::model_f16();
    let cal = support::calibration_text();
    let ours = support::fixture("imatrix-mpt.gguf", |out| {
        ok(
            &mpt([
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
    let theirs = support::fixture("imatrix-ref.gguf", |out| {
        let o = Command::new(support::require_reference("llama-imatrix"))
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
    let f16 = support::model_f16();
    let (imatrix, _) = imatrices();
    let dir = tempfile::tempdir().unwrap();
    // The IQ types go through llama.cpp's qsort calls, which bind to our own (src/engine/qsort.rs):
    // the grid searches (IQ2_XS, IQ1_M) and IQ1's sorting of blocks with tied values. IQ4_XS and
    // the IQ4_NL that the other IQ types fall back to for SmolLM2's rows of 576 are quantized by
    // src/engine/iq4 in place of llama.cpp's functions.
    // Our side spells the type and threads each way llama-quantize takes them: a name with -t, a
    // name with NTHREADS after it, the ftype number (31 is IQ1_M).
    for (ty, with_imatrix, ours_ty, ours_threads) in [
        ("Q4_K_M", false, "Q4_K_M", None),
        ("IQ2_XS", true, "iq2_xs", Some("2")),
        ("IQ1_M", true, "31", None),
        ("IQ4_XS", true, "IQ4_XS", None),
    ] {
        let ours = dir.path().join(format!("ours-{ty}.gguf"));
        let theirs = dir.path().join(format!("theirs-{ty}.gguf"));
        let mut args = vec!["quantize"];
        if ours_threads.is_none() {
            args.extend(["-t", "2"]);
        }
        if with_imatrix {
            args.extend(["--imatrix", s(&imatrix)]);
        }
        args.extend([s(&f16), s(&ours), ours_ty]);
        args.extend(ours_threads);
        ok(&mpt(&args), "mpt-gguf quantize");
        let mut cmd = Command::new(support::require_reference("llama-quantize"));
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

/// llama-imatrix's spelling of the conversion to the legacy format: the file reads back as the
/// same importance per column.
#[test]
fn imatrix_converts_with_llama_imatrixs_output_format_flag() {
    let (ours, _) = imatrices();
    let dir = tempfile::tempdir().unwrap();
    let dat = dir.path().join("legacy.dat");
    let args = ["imatrix", "--in-file", s(&ours), "-o", s(&dat)];
    ok(
        &mpt([&args[..], &["--output-format", "dat"]].concat()),
        "convert",
    );
    let (a, b) = (
        imatrix_file::load(&ours).unwrap(),
        imatrix_file::load(&dat).unwrap(),
    );
    assert!(b.is_legacy && !a.is_legacy);
    let (a, b) = (a.for_quantize(), b.for_quantize());
    assert_eq!(a.len(), b.len());
    for ((name_a, va), (name_b, vb)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        for (x, y) in va.iter().zip(vb) {
            assert!(
                (x - y).abs() <= 1e-6 * x.abs().max(1e-30),
                "{name_a}: {x} vs {y}"
            );
        }
    }
}

/// Without an output file both tools write `ggml-model-TYPE.gguf` beside the input, the same bytes.
#[test]
fn default_output_name_is_llama_quantizes() {
    let f16 = support::model_f16();
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in [&ours, &theirs] {
        std::os::unix::fs::symlink(&f16, d.path().join("base.gguf")).unwrap();
    }
    ok(
        &mpt(["quantize", s(&ours.path().join("base.gguf")), "q8_0", "2"]),
        "mpt-gguf quantize",
    );
    let o = Command::new(support::require_reference("llama-quantize"))
        .args([s(&theirs.path().join("base.gguf")), "Q8_0", "2"])
        .output()
        .unwrap();
    ok(&o, "llama-quantize");
    let name = "ggml-model-Q8_0.gguf";
    assert_eq!(sha(&ours.path().join(name)), sha(&theirs.path().join(name)));
}

/// The sweep's importance matrix: one chunk per decode (`-b 512`) without the calibration
/// perplexity, so each decode stops before the output head; also in half-size ubatches. Its
/// statistics are those of `llama-imatrix -b 512` bit for bit.
#[test]
fn sweep_imatrix_without_output_head_equals_llama_imatrix_bit_for_bit() {
    let f16 = support::model_f16();
    let cal = support::calibration_text();
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs.gguf");
    let common_args = ["--chunks", "2", "-t", "2", "-b", "512"];
    let o = Command::new(support::require_reference("llama-imatrix"))
        .args(["-m", s(&f16), "-f", s(&cal), "-o", s(&theirs)])
        .args(common_args)
        .args(["--output-format", "gguf"])
        .output()
        .unwrap();
    ok(&o, "llama-imatrix");
    let b = imatrix_file::load(&theirs).unwrap();
    for ubatch in ["512", "256"] {
        let ours = dir.path().join(format!("ours-{ubatch}.gguf"));
        // The model as llama-imatrix names it (-m), then as a positional argument.
        let mut args = match ubatch {
            "512" => vec!["imatrix", "-m", s(&f16)],
            _ => vec!["imatrix", s(&f16)],
        };
        args.extend(["-f", s(&cal), "-o", s(&ours)]);
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
