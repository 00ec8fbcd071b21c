//! Every type in `mpt-gguf types` quantizes the F16 baseline; types that need an importance matrix
//! are refused without one (before any work) and made with one; `inspect`'s reader reads every output.

use crate::support;

use mpt_gguf::engine::open_gguf;
use mpt_gguf::quant::types::QUANT_TYPES;

#[test]
fn every_type_quantizes_the_baseline() {
    let f16 = support::model_f16();
    let cal = support::calibration_text();
    let imatrix = support::fixture("imatrix-2chunks.gguf", |out| {
        let o = support::mpt_command()
            .arg("imatrix")
            .arg(&f16)
            .arg("-f")
            .arg(&cal)
            .arg("-o")
            .arg(out)
            .args(["--chunks", "2", "--no-ppl"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    });
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut cannot_make = Vec::new();
    for t in QUANT_TYPES {
        let out = dir.path().join(format!("{}.gguf", t.name));
        let run = |with_imatrix: bool| {
            let mut cmd = support::mpt_command();
            cmd.arg("quantize");
            if with_imatrix {
                cmd.arg("--imatrix").arg(&imatrix);
            }
            cmd.arg(&f16).arg(&out).arg(t.name).output().unwrap()
        };
        if t.needs_imatrix {
            let o = run(false);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(
                o.status.code(),
                Some(2),
                "{}: must be refused without an imatrix",
                t.name
            );
            assert!(
                err.contains("mpt-gguf imatrix"),
                "{}: the error says how to make one: {err}",
                t.name
            );
            assert!(!out.exists(), "{}: nothing written", t.name);
        }
        let o = run(t.needs_imatrix);
        let err = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() && err.contains("no tensor type fallback") {
            // llama.cpp itself cannot make this type for a model whose rows (576) do not split into
            // its blocks and that has no fallback type: a clean error naming the tensor, no file.
            assert!(
                err.contains("blk.") && err.contains("not divisible"),
                "{err}"
            );
            assert!(!out.exists(), "{}: nothing written", t.name);
            cannot_make.push(t.name);
            continue;
        }
        if !o.status.success() {
            failures.push(format!(
                "{}: {}",
                t.name,
                String::from_utf8_lossy(&o.stderr).trim()
            ));
            continue;
        }
        let file = open_gguf(&out).unwrap_or_else(|e| panic!("{}: unreadable output: {e}", t.name));
        let bpw = mpt_gguf::gguf::summary::Summary::of(&file).bits_per_weight;
        // Measured bits per weight sit near the type's own (embedding and fallback types shift them).
        assert!(bpw > 1.0 && bpw < 33.0, "{}: {bpw} bpw", t.name);
        assert!(
            bpw >= t.nominal_bpw() * 0.8,
            "{}: {bpw} bpw below nominal {}",
            t.name,
            t.nominal_bpw()
        );
        std::fs::remove_file(&out).unwrap();
    }
    assert_eq!(cannot_make, ["Q1_0"], "types llama.cpp has no fallback for");
    assert!(
        failures.is_empty(),
        "types that failed:\n{}",
        failures.join("\n")
    );
}
